"""Semantic roles, dependency-based (Universal Propositions, CoNLL-2009 style): which words
are predicates, and for each predicate the role of every word ("_" = none), decoded so that
each core role A0-A5 occurs at most once per predicate (`zhnlp.decoders.srl_roles`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zhnlp.decoders import srl_roles
from zhnlp.tasks.common import MLP, Batch, Biaffine, soft_target_loss, word_states

NONE_ROLE = "_"


class RoleHead(nn.Module):
    task = "srl"

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

    def config(self) -> dict:
        return {"labels": self.labels, "role_size": self.role_size}

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

    def decode(self, outputs: dict, batch: Batch) -> list[list[tuple[int, list[tuple[int, str]]]]]:
        """Per sentence: (predicate word index, [(argument word index, role)]) in word order."""
        is_predicate = outputs["predicates"].argmax(-1)
        role_scores = F.log_softmax(outputs["roles"].float(), dim=-1)
        results = []
        for b, n in enumerate(batch.word_lengths.tolist()):
            predicates = [i for i in range(n) if is_predicate[b, i]]
            if not predicates:
                results.append([])
                continue
            scores = role_scores[b, predicates, :n].numpy()
            roles = srl_roles(scores, np.full(len(predicates), n), self.core)
            results.append([
                (p, [(a, self.labels[r]) for a, r in enumerate(roles[k, :n]) if r > 0])
                for k, p in enumerate(predicates)])
        return results
