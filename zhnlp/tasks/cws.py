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

from zhnlp import metrics
from zhnlp.corpora import Sentence
from zhnlp.decoders import allowed_transitions, viterbi
from zhnlp.segmentation import TAGS, force_tags, tags_to_word_lengths, words_to_tags
from zhnlp.tasks.common import (
    IGNORE,
    Batch,
    CharSpan,
    TaskHead,
    char_states,
    padded,
    soft_target_loss,
    token_span_to_chars,
)
from zhnlp.tokenizer import DROPPED, Encoding


def token_tags_for_words(encoding: Encoding, spans: list[CharSpan]) -> list[int]:
    """B/M/E/S ids per character token from word character spans."""
    tags = [IGNORE] * (len(encoding.ids) - 2)
    for start, end in spans:
        tokens = [t - 1 for t in encoding.char_to_token[start:end] if t != DROPPED]
        if tokens:
            tags[tokens[0] : tokens[-1] + 1] = words_to_tags([len(tokens)])
    return tags


class SegmentationHead(TaskHead):
    """The segmenter: the words it finds are what the word-level tasks read. Its tags are
    fixed (B/M/E/S), so it stores no labels."""

    task = "cws"
    labels = TAGS

    def __init__(self, hidden_size: int, labels: object = None, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, len(TAGS))
        self.constraints = allowed_transitions(TAGS, "BMES")

    @classmethod
    def collect_labels(cls, sentences: list[Sentence], previous: object, source: object) -> None:
        return None

    def config(self) -> dict:
        return {}

    def summary_labels(self) -> None:
        return None

    def targets(self, sentences: list[Sentence], batch: Batch, source: object) -> dict:
        rows = [token_tags_for_words(e, s.word_spans())
                for e, s in zip(batch.encodings, sentences)]
        return {"cws": padded(rows, int(batch.char_lengths.max()))}

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
               forced_tags: np.ndarray | None = None) -> list[list[CharSpan]]:
        """The words of each sentence as character spans; `forced_tags` [B, width] are tags
        a user dictionary imposes (FREE elsewhere)."""
        emissions = F.log_softmax(outputs["logits"].float(), dim=-1).numpy()
        if forced_tags is not None:
            emissions = force_tags(emissions, forced_tags)
        paths = viterbi(emissions, None, batch.char_lengths.numpy(), allowed=self.constraints)
        words = []
        for path, n, encoding in zip(paths, batch.char_lengths, batch.encodings):
            spans, start = [], 0
            for length in tags_to_word_lengths(path[: int(n)].tolist()):
                spans.append(token_span_to_chars(encoding, start, start + length))
                start += length
            words.append(spans)
        return words

    def annotate(self, sentence, tokens: list, result: object, text: str, offset: int) -> None:
        pass  # the Pipeline makes the tokens from the words

    @classmethod
    def score(cls, gold: list[Sentence], system: list[Sentence], context: dict) -> dict:
        return {"cws": metrics.cws_scores(gold, system, context.get("oov_words"))}

    @classmethod
    def main_score(cls, gold: list[Sentence], system: list[Sentence], source: object) -> float:
        return metrics.cws_scores(gold, system)["F1"]

    @classmethod
    def provided_by(cls, system: list[Sentence]) -> bool:
        return bool(system) and system[0].words is not None
