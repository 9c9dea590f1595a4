"""Train the bundled default model of ames-batch on synthetic cells (one command, CPU).

Reproduce the shipped bundle (``ames_batch/models/default/``)::

    .venv/bin/python examples/train_default_model.py

What it does:

1. draws ``--n-cells`` synthetic cardiomyocytes with ``ames_batch.synth`` at the demo scale
   (0.16 µm/px, 0.5 µm z-step), balanced over source x sarcomerisation x directionality
   (each cell its own field, each cell its own seed: ``(seed, i)``), rated by the
   noise-free rules of ``docs/synthetic-cells.md``;
2. turns every cell into ONE model input with the model's preprocessing (``cell_input_2d``:
   fixed 0.3 µm/px, 160 px, long axis along x, percentile normalisation) and keeps them in memory
   (cached to ``--cache`` so a re-run or another architecture skips step 1);
3. ``ames_batch.nn.train_model``: split by cell (stratified, seeded) BEFORE augmentation,
   augmented training cells drawn on the fly, class-balancing weights, early stopping on the
   validation split, checkpoints in ``--work/checkpoints``;
4. scores the held-out test cells and writes the bundle (card with split, data fingerprint,
   metrics) to ``--out``, plus ``metrics.json``, ``summary.md`` and PNGs next to it.

The other two architectures of the comparison in ``docs/models.md`` (same cells, same split;
the 3D cells are the same synthetic cells, preprocessed as stacks)::

    .venv/bin/python examples/train_default_model.py --arch 2d-ensemble --max-minutes 30 \\
        --out build/models/ensemble --work build/ensemble
    .venv/bin/python examples/train_default_model.py --arch 3d --input-px 120 --um-per-px 0.4 \\
        --depth 8 --z-step-um 1.0 --max-minutes 30 --out build/models/3d --work build/3d

Synthetic cells are not real cells: the numbers say the pipeline learns what the synthetic
rules encode, nothing more. Facilities should train on their own rated cells
(``ames-batch train``).
"""

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("ames_batch")

TASKS = {
    "sarcomerisation": ["1", "2", "3", "4"],
    "directionality": ["1", "2", "3", "4"],
    "source": ["adult", "neonatal", "ipsc"],
}


def _settings(arch: str, input_px: int | None = None, um_per_px: float | None = None,
              depth: int | None = None, z_step_um: float | None = None):
    """The model's preprocessing: nn defaults, with a square window of `input_px` at `um_per_px`
    (3D: `depth` slices `z_step_um` apart)."""
    import dataclasses

    from ames_batch.nn import PreprocessSettings

    base = PreprocessSettings.default_3d() if arch == "3d" else PreprocessSettings.default_2d()
    if arch == "3d" and depth is not None:
        base = dataclasses.replace(base, input_shape=(depth, *base.input_shape[1:]))
    if arch == "3d" and z_step_um is not None:
        base = dataclasses.replace(base, z_step_um=z_step_um)
    if input_px is not None:
        base = dataclasses.replace(base, input_shape=(*base.input_shape[:-2], input_px, input_px))
    if um_per_px is not None:
        base = dataclasses.replace(base, target_um_per_px=um_per_px)
    return base


