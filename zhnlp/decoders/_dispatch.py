"""Pick the parallel or the serial batch kernel.

numba's parallel kernels run on its threading layer; here that is GNU OpenMP, which is not
fork-safe: a child forked after the parent launched parallel kernels is killed on its first
parallel launch ("fork() called from a process already using GNU OpenMP"). Forked children
(multiprocessing, DataLoader workers, pre-forking servers) therefore use serial kernels,
which run the same per-sentence code in a plain loop.

A process can also ask for the serial kernels (`serial_kernels()`): the Pipeline does, because
torch runs its own OpenMP pool, and a second pool (numba's) in the same process either spins
and steals torch's cores or, told to wait passively, makes torch's pool sleep between
operations (a 1.5x slower encoder, measured). On a few cores, decoding is a small part of
the time, and serial loops give the same results.
"""

import os

_forked_after_threads = False
_serial_asked = False


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


def serial_kernels(serial: bool = True) -> None:
    """Use the serial batch kernels in this process from now on (or again the parallel ones)."""
    global _serial_asked
    _serial_asked = serial


def pick(parallel_kernel, serial_kernel):
    """``serial_kernel`` when asked for or in a child forked after numba started its threads,
    else parallel."""
    return serial_kernel if _serial_asked or _forked_after_threads else parallel_kernel
