"""``ames-batch train``: rated cells of a plate -> a trained rater bundle, of any kind.

Reads each rated field once, makes one record per rated cell (``extract_cells``, the same
function `run` uses), lets the trainer prepare it (``prepare(cell, field)``, exactly as its
rater will at run time), splits the cells by cell and group BEFORE any augmentation, fits,
scores the held-out cells through the rater protocol and writes the bundle. The folder also
holds ``checkpoints/`` (resume), ``split.json`` (which cell went where, so ``evaluate`` can
refuse to score training cells), ``cells.csv`` (the per-cell metrics it was fitted on),
``metrics.json``, ``summary.md`` and PNGs.
"""

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._logging import progress
from ..io import FieldKey, list_fields, read_labels, read_ratings, write_csv_atomic
from ..vocabulary import TASK_CLASSES
from ._cells import CellRecord, extract_cells, prepare_cells, records_table
from ._field_input import read_field_data

__all__ = ["TrainingCells", "TrainReport", "collect_cells", "train_cells", "train_plate"]

log = logging.getLogger("ames_batch")


@dataclass
class TrainingCells:
    """The rated cells of one plate, each measured once and prepared for one kind of rater.

    Attributes
    ----------
    records : list of CellRecord
        One per usable rated cell, with ``prepared`` set.
    cell_ids : list of str
        ``"<plate>/<well>/<field>/<label>"``, in `records` order.
    ratings : dict of str to (N,) ndarray of str
        Class name per task (only cells rated for every task kept).
    groups : (N,) ndarray of str or None
        The CSV's ``group`` column when present and filled.
    skipped : list of str
        Cells dropped, each with the reason.
    fingerprint : str
        sha256 over the used rating rows and the plate's field ids.
    """

    records: list[CellRecord]
    cell_ids: list[str]
    ratings: dict[str, np.ndarray]
    groups: np.ndarray | None
    skipped: list[str] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def prepared(self) -> list:
        return [r.prepared for r in self.records]


