"""Label images of a field: ``A/1/0/labels/<name>`` (NGFF 0.5 image-label, axes z, y, x), one colouring per task."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._lazy import da, xr
from ..image import upsample_labels
from . import _multiscale as ms
from ._fields import _check_json_dict, _field_dir
from ._plate import FieldKey, _metadata_lock, _move_into_place, _read_attrs, _write_group_attrs
from ._plate import NGFF_VERSION
from ..vocabulary import RATING_COLOURS

__all__ = ["write_labels", "write_cell_labels", "read_labels", "read_label_properties", "list_labels"]

#: Colour of a cell a task did not rate (no class, or a class without a colour).
UNRATED_COLOUR = (128, 128, 128, 255)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_name(name: str, what: str = "name") -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"`{what}` must be letters, digits, '_', '-', '.' and start with a letter or digit; got {name!r}"
        )


def _field_geometry(field_dir: Path) -> tuple[tuple[int, ...], dict, int, int]:
    """(level-0 shape (C, Z, Y, X), scale_um, number of levels, chunk_yx) of a field."""
    level = ms.level_geometry(field_dir, 0)
    return level.shape, level.scale_um, level.n_levels, int(level.chunks[-1])


def _image_label_meta(properties: list[dict] | None, colors: dict | None) -> dict:
    """The NGFF ``image-label`` dict, after checking `properties` and `colors` (see `write_labels`)."""
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
    if properties is not None:
        _check_json_dict({"properties": properties}, "properties")
    label_meta: dict = {"version": NGFF_VERSION, "source": {"image": "../../"}}
    if colors is not None:
        label_meta["colors"] = [
            {"label-value": int(v), "rgba": [int(c) for c in rgba]} for v, rgba in sorted(colors.items())
        ]
    if properties is not None:
        label_meta["properties"] = [dict(p, **{"label-value": int(p["label-value"])}) for p in properties]
    return label_meta


def write_labels(
    plate: Path,
    key: FieldKey,
    name: str,
    labels,
    *,
    properties: list[dict] | None = None,
    colors: dict[int, tuple[int, int, int, int]] | None = None,
    attrs: dict | None = None,
    scale_um: dict | None = None,
    translation_um: dict | None = None,
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
        0 = background. (Y, X) must match the field (or the grid of `scale_um`); a (Y, X)
        mask is stored with the axes y, x alone (NGFF viewers such as napari show it on every
        slice of the stack). (Z, Y, X) must match the field's Z too.
    properties : list of dict, optional
        One dict per label, each with an int ``"label-value"`` plus JSON values.
    colors : dict of int to (r, g, b, a), optional
        Display colour per label value, 0–255 each.
    attrs : dict, optional
        Stored under the ``"ames"`` key of the label group's attributes.
    scale_um, translation_um : dict, optional
        ``y``, ``x`` µm per pixel and µm position of the first pixel centre of a grid coarser
        than the field's (labels made at the working scale are written there: no more
        resolution than they have); default the field's own grid.

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
    ``(Z, c, c)``: the field's chunk size, at least ``DERIVED_CHUNK_MIN_PX``. Written to
    ``labels/.<name>.tmp-<uuid>`` and renamed into place when complete; an old label image of
    that name is removed only then, together with the tables annotating it (``region.path`` =
    ``../labels/<name>``) and the plate tables of the same names. The ``labels`` group lists the names and carries ``"version": "0.5"``.
    """
    label_meta = _image_label_meta(properties, colors)
    field_dir, tmp = _stage_labels(plate, key, name, labels, label_meta, attrs, scale_um, translation_um)
    _place(Path(plate), field_dir, {name: tmp})


def _stage_labels(plate: Path, key: FieldKey, name: str, labels, label_meta: dict, attrs: dict | None,
                  scale_um: dict | None = None, translation_um: dict | None = None) -> tuple[Path, Path]:
    """Check `labels` against the field and write them complete into a hidden temporary group.

    Returns the field directory and the temporary group, for `_place`.
    """
    _check_name(name)
    if not isinstance(labels, (np.ndarray, da.Array)):
        raise TypeError(f"`labels` must be a numpy or dask array; got {type(labels).__name__}")
    if labels.dtype != np.uint32:
        raise ValueError(f"`labels` dtype must be uint32 (0 = background); got {labels.dtype}")
    if labels.ndim not in (2, 3):
        raise ValueError(f"`labels` must be (Y, X) or (Z, Y, X); got shape {labels.shape}")
    _check_json_dict(attrs, "attrs")

    field_dir = _field_dir(plate, key)
    (_, nz, ny, nx), field_scale, levels, chunk_yx = _field_geometry(field_dir)
    if scale_um is not None:  # a coarser grid over the same field of view
        grid = {a: float(scale_um[a]) for a in "yx"}
        if any(grid[a] < field_scale[a] * (1 - 1e-6) for a in "yx"):
            raise ValueError(f"`scale_um` {grid} must not be finer than the field's {field_scale}")
        ny, nx = (max(1, int(round(n * field_scale[a] / grid[a]))) for n, a in ((ny, "y"), (nx, "x")))
        field_scale = {**field_scale, **grid}
    if labels.shape[-2:] != (ny, nx) or (labels.ndim == 3 and labels.shape[0] != nz):
        want = f"(Y, X) = {(ny, nx)} or (Z, Y, X) = {(nz, ny, nx)}"
        raise ValueError(f"`labels` shape must match field {key.path}: {want}; got {labels.shape}")
    data = labels
    # a (Y, X) mask keeps its two axes: viewers show it on every slice of the stack, and it is
    # not written Z times over (measured: 80 % of a demo field's writing)
    axes = ("z", "y", "x")[-data.ndim:]

    labels_dir = field_dir / "labels"
    final = labels_dir / name
    tmp = ms.temp_dir_for(final)
    try:
        pending = ms.create_multiscale(
            tmp,
            data,
            axes=axes,
            scale_um=field_scale,
            chunks=data.shape[:-2] + (max(chunk_yx, ms.DERIVED_CHUNK_MIN_PX),) * 2,
            method="nearest",
            levels=levels,
            name=name,
            extra_ome={"image-label": label_meta},
            extra_attrs={"ames": dict(attrs)} if attrs else None,
            origin_um=translation_um,
            compressor=ms.LABEL_COMPRESSOR,
        )
        ms.store(pending, compute=True)
    except BaseException:
        ms.discard(tmp)
        raise
    return field_dir, tmp


