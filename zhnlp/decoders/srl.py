"""Constrained semantic-role decoding, one predicate at a time.

Every row of a batch is one (sentence, predicate) pair; a sentence with k predicates
contributes k rows. Two score layouts are supported.

Dependency-based roles (CoNLL-2009 / Universal Propositions), ``srl_roles``::

    scores      [P, N, R]  scores[p, w, r] = score of word w taking role r for predicate p;
                           the "none" / "_" label is an ordinary role index
    lengths     [P]        words of row p are 0 .. lengths[p] - 1
    core_roles  indices into the role axis (e.g. those of A0..A5), at most 16
    -> roles    [P, N]     int64 role per word, -1 at w >= lengths[p]

  Constraint set: every word takes exactly one role (possibly "none"), so arguments never
  overlap; each core role is used by at most one word; non-core roles (the "none" role,
  AM-* modifiers, ...) are unrestricted. Among all assignments satisfying this, the one with
  the largest total score is returned. Exact algorithm: a non-core choice is the best
  non-core role of that word, so only the core roles interact. A DP over words keeps, for
  every subset S of core roles, the best total score of the words so far using exactly S:
  O(N * 2^K * K) per predicate (K = number of core roles, 6 for A0-A5: 64 subsets).
  At least one role must be non-core.

BIO span labels, ``srl_spans``::

    scores      [P, T, L]  scores[p, t, l] = score of BIO label l at word t for predicate p
    labels      L strings: "O", "B-<role>", "I-<role>" (e.g. "B-A0", "I-AM-TMP")
    core_roles  role names used at most once (default A0..A5)
    -> tags     [P, T]     int64 label index per word, -1 at t >= lengths[p]

  Constraint set: the tags form a valid BIO sequence (``I-X`` only after ``B-X`` or ``I-X``,
  never first), so the argument spans never overlap; each core role starts at most one span
  (``B-X`` at most once for core X). Exact algorithm: Viterbi over (label, subset of core roles
  already used); the transitions carry no scores, so each step costs O(L * 2^K).

Scores are read as float32 and summed in float64; ties prefer the non-core choice, then the
lowest index.
"""

import numba
import numpy as np

from zhnlp.decoders._checks import DecoderInputError, float_array, length_array
from zhnlp.decoders._dispatch import pick

CORE_ROLES = ("A0", "A1", "A2", "A3", "A4", "A5")
MAX_CORE_ROLES = 16


@numba.njit(cache=True, nogil=True)
def _roles_one(s, n, core, is_core, roles):
    num_core = core.shape[0]
    subsets = 1 << num_core
    f = np.full(subsets, -np.inf)  # best score of words < w using exactly this core subset
    f[0] = 0.0
    g = np.empty(subsets)
    choice = np.empty((n, subsets), np.int8)  # -1: best non-core role, k: core role k
    free = np.empty(n, np.int64)
    for w in range(n):
        base, arg = -np.inf, -1
        for r in range(s.shape[1]):
            if not is_core[r] and s[w, r] > base:
                base, arg = s[w, r], r
        free[w] = arg
        for subset in range(subsets):
            best, ch = f[subset] + base, -1
            for k in range(num_core):
                if subset >> k & 1:
                    v = f[subset ^ (1 << k)] + s[w, core[k]]
                    if v > best:
                        best, ch = v, k
            g[subset] = best
            choice[w, subset] = ch
        f, g = g, f
    subset = 0
    for other in range(1, subsets):
        if f[other] > f[subset]:
            subset = other
    total = f[subset]
    for w in range(n - 1, -1, -1):
        k = choice[w, subset]
        if k < 0:
            roles[w] = free[w]
        else:
            roles[w] = core[k]
            subset ^= 1 << k
    return total


@numba.njit(cache=True, parallel=True)
def _roles_batch(scores, lengths, core, is_core, roles, totals):
    for p in numba.prange(scores.shape[0]):
        totals[p] = _roles_one(scores[p], lengths[p], core, is_core, roles[p])


@numba.njit(cache=True)
def _roles_serial(scores, lengths, core, is_core, roles, totals):
    for p in range(scores.shape[0]):
        totals[p] = _roles_one(scores[p], lengths[p], core, is_core, roles[p])


def srl_roles(scores, lengths, core_roles, return_scores=False):
    """Best role per word and predicate, each core role at most once (module docstring)."""
    scores = float_array(scores, "scores", 3, np.float32)
    rows, max_len, num_roles = scores.shape
    lengths = length_array(lengths, rows, max_len)
    core = np.unique(np.asarray(list(core_roles), np.int64))
    if core.size > MAX_CORE_ROLES or core.size >= num_roles:
        raise DecoderInputError(
            f"core_roles must name at most {MAX_CORE_ROLES} roles and leave one non-core role."
        )
    if core.size and (core[0] < 0 or core[-1] >= num_roles):
        raise DecoderInputError(f"core_roles must be role indices in [0, {num_roles}).")
    is_core = np.zeros(num_roles, np.bool_)
    is_core[core] = True
    roles = np.full((rows, max_len), -1, np.int64)
    totals = np.zeros(rows)
    pick(_roles_batch, _roles_serial)(scores, lengths, core, is_core, roles, totals)
    return (roles, totals) if return_scores else roles


