"""Argument checks shared by the image room (private)."""

import math
from numbers import Real

import numpy as np

_AXES = ("yx", "zyx")


def _check_image(image, axes: str) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"`image` must be a numpy ndarray (one in-memory cell or field); got "
            f"{type(image).__name__}; compute a dask array's crop first"
        )
    if axes not in _AXES:
        raise ValueError(f"`axes` must be one of {_AXES}; got {axes!r}")
    if image.ndim != len(axes):
        raise ValueError(f"`image` must have axes {axes!r} ({len(axes)}D); got shape {image.shape}")
    if image.dtype.kind not in "uif":
        raise ValueError(f"`image` must hold real numbers; got dtype {image.dtype}")
    return image


def _scales(name: str, value, axes: str) -> np.ndarray:
    if not isinstance(value, dict):
        raise TypeError(f"`{name}` must be a dict axis -> µm (e.g. {{'y': 0.1, 'x': 0.1}}); got {value!r}")
    missing = [a for a in axes if a not in value]
    if missing:
        raise ValueError(f"`{name}` lacks axes {missing}; got keys {sorted(value)}")
    out = np.array([float(value[a]) for a in axes])
    if not np.all(np.isfinite(out) & (out > 0)):
        raise ValueError(f"`{name}` values must be finite and > 0 µm; got {value}")
    return out


def _check_mask(mask, name: str = "cell_mask") -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"`{name}` must be a numpy ndarray of bool; got {type(mask).__name__}")
    if mask.dtype != bool:
        if mask.dtype.kind not in "iu" or not np.isin(np.unique(mask), (0, 1)).all():
            raise ValueError(
                f"`{name}` must be a bool mask (or 0/1 integers); got dtype {mask.dtype} with "
                "other values; select one label first (labels == label)"
            )
        mask = mask.astype(bool)
    if not mask.any():
        raise ValueError(f"`{name}` is empty (no True pixel); cannot locate the cell")
    return mask


def _check_pixel_size(value, name: str) -> float:
    """`value` as a float µm > 0; TypeError if it is not a real number, ValueError if <= 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number (µm); got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be finite and > 0 µm; got {value}")
    return value
