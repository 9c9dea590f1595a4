"""Rate a group of fields: segment, measure, preprocess, predict in one batch, explain, write outputs.

The rating model is a CNN bundle (``RatingModel``: cell images in, heatmaps possible) or an
interpretable metrics model (``MetricsRatingModel``: the cells' sarcomere metrics in, no heatmaps).

A group of a few fields is the unit of work: its cells share model batches (keeping the model
busy), and its memory is freed before the next group, so a plate streams in bounded memory.
The same function runs in-process or as one task on a dask.distributed worker.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from ..io import (FieldKey, list_heatmaps, read_labels, remove_heatmap, set_field_attributes, write_heatmap,
                  write_labels)
from ..metrics import cell_metrics
from ..image import cell_bbox
from ..nn import MetricsRatingModel, RatingModel, cell_input_2d, cell_input_3d
from ..segment import segment_cells
from ..xai import grad_cam, integrated_gradients
from ._field_input import FieldData, read_field_data

__all__ = ["CELL_LABELS", "FieldResult", "RunSettings", "rate_fields", "rows_from_labels"]

log = logging.getLogger("ames_batch")

CELL_LABELS = "cells"
#: Heatmaps of a CNN's decision (need a CNN) and the metrics' organised map (any model).
MODEL_METHODS = ("gradcam", "ig")
EXPLAIN_METHODS = (*MODEL_METHODS, "organised")
#: Label colours by sarcomerisation rating 1..4: red, orange, yellow-green, green (RGBA).
RATING_COLOURS = {"1": (215, 48, 39, 255), "2": (252, 141, 89, 255), "3": (166, 217, 106, 255),
                  "4": (26, 152, 80, 255)}


@dataclass(frozen=True)
class RunSettings:
    """What a run does to each field; its `signature` decides whether a rated field is redone."""

    model_id: str
    explain: tuple[str, ...] = ("gradcam",)
    channel: str | int | None = None
    ig_steps: int = 32
    #: Cells per forward/gradient pass; it bounds the activations in memory (3D: keep it small).
    batch_size: int = 32

    @property
    def signature(self) -> dict:
        return {"model": self.model_id, "explain": list(self.explain), "channel": self.channel,
                "ig_steps": self.ig_steps if "ig" in self.explain else None}


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
class _Prepared:
    data: FieldData
    labels: np.ndarray
    cell_ids: list[int]
    centroids: list[tuple[float, float]]  # px, field frame
    bboxes: list[tuple[slice, slice]]  # field frame
    metrics: list[dict]  # cell_metrics of each cell
    organised: list[np.ndarray]  # each cell's organised map in its bbox (if that heatmap is asked for)
    inputs: list[np.ndarray]  # CNN inputs (none for a metrics model)
    geometries: list  # crop <-> field mapping of each CNN input


def _prepare(plate: Path, key: FieldKey, model: RatingModel | MetricsRatingModel,
             settings: RunSettings) -> _Prepared:
    cnn = isinstance(model, RatingModel)
    three_d = cnn and model.settings.ndim == 3
    data = read_field_data(plate, key, channel=settings.channel, with_stack=three_d)
    labels = segment_cells(data.mip, data.pixel_size_um)
    px = data.pixel_size_um
    out = _Prepared(data, labels, [], [], [], [], [], [], [])
    keep_organised = "organised" in settings.explain
    for cell_id in range(1, int(labels.max()) + 1):
        mask = labels == cell_id
        bbox = cell_bbox(mask, pixel_size_um=(px, px))
        out.cell_ids.append(cell_id)
        out.centroids.append(tuple(float(c) for c in np.argwhere(mask).mean(axis=0)))
        out.bboxes.append(bbox)
        organised = np.zeros(mask[bbox].shape, bool) if keep_organised else None
        out.metrics.append(cell_metrics(data.mip[bbox], mask[bbox], px, organised_out=organised))
        if keep_organised:
            out.organised.append(organised)
        if cnn:
            if three_d:
                x, geometry = cell_input_3d(data.stack, mask, data.scale_um, model.settings)
            else:
                x, geometry = cell_input_2d(data.mip, mask, px, model.settings)
            out.inputs.append(x)
            out.geometries.append(geometry)
    return out


def _heatmaps(model: RatingModel, method: str, inputs: np.ndarray, predicted: dict, settings: RunSettings):
    """Per task, crop-frame maps of the predicted class: {task: (N, *spatial) float32}."""
    out = {}
    for task, classes in model.tasks.items():
        target = model.explain_target(task)
        maps = np.zeros(inputs.shape[:-1], np.float32)
        for k in np.unique(predicted[task]):
            member, unit = target.for_class(int(k))
            which = np.flatnonzero(predicted[task] == k)
            if method == "gradcam":
                maps[which] = grad_cam(member, inputs[which], output=task, class_index=unit,
                                       layer=target.conv_layer, batch_size=settings.batch_size)
            else:
                ig = integrated_gradients(member, inputs[which], output=task, class_index=unit,
                                          steps=settings.ig_steps, batch_size=settings.batch_size)
                maps[which] = ig[..., 0]
        out[task] = maps
    return out


def _field_heatmap(prepared: _Prepared, crop_maps: dict, first: int, model: RatingModel) -> xr.DataArray:
    """Place each cell's crop-frame map into the field frame; one channel per task."""
    data = prepared.data
    three_d = model.settings.ndim == 3
    shape = data.stack.shape if three_d else data.mip.shape
    planes = []
    for task in model.tasks:
        plane = np.zeros(shape, np.float32)
        for i, geometry in enumerate(prepared.geometries):
            placed = geometry.to_field(crop_maps[task][first + i], shape)
            np.copyto(plane, placed, where=np.abs(placed) > np.abs(plane))
        planes.append(plane)
    dims = ("c", "z", "y", "x") if three_d else ("c", "y", "x")
    scale = {d: data.scale_um[d] for d in dims[1:]}
    return xr.DataArray(np.stack(planes), dims=dims, coords={"c": list(model.tasks)}, attrs={"scale_um": scale})


