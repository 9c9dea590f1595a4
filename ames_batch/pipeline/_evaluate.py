"""``ames-batch evaluate``: score a model bundle on the rated cells of a plate.

Writes ``metrics.json`` (accuracy, weighted F1, per-class precision/recall, confusion
matrices, calibration), ``summary.md`` (laid out like the paper's Table 1, then how far the
probabilities hold), ``confusion.png``, ``calibration.png`` (reliability diagrams) and, when
the bundle kept its training history, ``training_curves.png``. Cells the model was trained or
validated on (listed in the bundle's ``split.json``) are never scored.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import read_ratings
from ._train import collect_cells

__all__ = ["EvaluateReport", "evaluate_plate"]

log = logging.getLogger("ames_batch")


@dataclass(frozen=True)
class EvaluateReport:
    """What :func:`evaluate_plate` wrote."""

    out: Path
    n_cells: int
    n_excluded: int
    metrics: dict


def evaluate_plate(
    model: Path,
    plate: Path,
    ratings_csv: Path,
    *,
    out: Path | None = None,
    labels: str = "cells",
    channel: str | int | None = None,
    include_training_cells: bool = False,
) -> EvaluateReport:
    """Predict every rated cell of `plate` with the bundle `model` and score the predictions.

    Parameters
    ----------
    model : Path
        Bundle folder of any kind (``ames-batch train``, or the bundled default).
    plate : Path
        OME-Zarr HCS plate with the rated cells and their label image `labels`.
    ratings_csv : Path
        Ratings CSV (the truth).
    out : Path, optional
        Report folder; default ``<plate without .zarr>-evaluation`` beside the plate.
    labels : str
        Label image with the cell masks.
    channel : str or int, optional
        Stain channel.
    include_training_cells : bool
        Also score cells listed as train/val in the bundle's ``split.json`` (leaky; off).

    Returns
    -------
    EvaluateReport

    Raises
    ------
    ModelBundleError
        If the bundle cannot be loaded.
    ValueError
        If no rated cell is left to score.
    """
    from ..nn import evaluate_ratings, load_rater, plot_calibration, plot_confusion, plot_history, summary_markdown

    model, plate = Path(model), Path(plate)
    out = Path(out) if out is not None else plate.with_name(plate.name.removesuffix(".zarr") + "-evaluation")
    ratings = read_ratings(ratings_csv)
    rater = load_rater(model)
    name = rater.name
    tasks = [t for t in rater.tasks if t in ratings.columns and ratings[t].notna().any()]
    if not tasks:
        raise ValueError(f"the ratings rate none of the model's tasks {list(rater.tasks)}")

    table = collect_cells(plate, ratings, tasks=tasks, rater=rater, labels=labels, channel=channel)
    keep = np.ones(len(table.cell_ids), bool)
    split_file = model / "split.json"
    if split_file.is_file() and not include_training_cells:
        seen = set()
        for part in ("train", "val"):
            seen.update(json.loads(split_file.read_text()).get(part, []))
        keep = np.array([cid not in seen for cid in table.cell_ids])
    n_excluded = int((~keep).sum())
    if n_excluded:
        log.info("not scoring %d cells the model was trained or validated on", n_excluded)
    if not keep.any():
        raise ValueError("every rated cell of this plate was used to train or validate the model; "
                         "evaluate on other cells (or pass include_training_cells=True)")

    probs = rater.predict_proba([p for p, k in zip(table.prepared, keep) if k])
    metrics = evaluate_ratings({t: table.ratings[t][keep] for t in tasks}, {t: probs[t] for t in tasks},
                               {t: list(rater.tasks[t]) for t in tasks})
    out.mkdir(parents=True, exist_ok=True)
    report = {"model": str(model), "model_name": name, "plate": plate.name, "labels": labels,
              "n_cells": int(keep.sum()), "n_excluded_training_cells": n_excluded,
              "skipped": table.skipped, "metrics": metrics}
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "summary.md").write_text(summary_markdown(
        {name: metrics},
        note=f"{int(keep.sum())} rated cells of {plate.name} ({n_excluded} training/validation cells not scored)."))
    plot_confusion(metrics, out / "confusion.png", title=f"{name} on {plate.name}")
    plot_calibration(metrics, out / "calibration.png", title=f"{name} on {plate.name}")
    history_file = model / "history.json"
    if history_file.is_file():
        history = json.loads(history_file.read_text())
        if history and all(isinstance(v, list) for v in history.values()):
            plot_history(history, out / "training_curves.png")
    return EvaluateReport(out=out, n_cells=int(keep.sum()), n_excluded=n_excluded, metrics=metrics)
