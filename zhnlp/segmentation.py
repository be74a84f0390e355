"""B/M/E/S word tags, shared by both segmenters: the neural head (`zhnlp.tasks.cws`) and the
torch-free linear model (`zhnlp.linear_cws`). Imports nothing heavy."""

from __future__ import annotations

import numpy as np

TAGS = ["B", "M", "E", "S"]
FREE = -1  # forced-tag value of a character the user dictionary leaves to the model
FORBIDDEN = -1e4  # emission score of a tag the user dictionary rules out


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


def force_tags(emissions: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """Emissions [B, T, 4] where every tag that `forced` [B, >= T] (tag ids, FREE where the
    dictionary says nothing) rules out scores FORBIDDEN."""
    forced = forced[:, : emissions.shape[1]]
    keep = (forced == FREE)[..., None] | (forced[..., None] == np.arange(len(TAGS)))
    return np.where(keep, emissions, emissions.dtype.type(FORBIDDEN))
