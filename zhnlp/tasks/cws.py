"""Word segmentation: B/M/E/S tags on characters, softmax, decoded by constrained Viterbi.

One model serves several segmentation standards (CTB, PKU, UD, ...): the standard is an
input token (see `zhnlp.model`), so the head itself is standard-agnostic. A user
dictionary is honoured by forcing the tags of its matches before decoding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zhnlp.decoders import allowed_transitions, viterbi
from zhnlp.tasks.common import Batch, char_states, soft_target_loss

TAGS = ["B", "M", "E", "S"]
FREE = -1  # forced_tags value of a character the dictionary leaves to the model


def words_to_tags(lengths: list[int]) -> list[int]:
    """Tag ids for words of the given character lengths."""
    tags = []
    for n in lengths:
        tags += [3] if n == 1 else [0] + [1] * (n - 2) + [2]
    return tags


def tags_to_word_lengths(tags: list[int]) -> list[int]:
    """Word lengths from a well-formed B/M/E/S tag id sequence."""
    lengths, current = [], 0
    for tag in tags:
        current += 1
        if tag in (2, 3):  # E or S closes a word
            lengths.append(current)
            current = 0
    if current:
        lengths.append(current)
    return lengths


class SegmentationHead(nn.Module):
    task = "cws"

    def __init__(self, hidden_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, len(TAGS))
        self.constraints = allowed_transitions(TAGS, "BMES")

    def config(self) -> dict:
        return {"labels": TAGS}

    def forward(self, hidden: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        return {"logits": self.classifier(self.dropout(char_states(hidden, batch)))}

    def loss(self, outputs: dict, batch: Batch) -> torch.Tensor:
        logits = outputs["logits"]
        return F.cross_entropy(logits.flatten(0, 1), batch.targets["cws"].flatten(),
                               ignore_index=-100)

    def distill_loss(self, outputs: dict, teacher: dict, batch: Batch, temperature: float):
        return soft_target_loss(outputs["logits"], teacher["logits"], batch.char_mask,
                                temperature)

    def decode(self, outputs: dict, batch: Batch,
               forced_tags: np.ndarray | None = None) -> list[list[int]]:
        """Word lengths (in characters) per sentence."""
        emissions = F.log_softmax(outputs["logits"].float(), dim=-1).numpy()
        if forced_tags is not None:
            forced = forced_tags[:, : emissions.shape[1]]
            keep = (forced == FREE)[..., None] | (forced[..., None] == np.arange(len(TAGS)))
            emissions = np.where(keep, emissions, np.float32(-1e4))
        paths = viterbi(emissions, None, batch.char_lengths.numpy(), allowed=self.constraints)
        return [tags_to_word_lengths(path[: int(n)].tolist())
                for path, n in zip(paths, batch.char_lengths)]
