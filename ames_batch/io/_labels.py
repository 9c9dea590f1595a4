"""Label images of a field: ``A/1/0/labels/<name>`` (NGFF 0.5 image-label, axes z, y, x)."""

from __future__ import annotations

import re
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from . import _multiscale as ms
from ._fields import _check_json_dict, _field_dir
from ._plate import FieldKey, _metadata_lock, _move_into_place, _read_attrs, _write_group_attrs
from ._plate import NGFF_VERSION

__all__ = ["write_labels", "read_labels", "list_labels"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_name(name: str, what: str = "name") -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"`{what}` must be letters, digits, '_', '-', '.' and start with a letter or digit; got {name!r}"
        )


def _field_geometry(field_dir: Path) -> tuple[tuple[int, ...], dict, int, int]:
    """(level-0 shape (C, Z, Y, X), scale_um, number of levels, chunk_yx) of a field."""
    data, _, scale_um, attrs = ms.read_multiscale(field_dir, 0)
    levels = len(attrs["ome"]["multiscales"][0]["datasets"])
    return data.shape, scale_um, levels, int(data.chunksize[-1])


def write_labels(
    plate: Path,
    key: FieldKey,
    name: str,
    labels,
    *,
    properties: list[dict] | None = None,
    colors: dict[int, tuple[int, int, int, int]] | None = None,
    attrs: dict | None = None,
) -> None:
    """Write a label image for a field, atomically, with NGFF image-label metadata.

    Parameters
    ----------
    plate : Path
        Plate directory.
    key : FieldKey
        An existing field.
    name : str
        Label image name, e.g. ``"cells"``; stored at ``<field>/labels/<name>``.
    labels : (Y, X) or (Z, Y, X) ndarray or dask array of uint32
        0 = background. (Y, X) must match the field; a (Y, X) mask is extruded through the
        field's z so it overlays every slice. (Z, Y, X) must match the field's Z too.
    properties : list of dict, optional
        One dict per label, each with an int ``"label-value"`` plus JSON values.
    colors : dict of int to (r, g, b, a), optional
        Display colour per label value, 0–255 each.
    attrs : dict, optional
        Stored under the ``"ames"`` key of the label group's attributes.

    Raises
    ------
    TypeError
        If `labels` is not an array, or `properties`/`colors`/`attrs` have the wrong type.
    ValueError
        If dtype is not uint32, the shape does not match the field, or a property lacks
        ``"label-value"``, or colors and properties name different label values.
    NotAPlateError, KeyError
        If the plate or field is missing.

    Notes
    -----
    Same scale and number of pyramid levels as the field (nearest downsampling), chunks
    ``(Z, chunk_yx, chunk_yx)``. Written to ``labels/.<name>.tmp-<uuid>`` and renamed into
    place when complete; an old label image of that name is removed only then. The
    ``labels`` group lists the names and carries ``"version": "0.5"``.
    """
    _check_name(name)
    if not isinstance(labels, (np.ndarray, da.Array)):
        raise TypeError(f"`labels` must be a numpy or dask array; got {type(labels).__name__}")
    if labels.dtype != np.uint32:
        raise ValueError(f"`labels` dtype must be uint32 (0 = background); got {labels.dtype}")
    if labels.ndim not in (2, 3):
        raise ValueError(f"`labels` must be (Y, X) or (Z, Y, X); got shape {labels.shape}")
    if properties is not None:
        if not isinstance(properties, list) or not all(isinstance(p, dict) for p in properties):
            raise TypeError("`properties` must be a list of dicts")
        for p in properties:
            v = p.get("label-value")
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"each of `properties` needs an int 'label-value'; got {p!r}")
        values = [int(p["label-value"]) for p in properties]
        if len(set(values)) != len(values):
            raise ValueError("`properties` repeat a 'label-value'")
    if colors is not None:
        if not isinstance(colors, dict):
            raise TypeError("`colors` must be a dict {label value: (r, g, b, a)}")
        for v, rgba in colors.items():
            if len(tuple(rgba)) != 4 or not all(0 <= int(c) <= 255 for c in rgba):
                raise ValueError(f"`colors[{v}]` must be 4 ints in 0..255; got {rgba!r}")
        if properties is not None and {int(v) for v in colors} != {int(p["label-value"]) for p in properties}:
            raise ValueError("`colors` and `properties` must name the same label values")
    _check_json_dict(attrs, "attrs")
    if properties is not None:
        _check_json_dict({"properties": properties}, "properties")

    field_dir = _field_dir(plate, key)
    (_, nz, ny, nx), scale_um, levels, chunk_yx = _field_geometry(field_dir)
    if labels.shape[-2:] != (ny, nx) or (labels.ndim == 3 and labels.shape[0] != nz):
        want = f"(Y, X) = {(ny, nx)} or (Z, Y, X) = {(nz, ny, nx)}"
        raise ValueError(f"`labels` shape must match field {key.path}: {want}; got {labels.shape}")
    data = labels if isinstance(labels, da.Array) else da.from_array(labels)
    if data.ndim == 2:
        data = da.broadcast_to(data[None], (nz, ny, nx))

    label_meta: dict = {"version": NGFF_VERSION, "source": {"image": "../../"}}
    if colors is not None:
        label_meta["colors"] = [
            {"label-value": int(v), "rgba": [int(c) for c in rgba]} for v, rgba in sorted(colors.items())
        ]
    if properties is not None:
        label_meta["properties"] = [dict(p, **{"label-value": int(p["label-value"])}) for p in properties]

    labels_dir = field_dir / "labels"
    final = labels_dir / name
    tmp = ms.temp_dir_for(final)
    try:
        pending = ms.create_multiscale(
            tmp,
            data,
            axes=("z", "y", "x"),
            scale_um=scale_um,
            chunks=(nz, chunk_yx, chunk_yx),
            method="nearest",
            levels=levels,
            name=name,
            extra_ome={"image-label": label_meta},
            extra_attrs={"ames": dict(attrs)} if attrs else None,
        )
        ms.store(pending, compute=True)
    except BaseException:
        ms.discard(tmp)
        raise
    with _metadata_lock(Path(plate)):
        _move_into_place(tmp, final)
        group_attrs = _read_attrs(labels_dir) if (labels_dir / "zarr.json").exists() else {}
        names = list(group_attrs.get("ome", {}).get("labels", []))
        if name not in names:
            names.append(name)
        _write_group_attrs(labels_dir, {"ome": {"version": NGFF_VERSION, "labels": names}})


