"""Viterbi decoding for a first-order linear-chain CRF, plus BIO / BIOES / BMES constraints.

Layout (the pytorch-crf parameterisation, batch first)::

    emissions    [B, T, L]  emissions[b, t, y] = score of label y at position t
    transitions  [L, L]     transitions[i, j]  = score of label i followed by label j
    start, end   [L]        added to the first / last label of every sentence (default 0)
    lengths      [B]        sentence b occupies positions 0 .. lengths[b] - 1
    -> paths     [B, T]     int64 best label sequence, -1 at positions >= lengths[b]

The score of a path y is ``start[y0] + sum_t emissions[t, y_t] + sum_t transitions[y_t-1, y_t]
+ end[y_last]``. Scores accumulate in the emissions' dtype (float32 or float64) in exactly
pytorch-crf's order, ``(score[i] + transitions[i, j]) + emissions[t, j]``, and ties go to the
lowest label index, so ``viterbi`` returns the same paths as ``torchcrf.CRF.decode`` for the
same parameters (other dtypes are cast to float32; transitions/start/end to the emissions'
dtype).

Kernel: blocks of ``LANES`` sentences are decoded side by side, sentence k of a block in
SIMD lane k (emissions are copied lane-last, [T, L, lanes]); blocks run in parallel
(``prange``). Cost O(B * T * L^2); a block runs to its longest sentence.

Well-formed label sequences: ``allowed_transitions(labels, scheme)`` builds a ``Constraints``
triple (allowed [L, L], start_allowed [L], end_allowed [L]); pass it as ``allowed=`` and the
forbidden transitions, first labels and last labels get a score of -inf, so every returned
path is well formed (as long as some well-formed path exists, which is always true for
complete BIO / BIOES / BMES label sets).
"""

from typing import NamedTuple

import numba
import numpy as np

from zhnlp.decoders._checks import DecoderInputError, float_array, length_array
from zhnlp.decoders._dispatch import pick

LANES = 64  # sentences decoded side by side, one per SIMD lane


@numba.njit(cache=True, nogil=True)
def _viterbi_block(emissions, trans, start, end, lengths, lo, paths, scores):
    """Decode sentences lo .. lo + LANES - 1 together; lane k holds sentence lo + k.

    The innermost loops run over lanes, which LLVM vectorises; a finished sentence keeps
    its score frozen (like pytorch-crf's mask), so lanes of different lengths share a block.
    """
    width = min(LANES, emissions.shape[0] - lo)
    num_labels = emissions.shape[2]
    n = lengths[lo:lo + width]
    steps = 0
    for k in range(width):
        steps = max(steps, n[k])
    if steps == 0:
        return
    em = np.zeros((steps, num_labels, width), emissions.dtype)  # lane-last copy
    for k in range(width):
        for t in range(n[k]):
            for j in range(num_labels):
                em[t, j, k] = emissions[lo + k, t, j]
    score = np.empty((num_labels, width), emissions.dtype)
    nxt = np.empty_like(score)
    bp = np.zeros((steps, num_labels, width), np.int32)
    for j in range(num_labels):
        for k in range(width):
            score[j, k] = start[j] + em[0, j, k]
    for t in range(1, steps):
        for j in range(num_labels):
            for k in range(width):
                nxt[j, k] = score[0, k] + trans[0, j] + em[t, j, k]
            for i in range(1, num_labels):  # running argmax, first maximum wins
                tr = trans[i, j]
                for k in range(width):
                    v = score[i, k] + tr + em[t, j, k]
                    better = v > nxt[j, k]
                    bp[t, j, k] = i if better else bp[t, j, k]
                    nxt[j, k] = v if better else nxt[j, k]
        for j in range(num_labels):
            for k in range(width):
                score[j, k] = nxt[j, k] if t < n[k] else score[j, k]
    for k in range(width):
        if n[k] == 0:
            continue
        y = 0
        for j in range(1, num_labels):
            if score[j, k] + end[j] > score[y, k] + end[y]:
                y = j
        scores[lo + k] = score[y, k] + end[y]
        for t in range(n[k] - 1, -1, -1):
            paths[lo + k, t] = y
            y = bp[t, y, k]


