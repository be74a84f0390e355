"""Text normalisation and sentence splitting that keep offsets into the original string.

Normalisation works character by character: every output string has exactly the length
of its input, so an offset into the normalised text is also an offset into the original.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from functools import cache

import opencc

_T2S = opencc.OpenCC("t2s")

FULLWIDTH_FIRST, FULLWIDTH_LAST, FULLWIDTH_SHIFT = 0xFF01, 0xFF5E, 0xFEE0
IDEOGRAPHIC_SPACE = "\u3000"


@cache
def normalize_char(char: str) -> str:
    """Map one character to its half-width, simplified form (always one character)."""
    code = ord(char)
    if FULLWIDTH_FIRST <= code <= FULLWIDTH_LAST:
        return chr(code - FULLWIDTH_SHIFT)
    if char == IDEOGRAPHIC_SPACE:
        return " "
    if code < 0x2E80 or 0xD800 <= code <= 0xDFFF:  # nothing to simplify (and OpenCC
        return char  # cannot encode a lone surrogate)
    simplified = _T2S.convert(char)
    # OpenCC may map one character to several in rare cases; keep offsets instead.
    return simplified if len(simplified) == 1 else char


def normalize(text: str) -> str:
    """Full-width ASCII to half-width and traditional to simplified, length-preserving."""
    return "".join(map(normalize_char, text))


# Punctuation, defined once: a sentence ends after SENTENCE_MARKS plus any closing quotes or
# brackets that follow them; long sentences are cut after CLAUSE_MARKS (or sentence marks).
SENTENCE_MARKS = "。！？!?…"
CLAUSE_MARKS = "，,；;：:、"
_CLOSERS = "”’」』）)\\]"
_SENTENCE_END = re.compile(rf"[{SENTENCE_MARKS}]+[{_CLOSERS}]*|\n+"
                           r"|(?<![0-9])[.;；](?![0-9])[”’」』）)]*")
_CLAUSE_END = re.compile(f"[{CLAUSE_MARKS}]")
_PUNCTUATION_WORD = re.compile(f"[{SENTENCE_MARKS}{CLAUSE_MARKS}]+[{_CLOSERS}]*")


def ends_clause(word: str) -> bool:
    """Whether a word is clause or sentence punctuation (a place to cut between words)."""
    return _PUNCTUATION_WORD.fullmatch(word) is not None


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Split text into sentences; returns (start, end) offsets with whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))]


def split_long(text: str, start: int, end: int, max_chars: int,
               keep: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """Cut text[start:end] into pieces of at most max_chars, preferring clause boundaries
    and never cutting through a span of `keep` (sorted, disjoint offsets into text: the
    user dictionary's matches) that fits in a piece."""
    pieces: list[tuple[int, int]] = []
    starts = [first for first, _ in keep]
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cuts = [m.end() for m in _CLAUSE_END.finditer(window)]
        cut = start + (cuts[-1] if cuts and cuts[-1] > max_chars // 4 else max_chars)
        k = bisect_left(starts, cut) - 1  # the last span that starts before the cut
        if k >= 0 and keep[k][1] > cut:  # the cut goes through it: before it, or after
            first, last = keep[k]
            cut = first if first > start else min(last, start + max_chars)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return [trimmed for span in pieces if (trimmed := _trim(text, *span))]


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def word_spans(words: list[str]) -> list[tuple[int, int]]:
    """Character (start, end) of each word in the words joined without separators."""
    spans, start = [], 0
    for word in words:
        spans.append((start, start + len(word)))
        start += len(word)
    return spans
