"""Pick the parallel or the serial batch kernel.

numba's parallel kernels run on its threading layer; here that is GNU OpenMP, which is not
fork-safe: a child forked after the parent launched parallel kernels is killed on its first
parallel launch ("fork() called from a process already using GNU OpenMP"). Forked children
(multiprocessing, DataLoader workers, pre-forking servers) therefore use serial kernels,
which run the same per-sentence code in a plain loop.
"""

import os

_forked_after_threads = False


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


def pick(parallel_kernel, serial_kernel):
    """``serial_kernel`` in a child forked after numba started its threads, else parallel."""
    return serial_kernel if _forked_after_threads else parallel_kernel
