"""Cell crops and cell geometry from a label mask (bounding box with a margin, long axis)."""

import math

import numpy as np

from .._lazy import ndi
from ._validate import _check_mask

__all__ = ["cell_bbox", "cell_bboxes", "cell_long_axis"]


def cell_bbox(
    cell_mask: np.ndarray, *, pixel_size_um: float | tuple[float, ...], margin_um: float = 0.0
) -> tuple[slice, ...]:
    """Bounding box of a cell mask, grown by a margin in µm and clipped to the array.

    Parameters
    ----------
    cell_mask : (Y, X) or (Z, Y, X) ndarray of bool
        True inside the cell.
    pixel_size_um : float or tuple of float
        Pixel size in µm, one value for all axes or one per axis of `cell_mask`, > 0.
    margin_um : float
        Margin added on every side, in µm, >= 0.

    Returns
    -------
    bbox : tuple of slice
        One slice per axis; ``image[bbox]`` is the crop (a view, lazy on dask input).

    Raises
    ------
    ValueError
        If the mask is empty or not boolean, a pixel size is <= 0 or `margin_um` < 0.

    Examples
    --------
    >>> mask = np.zeros((10, 10), bool); mask[4:6, 3:8] = True
    >>> cell_bbox(mask, pixel_size_um=0.5, margin_um=1.0)
    (slice(2, 8, None), slice(1, 10, None))
    """
    mask = _check_mask(cell_mask)
    pads = _margin_px(pixel_size_um, margin_um, mask.ndim)
    tight = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        tight.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return _grown(tight, pads, mask.shape)


def cell_bboxes(
    labels: np.ndarray, *, pixel_size_um: float | tuple[float, ...], margin_um: float = 0.0
) -> dict[int, tuple[slice, ...]]:
    """`cell_bbox` of every label of a label image, in one pass over it.

    Parameters
    ----------
    labels : (Y, X) or (Z, Y, X) ndarray of int
        Cell labels, 0 = background.
    pixel_size_um, margin_um
        As for `cell_bbox`.

    Returns
    -------
    dict of int to tuple of slice
        Each label present, in increasing order, to its box: ``cell_bbox(labels == label, ...)``.

    Examples
    --------
    >>> labels = np.zeros((10, 10), np.uint32); labels[4:6, 3:8] = 2
    >>> cell_bboxes(labels, pixel_size_um=0.5, margin_um=1.0)
    {2: (slice(2, 8, None), slice(1, 10, None))}
    """
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
        raise TypeError(f"`labels` must be a numpy ndarray of integers; got {getattr(labels, 'dtype', type(labels))}")
    pads = _margin_px(pixel_size_um, margin_um, labels.ndim)
    return {label: _grown(box, pads, labels.shape)
            for label, box in enumerate(ndi.find_objects(labels), 1) if box is not None}


def _margin_px(pixel_size_um, margin_um: float, ndim: int) -> list[int]:
    """`margin_um` in whole pixels (rounded up) along each of `ndim` axes."""
    sizes = np.broadcast_to(np.asarray(pixel_size_um, dtype=float), (ndim,))
    if not np.all(sizes > 0):
        raise ValueError(f"`pixel_size_um` must be > 0; got {pixel_size_um}")
    if not (math.isfinite(margin_um) and margin_um >= 0):
        raise ValueError(f"`margin_um` must be a finite number >= 0; got {margin_um}")
    return [math.ceil(margin_um / s) for s in sizes]


def _grown(box, pads, shape) -> tuple[slice, ...]:
    """`box` grown by `pads` pixels on each side, clipped to `shape`."""
    return tuple(slice(max(0, s.start - p), min(n, s.stop + p)) for s, p, n in zip(box, pads, shape))


def cell_long_axis(
    cell_mask: np.ndarray, *, pixel_size_um: float | tuple[float, float]
) -> tuple[tuple[float, float], float, float]:
    """Centroid, long-axis angle and elongation of a 2D cell mask from its second moments.

    Parameters
    ----------
    cell_mask : (Y, X) ndarray of bool
        True inside the cell.
    pixel_size_um : float or (float, float)
        Pixel size in µm, isotropic or ``(y, x)``, > 0. Moments are taken in µm so an
        anisotropic grid does not bias the angle.

    Returns
    -------
    centroid_yx : (float, float)
        Centroid in pixel coordinates (y, x).
    angle_rad : float
        Angle of the long axis in the image plane, measured from +x towards +y (array rows
        grow downwards), in ``(-pi/2, pi/2]``.
    elongation : float
        sqrt(major / minor eigenvalue) of the covariance, >= 1 (1 for a disc: angle arbitrary).

    Raises
    ------
    ValueError
        If the mask is not 2D, empty or not boolean, or a pixel size is <= 0.

    Examples
    --------
    >>> mask = np.zeros((20, 20), bool); mask[9:11, 2:18] = True
    >>> c, angle, e = cell_long_axis(mask, pixel_size_um=0.1)
    >>> round(angle, 6), e > 4
    (0.0, True)
    """
    mask = _check_mask(cell_mask)
    if mask.ndim != 2:
        raise ValueError(f"`cell_mask` must be 2D (Y, X); got shape {mask.shape}")
    sy, sx = np.broadcast_to(np.asarray(pixel_size_um, dtype=float), (2,))
    if not (sy > 0 and sx > 0):
        raise ValueError(f"`pixel_size_um` must be > 0; got {pixel_size_um}")
    yy, xx = np.nonzero(mask)
    cy, cx = yy.mean(), xx.mean()
    dy, dx = (yy - cy) * sy, (xx - cx) * sx
    cov = np.array([[np.mean(dx * dx), np.mean(dx * dy)], [np.mean(dx * dy), np.mean(dy * dy)]])
    # a single pixel has zero spread; the pixel itself spreads 1/12 px^2 along each axis
    cov += np.diag([sx * sx, sy * sy]) / 12.0
    angle = 0.5 * math.atan2(2.0 * cov[0, 1], cov[0, 0] - cov[1, 1])
    if angle <= -math.pi / 2:
        angle += math.pi
    evals = np.linalg.eigvalsh(cov)
    elongation = float(math.sqrt(evals[1] / evals[0]))
    return (float(cy), float(cx)), float(angle), elongation