def _organised_heatmap(prepared: _Prepared) -> xr.DataArray:
    """The metrics' organised map of every cell in the field frame (1 = organised), one channel."""
    data = prepared.data
    plane = np.zeros(data.mip.shape, np.float32)
    for bbox, organised in zip(prepared.bboxes, prepared.organised):
        plane[bbox][organised] = 1.0
    scale = {d: data.scale_um[d] for d in ("y", "x")}
    return xr.DataArray(plane[None], dims=("c", "y", "x"), coords={"c": ["organised"]}, attrs={"scale_um": scale})


def _cell_row(prepared: _Prepared, i: int, probs: dict, classes: dict, model_name: tuple[str, str],
              stamp: str) -> dict:
    data = prepared.data
    cy, cx = prepared.centroids[i]
    row = {"label": prepared.cell_ids[i], "centroid_y_um": float(cy * data.scale_um["y"]),
           "centroid_x_um": float(cx * data.scale_um["x"])}
    for task, names in classes.items():
        p = probs[task][i]
        row[task] = names[int(np.argmax(p))]
        row.update({f"p_{task}_{c}": float(v) for c, v in zip(names, p)})
    row.update(prepared.metrics[i])
    row.update({"model": model_name[0], "model_version": model_name[1], "run_timestamp": stamp, "status": "ok"})
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}


