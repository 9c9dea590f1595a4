"""``ames-batch train``: rated cells of a plate -> a trained model bundle.

Reads each rated field once, turns every rated cell into one model input with the model's
preprocessing (``cell_input_2d`` / ``cell_input_3d``), then hands the arrays to
``ames_batch.nn.train_model`` (split by cell and group first, augmentation on the training
cells only). The bundle folder also holds ``checkpoints/`` (resume), ``split.json`` (which
cell went where, so ``evaluate`` can refuse to score training cells), ``metrics.json``,
``summary.md`` and PNGs.
"""

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._logging import progress
from ..io import FieldKey, list_fields, read_labels, read_ratings
from ._field_input import read_field_data

__all__ = ["CellTable", "TrainReport", "collect_cells", "train_plate", "TASK_CLASSES"]

log = logging.getLogger("ames_batch")

#: Class names per task, in model output order (docs/architecture.md).
TASK_CLASSES = {
    "sarcomerisation": ["1", "2", "3", "4"],
    "directionality": ["1", "2", "3", "4"],
    "source": ["adult", "neonatal", "ipsc"],
}


@dataclass
class CellTable:
    """Rated cells of one plate as model inputs (one row per cell).

    Attributes
    ----------
    inputs : (N, ...) ndarray of float32 or None
        Model inputs (2D: (N, H, W, 1); 3D: (N, D, H, W, 1)); None when `metrics` were asked.
    cell_ids : list of str
        ``"<plate>/<well>/<field>/<label>"``.
    ratings : dict of str to (N,) ndarray of str
        Class name per task (only cells rated for every task kept).
    groups : (N,) ndarray of str or None
        The CSV's ``group`` column when present and filled.
    skipped : list of str
        Cells dropped, each with the reason.
    fingerprint : str
        sha256 over the used rating rows and the plate's field ids.
    metrics : list of dict or None
        ``ames_batch.metrics.cell_metrics`` of each cell (metrics models), else None.
    """

    inputs: np.ndarray
    cell_ids: list[str]
    ratings: dict[str, np.ndarray]
    groups: np.ndarray | None
    skipped: list[str] = field(default_factory=list)
    fingerprint: str = ""
    metrics: list[dict] | None = None


@dataclass(frozen=True)
class TrainReport:
    """What :func:`train_plate` did."""

    model: Path
    n_cells: int
    split: dict
    test_metrics: dict
    skipped: list[str]


def plate_rows(plate: Path, ratings: pd.DataFrame) -> pd.DataFrame:
    """The ratings rows of `plate` (by plate name, with or without ``.zarr``).

    A CSV naming a single other plate is taken as-is (a renamed plate), with a log line.
    """
    names = {plate.name, plate.name.removesuffix(".zarr")}
    rows = ratings[ratings["plate"].isin(names)]
    if rows.empty:
        others = sorted(set(ratings["plate"]))
        if len(others) == 1:
            log.warning("ratings name plate %r, not %r; using them for %s", others[0], plate.name, plate)
            return ratings
        raise ValueError(f"no ratings for plate {plate.name!r}; the CSV names plates {others}")
    return rows