def _one_cell(args):
    """Synthesize cell `i` and preprocess it (runs in a worker process)."""
    i, seed, arch, input_px, um_per_px, depth, z_step_um = args
    from ames_batch.nn import cell_input_2d, cell_input_3d
    from ames_batch.synth import DEMO_SCALE_UM, SOURCES, sample_cell_params, synthesize_field

    rng = np.random.default_rng([seed, i])
    # full factorial 3 x 4 x 4 = 48 combinations, cycled: every class equally often
    source = SOURCES[i % 3]
    sarc = (i // 3) % 4 + 1
    direc = (i // 12) % 4 + 1
    params = sample_cell_params(rng, source=source, sarcomerisation=sarc, directionality=direc)
    field = synthesize_field(rng, scale_um=DEMO_SCALE_UM, cell_params=[params])
    truth = field.cells[0]
    mask = field.cell_labels == truth.label
    settings = _settings(arch, input_px, um_per_px, depth, z_step_um)
    if arch == "3d":
        x, _ = cell_input_3d(field.stack, mask, field.scale_um, settings)
    else:
        x, _ = cell_input_2d(field.stack.max(axis=0), mask, field.scale_um["x"], settings)
    ratings = {"sarcomerisation": str(truth.sarcomerisation), "directionality": str(truth.directionality),
               "source": str(truth.source)}
    return i, x.astype(np.float32), ratings


def make_cells(n_cells: int, *, seed: int, arch: str, workers: int, input_px: int | None = None,
               um_per_px: float | None = None, depth: int | None = None, z_step_um: float | None = None):
    """Synthetic cells as model inputs: ``(inputs, ratings, cell_ids)``."""
    settings = _settings(arch, input_px, um_per_px, depth, z_step_um)
    inputs = np.empty((n_cells, *settings.input_shape, 1), np.float32)
    ratings = {t: [None] * n_cells for t in TASKS}
    t0 = time.time()
    jobs = [(i, seed, arch, input_px, um_per_px, depth, z_step_um) for i in range(n_cells)]
    if workers > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            results = pool.map(_one_cell, jobs, chunksize=16)
            for k, (i, x, r) in enumerate(results, start=1):
                inputs[i] = x
                for t in TASKS:
                    ratings[t][i] = r[t]
                if k % 200 == 0:
                    log.info("synthesized %d/%d cells (%.0f s)", k, n_cells, time.time() - t0)
    else:
        for k, job in enumerate(jobs, start=1):
            i, x, r = _one_cell(job)
            inputs[i] = x
            for t in TASKS:
                ratings[t][i] = r[t]
            if k % 200 == 0:
                log.info("synthesized %d/%d cells (%.0f s)", k, n_cells, time.time() - t0)
    ids = [f"synthetic/seed{seed}/cell{i}" for i in range(n_cells)]
    log.info("synthesized %d cells in %.0f s", n_cells, time.time() - t0)
    return inputs, {t: np.asarray(v) for t, v in ratings.items()}, ids


def fingerprint(ids, ratings, extra: dict) -> str:
    """sha256 over the rating rows (id + classes) and the generator settings."""
    h = hashlib.sha256(json.dumps(extra, sort_keys=True).encode())
    for k, cid in enumerate(ids):
        h.update(("|".join([cid, *(str(ratings[t][k]) for t in sorted(ratings))]) + "\n").encode())
    return h.hexdigest()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="2d", choices=["2d", "2d-ensemble", "3d"])
    p.add_argument("--n-cells", type=int, default=3072)
    p.add_argument("--epochs", type=int, default=45)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-px", type=int, default=160,
                   help="2D input window in px (3D uses the nn default)")
    p.add_argument("--um-per-px", type=float, default=0.3,
                   help="2D input pixel size in µm (0.3: a 1.6-2.2 µm sarcomere spans 5-7 px)")
    p.add_argument("--max-rotation-deg", type=float, default=3.0,
                   help="small-rotation augmentation; directionality classes are 22.5° wide, drawn with "
                        "2.5-5° margins, so large turns would blur the labels")
    # intensity randomisation: measured no more robust (benchmarks/bench_robustness.py), off
    p.add_argument("--max-gamma", type=float, default=1.0,
                   help="intensity gamma drawn in [1/g, g] per training input (other detectors, stains)")
    p.add_argument("--min-saturation", type=float, default=1.0,
                   help="inputs saturated at a level drawn in [s, 1] of their range")
    p.add_argument("--max-noise", type=float, default=0.0, help="added noise, sd drawn in [0, n] of the range")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop training after this many minutes (best weights kept)")
    p.add_argument("--source-loss-weight", type=float, default=0.1,
                   help="weight of the (easy, outline-based) source loss in the shared trunk")
    p.add_argument("--depth", type=int, default=8, help="3D: slices per input")
    p.add_argument("--z-step-um", type=float, default=1.0, help="3D: µm between input slices")
    p.add_argument("--synth-only", action="store_true", help="only make the cell cache, do not train")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=REPO / "ames_batch" / "models" / "default")
    p.add_argument("--work", type=Path, default=REPO / "build" / "default-model")
    p.add_argument("--cache", type=Path, default=None, help="npz cache of the preprocessed cells")
    p.add_argument("--resume", action="store_true", help="continue from --work/checkpoints")
    args = p.parse_args(argv)

    from ames_batch._logging import configure_logging

    configure_logging(0)
    from ames_batch.nn import (AugmentSettings, TrainSettings, make_card, plot_confusion, plot_history,
                               save_bundle, summary_markdown, train_model)
    from ames_batch.synth import DEMO_SCALE_UM

    args.work.mkdir(parents=True, exist_ok=True)
    input_px, um_per_px = args.input_px, args.um_per_px
    depth, z_step_um = (args.depth, args.z_step_um) if args.arch == "3d" else (None, None)
    shape = f"px{input_px}-um{um_per_px}" + (f"-z{depth}x{z_step_um}" if depth else "")
    kind = "3d" if args.arch == "3d" else "2d"
    cache = args.cache or args.work / f"cells-{kind}-n{args.n_cells}-{shape}-seed{args.seed}.npz"
    if cache.is_file():
        data = np.load(cache)
        inputs = data["inputs"]
        ratings = {t: data[t].astype(str) for t in TASKS}
        ids = data["ids"].astype(str).tolist()
        if len(ids) > args.n_cells:  # a larger cache: its first cells (the design cycles every 48)
            inputs, ids = inputs[:args.n_cells], ids[:args.n_cells]
            ratings = {t: v[:args.n_cells] for t, v in ratings.items()}
        log.info("loaded %d cached cells from %s", len(ids), cache)
    else:
        inputs, ratings, ids = make_cells(args.n_cells, seed=args.seed, arch=args.arch, workers=args.workers,
                                          input_px=input_px, um_per_px=um_per_px, depth=depth,
                                          z_step_um=z_step_um)
        np.savez(cache, inputs=inputs, ids=np.asarray(ids), **ratings)
    if args.synth_only:
        return 0

    pre = _settings(args.arch, input_px, um_per_px, depth, z_step_um)
    settings = TrainSettings(
        arch=args.arch, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        patience=args.patience, seed=args.seed,
        max_seconds=None if args.max_minutes is None else 60 * args.max_minutes,
        loss_weights={"source": args.source_loss_weight},
        # the input is aligned to the long axis: flips and small turns keep that, 90° turns would not
        augment=AugmentSettings(flip=True, rot90=not pre.align_long_axis, max_rotation_deg=args.max_rotation_deg,
                                gain=0.05, offset=0.0, max_gamma=args.max_gamma,
                                min_saturation=args.min_saturation, max_noise=args.max_noise),
        um_per_px=pre.target_um_per_px,
    )
    t0 = time.time()
    result = train_model(inputs, ratings, ids, classes=TASKS, settings=settings,
                         checkpoint_dir=args.work / "checkpoints" / args.arch, resume=args.resume)
    train_s = time.time() - t0
    log.info("trained in %.0f s (%d epochs, best %d)", train_s, result.epochs_run, result.best_epoch)

    generator = {"generator": "ames_batch.synth", "scale_um": DEMO_SCALE_UM, "n_cells": len(ids),
                 "seed": args.seed, "design": "source x sarcomerisation x directionality, balanced",
                 "rater_noise": 0.0}
    y_all = {t: np.asarray(ratings[t]) for t in TASKS}
    card_metrics = {t: {"accuracy": m["accuracy"], "f1_weighted": m["weighted_f1"],
                        "n_cells": m["n_cells"]} for t, m in result.test_metrics.items()}
    card = make_card(
        name=f"ames-{args.arch}-default", version="1.1", tasks=TASKS, settings=pre,
        training={
            "data_fingerprint": fingerprint(ids, y_all, generator),
            "data": generator,
            "split": result.split.summary(y_all),
            "seed": args.seed,
            "settings": settings.to_dict(),
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "train_seconds": round(train_s, 1),
            "command": "python examples/train_default_model.py " + " ".join(argv or sys.argv[1:]),
        },
        metrics=card_metrics,
        description=("Trained on synthetic cells only (ames_batch.synth); held-out metrics are on "
                     "synthetic cells. Facilities should train on their own rated cells."),
    )
    save_bundle(result.model, card, args.out, overwrite=True)
    name = {"2d": "ames-batch 2D singular", "2d-ensemble": "ames-batch 2D one-vs-all ensemble",
            "3d": "ames-batch 3D singular"}[args.arch]
    report = {"arch": args.arch, "test": result.test_metrics, "val": result.val_metrics,
              "split": result.split.summary(y_all), "epochs_run": result.epochs_run,
              "best_epoch": result.best_epoch, "train_seconds": round(train_s, 1),
              "history": result.history}
    (args.out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    note = (f"Held-out synthetic test cells (n = {result.split.test.size}, split by cell before "
            "augmentation); paper rows are real cells with leakage (see docs/models.md).")
    (args.out / "summary.md").write_text(summary_markdown({name: result.test_metrics}, note=note))
    plot_confusion(result.test_metrics, args.out / "confusion.png", title=f"{name}, held-out test cells")
    if args.arch != "2d-ensemble":
        plot_history(result.history, args.out / "training_curves.png")
    print(summary_markdown({name: result.test_metrics}, note=note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
