"""MacBERT-style corruption ("MLM as correction") with whole-word n-gram spans.

About `rate` (15 %) of the words of a sequence are selected, in spans of 1-4 consecutive
words (probabilities 40/30/20/10 %). Each span is then, as a whole:
- 80 %: every word replaced by a similar word of the same length (a word2vec neighbour from
  the similar-word table; a random word of that length when the word has no entry),
- 10 %: every word replaced by a random word of the same length,
- 10 %: left unchanged.
No [MASK] token is ever used, and replacements keep the length, so characters stay aligned.
The model predicts the original character at every selected position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zhnlp.tokenizer import RESERVED_TOKENS, SPECIAL_TOKENS, CharTokenizer

NGRAM_PROBS = (0.4, 0.3, 0.2, 0.1)
SIMILAR, RANDOM, KEEP = 0, 1, 2


class WordTable:
    """Similar words and random words in id space, from the similar-word JSON table
    (word -> list of same-length neighbours, most similar first)."""

    def __init__(self, tokenizer: CharTokenizer, similar: dict[str, list[str]]) -> None:
        self.forms = [token[2:] if token.startswith("##") else token for token in tokenizer.vocab]
        first_char = len(SPECIAL_TOKENS) + len(RESERVED_TOKENS)
        self.char_ids = np.array(
            [i for i in range(first_char, len(tokenizer.vocab))
             if not tokenizer.vocab[i].startswith("##")], dtype=np.int64)
        self.similar: dict[str, np.ndarray] = {}
        by_length: dict[int, list[list[int]]] = {}
        for word, neighbours in similar.items():
            ids = [tokenizer.char_ids(n) for n in neighbours]
            ids = [i for i in ids if len(i) == len(word) and tokenizer.unk_id not in i]
            if ids:
                self.similar[word] = np.array(ids, dtype=np.int64)
            word_ids = tokenizer.char_ids(word)
            if len(word_ids) == len(word) and tokenizer.unk_id not in word_ids:
                by_length.setdefault(len(word), []).append(word_ids)
        self.by_length = {n: np.array(w, dtype=np.int64) for n, w in by_length.items()}

    @classmethod
    def load(cls, tokenizer: CharTokenizer, path: str | Path) -> WordTable:
        with open(path, encoding="utf-8") as handle:
            return cls(tokenizer, json.load(handle))

    def word(self, ids: np.ndarray) -> str:
        return "".join(self.forms[i] for i in ids)

    def similar_word(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        neighbours = self.similar.get(self.word(ids))
        if neighbours is None:
            return self.random_word(len(ids), rng)
        return neighbours[rng.integers(len(neighbours))]

    def random_word(self, length: int, rng: np.random.Generator) -> np.ndarray:
        words = self.by_length.get(length)
        if words is None:
            return rng.choice(self.char_ids, size=length)
        return words[rng.integers(len(words))]


@dataclass
class Corruption:
    input_ids: np.ndarray  # corrupted copy of the ids
    selected: np.ndarray  # bool per position: predict the original id here
    spans: list[tuple[int, int, int]] = field(default_factory=list)  # (first word, n, action)


def word_bounds(word_starts: np.ndarray) -> np.ndarray:
    """(start, end) of each word from a 0/1 word-start array."""
    starts = np.flatnonzero(word_starts)
    if len(starts) == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts]).astype(np.int64)
    ends = np.append(starts[1:], len(word_starts))
    return np.stack([starts, ends], axis=1)


def corrupt(
    ids: np.ndarray,
    word_starts: np.ndarray,
    table: WordTable,
    rng: np.random.Generator,
    rate: float = 0.15,
    ngram_probs: tuple[float, ...] = NGRAM_PROBS,
    action_probs: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> Corruption:
    """Select ~rate of the words in n-gram spans and corrupt them (see module docstring)."""
    bounds = word_bounds(word_starts)
    n_words = len(bounds)
    out = Corruption(ids.copy(), np.zeros(len(ids), dtype=bool))
    if len(ids) == 0:
        return out
    budget = max(1, int(round(rate * n_words)))
    covered = np.zeros(n_words, dtype=bool)
    total = 0
    lengths = np.arange(1, len(ngram_probs) + 1)
    while total < budget:
        # draw the span length first, then a start where the whole span is still free
        # (skipping overlapping spans instead would favour short spans)
        n = min(int(rng.choice(lengths, p=ngram_probs)), budget - total)
        while True:
            free = np.convolve(~covered, np.ones(n, dtype=int), mode="valid") == n
            if free.any() or n == 1:
                break
            n -= 1
        if not free.any():
            break
        first = int(rng.choice(np.flatnonzero(free)))
        covered[first : first + n] = True
        total += n
        action = int(rng.choice(3, p=action_probs))
        out.spans.append((first, n, action))
        for start, end in bounds[first : first + n]:
            out.selected[start:end] = True
            if action == SIMILAR:
                out.input_ids[start:end] = table.similar_word(ids[start:end], rng)
            elif action == RANDOM:
                out.input_ids[start:end] = table.random_word(end - start, rng)
    return out
