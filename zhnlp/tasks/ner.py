"""Named entities: BIOES tags on characters with a CRF (pytorch-crf for training, the numba
Viterbi of `zhnlp.decoders` for decoding); entities come out as character spans.

The head may also have an `EntityPrior`: the entity strings of the training data, with how
often each occurrence of each was an entity of each type; decoding adds that to the
emissions over every match in the sentence (weight chosen on dev by `zhnlp tag-lexicon`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchcrf import CRF

from zhnlp.corpora import tags_to_spans
from zhnlp.decoders import allowed_transitions, viterbi
from zhnlp.tasks.common import Batch, char_states, soft_target_loss


def bioes_labels(types: list[str]) -> list[str]:
    return ["O"] + [f"{tag}-{kind}" for kind in types for tag in "BIES"]


def bioes_tags(label: str, length: int) -> list[str]:
    """The BIOES tags of one entity of `length` characters."""
    if length == 1:
        return [f"S-{label}"]
    return [f"B-{label}"] + [f"I-{label}"] * (length - 2) + [f"E-{label}"]


def spans_to_bioes(spans: list[tuple[str, int, int]], n: int) -> list[str]:
    tags = ["O"] * n
    for label, start, end in spans:
        tags[start:end] = bioes_tags(label, end - start)
    return tags


class EntityPrior:
    """For each entity string of the training data (two characters or more) and each type T
    it had: weight · P(an occurrence of the string is a T entity), added to the emissions of
    its B/I/E-T tags wherever the string matches (forward maximum matching)."""

    def __init__(self, entities: dict[str, dict[str, int]], occurrences: dict[str, int],
                 labels: list[str], weight: float) -> None:
        self.entities, self.occurrences, self.weight = entities, occurrences, weight
        index = {label: i for i, label in enumerate(labels)}
        self.width = len(labels)
        lengths: dict[str, set[int]] = {}  # first character -> lengths of its strings
        for string in entities:
            lengths.setdefault(string[0], set()).add(len(string))
        self.lengths = {first: sorted(found, reverse=True) for first, found in lengths.items()}
        self._index = index
        self._bonus: dict[str, np.ndarray] = {}  # string -> [len, labels], built when matched

    def bonus(self, string: str) -> np.ndarray | None:
        """[len, labels] what a match of an entity string adds (None: not an entity string).
        Built on first use: all 16k at load cost 0.2 s of start-up."""
        if string not in self.entities:
            return None
        if string not in self._bonus:
            bonus = np.zeros((len(string), self.width), np.float32)
            for kind, count in self.entities[string].items():
                rows = [self._index.get(tag) for tag in bioes_tags(kind, len(string))]
                if None not in rows:
                    bonus[np.arange(len(string)), rows] += count / max(
                        self.occurrences.get(string, 0), count)
            self._bonus[string] = bonus
        return self._bonus[string]

    def scores(self, sentences: list[str], width: int) -> np.ndarray:
        """[B, width, labels] the prior's scores for sentences (one character per token)."""
        scores = np.zeros((len(sentences), width, self.width), np.float32)
        for row, text in enumerate(sentences):
            start = 0
            while start < len(text):
                for length in self.lengths.get(text[start], ()):  # longest first
                    bonus = self.bonus(text[start : start + length])
                    if bonus is not None and len(bonus) == length:  # not a slice cut short
                        scores[row, start : start + length] += bonus
                        start += length
                        break
                else:
                    start += 1
        return self.weight * scores

    def config(self) -> dict:
        return {"weight": self.weight, "entities": self.entities,
                "occurrences": self.occurrences}


class EntityHead(nn.Module):
    task = "ner"

    def __init__(self, hidden_size: int, labels: list[str], dropout: float = 0.1) -> None:
        super().__init__()
        self.labels = labels
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, len(labels))
        self.crf = CRF(len(labels), batch_first=True)
        self.constraints = allowed_transitions(labels, "BIOES")
        self.prior: EntityPrior | None = None  # zhnlp tag-lexicon

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
        """(label, start, end) character spans per sentence; a head with a prior adds it to
        the emissions (when the batch has its `forms`)."""
        emissions = outputs["logits"].float().numpy()
        if self.prior is not None and batch.forms is not None:
            emissions = emissions + self.prior.scores(batch.forms, emissions.shape[1])
        paths = viterbi(
            emissions,
            self.crf.transitions.detach().float().cpu().numpy(),
            batch.char_lengths.numpy(),
            start=self.crf.start_transitions.detach().float().cpu().numpy(),
            end=self.crf.end_transitions.detach().float().cpu().numpy(),
            allowed=self.constraints,
        )
        return [tags_to_spans([self.labels[t] for t in path[: int(n)]])
                for path, n in zip(paths, batch.char_lengths)]

