"""Structured decoders compiled with numba: Viterbi, Eisner, Chu-Liu/Edmonds, SRL.

All functions take numpy arrays (torch tensors are accepted and moved to CPU) and return
int64 numpy arrays; padding positions are -1. Layouts::

    viterbi(emissions [B, T, L], transitions [L, L], lengths [B], start=None [L], end=None [L],
            allowed=None)                           -> paths [B, T]   (zhnlp.decoders.chain)
    allowed_transitions(labels, "BIO" | "BIOES" | "BMES") -> Constraints(trans, start, end)
    eisner(scores [B, N+1, N+1], lengths [B])       -> heads [B, N+1] (zhnlp.decoders.tree)
    mst(scores [B, N+1, N+1], lengths [B])          -> heads [B, N+1]
    srl_roles(scores [P, N, R], lengths [P], core_roles) -> roles [P, N] (zhnlp.decoders.srl)
    argument_span(heads [N], argument, predicate) -> (start, end)  (zhnlp.decoders.spans;
        plain Python: an SRL argument's word span from the dependency tree)

``scores[b, d, h]`` is the score of head h for word d (0 = root, words 1..n, n = lengths[b]);
``heads[b, 0] == 0`` and ``heads[b, d] == -1`` for d > n. Each submodule's docstring gives
the exact semantics, constraints and tie-breaking.

Kernels are ``numba.njit(cache=True)``. The batch loops over sentences run serially, beside
torch's thread pool (``_dispatch``); ``parallel_kernels()`` runs them on numba's threads
(``prange``; ``numba.set_num_threads`` or ``NUMBA_NUM_THREADS`` limit them) for code that
only decodes, except in a process forked after those threads started (GNU OpenMP is not
fork-safe), which stays serial. Compiled code is
cached on disk (``__pycache__`` next to these files; numba falls back to a per-user cache
directory when that is read-only; ``NUMBA_CACHE_DIR`` overrides both), so only the first
process after an install or source change pays JIT compilation (tens of seconds for all
kernels); a warm process start pays about 0.3-0.6 s of numba initialisation on its first
call. ``warmup()`` pays the compilation ahead of time, e.g. at image build:
``python -c "import zhnlp.decoders as d; d.warmup()"``.
Plain-Python twins for tests live in ``zhnlp.decoders.reference``.
"""

import os
import sys
from pathlib import Path

import numpy as np

from zhnlp.decoders import chain, srl, tree
from zhnlp.decoders._checks import DecoderInputError
from zhnlp.decoders._dispatch import parallel_kernels
from zhnlp.decoders.chain import Constraints, allowed_transitions, viterbi
from zhnlp.decoders.spans import argument_span, children_of
from zhnlp.decoders.srl import CORE_ROLES, srl_roles
from zhnlp.decoders.tree import eisner, mst

__all__ = [
    "CORE_ROLES",
    "Constraints",
    "DecoderInputError",
    "KERNEL_FILES",
    "allowed_transitions",
    "argument_span",
    "children_of",
    "eisner",
    "mst",
    "parallel_kernels",
    "say_when_compiling",
    "srl_roles",
    "viterbi",
    "warmup",
]


def say_when_compiling(sources: list[str], what: str, seconds: str) -> None:
    """One line on stderr when the compiled kernels of a module file in `sources` are not
    cached yet (the first run after an install): that run pays numba's compilation, which
    would otherwise look like a hang."""
    for source in map(Path, sources):
        cache = Path(os.environ.get("NUMBA_CACHE_DIR") or source.parent / "__pycache__")
        if os.access(cache if cache.exists() else cache.parent, os.W_OK) and not any(
                cache.rglob(f"{source.stem}.*.nbi")):
            print(f"zhnlp: first run: compiling {what} (numba; {seconds}, once, cached "
                  "afterwards)", file=sys.stderr, flush=True)
            return


KERNEL_FILES = [chain.__file__, tree.__file__, srl.__file__]  # what a neural model decodes with


def warmup(viterbi_dtypes=(np.float32,)):
    """Compile (or load from the cache) every kernel this process uses; Viterbi for each given dtype
    (the tree and SRL kernels always read float32)."""
    eisner(np.zeros((1, 3, 3), np.float32), [2])
    mst(np.zeros((1, 3, 3), np.float32), [2])
    srl_roles(np.zeros((1, 2, 3), np.float32), [2], [1])
    for dtype in viterbi_dtypes:
        viterbi(np.zeros((1, 2, 3), dtype), np.zeros((3, 3), dtype), [2])
