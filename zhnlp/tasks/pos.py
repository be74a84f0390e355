"""Part-of-speech tagging on words (characters of each word mean-pooled). One classifier per
tag layer: UD's UPOS and XPOS (CTB tags) and the PKU tag set of People's Daily.

A layer may also have a `TagPrior`: how often each training word carried each tag. The
encoder reads characters, and word-specific conventions (is 发展 v or vn here?) are where a
character model loses to word-feature taggers; adding the counts' log-probabilities at
decoding, with a weight chosen on dev (`zhnlp tag-lexicon`), recovers much of it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from zhnlp import metrics
from zhnlp.corpora import Sentence
from zhnlp.tasks.common import (
    CHAR_OFFSET,
    IGNORE,
    Batch,
    TaskHead,
    padded,
    soft_target_loss,
    word_states,
)
from zhnlp.tokenizer import lookup_text

TAG_LAYERS = ("upos", "xpos", "pku")  # the tag layers a Document token has


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


def count_tags(sentences: list[Sentence], layers: dict[str, str],
               counts: dict | None = None) -> dict[str, dict[str, Counter]]:
    """layer -> word -> tag counts over sentences (`layers`: tag layer -> Sentence field),
    added to `counts`; words in their lookup forms (what decoding looks up)."""
    counts = counts if counts is not None else defaultdict(lambda: defaultdict(Counter))
    for layer, field_name in layers.items():
        for sentence in sentences:
            for word, tag in zip(sentence.words, getattr(sentence, field_name)):
                counts[layer][lookup_text(word)][tag] += 1
    return counts


class TaggingHead(TaskHead):
    task = "pos"

    def __init__(self, hidden_size: int, labels: dict[str, list[str]],
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.labels = labels
        self.dropout = nn.Dropout(dropout)
        self.classifiers = nn.ModuleDict(
            {layer: nn.Linear(hidden_size, len(tags)) for layer, tags in labels.items()})
        self.priors: dict[str, TagPrior] = {}  # layer -> prior (zhnlp tag-lexicon)

    @classmethod
    def collect_labels(cls, sentences: list[Sentence], previous: dict | None,
                       source) -> dict[str, list[str]]:
        layers = dict(previous or {})
        for layer, field_name in source.pos_layers.items():
            tags = set(layers.get(layer, []))
            tags.update(t for s in sentences for t in getattr(s, field_name))
            layers[layer] = sorted(tags)
        return layers

    def summary_labels(self) -> dict[str, list[str]]:
        return {layer: list(tags) for layer, tags in self.labels.items()}

    def targets(self, sentences: list[Sentence], batch: Batch, source) -> dict:
        width = batch.word_spans.shape[1]
        targets = {}
        for layer, field_name in source.pos_layers.items():
            ids = {tag: i for i, tag in enumerate(self.labels[layer])}
            targets[f"pos:{layer}"] = padded(
                [[ids.get(tag, IGNORE) for tag in getattr(s, field_name)] for s in sentences],
                width)
        return targets

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

    def annotate(self, sentence, tokens: list, result: dict[str, list[str]], text: str,
                 offset: int) -> None:
        for k, token in enumerate(tokens):
            token.upos, token.xpos, token.pku = (
                result[layer][k] if layer in result else None for layer in TAG_LAYERS)

    @classmethod
    def score(cls, gold: list[Sentence], system: list[Sentence], context: dict) -> dict:
        if not context["gold_words"]:
            return {"pos (aligned)": metrics.aligned_scores(gold, system)}
        return {f"pos {layer}": metrics.pos_accuracy(gold, system, layer=layer)
                for layer in ("upos", "xpos")
                if getattr(gold[0], layer) is not None and getattr(system[0], layer) is not None}

    @classmethod
    def main_score(cls, gold: list[Sentence], system: list[Sentence], source) -> float:
        fields = list(source.pos_layers.values())
        return sum(metrics.pos_accuracy(gold, system, layer=f)["accuracy"]
                   for f in fields) / len(fields)

    @classmethod
    def provided_by(cls, system: list[Sentence]) -> bool:
        return bool(system) and system[0].xpos is not None and any(
            t != "_" for s in system for t in s.xpos or [])

    # -- decoding priors: word -> tag counts of the training data, per layer ----------------

    @property
    def has_prior(self) -> bool:
        return bool(self.priors)

    def prior_config(self) -> dict | None:
        return {layer: prior.config() for layer, prior in self.priors.items()} or None

    def attach_prior(self, config: dict) -> None:
        for layer, prior in config.items():
            self.priors[layer] = TagPrior(prior["counts"], self.labels[layer], prior["weight"],
                                          prior["smoothing"])

    def clear_prior(self) -> None:
        self.priors = {}

    def tune_prior(self, model, train: list, dev: list, evaluate, baseline: dict[str, float],
                   weights: Sequence[float], smoothings: Sequence[float]) -> dict:
        """Per tag layer, the prior (counts of the POS training sources) at the weight and
        smoothing that tag the most dev words right (gold words, on top of the model's own
        log-probabilities), or none if none beats the model; returns the settings chosen."""
        counts = None
        for source in train:
            counts = count_tags(source.sentences, source.pos_layers, counts)
        counts = {layer: {word: dict(tags) for word, tags in words.items()}
                  for layer, words in (counts or {}).items()}
        chosen = {}
        for source in dev:
            for layer in source.pos_layers:
                if layer not in counts or layer not in self.labels:
                    continue
                log_probs, words, gold = self._dev_log_probs(model, source, layer)
                best = (_hits(log_probs, gold), 0.0, None)  # (correct, weight, smoothing)
                for smoothing in smoothings:
                    prior = TagPrior(counts[layer], self.labels[layer], 1.0, smoothing)
                    prior_scores = prior.scores([words], len(words))[0]
                    for weight in weights:
                        correct = _hits(log_probs + weight * prior_scores, gold)
                        if correct > best[0]:
                            best = (correct, weight, smoothing)
                if best[2] is not None:
                    self.priors[layer] = TagPrior(counts[layer], self.labels[layer], best[1],
                                                  best[2])
                    chosen[layer] = {"weight": best[1], "smoothing": best[2],
                                     "words": len(counts[layer]), "dev_source": source.name}
        return chosen

    @torch.inference_mode()
    def _dev_log_probs(self, model, source, layer: str, batch_size: int = 64
                       ) -> tuple[torch.Tensor, list[str], torch.Tensor]:
        """The model's tag log-probabilities for every dev word (gold words), the words
        (lookup forms), and the gold tag ids (-1 for tags the model does not know)."""
        index = {tag: i for i, tag in enumerate(self.labels[layer])}
        field_name = source.pos_layers[layer]
        scores, words, gold = [], [], []
        for first in tqdm(range(0, len(source.sentences), batch_size), unit="batch",
                          leave=False, desc=f"{source.name} {layer}"):
            chunk = source.sentences[first : first + batch_size]
            encodings = [model.tokenizer.encode(s.text) for s in chunk]
            batch = model.make_batch(encodings, source.standard,
                                     [s.word_spans() for s in chunk]).to(model.device)
            outputs = self(model.encode(batch), batch)[layer].float().log_softmax(-1).cpu()
            for row, sentence in enumerate(chunk):
                scores.append(outputs[row, : len(sentence.words)])
                words += map(lookup_text, sentence.words)  # as decoding looks them up
                gold += [index.get(tag, -1) for tag in getattr(sentence, field_name)]
        return torch.cat(scores), words, torch.tensor(gold)


def _hits(scores: torch.Tensor, gold: torch.Tensor) -> int:
    """How many words get their gold tag (a quick count for the search; the reported
    accuracies come from the POS scorer)."""
    return int((scores.argmax(-1) == gold).sum())
