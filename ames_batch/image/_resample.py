"""Resampling to a target physical pixel size (µm/px), anti-aliased, optionally in a rotated frame.

Never to a fixed pixel grid: the output pixel size is what the caller asks for, so a sarcomere
period keeps its length in µm whatever the microscope's pixel size was.
"""

import math

import numpy as np

from .._lazy import ndi
from ._validate import _check_image, _scales

__all__ = ["antialias_sigma_px", "axis_operator", "resample", "resample_frame"]

def antialias_sigma_px(scale_um: float, target_um: float) -> float:
    """Gaussian pre-filter sigma (input pixels) before sampling at a coarser pixel size.

    Parameters
    ----------
    scale_um, target_um : float
        Input and output pixel size in µm, > 0.

    Returns
    -------
    sigma_px : float
        ``max(0, (target/scale - 1) / 2)``, scikit-image's ``rescale(anti_aliasing=True)`` rule;
        0 when upsampling.

    Examples
    --------
    >>> antialias_sigma_px(0.1, 0.4)
    1.5
    """
    if not (scale_um > 0 and target_um > 0):
        raise ValueError(f"pixel sizes must be > 0; got {scale_um}, {target_um}")
    return max(0.0, (target_um / scale_um - 1.0) / 2.0)


def resample(image: np.ndarray, *, axes: str, scale_um: dict, target_um: dict) -> np.ndarray:
    """Resample an image to a target pixel size in µm (anti-aliased, linear).

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        Numpy image with axes `axes`; value range kept (no rescaling).
    axes : {"yx", "zyx"}
        Names of the axes of `image`.
    scale_um : dict
        Input pixel size per axis in µm, e.g. ``{"y": 0.04, "x": 0.04}``.
    target_um : dict
        Output pixel size per axis in µm.

    Returns
    -------
    out : ndarray of float32
        Shape ``round(n * scale / target)`` per axis (at least 1); the field of view is kept
        (output pixel ``o`` samples input position ``(o + 0.5) * target/scale - 0.5``).

    Raises
    ------
    TypeError
        If `image` is not a numpy array or a scale is not a dict.
    ValueError
        On wrong dimensions, missing axes or pixel sizes <= 0.

    Notes
    -----
    Eager. Per axis, a Gaussian pre-filter with :func:`antialias_sigma_px`, then linear
    interpolation at the output pixels' centres (edges extended by nearest value), both as one
    matrix from :func:`axis_operator`.

    Examples
    --------
    >>> out = resample(np.ones((40, 40)), axes="yx", scale_um={"y": .1, "x": .1},
    ...                target_um={"y": .4, "x": .4})
    >>> out.shape, out.dtype
    ((10, 10), dtype('float32'))
    """
    image = _check_image(image, axes)
    s, t = _scales("scale_um", scale_um, axes), _scales("target_um", target_um, axes)
    ratio = t / s
    shape = tuple(max(1, int(round(n / r))) for n, r in zip(image.shape, ratio))
    out = image.astype(np.float32, copy=False)
    for axis, (n, r, a, b) in enumerate(zip(shape, ratio, s, t)):
        operator = axis_operator(image.shape[axis], (np.arange(n) + 0.5) * r - 0.5, antialias_sigma_px(a, b))
        out = np.moveaxis(np.tensordot(operator, out, axes=([1], [axis])), 0, axis)
    return np.ascontiguousarray(out, dtype=np.float32)


