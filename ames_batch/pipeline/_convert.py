"""``ames-batch convert``: vendor SIM files -> fields of an OME-Zarr HCS plate, cron-safe."""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .._logging import progress
from ..errors import NotAPlateError
from ..io import (
    FieldKey,
    Placement,
    field_attributes,
    file_digest,
    image_files,
    list_fields,
    list_images,
    parse_well,
    place_by_pattern,
    plate_lock,
    read_image,
    read_layout,
    resolve_channel,
    well_in_order,
    write_csv_atomic,
    write_field,
)

__all__ = ["ConvertReport", "convert_files", "MAPPING_CSV"]

log = logging.getLogger("ames_batch")

MAPPING_CSV = "convert_mapping.csv"
_MAPPING_COLUMNS = ["file", "scene", "timepoint", "well", "field", "sha256"]
_TEMP_RE = re.compile(r"^\..+\.(tmp|old)-[0-9a-f]{32}$")  # io.write_field's hidden groups


@dataclass
class ConvertReport:
    """Outcome of one ``convert_files`` call.

    Attributes
    ----------
    converted : list of FieldKey
        Fields written by this call, in order.
    skipped : list of tuple (Path, FieldKey)
        Images already in the plate (same content hash, scene and timepoint) and where they are.
    failed : list of tuple (Path, str)
        Files (or their images) that could not be converted, with the reason.
    mapping : pandas.DataFrame
        One row per image written by this call: file, scene, timepoint, well, field, sha256.
    """

    converted: list[FieldKey] = field(default_factory=list)
    skipped: list[tuple[Path, FieldKey]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    mapping: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_MAPPING_COLUMNS))

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed


def _check_args(inputs, plate, layout, pattern, channel):
    if isinstance(inputs, (str, Path)) or not hasattr(inputs, "__iter__"):
        raise TypeError(f"`inputs` must be a list of paths; got {type(inputs).__name__}")
    given = [Path(p) for p in inputs]
    if not given:
        raise ValueError("`inputs` is empty; give at least one file")
    # a folder stands for its image files; a file given twice is converted once
    inputs = list(dict.fromkeys(f for path in given for f in (image_files(path) if path.is_dir() else [path])))
    if not inputs:
        raise ValueError(f"no image files in {', '.join(map(str, given))} (known suffixes: CZI, DV, ND2, TIFF, ...)")
    if not isinstance(plate, (str, Path)):
        raise TypeError(f"`plate` must be a path; got {type(plate).__name__}")
    if layout is not None and pattern is not None:
        raise ValueError("give either `layout` or `pattern`, not both")
    regex = None
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"`pattern` {pattern!r} is not a valid regex: {err}") from None
        if not ({"row", "column"} <= set(regex.groupindex) or "well" in regex.groupindex):
            raise ValueError(f"`pattern` {pattern!r} needs named groups (?P<row>)(?P<column>) or (?P<well>)")
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, (str, int))):
        raise TypeError(f"`channel` must be a name (str), an index (int) or None; got {type(channel).__name__}")
    if isinstance(channel, int) and channel < 0:
        raise ValueError(f"`channel` index must be >= 0; got {channel}")
    return inputs, Path(plate), regex


def _stain_channel(names: list[str], channel: str | int | None, path: Path) -> tuple[int, str]:
    """Index and name of the stain channel (``io.resolve_channel``: a name first, then an index)."""
    if channel is None and len(names) > 1:
        log.warning("%s: %d channels %s and no --channel; taking %r as the stain",
                    path, len(names), names, names[0])
    index = resolve_channel(names, channel)
    return index, names[index]


def _discard_stale_temps(plate: Path) -> None:
    """Remove what a killed writer left half-done (we hold the lock, so nobody else writes).

    ``io`` writes a field to ``<well>/.<field>.tmp-<uuid>`` (an old one parks as ``.old-``) and
    group metadata to ``.zarr.json.tmp-<uuid>``; the mapping CSV likewise.
    """
    for pattern in ("*", "*/*", "*/*/*"):
        for node in plate.glob(pattern):
            if not _TEMP_RE.match(node.name):
                continue
            log.info("removing %s left by an interrupted run", node)
            if node.is_dir():
                shutil.rmtree(node, ignore_errors=True)
            else:
                node.unlink(missing_ok=True)


