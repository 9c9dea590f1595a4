"""Does rotating each cell's long axis onto x help the directionality rating?

Same synthetic cells, same split, same seed, same training; only the preprocessing differs:

- aligned: ``PreprocessSettings.default_2d()`` (``align_long_axis=True``), augmentation keeps the
  axis (flips, small turns, no 90° turns);
- unaligned: the same settings with ``align_long_axis=False``, augmentation with 90° turns too.

Cells come from ``ames_batch.synth`` (one cell per field, demo scale, balanced over the four
directionality classes, sources drawn by the sampler). Training uses ``ames_batch.nn.train_model``
(2D singular, directionality only; ``--mode fixed``: plain ``model.fit`` for a fixed number of
epochs without augmentation or early stopping, test accuracy = mean of the last 5 epochs). Accuracy and weighted F1 are taken on an independent test set
of freshly drawn cells (never seen in training or validation). Writes
``benchmarks/results/alignment.json``. CPU; ~15 minutes at the defaults on two shared cores:

    .venv/bin/python benchmarks/bench_alignment.py [--cells 400] [--test-cells 160] [--epochs 60] [--patience 20]
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "alignment{}.json"
CLASSES = {"directionality": ["1", "2", "3", "4"]}


def make_cells(seed: int, n: int, settings_by_name: dict):
    """Inputs per variant and directionality labels for `n` synthetic cells (balanced)."""
    from ames_batch.nn import cell_input_2d
    from ames_batch.synth import DEMO_SCALE_UM, sample_cell_params, synthesize_field

    inputs = {name: [] for name in settings_by_name}
    labels = []
    for i in range(n):
        params = sample_cell_params(seed * 100_003 + i, directionality=1 + i % 4)
        field = synthesize_field(seed * 100_019 + i, cell_params=[params], scale_um=DEMO_SCALE_UM)
        mip = field.stack.max(axis=0)
        mask = field.cell_labels == field.cells[0].label
        for name, settings in settings_by_name.items():
            x, _ = cell_input_2d(mip, mask, field.scale_um["x"], settings)
            inputs[name].append(x)
        labels.append(str(field.cells[0].directionality))
    return {k: np.stack(v) for k, v in inputs.items()}, np.array(labels)


def fixed_epochs(x_train, y_train, x_test, y_test, epochs: int) -> dict:
    """Plain ``model.fit`` for a fixed number of epochs; test accuracy after every epoch."""
    import keras

    from ames_batch.nn import build_model

    y, yt = y_train.astype(int) - 1, y_test.astype(int) - 1
    out = {}
    for name in x_train:
        keras.utils.set_random_seed(0)
        model = build_model("2d", input_shape=x_train[name].shape[1:3], tasks=CLASSES, seed=0)
        model.compile(keras.optimizers.Adam(1e-3), loss={"directionality": "sparse_categorical_crossentropy"},
                      metrics={"directionality": "accuracy"})
        t0 = time.perf_counter()
        h = model.fit(x_train[name], {"directionality": y}, validation_data=(x_test[name], {"directionality": yt}),
                      epochs=epochs, batch_size=16, verbose=0)
        hist = {k: [round(float(v), 4) for v in vals] for k, vals in h.history.items()}
        last = hist["val_accuracy"][-5:]
        out[name] = {"train_accuracy": hist["accuracy"], "test_accuracy_per_epoch": hist["val_accuracy"],
                     "test_accuracy": float(np.mean(last)), "test_accuracy_se": math.sqrt(
                         np.mean(last) * (1 - np.mean(last)) / len(yt)),
                     "test_weighted_f1": float("nan"), "epochs_run": epochs, "best_epoch": epochs,
                     "train_seconds": time.perf_counter() - t0}
    return out


def main() -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--cells", type=int, default=400)
    p.add_argument("--test-cells", type=int, default=160)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-seed", type=int, default=1, help="seed of the training cells")
    p.add_argument("--test-seed", type=int, default=1000, help="seed of the independent test cells")
    p.add_argument("--mode", choices=["train_model", "fixed"], default="train_model",
                   help="train_model: split, augmentation, early stopping; fixed: plain model.fit on "
                        "all training cells for --epochs, no augmentation, test set scored every epoch")
    args = p.parse_args()

    from dataclasses import replace

    from ames_batch.nn import AugmentSettings, PreprocessSettings, TrainSettings, evaluate_ratings, train_model

    aligned = PreprocessSettings.default_2d()
    variants = {"aligned": aligned, "unaligned": replace(aligned, align_long_axis=False)}
    t0 = time.perf_counter()
    x_train, y_train = make_cells(args.train_seed, args.cells, variants)
    x_test, y_test = make_cells(args.test_seed, args.test_cells, variants)
    t_data = time.perf_counter() - t0
    out = {"cells": args.cells, "test_cells": args.test_cells, "epochs": args.epochs,
           "patience": args.patience, "seed": args.seed, "mode": args.mode,
           "train_seed": args.train_seed, "test_seed": args.test_seed,
           "input": list(aligned.input_shape), "um_per_px": aligned.target_um_per_px,
           "data_seconds": t_data, "variants": {}}
    if args.mode == "fixed":
        out["variants"] = fixed_epochs(x_train, y_train, x_test, y_test, args.epochs)
        return out
    ids = [f"cell{i}" for i in range(args.cells)]
    for name, settings in variants.items():
        augment = AugmentSettings(flip=True, rot90=not settings.align_long_axis, max_rotation_deg=10.0)
        train = TrainSettings(arch="2d", epochs=args.epochs, patience=args.patience, batch_size=16, learning_rate=1e-3,
                              val_fraction=0.15, test_fraction=0.1, seed=args.seed, augment=augment)
        t0 = time.perf_counter()
        result = train_model(x_train[name], {"directionality": y_train}, ids, classes=CLASSES, settings=train)
        seconds = time.perf_counter() - t0
        raw = result.model.predict(x_test[name], batch_size=32, verbose=0)
        probs = {"directionality": np.asarray(raw["directionality"] if isinstance(raw, dict) else raw)}
        scores = evaluate_ratings({"directionality": y_test}, probs, CLASSES)["directionality"]
        acc = scores["accuracy"]
        out["variants"][name] = {
            "test_accuracy": acc,
            "test_accuracy_se": math.sqrt(acc * (1 - acc) / args.test_cells),
            "test_weighted_f1": scores["weighted_f1"],
            "confusion_matrix": np.asarray(scores["confusion_matrix"]).tolist(),
            "epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "train_seconds": seconds,
        }
    return out


if __name__ == "__main__":
    results = main()
    for name, v in results["variants"].items():
        print(f"{name:10s} accuracy {v['test_accuracy']:.3f} ± {v['test_accuracy_se']:.3f}  "
              f"weighted F1 {v['test_weighted_f1']:.3f}  epochs {v['epochs_run']} ({v['train_seconds']:.0f} s)")
    path = Path(str(RESULTS).format("" if results["mode"] == "train_model" else "_fixed"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")