def _rating_str(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(int(value)) if not isinstance(value, str) else value


def _fingerprint(rows: pd.DataFrame, tasks: list[str], field_ids: list[str]) -> str:
    h = hashlib.sha256()
    cols = ["plate", "well", "field", "label", *tasks] + (["group"] if "group" in rows.columns else [])
    for rec in sorted(rows[cols].astype(str).itertuples(index=False, name=None)):
        h.update(("|".join(rec) + "\n").encode())
    for fid in sorted(field_ids):
        h.update(f"field:{fid}\n".encode())
    return h.hexdigest()


def collect_cells(
    plate: Path,
    ratings: pd.DataFrame,
    *,
    tasks: list[str],
    settings,
    labels: str = "cells",
    channel: str | int | None = None,
    metrics: bool = False,
) -> CellTable:
    """Read the rated cells of `plate` and preprocess each once into a model input.

    Parameters
    ----------
    plate : Path
        OME-Zarr HCS plate.
    ratings : pandas.DataFrame
        From ``ames_batch.io.read_ratings``.
    tasks : list of str
        Tasks that must be rated for a cell to be kept.
    settings : ames_batch.nn.PreprocessSettings or None
        The model's preprocessing (2D or 3D); ignored (may be None) with `metrics`.
    labels : str
        Label image holding the cell masks (``"cells"``; the demo plate's truth is ``"truth"``).
    channel : str or int, optional
        Stain channel; default the one recorded at convert.
    metrics : bool
        Compute each cell's ``cell_metrics`` (MIP crop + mask, µm) instead of a model input.

    Returns
    -------
    CellTable

    Raises
    ------
    ValueError
        If no cell of the plate is rated for all `tasks`.
    KeyError
        If a rated field or its label image is missing.
    """
    from ..image import cell_bbox
    from ..metrics import cell_metrics
    from ..nn import cell_input_2d, cell_input_3d

    plate = Path(plate)
    use_stack = not metrics and settings.ndim == 3
    rows = plate_rows(plate, ratings)
    skipped = []
    rated = rows.copy()
    for task in tasks:
        if task not in rated.columns:
            raise ValueError(f"the ratings have no {task!r} column; have {list(ratings.columns)}")
        missing = rated[task].isna()
        for r in rated[missing].itertuples():
            skipped.append(f"{r.plate}/{r.well}/{r.field}/{r.label}: not rated for {task}")
        rated = rated[~missing]
    if rated.empty:
        raise ValueError(f"no cell of {plate.name} is rated for all of {tasks}")

    fields = list_fields(plate)
    inputs, ids, ratings_out, groups = [], [], {t: [] for t in tasks}, []
    by_field = list(rated.groupby(["well", "field"], sort=True))
    for (well, fld), cells in progress(by_field, total=len(by_field), desc="reading cells"):
        key = FieldKey(str(well), str(fld))
        data = read_field_data(plate, key, channel=channel, with_stack=use_stack)
        lab, _ = read_labels(plate, key, labels)
        lab2d = np.asarray(lab.max(dim="z").values)
        for r in cells.itertuples():
            cid = f"{r.plate}/{well}/{fld}/{int(r.label)}"
            mask = lab2d == int(r.label)
            if not mask.any():
                skipped.append(f"{cid}: label {int(r.label)} not in labels/{labels}")
                continue
            if metrics:
                box = cell_bbox(mask, pixel_size_um=data.pixel_size_um, margin_um=2.0)
                inputs.append(cell_metrics(data.mip[box], mask[box], data.pixel_size_um))
            elif use_stack:
                inputs.append(cell_input_3d(data.stack, mask, data.scale_um, settings)[0].astype(np.float32))
            else:
                inputs.append(cell_input_2d(data.mip, mask, data.pixel_size_um, settings)[0].astype(np.float32))
            ids.append(cid)
            for t in tasks:
                ratings_out[t].append(_rating_str(getattr(r, t)))
            groups.append(getattr(r, "group", "") if "group" in rated.columns else "")
    if not inputs:
        raise ValueError(f"none of the rated cells of {plate.name} was found in labels/{labels}")
    for line in skipped:
        log.warning("skipped %s", line)
    has_groups = "group" in rated.columns and all(str(g) not in ("", "nan", "None") for g in groups)
    return CellTable(
        inputs=None if metrics else np.stack(inputs),
        metrics=inputs if metrics else None,
        cell_ids=ids,
        ratings={t: np.asarray(v) for t, v in ratings_out.items()},
        groups=np.asarray(groups, dtype=str) if has_groups else None,
        skipped=skipped,
        fingerprint=_fingerprint(rated, tasks, [k.path for k in fields]),
    )


def _tasks_in(ratings: pd.DataFrame, tasks: list[str] | None) -> list[str]:
    if tasks:
        unknown = sorted(set(tasks) - set(TASK_CLASSES))
        if unknown:
            raise ValueError(f"unknown tasks {unknown}; choose from {list(TASK_CLASSES)}")
        return list(tasks)
    found = [t for t in TASK_CLASSES if t in ratings.columns and ratings[t].notna().any()]
    if not found:
        raise ValueError(f"the ratings hold none of the tasks {list(TASK_CLASSES)}")
    return found


def _place_bundle(model, card: dict, out: Path) -> None:
    """Write the bundle into `out` without touching its checkpoints/ and reports."""
    from ..nn import save_bundle

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".bundle-") as tmp:
        staged = save_bundle(model, card, Path(tmp) / "bundle")
        for old in ("model.json", "model.keras", "members"):
            target = out / old
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        for item in staged.iterdir():
            shutil.move(str(item), out / item.name)


