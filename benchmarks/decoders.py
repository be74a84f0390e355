"""Benchmark zhnlp.decoders against pytorch-crf, LTP's Rust Eisner and the plain-Python twins.

    python benchmarks/decoders.py            # about a minute on 2 busy cores
    python benchmarks/decoders.py --rounds 5 --skip-cold

Every contender gets the same arrays. Timings are interleaved round-robin (one call of each
contender per round) so that load from other processes hits all of them alike; the table
shows the best and the median round and two speed-ups: best over best, and the median over
rounds of the ratio within a round. Twins are timed on a slice of the batch and scaled
linearly (said in the row). Prints a markdown report on stdout.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zhnlp.decoders import eisner, mst, parallel_kernels, srl_roles, viterbi  # noqa: E402
from zhnlp.decoders import reference as ref  # noqa: E402

LOAD = " ".join(f"{x:.2f}" for x in os.getloadavg())


def race(contenders, rounds):
    """contenders: {name: (fn, scale)} -> {name: [ms per round]}, each scaled."""
    for fn, _ in contenders.values():
        fn()  # warm-up (JIT cache load, allocator)
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (fn, scale) in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3 * scale)
    return times


def table(title, times, baseline, notes=()):
    lines = [f"### {title}", "",
             f"| contender | best ms | median ms | speed-up vs {baseline}: best/best | "
             "median of per-round ratios |", "|---|---:|---:|---:|---:|"]
    base = np.array(times[baseline])
    for name, t in times.items():
        t = np.array(t)
        lines.append(f"| {name} | {t.min():.2f} | {np.median(t):.2f} | "
                     f"{base.min() / t.min():.3g}x | {np.median(base / t):.3g}x |")
    ours = next(name for name in times if "zhnlp" in name and "1 thread" in name)
    twin = next(name for name in times if "twin" in name)
    notes = [f"zhnlp (numba, 1 thread) vs its plain-Python twin: "
             f"{min(times[twin]) / min(times[ours]):.0f}x faster (best/best)", *notes]
    return "\n".join(lines + [""] + [f"- {n}" for n in notes] + [""])


def with_threads(n, fn):
    def run():
        numba.set_num_threads(n)
        torch.set_num_threads(n)
        return fn()
    return run


def bench_viterbi(rounds, threads):
    from torchcrf import CRF

    batch, length, labels = 256, 50, 20
    rng = np.random.default_rng(0)
    em = rng.standard_normal((batch, length, labels)).astype(np.float32)
    lengths = np.full(batch, length)
    crf = CRF(labels, batch_first=True)
    trans, start, end = (p.detach().numpy() for p in
                         (crf.transitions, crf.start_transitions, crf.end_transitions))
    em_t, mask = torch.from_numpy(em), torch.ones(batch, length, dtype=torch.bool)

    def torch_decode():
        with torch.no_grad():
            return crf.decode(em_t, mask)

    def ours():
        return viterbi(em, trans, lengths, start, end)

    twin_batch = 8
    contenders = {
        "pytorch-crf decode, 1 torch thread": (with_threads(1, torch_decode), 1),
        f"pytorch-crf decode, {threads} torch threads": (with_threads(threads, torch_decode), 1),
        "zhnlp viterbi, numba 1 thread": (with_threads(1, ours), 1),
        f"zhnlp viterbi, numba {threads} threads": (with_threads(threads, ours), 1),
        f"plain-Python twin (batch {twin_batch}, x{batch // twin_batch})": (
            lambda: ref.viterbi_ref(em[:twin_batch], trans, lengths[:twin_batch], start, end),
            batch // twin_batch),
    }
    results = race(contenders, rounds)
    same = np.array_equal(np.array(torch_decode()), ours())
    return table(
        f"Viterbi: B={batch}, T={length}, L={labels}, float32, all sentences full length",
        results, "pytorch-crf decode, 1 torch thread",
        [f"zhnlp paths identical to pytorch-crf decode: {same}",
         "both include their own input handling; pytorch-crf returns lists, zhnlp an int64 "
         "array"])


def bench_eisner(rounds, threads):
    from ltp_extension.algorithms import eisner as rust_eisner

    batch, n = 1000, 40
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((batch, n + 1, n + 1)).astype(np.float32)
    lengths = np.full(batch, n)
    flat = scores.reshape(-1).tolist()
    rust_lengths = (lengths + 1).tolist()  # LTP's Rust counts the root in the length

    def ours():
        return eisner(scores, lengths)

    twin_batch = 10
    contenders = {
        "LTP Rust eisner, pre-built float list": (
            lambda: rust_eisner(flat, rust_lengths, False), 1),
        "LTP Rust eisner as LTP calls it (incl. .tolist())": (
            lambda: rust_eisner(scores.reshape(-1).tolist(), rust_lengths, False), 1),
        "LTP Rust eisner, 1-D numpy argument": (
            lambda: rust_eisner(scores.reshape(-1), rust_lengths, False), 1),
        "zhnlp eisner, numba 1 thread": (with_threads(1, ours), 1),
        f"zhnlp eisner, numba {threads} threads": (with_threads(threads, ours), 1),
        f"plain-Python twin (batch {twin_batch}, x{batch // twin_batch})": (
            lambda: ref.eisner_ref(scores[:twin_batch], lengths[:twin_batch]),
            batch // twin_batch),
    }
    results = race(contenders, rounds)
    rust = rust_eisner(flat, rust_lengths, False)
    same = np.mean([a[1:].tolist() == b[1:] for a, b in zip(ours(), rust)])
    return table(
        f"Eisner: B={batch}, n={n} words (+ root), float32 scores[b, d, h]", results,
        "LTP Rust eisner, pre-built float list",
        [f"sentences with identical heads, zhnlp vs Rust: {same:.1%}",
         "equal work: both decode all sentences with the single-root constraint from the same "
         "flat float32 [B, n+1, n+1] buffer (Rust: `eisner(scores, lengths + 1, "
         "remove_root=False)`, the call in ltp_core); LTP's Rust is single-threaded and returns "
         "a list of lists, zhnlp returns an int64 [B, n+1] array",
         "the pre-built-list row excludes the `.tolist()` conversion LTP does before each call "
         "(most favourable to Rust); the next row includes it"])


def bench_other(rounds, threads):
    rng = np.random.default_rng(1)
    batch, n = 1000, 40
    scores = rng.standard_normal((batch, n + 1, n + 1)).astype(np.float32)
    lengths = np.full(batch, n)
    roles = rng.standard_normal((batch, n, 30)).astype(np.float32)
    core = list(range(1, 7))
    twin_batch = 10
    out = []
    for title, ours, twin in [
        (f"Chu-Liu/Edmonds (mst): B={batch}, n={n}", lambda: mst(scores, lengths),
         lambda: ref.mst_ref(scores[:twin_batch], lengths[:twin_batch])),
        (f"SRL roles: P={batch} predicates, n={n} words, 30 roles, 6 core",
         lambda: srl_roles(roles, lengths, core),
         lambda: ref.srl_roles_ref(roles[:twin_batch], lengths[:twin_batch], core)),
    ]:
        results = race({
            "zhnlp, numba 1 thread": (with_threads(1, ours), 1),
            f"zhnlp, numba {threads} threads": (with_threads(threads, ours), 1),
            f"plain-Python twin (batch {twin_batch}, x{batch // twin_batch})": (
                twin, batch // twin_batch),
        }, max(3, rounds // 3))
        out.append(table(title, results, "zhnlp, numba 1 thread"))
    return "\n".join(out)


COLD = r"""
import json, os, sys, time
if os.environ.get("PREIMPORT_SCIPY"):
    import scipy.linalg  # numba imports it on first dispatch to look for BLAS
