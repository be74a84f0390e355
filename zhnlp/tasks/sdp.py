"""Semantic dependency graphs (SDP, SemEval-2016 Task 9 style): every word has one or more
heads (her: an argument of both 脸色 and 病). Biaffine arc scores with an independent
yes/no decision per (dependent, head) pair, as Dozat & Manning (2018) do for graphs, and a
biaffine label classifier over the chosen arcs. Decoding keeps every arc whose probability
exceeds 0.5, no self-loops, and gives a word without any the head it scores highest.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from zhnlp import metrics
from zhnlp.corpora import Sentence
from zhnlp.decoders import mst
from zhnlp.tasks.common import (
    IGNORE,
    MLP,
    Batch,
    Biaffine,
    TaskHead,
    soft_target_loss,
    word_states,
)


def choose_arcs(probabilities: np.ndarray, n: int) -> list[list[int]]:
    """Heads of words 1..n from arc probabilities [n + 1 dependents, n + 1 heads] (row 0 and
    the diagonal unused): every head above 0.5, plus each word's head in the most probable
    dependency tree (Chu-Liu/Edmonds on log-probabilities), so that every word has a head,
    none is its own, and every word is reachable from the root (UD's validator rejects an
    enhanced graph with unreachable parts)."""
    scores = np.log(np.clip(probabilities[: n + 1, : n + 1], 1e-12, 1.0)).astype(np.float32)
    tree = mst(scores[None], [n])[0]
    chosen = []
    for dep in range(1, n + 1):
        row = probabilities[dep, : n + 1].copy()
        row[dep] = -1.0  # no self-loops
        chosen.append(sorted({int(h) for h in np.flatnonzero(row > 0.5)} | {int(tree[dep])}))
    return chosen


class SemanticGraphHead(TaskHead):
    task = "sdp"
    cuttable = False  # a graph is never cut
    stored_in_float16 = ("rel_scorer.weight",)  # 134 × 129 × 129: 8.5 MB in float32

    def __init__(self, hidden_size: int, labels: list[str], arc_size: int = 256,
                 label_size: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.labels = labels
        self.arc_dep = MLP(hidden_size, arc_size, dropout)
        self.arc_head = MLP(hidden_size, arc_size, dropout)
        self.rel_dep = MLP(hidden_size, label_size, dropout)
        self.rel_head = MLP(hidden_size, label_size, dropout)
        self.arc_scorer = Biaffine(arc_size)
        self.rel_scorer = Biaffine(label_size, len(labels))
        self.sizes = {"arc_size": arc_size, "label_size": label_size}

    @classmethod
    def collect_labels(cls, sentences: list[Sentence], previous: list[str] | None,
                       source) -> list[str]:
        return sorted(set(previous or [])
                      | {label for s in sentences for _, _, label in s.semantic_arcs()})

    def config(self) -> dict:
        return {"labels": self.labels, **self.sizes}

    def targets(self, sentences: list[Sentence], batch: Batch, source) -> dict:
        """sdp:arcs [B, W, W + 1]: 1 for an arc dependent -> head (heads count from the root
        at 0), 0 for none, IGNORE off the sentence and on the diagonal; sdp:labels: the
        label id of each arc, IGNORE elsewhere."""
        width = batch.word_spans.shape[1]
        ids = {label: i for i, label in enumerate(self.labels)}
        arcs = torch.full((len(sentences), width, width + 1), IGNORE, dtype=torch.long)
        labels = torch.full_like(arcs, IGNORE)
        for b, sentence in enumerate(sentences):
            n = len(sentence.words)
            arcs[b, :n, : n + 1] = 0
            arcs[b, torch.arange(n), torch.arange(1, n + 1)] = IGNORE  # self-loops
            for dep, head, label in sentence.semantic_arcs():
                arcs[b, dep - 1, head] = 1
                labels[b, dep - 1, head] = ids.get(label, IGNORE)
        return {"sdp:arcs": arcs, "sdp:labels": labels}

    def forward(self, hidden: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        nodes = torch.cat([hidden[:, :1], word_states(hidden, batch)], dim=1)  # 0 = root
        arcs = self.arc_scorer(self.arc_dep(nodes), self.arc_head(nodes))[:, 1:]  # [B, W, W+1]
        return {"arcs": arcs, "rel_dep": self.rel_dep(nodes)[:, 1:],
                "rel_head": self.rel_head(nodes)}

    def _label_scores(self, outputs: dict, index: torch.Tensor) -> torch.Tensor:
        """[N, labels] scores of the arcs index [N, 3] = (sentence, dependent, head)."""
        b, dep, head = index.unbind(-1)
        x = outputs["rel_dep"][b, dep]
        y = outputs["rel_head"][b, head]
        return self.rel_scorer.pairs(x[None], y[None])[0]

    def loss(self, outputs: dict, batch: Batch) -> torch.Tensor:
        arcs, labels = batch.targets["sdp:arcs"], batch.targets["sdp:labels"]
        valid = arcs != IGNORE
        arc_loss = F.binary_cross_entropy_with_logits(outputs["arcs"][valid].float(),
                                                      arcs[valid].float())
        gold = (labels != IGNORE).nonzero()
        if not len(gold):
            return arc_loss
        label_loss = F.cross_entropy(self._label_scores(outputs, gold).float(),
                                     labels[labels != IGNORE])
        return arc_loss + label_loss

    def distill_loss(self, outputs: dict, teacher: dict, batch: Batch, temperature: float):
        valid = batch.targets["sdp:arcs"] != IGNORE
        soft = torch.sigmoid(teacher["arcs"][valid].float() / temperature)
        arc_loss = F.binary_cross_entropy_with_logits(
            outputs["arcs"][valid].float() / temperature, soft) * temperature**2
        gold = (batch.targets["sdp:labels"] != IGNORE).nonzero()
        if not len(gold):
            return arc_loss
        everywhere = torch.ones(1, len(gold), dtype=torch.bool, device=gold.device)
        return arc_loss + soft_target_loss(self._label_scores(outputs, gold)[None],
                                           self._label_scores(teacher, gold)[None],
                                           everywhere, temperature)

    def decode(self, outputs: dict, batch: Batch) -> list[list[list[tuple[int, str]]]]:
        """Per sentence, per word: its (head, label) pairs, heads 1-based (0 = root), in
        head order."""
        probabilities = torch.sigmoid(outputs["arcs"].float()).numpy()
        results, chosen = [], []
        for b, n in enumerate(batch.word_lengths.tolist()):
            rows = np.zeros((n + 1, n + 1), np.float32)
            rows[1:] = probabilities[b, :n, : n + 1]
            heads = choose_arcs(rows, n)
            results.append(heads)
            chosen += [(b, dep, head) for dep, word_heads in enumerate(heads)
                       for head in word_heads]
        if chosen:
            best = self._label_scores(outputs, torch.tensor(chosen)).argmax(-1).tolist()
        labels = iter(best if chosen else [])
        return [[[(head, self.labels[next(labels)]) for head in word_heads]
                 for word_heads in heads] for heads in results]

    def annotate(self, sentence, tokens: list, result: list, text: str, offset: int) -> None:
        """Heads renumbered to the sentence; a later piece's root arcs stay root arcs."""
        base = tokens[0].id - 1 if tokens else 0
        for token, pairs in zip(tokens, result):
            token.semantic_heads = [(head + base if head else 0, label) for head, label in pairs]

    @classmethod
    def score(cls, gold: list[Sentence], system: list[Sentence], context: dict) -> dict:
        if not context["gold_words"]:
            return {}  # SemEval scores graphs on the gold segmentation only
        return {"sdp": metrics.sdp_scores(gold, system)}

    @classmethod
    def main_score(cls, gold: list[Sentence], system: list[Sentence], source) -> float:
        return metrics.sdp_scores(gold, system)["LF"]["F1"]

    @classmethod
    def provided_by(cls, system: list[Sentence]) -> bool:
        return any(s.arcs for s in system)
