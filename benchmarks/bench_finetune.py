"""Cost of fine-tuning the default model on a facility's 96 rated cells, against one forward pass.

A look-"b" demo plate of 96 cells (24 wells x 2 fields x 2 cells, 0.24 µm pixels; written once to
``benchmarks/scratch/``) is rated by its truth (the ``truth`` labels and CSV, the generator's
sarcomerisation edges shifted by +0.1 as a stricter expert's). Measured in the same run:

- baseline: one forward pass of the default model over the 96 prepared cells (best of 3 after a
  warm-up: the compiled graph, no training);
- one fine-tuning fit (heads, then trunk) on the split ``train`` makes;
- ``train_plate(init="default", folds=5)`` end to end: reading and preparing the cells, the
  5-fold cross-validation of the candidates, the final fit of the winner, the bundle.

Prints seconds and ratios to the forward pass; writes ``benchmarks/results/finetune.json``.

    .venv/bin/python benchmarks/bench_finetune.py [--folds 5]
"""

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
SCALE = {"z": 1.0, "y": 0.24, "x": 0.24}
EDGES = (0.30, 0.55, 0.80)


def _plate(scratch: Path):
    from ames_batch.pipeline import write_demo_plate

    plate, truth = scratch / "finetune-b.zarr", scratch / "finetune-b-truth.csv"
    if not plate.is_dir():
        write_demo_plate(plate, n_wells=24, n_fields=2, cells_per_field=2, seed=3, look="b", scale_um=SCALE,
                         truth_csv=truth)
    rated = pd.read_csv(truth, dtype={"field": str})
    rated["sarcomerisation"] = np.searchsorted(EDGES, rated["param_organised_fraction"], side="right") + 1
    ratings = scratch / "finetune-b-ratings.csv"
    rated[["plate", "well", "field", "label", "sarcomerisation", "directionality", "source"]].to_csv(ratings,
                                                                                                   index=False)
    return plate, ratings


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--scratch", type=Path, default=HERE / "scratch")
    args = p.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)

    from ames_batch.io import read_ratings
    from ames_batch.nn import encode_ratings, load_rater, make_trainer, split_cells
    from ames_batch.pipeline import collect_cells, default_model_path, train_plate
    from ames_batch.vocabulary import TASK_CLASSES

    plate, ratings_csv = _plate(args.scratch)
    rater = load_rater(default_model_path("2d"))
    trainer = make_trainer(rater.card["arch"], init=rater)  # the default is a hybrid
    cells = collect_cells(plate, read_ratings(ratings_csv), tasks=list(TASK_CLASSES), rater=trainer,
                          labels="truth")
    n = len(cells.cell_ids)

    rater.predict_proba(cells.prepared)  # warm-up: traces the fixed-batch graph
    forward = []
    for _ in range(3):
        t0 = time.perf_counter()
        rater.predict_proba(cells.prepared)
        forward.append(time.perf_counter() - t0)
    forward_s = min(forward)

    classes = {t: list(c) for t, c in TASK_CLASSES.items()}
    split = split_cells(cells.cell_ids, encode_ratings(cells.ratings, classes), seed=0)
    t0 = time.perf_counter()
    fit = trainer.fit(cells.prepared, cells.ratings, cells.cell_ids, split, classes=classes)
    fit_s = time.perf_counter() - t0

    out = args.scratch / "finetune-model"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    report = train_plate(plate, ratings_csv, out, init="default", folds=args.folds, labels="truth")
    train_s = time.perf_counter() - t0

    selection = report.selection
    result = {
        "cells": n, "folds": args.folds, "input_px": list(rater.settings.input_shape),
        "forward_pass_s": round(forward_s, 3),
        "fine_tune_fit_s": round(fit_s, 1), "fine_tune_epochs": fit.epochs_run,
        "ratio_fit_over_forward": round(fit_s / forward_s, 1),
        "train_init_s": round(train_s, 1), "ratio_train_init_over_forward": round(train_s / forward_s, 1),
        "cross_validation_s": {k: v["seconds"] for k, v in selection["candidates"].items()},
        "kept": selection["winner"],
        "cv_accuracy": {k: {t: round(s["accuracy"], 3) for t, s in v["tasks"].items()}
                        for k, v in selection["candidates"].items()},
        "cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    for k, v in result.items():
        print(f"{k}: {v}")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "finetune.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
