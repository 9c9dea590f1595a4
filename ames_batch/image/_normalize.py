"""Intensity normalisation by robust percentiles (a named step, recorded in the model card)."""

import math

import numpy as np

__all__ = ["normalize_percentile", "percentile"]


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


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) of all elements, counted for 8- and
    16-bit integers.

    Parameters
    ----------
    values : ndarray
        Any shape, not empty.
    q : float
        Percentile in [0, 100].

    Returns
    -------
    float
        Equal to ``np.percentile`` up to the rounding of its interpolation weight.

    Notes
    -----
    A histogram of at most 65536 bins gives the two order statistics around the percentile in
    one pass, without np.percentile's partition of a copy: a 3D demo cell's background, 2.2 M
    uint16 values, in 6 ms instead of 27.

    Examples
    --------
    >>> percentile(np.arange(11, dtype=np.uint16), 25), float(np.percentile(np.arange(11), 25))
    (2.5, 2.5)
    """
    values = np.asarray(values)
    if values.size == 0:
        raise ValueError("`values` is empty")
    if not 0 <= q <= 100:
        raise ValueError(f"`q` must be in [0, 100]; got {q}")
    if values.dtype not in (np.uint8, np.uint16):
        return float(np.percentile(values, q))
    position = (values.size - 1) * q / 100.0
    below = math.floor(position)
    rank = np.cumsum(np.bincount(values.ravel()))
    lo, hi = np.searchsorted(rank, [below, min(below + 1, values.size - 1)], side="right")
    return float(lo + (position - below) * (float(hi) - float(lo)))
