"""Intensity normalisation by robust percentiles (a named step, recorded in the model card)."""

import math

import numpy as np

__all__ = ["normalize_percentile"]


def normalize_percentile(
    image: np.ndarray,
    *,
    low: float = 1.0,
    high: float = 99.8,
    mask: np.ndarray | None = None,
    clip: bool = True,
) -> np.ndarray:
    """Map the `low` / `high` percentiles (inside `mask`) to 0 / 1 (eager, one cell crop).

    Parameters
    ----------
    image : ndarray
        Numpy image of any shape; value range arbitrary.
    low, high : float
        Percentiles in [0, 100], ``low < high``.
    mask : ndarray of bool, optional
        Same shape as `image`; percentiles are taken over True pixels only (for example the
        cell), so a dark background or a bright neighbour does not set the scale. All pixels
        when None or when the mask is empty.
    clip : bool
        Clip the result to [0, 1].

    Returns
    -------
    out : ndarray of float32
        ``(image - p_low) / (p_high - p_low)``; all zeros when ``p_high == p_low`` (a flat image
        carries no structure to scale).

    Raises
    ------
    TypeError
        If `image` is not a numpy array.
    ValueError
        If the percentiles are out of range or unordered, or `mask` has another shape or is
        not boolean.

    Examples
    --------
    >>> out = normalize_percentile(np.arange(101.0), low=0, high=100)
    >>> float(out[50])
    0.5
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"`image` must be a numpy ndarray; got {type(image).__name__}")
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high <= 100):
        raise ValueError(f"need 0 <= `low` < `high` <= 100; got low={low}, high={high}")
    data = image.astype(np.float32, copy=False)
    values = data
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype != bool:
            raise ValueError(f"`mask` must be a bool ndarray; got {getattr(mask, 'dtype', type(mask))}")
        if mask.shape != image.shape:
            raise ValueError(f"`mask` must match `image` shape {image.shape}; got {mask.shape}")
        if mask.any():
            values = data[mask]
    p_low, p_high = np.percentile(values, [low, high])
    if not p_high > p_low:
        return np.zeros(image.shape, np.float32)
    out = (data - np.float32(p_low)) / np.float32(p_high - p_low)
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)
