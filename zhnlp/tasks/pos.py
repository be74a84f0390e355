"""Part-of-speech tagging on words (characters of each word mean-pooled). One classifier per
tag layer: UD's UPOS and XPOS (CTB tags) and the PKU tag set of People's Daily."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from zhnlp.tasks.common import Batch, soft_target_loss, word_states


class TaggingHead(nn.Module):
    task = "pos"

    def __init__(self, hidden_size: int, labels: dict[str, list[str]],
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.labels = labels
        self.dropout = nn.Dropout(dropout)
        self.classifiers = nn.ModuleDict(
            {layer: nn.Linear(hidden_size, len(tags)) for layer, tags in labels.items()})

    def config(self) -> dict:
        return {"labels": self.labels}

    def forward(self, hidden: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        words = self.dropout(word_states(hidden, batch))
        return {layer: classifier(words) for layer, classifier in self.classifiers.items()}

    def loss(self, outputs: dict, batch: Batch) -> torch.Tensor:
        losses = [F.cross_entropy(outputs[layer].flatten(0, 1),
                                  batch.targets[f"pos:{layer}"].flatten(), ignore_index=-100)
                  for layer in self.labels if f"pos:{layer}" in batch.targets]
        return torch.stack(losses).sum()

    def distill_loss(self, outputs: dict, teacher: dict, batch: Batch, temperature: float):
        return sum(soft_target_loss(outputs[layer], teacher[layer], batch.word_mask, temperature)
                   for layer in teacher)

    def decode(self, outputs: dict, batch: Batch) -> list[dict[str, list[str]]]:
        """Per sentence, the tags of each layer."""
        best = {layer: outputs[layer].argmax(-1).tolist() for layer in self.labels}
        return [{layer: [self.labels[layer][t] for t in best[layer][b][: int(n)]]
                 for layer in self.labels}
                for b, n in enumerate(batch.word_lengths)]
