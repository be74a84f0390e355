"""Named entities: BIOES tags on characters with a CRF (pytorch-crf for training, the numba
Viterbi of `zhnlp.decoders` for decoding); entities come out as character spans."""

from __future__ import annotations

import torch
from torch import nn
from torchcrf import CRF

from zhnlp.corpora import tags_to_spans
from zhnlp.decoders import allowed_transitions, viterbi
from zhnlp.tasks.common import Batch, char_states, soft_target_loss


def bioes_labels(types: list[str]) -> list[str]:
    return ["O"] + [f"{tag}-{kind}" for kind in types for tag in "BIES"]


def spans_to_bioes(spans: list[tuple[str, int, int]], n: int) -> list[str]:
    tags = ["O"] * n
    for label, start, end in spans:
        if end - start == 1:
            tags[start] = f"S-{label}"
        else:
            tags[start] = f"B-{label}"
            tags[start + 1 : end - 1] = [f"I-{label}"] * (end - start - 2)
            tags[end - 1] = f"E-{label}"
    return tags


class EntityHead(nn.Module):
    task = "ner"

    def __init__(self, hidden_size: int, labels: list[str], dropout: float = 0.1) -> None:
        super().__init__()
        self.labels = labels
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, len(labels))
        self.crf = CRF(len(labels), batch_first=True)
        self.constraints = allowed_transitions(labels, "BIOES")

    def config(self) -> dict:
        return {"labels": self.labels}

    def forward(self, hidden: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        return {"logits": self.classifier(self.dropout(char_states(hidden, batch)))}

    def loss(self, outputs: dict, batch: Batch) -> torch.Tensor:
        mask = batch.char_mask
        tags = batch.targets["ner"].clamp(min=0)
        # Per-character negative log-likelihood, so the loss scale matches the other heads.
        log_likelihood = self.crf(outputs["logits"], tags, mask=mask, reduction="sum")
        return -log_likelihood / mask.sum()

    def distill_loss(self, outputs: dict, teacher: dict, batch: Batch, temperature: float):
        # N-LTP distils the emission distributions of CRF tasks position by position.
        return soft_target_loss(outputs["logits"], teacher["logits"], batch.char_mask,
                                temperature)

    def decode(self, outputs: dict, batch: Batch) -> list[list[tuple[str, int, int]]]:
        """(label, start, end) character spans per sentence."""
        paths = viterbi(
            outputs["logits"].float().numpy(),
            self.crf.transitions.detach().float().cpu().numpy(),
            batch.char_lengths.numpy(),
            start=self.crf.start_transitions.detach().float().cpu().numpy(),
            end=self.crf.end_transitions.detach().float().cpu().numpy(),
            allowed=self.constraints,
        )
        return [tags_to_spans([self.labels[t] for t in path[: int(n)]])
                for path, n in zip(paths, batch.char_lengths)]

