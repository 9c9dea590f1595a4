"""A field's MIP at the working pixel size, and its labels back at the field's own pixel size.

Metrics, segmentation and heatmaps of a field need no more than about ten pixels per
sarcomere (1.6–2.2 µm); a 3D-SIM field at 0.04 µm/px has 16 times the pixels that carry the
same periods and angles. The pipeline therefore brings each field's MIP to
`WORKING_PIXEL_SIZE_UM` once, and rates it there.
"""

import math

import numpy as np

from ._resample import antialias_sigma_px, axis_operator
from ._validate import _check_pixel_size

__all__ = ["WORKING_PIXEL_SIZE_UM", "at_working_scale", "to_working_scale", "upsample_labels"]

#: Pixel size (µm) the pipeline rates a field at: 10 px per 1.6 µm sarcomere. Measured
#: (docs/metrics.md, "Working scale"): metrics at 0.16 µm/px of fields imaged at 0.04/0.08 µm/px
#: stay within 1 % (length), 1° (angles) and 0.02 (organised fraction) of those at full
#: resolution; at 0.18 or 0.2 µm/px the organised fraction of small cells moves by up to 0.04.
WORKING_PIXEL_SIZE_UM = 0.16

#: Pixel sizes within this relative distance of the working one count as already there.
_SAME_SCALE_RTOL = 1e-6


def at_working_scale(pixel_size_um: float, working_pixel_size_um: float = WORKING_PIXEL_SIZE_UM) -> bool:
    """Whether pixels of `pixel_size_um` (µm) are at or coarser than the working size: nothing to
    downsample (:func:`to_working_scale` returns such an image unchanged).

    Examples
    --------
    >>> at_working_scale(0.16), at_working_scale(0.04)
    (True, False)
    """
    return pixel_size_um >= working_pixel_size_um * (1 - _SAME_SCALE_RTOL)


def to_working_scale(mip, pixel_size_um: float | None = None, *,
                     working_pixel_size_um: float = WORKING_PIXEL_SIZE_UM):
    """Downsample a field's MIP to the working pixel size (anti-aliased), never upsampling.

    Parameters
    ----------
    mip : (Y, X) ndarray, dask array or xarray.DataArray
        Maximum projection of one field, any real dtype. A DataArray must have dims
        ``("y", "x")``; its ``attrs["scale_um"]`` gives the pixel size when `pixel_size_um`
        is None.
    pixel_size_um : float, optional
        Isotropic pixel size of `mip` in µm, > 0. Required unless `mip` is a DataArray with
        ``attrs["scale_um"]`` (equal y and x).
    working_pixel_size_um : float, optional
        Target pixel size in µm, > 0 (default `WORKING_PIXEL_SIZE_UM`).

    Returns
    -------
    working_mip : (Y', X') array of the same kind
        float32, ``Y' = max(1, round(Y * pixel_size_um / working_pixel_size_um))`` (same for X);
        output pixel ``o`` samples input position ``(o + 0.5) * ratio - 0.5``, so the field of
        view is kept and pixels are exactly `working_pixel_size_um` apart. Lazy (dask) in,
        lazy out; a DataArray comes back as one with ``attrs["scale_um"]`` updated. A field
        already at or coarser than the working pixel size is returned unchanged (same object,
        dtype kept).
    working_pixel_size_um : float
        The pixel size of `working_mip` in µm: `working_pixel_size_um`, or `pixel_size_um`
        where nothing was done.

    Raises
    ------
    TypeError
        If `mip` is not an array, or a pixel size is not a number.
    ValueError
        If `mip` is not 2-D (dims ``("y", "x")``) or not real, a pixel size is missing,
        anisotropic or <= 0.

    Notes
    -----
    The same anti-aliasing as :func:`resample` (and with numpy input the same numbers): a
    Gaussian of :func:`antialias_sigma_px` input pixels (scikit-image's rule, edges extended
    by the nearest value), then linear interpolation. On dask input each output block reads
    only its input region plus the Gaussian's reach, and equals the eager result.

    Examples
    --------
    >>> mip = np.ones((1024, 1000), np.uint16)
    >>> out, px = to_working_scale(mip, 0.04)
    >>> out.shape, out.dtype, px
    ((256, 250), dtype('float32'), 0.16)
    >>> to_working_scale(mip, 0.2)[1]  # coarser already: unchanged
    0.2
    """
    data, wrap, scale = _unwrap(mip, pixel_size_um)
    target = _check_pixel_size(working_pixel_size_um, "working_pixel_size_um")
    if at_working_scale(scale, target):
        return mip, scale
    ratio = target / scale
    out_shape = tuple(max(1, int(round(n / ratio))) for n in data.shape)
    if isinstance(data, np.ndarray):
        out = _sample(data, (0, 0), ratio, (0, 0), out_shape)
    else:
        out = _sample_lazy(data, ratio, out_shape)
    return wrap(out, target), target


