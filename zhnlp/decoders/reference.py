"""Plain-Python twins of the numba decoders, for tests and benchmarks only.

Same inputs, outputs and tie-breaking as the public functions in ``zhnlp.decoders``, written
as straightforward loops over Python lists (floats are Python floats, i.e. float64; compare
against the numba kernels on float64 inputs when bit-identical scores matter). They are
deliberately written independently of the kernels (recursion, no transposed tables, a
recursive contraction for Chu-Liu/Edmonds) so that agreement is evidence, not tautology.
"""

import numpy as np

from zhnlp.decoders.chain import Constraints

NEG_INF = float("-inf")


def viterbi_ref(emissions, transitions, lengths, start=None, end=None, allowed=None):
    emissions = np.asarray(emissions, np.float64)
    batch, max_len, num_labels = emissions.shape
    trans = np.asarray(transitions, np.float64).tolist()
    start = [0.0] * num_labels if start is None else np.asarray(start, np.float64).tolist()
    end = [0.0] * num_labels if end is None else np.asarray(end, np.float64).tolist()
    if allowed is not None:
        masks = allowed if isinstance(allowed, Constraints) else (allowed, None, None)
        if masks[0] is not None:
            ok = np.asarray(masks[0], bool).tolist()
            trans = [[t if a else NEG_INF for t, a in zip(*rows)] for rows in zip(trans, ok)]
        if masks[1] is not None:
            start = [v if a else NEG_INF for v, a in zip(start, masks[1])]
        if masks[2] is not None:
            end = [v if a else NEG_INF for v, a in zip(end, masks[2])]
    paths = np.full((batch, max_len), -1, np.int64)
    for b, n in enumerate(np.asarray(lengths).tolist()):
        if n == 0:
            continue
        em = emissions[b, :n].tolist()
        score = [s + e for s, e in zip(start, em[0])]
        history = []
        for t in range(1, n):
            new, back = [], []
            for j in range(num_labels):
                cand = [score[i] + trans[i][j] + em[t][j] for i in range(num_labels)]
                best = max(range(num_labels), key=cand.__getitem__)  # first maximum
                new.append(cand[best])
                back.append(best)
            score = new
            history.append(back)
        score = [s + e for s, e in zip(score, end)]
        y = max(range(num_labels), key=score.__getitem__)
        path = [y]
        for back in reversed(history):
            y = back[y]
            path.append(y)
        paths[b, :n] = path[::-1]
    return paths


def _eisner_ref_one(s, n):
    size = n + 1
    s_i = [[NEG_INF] * size for _ in range(size)]
    s_c = [[NEG_INF] * size for _ in range(size)]
    p_i = [[0] * size for _ in range(size)]
    p_c = [[0] * size for _ in range(size)]
    for k in range(size):
        s_c[k][k] = 0.0

    def argmax(pairs):  # first (score, r) with the largest score
        best = max(v for v, _ in pairs)
        return next((v, r) for v, r in pairs if v == best)

    for w in range(1, size):
        for i in range(size - w):
            j = i + w
            v, r = argmax([(s_c[i][r] + s_c[j][r + 1], r) for r in range(i, j)])
            s_i[i][j], p_i[i][j] = v + s[j][i], r
            if i > 0:
                s_i[j][i], p_i[j][i] = v + s[i][j], r
            s_c[j][i], p_c[j][i] = argmax([(s_c[r][i] + s_i[j][r], r) for r in range(i, j)])
            s_c[i][j], p_c[i][j] = argmax(
                [(s_i[i][r] + s_c[r][j], r) for r in range(i + 1, j + 1)]
            )
        if w < n:
            s_c[0][w] = NEG_INF
    heads = [0] * size

    def backtrack(i, j, complete):
        if i == j:
            return
        if complete:
            r = p_c[i][j]
            backtrack(i, r, False)
            backtrack(r, j, True)
        else:
            r = p_i[i][j]
            heads[j] = i
            backtrack(min(i, j), r, True)
            backtrack(max(i, j), r + 1, True)

    backtrack(0, n, True)
    return heads


def _greedy_head(row, d):
    best = 0
    for h in range(1, len(row)):
        if h != d and row[h] > NEG_INF and (best == 0 or row[h] > row[best]):
            best = h
    return best


def _find_cycle(heads):
    for start in range(1, len(heads)):
        seen, u = [], start
        while u != 0 and u not in seen:
            seen.append(u)
            u = heads[u]
        if u != 0:
            return seen[seen.index(u):]
    return None


def _cle_ref(s):
    """Recursive Chu-Liu/Edmonds on s[d][h]; root arcs only as a last resort."""
    size = len(s)
    heads = [0] + [_greedy_head(s[d], d) for d in range(1, size)]
    cycle = _find_cycle(heads)
    if cycle is None:
        return heads
    others = [v for v in range(size) if v not in cycle]
    c = len(others)
    new = [[NEG_INF] * (c + 1) for _ in range(c + 1)]
    for a, d in enumerate(others):
        for b, h in enumerate(others):
            if d != 0 and h != d:
                new[a][b] = s[d][h]
    enter, leave = {}, {}
    for b, h in enumerate(others):
        gains = [(s[v][h] - s[v][heads[v]], v) for v in cycle if s[v][h] > NEG_INF]
        if gains:
            new[c][b], enter[h] = max(gains, key=lambda x: x[0])
    for a, d in enumerate(others):
        if d != 0:
            new[a][c], leave[d] = max(((s[d][v], v) for v in cycle), key=lambda x: x[0])
    sub = _cle_ref(new)
    result = [0] * size
    for a, d in enumerate(others):
        if d != 0:
            result[d] = others[sub[a]] if sub[a] < c else leave[d]
    for v in cycle:
        result[v] = heads[v]
    h = others[sub[c]]
    result[enter[h]] = h
    return result


def _tree_ref(decode, scores, lengths):
    scores = np.asarray(scores, np.float64)
    heads = np.full(scores.shape[:2], -1, np.int64)
    for b, n in enumerate(np.asarray(lengths).tolist()):
        heads[b, : n + 1] = decode(scores[b, : n + 1, : n + 1].tolist(), n)
    return heads


def eisner_ref(scores, lengths):
    return _tree_ref(_eisner_ref_one, scores, lengths)


def mst_ref(scores, lengths):
    return _tree_ref(lambda s, n: _cle_ref(s), scores, lengths)


def srl_roles_ref(scores, lengths, core_roles):
    scores = np.asarray(scores, np.float64)
    core = sorted(set(int(r) for r in core_roles))
    roles = np.full(scores.shape[:2], -1, np.int64)
    for p, n in enumerate(np.asarray(lengths).tolist()):
        rows = scores[p, :n].tolist()
        best = {(): (0.0, [])}  # used core roles (sorted tuple) -> (score, roles so far)
        for row in rows:
            free = max((r for r in range(len(row)) if r not in core), key=row.__getitem__)
            new = {}
            for used, (total, path) in best.items():
                options = [(used, row[free], free)] + [
                    (tuple(sorted(used + (r,))), row[r], r) for r in core if r not in used
                ]
                for key, value, role in options:
                    if key not in new or total + value > new[key][0]:
                        new[key] = (total + value, path + [role])
            best = new
        roles[p, :n] = max(best.values(), key=lambda x: x[0])[1]
    return roles
