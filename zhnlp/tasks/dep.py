"""Dependency parsing: biaffine arc and label scorers (Dozat & Manning) over word states,
decoded into trees by Chu-Liu/Edmonds (or Eisner for projective trees)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from zhnlp import metrics
from zhnlp.corpora import Sentence
from zhnlp.decoders import eisner, mst
from zhnlp.tasks.common import (
    IGNORE,
    MLP,
    Batch,
    Biaffine,
    TaskHead,
    padded,
    soft_target_loss,
    word_states,
)

NOT_A_HEAD = -1e4  # finite, so soft-target losses over heads stay defined


class ParsingHead(TaskHead):
    task = "dep"
    cuttable = False  # a tree is never cut

    def __init__(self, hidden_size: int, labels: list[str], arc_size: int = 256,
                 label_size: int = 64, projective: bool = False, dropout: float = 0.1) -> None:
        super().__init__()
        self.labels = labels
        self.projective = projective
        self.arc_dep = MLP(hidden_size, arc_size, dropout)
        self.arc_head = MLP(hidden_size, arc_size, dropout)
        self.rel_dep = MLP(hidden_size, label_size, dropout)
        self.rel_head = MLP(hidden_size, label_size, dropout)
        self.arc_scorer = Biaffine(arc_size)
        self.rel_scorer = Biaffine(label_size, len(labels))
        self.sizes = {"arc_size": arc_size, "label_size": label_size, "projective": projective}

    @classmethod
    def collect_labels(cls, sentences: list[Sentence], previous: list[str] | None,
                       source) -> list[str]:
        return sorted(set(previous or []) | {r for s in sentences for r in s.deprels})

    def config(self) -> dict:
        return {"labels": self.labels, **self.sizes}

    def targets(self, sentences: list[Sentence], batch: Batch, source) -> dict:
        width = batch.word_spans.shape[1]
        ids = {label: i for i, label in enumerate(self.labels)}
        return {"dep:heads": padded([s.heads for s in sentences], width),
                "dep:rels": padded([[ids.get(r, IGNORE) for r in s.deprels]
                                    for s in sentences], width)}

    @property
    def join_label(self) -> str:
        """The relation that attaches the root of a later piece of a long sentence to the
        first piece's root (the Pipeline analyses long sentences piece by piece)."""
        return "parataxis" if "parataxis" in self.labels else "dep"

    def forward(self, hidden: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        # Position 0 is the root, represented by the [CLS] state.
        nodes = torch.cat([hidden[:, :1], word_states(hidden, batch)], dim=1)
        arcs = self.arc_scorer(self.arc_dep(nodes), self.arc_head(nodes))  # [B, dep, head]
        head_mask = F.pad(batch.word_mask, (1, 0), value=True)[:, None, :]
        arcs = arcs.masked_fill(~head_mask, NOT_A_HEAD)
        # Labels are only ever scored at one head per word (gold or predicted): keep the
        # label states, not the [B, dep, head, label] scores of every pair.
        return {"arcs": arcs, "rel_dep": self.rel_dep(nodes), "rel_head": self.rel_head(nodes)}

    def _word_parts(self, outputs: dict, heads: torch.Tensor):
        """Arc scores and the label scores at the given heads, for words 1..W."""
        arcs = outputs["arcs"][:, 1:]
        rel_head = outputs["rel_head"]
        index = heads.clamp(min=0)[..., None].expand(-1, -1, rel_head.shape[-1])
        rels = self.rel_scorer.pairs(outputs["rel_dep"][:, 1:], rel_head.gather(1, index))
        return arcs, rels

    def loss(self, outputs: dict, batch: Batch) -> torch.Tensor:
        heads, rels = batch.targets["dep:heads"], batch.targets["dep:rels"]
        arc_scores, rel_scores = self._word_parts(outputs, heads)
        arc_loss = F.cross_entropy(arc_scores.flatten(0, 1), heads.flatten(), ignore_index=-100)
        rel_loss = F.cross_entropy(rel_scores.flatten(0, 1), rels.flatten(), ignore_index=-100)
        return arc_loss + rel_loss

    def distill_loss(self, outputs: dict, teacher: dict, batch: Batch, temperature: float):
        heads = batch.targets["dep:heads"]
        student_arcs, student_rels = self._word_parts(outputs, heads)
        teacher_arcs, teacher_rels = self._word_parts(teacher, heads)
        mask = batch.word_mask
        return (soft_target_loss(student_arcs, teacher_arcs, mask, temperature)
                + soft_target_loss(student_rels, teacher_rels, mask, temperature))

    def decode(self, outputs: dict, batch: Batch) -> list[tuple[list[int], list[str]]]:
        """(heads, relations) per sentence; heads 1-based, 0 = root."""
        scores = F.log_softmax(outputs["arcs"].float(), dim=-1).numpy()
        lengths = batch.word_lengths.numpy()
        heads = (eisner if self.projective else mst)(scores, lengths)
        heads_t = torch.from_numpy(heads[:, 1:]).clamp(min=0)
        _, rel_scores = self._word_parts(outputs, heads_t)
        best = rel_scores.argmax(-1)
        if "root" in self.labels and len(self.labels) > 1:  # UD: the root word, and no other
            root = self.labels.index("root")
            top2 = rel_scores.topk(2, dim=-1).indices
            best = torch.where(top2[..., 0] == root, top2[..., 1], top2[..., 0])
            best = best.masked_fill(torch.from_numpy(heads[:, 1:] == 0), root)
        best_rels = best.tolist()
        return [(heads[b, 1 : n + 1].tolist(), [self.labels[r] for r in best_rels[b][:n]])
                for b, n in enumerate(lengths.tolist())]

    def annotate(self, sentence, tokens: list, result: tuple[list[int], list[str]],
                 text: str, offset: int) -> None:
        """Heads renumbered to the sentence; the root of a piece after the first is attached
        to the sentence's root, so each sentence stays one tree."""
        base = tokens[0].id - 1 if tokens else 0
        root = next((t.id for t in sentence.tokens[:base] if t.head == 0), None)
        for token, head, relation in zip(tokens, *result):
            token.deprel = relation
            if head:
                token.head = head + base
            elif root is None:
                token.head = 0
            else:
                token.head, token.deprel = root, self.join_label

    @classmethod
    def score(cls, gold: list[Sentence], system: list[Sentence], context: dict) -> dict:
        if not context["gold_words"]:
            return {"dep (aligned)": metrics.aligned_scores(gold, system)}
        return {"dep": metrics.attachment_scores(gold, system)}

    @classmethod
    def main_score(cls, gold: list[Sentence], system: list[Sentence], source) -> float:
        return metrics.attachment_scores(gold, system)["LAS"]

    @classmethod
    def provided_by(cls, system: list[Sentence]) -> bool:
        return bool(system) and system[0].heads is not None and any(
            h for s in system for h in s.heads or [])
