"""Read one field's stain channel at the working scale, and refuse data that cannot be rated.

Segmentation, metrics and model inputs all work on the field's MIP brought once to the
working pixel size (``image.WORKING_PIXEL_SIZE_UM``, ~11 px per sarcomere): a 3D-SIM field at
0.04 µm/px has 1/16 of the pixels to measure. Labels and heatmaps are written on that grid
too (they have no finer detail), placed over the field by their scale and translation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .._lazy import xr
from ..errors import BadFieldError
from ..image import WORKING_PIXEL_SIZE_UM, at_working_scale, clipped_pixels, to_working_scale
from ..io import (FieldKey, field_attributes, field_level_scales, read_field, read_field_projection, read_field_stack,
                  resolve_channel)

__all__ = ["FieldData", "read_field_data", "read_field_window"]

#: Share of pixels at the dtype's maximum (the file's full range) above which a field is refused as saturated.
SATURATED_SHARE = 0.05


@dataclass(frozen=True)
class FieldData:
    """One field's stain in memory at the working scale.

    Attributes
    ----------
    key : FieldKey
    mip : (Y', X') ndarray of float32
        Maximum projection at the working scale.
    stack : (Z, Y', X') ndarray or None
        The stack, each plane at the working scale (when asked for): float32 where planes were
        resampled, the stored values (e.g. uint16) where the level read is at the working scale.
    scale_um : dict
        µm per pixel of `mip` / `stack` (``z`` as in the field).
    translation_um : dict
        (``y``, ``x``) µm position in the field of the first working pixel's centre.
    field_shape : (int, int)
        (Y, X) of the field's own grid (level 0).
    field_scale_um : dict
        µm per pixel of the field's own grid.
    clipped : (Y', X') ndarray of float32 or None
        Share of the field pixels under each working pixel that the detector clipped
        (``image.clipped_pixels`` of the raw MIP, brought to the working scale); None when none
        was clipped.
    """

    key: FieldKey
    mip: np.ndarray
    stack: np.ndarray | None
    scale_um: dict
    translation_um: dict
    field_shape: tuple[int, int]
    field_scale_um: dict
    clipped: np.ndarray | None = None

    @property
    def pixel_size_um(self) -> float:
        return float(self.scale_um["x"])

    @property
    def ratio(self) -> float:
        """Field pixels per working pixel (1 when the field is not finer than the working scale)."""
        return self.pixel_size_um / float(self.field_scale_um["x"])

    @classmethod
    def from_arrays(cls, key: FieldKey, mip: np.ndarray, scale_um: dict, *, stack: np.ndarray | None = None,
                    origin_um: dict | None = None) -> "FieldData":
        """Check a field's raw MIP (and stack) and bring them to the working scale.

        Parameters
        ----------
        key : FieldKey
        mip : (Y, X) ndarray
            Raw maximum projection (its dtype decides when a field is refused as saturated;
            clipping at any limit is measured per cell).
        scale_um : dict
            ``z``, ``y``, ``x`` in µm of the field's own grid (y = x).
        stack : (Z, Y, X) ndarray, optional
            The raw stack, when a rater needs it.
        origin_um : dict, optional
            (``y``, ``x``) µm position of the first pixel's centre of `mip` (a pyramid level
            above 0 starts off the field's origin); default 0.

        Raises
        ------
        BadFieldError
            As :func:`read_field_data`.
        """
        if not math.isclose(scale_um["y"], scale_um["x"], rel_tol=0.01):
            raise BadFieldError(f"anisotropic pixels y={scale_um['y']} µm, x={scale_um['x']} µm are not supported")
        clipped = _check_intensities(mip)
        px = float(scale_um["x"])
        working, working_px = to_working_scale(mip, px)
        if clipped is not None:
            clipped = to_working_scale(clipped.astype(np.float32), px)[0].astype(np.float32, copy=False)
        if stack is not None:
            _, stack = _working_stack(stack, px)
        ratio = working_px / px
        origin = origin_um or {}
        return cls(key, np.asarray(working, np.float32), stack, {"z": float(scale_um.get("z", 1.0)), "y": working_px,
                                                                "x": working_px},
                   {a: float(origin.get(a, 0.0)) + (ratio - 1) / 2 * px for a in "yx"}, tuple(mip.shape),
                   dict(scale_um), clipped)

    def labels_from_field(self, labels: np.ndarray) -> np.ndarray:
        """Field-grid (Y, X) labels sampled at the working pixels' centres (nearest neighbour)."""
        if labels.shape == self.mip.shape:
            return labels
        iy, ix = (np.clip(np.round((np.arange(n) + 0.5) * self.ratio - 0.5).astype(np.intp), 0, m - 1)
                  for n, m in zip(self.mip.shape, labels.shape))
        return labels[np.ix_(iy, ix)]