def _existing(plate: Path) -> tuple[dict[tuple, FieldKey], dict[FieldKey, str], set[str], dict[tuple, str]]:
    """Fields already in the plate: by source identity, by key, the wells in use, and the
    SHA-256 of each source file by (path, size, mtime) (``file_digest``'s `known`)."""
    by_identity: dict[tuple, FieldKey] = {}
    by_key: dict[FieldKey, str] = {}
    hashed: dict[tuple, str] = {}
    if not (plate / "zarr.json").is_file():
        if any(not p.name.startswith(".") for p in plate.iterdir()):
            raise NotAPlateError(f"{plate}: not an NGFF HCS plate and not empty; choose a new output path")
        return by_identity, by_key, set(), hashed
    for key in list_fields(plate):
        source = field_attributes(plate, key).get("source", {})
        by_key[key] = source.get("path", "?")
        if "sha256" in source:
            by_identity[(source["sha256"], source.get("scene_index"), source.get("timepoint"))] = key
            if "mtime_ns" in source:  # plates converted before 2026-12-07 have none: hashed again
                hashed[(source["path"], source["size_bytes"], source["mtime_ns"])] = source["sha256"]
    return by_identity, by_key, {k.well for k in by_key}, hashed


def _placement(path: Path, layout: dict | None, regex, used_wells: set[str], n_auto: list[int]) -> Placement:
    if layout is not None:
        for name in (str(path.resolve()), path.name):
            if name in layout:
                return layout[name]
        raise ValueError("not listed in the layout CSV")
    if regex is not None:
        return place_by_pattern(path.name, regex)
    while well_in_order(n_auto[0]) in used_wells:
        n_auto[0] += 1
    return Placement(well_in_order(n_auto[0]), 0)