def _place(plate: Path, field_dir: Path, staged: Mapping[str, Path], *, stale: tuple[str, ...] = ()) -> None:
    """Move the complete label images `staged` (name -> temporary group) to ``labels/<name>``
    and list them, in one locked step.

    The tables of the old images go first (a table must not outlive its labels, not even for a
    moment), and so do the label images named in `stale` (with their tables).
    """
    from ._tables import _drop_region_tables  # _tables imports this module

    labels_dir = field_dir / "labels"
    trash = []
    with _metadata_lock(plate):
        for old in (*staged, *stale):
            _drop_region_tables(plate, field_dir, old)
        for old in stale:
            if (labels_dir / old).is_dir():
                trash.append(ms.temp_dir_for(labels_dir / old))
                (labels_dir / old).rename(trash[-1])
        for name, tmp in staged.items():
            _move_into_place(tmp, labels_dir / name)
        group_attrs = _read_attrs(labels_dir) if (labels_dir / "zarr.json").exists() else {}
        names = [n for n in group_attrs.get("ome", {}).get("labels", []) if n not in stale]
        names += [n for n in staged if n not in names]
        _write_group_attrs(labels_dir, {"ome": {"version": NGFF_VERSION, "labels": names}})
    for old in trash:
        ms.discard(old)


def list_labels(plate: Path, key: FieldKey) -> list[str]:
    """Names of the label images of a field (as listed in its ``labels`` group), [] if none."""
    labels_dir = _field_dir(plate, key) / "labels"
    if not (labels_dir / "zarr.json").is_file():
        return []
    names = _read_attrs(labels_dir).get("ome", {}).get("labels", [])
    return [n for n in names if (labels_dir / n / "zarr.json").is_file()]


def _existing_labels(plate: Path, key: FieldKey, name: str) -> Path:
    """The directory of label image `name` of a field; KeyError naming what exists if it is not listed."""
    _check_name(name)
    if name not in list_labels(plate, key):
        raise KeyError(f"{plate}: field {key.path} has no labels {name!r}; it has {list_labels(plate, key)}")
    return _field_dir(plate, key) / "labels" / name


def read_label_properties(plate: Path, key: FieldKey, name: str) -> list[dict]:
    """The image-label ``properties`` of a label image (each with ``"label-value"``), [] if none.

    One small JSON read, no array opened: what a rerun over a rated plate needs per field.

    Raises
    ------
    NotAPlateError
        If the plate is missing.
    KeyError
        If the field or label image does not exist.
    """
    attrs = _read_attrs(_existing_labels(plate, key, name))
    return list(attrs.get("ome", {}).get("image-label", {}).get("properties", []))


def read_labels(plate: Path, key: FieldKey, name: str, *, on_field_grid: bool = False
                ) -> tuple[xr.DataArray, list[dict]]:
    """Open a label image lazily with its properties.

    Parameters
    ----------
    plate : Path
    key : FieldKey
    name : str
    on_field_grid : bool
        Bring labels stored on a coarser grid (see `write_labels`) to the field's own grid
        (nearest neighbour, eager); labels already there come back as they are.

    Returns
    -------
    labels : xarray.DataArray
        Dask-backed uint32, dims ``("z", "y", "x")``, ``attrs["scale_um"]`` and
        ``attrs["translation_um"]`` (µm position of the first pixel centre). A mask written
        as (Y, X) (stored with axes y, x) comes with one z plane and no z scale.
    properties : list of dict
        The image-label ``properties`` (each with ``"label-value"``), [] if none.

    Raises
    ------
    NotAPlateError
        If the plate is missing.
    KeyError
        If the field or label image does not exist.
    """
    field_dir = _field_dir(plate, key)
    data, axes, scale_um, translation_um, attrs = ms.read_multiscale(_existing_labels(plate, key, name), 0)
    props = list(attrs["ome"].get("image-label", {}).get("properties", []))
    if axes == ("y", "x"):  # a mask: the same cells on every slice
        data, axes = data[None], ("z", "y", "x")
    if on_field_grid:
        (_, _, ny, nx), field_scale, _, _ = _field_geometry(field_dir)
        if data.shape[-2:] != (ny, nx):
            data = da.from_array(np.stack([
                upsample_labels(plane, (ny, nx), pixel_size_um=field_scale["x"], labels_pixel_size_um=scale_um["x"])
                for plane in np.asarray(data)]))
            scale_um, translation_um = {**scale_um, **{a: field_scale[a] for a in "yx"}}, {**translation_um, "y": 0.0, "x": 0.0}
    return xr.DataArray(data, dims=axes, attrs={"scale_um": scale_um, "translation_um": translation_um}), props


