"""Semantic roles, dependency-based (Universal Propositions, CoNLL-2009 style): which words
are predicates, and for each predicate the role of every word ("_" = none), decoded so that
each core role A0-A5 occurs at most once per predicate (`zhnlp.decoders.srl_roles`).

The model finds each argument's head word; its span is the head's dependency subtree
without the predicate's (`zhnlp.decoders.argument_span`, the CoNLL-2009 conversion),
filled in by `finish` once the sentence is stitched, when dep was run too (else the head
word alone)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zhnlp import metrics
from zhnlp.corpora import Sentence
from zhnlp.decoders import argument_span, children_of, srl_roles
from zhnlp.document import Argument, Predicate
from zhnlp.tasks.common import IGNORE, MLP, Batch, Biaffine, TaskHead, soft_target_loss, word_states

NONE_ROLE = "_"


class RoleHead(TaskHead):
    task = "srl"
    cuttable = False  # predicates index words of the whole sentence
    uses = ("dep",)  # argument spans follow the dependency tree

    def __init__(self, hidden_size: int, labels: list[str], role_size: int = 128,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if labels[0] != NONE_ROLE:
            raise ValueError(f"the first SRL label must be {NONE_ROLE!r}")
        self.labels = labels
        self.predicate = nn.Sequential(MLP(hidden_size, role_size, dropout),
                                       nn.Linear(role_size, 2))
        self.role_predicate = MLP(hidden_size, role_size, dropout)
        self.role_argument = MLP(hidden_size, role_size, dropout)
        self.role_scorer = Biaffine(role_size, len(labels))
        self.role_size = role_size
        self.core = [i for i, label in enumerate(labels) if label in {f"A{k}" for k in range(6)}]

    @classmethod
    def collect_labels(cls, sentences: list[Sentence], previous: list[str] | None,
                       source) -> list[str]:
        roles = {role for s in sentences for p in s.predicates for _, role in p.arguments}
        known = set((previous or [NONE_ROLE])[1:])
        return [NONE_ROLE] + sorted(roles | known)

    def config(self) -> dict:
        return {"labels": self.labels, "role_size": self.role_size}

    def summary_labels(self) -> list[str]:
        return list(self.labels[1:])  # [0] is "no role"

    def targets(self, sentences: list[Sentence], batch: Batch, source) -> dict:
        width = batch.word_spans.shape[1]
        ids = {label: i for i, label in enumerate(self.labels)}
        predicates = torch.full((len(sentences), width), IGNORE, dtype=torch.long)
        roles = torch.full((len(sentences), width, width), IGNORE, dtype=torch.long)
        for i, sentence in enumerate(sentences):
            n = len(sentence.words)
            predicates[i, :n] = 0
            for predicate in sentence.predicates:
                predicates[i, predicate.index] = 1
                roles[i, predicate.index, :n] = ids[NONE_ROLE]
                for argument, role in predicate.arguments:
                    roles[i, predicate.index, argument] = ids.get(role, ids[NONE_ROLE])
        return {"srl:predicates": predicates, "srl:roles": roles}

    def forward(self, hidden: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        words = word_states(hidden, batch)
        roles = self.role_scorer(self.role_predicate(words), self.role_argument(words))
        return {"predicates": self.predicate(words),  # [B, W, 2]
                "roles": roles.permute(0, 2, 3, 1)}  # [B, predicate, argument, label]

    def loss(self, outputs: dict, batch: Batch) -> torch.Tensor:
        predicates, roles = batch.targets["srl:predicates"], batch.targets["srl:roles"]
        predicate_loss = F.cross_entropy(outputs["predicates"].flatten(0, 1),
                                         predicates.flatten(), ignore_index=-100)
        role_loss = F.cross_entropy(outputs["roles"].flatten(0, 2), roles.flatten(),
                                    ignore_index=-100)
        return predicate_loss + role_loss

    def distill_loss(self, outputs: dict, teacher: dict, batch: Batch, temperature: float):
        words = batch.word_mask
        is_predicate = batch.targets["srl:predicates"] == 1
        pairs = is_predicate[:, :, None] & words[:, None, :]
        return (soft_target_loss(outputs["predicates"], teacher["predicates"], words, temperature)
                + soft_target_loss(outputs["roles"], teacher["roles"], pairs, temperature))

    def inference(self, hidden: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        """What `decode` needs, cheaper than `forward`: role scores for the predicted
        predicates only. predicate_index [B, P] holds each sentence's predicate word indices
        in order (-1 pads), roles [B, P, W, label] their scores."""
        words = word_states(hidden, batch)
        is_predicate = (self.predicate(words).argmax(-1) == 1) & batch.word_mask
        count = is_predicate.sum(1)
        most = max(int(count.max()), 1) if len(count) else 1
        # Stable sort on "not a predicate" puts each row's predicates first, in word order.
        order = torch.sort((~is_predicate).to(torch.uint8), dim=1, stable=True).indices[:, :most]
        chosen = words.gather(1, order[..., None].expand(-1, -1, words.shape[-1]))
        roles = self.role_scorer(self.role_predicate(chosen), self.role_argument(words))
        padding = torch.arange(most, device=count.device)[None, :] >= count[:, None]
        return {"predicate_index": order.masked_fill(padding, -1),
                "roles": roles.permute(0, 2, 3, 1)}

    def decode(self, outputs: dict, batch: Batch) -> list[list[tuple[int, list[tuple[int, str]]]]]:
        """Per sentence: (predicate word index, [(argument word index, role)]) in word order,
        from `inference` outputs."""
        role_scores = F.log_softmax(outputs["roles"].float(), dim=-1)
        results = []
        for b, n in enumerate(batch.word_lengths.tolist()):
            predicates = [p for p in outputs["predicate_index"][b].tolist() if p >= 0]
            if not predicates:
                results.append([])
                continue
            scores = role_scores[b, : len(predicates), :n].numpy().copy()
            for k, p in enumerate(predicates):  # a predicate is never its own argument
                scores[k, p, 1:] = -np.inf
            roles = srl_roles(scores, np.full(len(predicates), n), self.core)
            results.append([
                (p, [(a, self.labels[r]) for a, r in enumerate(roles[k, :n]) if r > 0])
                for k, p in enumerate(predicates)])
        return results

    def annotate(self, sentence, tokens: list, result: list, text: str, offset: int) -> None:
        for word, arguments in result:
            predicate = tokens[word]
            sentence.predicates.append(Predicate(
                predicate.id, predicate.text, predicate.start, predicate.end,
                [Argument(tokens[a].id, tokens[a].text, tokens[a].start, tokens[a].end, role)
                 for a, role in arguments]))

    def finish(self, sentence, tasks) -> None:
        """Each argument's span from the sentence's whole tree (so a sentence cut into
        pieces gets the spans of the stitched tree), when dep was run; else the head word
        alone, as `annotate` left it."""
        if "dep" not in tasks or any(token.head is None for token in sentence.tokens):
            return
        heads = [token.head for token in sentence.tokens]
        children = children_of(heads)
        for predicate in sentence.predicates:
            for argument in predicate.arguments:
                sentence.set_span(argument, argument_span(heads, argument.id - 1,
                                                          predicate.id - 1, children))

    @classmethod
    def score(cls, gold: list[Sentence], system: list[Sentence], context: dict) -> dict:
        """Head-word F1 (`srl`) and span F1 (`srl span`, gold spans from the gold tree)."""
        return {"srl": metrics.srl_scores(gold, system),
                "srl span": metrics.srl_span_scores(gold, system)}

    @classmethod
    def main_score(cls, gold: list[Sentence], system: list[Sentence], source) -> float:
        return metrics.srl_scores(gold, system)["F1"]

    @classmethod
    def provided_by(cls, system: list[Sentence]) -> bool:
        return any(s.predicates for s in system)
