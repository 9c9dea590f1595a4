"""Shape of one cell from its mask: area, long-axis length and width, orientation, form."""

import math

import numpy as np

from .._lazy import spatial
from ._validate import _as_mask, _check_ndim, _check_positive

SHAPE_NAMES: tuple[str, ...] = ("area_um2", "length_um", "width_um", "aspect_ratio",
                                "solidity", "rectangularity", "long_axis_deg")


def cell_shape(mask, pixel_size_um: float) -> dict[str, float]:
    """Area, length, width, aspect ratio, solidity, rectangularity and long axis of one cell mask.

    Parameters
    ----------
    mask : (Y, X) ndarray of bool
        True inside the cell (0/1 integers accepted).
    pixel_size_um : float
        Isotropic pixel size in µm, > 0.

    Returns
    -------
    shape : dict of str to float
        ``area_um2`` (pixel count x pixel area), ``length_um`` and ``width_um`` (extent of the
        mask along its long axis and across it, pixel centres + one pixel), ``aspect_ratio``
        (length / width, >= 1), ``solidity`` (area / area of the convex hull of the pixels, 1
        for a convex cell, less for a polygonal cell with concave sides or a ragged outline),
        ``rectangularity`` (area / (length x width): 1 for a rectangle along its long axis,
        pi / 4 for an ellipse, less for a pointed or branched cell), ``long_axis_deg`` (angle of
        the long axis in [0, 180), from the
        x axis towards the y axis, as in ``ames_batch.synth``).

    Raises
    ------
    ValueError
        If `mask` is not 2-D, not 0/1, empty, or `pixel_size_um` <= 0.

    Notes
    -----
    The long axis is the major eigenvector of the second central moments of the mask
    (ellipse fit). Length and width are calipers (Feret diameters) taken along that axis
    and across it, exact for ellipses and rods alike, where moment-based ellipse axes
    overestimate a rod's length by 15 %. A round cell has an ill-defined axis; its aspect
    ratio near 1 says so.

    Examples
    --------
    >>> mask = np.zeros((20, 40), bool); mask[5:15, 5:35] = True
    >>> s = cell_shape(mask, 0.5)
    >>> s["area_um2"], s["length_um"], s["width_um"], s["long_axis_deg"]
    (75.0, 15.0, 5.0, 0.0)
    >>> s["solidity"], s["rectangularity"]
    (1.0, 1.0)
    """
    if not hasattr(mask, "shape"):
        raise TypeError(f"`mask` must be a numpy array; got {type(mask).__name__}")
    _check_ndim(np.asarray(mask), 2, "mask")
    m = _as_mask(mask, np.asarray(mask))
    px = _check_positive(pixel_size_um, "pixel_size_um")
    return _cell_shape(m, px)


def _cell_shape(mask: np.ndarray, pixel_size_um: float) -> dict[str, float]:
    # moments from the row and column counts and one matrix-vector product
    ny, nx = mask.shape
    per_row, per_col = mask.sum(axis=1), mask.sum(axis=0)
    n = int(per_row.sum())
    y = np.arange(ny, dtype=np.float64) - float(per_row @ np.arange(ny)) / n
    x = np.arange(nx, dtype=np.float64) - float(per_col @ np.arange(nx)) / n
    cxx, cyy = float(per_col @ (x * x)) / n, float(per_row @ (y * y)) / n
    cxy = float(y @ (mask @ x)) / n
    theta = 0.5 * math.atan2(2.0 * cxy, cxx - cyy)
    # calipers: along a row, u and v are linear in x, so its first and last pixel bound them
    rows = np.flatnonzero(per_row)
    first = np.argmax(mask[rows], axis=1)
    last = nx - 1 - np.argmax(mask[rows, ::-1], axis=1)
    xe, ye = x[np.concatenate([first, last])], np.tile(y[rows], 2)
    u = xe * math.cos(theta) + ye * math.sin(theta)
    v = -xe * math.sin(theta) + ye * math.cos(theta)
    length = (u.max() - u.min() + 1.0) * pixel_size_um
    width = (v.max() - v.min() + 1.0) * pixel_size_um
    if width > length:  # numerically round masks: keep length >= width
        length, width = width, length
        theta += math.pi / 2
    area = n * pixel_size_um ** 2
    return {
        "area_um2": float(area),
        "length_um": float(length),
        "width_um": float(width),
        "aspect_ratio": float(length / width),
        "solidity": float(n / _hull_area_px(rows, first, last)),
        "rectangularity": float(area / (length * width)),
        "long_axis_deg": float(math.degrees(theta) % 180.0),
    }


def _hull_area_px(rows: np.ndarray, first: np.ndarray, last: np.ndarray) -> float:
    """Area (px) of the convex hull of the pixel squares of a mask, from each row's first and
    last pixel (a row's other pixels lie inside the hull of those)."""
    ys = np.concatenate([rows - 0.5, rows + 0.5, rows - 0.5, rows + 0.5])
    xs = np.concatenate([first - 0.5, first - 0.5, last + 0.5, last + 0.5])
    return float(spatial.ConvexHull(np.column_stack([ys, xs])).volume)
