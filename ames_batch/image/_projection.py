"""Maximum-intensity projection along a named axis."""

from __future__ import annotations

from .._lazy import xr

__all__ = ["max_projection"]


def max_projection(stack: xr.DataArray, *, axis: str = "z") -> xr.DataArray:
    """Maximum-intensity projection (MIP) of a stack along one named axis.

    Parameters
    ----------
    stack : xarray.DataArray
        Numpy- or dask-backed array with a dimension called `axis`
        (for example ``("c", "z", "y", "x")``).
    axis : str
        Name of the dimension to project over.

    Returns
    -------
    mip : xarray.DataArray
        Same dtype and backing as `stack`, without `axis`. ``attrs["scale_um"]``
        is kept minus the projected axis.

    Raises
    ------
    ValueError
        If `stack` has no dimension `axis`.

    Notes
    -----
    Lazy on dask input: the result is a graph with the input's chunks along
    the remaining axes, so a chunk holding a whole z-column is read once.
    """
    if axis not in stack.dims:
        raise ValueError(f"`stack` must have a {axis!r} dimension; got dims {stack.dims}")
    mip = stack.max(dim=axis, keep_attrs=True)
    scale = dict(stack.attrs.get("scale_um", {}))
    scale.pop(axis, None)
    mip.attrs["scale_um"] = scale
    return mip
