"""Cost of on-the-fly augmentation in training, against a plain in-memory ``model.fit``.

Same model, same cells, same batch size, measured in the same run:

- baseline: ``model.fit(x, y)`` on the stored float32 arrays (no augmentation, no weights);
- ours: ``model.fit(CellSequence(..., augment=AugmentSettings(), weights=...))``, i.e. fresh
  flips / small rotations / intensity jitter per batch plus class-balancing sample weights.

Prints seconds per epoch and per cell, the ratio, and the per-cell cost of ``augment_cell``
alone; writes ``benchmarks/results/train.json``. CPU only; the machine may be shared, so each
figure is the best of ``--repeats`` epochs.

    .venv/bin/python benchmarks/bench_train.py [--cells 128] [--size 192] [--repeats 3]
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cells", type=int, default=128)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    import keras

    from ames_batch.nn import AugmentSettings, CellSequence, augment_cell, build_model, class_weights

    rng = np.random.default_rng(0)
    tasks = {"sarcomerisation": ["1", "2", "3", "4"], "source": ["adult", "neonatal", "ipsc"]}
    x = rng.random((args.cells, args.size, args.size, 1), dtype=np.float32)
    y = {"sarcomerisation": rng.integers(0, 4, args.cells), "source": rng.integers(0, 3, args.cells)}
    idx = np.arange(args.cells)

    def fresh():
        keras.utils.set_random_seed(0)
        model = build_model("2d", input_shape=(args.size, args.size), tasks=tasks, seed=0)
        model.compile("adam", loss={t: "sparse_categorical_crossentropy" for t in tasks})
        return model

    def best_epoch(fit):
        times = []
        for _ in range(args.repeats + 1):  # first epoch compiles: dropped
            t0 = time.perf_counter()
            fit()
            times.append(time.perf_counter() - t0)
        return min(times[1:])

    base_model = fresh()
    base = best_epoch(lambda: base_model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True))
    weights = {t: class_weights(v, len(tasks[t])) for t, v in y.items()}
    seq = CellSequence(x, y, idx, batch_size=args.batch_size, augment=AugmentSettings(rot90=False),
                       weights=weights, shuffle=True, seed=0)
    ours_model = fresh()
    ours = best_epoch(lambda: ours_model.fit(seq, epochs=1, verbose=0))
    t0 = time.perf_counter()
    for i in range(args.cells):
        augment_cell(x[i], rng, AugmentSettings(rot90=False))
    aug = (time.perf_counter() - t0) / args.cells

    result = {
        "cells": args.cells, "input_px": args.size, "batch_size": args.batch_size,
        "baseline_fit_s_per_epoch": round(base, 3), "augmented_fit_s_per_epoch": round(ours, 3),
        "ratio_augmented_over_baseline": round(ours / base, 3),
        "baseline_ms_per_cell": round(1000 * base / args.cells, 2),
        "augmented_ms_per_cell": round(1000 * ours / args.cells, 2),
        "augment_cell_ms_per_cell": round(1000 * aug, 2),
        "cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    for k, v in result.items():
        print(f"{k}: {v}")
    out = Path(__file__).resolve().parent / "results" / "train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