def convert_files(
    inputs: list[Path],
    plate: Path,
    *,
    layout: Path | None = None,
    pattern: str | None = None,
    channel: str | int | None = None,
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
) -> ConvertReport:
    """Convert vendor microscopy files into fields of an OME-Zarr HCS plate.

    Parameters
    ----------
    inputs : list of Path
        Files in any format a bioio plugin reads (CZI, DV, ND2, OME-TIFF, TIFF, PNG, AVI),
        or folders: a folder stands for the image files below it (``io.image_files``, sorted;
        hidden entries and ``*.zarr`` folders left out). Every scene, and every timepoint of a
        series, becomes one field.
    plate : Path
        Plate directory; created if missing, extended if present.
    layout : Path, optional
        CSV ``file, well, field[, acquisition]``: the file's first image goes there, further
        scenes/frames to the next field numbers.
    pattern : str, optional
        Regex on the file name with named groups ``row``+``column`` (or ``well``) and an
        optional ``field``. With neither `layout` nor `pattern`, each new file takes the next
        empty well (A/1, A/2, ... rows of 12), its images fields 0, 1, ...
    channel : str or int, optional
        Name or index of the sarcomere (alpha-actinin) channel (a str of digits that is not
        a channel name, e.g. ``"1"``, is an index; DV names like ``"525"`` match first); recorded as
        ``stain_channel`` in the field attributes; all channels are kept. Default: channel 0
        (with a warning when a file has several).
    pixel_size_um, z_step_um : float, optional
        Calibration for files that carry none (PNG, plain TIFF, AVI); see ``io.read_image``.

    Returns
    -------
    report : ConvertReport
        Converted, skipped and failed items and the mapping of this call. The whole
        mapping is also kept in ``<plate>/convert_mapping.csv``.

    Raises
    ------
    TypeError, ValueError
        Bad arguments or an unreadable layout CSV (before any work).
    LockedError
        Another process (convert or run) holds the plate lock.
    NotAPlateError
        `plate` exists but is not a plate.

    Notes
    -----
    Cron-safe: a field remembers its source path, size, SHA-256, scene and timepoint; an
    image whose (SHA-256, scene, timepoint) is already in the plate is skipped, so a re-run
    is a no-op. Each field is written to a temporary group and moved into place when
    complete (``io.write_field``); unfinished groups of a killed run are removed under the
    plate lock. A bad file is recorded in ``failed`` and the batch goes on.
    """
    inputs, plate, regex = _check_args(inputs, plate, layout, pattern, channel)
    layout_map = read_layout(Path(layout)) if layout is not None else None
    report = ConvertReport()
    rows = []
    with plate_lock(plate, purpose="convert"):
        _discard_stale_temps(plate)
        by_identity, by_key, used_wells, hashed = _existing(plate)
        n_auto = [0]
        for path in progress(inputs, total=len(inputs), desc="convert"):
            try:
                digest = file_digest(path, hashed)  # a file seen before, unchanged, is not read again
                images = list_images(path)
                known = [by_identity.get((digest["sha256"], im.scene_index, im.timepoint)) for im in images]
                for key in filter(None, known):
                    report.skipped.append((path, key))
                if all(known):
                    log.info("%s: already in the plate (%s); skipped", path, ", ".join(k.path for k in known))
                    continue
                first = next(((i, k) for i, k in enumerate(known) if k), None)
                if first:  # finish a file an interrupted run began, where it began
                    place = Placement(first[1].well, int(first[1].field) - first[0])
                else:
                    place = _placement(path, layout_map, regex, used_wells, n_auto)
                well = parse_well(place.well)
                for offset, (image_ref, done) in enumerate(zip(images, known)):
                    if done:
                        continue
                    key = FieldKey(well, str(place.field + offset))
                    if key in by_key:
                        raise ValueError(f"plate field {key.path} already holds {by_key[key]}")
                    image = read_image(path, scene=image_ref.scene_index, timepoint=image_ref.timepoint,
                                       pixel_size_um=pixel_size_um, z_step_um=z_step_um)
                    index, name = _stain_channel([str(c) for c in image.coords["c"].values], channel, path)
                    source = {**digest, **{k: v for k, v in image.attrs["source"].items() if k != "path"}}
                    attrs = {"source": source, "stain_channel": name, "stain_channel_index": index,
                             "pixel_size_from": image.attrs["pixel_size_from"]}
                    if place.acquisition:
                        attrs["acquisition"] = place.acquisition
                    write_field(plate, key, image, attrs=attrs)
                    by_key[key] = digest["path"]
                    by_identity[(digest["sha256"], image_ref.scene_index, image_ref.timepoint)] = key
                    used_wells.add(well)
                    report.converted.append(key)
                    rows.append({"file": digest["path"], "scene": image_ref.scene,
                                 "timepoint": "" if image_ref.timepoint is None else image_ref.timepoint,
                                 "well": key.well, "field": key.field, "sha256": digest["sha256"]})
                    log.info("%s [%s%s] -> %s", path.name, image_ref.scene,
                             "" if image_ref.timepoint is None else f", t={image_ref.timepoint}", key.path)
            except Exception as err:  # noqa: BLE001 - the per-file loop records the real cause
                reason = str(err) if str(err).startswith(str(path)) else f"{path}: {err}"
                report.failed.append((path, f"{type(err).__name__}: {reason}"))
                log.error("%s", reason)
        report.mapping = pd.DataFrame(rows, columns=_MAPPING_COLUMNS)
        if (plate / "zarr.json").is_file():
            _write_mapping(plate)
    return report


def _write_mapping(plate: Path) -> None:
    """Rebuild ``convert_mapping.csv`` from the fields' own attributes (heals a killed run)."""
    rows = []
    for key in list_fields(plate):
        source = field_attributes(plate, key).get("source")
        if not source:
            continue
        t = source.get("timepoint")
        rows.append({"file": source.get("path", ""), "scene": source.get("scene", ""),
                     "timepoint": "" if t is None else t, "well": key.well, "field": key.field,
                     "sha256": source.get("sha256", "")})
    table = pd.DataFrame(rows, columns=_MAPPING_COLUMNS).astype(str)
    path = plate / MAPPING_CSV
    if path.is_file() and path.read_text(encoding="utf-8") == table.to_csv(index=False):
        return  # a no-op run leaves the plate untouched
    write_csv_atomic(path, table)