def _stain(image: xr.DataArray, channel: str | int | None, attrs: dict) -> int:
    """Index of the sarcomere-stain channel: the one asked for, else the one convert recorded, else the first."""
    names = [str(c) for c in image.coords["c"].values]
    try:
        return resolve_channel(names, channel, default=attrs.get("stain_channel"))
    except ValueError as error:
        raise BadFieldError(str(error)) from None


def read_field_data(plate, key: FieldKey, *, channel: str | int | None = None, with_stack: bool = False,
                    level: int | str = 0) -> FieldData:
    """Load a field's stain MIP (and stack) and check that it can be rated.

    Parameters
    ----------
    plate : Path
        The plate.
    key : FieldKey
        The field.
    channel : str or int, optional
        Stain channel as the user wrote it: a name first, then an index (``io.resolve_channel``);
        default the field's recorded stain channel, else channel 0.
    with_stack : bool
        Also load the (Z, Y, X) stack (3D models), its planes at the working scale: read from
        the pyramid level at the working scale when that level lies on the MIP's working grid
        (its planes are then 2x2 means of 2x2 means, not the Gaussian of ``to_working_scale``;
        the 3D model resamples them to its own coarser voxels), else from level 0.
    level : int or "working"
        Pyramid level to read: 0 (ratings and metrics: the anti-aliasing starts from the
        microscope's pixels), or "working", the coarsest level still at least as fine as the
        working pixel size (pictures: a 0.04 µm/px field is read at 1/16 of the bytes).

    Returns
    -------
    FieldData

    Raises
    ------
    BadFieldError
        NaN or infinite values, a constant (empty) field, a saturated field, anisotropic y/x
        pixels, or a missing channel; the message says which.

    Notes
    -----
    The MIP is computed one z-slab at a time (``io.read_field_projection``), checked at
    the field's own pixel size (saturation is a property of the raw values), then brought to
    the working scale (``image.to_working_scale``: anti-aliased, never upsampled).
    """
    image = _read_level(plate, key, level)
    index = _stain(image, channel, field_attributes(plate, key))
    scale, origin = dict(image.attrs["scale_um"]), dict(image.attrs["translation_um"])
    working = _working_level(plate, key) if with_stack else None
    if working == image.attrs["level"]:
        # the stack comes from this very level (a field already at the working scale): one read
        # of it gives the MIP too (it was read twice, once for each)
        mip, stack = _working_stack(_stack_of(plate, key, index, image), float(scale["x"]))
        return replace(FieldData.from_arrays(key, mip, scale, origin_um=origin), stack=stack)
    mip = read_field_projection(plate, key, index, level=image.attrs["level"]).values  # a z-slab at a time
    data = FieldData.from_arrays(key, mip, scale, origin_um=origin)
    if working is None:
        return data
    # The stack from the pyramid level at the working scale when it lies on the MIP's working grid
    # (a 0.04 µm field's level 2: 1/16 of the planes to bring down, none to filter); else level 0.
    coarse = _read_level(plate, key, working)
    _, stack = _working_stack(_stack_of(plate, key, index, coarse), coarse.attrs["scale_um"]["x"])
    if stack.shape[1:] == data.mip.shape and np.allclose(
            [coarse.attrs["translation_um"][a] for a in "yx"], [data.translation_um[a] for a in "yx"], atol=1e-6):
        return replace(data, stack=stack)
    return replace(data, stack=_working_stack(image.isel(c=index), data.field_scale_um["x"])[1])