@numba.njit(cache=True, nogil=True)
def _spans_one(s, n, kind, bit, begin, subsets, tags):
    """kind[l]: 0 O, 1 B, 2 I; bit[l]: core bit set by B-core label l, else 0;
    begin[l]: for I-X the index of B-X (-1 if absent)."""
    num_labels = s.shape[1]
    f = np.full((num_labels, subsets), -np.inf)
    g = np.empty_like(f)
    bp = np.zeros((n, num_labels, subsets), np.int32)
    best_any = np.empty(subsets)
    arg_any = np.empty(subsets, np.int32)
    for q in range(num_labels):
        if kind[q] != 2:
            f[q, bit[q]] = s[0, q]
    for t in range(1, n):
        for m in range(subsets):
            best, arg = -np.inf, 0
            for p in range(num_labels):
                if f[p, m] > best:
                    best, arg = f[p, m], p
            best_any[m] = best
            arg_any[m] = arg
        for q in range(num_labels):
            for m in range(subsets):
                best, arg = -np.inf, 0
                if kind[q] != 2:  # O or B-X may follow anything
                    if bit[q] == 0 or m & bit[q]:
                        best, arg = best_any[m ^ bit[q]], arg_any[m ^ bit[q]]
                else:  # I-X follows B-X or I-X
                    b = begin[q]
                    if b >= 0 and f[b, m] > best:
                        best, arg = f[b, m], b
                    if f[q, m] > best:
                        best, arg = f[q, m], q
                g[q, m] = best + s[t, q]
                bp[t, q, m] = arg
        f, g = g, f
    q, m = 0, 0
    for p in range(num_labels):
        for k in range(subsets):
            if f[p, k] > f[q, m]:
                q, m = p, k
    total = f[q, m]
    for t in range(n - 1, -1, -1):
        tags[t] = q
        p = bp[t, q, m]
        if kind[q] == 1:
            m ^= bit[q]
        q = p
    return total


@numba.njit(cache=True, parallel=True)
def _spans_batch(scores, lengths, kind, bit, begin, subsets, tags, totals):
    for p in numba.prange(scores.shape[0]):
        if lengths[p] > 0:
            totals[p] = _spans_one(scores[p], lengths[p], kind, bit, begin, subsets, tags[p])


@numba.njit(cache=True)
def _spans_serial(scores, lengths, kind, bit, begin, subsets, tags, totals):
    for p in range(scores.shape[0]):
        if lengths[p] > 0:
            totals[p] = _spans_one(scores[p], lengths[p], kind, bit, begin, subsets, tags[p])


def bio_structure(labels, core_roles=CORE_ROLES):
    """Arrays (kind, bit, begin) describing BIO ``labels`` for ``srl_spans``.

    kind: 0 for O, 1 for B-X, 2 for I-X; bit: a distinct power of two for each B-X whose X is
    a core role, else 0; begin: for I-X the index of B-X (-1 if the labels lack it).
    """
    core = set(core_roles)
    bits = {}
    kind = np.zeros(len(labels), np.int64)
    bit = np.zeros(len(labels), np.int64)
    begin = np.full(len(labels), -1, np.int64)
    b_index = {}
    for i, label in enumerate(labels):
        if label == "O":
            continue
        if label[:2] not in ("B-", "I-") or len(label) < 3:
            raise DecoderInputError(f"label {label!r} is not O, B-<role> or I-<role>.")
        kind[i] = 1 if label[0] == "B" else 2
        if kind[i] == 1:
            b_index[label[2:]] = i
            if label[2:] in core:
                bit[i] = bits.setdefault(label[2:], 1 << len(bits))
    for i, label in enumerate(labels):
        if kind[i] == 2:
            begin[i] = b_index.get(label[2:], -1)
    if len(bits) > MAX_CORE_ROLES:
        raise DecoderInputError(f"labels may use at most {MAX_CORE_ROLES} core roles.")
    return kind, bit, begin


def srl_spans(scores, lengths, labels, core_roles=CORE_ROLES, return_scores=False):
    """Best BIO tag sequence per predicate, each core role at most once (module docstring)."""
    scores = float_array(scores, "scores", 3, np.float32)
    rows, max_len, num_labels = scores.shape
    if len(labels) != num_labels:
        raise DecoderInputError(f"labels must have {num_labels} entries, got {len(labels)}.")
    lengths = length_array(lengths, rows, max_len)
    kind, bit, begin = bio_structure(labels, core_roles)
    tags = np.full((rows, max_len), -1, np.int64)
    totals = np.full(rows, -np.inf)
    totals[lengths == 0] = 0.0
    subsets = int(bit.max(initial=0)) * 2 or 1
    kernel = pick(_spans_batch, _spans_serial)
    kernel(scores, lengths, kind, bit, begin, subsets, tags, totals)
    return (tags, totals) if return_scores else tags
