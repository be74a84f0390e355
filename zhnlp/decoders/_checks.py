"""Input checks shared by the decoder wrappers: coerce to contiguous numpy, validate shapes."""

import numpy as np

from zhnlp.errors import ZhnlpError


class DecoderInputError(ZhnlpError, ValueError):
    """A decoder was given arrays of the wrong shape, dtype or range."""


def float_array(x, name, ndim, dtype=None):
    """``x`` as a C-contiguous ``dtype`` array; by default float32 or float64 stay as they are
    and other dtypes become float32."""
    if hasattr(x, "detach"):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if dtype is None and x.dtype not in (np.float32, np.float64):
        dtype = np.float32
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)
    if x.ndim != ndim:
        raise DecoderInputError(f"{name} must have {ndim} dimensions, got shape {x.shape}.")
    return np.ascontiguousarray(x)


def length_array(lengths, batch, maximum, name="lengths"):
    """``lengths`` as an int64 vector of size ``batch`` with 0 <= value <= ``maximum``."""
    if hasattr(lengths, "detach"):
        lengths = lengths.detach().cpu().numpy()
    lengths = np.ascontiguousarray(np.asarray(lengths), dtype=np.int64).reshape(-1)
    if lengths.shape[0] != batch:
        raise DecoderInputError(f"{name} must have {batch} entries, got {lengths.shape[0]}.")
    if batch and (lengths.min() < 0 or lengths.max() > maximum):
        raise DecoderInputError(f"{name} must lie in [0, {maximum}], got {lengths.tolist()}.")
    return lengths
