"""The torch-free segmenter (the shipped `cws-fast`): a linear model over hashed character
n-gram features, decoded by the constrained Viterbi of `zhnlp.decoders`.

Why: a process that imports torch has spent 1.5 s before it reads a line, longer than
THULAC needs for all of CTB6's test set. This model loads numpy and numba only.

Features of character i (x = the lookup forms of a sentence's characters, `lookup_form`;
whitespace and invisible characters are skipped; beyond the ends, two boundary codes):

    x0, x-1, x+1, x-2, x+2;  x-1x0, x0x+1, x-2x-1, x+1x+2, x-1x+1;  x-1x0x+1;
    the classes of x-1 x0 x+1 (digit, Latin, Chinese numeral, CJK, punctuation, other);
    class(x-1) x0;  x0 class(x+1);  repetition (x0 = x-1, x0 = x-2, x0 = x+1);
    the lengths of the longest dictionary words starting at, ending at and running through
    i, together and each with x0 (jieba's dictionary, MIT: whether a string is a word,
    independently of the training data, which the model would otherwise trust blindly)

Each feature is hashed with its template into one of 2^bits rows of a [rows, 4] weight table
(B/M/E/S scores); a sentence's emissions are the sums of its features' rows. With several
segmentation standards, every feature is hashed twice: once shared by all standards and
once for the sentence's standard (Daumé's feature augmentation), so the standards share
what they agree on. Trained by the averaged structured perceptron
(`zhnlp.train.linear_cws`).

Model directory: config.json (`model_type` "zhnlp-linear-cws", standards, bits) and
model.safetensors (`emissions` int8 [rows, 4] with one float32 `emission_scale`, float32
`transitions` [4, 4], and `dictionary`: the sorted uint64 hashes of the dictionary's words).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numba
import numpy as np

from zhnlp.analysis import Analysis
from zhnlp.decoders import allowed_transitions, viterbi
from zhnlp.decoders import chain as _chain
from zhnlp.errors import ZhnlpError
from zhnlp.segmentation import FREE, TAGS, force_tags, tags_to_word_lengths, words_to_tags
from zhnlp.tokenizer import is_dropped, lookup_text

MODEL_TYPE = "zhnlp-linear-cws"
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
BOUNDARY = 0x110000  # beyond Unicode: BOUNDARY before a sentence, BOUNDARY + 1 after it
TEMPLATES = 19
MAX_WORD = 6  # longest dictionary word looked up
NONE = np.uint64(0x1FFFFF)  # the empty slot of a feature with fewer than three parts
_NUMERALS = np.array([ord(c) for c in "〇一二三四五六七八九十百千万亿两零"], np.int64)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_SEED = np.uint64(0x9E3779B97F4A7C15)
WINDOW_CHARS = 100_000  # no positional limit; only bounds the Pipeline's pieces
KERNEL_FILES = [__file__, _chain.__file__]  # the numba code this model runs


@numba.njit(cache=True)
def _mix(z):
    """splitmix64's finaliser: every input bit moves every output bit."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(cache=True)
def _char_class(code):
    if code >= BOUNDARY:
        return 1 + code - BOUNDARY  # 1: before the sentence, 2: after it
    if 48 <= code <= 57:
        return 3  # digit
    if 97 <= code <= 122:
        return 4  # Latin letter (lookup forms are lowercase)
    for numeral in _NUMERALS:
        if code == numeral:
            return 5
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2FA1F:
        return 6  # CJK ideograph
    if (33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126
            or 0x2000 <= code <= 0x206F or 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFF65):
        return 7  # punctuation
    return 8


@numba.njit(cache=True)
def _bucket(template, standard, a, b, c, shift):
    h = _mix((np.uint64(template) << np.uint64(8)) + np.uint64(standard) + _SEED)
    h = _mix(h ^ np.uint64(a))
    h = _mix(h ^ np.uint64(b))
    h = _mix(h ^ np.uint64(c))
    return np.int64(h >> shift)


@numba.njit(cache=True)
def _word_hash(codes, lo, hi):
    h = _SEED
    for j in range(lo, hi):
        h = _mix(h ^ np.uint64(codes[j]))
    return h


