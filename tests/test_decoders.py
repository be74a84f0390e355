"""Decoders against brute force, their plain-Python twins and pytorch-crf.

Random instances come from a numpy generator seeded by hypothesis: continuous scores, so the
optimum is unique with probability 1 and structures can be compared exactly.
"""

import itertools
import os
from functools import cache

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchcrf import CRF

from zhnlp.decoders import (
    DecoderInputError,
    _dispatch,
    allowed_transitions,
    eisner,
    mst,
    parallel_kernels,
    srl_roles,
    viterbi,
)
from zhnlp.decoders import chain as chain_module
from zhnlp.decoders import reference as ref
from zhnlp.decoders import srl as srl_module
from zhnlp.decoders import tree as tree_module

FAST = settings(max_examples=60, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def rng_scores(seed, shape, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- brute force


def path_score(em, trans, start, end, path):
    s = start[path[0]] + em[0, path[0]] + end[path[-1]]
    return s + sum(trans[a, b] + em[t + 1, b] for t, (a, b) in enumerate(zip(path, path[1:])))


def brute_viterbi(em, trans, start, end, n, ok=lambda path: True):
    paths = [p for p in itertools.product(range(em.shape[1]), repeat=n) if ok(p)]
    return max(paths, key=lambda p: path_score(em, trans, start, end, p))


@cache
def all_trees(n, projective):
    """All single-root dependency trees over words 1..n as an int array [count, n]."""
    trees = []
    for heads in itertools.product(range(n + 1), repeat=n):
        heads = (0,) + heads
        if any(heads[d] == d for d in range(1, n + 1)) or heads[1:].count(0) != 1:
            continue
        if not all(reaches_root(heads, d) for d in range(1, n + 1)):
            continue
        if projective and not is_projective(heads):
            continue
        trees.append(heads[1:])
    return np.array(trees, np.int64).reshape(-1, n)


def reaches_root(heads, d):
    for _ in range(len(heads)):
        d = heads[d]
        if d == 0:
            return True
    return False


def is_projective(heads):
    for d in range(1, len(heads)):
        h = heads[d]
        for k in range(min(h, d) + 1, max(h, d)):
            u = k
            while u not in (0, h):
                u = heads[u]
            if u != h:
                return False
    return True


def brute_tree(s, n, projective):
    trees = all_trees(n, projective)
    totals = s[np.arange(1, n + 1), trees].sum(1)
    return np.concatenate([[0], trees[totals.argmax()]]), totals.max()


# ---------------------------------------------------------------- Viterbi


@FAST
@given(seed=seeds, n=st.integers(1, 5), labels=st.integers(1, 4))
def test_viterbi_equals_brute_force(seed, n, labels):
    rng = np.random.default_rng(seed)
    em = rng.standard_normal((1, n, labels))
    trans, start, end = (rng.standard_normal(s) for s in ((labels, labels), labels, labels))
    paths, scores = viterbi(em, trans, [n], start, end, return_scores=True)
    best = brute_viterbi(em[0], trans, start, end, n)
    assert paths[0].tolist() == list(best)
    assert scores[0] == pytest.approx(path_score(em[0], trans, start, end, best))


@FAST
@given(seed=seeds, scheme=st.sampled_from(["BIO", "BIOES", "BMES"]), n=st.integers(1, 5))
def test_constrained_viterbi_equals_brute_force(seed, scheme, n):
    labels = {
        "BIO": ["O", "B-X", "I-X", "B-Y", "I-Y"],
        "BIOES": ["O", "B-X", "I-X", "E-X", "S-X"],
        "BMES": ["B", "M", "E", "S"],
    }[scheme]
    cons = allowed_transitions(labels, scheme)
    rng = np.random.default_rng(seed)
    size = len(labels)
    em = rng.standard_normal((1, n, size)) * 3
    trans = rng.standard_normal((size, size))

    def ok(p):
        inner = all(cons.transitions[a, b] for a, b in zip(p, p[1:]))
        return bool(cons.start[p[0]] and cons.end[p[-1]] and inner)

    zeros = np.zeros(size)
    best = brute_viterbi(em[0], trans, zeros, zeros, n, ok)
    assert viterbi(em, trans, [n], allowed=cons)[0].tolist() == list(best)


@FAST
@given(seed=seeds, batch=st.integers(1, 6), max_len=st.integers(1, 12), labels=st.integers(1, 7))
def test_viterbi_matches_twin(seed, batch, max_len, labels):
    rng = np.random.default_rng(seed)
    em = rng.standard_normal((batch, max_len, labels))
    trans, start, end = (rng.standard_normal(s) for s in ((labels, labels), labels, labels))
    lengths = rng.integers(0, max_len + 1, batch)
    allowed = rng.random((labels, labels)) < 0.7
    for mask in (None, allowed):
        got = viterbi(em, trans, lengths, start, end, allowed=mask)
        np.testing.assert_array_equal(got, ref.viterbi_ref(em, trans, lengths, start, end, mask))


@FAST
@given(seed=seeds, batch=st.integers(1, 8), max_len=st.integers(1, 20), labels=st.integers(1, 12),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_viterbi_matches_pytorch_crf(seed, batch, max_len, labels, dtype):
    rng = np.random.default_rng(seed)
    em = rng.standard_normal((batch, max_len, labels)).astype(dtype)
    lengths = rng.integers(1, max_len + 1, batch)
    lengths[0] = max_len
    crf = CRF(labels, batch_first=True).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for p in (crf.transitions, crf.start_transitions, crf.end_transitions):
            p.copy_(torch.from_numpy(rng.standard_normal(p.shape).astype(dtype)))
    mask = torch.arange(max_len)[None, :] < torch.from_numpy(lengths)[:, None]
    expected = crf.decode(torch.from_numpy(em), mask)
    got = viterbi(em, crf.transitions.detach().numpy(), lengths,
                  crf.start_transitions.detach().numpy(), crf.end_transitions.detach().numpy())
    assert [row[:n].tolist() for row, n in zip(got, lengths)] == expected
    assert (got[np.arange(max_len)[None, :] >= lengths[:, None]] == -1).all()


def test_viterbi_several_lane_blocks():
    """Batches spanning several SIMD blocks, ragged and empty sentences included."""
    rng = np.random.default_rng(3)
    batch, max_len, labels = 2 * chain_module.LANES + 7, 30, 9
    em = rng.standard_normal((batch, max_len, labels)).astype(np.float32)
    trans, start, end = (rng.standard_normal(s).astype(np.float32)
                         for s in ((labels, labels), labels, labels))
    lengths = rng.integers(0, max_len + 1, batch)
    lengths[:3] = [0, 1, max_len]
    got = viterbi(em, trans, lengths, start, end)
    np.testing.assert_array_equal(got, ref.viterbi_ref(em, trans, lengths, start, end))
    crf = CRF(labels, batch_first=True)
    with torch.no_grad():
        for p, v in zip((crf.transitions, crf.start_transitions, crf.end_transitions),
                        (trans, start, end)):
            p.copy_(torch.from_numpy(v))
    keep = lengths > 0
    mask = torch.arange(max_len)[None, :] < torch.from_numpy(lengths[keep])[:, None]
    expected = crf.decode(torch.from_numpy(em[keep]), mask)
    assert [row[:n].tolist() for row, n in zip(got[keep], lengths[keep])] == expected


def well_formed(tags, scheme):
    prev = ("O", "")
    for tag in tags + ["O"]:
        t, typ = tag[0], tag[2:]
        inside = prev[0] in ("BI" if scheme == "BIOES" else "BM")
        cont = t in ("IE" if scheme == "BIOES" else "ME")
        if scheme == "BIO":
            if t == "I" and not (prev[0] in "BI" and prev[1] == typ):
                return False
        elif inside != cont or (cont and typ != prev[1]):
            return False
        prev = (t, typ)
    return True


@pytest.mark.parametrize("scheme", ["BIO", "BIOES", "BMES"])
def test_allowed_transitions_give_well_formed_paths(scheme):
    tags = {"BIO": "BI", "BIOES": "BIES", "BMES": "BMES"}[scheme]
    labels = ["O"] + [f"{t}-{typ}" for typ in ("PER", "LOC", "ORG") for t in tags]
    cons = allowed_transitions(labels, scheme)
    rng = np.random.default_rng(0)
    em = rng.standard_normal((64, 15, len(labels))) * 5
    lengths = rng.integers(1, 16, 64)
    paths = viterbi(em, rng.standard_normal((len(labels),) * 2), lengths, allowed=cons)
    for row, n in zip(paths, lengths):
        assert well_formed([labels[i] for i in row[:n]], scheme)


def test_allowed_transitions_rules():
    cons = allowed_transitions(["O", "B-PER", "I-PER", "I-LOC"], "bio")
    assert cons.transitions.tolist() == [
        [True, True, False, False],
        [True, True, True, False],
        [True, True, True, False],
        [True, True, False, True],
    ]
    assert cons.start.tolist() == [True, True, False, False]
    bmes = allowed_transitions(["B", "M", "E", "S"], "BMES")
    assert bmes.transitions.astype(int).tolist() == [[0, 1, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1],
                                                     [1, 0, 0, 1]]
    assert bmes.start.tolist() == [True, False, False, True]
    assert bmes.end.tolist() == [False, False, True, True]
    with pytest.raises(DecoderInputError):
        allowed_transitions(["O", "X-PER"], "BIO")
    with pytest.raises(DecoderInputError):
        allowed_transitions(["O"], "BILOU")


# ---------------------------------------------------------------- trees


@FAST
@given(seed=seeds, n=st.integers(1, 6))
def test_eisner_equals_brute_force(seed, n):
    s = rng_scores(seed, (1, n + 1, n + 1))
    expected, total = brute_tree(s[0], n, projective=True)
    heads = eisner(s, [n])
    assert heads[0].tolist() == expected.tolist()


@FAST
@given(seed=seeds, n=st.integers(1, 6))
def test_mst_equals_brute_force(seed, n):
    s = rng_scores(seed, (1, n + 1, n + 1))
    expected, total = brute_tree(s[0], n, projective=False)
    heads = mst(s, [n])
    assert heads[0].tolist() == expected.tolist()


@FAST
@given(seed=seeds, n=st.integers(2, 6))
def test_mst_with_root_favoured_and_forbidden_arcs(seed, n):
    """Root arcs scoring far above the rest, and -inf arcs, still give the best tree."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((1, n + 1, n + 1)).astype(np.float32)
    s[0, :, 0] += 5.0
    keep = s[0, np.arange(1, n + 1), np.arange(n)]  # the chain 0 -> 1 -> ... -> n
    s[0][rng.random((n + 1, n + 1)) < 0.4] = -np.inf
    s[0, np.arange(1, n + 1), np.arange(n)] = keep  # so that some tree stays finite
    expected, total = brute_tree(s[0], n, projective=False)
    heads = mst(s, [n])[0]
    assert s[0, np.arange(1, n + 1), heads[1:]].sum() == pytest.approx(total)
    assert (heads[1:] == 0).sum() == 1


@FAST
@given(seed=seeds, batch=st.integers(1, 5), max_n=st.integers(0, 12))
def test_trees_match_twins(seed, batch, max_n):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((batch, max_n + 1, max_n + 1)).astype(np.float32)
    lengths = rng.integers(0, max_n + 1, batch)
    for fast, twin in ((eisner, ref.eisner_ref), (mst, ref.mst_ref)):
        heads = fast(s, lengths)
        np.testing.assert_array_equal(heads, twin(s, lengths))
        assert (heads[:, 0] == 0).all()
        for row, n in zip(heads, lengths):
            assert (row[n + 1:] == -1).all()


def test_eisner_matches_ltp_rust():
    ltp = pytest.importorskip("ltp_extension.algorithms")
    rng = np.random.default_rng(7)
    n, batch = 12, 50
    s = rng.standard_normal((batch, n + 1, n + 1)).astype(np.float32)
    lengths = rng.integers(1, n + 1, batch)
    lengths[0] = n
    expected = ltp.eisner(s.reshape(-1).tolist(), (lengths + 1).tolist(), True)
    got = eisner(s, lengths)
    assert [row[1:k + 1].tolist() for row, k in zip(got, lengths)] == expected


def test_tree_input_checks_and_torch_input():
    s = torch.randn(2, 4, 4)
    assert eisner(s, torch.tensor([3, 1])).shape == (2, 4)
    s64 = np.random.default_rng(0).standard_normal((3, 6, 6))  # read as float32
    for decode in (eisner, mst):
        np.testing.assert_array_equal(decode(s64, [5, 2, 4]),
                                      decode(s64.astype(np.float32), [5, 2, 4]))
    with pytest.raises(DecoderInputError):
        eisner(np.zeros((1, 3, 4), np.float32), [2])
    with pytest.raises(DecoderInputError):
        mst(np.zeros((1, 3, 3), np.float32), [3])
    with pytest.raises(DecoderInputError):
        viterbi(np.zeros((2, 3, 4), np.float32), np.zeros((4, 4)), [1])


# ---------------------------------------------------------------- SRL


@FAST
@given(seed=seeds, n=st.integers(1, 5), num_roles=st.integers(2, 5), data=st.data())
def test_srl_roles_equals_brute_force(seed, n, num_roles, data):
    core = data.draw(st.sets(st.integers(0, num_roles - 1), max_size=num_roles - 1))
    s = rng_scores(seed, (1, n, num_roles))
    best = max(
        (a for a in itertools.product(range(num_roles), repeat=n)
         if all(a.count(r) <= 1 for r in core)),
        key=lambda a: s[0, np.arange(n), list(a)].sum(),
    )
    assert srl_roles(s, [n], sorted(core))[0].tolist() == list(best)


@FAST
@given(seed=seeds, batch=st.integers(1, 5), max_len=st.integers(0, 10))
def test_srl_match_twins(seed, batch, max_len):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, max_len + 1, batch)
    s = rng.standard_normal((batch, max_len, 8)).astype(np.float32)
    core = [1, 2, 3, 4]
    np.testing.assert_array_equal(srl_roles(s, lengths, core),
                                  ref.srl_roles_ref(s, lengths, core))


def test_srl_roles_core_role_used_once():
    s = np.zeros((1, 4, 3))
    s[0, :, 1] = [5.0, 4.0, 3.0, 2.0]  # everyone wants core role 1
    s[0, :, 2] = 1.0  # non-core modifier
    roles, totals = srl_roles(s, [4], core_roles=[1], return_scores=True)
    assert roles[0].tolist() == [1, 2, 2, 2]
    assert totals[0] == pytest.approx(8.0)
    with pytest.raises(DecoderInputError):
        srl_roles(s, [4], core_roles=[0, 1, 2])


# ---------------------------------------------------------------- numba plumbing


PARALLEL = [chain_module._viterbi_batch, tree_module._eisner_batch, tree_module._mst_batch,
            srl_module._roles_batch]
SERIAL = [chain_module._viterbi_serial, tree_module._eisner_serial, tree_module._mst_serial,
          srl_module._roles_serial]


@pytest.fixture(autouse=True)
def with_parallel_kernels():
    """The public decoders on their parallel kernels here; serial again afterwards (the
    default, which the other tests' Pipelines use)."""
    parallel_kernels()
    yield
    parallel_kernels(False)


@pytest.mark.parametrize("kernel", PARALLEL + SERIAL)
def test_kernels_are_cached(kernel):
    assert bool(kernel.targetoptions.get("parallel")) == (kernel in PARALLEL)
    assert type(kernel._cache).__name__ != "NullCache"


def run_all(seed):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((5, 9, 9)).astype(np.float32)
    lengths = np.array([8, 3, 0, 8, 5])
    em = rng.standard_normal((5, 8, 6)).astype(np.float32)
    roles = rng.standard_normal((5, 8, 7)).astype(np.float32)
    return [eisner(s, lengths), mst(s, lengths),
            viterbi(em, rng.standard_normal((6, 6)), lengths),
            srl_roles(roles, lengths, [1, 3])]


def test_serial_and_parallel_kernels_decode_alike():
    expected = run_all(1)  # parallel
    parallel_kernels(False)
    assert _dispatch.pick(*PARALLEL[:1], *SERIAL[:1]) is SERIAL[0]
    for got, want in zip(run_all(1), expected):
        assert np.array_equal(got, want)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_after_parallel_use_decodes():
    """GNU OpenMP is not fork-safe; children of a parent that used it fall back to serial."""
    expected = run_all(0)  # the parent has now started numba's threads
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        ok = False
        try:
            ok = all(np.array_equal(a, b) for a, b in zip(run_all(0), expected))
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
