"""Argument checks shared by the metrics room (one place, one wording)."""

import math
from numbers import Real

import numpy as np


def _check_ndim(arr, ndim: int, name: str) -> None:
    """Raise ValueError unless `arr` has exactly `ndim` axes."""
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must be {ndim}-D; got {arr.ndim}-D with shape {arr.shape}")


def _check_same_shape(arr, ref, name: str, ref_name: str) -> None:
    """Raise ValueError unless `arr` and `ref` have the same shape."""
    if arr.shape != ref.shape:
        raise ValueError(f"`{name}` must match `{ref_name}` shape {ref.shape}; got {arr.shape}")


def _check_positive(value, name: str) -> float:
    """Return `value` as float; raise TypeError/ValueError unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number; got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be finite and > 0; got {value}")
    return value


def _as_mip(mip, name: str = "mip") -> np.ndarray:
    """Return a 2-D float32 copy-free view of `mip`; reject non-arrays, NaN and Inf."""
    if not hasattr(mip, "shape") or not hasattr(mip, "dtype"):
        raise TypeError(f"`{name}` must be a numpy array; got {type(mip).__name__}")
    arr = np.asarray(mip)
    _check_ndim(arr, 2, name)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"`{name}` must have an integer or float dtype; got {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` holds NaN or Inf values; mask or fill them before measuring")
    return arr


def _as_mask(mask, ref: np.ndarray, name: str = "mask") -> np.ndarray:
    """Return `mask` as a bool array of `ref`'s shape; reject values other than 0/1 and empty masks."""
    if not hasattr(mask, "shape") or not hasattr(mask, "dtype"):
        raise TypeError(f"`{name}` must be a numpy array; got {type(mask).__name__}")
    arr = np.asarray(mask)
    _check_ndim(arr, 2, name)
    _check_same_shape(arr, ref, name, "mip")
    if arr.dtype != bool:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"`{name}` must be boolean; got dtype {arr.dtype}")
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"`{name}` must hold only 0/1 (a boolean mask); got other values, "
                             "threshold or select a label first")
        arr = arr.astype(bool)
    if not arr.any():
        raise ValueError(f"`{name}` is empty: no pixel is True")
    return arr


def _check_inputs(mip, mask, pixel_size_um) -> tuple[np.ndarray, np.ndarray, float]:
    """Validate the (mip, mask, pixel_size_um) triple every public metric takes."""
    arr = _as_mip(mip)
    m = _as_mask(mask, arr)
    px = _check_positive(pixel_size_um, "pixel_size_um")
    return arr, m, px