@numba.njit(cache=True)
def _is_word(words, h):
    """Whether the sorted hash array `words` holds h (binary search)."""
    lo, hi = 0, words.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if words[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    return lo < words.shape[0] and words[lo] == h


@numba.njit(cache=True)
def _dictionary_lengths(codes, lo, hi, words, lengths):
    """lengths[i - lo] = (longest dictionary word starting at i, ... ending at i, ... with i
    strictly inside), 0 for none, for the sentence codes[lo:hi]."""
    lengths[: hi - lo] = 0
    for i in range(lo, hi):
        for n in range(2, min(MAX_WORD, hi - i) + 1):
            if _is_word(words, _word_hash(codes, i, i + n)):
                lengths[i - lo, 0] = max(lengths[i - lo, 0], n)
                lengths[i + n - 1 - lo, 1] = max(lengths[i + n - 1 - lo, 1], n)
                for j in range(i + 1, i + n - 1):
                    lengths[j - lo, 2] = max(lengths[j - lo, 2], n)


@numba.njit(cache=True)
def _feature_rows(codes, lo, hi, i, standard, copies, shift, lexicon, rows):
    """Fill rows[: TEMPLATES * copies] with the weight rows of character i of the sentence
    codes[lo:hi] (lexicon: its `_dictionary_lengths`); copy 0 is shared by all standards,
    copy 1 is the sentence's standard's."""
    x = np.empty(5, np.int64)
    for k in range(5):
        j = i - 2 + k
        x[k] = BOUNDARY if j < lo else (BOUNDARY + 1 if j >= hi else codes[j])
    c = np.empty(5, np.int64)
    for k in range(5):
        c[k] = _char_class(x[k])
    repeat = (x[2] == x[1]) + 2 * (x[2] == x[0]) + 4 * (x[2] == x[3])
    n = 0
    for copy in range(copies):
        s = 0 if copy == 0 else standard + 1
        rows[n + 0] = _bucket(0, s, x[2], NONE, NONE, shift)
        rows[n + 1] = _bucket(1, s, x[1], NONE, NONE, shift)
        rows[n + 2] = _bucket(2, s, x[3], NONE, NONE, shift)
        rows[n + 3] = _bucket(3, s, x[0], NONE, NONE, shift)
        rows[n + 4] = _bucket(4, s, x[4], NONE, NONE, shift)
        rows[n + 5] = _bucket(5, s, x[1], x[2], NONE, shift)
        rows[n + 6] = _bucket(6, s, x[2], x[3], NONE, shift)
        rows[n + 7] = _bucket(7, s, x[0], x[1], NONE, shift)
        rows[n + 8] = _bucket(8, s, x[3], x[4], NONE, shift)
        rows[n + 9] = _bucket(9, s, x[1], x[3], NONE, shift)
        rows[n + 10] = _bucket(10, s, x[1], x[2], x[3], shift)
        rows[n + 11] = _bucket(11, s, c[1], c[2], c[3], shift)
        rows[n + 12] = _bucket(12, s, c[1], x[2], NONE, shift)
        rows[n + 13] = _bucket(13, s, x[2], c[3], NONE, shift)
        rows[n + 14] = _bucket(14, s, repeat, NONE, NONE, shift)
        starts, ends, inside = lexicon[i - lo, 0], lexicon[i - lo, 1], lexicon[i - lo, 2]
        rows[n + 15] = _bucket(15, s, starts, ends, inside, shift)
        rows[n + 16] = _bucket(16, s, starts, x[2], NONE, shift)
        rows[n + 17] = _bucket(17, s, ends, x[2], NONE, shift)
        rows[n + 18] = _bucket(18, s, inside, x[2], NONE, shift)
        n += TEMPLATES
    return n


@numba.njit(cache=True)
def _longest(starts):
    longest = 1
    for b in range(starts.shape[0] - 1):
        longest = max(longest, starts[b + 1] - starts[b])
    return longest


@numba.njit(cache=True)
def feature_emissions(codes, starts, standards, words, weights, scale, copies, shift, out):
    """out[i] += scale * the sum of character i's feature rows, for every sentence b =
    codes[starts[b]:starts[b + 1]] (of standard standards[b]); words: the dictionary."""
    rows = np.empty(TEMPLATES * 2, np.int64)
    lexicon = np.empty((_longest(starts), 3), np.int64)
    for b in range(starts.shape[0] - 1):
        lo, hi = starts[b], starts[b + 1]
        _dictionary_lengths(codes, lo, hi, words, lexicon)
        for i in range(lo, hi):
            n = _feature_rows(codes, lo, hi, i, standards[b], copies, shift, lexicon, rows)
            for y in range(out.shape[1]):
                total = 0.0
                for k in range(n):
                    total += weights[rows[k], y]
                out[i, y] += scale * total


@numba.njit(cache=True)
def perceptron_update(codes, starts, standards, words, gold, predicted, copies, shift,
                      weights, totals, step):
    """The perceptron's step for a batch: +1 to the gold tag's and -1 to the predicted tag's
    score on every feature of each wrongly tagged character; `totals` gathers step * change
    (for the average). Returns the number of wrong characters."""
    rows = np.empty(TEMPLATES * 2, np.int64)
    lexicon = np.empty((_longest(starts), 3), np.int64)
    wrong = 0
    for b in range(starts.shape[0] - 1):
        lo, hi = starts[b], starts[b + 1]
        _dictionary_lengths(codes, lo, hi, words, lexicon)
        for i in range(lo, hi):
            g, p = gold[i], predicted[i]
            if g == p:
                continue
            wrong += 1
            n = _feature_rows(codes, lo, hi, i, standards[b], copies, shift, lexicon, rows)
            for k in range(n):
                weights[rows[k], g] += 1.0
                weights[rows[k], p] -= 1.0
                totals[rows[k], g] += step
                totals[rows[k], p] -= step
    return wrong


def feature_rows_reference(codes: list[int], i: int, standard: int, copies: int,
                           bits: int, words: set[tuple[int, ...]]) -> list[int]:
    """Plain-Python twin of `_feature_rows` (and `_dictionary_lengths`) for character i of
    one sentence, `words` the dictionary as tuples of codes (tests check the kernels
    against it): Python integers, 64-bit wrap-around by masking."""
    mask = (1 << 64) - 1

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    def bucket(template: int, s: int, *parts: int) -> int:
        parts = (list(parts) + [0x1FFFFF] * 3)[:3]
        h = mix(((template << 8) + s + 0x9E3779B97F4A7C15) & mask)
        for part in parts:
            h = mix(h ^ part)
        return h >> (64 - bits)

    def char_class(code: int) -> int:
        if code >= BOUNDARY:
            return 1 + code - BOUNDARY
        char = chr(code)
        if char.isascii() and char.isdigit():
            return 3
        if "a" <= char <= "z":
            return 4
        if char in "〇一二三四五六七八九十百千万亿两零":
            return 5
        if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2FA1F:
            return 6
        if ((code < 127 and not char.isalnum() and code > 32) or 0x2000 <= code <= 0x206F
                or 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFF65):
            return 7
        return 8

    padded = [BOUNDARY, BOUNDARY, *codes, BOUNDARY + 1, BOUNDARY + 1]
    x = padded[i : i + 5]
    c = [char_class(code) for code in x]
    repeat = (x[2] == x[1]) + 2 * (x[2] == x[0]) + 4 * (x[2] == x[3])
    spans = [(a, b) for a in range(len(codes)) for b in range(a + 2, min(a + MAX_WORD,
             len(codes)) + 1) if tuple(codes[a:b]) in words]
    starts = max([b - a for a, b in spans if a == i] + [0])
    ends = max([b - a for a, b in spans if b - 1 == i] + [0])
    inside = max([b - a for a, b in spans if a < i < b - 1] + [0])
    parts = [(x[2],), (x[1],), (x[3],), (x[0],), (x[4],), (x[1], x[2]), (x[2], x[3]),
             (x[0], x[1]), (x[3], x[4]), (x[1], x[3]), (x[1], x[2], x[3]), (c[1], c[2], c[3]),
             (c[1], x[2]), (x[2], c[3]), (repeat,), (starts, ends, inside), (starts, x[2]),
             (ends, x[2]), (inside, x[2])]
    return [bucket(template, 0 if copy == 0 else standard + 1, *part)
            for copy in range(copies) for template, part in enumerate(parts)]


def dictionary_hashes(words: Iterable[str]) -> np.ndarray:
    """The sorted hashes of the words of 2 to MAX_WORD characters (lookup forms), the
    model's dictionary."""
    hashes = set()
    for word in words:
        codes, offsets = sentence_codes(word)
        if 2 <= len(codes) <= MAX_WORD:
            hashes.add(int(_word_hash(codes, 0, len(codes))))
    return np.array(sorted(hashes), np.uint64)


def sentence_codes(text: str) -> tuple[np.ndarray, list[int]]:
    """The lookup-form code points of the characters a segmenter reads, and their offsets
    into text (whitespace and invisible characters are skipped)."""
    if text.isprintable() and " " not in text:  # nothing to skip (the common case)
        keep = list(range(len(text)))
        form = lookup_text(text)
    else:
        keep = [i for i, char in enumerate(text) if not is_dropped(char)]
        form = lookup_text("".join(text[i] for i in keep))
    return np.frombuffer(form.encode("utf-32-le"), np.uint32).astype(np.int64), keep


def encode_sentences(texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """All sentences' codes in one array, the start of each (plus the end), their offsets."""
    encoded = [sentence_codes(text) for text in texts]
    starts = np.zeros(len(texts) + 1, np.int64)
    starts[1:] = np.cumsum([len(keep) for _, keep in encoded])
    codes = (np.concatenate([codes for codes, _ in encoded]) if encoded
             else np.zeros(0, np.int64))
    return codes, starts, [keep for _, keep in encoded]


def padded_rows(flat: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """[B, T, ...] from rows laid end to end (sentence b: flat[starts[b]:starts[b + 1]])."""
    lengths = np.diff(starts)
    out = np.zeros((len(lengths), int(lengths.max(initial=1)), *flat.shape[1:]), flat.dtype)
    for b, (lo, hi) in enumerate(zip(starts[:-1], starts[1:])):
        out[b, : hi - lo] = flat[lo:hi]
    return out


class _SegmentationTask:
    """What the Pipeline and the server ask of a model's cws task: the words are the
    result, nothing else to fill in."""

    def annotate(self, sentence, tokens, result, text, offset) -> None:
        pass

    def finish(self, sentence, tasks) -> None:
        pass

    def summary_labels(self) -> None:
        return None


class LinearSegmenter:
    """Segmentation only, without torch; the same `predict` as `MultiTaskModel`."""

    def __init__(self, weights: np.ndarray, transitions: np.ndarray, dictionary: np.ndarray,
                 standards: list[str], default_standard: str | None = None,
                 scale: float = 1.0, meta: dict | None = None) -> None:
        self.weights = weights  # [2^bits, 4]: float32 in training, int8 (x scale) shipped
        self.dictionary = dictionary  # sorted uint64 word hashes (`dictionary_hashes`)
        self.scale = float(scale)
        self.transitions = np.asarray(transitions, np.float32)
        self.standards = list(standards)
        self.default_standard = default_standard or self.standards[0]
        self.meta = meta or {}
        self.bits = int(weights.shape[0]).bit_length() - 1
        self.copies = 2 if len(self.standards) > 1 else 1
        self.heads = {"cws": _SegmentationTask()}
        self.window_chars = self.piece_chars = WINDOW_CHARS
        self.constraints = allowed_transitions(TAGS, "BMES")

    @property
    def tasks(self) -> list[str]:
        return ["cws"]

    def eval(self) -> LinearSegmenter:
        return self

    def standard_index(self, standard: str | None) -> int:
        standard = standard or self.default_standard
        if standard not in self.standards:
            raise ZhnlpError(f"this model knows no segmentation standard {standard!r}; it has "
                             f"{', '.join(self.standards)}.")
        return self.standards.index(standard)

    def emissions(self, codes: np.ndarray, starts: np.ndarray,
                  standards: np.ndarray) -> np.ndarray:
        """[characters, 4] tag scores of sentences laid end to end."""
        out = np.zeros((len(codes), len(TAGS)), np.float32)
        feature_emissions(codes, starts, standards, self.dictionary, self.weights,
                          np.float32(self.scale), self.copies, np.uint64(64 - self.bits), out)
        return out

    def decode(self, emissions: np.ndarray, starts: np.ndarray,
               forced: np.ndarray | None = None) -> np.ndarray:
        """Best tags, laid end to end like the emissions."""
        scores = padded_rows(emissions, starts)
        if forced is not None:
            scores = force_tags(scores, forced)
        paths = viterbi(scores, self.transitions, np.diff(starts), allowed=self.constraints)
        return paths[paths >= 0] if len(paths) else np.zeros(0, np.int64)

    def predict(self, texts: list[str], tasks: list[str], standard: str | None = None,
                words: list | None = None, forced_words: list | None = None) -> list[Analysis]:
        """Each sentence's words as character spans; `forced_words` are dictionary matches
        kept as words."""
        if [task for task in tasks if task != "cws"]:
            raise ZhnlpError(f"this model segments only (cws); it cannot run "
                             f"{', '.join(t for t in tasks if t != 'cws')}.")
        if words is not None:
            return [Analysis(words=spans) for spans in words]
        codes, starts, offsets = encode_sentences(texts)
        standards = np.full(len(texts), self.standard_index(standard), np.int64)
        forced = None if forced_words is None else _forced_tags(forced_words, offsets)
        tags = self.decode(self.emissions(codes, starts, standards), starts, forced)
        analyses = []
        for b, keep in enumerate(offsets):
            spans, first = [], 0
            for length in tags_to_word_lengths(tags[starts[b] : starts[b + 1]].tolist()):
                spans.append((keep[first], keep[first + length - 1] + 1))
                first += length
            analyses.append(Analysis(words=spans))
        return analyses

    # -- storage ---------------------------------------------------------------------------

    def config(self) -> dict:
        return {"model_type": MODEL_TYPE, "bits": self.bits, "standards": self.standards,
                "default_standard": self.default_standard, "meta": self.meta}

    def save(self, directory: str | Path) -> None:
        """int8 weights (per-table scale): a quarter of the float32 table, same words on
        the dev sets (the model card gives the test scores)."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.weights.dtype == np.int8:
            quantized, scale = self.weights, self.scale
        else:
            scale = float(np.abs(self.weights).max()) * self.scale / 127 or 1.0
            quantized = np.clip(np.rint(self.weights * (self.scale / scale)), -127, 127
                                ).astype(np.int8)
        save_file({"emissions": quantized, "emission_scale": np.array([scale], np.float32),
                   "transitions": self.transitions, "dictionary": self.dictionary},
                  str(directory / WEIGHTS_FILE))
        (directory / CONFIG_FILE).write_text(json.dumps(self.config(), ensure_ascii=False,
                                                        indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, config: dict) -> LinearSegmenter:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        path = Path(directory) / WEIGHTS_FILE
        try:
            tensors = load_file(str(path))
            weights, transitions = tensors["emissions"], tensors["transitions"]
            dictionary = tensors["dictionary"]
            scale = float(tensors["emission_scale"][0])
        except (FileNotFoundError, SafetensorError, KeyError) as error:
            raise ZhnlpError(f"the model file {path} is missing or damaged ({error}); restore "
                             "the model directory from its release.") from None
        standards = config.get("standards")
        if (weights.shape != (1 << int(config.get("bits", -1)), len(TAGS))
                or transitions.shape != (len(TAGS), len(TAGS))
                or not isinstance(standards, list) or not standards):
            raise ZhnlpError(f"the model in {directory} does not match its config.json; "
                             "restore the model directory from its release.")
        return cls(weights, transitions, dictionary, standards, config.get("default_standard"),
                   scale, config.get("meta"))


def span_tags(spans: list, offsets: list[int], width: int, fill: int) -> np.ndarray:
    """[width] B/M/E/S ids of the read characters (offsets into the text) that the word
    spans cover, `fill` elsewhere: gold tags in training, forced tags for a user dictionary."""
    position = {offset: k for k, offset in enumerate(offsets)}
    tags = np.full(width, fill, np.int64)
    for start, end in spans:
        inside = [position[i] for i in range(start, end) if i in position]
        if inside:
            tags[inside[0] : inside[-1] + 1] = words_to_tags([len(inside)])
    return tags


def _forced_tags(forced_words: list, offsets: list[list[int]]) -> np.ndarray:
    """[B, width] tag ids the user dictionary forces (FREE elsewhere), per read character."""
    width = max([len(keep) for keep in offsets] + [1])
    return np.stack([span_tags(spans, keep, width, FREE)
                     for spans, keep in zip(forced_words, offsets)])
