"""Part-of-speech tagging on words (characters of each word mean-pooled). One classifier per
tag layer: UD's UPOS and XPOS (CTB tags) and the PKU tag set of People's Daily.

A layer may also have a `TagPrior`: how often each training word carried each tag. The
encoder reads characters, and word-specific conventions (is 发展 v or vn here?) are where a
character model loses to word-feature taggers; adding the counts' log-probabilities at
decoding, with a weight chosen on dev (`zhnlp tag-lexicon`), recovers much of it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zhnlp.tasks.common import CHAR_OFFSET, Batch, soft_target_loss, word_states


class TagPrior:
    """weight · log P(tag | word), with P from training counts smoothed toward uniform
    (`smoothing` pseudo-counts spread over the tags); 0 for words never seen in training."""

    def __init__(self, counts: dict[str, dict[str, int]], labels: list[str], weight: float,
                 smoothing: float) -> None:
        self.counts, self.weight, self.smoothing = counts, weight, smoothing
        index = {tag: i for i, tag in enumerate(labels)}
        self.rows = {word: row for row, word in enumerate(counts)}
        table = np.zeros((len(counts) + 1, len(labels)), np.float32)  # last row: unseen words
        totals = np.zeros(len(counts) + 1)
        for word, row in self.rows.items():
            for tag, n in counts[word].items():
                if tag in index:
                    table[row, index[tag]] = n
            totals[row] = sum(counts[word].values())
        # the whole table at once (a log per row cost 0.1 s a layer at start-up)
        table = np.log((table + smoothing / len(labels))
                       / (totals + smoothing).astype(np.float32)[:, None])
        table[-1] = 0  # unseen words: no prior
        self.log_probs = torch.from_numpy(table)

    def scores(self, words: list[list[str]], width: int) -> torch.Tensor:
        """[B, width, tags] the prior's scores for padded sentences of words."""
        unseen, rows = len(self.rows), self.rows
        ids = [[rows.get(word, unseen) for word in sentence] + [unseen] * (width - len(sentence))
               for sentence in words]  # one tensor built at once: this runs per request
        return self.weight * self.log_probs[torch.tensor(ids, dtype=torch.long)]

    def config(self) -> dict:
        return {"weight": self.weight, "smoothing": self.smoothing, "counts": self.counts}


class TaggingHead(nn.Module):
    task = "pos"

    def __init__(self, hidden_size: int, labels: dict[str, list[str]],
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.labels = labels
        self.dropout = nn.Dropout(dropout)
        self.classifiers = nn.ModuleDict(
            {layer: nn.Linear(hidden_size, len(tags)) for layer, tags in labels.items()})
        self.priors: dict[str, TagPrior] = {}  # layer -> prior (zhnlp tag-lexicon)

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
        """Per sentence, the tags of each layer; layers with a prior add it to the
        classifier's log-probabilities (when the batch has its `forms`)."""
        words = None
        if self.priors and batch.forms is not None:
            words = [[forms[start - CHAR_OFFSET : end - CHAR_OFFSET]
                      for start, end in spans[: int(n)]]
                     for forms, spans, n in zip(batch.forms, batch.word_spans.tolist(),
                                                batch.word_lengths)]
        best = {}
        for layer in self.labels:
            scores = outputs[layer]
            if words is not None and layer in self.priors:
                scores = scores.float().log_softmax(-1) + self.priors[layer].scores(
                    words, scores.shape[1])
            best[layer] = scores.argmax(-1).tolist()
        return [{layer: [self.labels[layer][t] for t in best[layer][b][: int(n)]]
                 for layer in self.labels}
                for b, n in enumerate(batch.word_lengths)]
