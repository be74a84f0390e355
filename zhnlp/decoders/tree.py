"""Dependency tree decoders: Eisner (projective) and Chu-Liu/Edmonds (non-projective).

Layout (the one supar and LTP's Rust ``eisner`` use)::

    scores   [B, N+1, N+1]  scores[b, d, h] = score of head h for word d; node 0 is the root,
                            words are 1 .. n. Row 0 (the root's own head) and the diagonal
                            are ignored; -inf marks a forbidden arc.
    lengths  [B]            n, the number of words of sentence b (root not counted), n <= N
    -> heads [B, N+1]       int64; heads[b, 0] = 0, heads[b, d] = head of word d for
                            1 <= d <= n, and -1 for d > n.

Both decoders return the highest-scoring tree in which the root has exactly one child (a
dependency tree, not just a spanning arborescence). Scores are read as float32 (one compiled
specialisation, like LTP's Rust decoder) and summed in float64.

* ``eisner``: O(n^3) dynamic program over projective trees (Eisner 1996, the supar
  formulation). Complete and incomplete span tables are kept together with a transposed copy
  of the complete table so that every inner max runs over contiguous memory, and the two
  incomplete spans of (i, j) share one max over split points. The single-root constraint is
  supar's: a complete span headed by the root may only cover the whole sentence. Ties go to
  the leftmost split point.
* ``mst``: Chu-Liu/Edmonds with cycle contraction, O(n^3) worst case. The single-root
  constraint is exact and needs no extra pass: arcs leaving the root are compared
  lexicographically as (number of root arcs, score), i.e. as if every root arc carried an
  infinitely large penalty. Chu-Liu/Edmonds is correct over any ordered abelian group, so the
  result is the best arborescence among those with the fewest root arcs, which is one whenever
  a dependency tree exists. In practice: a word takes the root as its head only if no
  finite non-root head is left. Each word needs at least one finite-scoring head.
"""

import numba
import numpy as np

from zhnlp.decoders._checks import DecoderInputError, float_array, length_array
from zhnlp.decoders._dispatch import pick


@numba.njit(cache=True, nogil=True)
def _eisner_one(s, n, heads):
    """Projective single-root tree over words 1..n of ``s`` (scores[d, h]) into ``heads``."""
    size = n + 1
    inc = np.full((size, size), -np.inf)  # inc[h, e]: incomplete span, arc h -> e
    com = np.full((size, size), -np.inf)  # com[h, e]: complete span headed by h, ending at e
    com_t = np.full((size, size), -np.inf)  # com_t[e, h] = com[h, e]
    p_inc = np.zeros((size, size), np.int64)
    p_com = np.zeros((size, size), np.int64)
    for k in range(size):
        com[k, k] = 0.0
        com_t[k, k] = 0.0
    for w in range(1, size):
        for i in range(size - w):
            j = i + w
            # I(i -> j) and I(j -> i) = max_{i <= r < j} C(i -> r) + C(j -> r + 1) + s(arc)
            best, arg = -np.inf, i
            for r in range(i, j):
                v = com[i, r] + com[j, r + 1]
                arg = r if v > best else arg
                best = max(best, v)
            inc[i, j] = best + s[j, i]
            p_inc[i, j] = arg
            if i > 0:  # the root is never a dependent
                inc[j, i] = best + s[i, j]
                p_inc[j, i] = arg
        for i in range(size - w):
            j = i + w
            # C(j -> i) = max_{i <= r < j} C(r -> i) + I(j -> r)
            best, arg = -np.inf, i
            for r in range(i, j):
                v = com_t[i, r] + inc[j, r]
                arg = r if v > best else arg
                best = max(best, v)
            com[j, i] = best
            com_t[i, j] = best
            p_com[j, i] = arg
            # C(i -> j) = max_{i < r <= j} I(i -> r) + C(r -> j)
            best, arg = -np.inf, j
            for r in range(i + 1, j + 1):
                v = inc[i, r] + com_t[j, r]
                arg = r if v > best else arg
                best = max(best, v)
            com[i, j] = best
            com_t[j, i] = best
            p_com[i, j] = arg
        if w < n:  # single root: a root-headed complete span must cover the sentence
            com[0, w] = -np.inf
            com_t[w, 0] = -np.inf
    # backtrack with an explicit stack of (i, j, complete)
    stack = np.empty((4 * size + 4, 3), np.int64)
    stack[0, 0], stack[0, 1], stack[0, 2] = 0, n, 1
    top = 1
    while top > 0:
        top -= 1
        i, j, complete = stack[top, 0], stack[top, 1], stack[top, 2]
        if i == j:
            continue
        if complete:
            r = p_com[i, j]
            stack[top, 0], stack[top, 1], stack[top, 2] = i, r, 0
            stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = r, j, 1
        else:
            r = p_inc[i, j]
            heads[j] = i
            stack[top, 0], stack[top, 1], stack[top, 2] = min(i, j), r, 1
            stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = max(i, j), r + 1, 1
        top += 2
    heads[0] = 0