@numba.njit(cache=True, parallel=True)
def _viterbi_batch(emissions, transitions, start, end, lengths, paths, scores):
    for block in numba.prange((emissions.shape[0] + LANES - 1) // LANES):
        _viterbi_block(emissions, transitions, start, end, lengths, block * LANES, paths,
                       scores)


@numba.njit(cache=True)
def _viterbi_serial(emissions, transitions, start, end, lengths, paths, scores):
    for block in range((emissions.shape[0] + LANES - 1) // LANES):
        _viterbi_block(emissions, transitions, start, end, lengths, block * LANES, paths,
                       scores)


class Constraints(NamedTuple):
    """Which transitions, first labels and last labels a tagging scheme allows."""

    transitions: np.ndarray  # bool [L, L]: label i may be followed by label j
    start: np.ndarray  # bool [L]: label may begin a sentence
    end: np.ndarray  # bool [L]: label may end a sentence


def viterbi(emissions, transitions, lengths, start=None, end=None, allowed=None,
            return_scores=False):
    """Best label sequence per sentence; see the module docstring for the layout.

    ``allowed`` is None, a bool [L, L] transition mask, or the ``Constraints`` returned by
    ``allowed_transitions``. With ``return_scores=True`` returns ``(paths, scores)`` where
    ``scores`` is float64 [B] (-inf for empty sentences).
    """
    emissions = float_array(emissions, "emissions", 3)
    batch, max_len, num_labels = emissions.shape
    dtype = emissions.dtype
    lengths = length_array(lengths, batch, max_len)
    vectors = []
    for name, value, shape in (
        ("transitions", transitions, (num_labels, num_labels)),
        ("start", start, (num_labels,)),
        ("end", end, (num_labels,)),
    ):
        value = np.zeros(shape, dtype) if value is None else float_array(value, name, len(shape))
        if value.shape != shape:
            raise DecoderInputError(f"{name} must have shape {shape}, got {value.shape}.")
        vectors.append(value.astype(dtype, copy=False))
    transitions, start, end = vectors
    if allowed is not None:
        masks = allowed if isinstance(allowed, Constraints) else (allowed, None, None)
        transitions, start, end = (
            v if m is None else np.where(np.asarray(m, bool), v, dtype.type(-np.inf))
            for v, m in zip((transitions, start, end), masks)
        )
    paths = np.full((batch, max_len), -1, np.int64)
    scores = np.full(batch, -np.inf)
    kernel = pick(_viterbi_batch, _viterbi_serial)
    kernel(emissions, transitions, start, end, lengths, paths, scores)
    return (paths, scores) if return_scores else paths


_SCHEMES = {"BIO": "BIO", "IOB2": "BIO", "BIOES": "BIOES", "IOBES": "BIOES", "BMES": "BMES"}


def _parse_label(label, tags):
    if label == "O":
        return "O", ""
    tag, rest = label[:1], label[1:]
    if tag not in tags or (rest and rest[0] not in "-_"):
        raise DecoderInputError(
            f"label {label!r} is not O or one of {tags} optionally followed by -TYPE."
        )
    return tag, rest[1:]


def allowed_transitions(labels, scheme):
    """``Constraints`` for a label list under ``scheme`` ("BIO", "BIOES" or "BMES").

    Labels are ``O`` or a tag letter optionally followed by ``-TYPE`` / ``_TYPE`` (``B-PER``,
    ``I_LOC``, ``S``, ``M-NN``); ``O`` is accepted in every scheme. Rules:

    * BIO: ``I-X`` only after ``B-X`` or ``I-X`` and never first.
    * BIOES / BMES (``I`` is ``M`` in BMES): after ``B-X`` or ``I-X`` comes ``I-X`` or ``E-X``;
      after ``O``, ``E-*`` or ``S-*`` comes ``O``, ``B-*`` or ``S-*``. The first label is
      ``O``/``B``/``S``, the last ``O``/``E``/``S``.
    """
    scheme = _SCHEMES.get(str(scheme).upper())
    if scheme is None:
        raise DecoderInputError(f"scheme must be one of {sorted(_SCHEMES)}.")
    parsed = [_parse_label(label, scheme) for label in labels]
    if scheme == "BIO":
        opening, continuing = "BI", "I"
        ends = {"B", "I", "O"}
    else:
        opening, continuing = ("BI", "IE") if scheme == "BIOES" else ("BM", "ME")
        ends = {"O", "E", "S"}

    def ok(p, q):
        if scheme == "BIO":
            return q[0] != "I" or (p[0] in opening and p[1] == q[1])
        if p[0] in opening:
            return q[0] in continuing and q[1] == p[1]
        return q[0] not in continuing

    trans = np.array([[ok(p, q) for q in parsed] for p in parsed], bool).reshape(
        len(parsed), len(parsed)
    )
    start = np.array([p[0] not in continuing for p in parsed], bool)
    end = np.array([p[0] in ends for p in parsed], bool)
    return Constraints(trans, start, end)