def _stage_copy(source: Path, name: str, label_meta: dict) -> Path:
    """A temporary label image `name` beside `source`: its voxels (the compressed chunks copied)
    with other image-label metadata."""
    tmp = ms.temp_dir_for(source.parent / name)
    try:
        shutil.copytree(source, tmp)
        meta = _read_attrs(tmp)
        meta["ome"]["image-label"] = label_meta
        meta["ome"]["multiscales"][0]["name"] = name
        _write_group_attrs(tmp, meta)
    except BaseException:
        ms.discard(tmp)
        raise
    return tmp


def write_cell_labels(
    plate: Path,
    key: FieldKey,
    labels,
    rows: list[dict],
    *,
    name: str = "cells",
    colours_by_task: Mapping[str, Mapping[str, tuple[int, int, int, int]]] = RATING_COLOURS,
    attrs: dict | None = None,
    scale_um: dict | None = None,
    translation_um: dict | None = None,
) -> list[str]:
    """Write a field's cell labels with their rows, and one colouring per further rated task.

    Parameters
    ----------
    plate : Path
        Plate directory.
    key : FieldKey
        An existing field.
    labels : (Y, X) or (Z, Y, X) ndarray or dask array of uint32
        The cells, as in `write_labels`.
    rows : list of dict
        One JSON-serialisable dict per cell with an int ``"label"`` and the ratings by task
        (class names, e.g. ``"3"``, ``"adult"``; None when not rated), e.g. the run's CSV rows.
    name : str
        Label image name.
    colours_by_task : mapping of task to {class name: (r, g, b, a)}
        Display colours; the first task colours `name`, each further one its own image.
    attrs : dict, optional
        Stored under ``"ames"`` of every label image written.
    scale_um, translation_um : dict, optional
        The grid of `labels` when coarser than the field's, as in `write_labels`.

    Returns
    -------
    names : list of str
        The label images written: `name` first, then ``<name>-<task>`` per further task that
        some row rates.

    Raises
    ------
    TypeError, ValueError
        As `write_labels`, or if a row lacks an int ``"label"``.
    NotAPlateError, KeyError
        If the plate or field is missing.

    Notes
    -----
    `name` holds every row as its label properties. ``<name>-<task>`` is a copy of its voxels
    (the compressed chunks, not recomputed) whose properties are the label value and that
    task's rating. A class without a colour (None, unrated) is grey. napari-ome-zarr shows each
    label image as a labels layer with these colours and the properties as layer features.
    All are written to temporary groups first and moved into place in one locked step, which
    first moves the old ``<name>-<task>`` images of `colours_by_task` aside: an interrupted
    step leaves fewer colourings, never an old one beside new labels; a failed write keeps the
    old ones all.
    """
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise TypeError("`rows` must be a list of dicts, one per cell")
    for r in rows:
        v = r.get("label")
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"each of `rows` needs an int 'label'; got {r!r}")
    tasks = list(colours_by_task)
    if not tasks:
        raise ValueError("`colours_by_task` must name at least one task")

    def colouring(task: str) -> dict:
        return {int(r["label"]): tuple(colours_by_task[task].get(str(r.get(task)), UNRATED_COLOUR)) for r in rows}

    properties = [{"label-value": int(r["label"]), **r} for r in rows]
    first = _image_label_meta(properties or None, colouring(tasks[0]) or None)
    further = {
        f"{name}-{task}": _image_label_meta([{"label-value": int(r["label"]), task: r.get(task)} for r in rows],
                                            colouring(task))
        for task in tasks[1:] if any(r.get(task) is not None for r in rows)
    }
    field_dir, tmp = _stage_labels(plate, key, name, labels, first, attrs, scale_um, translation_um)
    staged = {name: tmp}
    try:
        for copy, label_meta in further.items():
            staged[copy] = _stage_copy(tmp, copy, label_meta)
    except BaseException:
        for t in staged.values():
            ms.discard(t)
        raise
    # one lock and one listing write for all; the old colourings go aside before the new labels
    # come in, so a reader may find fewer colourings for a moment, never an old one beside them
    _place(Path(plate), field_dir, staged, stale=tuple(f"{name}-{task}" for task in tasks[1:]))
    return [name, *further]
