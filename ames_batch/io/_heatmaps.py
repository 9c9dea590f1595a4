"""Explanation heatmaps of a field: ``A/1/0/heatmaps/<name>``, each its own NGFF multiscale image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._lazy import da, xr
from . import _multiscale as ms
from ._fields import _channel_names, _check_json_dict, _check_scale, _field_dir, _omero
from ._labels import _check_name, _field_geometry
from ._plate import FieldKey, _metadata_lock, _move_into_place, _write_group_attrs

__all__ = ["write_heatmap", "read_heatmap", "list_heatmaps"]

#: A heatmap gets pyramid levels only above this side (px): one on the model's grid is small
#: (a 1024² uint8 plane is 1 MB, read whole by a viewer), and its levels cost a 3D demo field
#: 23 ms of its 60 ms write.
PYRAMID_MIN_SIDE_PX = 1024


def write_heatmap(
    plate: Path, key: FieldKey, name: str, heatmap: xr.DataArray, *, attrs: dict | None = None
) -> None:
    """Write a heatmap (one channel per task) for a field, atomically.

    Parameters
    ----------
    plate : Path
        Plate directory.
    key : FieldKey
        An existing field.
    name : str
        Method name, e.g. ``"gradcam"``; stored at ``<field>/heatmaps/<name>``.
    heatmap : xarray.DataArray of float32
        Dims ``("c", "y", "x")`` or ``("c", "z", "y", "x")``; coordinate ``c`` = task names;
        ``attrs["scale_um"]`` with ``y``, ``x`` (and ``z``) in µm; optional
        ``attrs["translation_um"]`` (``y``, ``x``, and ``z`` for a 3D map on coarser planes
        than the field's): where its first pixel centre lies in the
        field, µm (default 0). Its extent may differ from the field's: a heatmap on a coarser
        grid (the model's working scale) is placed by its scale and translation. Optional
        ``attrs["value_range"]`` ``(low, high)``: bounds every value lies in (Grad-CAM's [0, 1]);
        the map is then stored as uint8 in 255 steps of the range (0.4 %: nothing a viewer
        shows), a quarter of the bytes; without it, as float32.
    attrs : dict, optional
        Stored under the ``"ames"`` key of the heatmap group (method settings, model id).

    Raises
    ------
    TypeError
        If `heatmap` is not a DataArray.
    ValueError
        If dims, dtype, coordinates, scale or value range are wrong, or a value lies outside
        the value range by more than half a step (raised while writing; nothing is replaced).
    NotAPlateError, KeyError
        If the plate or field is missing.

    Notes
    -----
    The group is a plain NGFF 0.5 image (axes c, [z,] y, x; a 2x2 mean pyramid above
    ``PYRAMID_MIN_SIDE_PX``; channel labels in ``omero``), so napari-ome-zarr opens it by its
    path. Written to a hidden temporary group and renamed into place when complete, replacing
    an old heatmap of that name. An 8-bit map records its range in ``ames.encoding`` (NGFF has no intensity scale; viewers
    show its 0-255 steps, :func:`read_heatmap` gives the values back).
    """
    _check_name(name)
    if not isinstance(heatmap, xr.DataArray):
        raise TypeError(f"`heatmap` must be an xarray.DataArray; got {type(heatmap).__name__}")
    dims = tuple(heatmap.dims)
    if dims not in (("c", "y", "x"), ("c", "z", "y", "x")):
        raise ValueError(f"`heatmap` dims must be ('c', 'y', 'x') or ('c', 'z', 'y', 'x'); got {dims}")
    if heatmap.dtype != np.float32:
        raise ValueError(f"`heatmap` dtype must be float32; got {heatmap.dtype}")
    if any(s == 0 for s in heatmap.shape):
        raise ValueError(f"`heatmap` must not be empty; got shape {heatmap.shape}")
    scale_um = _check_scale(heatmap.attrs.get("scale_um"), dims[1:], "heatmap")
    names = _channel_names(heatmap, "heatmap")
    _check_json_dict(attrs, "attrs")
    bounds = _check_value_range(heatmap.attrs.get("value_range"))

    field_dir = _field_dir(plate, key)
    chunk_yx = _field_geometry(field_dir)[3]
    data, group_attrs = heatmap.data, dict(attrs or {})
    if bounds is not None:
        group_attrs["encoding"] = {"dtype": "uint8", "value_range": list(bounds)}
        # in memory, one pass before the write (per dask block it cost twice the float32 write)
        data = data.map_blocks(_encode, *bounds, dtype=np.uint8) if isinstance(data, da.Array) else _encode(data, *bounds)
    data = data if isinstance(data, da.Array) else np.asarray(data)
    ny, nx = data.shape[-2:]
    chunks = (1,) + data.shape[1:-2] + (max(chunk_yx, ms.DERIVED_CHUNK_MIN_PX),) * 2
    heatmaps_dir = field_dir / "heatmaps"
    final = heatmaps_dir / name
    tmp = ms.temp_dir_for(final)
    try:
        pending = ms.create_multiscale(
            tmp,
            data,
            axes=dims,
            scale_um=scale_um,
            chunks=chunks,
            method="mean",
            levels=ms.n_levels_for((ny, nx), min_side_px=PYRAMID_MIN_SIDE_PX),
            name=name,
            extra_ome={"omero": _omero(names, data.dtype)},
            extra_attrs={"ames": group_attrs} if group_attrs else None,
            origin_um=heatmap.attrs.get("translation_um"),
            compressor=ms.HEATMAP_COMPRESSOR,
        )
        ms.store(pending, compute=True)
    except BaseException:
        ms.discard(tmp)
        raise
    with _metadata_lock(Path(plate)):
        if not (heatmaps_dir / "zarr.json").exists():
            _write_group_attrs(heatmaps_dir, {"ames": {"kind": "heatmaps"}})
        _move_into_place(tmp, final)


def _check_value_range(bounds) -> tuple[float, float] | None:
    if bounds is None:
        return None
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"`heatmap.attrs['value_range']` must be (low, high); got {bounds!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"`heatmap.attrs['value_range']` must be finite with low < high; got {bounds!r}")
    return lo, hi


def _encode(block: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float values in [lo, hi] -> uint8 steps of (hi - lo) / 255 (nearest)."""
    block = np.asarray(block, dtype=np.float32)
    out = np.empty(block.shape, np.uint8)
    k = np.float32(255 / (hi - lo))
    planes = block.reshape(-1, *block.shape[-2:])
    ranges = np.array([(p.min(), p.max()) for p in planes]) if block.size else np.zeros((0, 2))
    first, last = (ranges[:, 0].min(), ranges[:, 1].max()) if block.size else (lo, lo)  # NaN propagates
    if not ((first - lo) * k >= -0.5 and (last - lo) * k <= 255.5):  # NaN fails too
        raise ValueError(f"heatmap values lie outside its value_range [{lo}, {hi}]: {first:.4g} to {last:.4g}")
    # plane by plane: each plane's passes stay in the cache (a 3D demo map: 6 ms against 11)
    for plane, encoded, (low, high) in zip(planes, out.reshape(planes.shape), ranges):
        steps = np.multiply(plane, k) if lo == 0 else np.multiply(np.subtract(plane, np.float32(lo)), k)
        np.rint(steps, out=steps)
        if low < lo or high > hi:  # within half a step of the range: onto its ends
            np.clip(steps, 0, 255, out=steps)
        encoded[...] = steps
    return out


def remove_heatmap(plate: Path, key: FieldKey, name: str) -> bool:
    """Delete a field's heatmap `name` (e.g. one an earlier run wrote and this one did not).

    Returns
    -------
    removed : bool
        False if the field had no such heatmap.

    Notes
    -----
    The group is first renamed to a hidden temporary name (readers skip those), then deleted,
    so no reader sees half a heatmap.
    """
    _check_name(name)
    final = _field_dir(plate, key) / "heatmaps" / name
    if not final.is_dir():
        return False
    trash = ms.temp_dir_for(final)
    with _metadata_lock(Path(plate)):
        final.rename(trash)
    ms.discard(trash)
    return True


def list_heatmaps(plate: Path, key: FieldKey) -> list[str]:
    """Names of the complete heatmaps of a field, sorted ([] if none)."""
    heatmaps_dir = _field_dir(plate, key) / "heatmaps"
    if not heatmaps_dir.is_dir():
        return []
    return sorted(
        p.name for p in heatmaps_dir.iterdir() if not p.name.startswith(".") and (p / "zarr.json").is_file()
    )


def read_heatmap(plate: Path, key: FieldKey, name: str, *, level: int = 0) -> xr.DataArray:
    """Open a heatmap lazily.

    Returns
    -------
    heatmap : xarray.DataArray
        Dask-backed float32, dims ``("c", "y", "x")`` or ``("c", "z", "y", "x")``,
        coordinate ``c`` = task names, ``attrs["scale_um"]``, ``attrs["translation_um"]``
        (first pixel centre in the field, µm), ``attrs["ames"]``. An 8-bit map (see
        :func:`write_heatmap`) comes back as its values, within half a step of those written.

    Raises
    ------
    NotAPlateError
        If the plate is missing.
    KeyError
        If the field or heatmap does not exist.
    """
    _check_name(name)
    present = list_heatmaps(plate, key)
    if name not in present:
        raise KeyError(f"{plate}: field {key.path} has no heatmap {name!r}; it has {present}")
    data, axes, scale_um, translation_um, attrs = ms.read_multiscale(_field_dir(plate, key) / "heatmaps" / name,
                                                                     level)
    encoding = attrs.get("ames", {}).get("encoding")
    if encoding is not None:
        lo, hi = encoding["value_range"]
        data = data.astype(np.float32) * np.float32((hi - lo) / 255) + np.float32(lo)
    channels = attrs["ome"].get("omero", {}).get("channels", [])
    names = [ch.get("label", str(i)) for i, ch in enumerate(channels)]
    return xr.DataArray(
        data, dims=axes, coords={"c": names},
        attrs={"scale_um": scale_um, "translation_um": translation_um, "ames": attrs.get("ames", {})}
    )
