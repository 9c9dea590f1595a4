"""Rate a group of fields: segment, measure, prepare, predict in one batch, explain, write outputs.

The rater is anything that implements ``ames_batch.nn.Rater``; this module never asks which
kind it holds. A group of a few fields is the unit of work: its cells share model batches
(keeping the model busy), and its memory is freed before the next group, so a plate streams
in bounded memory. When a group's batch fails, its fields are rated one by one, so only the
culprit is marked ``error``. The same function runs in-process or as one task on a
dask.distributed worker.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .._lazy import xr
from .. import __version__
from ..io import (FieldKey, list_heatmaps, read_label_properties, remove_heatmap, set_field_attributes,
                  write_cell_labels, write_cell_table, write_heatmap)
from ..image import CLIP_BAND
from ..nn import Rating
from ..segment import segment_cells
from ._cells import CELL_MARGIN_UM, SATURATED_CELL_SHARE, CellRecord, extract_cells, prepare_cells, records_table
from ._field_input import SATURATED_SHARE, read_field_data
from ._memory import release_free_memory

__all__ = ["CELL_LABELS", "ORGANISED", "FieldGroup", "FieldResult", "RunSettings", "predict_group", "prepare_group",
           "rate_fields", "rows_from_labels", "write_group"]

log = logging.getLogger("ames_batch")

CELL_LABELS = "cells"
#: The metrics' organised map: a heatmap the pipeline makes for any rater.
ORGANISED = "organised"


def pipeline_settings() -> dict:
    """What the pipeline itself does to a field before any rater sees it (for the skip signature)."""
    segmentation = {name: p.default for name, p in inspect.signature(segment_cells).parameters.items()
                    if p.default is not inspect.Parameter.empty}
    return {"segmentation": segmentation, "cell_margin_um": CELL_MARGIN_UM, "saturated_share": SATURATED_SHARE,
            "clip_band": CLIP_BAND, "saturated_cell_share": SATURATED_CELL_SHARE}


def _settings_digest() -> str:
    return hashlib.sha256(json.dumps(pipeline_settings(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RunSettings:
    """What a run does to each field; its `signature` decides whether a rated field is redone.

    Attributes
    ----------
    model_id : str
        The rater's identity (``name@version#content-digest``).
    explain : tuple of str
        Heatmaps to write.
    channel : str or int or None
        The stain channel as the user wrote it (None: the one recorded at conversion).
    """

    model_id: str
    explain: tuple[str, ...] = ()
    channel: str | int | None = None

    @classmethod
    def for_rater(cls, rater, *, explain: tuple[str, ...] | None = None, channel: str | int | None = None
                  ) -> "RunSettings":
        """Settings for a rater (or its ``RaterInfo``); `explain` None takes its default heatmaps."""
        methods = tuple(rater.default_explanations if explain is None else explain)
        unknown = sorted(set(methods) - {ORGANISED, *rater.explanations})
        if unknown:
            offered = [*rater.explanations, ORGANISED]
            raise ValueError(f"{rater.name} makes no {unknown} heatmap; run with --explain from {offered} or none")
        return cls(model_id=rater.identity, explain=methods, channel=channel)

    @property
    def signature(self) -> dict:
        """The record a rated field keeps: same model, heatmaps, channel, release and settings = skip."""
        return {"model": self.model_id, "explain": list(self.explain), "channel": self.channel,
                "ames_batch": ".".join(__version__.split(".")[:2]), "settings": _settings_digest()}


@dataclass
class FieldResult:
    """Outcome of one field: status ``ok``, ``no cells``, ``skipped`` or ``error: <why>``, and CSV rows."""

    key: FieldKey
    status: str
    rows: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status.startswith("error")


@dataclass
class _Field:
    """One field while its group is rated: its working grid and its cells, no field-sized array.

    A worker process sent each prepared field's MIP and labels through a pipe (13.7 MB per demo
    field; the run only needs their grid): the labels are rebuilt from the cells (`labels`).
    """

    key: FieldKey
    shape: tuple[int, int]  # (Y', X') of the working grid
    scale_um: dict  # of the working grid (``z`` as in the field)
    translation_um: dict
    cells: list[CellRecord]
    stack_shape: tuple[int, ...] | None = None

    def labels(self) -> np.ndarray:
        """(Y', X') uint32 cell labels on the working grid, from each cell's box and mask (every
        label of the segmentation is a cell)."""
        labels = np.zeros(self.shape, np.uint32)
        for c in self.cells:
            labels[c.bbox][c.mask] = c.label
        return labels


def prepare_field(plate: Path, key: FieldKey, settings: RunSettings, preparer, *, with_stack: bool) -> _Field:
    """Read, segment, measure and prepare one field: ready to rate.

    Parameters
    ----------
    plate : Path
    key : FieldKey
    settings : RunSettings
    preparer : callable
        The rater's ``preparer(cell, field)`` (picklable, no model inside: this runs in worker
        processes as well as in the run's own).
    with_stack : bool
        Read the (Z, Y, X) stack for `preparer` (the rater's ``needs_stack``).
    """
    data = read_field_data(plate, key, channel=settings.channel, with_stack=with_stack)
    labels = segment_cells(data.mip, data.pixel_size_um)
    cells = prepare_cells(extract_cells(data, labels, keep_organised=ORGANISED in settings.explain), data, preparer)
    # A field waiting to be rated or written keeps no (Z, Y, X) stack (130 MB per demo field):
    # only its shape, for the 3D heatmaps.
    stack_shape = None if data.stack is None else data.stack.shape
    return _Field(data.key, data.mip.shape, data.scale_um, data.translation_um, cells, stack_shape)


def _predict(rater, cells: list[CellRecord], settings: RunSettings):
    """The rater's ``Rating`` of `cells` (one batch) with the heatmaps it makes."""
    return rater.rate([c.prepared for c in cells], tuple(m for m in settings.explain if m != ORGANISED))


def _split_batch(fields: list[_Field], rating: Rating) -> list[Rating]:
    """Per field: its slice of the group's rating."""
    out, end = [], 0
    for f in fields:
        first, end = end, end + len(f.cells)
        out.append(Rating({t: p[first:end] for t, p in rating.probabilities.items()},
                          {m: e[first:end] for m, e in rating.explanations.items()}, rating.columns[first:end]))
    return out


def _model_grid(explanations, dims: tuple[str, ...]) -> dict[str, int]:
    """Field pixels per heatmap pixel along each space axis of `dims`: the power of two nearest
    the model's input pixel (a map has no finer detail than that; measured: written on the
    working grid, a demo field's Grad-CAM took 0.86 s of its 1.3 s)."""
    yx = np.median([np.sqrt(abs(np.linalg.det(e.placement.matrix[-2:, -2:]))) for e in explanations])
    steps = {"y": yx, "x": yx}
    if "z" in dims:  # the crop's z-step in field planes (rotations stay in the y/x plane)
        steps["z"] = np.median([abs(e.placement.matrix[0, 0]) for e in explanations])
    return {a: 2 ** max(0, int(round(np.log2(steps[a])))) for a in dims if a in steps}


def _heatmap(f: _Field, method: str, explanations, tasks) -> xr.DataArray:
    """A heatmap, one channel per task (or one "organised" channel): the organised map on the
    working grid (the metrics' own), a model's maps on the power-of-two coarsening of the
    working grid (and of the stack's z) nearest the model's input voxel. Maps of known bounds
    (the organised map, Grad-CAM) say so in ``attrs["value_range"]``: they are stored in 8 bits."""
    if method == ORGANISED:
        planes = np.zeros((1, *f.shape), np.float32)
        for c in f.cells:
            planes[0][c.bbox][c.organised] = 1.0
        names, dims = [ORGANISED], ("c", "y", "x")
        grid, bounds = {"y": 1, "x": 1}, (0.0, 1.0)
    else:
        three_d = explanations and next(iter(explanations[0].maps.values())).ndim == 3
        shape = f.stack_shape if three_d else f.shape
        names, dims = list(tasks), ("c", "z", "y", "x") if three_d else ("c", "y", "x")
        grid = _model_grid(explanations, dims[1:])
        step = tuple(grid[a] for a in dims[1:])
        ranges = {e.value_range for e in explanations}
        bounds = ranges.pop() if len(ranges) == 1 else None
        # filled in place: stacking per-task planes copied a 3D demo map's 50 MB per field
        planes = np.zeros((len(names), *(n // g for n, g in zip(shape, step))), np.float32)
        for plane, task in zip(planes, tasks):
            for e in explanations:  # cells may overlap in their boxes: the stronger value wins
                placed = e.placement.to_region(e.maps[task], shape, step=step)
                box = plane[e.placement.region_on(step, shape)]
                np.copyto(box, placed, where=np.abs(placed) > np.abs(box))
    scale = {a: f.scale_um[a] * grid[a] for a in dims[1:]}
    origin = {a: f.translation_um.get(a, 0.0) + (grid[a] - 1) / 2 * f.scale_um[a] for a in dims[1:]}
    attrs = {"scale_um": scale, "translation_um": origin} | ({"value_range": bounds} if bounds else {})
    return xr.DataArray(planes, dims=dims, coords={"c": names}, attrs=attrs)


def _rows(f: _Field, rater, rating: Rating, stamp: str) -> list[dict]:
    provenance = {"model": rater.name, "model_version": rater.version, "run_timestamp": stamp, "status": "ok"}
    return records_table(f.cells, probabilities=rating.probabilities, tasks=rater.tasks,
                         columns=[{**provenance, **c} for c in rating.columns])


def _write(plate: Path, f: _Field, rows: list[dict], heatmaps: dict, settings: RunSettings, stamp: str):
    key = f.key
    # on the working grid: they have no finer detail (napari and other NGFF viewers place them by scale)
    write_cell_labels(plate, key, f.labels(), rows, name=CELL_LABELS, attrs={"run": settings.signature},
                      scale_um={a: f.scale_um[a] for a in "yx"}, translation_um=f.translation_um)
    write_cell_table(plate, key, pd.DataFrame(rows), name=CELL_LABELS, region=CELL_LABELS)
    for method, heatmap in heatmaps.items():
        write_heatmap(plate, key, method, heatmap, attrs={"method": method, **settings.signature})
    # an earlier run's heatmap of another method would no longer match these labels
    for stale in set(list_heatmaps(plate, key)) - set(heatmaps):
        remove_heatmap(plate, key, stale)
    # The run record goes last: a field counts as rated only once all its outputs are in place.
    set_field_attributes(plate, key, {"run": {**settings.signature, "status": "ok" if rows else "no cells",
                                              "n_cells": len(rows), "timestamp": stamp}})


@dataclass
class FieldGroup:
    """A group of fields on its way through a run: read and prepared, rated, written."""

    keys: list[FieldKey]
    fields: dict[FieldKey, _Field] = field(default_factory=dict)
    ratings: dict[FieldKey, Rating] = field(default_factory=dict)
    results: dict[FieldKey, FieldResult] = field(default_factory=dict)


def _prepared_or_error(plate: Path, key: FieldKey, settings: RunSettings, preparer, with_stack: bool):
    """`prepare_field` in a worker process; the error instead of raising it (one bad field never
    stops the plate), and the worker's freed heap handed back (it prepares field after field)."""
    try:
        return prepare_field(plate, key, settings, preparer, with_stack=with_stack)
    except Exception as error:
        return error
    finally:
        release_free_memory()


def _submit(processes, plate: Path, keys: list[FieldKey], rater, settings: RunSettings) -> dict:
    """Each key's `prepare_field` future in `processes`; {} when there are none or they broke."""
    if processes is None:
        return {}
    plate = Path(plate).resolve()  # workers kept from an earlier run may sit in another directory
    try:
        return {k: processes.submit(_prepared_or_error, plate, k, settings, rater.preparer, rater.needs_stack)
                for k in keys}
    except (BrokenExecutor, RuntimeError) as error:  # broken, or shut down
        log.warning("preparing in worker processes failed (%s); preparing in this process", error)
        return {}


def prepare_group(plate: Path, keys: list[FieldKey], rater, settings: RunSettings, *, threads: int = 1,
                  processes: Executor | None = None, ahead: Sequence[FieldKey] = (),
                  submitted: dict | None = None) -> FieldGroup:
    """Read, segment, measure and prepare each field of a group (CPU, no model pass).

    Fields are prepared (`prepare_field`, with the rater's picklable `preparer`) in `processes`
    when given, an executor of worker processes (a process per core keeps both of 2 cores busy:
    threads share the GIL, measured 1.2x on 2 cores at demo scale, processes 1.4x), else up to
    `threads` at once here. A field whose worker died is prepared here instead.

    `ahead`: fields of later groups to submit to `processes` now, so that more workers than a
    group has fields stay busy; `submitted`: the futures of fields submitted by earlier calls,
    taken from and added to in place (a run's calls share one dict).
    """
    submitted = {} if submitted is None else submitted
    submitted.update(_submit(processes, plate, [k for k in (*keys, *ahead) if k not in submitted], rater, settings))
    pending = {k: submitted.pop(k) for k in keys if k in submitted}

    def prepare(key):
        try:
            if key in pending:
                try:
                    return pending[key].result()  # the field, or its error
                except BrokenExecutor as error:  # a worker died (killed, out of memory): prepare here
                    log.warning("field %s: its worker process died (%s); preparing it in this process",
                                key.path, type(error).__name__)
            return prepare_field(plate, key, settings, rater.preparer, with_stack=rater.needs_stack)
        except Exception as error:  # one bad field never stops the plate
            return error

    group = FieldGroup(list(keys))
    workers = 1 if pending else max(1, threads)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ames-prepare") as pool:
        for key, outcome in zip(keys, pool.map(prepare, keys)):  # in key order
            if isinstance(outcome, Exception):
                group.results[key] = _error(key, outcome)
            else:
                group.fields[key] = outcome
    return group


def predict_group(group: FieldGroup, rater, settings: RunSettings) -> FieldGroup:
    """Rate all cells of the group in one batch; if it fails, field by field (only the culprit fails)."""
    ready = [f for f in group.fields.values() if f.cells]
    if not ready:
        return group
    try:
        rating = _predict(rater, [c for f in ready for c in f.cells], settings)
        group.ratings = {f.key: part for f, part in zip(ready, _split_batch(ready, rating))}
    except Exception as error:  # the group's batch failed: find the culprit field by field
        log.warning("a batch of %d fields failed (%s: %s); rating them one by one", len(ready),
                    type(error).__name__, error)
        for f in ready:
            try:
                group.ratings[f.key] = _predict(rater, f.cells, settings)
            except Exception as field_error:
                group.results[f.key] = _error(f.key, field_error)
    return group


def write_group(plate: Path, group: FieldGroup, rater, settings: RunSettings) -> list[FieldResult]:
    """Write each rated field's labels, tables, heatmaps and (last) run record; results in key order."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for key, f in group.fields.items():
        if key in group.results:
            continue
        try:
            rating = group.ratings.get(key)
            rows = _rows(f, rater, rating, stamp) if f.cells else []
            heatmaps = ({m: _heatmap(f, m, rating.explanations.get(m), rater.tasks) for m in settings.explain}
                        if rows else {})
            _write(plate, f, rows, heatmaps, settings, stamp)
            group.results[key] = FieldResult(key, "ok" if rows else "no cells", rows)
        except Exception as error:
            group.results[key] = _error(key, error)
    return [group.results[k] for k in group.keys]


def rate_fields(plate: Path, keys: list[FieldKey], rater, settings: RunSettings) -> list[FieldResult]:
    """Rate a group of fields and write their labels, heatmaps and run records into the plate.

    Parameters
    ----------
    plate : Path
        The plate (already validated and locked by the caller).
    keys : list of FieldKey
        Fields of this group.
    rater : ames_batch.nn.Rater
        Any kind of loaded rater.
    settings : RunSettings
        Its identity, the heatmaps to write, the channel.

    Returns
    -------
    list of FieldResult
        One per key, in order. A field that fails gets ``status="error: <why>"`` and leaves its
        previous outputs untouched; the others go on.

    Notes
    -----
    :func:`prepare_group`, :func:`predict_group` and :func:`write_group` in turn; a run on one
    machine overlaps them across groups (``run_plate``).
    """
    group = predict_group(prepare_group(plate, keys, rater, settings), rater, settings)
    return write_group(plate, group, rater, settings)


def _error(key: FieldKey, error: Exception) -> FieldResult:
    reason = f"{type(error).__name__}: {error}".replace("\n", " ")
    log.error("field %s: %s", key.path, reason)
    return FieldResult(key, f"error: {reason}")


def rows_from_labels(plate: Path, key: FieldKey) -> list[dict]:
    """CSV rows of an already-rated field, rebuilt from its ``cells`` label properties (one small
    JSON read per field: a rerun over a rated plate stays fast)."""
    return [{k: v for k, v in p.items() if k != "label-value"} for p in read_label_properties(plate, key, CELL_LABELS)]
