"""The NGFF 0.5 HCS plate: field keys, plate and well metadata, listing and validation.

A plate is a directory holding a zarr v3 group whose ``ome`` attributes carry a ``plate``
description; wells live at ``<row>/<column>`` (``A/1``) and fields at ``<row>/<column>/<field>``
(``A/1/0``), the bioformats2raw naming.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ..errors import NotAPlateError

__all__ = ["FieldKey", "list_fields", "validate_plate"]

NGFF_VERSION = "0.5"
_WELL_RE = re.compile(r"^([A-Z]+)/([1-9][0-9]*)$")
_FIELD_RE = re.compile(r"^[0-9]+$")
_META_LOCK_NAME = ".ames-metadata.lock"  # hidden files named .ames* are ours
_thread_lock = threading.Lock()


class FieldKey(NamedTuple):
    """Address of one field (one image) in a plate.

    Parameters
    ----------
    well : str
        Well path ``"<row>/<column>"``: row letters ``A``..``Z``, ``AA``..; column a positive
        integer without leading zeros, e.g. ``"A/1"``, ``"C/12"``.
    field : str
        Field index inside the well as a decimal string, e.g. ``"0"``.

    Examples
    --------
    >>> FieldKey("B/3", "0").path
    'B/3/0'
    """

    well: str
    field: str

    @property
    def path(self) -> str:
        """Path of the field group relative to the plate root, ``"A/1/0"``."""
        return f"{self.well}/{self.field}"

    @property
    def row(self) -> str:
        """Row name, ``"A"``."""
        return self.well.split("/")[0]

    @property
    def column(self) -> str:
        """Column name, ``"1"``."""
        return self.well.split("/")[1]


def _check_key(key: FieldKey) -> FieldKey:
    """Return `key` as a FieldKey after checking its well and field names."""
    if not isinstance(key, tuple) or len(key) != 2:
        raise TypeError(f"`key` must be a FieldKey(well, field); got {key!r}")
    key = FieldKey(*key)
    if not isinstance(key.well, str) or not _WELL_RE.match(key.well):
        raise ValueError(
            f"`key.well` must look like 'A/1' (row letters, column number); got {key.well!r}"
        )
    if not isinstance(key.field, str) or not _FIELD_RE.match(key.field):
        raise ValueError(f"`key.field` must be a decimal string like '0'; got {key.field!r}")
    return key


def _row_sort_key(name: str) -> tuple[int, str]:
    return (len(name), name)


def _read_attrs(node: Path) -> dict:
    """Attributes of the zarr v3 node stored in directory `node` ({} if none)."""
    with open(node / "zarr.json", encoding="utf-8") as fh:
        meta = json.load(fh)
    return meta.get("attributes", {}) or {}


def _write_group_attrs(node: Path, attributes: dict) -> None:
    """Create or replace the zarr v3 group metadata document of directory `node` atomically."""
    node.mkdir(parents=True, exist_ok=True)
    meta_path = node / "zarr.json"
    meta: dict = {"zarr_format": 3, "node_type": "group"}
    if meta_path.exists():
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
        if meta.get("node_type") != "group":
            raise NotAPlateError(f"{node}: expected a zarr group, found an array")
    meta["attributes"] = attributes
    tmp = node / f".zarr.json.tmp-{uuid.uuid4().hex}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(meta))  # no indent: json's C encoder (indenting is its pure-Python one, ~10x slower)
    os.replace(tmp, meta_path)


@contextlib.contextmanager
def _metadata_lock(plate: Path) -> Iterator[None]:
    """Serialise read-modify-write of plate/well metadata across threads and processes."""
    plate.mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(plate / _META_LOCK_NAME, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _plate_attrs(plate: Path) -> dict:
    """The ``ome`` attributes of `plate`, or raise NotAPlateError naming the reason."""
    plate = Path(plate)
    fix = "; convert it with `ames-batch convert`"
    if not (plate / "zarr.json").is_file():
        reason = "no such directory" if not plate.exists() else "no zarr v3 group (zarr.json) at its root"
        raise NotAPlateError(f"{plate}: not an NGFF 0.5 HCS plate: {reason}{fix}")
    try:
        attrs = _read_attrs(plate)
    except (OSError, ValueError) as exc:
        raise NotAPlateError(f"{plate}: not an NGFF 0.5 HCS plate: unreadable zarr.json ({exc}){fix}") from exc
    ome = attrs.get("ome")
    if not isinstance(ome, dict) or "plate" not in ome:
        raise NotAPlateError(f"{plate}: not an NGFF 0.5 HCS plate: no 'ome.plate' attributes{fix}")
    if ome.get("version") != NGFF_VERSION:
        raise NotAPlateError(
            f"{plate}: not an NGFF 0.5 HCS plate: ome version is {ome.get('version')!r}{fix}"
        )
    return ome


def _ensure_plate(plate: Path, plate_name: str | None) -> None:
    """Create an empty plate group at `plate` if there is none; set its name if given."""
    plate = Path(plate)
    if (plate / "zarr.json").exists():
        _plate_attrs(plate)  # raises if it is something else
        if plate_name is not None:
            with _metadata_lock(plate):
                attrs = _read_attrs(plate)
                attrs["ome"]["plate"]["name"] = plate_name
                _write_group_attrs(plate, attrs)
        return
    if plate.exists() and not plate.is_dir():
        raise NotAPlateError(f"{plate}: not an NGFF 0.5 HCS plate: it is a file; choose a directory path")
    if plate.exists() and any(p for p in plate.iterdir() if not p.name.startswith(".ames")):
        raise NotAPlateError(
            f"{plate}: not an NGFF 0.5 HCS plate: directory exists and is not empty; "
            "choose a new output path"
        )
    with _metadata_lock(plate):
        if (plate / "zarr.json").exists():
            return
        meta = {"columns": [], "rows": [], "wells": [], "field_count": 0, "version": NGFF_VERSION}
        if plate_name is not None:
            meta["name"] = plate_name
        _write_group_attrs(plate, {"ome": {"version": NGFF_VERSION, "plate": meta}})


def _register_field(plate: Path, key: FieldKey) -> None:
    """Add `key` to the well and plate metadata (idempotent); rows/columns kept sorted."""
    with _metadata_lock(plate):
        well_dir = plate / key.well
        well_attrs = _read_attrs(well_dir) if (well_dir / "zarr.json").exists() else {}
        images = well_attrs.get("ome", {}).get("well", {}).get("images", [])
        paths = {im["path"] for im in images} | {key.field}
        images = [{"path": p} for p in sorted(paths, key=int)]
        # the row directory is a plain zarr group too
        if not (plate / key.row / "zarr.json").exists():
            _write_group_attrs(plate / key.row, {})
        _write_group_attrs(well_dir, {"ome": {"version": NGFF_VERSION, "well": {"images": images}}})

        attrs = _read_attrs(plate)
        meta = attrs["ome"]["plate"]
        rows = {r["name"] for r in meta.get("rows", [])} | {key.row}
        cols = {c["name"] for c in meta.get("columns", [])} | {key.column}
        wells = {w["path"] for w in meta.get("wells", [])} | {key.well}
        rows_sorted = sorted(rows, key=_row_sort_key)
        cols_sorted = sorted(cols, key=int)
        meta["rows"] = [{"name": r} for r in rows_sorted]
        meta["columns"] = [{"name": c} for c in cols_sorted]
        well_list = []
        for w in sorted(wells, key=lambda p: (_row_sort_key(p.split("/")[0]), int(p.split("/")[1]))):
            r, c = w.split("/")
            well_list.append({"path": w, "rowIndex": rows_sorted.index(r), "columnIndex": cols_sorted.index(c)})
        meta["wells"] = well_list
        meta["field_count"] = max(int(meta.get("field_count", 0)), len(images))
        meta["version"] = NGFF_VERSION
        _write_group_attrs(plate, attrs)


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename the complete directory `tmp` to `final`, replacing an old `final` only now."""
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex}"
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def list_fields(plate: Path) -> list[FieldKey]:
    """Complete fields of a plate, sorted by row, column and field.

    Parameters
    ----------
    plate : Path
        Plate directory (``*.ome.zarr``).

    Returns
    -------
    keys : list of FieldKey
        Fields named in the well metadata whose image group exists; fields still being
        written (hidden temporary groups) are never listed.

    Raises
    ------
    NotAPlateError
        If `plate` is not an NGFF 0.5 HCS plate.
    """
    plate = Path(plate)
    ome = _plate_attrs(plate)
    keys = []
    for well in ome["plate"].get("wells", []):
        well_dir = plate / well["path"]
        if not (well_dir / "zarr.json").is_file():
            continue
        images = _read_attrs(well_dir).get("ome", {}).get("well", {}).get("images", [])
        for im in images:
            if (well_dir / im["path"] / "zarr.json").is_file():
                keys.append(FieldKey(well["path"], im["path"]))

    def order(k: FieldKey) -> tuple:
        return (_row_sort_key(k.row), int(k.column), int(k.field))

    return sorted(keys, key=order)


def validate_plate(plate: Path) -> None:
    """Check a whole plate against the NGFF 0.5 schema (``ome-zarr-models``).

    Parameters
    ----------
    plate : Path
        Plate directory.

    Raises
    ------
    NotAPlateError
        ``"<path>: not an NGFF 0.5 HCS plate: <reason>; convert it with `ames-batch convert`"``
        if the plate, a well, a field image or its labels break the specification.

    Notes
    -----
    Validates the plate, every well listed in it, every field image listed in the wells and
    their ``labels``; reads metadata only, never voxels.
    """
    import warnings

    import zarr
    from ome_zarr_models.exceptions import ValidationWarning
    from ome_zarr_models.v05.hcs import HCS

    plate = Path(plate)
    _plate_attrs(plate)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ValidationWarning)
            group = zarr.open_group(str(plate), mode="r", zarr_format=3)
            HCS.from_zarr(group)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a valid plate"
        reason = " ".join(str(exc).split())
        if len(reason) > 300:
            reason = reason[:300] + "..."
        raise NotAPlateError(
            f"{plate}: not an NGFF 0.5 HCS plate: {type(exc).__name__}: {reason}; "
            "convert it with `ames-batch convert`"
        ) from exc