def axis_operator(n_in: int, positions: np.ndarray, sigma_px: float) -> np.ndarray:
    """The anti-aliased resampling of one axis as a matrix: a Gaussian, then linear interpolation.

    Parameters
    ----------
    n_in : int
        Input samples along the axis, >= 1.
    positions : (n_out,) ndarray of float
        Where each output sample lies, in input pixels (0 = the first pixel's centre).
    sigma_px : float
        Gaussian sigma in input pixels, >= 0 (0: interpolation only).

    Returns
    -------
    operator : (n_out, n_in) ndarray of float32
        ``operator @ signal`` equals ``scipy.ndimage.gaussian_filter1d(signal, sigma_px,
        mode="nearest")`` linearly interpolated at `positions` (``map_coordinates`` with
        ``order=1, mode="nearest"``), up to float rounding.

    Notes
    -----
    Both steps are linear along each axis, so a 2-D field is resampled by two matrix products
    (``Wy @ image @ Wx.T``): 3.4x faster than the filter and ``affine_transform`` on a
    1024 x 1024 SIM projection (6 vs 20 ms), since only the output's samples are ever filtered.
    """
    positions = np.clip(np.asarray(positions, np.float64), 0, n_in - 1)  # nearest edges
    first = np.minimum(np.floor(positions).astype(np.intp), max(n_in - 2, 0))
    weight = positions - first
    radius = int(4.0 * sigma_px + 0.5)  # scipy's truncate=4.0
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma_px) ** 2) if sigma_px > 0 else np.ones(1)
    kernel /= kernel.sum()
    rows = np.arange(len(positions))
    operator = np.zeros((len(positions), n_in))
    for index, share in ((first, 1.0 - weight), (np.minimum(first + 1, n_in - 1), weight)):
        columns = np.clip(index[:, None] + taps[None, :], 0, n_in - 1)
        np.add.at(operator, (np.broadcast_to(rows[:, None], columns.shape), columns), share[:, None] * kernel)
    return operator.astype(np.float32)