def _unwrap(mip, pixel_size_um):
    """(bare 2-D array, function re-wrapping a result like `mip`, pixel size in µm)."""
    import xarray as xr

    if isinstance(mip, xr.DataArray):
        if tuple(mip.dims) != ("y", "x"):
            raise ValueError(f"`mip` must have dims ('y', 'x'); got {tuple(mip.dims)}")
        if pixel_size_um is None:
            scale_um = mip.attrs.get("scale_um") or {}
            if "y" not in scale_um or "x" not in scale_um:
                raise ValueError("`pixel_size_um` is required: `mip` has no attrs['scale_um'] "
                                 f"with 'y' and 'x'; got attrs {dict(mip.attrs)}")
            if not math.isclose(float(scale_um["y"]), float(scale_um["x"]), rel_tol=1e-6):
                raise ValueError(f"`mip` pixels must be square; got scale_um {scale_um}")
            pixel_size_um = scale_um["x"]
        attrs = dict(mip.attrs)

        def wrap(out, target):
            new = dict(attrs)
            new["scale_um"] = {**attrs.get("scale_um", {}), "y": target, "x": target}
            return xr.DataArray(out, dims=("y", "x"), attrs=new, name=mip.name)

        data = mip.data
    else:
        data = mip

        def wrap(out, target):
            return out

    if not hasattr(data, "shape") or not hasattr(data, "dtype"):
        raise TypeError(f"`mip` must be a numpy, dask or xarray array; got {type(mip).__name__}")
    if data.ndim != 2:
        raise ValueError(f"`mip` must be 2-D (Y, X); got shape {data.shape}")
    if np.dtype(data.dtype).kind not in "uif":
        raise ValueError(f"`mip` must hold real numbers; got dtype {data.dtype}")
    if pixel_size_um is None:
        raise ValueError("`pixel_size_um` is required (µm per pixel of `mip`)")
    return data, wrap, _check_pixel_size(pixel_size_um, "pixel_size_um")


def _sample(region: np.ndarray, region_start: tuple[int, int], ratio: float,
            out_start: tuple[int, int], out_shape: tuple[int, ...]) -> np.ndarray:
    """Output pixels ``out_start + (0 .. out_shape)`` from an input `region` at `region_start`."""
    sigma = antialias_sigma_px(1.0, ratio)
    data = np.asarray(region).astype(np.float32, copy=False)
    wy, wx = (axis_operator(data.shape[i], (out_start[i] + np.arange(out_shape[i]) + 0.5) * ratio - 0.5
                            - region_start[i], sigma) for i in (0, 1))
    return wy @ data @ wx.T


def _sample_lazy(data, ratio: float, out_shape: tuple[int, ...]):
    """`_sample` per output block of a dask array, each block reading only its input region."""
    import dask
    import dask.array as da

    reach = int(4.0 * antialias_sigma_px(1.0, ratio) + 0.5) + 1  # Gaussian radius + interpolation
    out_chunks = da.core.normalize_chunks(
        tuple(max(1, int(round(c[0] / ratio))) for c in data.chunks), shape=out_shape)
    starts = [np.cumsum((0,) + c) for c in out_chunks]
    rows = []
    for i, ch in enumerate(out_chunks[0]):
        row = []
        for j, cw in enumerate(out_chunks[1]):
            out_start, size = (int(starts[0][i]), int(starts[1][j])), (ch, cw)
            lo, hi = [], []
            for o, n, full in zip(out_start, size, data.shape):
                first, last = (o + 0.5) * ratio - 0.5, (o + n - 0.5) * ratio - 0.5
                lo.append(max(0, int(math.floor(first)) - reach))
                hi.append(min(full, int(math.ceil(last)) + 1 + reach))
            region = data[lo[0]:hi[0], lo[1]:hi[1]]
            block = dask.delayed(_sample)(region, tuple(lo), ratio, out_start, size)
            row.append(da.from_delayed(block, shape=size, dtype=np.float32))
        rows.append(row)
    return da.block(rows)


def upsample_labels(labels: np.ndarray, shape: tuple[int, int], *, pixel_size_um: float,
                    labels_pixel_size_um: float) -> np.ndarray:
    """Labels made at a coarser pixel size, back on the field's own grid (nearest neighbour).

    Parameters
    ----------
    labels : (Y', X') ndarray of int
        Labels of the working-scale MIP (from `to_working_scale`), 0 = background.
    shape : (int, int)
        (Y, X) of the field at its own pixel size.
    pixel_size_um : float
        The field's own pixel size in µm, > 0.
    labels_pixel_size_um : float
        Pixel size of `labels` in µm, >= `pixel_size_um`.

    Returns
    -------
    labels_full : (Y, X) ndarray
        Same dtype as `labels`; field pixel ``i`` takes the label of the working pixel whose
        centre is nearest, ``floor((i + 0.5) / ratio)`` (the inverse of `to_working_scale`'s
        sampling), clipped to the label grid.

    Raises
    ------
    TypeError
        If `labels` is not a numpy array or a pixel size not a number.
    ValueError
        If `labels` is not 2-D or not integer, `shape` is not two sizes >= 1, or
        `labels_pixel_size_um` < `pixel_size_um`.

    Examples
    --------
    >>> small = np.array([[0, 1], [2, 2]], np.uint32)
    >>> upsample_labels(small, (4, 4), pixel_size_um=0.08, labels_pixel_size_um=0.16)
    array([[0, 0, 1, 1],
           [0, 0, 1, 1],
           [2, 2, 2, 2],
           [2, 2, 2, 2]], dtype=uint32)
    """
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"`labels` must be a numpy array; got {type(labels).__name__}")
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise ValueError(f"`labels` must be a 2-D integer array; got {labels.ndim}-D {labels.dtype}")
    shape = tuple(int(n) for n in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"`shape` must be two sizes >= 1; got {shape}")
    fine = _check_pixel_size(pixel_size_um, "pixel_size_um")
    coarse = _check_pixel_size(labels_pixel_size_um, "labels_pixel_size_um")
    if coarse < fine * (1 - _SAME_SCALE_RTOL):
        raise ValueError(f"`labels_pixel_size_um` ({coarse}) must be >= `pixel_size_um` ({fine}): "
                         "this only brings labels back to a finer grid")
    ratio = coarse / fine
    iy, ix = (np.minimum(np.floor((np.arange(n) + 0.5) / ratio).astype(np.intp), m - 1)
              for n, m in zip(shape, labels.shape))
    return labels[np.ix_(iy, ix)]
