"""Constrained semantic-role decoding, one predicate at a time.

Every row of a batch is one (sentence, predicate) pair; a sentence with k predicates
contributes k rows. Dependency-based roles (CoNLL-2009 / Universal Propositions),
``srl_roles``::

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