def _write(plate: Path, prepared: _Prepared, rows: list[dict], heatmaps: dict, settings: RunSettings, stamp: str):
    key = prepared.data.key
    colours = {r["label"]: RATING_COLOURS.get(str(r.get("sarcomerisation")), (128, 128, 128, 255)) for r in rows}
    write_labels(plate, key, CELL_LABELS, prepared.labels.astype(np.uint32),
                 properties=[{"label-value": r["label"], **r} for r in rows], colors=colours or None,
                 attrs={"run": settings.signature})
    for method, heatmap in heatmaps.items():
        write_heatmap(plate, key, method, heatmap, attrs={"method": method, **settings.signature})
    # an earlier run's heatmap of another method would no longer match these labels
    for stale in set(list_heatmaps(plate, key)) - set(heatmaps):
        remove_heatmap(plate, key, stale)
    # The run record goes last: a field counts as rated only once all its outputs are in place.
    set_field_attributes(plate, key, {"run": {**settings.signature, "status": "ok" if rows else "no cells",
                                              "n_cells": len(rows), "timestamp": stamp}})


def rate_fields(plate: Path, keys: list[FieldKey], model: RatingModel | MetricsRatingModel,
                settings: RunSettings) -> list[FieldResult]:
    """Rate a group of fields and write their labels, heatmaps and run records into the plate.

    Parameters
    ----------
    plate : Path
        The plate (already validated and locked by the caller).
    keys : list of FieldKey
        Fields of this group.
    model : RatingModel or MetricsRatingModel
        Loaded model; a CNN's preprocessing settings decide 2D or 3D. A metrics model rates from
        the cells' metrics; of the heatmaps it makes only "organised" (no CNN to explain).
    settings : RunSettings
        Explanations, channel, batch size.

    Returns
    -------
    list of FieldResult
        One per key, in order. A field that fails gets ``status="error: <why>"`` and leaves its
        previous outputs untouched; the others go on.
    """
    prepared: dict[FieldKey, _Prepared] = {}
    results: dict[FieldKey, FieldResult] = {}
    for key in keys:
        try:
            prepared[key] = _prepare(plate, key, model, settings)
        except Exception as error:  # one bad field never stops the plate
            results[key] = _error(key, error)
    ready = [p for p in prepared.values() if p.cell_ids]
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    classes = model.tasks if isinstance(model, RatingModel) else model.classes
    model_name = _model_name(settings)
    if ready and isinstance(model, RatingModel):
        inputs = np.stack([x for p in ready for x in p.inputs]).astype(np.float32)
        probs = model.predict(inputs, batch_size=settings.batch_size)
        predicted = {t: np.argmax(p, axis=1) for t, p in probs.items()}
        crop_maps = {m: _heatmaps(model, m, inputs, predicted, settings)
                     for m in settings.explain if m in MODEL_METHODS}
    elif ready:
        probs = model.predict_proba([m for p in ready for m in p.metrics])
    end = 0
    for key, p in prepared.items():
        n = len(p.cell_ids)
        first, end = end, end + n
        try:
            rows = [_cell_row(p, i, {t: v[first:end] for t, v in probs.items()}, classes, model_name, stamp)
                    for i in range(n)] if n else []
            heatmaps = {m: _organised_heatmap(p) if m == "organised" else _field_heatmap(p, crop_maps[m], first, model)
                        for m in settings.explain} if n else {}
            _write(plate, p, rows, heatmaps, settings, stamp)
            results[key] = FieldResult(key, "ok" if rows else "no cells", rows)
        except Exception as error:
            results[key] = _error(key, error)
    return [results[k] for k in keys]


def _model_name(settings: RunSettings) -> tuple[str, str]:
    """(name, version) of the model, from its run identity ``name@version#digest``."""
    name, _, rest = settings.model_id.partition("@")
    return name, rest.partition("#")[0]


def _error(key: FieldKey, error: Exception) -> FieldResult:
    reason = f"{type(error).__name__}: {error}".replace("\n", " ")
    log.error("field %s: %s", key.path, reason)
    return FieldResult(key, f"error: {reason}")


def rows_from_labels(plate: Path, key: FieldKey) -> list[dict]:
    """CSV rows of an already-rated field, rebuilt from its ``cells`` label properties."""
    _, properties = read_labels(plate, key, CELL_LABELS)
    return [{k: v for k, v in p.items() if k != "label-value"} for p in properties]
