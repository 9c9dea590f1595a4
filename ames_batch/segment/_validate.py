"""Argument checks shared by the segmentation functions (private)."""

import math
from numbers import Real

import numpy as np


def _check_image_2d(image: object, name: str) -> np.ndarray:
    """Return `image` if it is a finite, real-valued 2D ndarray; raise otherwise."""
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"`{name}` must be a numpy.ndarray of shape (Y, X); got {type(image).__name__} "
            "(pass np.asarray(...) of a computed array)"
        )
    if image.dtype == bool or not (
        np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)
    ):
        raise TypeError(
            f"`{name}` must hold integer or floating intensities; got dtype {image.dtype}"
        )
    if image.ndim != 2:
        raise ValueError(
            f"`{name}` must be 2D with axes (Y, X); got shape {image.shape} "
            "(project a (Z, Y, X) stack with a maximum projection first)"
        )
    if image.size == 0:
        raise ValueError(f"`{name}` must not be empty; got shape {image.shape}")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        n_bad = int(image.size - np.count_nonzero(np.isfinite(image)))
        raise ValueError(f"`{name}` must be finite; got {n_bad} NaN or infinite pixel(s)")
    return image


def _check_labels_2d(labels: object, name: str) -> np.ndarray:
    """Return `labels` if it is a 2D array of non-negative integers; raise otherwise."""
    if not isinstance(labels, np.ndarray):
        raise TypeError(
            f"`{name}` must be a numpy.ndarray of integer labels; got {type(labels).__name__}"
        )
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"`{name}` must hold integer labels; got dtype {labels.dtype}")
    if labels.ndim != 2:
        raise ValueError(f"`{name}` must be 2D with axes (Y, X); got shape {labels.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"`{name}` must hold labels >= 0 (0 = background); got min {labels.min()}")
    return labels


def _check_positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    """Return `value` as float if it is a finite real number > 0 (or >= 0)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number; got {type(value).__name__}")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be finite and {bound}; got {value}")
    return value


def _check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ValueError unless `a` and `b` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"`{name_a}` must match `{name_b}` shape {b.shape}; got {a.shape}")
