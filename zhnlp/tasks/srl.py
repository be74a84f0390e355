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