def read_field_window(plate, key: FieldKey, box: tuple[slice, slice], *, channel: str | int | None = None
                      ) -> FieldData | None:
    """The MIP of the pixels `box` of a field's working grid, read from the one pyramid level on it.

    A picture of a few cells (the report's gallery) needs their boxes, not the field: only the
    chunks under `box` are read (a demo field's gallery cell: a quarter of them).

    Parameters
    ----------
    plate : Path
    key : FieldKey
    box : (slice, slice)
        (y, x) pixels of the working grid (the grid of the field's labels), steps of 1.
    channel : str or int, optional
        As :func:`read_field_data`.

    Returns
    -------
    FieldData or None
        The window as a field (``mip`` the window, ``translation_um`` its first pixel's centre),
        without a stack; None when no pyramid level lies on the working grid (a field finer than
        the working scale whose levels miss it) or when the window alone would be refused (flat,
        or saturated though its field is not): read it whole with :func:`read_field_data`.
    """
    image = _read_level(plate, key, "working")
    scale = dict(image.attrs["scale_um"])
    if float(scale["x"]) < WORKING_PIXEL_SIZE_UM * (1 - 1e-6):  # the working grid is a resampling of it
        return None
    index = _stain(image, channel, field_attributes(plate, key))
    mip = read_field_projection(plate, key, index, level=image.attrs["level"], region=box)
    try:
        return FieldData.from_arrays(key, mip.values, scale, origin_um=mip.attrs["translation_um"])
    except BadFieldError:  # a window can be flat or saturated where its field is not: read the field
        return None


def _working_stack(stack, pixel_size_um: float) -> tuple[np.ndarray, np.ndarray]:
    """The maximum projection (as stored) and the (Z, Y', X') planes at the working scale
    (each as ``image.to_working_scale``) of a (Z, Y, X) stack: in memory when it is at the working
    scale (kept as it is, `_stack_of`), else numpy or lazy (xarray, dask), brought down one
    z-chunk at a time into one array: a 3D run prepares two fields at once while the previous
    group is rated (measured: building a list of planes, then their stack, from the whole read
    cost a demo field 276 MB at peak for its 133 MB stack)."""
    if at_working_scale(pixel_size_um):
        planes = np.asarray(stack)
        return planes.max(axis=0), planes
    chunks = getattr(stack, "chunks", None)
    depth = chunks[0][0] if chunks else len(stack)
    mip = out = None
    for z0 in range(0, len(stack), depth):
        slab = np.asarray(stack[z0:z0 + depth])
        mip = slab.max(axis=0) if mip is None else np.maximum(mip, slab.max(axis=0), out=mip)
        for z, plane in enumerate(slab, start=z0):
            plane = to_working_scale(plane, pixel_size_um)[0]
            if out is None:
                out = np.empty((len(stack), *plane.shape), np.float32)
            out[z] = plane
    return mip, out


def _read_level(plate, key: FieldKey, level: int | str) -> xr.DataArray:
    """The field at `level`; "working": `_working_level`."""
    return read_field(plate, key, level=_working_level(plate, key) if level == "working" else int(level))


def _working_level(plate, key: FieldKey) -> int:
    """The coarsest level whose pixels are not above the working size (from the metadata: opening
    each level costs ~15 ms)."""
    scales = field_level_scales(plate, key)
    return max([0] + [i for i, s in enumerate(scales) if s["x"] <= WORKING_PIXEL_SIZE_UM * (1 + 1e-6)])


def _stack_of(plate, key: FieldKey, channel: int, image: xr.DataArray):
    """The (Z, Y, X) stack of `channel` at `image`'s level: read whole in one zarr read when it is
    at the working scale (it is kept whole), else lazy (`_working_stack` brings it down a z-chunk
    at a time)."""
    if at_working_scale(float(image.attrs["scale_um"]["x"])):
        return read_field_stack(plate, key, channel, level=image.attrs["level"])
    return image.isel(c=channel)


def _check_intensities(mip: np.ndarray) -> np.ndarray | None:
    """Refuse a raw MIP that cannot be rated; return its clipped pixels (None: none)."""
    if np.issubdtype(mip.dtype, np.floating) and not np.isfinite(mip).all():
        raise BadFieldError("the image holds NaN or infinite values; re-export or re-convert the file")
    low, high = mip.min(), mip.max()
    if low == high:
        raise BadFieldError(f"the field is empty (constant intensity {low}); check the acquisition")
    if np.issubdtype(mip.dtype, np.integer):
        saturated = float(np.mean(mip == np.iinfo(mip.dtype).max))
        if saturated > SATURATED_SHARE:
            raise BadFieldError(
                f"the field is saturated ({saturated:.0%} of pixels at {np.iinfo(mip.dtype).max}); "
                "re-acquire with a lower exposure"
            )
    # clipping at any lower limit (a 12-bit camera, an export) or of fewer pixels leaves the field
    # to rate: its cells carry their clipped share
    return clipped_pixels(mip)
