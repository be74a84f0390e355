"""Named entities: BIOES tags on characters with a CRF (pytorch-crf for training, the numba
Viterbi of `zhnlp.decoders` for decoding); entities come out as character spans.

The head may also have an `EntityPrior`: the entity strings of the training data, with how
often each occurrence of each was an entity of each type; decoding adds that to the
emissions over every match in the sentence (weight chosen on dev by `zhnlp tag-lexicon`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torchcrf import CRF

from zhnlp import metrics
from zhnlp.corpora import Sentence, tags_to_spans
from zhnlp.decoders import allowed_transitions, viterbi
from zhnlp.document import Span
from zhnlp.tasks.common import (
    Batch,
    TaskHead,
    char_rows,
    char_states,
    padded,
    soft_target_loss,
    token_span_to_chars,
)
from zhnlp.tokenizer import lookup_text


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


def count_entities(sentences: list[Sentence]) -> tuple[dict, dict[str, int]]:
    """(entity string -> type -> count, entity string -> occurrences in the texts) over
    training sentences; strings of two characters or more, in their lookup forms."""
    entities: dict[str, Counter] = defaultdict(Counter)
    texts = []
    for sentence in sentences:
        text = lookup_text(sentence.text)
        texts.append(text)
        for entity in sentence.entities:
            if entity.end - entity.start >= 2:
                entities[text[entity.start : entity.end]][entity.label] += 1
    joined = "\n".join(texts)
    return ({string: dict(types) for string, types in entities.items()},
            {string: joined.count(string) for string in entities})


class EntityHead(TaskHead):
    task = "ner"

    def __init__(self, hidden_size: int, labels: list[str], dropout: float = 0.1) -> None:
        super().__init__()
        self.labels = labels
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, len(labels))
        self.crf = CRF(len(labels), batch_first=True)
        self.constraints = allowed_transitions(labels, "BIOES")
        self.prior: EntityPrior | None = None  # zhnlp tag-lexicon

    @classmethod
    def collect_labels(cls, sentences: list[Sentence], previous: list[str] | None,
                       source) -> list[str]:
        types = {e.label for s in sentences for e in s.entities}
        known = {label[2:] for label in (previous or [])[1:]}
        return bioes_labels(sorted(types | known))

    def summary_labels(self) -> list[str]:
        """The entity types."""
        return list(dict.fromkeys(label.split("-", 1)[1] for label in self.labels
                                  if "-" in label))

    def targets(self, sentences: list[Sentence], batch: Batch, source) -> dict:
        label_ids = {label: i for i, label in enumerate(self.labels)}
        rows = []
        for encoding, sentence in zip(batch.encodings, sentences):
            char_tags = spans_to_bioes([(e.label, e.start, e.end) for e in sentence.entities],
                                       len(sentence.text))
            rows.append(char_rows(encoding, [label_ids.get(tag, 0) for tag in char_tags]))
        return {"ner": padded(rows, int(batch.char_lengths.max()))}

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
        """(label, start, end) per sentence, character offsets into the sentence; a head with
        a prior adds it to the emissions (when the batch has its `forms`)."""
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
        return [[(label, *token_span_to_chars(encoding, start, end))
                 for label, start, end in tags_to_spans([self.labels[t] for t in path[: int(n)]])]
                for path, n, encoding in zip(paths, batch.char_lengths, batch.encodings)]

    def annotate(self, sentence, tokens: list, result: list[tuple[str, int, int]], text: str,
                 offset: int) -> None:
        for label, start, end in result:
            start, end = start + offset, end + offset
            sentence.entities.append(Span(text[start:end], label, start, end))

    @classmethod
    def score(cls, gold: list[Sentence], system: list[Sentence], context: dict) -> dict:
        return {"ner": metrics.ner_scores(gold, system)}

    @classmethod
    def main_score(cls, gold: list[Sentence], system: list[Sentence], source) -> float:
        return metrics.ner_scores(gold, system)["F1"]

    @classmethod
    def provided_by(cls, system: list[Sentence]) -> bool:
        return bool(system) and system[0].entities is not None

    # -- decoding prior: the entity strings of the training data ----------------------------

    @property
    def has_prior(self) -> bool:
        return self.prior is not None

    def prior_config(self) -> dict | None:
        return None if self.prior is None else self.prior.config()

    def attach_prior(self, config: dict) -> None:
        self.prior = EntityPrior(config["entities"], config["occurrences"], self.labels,
                                 config["weight"])

    def clear_prior(self) -> None:
        self.prior = None

    def tune_prior(self, model, train: list, dev: list, evaluate, baseline: dict[str, float],
                   weights: Sequence[float], smoothings: Sequence[float]) -> dict:
        """The entity prior (strings of the NER training sources) at the weight whose
        decoding scores best on the dev sources (mean F1), or none if none beats the model;
        returns the setting chosen."""
        entities, occurrences = count_entities([s for source in train for s in source.sentences])
        if not entities:
            return {}
        best_score, best_weight = _mean({s.name: baseline[s.name] for s in dev}), None
        prior = EntityPrior(entities, occurrences, self.labels, 1.0)
        for weight in weights:
            prior.weight = weight
            self.prior = prior
            score = _mean(evaluate(model, dev))
            if score > best_score:
                best_score, best_weight = score, weight
        prior.weight = best_weight
        self.prior = prior if best_weight is not None else None
        return {} if best_weight is None else {"weight": best_weight, "entities": len(entities)}


def _mean(scores: dict[str, float]) -> float:
    return sum(scores.values()) / len(scores)