def resample_frame(
    image: np.ndarray,
    *,
    axes: str,
    scale_um: dict,
    target_um: dict,
    center_px: dict,
    output_shape: tuple[int, ...],
    angle_rad: float = 0.0,
    cval: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample a fixed-size window at a target µm/px, centred on a point, rotated in y/x.

    The output's x axis points along the direction `angle_rad` of the input (measured from +x
    towards +y), so a cell whose long axis has that angle lies horizontal in the output.
    Output pixel centres are spaced exactly `target_um`; the window is centred on `center_px`.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        Numpy image with axes `axes`.
    axes : {"yx", "zyx"}
        Names of the axes of `image` (rotation acts on y/x only).
    scale_um, target_um : dict
        Input and output pixel size per axis in µm.
    center_px : dict
        Window centre per axis in input pixel coordinates (floats allowed).
    output_shape : tuple of int
        Output shape, one entry per axis.
    angle_rad : float
        Rotation of the window in the y/x plane.
    cval : float
        Value outside the input (the background).

    Returns
    -------
    out : ndarray of float32
        Shape `output_shape`.
    matrix : (n, n) ndarray of float64
        Maps an output index to an input index: ``in = matrix @ out + offset``.
    offset : (n,) ndarray of float64

    Raises
    ------
    TypeError, ValueError
        As :func:`resample`; also for a bad `output_shape` or `center_px`.

    Notes
    -----
    Eager. Only the input region under the window (plus 4 sigma) is filtered and sampled.
    Anti-aliasing per input axis with the blur of :func:`antialias_sigma_px`: when the pixel
    size grows by 4x or more, a block mean over ``k = floor(ratio / 2)`` pixels first (k^2 less
    work), then the residual Gaussian; then linear interpolation. Values outside the input are
    `cval` and are interpolated towards smoothly.
    """
    image = _check_image(image, axes)
    s, t = _scales("scale_um", scale_um, axes), _scales("target_um", target_um, axes)
    if not isinstance(center_px, dict):
        raise TypeError(f"`center_px` must be a dict axis -> pixel coordinate; got {center_px!r}")
    c = np.array([float(center_px.get(a, math.nan)) for a in axes])
    if not np.all(np.isfinite(c)):
        raise ValueError(f"`center_px` must hold a finite value for each of {axes!r}; got {center_px}")
    output_shape = tuple(int(n) for n in output_shape)
    if len(output_shape) != len(axes) or min(output_shape) < 1:
        raise ValueError(f"`output_shape` must hold {len(axes)} sizes >= 1; got {output_shape}")
    if not math.isfinite(angle_rad):
        raise ValueError(f"`angle_rad` must be finite; got {angle_rad}")

    n = len(axes)
    matrix = np.zeros((n, n))
    cos, sin = math.cos(angle_rad), math.sin(angle_rad)
    iy, ix = n - 2, n - 1
    # y_in = cy + (u sin + v cos) / sy ; x_in = cx + (u cos - v sin) / sx  (u along out-x, v out-y)
    matrix[iy, iy] = t[iy] * cos / s[iy]
    matrix[iy, ix] = t[ix] * sin / s[iy]
    matrix[ix, iy] = -t[iy] * sin / s[ix]
    matrix[ix, ix] = t[ix] * cos / s[ix]
    if n == 3:
        matrix[0, 0] = t[0] / s[0]
    out_center = (np.array(output_shape) - 1) / 2.0
    offset = c - matrix @ out_center

    # input region under the window, padded for the filter
    sigma = np.array([antialias_sigma_px(a, b) for a, b in zip(s, t)])
    corners = np.array(np.meshgrid(*[[0, m - 1] for m in output_shape], indexing="ij")).reshape(n, -1)
    mapped = matrix @ corners + offset[:, None]
    pad = np.ceil(4 * sigma) + 2
    lo = np.maximum(np.floor(mapped.min(axis=1) - pad), 0).astype(int)
    hi = np.minimum(np.ceil(mapped.max(axis=1) + pad) + 1, image.shape).astype(int)
    if np.any(hi <= lo):
        return np.full(output_shape, cval, np.float32), matrix, offset
    # strong downsampling: average k x k blocks first (k = half the ratio), then the residual
    # Gaussian; a box of k px has variance (k^2 - 1) / 12 px^2, so the total blur is unchanged
    k = np.maximum(1, np.floor(t / s / 2)).astype(int)
    # whole blocks only: grow the region inside the image, else drop < k edge pixels
    hi = np.where((hi - lo) % k == 0, hi, np.minimum(hi + (-(hi - lo)) % k, image.shape))
    hi = hi - (hi - lo) % k
    if np.any(hi <= lo):
        return np.full(output_shape, cval, np.float32), matrix, offset
    region = image[tuple(slice(a, b) for a, b in zip(lo, hi))]
    if np.any(k > 1):
        shape = [d for size, kk in zip(region.shape, k) for d in (size // kk, kk)]
        region = region.reshape(shape).mean(axis=tuple(range(1, 2 * n, 2)), dtype=np.float32)
        sigma = np.sqrt(np.maximum(sigma**2 - (k**2 - 1) / 12.0, 0.0)) / k
    region = region.astype(np.float32, copy=False)
    sample_matrix = matrix / k[:, None]
    sample_offset = (offset - lo - (k - 1) / 2.0) / k
    if n == 3:
        return _window_z_first(region, sigma, sample_matrix, sample_offset, output_shape, cval), matrix, offset
    if sigma.any():
        region = ndi.gaussian_filter(region, sigma=sigma, mode="constant", cval=cval)
    out = ndi.affine_transform(
        region, sample_matrix, offset=sample_offset, output_shape=output_shape, order=1,
        mode="grid-constant", cval=cval,
    )
    return out.astype(np.float32, copy=False), matrix, offset


def _window_z_first(region: np.ndarray, sigma: np.ndarray, matrix: np.ndarray, offset: np.ndarray,
                    output_shape: tuple[int, ...], cval: float) -> np.ndarray:
    """A (Z, Y, X) window whose z does not mix with y/x: blurred and sampled along z first, then
    each output plane blurred and turned in y/x.

    The same values as one 3D Gaussian (``mode="constant"``) and one trilinear affine transform
    (``mode="grid-constant"``): the y/x steps act on each plane alike, so they commute with
    z's linear steps. The y/x blur then runs on the window's few planes, not on every plane of
    the region (a 3D demo cell: 8 planes of 20).
    """
    if sigma[0] > 0:
        region = ndi.gaussian_filter1d(region, sigma[0], axis=0, mode="constant", cval=cval)
    nz = region.shape[0]
    out = np.empty(output_shape, np.float32)
    for plane, z in zip(out, matrix[0, 0] * np.arange(output_shape[0]) + offset[0]):
        lo = math.floor(z)
        if lo + 1 < 0 or lo >= nz:  # beyond the edge planes: all background
            plane.fill(cval)
            continue
        w = np.float32(z - lo)
        below = region[lo] if lo >= 0 else np.float32(cval)
        above = region[lo + 1] if lo + 1 < nz else np.float32(cval)
        source = below * (1 - w) + above * w if w else np.broadcast_to(below, region.shape[1:])
        source = np.asarray(source, np.float32)
        if sigma[1:].any():
            source = ndi.gaussian_filter(source, sigma=sigma[1:], mode="constant", cval=cval)
        ndi.affine_transform(source, matrix[1:, 1:], offset=offset[1:], output_shape=output_shape[1:], order=1,
                             mode="grid-constant", cval=cval, output=plane)
    return out