t0 = time.perf_counter()
import numba, numpy as np
t1 = time.perf_counter()
from zhnlp.decoders import eisner, mst, srl_roles, viterbi
t2 = time.perf_counter()
eisner(np.random.rand(2, 11, 11).astype(np.float32), [10, 7])
t3 = time.perf_counter()
viterbi(np.random.rand(2, 10, 5).astype(np.float32), np.random.rand(5, 5).astype(np.float32),
        [10, 7])
t4 = time.perf_counter()
mst(np.random.rand(2, 11, 11).astype(np.float32), [10, 7])
srl_roles(np.random.rand(2, 10, 8).astype(np.float32), [10, 7], [1, 2, 3])
t5 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]))
"""


def bench_cold():
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        for label in ("empty cache (compiles)", "warm cache, run 1", "warm cache, run 2",
                      "warm cache, scipy.linalg already imported"):
            if "scipy" in label:
                env["PREIMPORT_SCIPY"] = "1"
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", COLD], env=env, check=True,
                                 capture_output=True, text=True).stdout
            total = time.perf_counter() - start
            rows.append((label, json.loads(out), total))
    lines = ["### Cold process: import + first call (fresh `python` subprocess)", "",
             "| NUMBA_CACHE_DIR | import numpy+numba s | import zhnlp.decoders s | first "
             "eisner s | first viterbi s | first mst+srl_roles s | whole process s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, t, total in rows:
        lines.append(f"| {label} | " + " | ".join(f"{x:.3f}" for x in t) + f" | {total:.2f} |")
    return "\n".join(lines + [""])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    parallel_kernels()  # decoding alone: the batch loops on numba's threads
    threads = numba.config.NUMBA_NUM_THREADS
    sections = [bench_viterbi(args.rounds, threads), bench_eisner(args.rounds, threads),
                bench_other(args.rounds, threads)]
    if not args.skip_cold:
        sections.append(bench_cold())
    print(f"numba {numba.__version__} (threading layer {numba.threading_layer()}, "
          f"{threads} threads max), torch {torch.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, {args.rounds} rounds; load average before: {LOAD}\n")
    print("\n".join(sections))

if __name__ == "__main__":
    main()