def train_plate(
    plate: Path,
    ratings_csv: Path,
    out: Path,
    *,
    arch: str = "2d",
    tasks: list[str] | None = None,
    labels: str = "cells",
    channel: str | int | None = None,
    epochs: int = 60,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    patience: int = 10,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    preprocess=None,
    steps_per_epoch: int | None = None,
    resume: bool = False,
    name: str | None = None,
) -> TrainReport:
    """Train a rating model on the rated cells of a plate and write its bundle to `out`.

    Parameters
    ----------
    plate : Path
        OME-Zarr HCS plate holding the cells (and their label image `labels`).
    ratings_csv : Path
        One row per rated cell (``plate, well, field, label`` + tasks [+ ``group``]).
    out : Path
        Bundle folder to write (created); ``out/checkpoints`` holds the resumable state.
    arch : {"2d", "2d-ensemble", "3d", "metrics"}
        CNN architecture, or the metrics-based classifier (``MetricsRatingModel``).
    tasks : list of str, optional
        Tasks to learn; default every task the CSV rates.
    labels : str
        Label image with the cell masks.
    channel : str or int, optional
        Stain channel.
    epochs, batch_size, learning_rate, patience, val_fraction, test_fraction, seed
        See ``ames_batch.nn.TrainSettings``.
    preprocess : ames_batch.nn.PreprocessSettings, optional
        Default: ``PreprocessSettings.default_2d()`` (``default_3d()`` for "3d").
    steps_per_epoch : int, optional
        Cap on batches per epoch (quick runs).
    resume : bool
        Continue from ``out/checkpoints`` (same plate, ratings and seed).
    name : str, optional
        Model name in the card; default ``"<plate>-<arch>"``.

    Returns
    -------
    TrainReport

    Raises
    ------
    ValueError
        Unknown arch or task, no usable rated cells, too few cells or groups to split.
    FileExistsError
        If `out` holds a bundle and `resume` is False.
    """
    from ..nn import ARCHS, AugmentSettings, PreprocessSettings, TrainSettings, make_card, train_model

    plate, out = Path(plate), Path(out)
    if arch not in (*ARCHS, "metrics"):
        raise ValueError(f"`arch` must be one of {(*ARCHS, 'metrics')}; got {arch!r}")
    if ((out / "model.json").exists() or (out / "metrics_model.json").exists()) and not resume:
        raise FileExistsError(f"{out}: already holds a model; choose a new folder or pass --resume")
    ratings = read_ratings(ratings_csv)
    tasks = _tasks_in(ratings, tasks)
    if arch == "metrics":
        return _train_metrics(plate, ratings, out, tasks=tasks, labels=labels, channel=channel,
                              val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    if preprocess is None:
        preprocess = PreprocessSettings.default_3d() if arch == "3d" else PreprocessSettings.default_2d()
    table = collect_cells(plate, ratings, tasks=tasks, settings=preprocess, labels=labels, channel=channel)
    log.info("%d rated cells from %s (%d skipped)", len(table.cell_ids), plate.name, len(table.skipped))
    settings = TrainSettings(
        arch=arch, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
        val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, steps_per_epoch=steps_per_epoch,
        augment=AugmentSettings(rot90=not preprocess.align_long_axis, max_rotation_deg=5.0, gain=0.05, offset=0.0),
        um_per_px=preprocess.target_um_per_px,
    )
    classes = {t: TASK_CLASSES[t] for t in tasks}
    result = train_model(table.inputs, table.ratings, table.cell_ids, classes=classes, groups=table.groups,
                         settings=settings, checkpoint_dir=out / "checkpoints", resume=resume)
    split_summary = result.split.summary(table.ratings)
    card = make_card(
        name=name or f"{plate.name.removesuffix('.zarr')}-{arch}", version="1.0", tasks=classes,
        settings=preprocess,
        training={"data_fingerprint": table.fingerprint, "split": split_summary, "seed": seed,
                  "plate": plate.name, "labels": labels, "settings": settings.to_dict(),
                  "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                  "n_cells": len(table.cell_ids), "n_skipped": len(table.skipped)},
        metrics={t: {"accuracy": m["accuracy"], "f1_weighted": m["weighted_f1"], "n_cells": m["n_cells"]}
                 for t, m in result.test_metrics.items()},
    )
    _place_bundle(result.model, card, out)
    write_training_outputs(out, result, table.cell_ids, split_summary)
    return TrainReport(model=out, n_cells=len(table.cell_ids), split=split_summary,
                       test_metrics=result.test_metrics, skipped=table.skipped)


def write_training_outputs(out: Path, result, cell_ids: list[str], split_summary: dict) -> None:
    """split.json, history.json, metrics.json, summary.md and PNGs beside the bundle."""
    from ..nn import plot_confusion, plot_history, summary_markdown

    ids = np.asarray(cell_ids)
    (out / "split.json").write_text(json.dumps(
        {k: ids[result.split.indices(k)].tolist() for k in ("train", "val", "test")}, indent=0) + "\n")
    (out / "history.json").write_text(json.dumps(result.history) + "\n")
    (out / "metrics.json").write_text(json.dumps(
        {"test": result.test_metrics, "val": result.val_metrics, "split": split_summary,
         "epochs_run": result.epochs_run, "best_epoch": result.best_epoch}, indent=1) + "\n")
    (out / "summary.md").write_text(summary_markdown(
        {out.name: result.test_metrics},
        note=f"Held-out test cells (n = {result.split.test.size}), split by cell/group before augmentation."))
    plot_confusion(result.test_metrics, out / "confusion.png", title=f"{out.name}: held-out test cells")
    history = result.history
    if history and all(isinstance(v, list) for v in history.values()):
        plot_history(history, out / "training_curves.png")


@dataclass
class _MetricsResult:
    """The parts of ``nn.TrainResult`` the reports need, for the metrics model."""

    split: object
    test_metrics: dict
    val_metrics: dict
    history: dict
    epochs_run: int = 0
    best_epoch: int = 0


def _train_metrics(plate, ratings, out: Path, *, tasks, labels, channel, val_fraction, test_fraction,
                   seed) -> TrainReport:
    """``--arch metrics``: the same split, a logistic regression per task on cell metrics."""
    from ..nn import MetricsRatingModel, encode_ratings, evaluate_ratings, split_cells

    table = collect_cells(plate, ratings, tasks=tasks, settings=None, labels=labels, channel=channel, metrics=True)
    classes = {t: TASK_CLASSES[t] for t in tasks}
    split = split_cells(table.cell_ids, encode_ratings(table.ratings, classes), groups=table.groups,
                        val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    rows = np.asarray(table.metrics, dtype=object)
    model = MetricsRatingModel(tasks=tasks).fit(list(rows[split.train]),
                                                {t: table.ratings[t][split.train] for t in tasks})

    def score(part):
        idx = split.indices(part)
        probs = model.predict_proba(list(rows[idx]))
        return evaluate_ratings({t: table.ratings[t][idx] for t in tasks}, probs, classes)

    result = _MetricsResult(split=split, test_metrics=score("test"), val_metrics=score("val"), history={})
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    split_summary = split.summary(table.ratings)
    write_training_outputs(out, result, table.cell_ids, split_summary)
    (out / "metrics_card.json").write_text(json.dumps(
        {"arch": "metrics", "tasks": classes, "data_fingerprint": table.fingerprint, "split": split_summary,
         "seed": seed, "plate": plate.name, "labels": labels}, indent=1) + "\n")
    return TrainReport(model=out, n_cells=len(table.cell_ids), split=split_summary,
                       test_metrics=result.test_metrics, skipped=table.skipped)