def list_labels(plate: Path, key: FieldKey) -> list[str]:
    """Names of the label images of a field (as listed in its ``labels`` group), [] if none."""
    labels_dir = _field_dir(plate, key) / "labels"
    if not (labels_dir / "zarr.json").is_file():
        return []
    names = _read_attrs(labels_dir).get("ome", {}).get("labels", [])
    return [n for n in names if (labels_dir / n / "zarr.json").is_file()]


def read_labels(plate: Path, key: FieldKey, name: str) -> tuple[xr.DataArray, list[dict]]:
    """Open a label image lazily with its properties.

    Returns
    -------
    labels : xarray.DataArray
        Dask-backed uint32, dims ``("z", "y", "x")``, ``attrs["scale_um"]``.
    properties : list of dict
        The image-label ``properties`` (each with ``"label-value"``), [] if none.

    Raises
    ------
    NotAPlateError
        If the plate is missing.
    KeyError
        If the field or label image does not exist.
    """
    _check_name(name)
    if name not in list_labels(plate, key):
        raise KeyError(f"{plate}: field {key.path} has no labels {name!r}; it has {list_labels(plate, key)}")
    data, axes, scale_um, attrs = ms.read_multiscale(_field_dir(plate, key) / "labels" / name, 0)
    props = list(attrs["ome"].get("image-label", {}).get("properties", []))
    return xr.DataArray(data, dims=axes, attrs={"scale_um": scale_um}), props