@numba.njit(cache=True, parallel=True)
def _eisner_batch(scores, lengths, heads):
    for b in numba.prange(scores.shape[0]):
        _eisner_one(scores[b], lengths[b], heads[b])


@numba.njit(cache=True)
def _eisner_serial(scores, lengths, heads):
    for b in range(scores.shape[0]):
        _eisner_one(scores[b], lengths[b], heads[b])


@numba.njit(cache=True, nogil=True)
def _best_head(score, active, d, nodes):
    """Best active head of d; the root only if no finite non-root head is left."""
    best = 0
    for h in range(1, nodes):
        if active[h] and score[d, h] > -np.inf and (best == 0 or score[d, h] > score[d, best]):
            best = h
    return best


@numba.njit(cache=True, nogil=True)
def _mst_one(s, n, heads):
    """Chu-Liu/Edmonds single-root arborescence over words 1..n of ``s`` into ``heads``."""
    size = n + 1
    cap = 2 * size  # every contraction adds one node and removes at least two
    score = np.full((cap, cap), -np.inf)  # score[d, h] on the current (contracted) graph
    for d in range(1, size):
        for h in range(size):
            if h != d:
                score[d, h] = s[d, h]
    enter = np.empty((cap, cap), np.int64)  # enter[c, h]: cycle node that arc h -> c enters
    leave = np.empty((cap, cap), np.int64)  # leave[d, c]: cycle node that arc c -> d leaves
    active = np.zeros(cap, np.bool_)
    active[:size] = True
    head = np.zeros(cap, np.int64)
    for d in range(1, size):
        head[d] = _best_head(score, active, d, size)
    mark = np.empty(cap, np.int64)
    members = np.empty(size, np.int64)
    nodes = size
    while True:
        # find a cycle: follow heads from each node, stamping the walk with its start
        mark[:] = -1
        cycle = -1
        for v in range(1, nodes):
            if active[v] and mark[v] < 0:
                u = v
                while u != 0 and mark[u] < 0:
                    mark[u] = v
                    u = head[u]
                if u != 0 and mark[u] == v:
                    cycle = u
                    break
        if cycle < 0:
            break
        # contract the cycle into node c
        c = nodes
        nodes += 1
        k = 0
        u = cycle
        while True:
            members[k] = u
            k += 1
            active[u] = False
            u = head[u]
            if u == cycle:
                break
        for x in range(c):
            if not active[x]:
                continue
            best, arg = -np.inf, members[0]
            for m in range(k):  # arc x -> c: x replaces the cycle arc into v
                v = members[m]
                if score[v, x] > -np.inf:
                    gain = score[v, x] - score[v, head[v]]
                    if gain > best:
                        best, arg = gain, v
            score[c, x] = best
            enter[c, x] = arg
            if x == 0:
                continue
            best, arg = -np.inf, members[0]
            for m in range(k):  # arc c -> x: best cycle node to head x
                v = members[m]
                if score[x, v] > best:
                    best, arg = score[x, v], v
            score[x, c] = best
            leave[x, c] = arg
        active[c] = True
        # greedy heads stay greedy: an arc into the cycle becomes the arc into c (same score,
        # still the best), and c takes its own best head
        for d in range(1, c):
            if active[d] and not active[head[d]]:
                head[d] = c
        head[c] = _best_head(score, active, c, nodes)
    # expand contractions, newest first
    for c in range(nodes - 1, size - 1, -1):
        for d in range(1, nodes):
            if active[d] and head[d] == c:
                head[d] = leave[d, c]
        v = enter[c, head[c]]
        u = v
        while True:  # reactivate the cycle, then break it at v
            active[u] = True
            u = head[u]
            if u == v:
                break
        head[v] = head[c]
        active[c] = False
    heads[0] = 0
    for d in range(1, size):
        heads[d] = head[d]


@numba.njit(cache=True, parallel=True)
def _mst_batch(scores, lengths, heads):
    for b in numba.prange(scores.shape[0]):
        _mst_one(scores[b], lengths[b], heads[b])


@numba.njit(cache=True)
def _mst_serial(scores, lengths, heads):
    for b in range(scores.shape[0]):
        _mst_one(scores[b], lengths[b], heads[b])


def _tree_inputs(scores, lengths):
    scores = float_array(scores, "scores", 3, np.float32)
    batch, rows, cols = scores.shape
    if rows != cols or rows < 1:
        raise DecoderInputError(f"scores must have shape [B, N+1, N+1], got {scores.shape}.")
    lengths = length_array(lengths, batch, rows - 1)
    return scores, lengths, np.full((batch, rows), -1, np.int64)


def eisner(scores, lengths):
    """Best projective single-root tree per sentence; see the module docstring."""
    scores, lengths, heads = _tree_inputs(scores, lengths)
    pick(_eisner_batch, _eisner_serial)(scores, lengths, heads)
    return heads


def mst(scores, lengths):
    """Best non-projective single-root tree per sentence (Chu-Liu/Edmonds)."""
    scores, lengths, heads = _tree_inputs(scores, lengths)
    pick(_mst_batch, _mst_serial)(scores, lengths, heads)
    return heads
