"""Pick the parallel or the serial batch kernel.

Serial unless a process asks for the parallel ones (`parallel_kernels()`): zhnlp runs its
decoders beside torch, whose OpenMP pool does the heavy work, and a second pool (numba's) in
the same process either spins and steals torch's cores or, told to wait passively, makes
torch's pool sleep between operations (a 1.5x slower encoder, measured). Decoding is a
small part of the time, and the serial loops give the same results. Code that only decodes
(benchmarks/decoders.py) asks for the parallel kernels.

numba's parallel kernels run on its threading layer; here that is GNU OpenMP, which is not
fork-safe: a child forked after the parent launched parallel kernels is killed on its first
parallel launch ("fork() called from a process already using GNU OpenMP"). Forked children
(multiprocessing, DataLoader workers, pre-forking servers) therefore use serial kernels,
which run the same per-sentence code in a plain loop.
"""

import os

_forked_after_threads = False
_parallel_asked = False


def _threads_started():
    try:
        from numba.np.ufunc import parallel
    except ImportError:  # pragma: no cover - numba internals moved: assume the worst
        return True
    return bool(getattr(parallel, "_is_initialized", True))


def _after_fork_in_child():
    global _forked_after_threads
    if _threads_started():
        _forked_after_threads = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def parallel_kernels(parallel: bool = True) -> None:
    """Run the batch loops on numba's threads in this process from now on (or serially again)."""
    global _parallel_asked
    _parallel_asked = parallel


def pick(parallel_kernel, serial_kernel):
    """``parallel_kernel`` when asked for, except in a child forked after numba started its
    threads; else ``serial_kernel``."""
    return parallel_kernel if _parallel_asked and not _forked_after_threads else serial_kernel
