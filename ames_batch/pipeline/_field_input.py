"""Read one field's stain channel and refuse data that cannot be rated."""

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import BadFieldError
from ..image import max_projection
from ..io import FieldKey, field_attributes, read_field, resolve_channel

__all__ = ["FieldData", "read_field_data"]

#: Share of pixels at the dtype's maximum above which a field counts as saturated.
SATURATED_SHARE = 0.05


@dataclass(frozen=True)
class FieldData:
    """One field's stain in memory: MIP (Y, X) float32, stack (Z, Y, X) float32 if asked, scale in µm."""

    key: FieldKey
    mip: np.ndarray
    stack: np.ndarray | None
    scale_um: dict

    @property
    def pixel_size_um(self) -> float:
        return float(self.scale_um["x"])


def _stain(image: xr.DataArray, channel: str | int | None, attrs: dict) -> xr.DataArray:
    """The sarcomere-stain channel: the one asked for, else the one convert recorded, else the first."""
    names = [str(c) for c in image.coords["c"].values]
    try:
        index = resolve_channel(names, channel, default=attrs.get("stain_channel"))
    except ValueError as error:
        raise BadFieldError(str(error)) from None
    return image.isel(c=index)


def read_field_data(plate, key: FieldKey, *, channel: str | int | None = None, with_stack: bool = False) -> FieldData:
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
        Also load the (Z, Y, X) stack (3D models).

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
    The MIP is computed from the lazy stack chunk by chunk (whole-z chunks are read once).
    """
    image = read_field(plate, key)
    stack = _stain(image, channel, field_attributes(plate, key))
    scale = dict(image.attrs["scale_um"])
    if not math.isclose(scale["y"], scale["x"], rel_tol=0.01):
        raise BadFieldError(f"anisotropic pixels y={scale['y']} µm, x={scale['x']} µm are not supported")
    mip = max_projection(stack).values
    _check_intensities(mip)
    stack_np = stack.values.astype(np.float32) if with_stack else None
    return FieldData(key, mip.astype(np.float32), stack_np, scale)


def _check_intensities(mip: np.ndarray) -> None:
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
