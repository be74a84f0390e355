"""Lexicon (character n-gram) features for the encoder input.

A character model sees words only through what it learnt; a word list tells it directly
which n-grams are words. For every character the lexicon gives 2·(max_length−1) + 1 binary
features: "a lexicon word of length n starts here" and "... ends here" for n = 2..max_length,
and "inside a lexicon word of length ≥ 3" (neither its first nor last character). The model
adds a learnt projection of these features to the character embeddings (`MultiTaskModel`),
so every task can use them.

Words are kept in the tokenizer's lookup form (normalised, lowercased) and saved with the
model as lexicon.txt, one word per line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from zhnlp.errors import ZhnlpError
from zhnlp.tokenizer import lookup_form

LEXICON_FILE = "lexicon.txt"


class Lexicon:
    def __init__(self, words: Iterable[str], max_length: int = 4) -> None:
        if max_length < 2:
            raise ValueError("max_length must be at least 2")
        self.max_length = max_length
        self.words = {"".join(map(lookup_form, w)) for w in words if 2 <= len(w) <= max_length}

    @property
    def feature_count(self) -> int:
        return 2 * (self.max_length - 1) + 1

    def features(self, chars: Sequence[str]) -> np.ndarray:
        """[len(chars), feature_count] float32; chars are the model's character tokens
        (one string each; unknown tokens never match)."""
        n, m = len(chars), self.max_length
        result = np.zeros((n, self.feature_count), dtype=np.float32)
        for start in range(n):
            for length in range(2, min(m, n - start) + 1):
                if "".join(chars[start:start + length]) in self.words:
                    end = start + length - 1
                    result[start, length - 2] = 1.0  # starts here
                    result[end, m - 1 + length - 2] = 1.0  # ends here
                    result[start + 1:end, -1] = 1.0  # inside
        return result

    def save(self, directory: str | Path) -> None:
        Path(directory, LEXICON_FILE).write_text("\n".join(sorted(self.words)) + "\n",
                                                 encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, max_length: int) -> Lexicon:
        path = Path(directory, LEXICON_FILE)
        if not path.exists():
            raise ZhnlpError(f"the model's lexicon {path} is missing; copy the whole model "
                             "directory.")
        return cls(path.read_text(encoding="utf-8").split(), max_length)


def jieba_words() -> list[str]:
    """The words of jieba's main dictionary (jieba is a dependency; no training data)."""
    import jieba

    path = Path(os.path.dirname(jieba.__file__), "dict.txt")
    with path.open(encoding="utf-8") as handle:
        return [line.split(" ", 1)[0] for line in handle if line.strip()]