@dataclass(frozen=True)
class TrainReport:
    """What :func:`train_plate` did (`selection`: the cross-validation of ``--init``, else None)."""

    model: Path
    n_cells: int
    split: dict
    test_metrics: dict
    skipped: list[str]
    selection: dict | None = None


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
    rater,
    labels: str = "cells",
    channel: str | int | None = None,
) -> TrainingCells:
    """Read the rated cells of `plate`, measure each once and prepare it for a rater.

    Parameters
    ----------
    plate : Path
        OME-Zarr HCS plate.
    ratings : pandas.DataFrame
        From ``ames_batch.io.read_ratings``.
    tasks : list of str
        Tasks that must be rated for a cell to be kept.
    rater : ames_batch.nn.Rater or ames_batch.nn.Trainer
        Its ``preparer(cell, field)`` makes each cell's input; ``needs_stack`` says whether the
        field's stack is read.
    labels : str
        Label image holding the cell masks (``"cells"``; the demo plate's truth is ``"truth"``).
    channel : str or int, optional
        Stain channel as the user wrote it; default the one recorded at convert.

    Returns
    -------
    TrainingCells

    Raises
    ------
    ValueError
        If no cell of the plate is rated for all `tasks`.
    KeyError
        If a rated field or its label image is missing.
    """
    plate = Path(plate)
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

    records, ids, ratings_out, groups = [], [], {t: [] for t in tasks}, []
    by_field = list(rated.groupby(["well", "field"], sort=True))
    for (well, fld), cells in progress(by_field, total=len(by_field), desc="reading cells"):
        key = FieldKey(str(well), str(fld))
        data = read_field_data(plate, key, channel=channel, with_stack=rater.needs_stack)
        lab, _ = read_labels(plate, key, labels)
        found = {c.label: c for c in extract_cells(data, data.labels_from_field(np.asarray(lab.max(dim="z").values)),
                                                     only=[int(v) for v in cells["label"]])}
        kept = []
        for r in cells.itertuples():
            cid = f"{r.plate}/{well}/{fld}/{int(r.label)}"
            if int(r.label) not in found:
                skipped.append(f"{cid}: label {int(r.label)} not in labels/{labels}")
                continue
            kept.append(found[int(r.label)])
            ids.append(cid)
            for t in tasks:
                ratings_out[t].append(_rating_str(getattr(r, t)))
            groups.append(getattr(r, "group", "") if "group" in rated.columns else "")
        records += prepare_cells(kept, data, rater.preparer)
    if not records:
        raise ValueError(f"none of the rated cells of {plate.name} was found in labels/{labels}")
    for line in skipped:
        log.warning("skipped %s", line)
    has_groups = "group" in rated.columns and all(str(g) not in ("", "nan", "None") for g in groups)
    return TrainingCells(
        records=records,
        cell_ids=ids,
        ratings={t: np.asarray(v) for t, v in ratings_out.items()},
        groups=np.asarray(groups, dtype=str) if has_groups else None,
        skipped=skipped,
        fingerprint=_fingerprint(rated, tasks, [k.path for k in list_fields(plate)]),
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


def _preprocess(arch: str, preprocess, input_px: int | None, um_per_px: float | None):
    """The CNN input settings: the arch's defaults, with a square window and pixel size if given."""
    from dataclasses import replace

    from ..nn import PreprocessSettings

    if arch == "metrics":
        return None
    base = preprocess or (PreprocessSettings.default_3d() if arch == "3d" else PreprocessSettings.default_2d())
    if input_px is not None:
        base = replace(base, input_shape=(*base.input_shape[:-2], input_px, input_px))
    if um_per_px is not None:
        base = replace(base, target_um_per_px=um_per_px)
    return base


def _score(rater, prepared: list, cells: TrainingCells, rows: np.ndarray, classes: dict) -> dict:
    """``evaluate_ratings`` of the rater's predictions on cells `rows` (through the rater protocol)."""
    from ..nn import evaluate_ratings

    probs = rater.predict_proba([prepared[i] for i in rows])
    return evaluate_ratings({t: cells.ratings[t][rows] for t in classes}, {t: probs[t] for t in classes}, classes)


def _init_rater(init: Path | str):
    """The rater to fine-tune: ``"default"`` (the bundled 2D default) or a bundle folder."""
    from ..nn import load_rater
    from ._run import default_model_path

    return load_rater(default_model_path("2d") if str(init) == "default" else Path(init))


def _candidates(trainer, init, cells: TrainingCells, tasks: list[str]):
    """The raters that compete for the bundle: the initial one unchanged, its tuned forms, the metrics model."""
    from ..nn import make_trainer, tuning_candidates
    from ._crossval import Candidate

    metrics = make_trainer("metrics")
    found = [Candidate("initial", cells.prepared, rater=init, tasks=tuple(init.tasks))]
    found += [Candidate(name, cells.prepared, trainer=t, tasks=rated)
              for name, t, rated in tuning_candidates(init, trainer, tasks)]
    return found + [Candidate("metrics", [metrics.prepare(r, None) for r in cells.records], trainer=metrics,
                              tasks=tuple(tasks))]


def train_plate(
    plate: Path,
    ratings_csv: Path,
    out: Path,
    *,
    arch: str | None = None,
    init: Path | str | None = None,
    folds: int = 5,
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
    input_px: int | None = None,
    um_per_px: float | None = None,
    max_rotation_deg: float = 5.0,
    source_loss_weight: float | None = None,
    max_minutes: float | None = None,
    steps_per_epoch: int | None = None,
    resume: bool = False,
    name: str | None = None,
    version: str = "1.0",
    description: str = "",
) -> TrainReport:
    """Train a rater of any kind on the rated cells of a plate and write its bundle to `out`.

    Parameters
    ----------
    plate : Path
        OME-Zarr HCS plate holding the cells (and their label image `labels`).
    ratings_csv : Path
        One row per rated cell (``plate, well, field, label`` + tasks [+ ``group``]).
    out : Path
        Bundle folder to write (created); ``out/checkpoints`` holds a CNN's resumable state.
    arch : {"2d", "2d-ensemble", "3d", "metrics", "hybrid"}, optional
        CNN architecture, the classifier on sarcomere metrics, or the hybrid (per-task heads on
        a singular CNN's features and the metrics); default "2d", or with `init` the initial
        model's own.
    init : Path or "default", optional
        Fine-tune this singular CNN or hybrid bundle (``"default"``: the bundled default) instead
        of training from scratch: heads first (trunk frozen), then the whole network at a tenth
        of `learning_rate` (``nn.FineTuneSettings``); a hybrid's heads are then refitted on the
        tuned CNN's features. The initial model unchanged, the fine-tuned one, a metrics model
        fitted on the same cells and, for a hybrid, its heads refitted on its own CNN's features
        ("heads") and its rated heads recalibrated on their own logits ("recalibrated", also
        for each subset of the rated tasks; ``nn.HeadRecalibrator``) are compared by grouped
        k-fold cross-validation, and the bundle is the winner
        (the highest mean out-of-fold accuracy over the rated tasks; a candidate that rates
        fewer tasks than the initial model only when the CSV rates every task). ``summary.md``
        and the card's ``training.selection`` report it. The input settings (`preprocess`,
        `input_px`, `um_per_px`) are the initial model's.
    folds : int
        k of the cross-validation (with `init`), >= 2; lowered to the number of groups.
    tasks : list of str, optional
        Tasks to learn; default every task the CSV rates. With `init`, a task left out keeps
        the initial model's head weights.
    labels : str
        Label image with the cell masks.
    channel : str or int, optional
        Stain channel as the user wrote it.
    epochs, batch_size, learning_rate, patience, val_fraction, test_fraction, seed
        See ``ames_batch.nn.TrainSettings`` (the split fractions and seed apply to every kind).
    preprocess : ames_batch.nn.PreprocessSettings, optional
        CNN input; default ``default_2d()`` (``default_3d()`` for "3d").
    input_px : int, optional
        Square CNN input window in pixels (replaces the last two axes of `preprocess`).
    um_per_px : float, optional
        CNN input pixel size in µm (the striation filters are tuned to it).
    max_rotation_deg : float
        Largest random turn of a training input (directionality classes are 22.5° wide).
    source_loss_weight : float, optional
        Weight of the source loss in a singular CNN's shared trunk (others weigh 1).
    max_minutes : float, optional
        Wall-clock budget of one fit (best weights kept).
    steps_per_epoch : int, optional
        Cap on batches per epoch (quick runs).
    resume : bool
        Continue from ``out/checkpoints`` (same plate, ratings and seed; with `init` the
        cross-validation is run again).
    name, version, description : str, optional
        Card fields; default name ``"<plate>-<arch>"`` (``"<plate>-finetuned"`` with `init`).

    Returns
    -------
    TrainReport

    Raises
    ------
    ValueError
        Unknown arch or task, no usable rated cells, too few cells or groups to split, an
        `init` that is not a singular CNN or a hybrid, or input settings given with `init`.
    FileExistsError
        If `out` exists, is not empty and `resume` is False.
    """
    from ..nn import make_trainer

    plate, out = Path(plate), Path(out)
    if out.is_dir() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{out}: already holds files; choose a new folder or pass --resume")
    start = None if init is None else _init_rater(init)
    if start is not None and (preprocess is not None or input_px is not None or um_per_px is not None):
        raise ValueError("with --init the input settings are the initial model's; drop --input-px/--um-per-px")
    arch = arch or (start.card["arch"] if start is not None else "2d")
    ratings = read_ratings(ratings_csv)
    tasks = _tasks_in(ratings, tasks)
    pre = None if start is not None else _preprocess(arch, preprocess, input_px, um_per_px)
    trainer = make_trainer(arch, preprocess=pre, init=start, max_rotation_deg=max_rotation_deg, epochs=epochs,
                           batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                           val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                           steps_per_epoch=steps_per_epoch,
                           max_seconds=None if max_minutes is None else 60.0 * max_minutes,
                           loss_weights=None if source_loss_weight is None else {"source": source_loss_weight})
    cells = collect_cells(plate, ratings, tasks=tasks, rater=trainer, labels=labels, channel=channel)
    log.info("%d rated cells from %s (%d skipped)", len(cells.cell_ids), plate.name, len(cells.skipped))
    default_name = f"{plate.name.removesuffix('.zarr')}-{'finetuned' if start is not None else arch}"
    return train_cells(cells, out, trainer=trainer, init=start, folds=folds, val_fraction=val_fraction,
                       test_fraction=test_fraction, seed=seed, resume=resume, name=name or default_name,
                       version=version, description=description,
                       provenance={"plate": plate.name, "labels": labels})


def train_cells(
    cells: TrainingCells,
    out: Path,
    *,
    trainer,
    init=None,
    folds: int = 5,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    resume: bool = False,
    name: str,
    version: str = "1.0",
    description: str = "",
    provenance: dict | None = None,
) -> TrainReport:
    """Fit, score and save a rater on measured, prepared, rated cells: the core of ``train``.

    ``train_plate`` reads the cells from a plate; ``examples/train_default_model.py`` makes
    synthetic ones; both end here, so a bundle is made one way whatever the cells' origin.

    Parameters
    ----------
    cells : TrainingCells
        Each record prepared by `trainer` (``prepare_cells``).
    out : Path
        Bundle folder to write (checkpoints in ``out/checkpoints``).
    trainer : ames_batch.nn.Trainer
        From ``ames_batch.nn.make_trainer`` (with `init` when fine-tuning).
    init : Rater, optional
        The initial model: it, its fine-tuned form (`trainer`), the metrics model (and for a
        hybrid its refitted heads) are cross-validated by `folds` and the winner is kept.
    folds, val_fraction, test_fraction, seed, resume
        As :func:`train_plate`.
    name, version, description : str
        Card fields.
    provenance : dict, optional
        Merged into the card's ``training`` (where the cells came from).

    Returns
    -------
    TrainReport
    """
    from ..nn import encode_ratings, split_cells

    out = Path(out)
    tasks = list(cells.ratings)
    classes = {t: list(TASK_CLASSES[t]) for t in tasks}
    split = split_cells(cells.cell_ids, encode_ratings(cells.ratings, classes), groups=cells.groups,
                        val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    training, selection, prepared = {}, None, cells.prepared
    if init is None:
        fit = trainer.fit(prepared, cells.ratings, cells.cell_ids, split, classes=classes,
                          checkpoint_dir=out / "checkpoints", resume=resume)
    else:
        from ._crossval import cross_validate

        candidates = _candidates(trainer, init, cells, tasks)
        grouped_by = "group" if cells.groups is not None else "well"
        groups = cells.groups if cells.groups is not None else np.asarray([r.key.well for r in cells.records])
        selection = cross_validate(candidates, cells.ratings, cells.cell_ids, groups, classes=classes,
                                   grouped_by=grouped_by, folds=folds, val_fraction=val_fraction, seed=seed,
                                   required_tasks=tuple(init.tasks))
        log.info("cross-validation: %s", ", ".join(f"{c} {100 * selection.mean_accuracy(c):.1f} %"
                                                    for c in selection.scores))
        log.info("keeping the %s model", selection.winner)
        winner = next(c for c in candidates if c.name == selection.winner)
        prepared = winner.prepared
        if winner.trainer is None:
            from ..nn import FitResult

            fit = FitResult(rater=init, settings={"unchanged": True})
        else:
            fit = winner.trainer.fit(prepared, cells.ratings, cells.cell_ids, split, classes=classes,
                                     checkpoint_dir=out / "checkpoints", resume=resume)
        training = {"init": init.identity, "selection": selection.to_dict()}
    val_metrics, test_metrics = (_score(fit.rater, prepared, cells, split.indices(k), classes) for k in ("val", "test"))
    split_summary = split.summary(cells.ratings)
    out.mkdir(parents=True, exist_ok=True)
    fit.rater.save(
        out, name=name, version=version, description=description,
        training={"data_fingerprint": cells.fingerprint, "split": split_summary, "seed": seed,
                  **(provenance or {}), "settings": fit.settings,
                  "epochs_run": fit.epochs_run, "best_epoch": fit.best_epoch,
                  "n_cells": len(cells.cell_ids), "n_skipped": len(cells.skipped), **training},
        metrics={t: {"accuracy": m["accuracy"], "f1_weighted": m["weighted_f1"], "n_cells": m["n_cells"]}
                 for t, m in test_metrics.items()},
    )
    write_training_outputs(out, fit, split, cells, val_metrics=val_metrics, test_metrics=test_metrics,
                           selection=selection)
    return TrainReport(model=out, n_cells=len(cells.cell_ids), split=split_summary, test_metrics=test_metrics,
                       skipped=cells.skipped, selection=None if selection is None else selection.to_dict())


def write_training_outputs(out: Path, fit, split, cells: TrainingCells, *, val_metrics: dict,
                           test_metrics: dict, selection=None) -> None:
    """split.json, cells.csv, history.json, metrics.json, summary.md and PNGs beside the bundle."""
    from ..nn import plot_confusion, plot_history, summary_markdown

    ids = np.asarray(cells.cell_ids)
    (out / "split.json").write_text(json.dumps(
        {k: ids[split.indices(k)].tolist() for k in ("train", "val", "test")}, indent=0) + "\n")
    part = np.empty(len(ids), object)
    for k in ("train", "val", "test"):
        part[split.indices(k)] = k
    rows = records_table(cells.records, columns=[{"split": p, **{t: cells.ratings[t][i] for t in cells.ratings}}
                                                 for i, p in enumerate(part)])
    write_csv_atomic(out / "cells.csv", pd.DataFrame(rows))
    (out / "history.json").write_text(json.dumps(fit.history) + "\n")
    report = {"test": test_metrics, "val": val_metrics, "split": split.summary(cells.ratings),
              "epochs_run": fit.epochs_run, "best_epoch": fit.best_epoch}
    if selection is not None:
        report["selection"] = selection.to_dict()
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    held_out = summary_markdown(
        {out.name: test_metrics},
        note=f"Held-out test cells (n = {split.test.size}), split by cell/group before augmentation.")
    if selection is not None:
        held_out = (f"# {out.name}: which rater to trust on these cells\n\nKept: **the {selection.winner} model** "
                    f"(highest mean out-of-fold accuracy).\n\n{selection.markdown()}\n"
                    f"## The kept model on this bundle's own test split\n\n{held_out}")
    (out / "summary.md").write_text(held_out)
    plot_confusion(test_metrics, out / "confusion.png", title=f"{out.name}: held-out test cells")
    if fit.history and all(isinstance(v, list) for v in fit.history.values()):
        plot_history(fit.history, out / "training_curves.png")
