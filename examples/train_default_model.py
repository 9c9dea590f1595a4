"""Train the bundled default model of ames-batch on synthetic cells (one command, CPU).

Reproduce the shipped bundle (``ames_batch/models/default/``)::

    .venv/bin/python examples/train_default_model.py

What it does, with the same code as ``ames-batch train`` (``ames_batch.pipeline.train_cells``):

1. draws ``--n-cells`` synthetic cardiomyocytes per look of ``ames_batch.synth`` (``--looks``;
   two renderings of the same kind of truth, see docs/synthetic-cells.md) at the demo scale
   (0.16 µm/px, 0.5 µm z-step), balanced over source x sarcomerisation x directionality, each
   cell its own field and its own seed ``(seed, look, i)``, rated by the noise-free rules;
2. measures and prepares each cell as ``run`` does (``FieldData.from_arrays`` -> the working
   scale, ``extract_cells`` -> the per-cell record with its metrics, the trainer's ``prepare``),
   cached in ``--work`` so a re-run skips step 1;
3. ``train_cells``: split by cell (stratified, seeded) before augmentation, fit (``--arch``, see
   ``ames_batch.nn.make_trainer``), score the held-out test cells, write the bundle (card with the
   looks it saw, split, data fingerprint, metrics) with ``cells.csv``, ``metrics.json``,
   ``summary.md`` and PNGs to ``--out``.

Refit only the heads of the shipped hybrid on its own CNN (after a change to the metrics)::

    .venv/bin/python examples/train_default_model.py --heads-on ames_batch/models/default --version 2.1

The 3D default (``ames_batch/models/default-3d``, for ``run --mode 3d``): heads on the features of
the 3D CNN of version 1.0, fitted on the cells' stacks (same looks, cells and split as the 2D default)::

    .venv/bin/python examples/train_default_model.py --heads-on ames_batch/models/default-3d --version 2.0 \\
        --out build/models/default-3d --work build/default-3d

Refit them on cells of which half are measured behind a random change of detector (gamma,
clipping, noise, blur: ``ames_batch.synth.sample_detector_change``; on these synthetic cells it
did not buy robustness, docs/models.md)::

    .venv/bin/python examples/train_default_model.py --heads-on ames_batch/models/default --version 2.2 \\
        --vary-detector 0.5

Other kinds for the comparisons in ``docs/models.md`` (same cells, same split)::

    .venv/bin/python examples/train_default_model.py --arch 2d --out build/models/2d --work build/2d
    .venv/bin/python examples/train_default_model.py --arch 3d --input-px 120 --um-per-px 0.4 \\
        --depth 8 --z-step-um 1.0 --out build/models/3d --work build/3d

Synthetic cells are not real cells: the numbers say the pipeline learns what the synthetic
rules encode, nothing more. Facilities should adapt it to their own rated cells
(``ames-batch train --init default``, docs/facility-guide.md).
"""

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("ames_batch")


def preprocess_settings(arch: str, input_px: int | None = None, um_per_px: float | None = None,
                        depth: int | None = None, z_step_um: float | None = None):
    """The CNN input: nn defaults, a square window of `input_px` at `um_per_px` (3D: `depth`
    slices `z_step_um` apart); None for the metrics model."""
    from ames_batch.nn import PreprocessSettings

    if arch == "metrics":
        return None
    three_d = arch == "3d" or depth is not None
    base = PreprocessSettings.default_3d() if three_d else PreprocessSettings.default_2d()
    if three_d and depth is not None:
        base = dataclasses.replace(base, input_shape=(depth, *base.input_shape[1:]))
    if three_d and z_step_um is not None:
        base = dataclasses.replace(base, z_step_um=z_step_um)
    if input_px is not None:
        base = dataclasses.replace(base, input_shape=(*base.input_shape[:-2], input_px, input_px))
    if um_per_px is not None:
        base = dataclasses.replace(base, target_um_per_px=um_per_px)
    return base


def synthetic_cell(job):
    """Cell `i` of `look` (seed ``(seed, look, i)``), measured and prepared by `preparer` (a trainer's
    picklable ``preparer``; a worker's job); with probability `vary` behind a random change of
    detector (seed ``(seed, look, i, 1)``)."""
    look, i, seed, vary, preparer, with_stack = job
    from ames_batch.pipeline import prepare_cells
    from ames_batch.pipeline import synthetic_cell as make
    from ames_batch.synth import LOOKS

    rng = np.random.default_rng([seed, LOOKS.index(look), i])
    detector = np.random.default_rng([seed, LOOKS.index(look), i, 1])
    cell = make(i, look, params_rng=rng, field_rng=rng, with_stack=with_stack,
                detector_rng=detector if detector.random() < vary else None)
    (record,) = prepare_cells([cell.record], cell.field, preparer)
    return record, cell.ratings


def make_cells(looks, n_cells: int, *, seed: int, preparer, vary_detector: float = 0.0, workers: int = 2):
    """``TrainingCells`` of `n_cells` synthetic cells per look, each prepared by `preparer` (a
    trainer: its ``preparer`` crosses to the workers, not the trainer); a share `vary_detector` of
    them behind a random change of detector."""
    from ames_batch.pipeline import TrainingCells

    jobs = [(look, i, seed, vary_detector, preparer.preparer, preparer.needs_stack)
            for look in looks for i in range(n_cells)]
    t0 = time.time()
    if workers > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            done = list(pool.map(synthetic_cell, jobs, chunksize=8))
    else:
        done = [synthetic_cell(job) for job in jobs]
    log.info("synthesized and measured %d cells in %.0f s", len(done), time.time() - t0)
    ids = [f"synthetic/{look}/seed{seed}/cell{i}" for look, i, *_ in jobs]
    ratings = {t: np.asarray([r[t] for _, r in done]) for t in done[0][1]}
    return TrainingCells(records=[rec for rec, _ in done], cell_ids=ids, ratings=ratings, groups=None,
                         fingerprint=fingerprint(ids, ratings))


def fingerprint(ids, ratings) -> str:
    """sha256 over the rating rows (id + classes)."""
    h = hashlib.sha256()
    for k, cid in enumerate(ids):
        h.update(("|".join([cid, *(str(ratings[t][k]) for t in sorted(ratings))]) + "\n").encode())
    return h.hexdigest()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="hybrid", choices=["2d", "2d-ensemble", "3d", "metrics", "hybrid"])
    p.add_argument("--looks", default="a,b", help="looks of ames_batch.synth to train on, comma-separated")
    p.add_argument("--n-cells", type=int, default=1152, help="cells per look")
    p.add_argument("--epochs", type=int, default=45)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-px", type=int, default=160, help="CNN input window in px")
    p.add_argument("--um-per-px", type=float, default=0.3,
                   help="CNN input pixel size in µm (0.3: a 1.6-2.2 µm sarcomere spans 5-7 px)")
    p.add_argument("--depth", type=int, default=None, help="3D input: slices (a 3D hybrid with --arch hybrid)")
    p.add_argument("--z-step-um", type=float, default=None, help="3D input: µm between slices")
    p.add_argument("--max-rotation-deg", type=float, default=3.0,
                   help="small-rotation augmentation; directionality classes are 22.5° wide, drawn with "
                        "2.5-5° margins, so large turns would blur the labels")
    p.add_argument("--max-minutes", type=float, default=30.0, help="stop a CNN's training after this long "
                   "(best weights kept)")
    p.add_argument("--source-loss-weight", type=float, default=0.1,
                   help="weight of the source loss in a CNN's shared trunk")
    p.add_argument("--vary-detector", type=float, default=0.0, metavar="SHARE",
                   help="share of the cells measured behind a random change of detector (gamma, clipping, noise, "
                        "blur; ames_batch.synth.sample_detector_change): domain randomisation")
    p.add_argument("--version", default="2.0")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=REPO / "ames_batch" / "models" / "default")
    p.add_argument("--work", type=Path, default=REPO / "build" / "default-model")
    p.add_argument("--heads-on", type=Path, default=None, metavar="BUNDLE",
                   help="keep the CNN of this hybrid bundle (or this singular 2d/3d CNN bundle) and fit only "
                        "the heads (same cells, same split): how a new metric or a new generator reaches a "
                        "default without retraining the network")
    p.add_argument("--synth-only", action="store_true", help="only make the cell cache, do not train")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints")
    args = p.parse_args(argv)

    from ames_batch._logging import configure_logging

    configure_logging(0)
    from ames_batch.nn import HybridTrainer, load_rater, make_trainer
    from ames_batch.pipeline import train_cells
    from ames_batch.synth import DEMO_SCALE_UM

    looks = [look.strip() for look in args.looks.split(",") if look.strip()]
    if args.heads_on is not None:
        source = load_rater(args.heads_on)
        # a hybrid's own CNN, or a singular CNN bundle itself (then the result is its first hybrid)
        arch = source.card["arch"]
        if arch not in ("hybrid", "2d", "3d"):
            p.error(f"--heads-on {args.heads_on}: neither a hybrid nor a singular 2d/3d CNN bundle "
                    f"(arch {arch!r}): no CNN whose features the heads could read")
        cnn = source.cnn if arch == "hybrid" else source
        trainer = HybridTrainer(cnn=cnn)
        # how that CNN was trained, for the new card (the network is unchanged)
        trained = source.card["training"]
        cnn_from = trained.get("cnn_from") or {
            "bundle": source.identity, "command": trained.get("command"), "settings": trained["settings"].get("cnn"),
            "epochs_run": trained.get("epochs_run"), "best_epoch": trained.get("best_epoch")}
        # the CNN's training history is its source's (read now: OUT may be the source itself)
        history = {name: (args.heads_on / name).read_bytes() for name in ("history.json", "training_curves.png")
                   if (args.heads_on / name).is_file()}
        pre = trainer.preprocess
    else:
        pre = preprocess_settings(args.arch, args.input_px, args.um_per_px, args.depth, args.z_step_um)
        trainer = make_trainer(args.arch, preprocess=pre, max_rotation_deg=args.max_rotation_deg, epochs=args.epochs,
                               batch_size=args.batch_size, learning_rate=args.learning_rate, patience=args.patience,
                               seed=args.seed, max_seconds=60 * args.max_minutes,
                               loss_weights={"source": args.source_loss_weight})
    args.work.mkdir(parents=True, exist_ok=True)
    from ames_batch.metrics import METRICS_VERSION

    # the metrics' version in the key: a cache of earlier metrics is not read
    what = json.dumps({"looks": looks, "n": args.n_cells, "seed": args.seed, "metrics_version": METRICS_VERSION,
                       **({"vary_detector": args.vary_detector} if args.vary_detector else {}),
                       "pre": None if pre is None else pre.to_dict()}, sort_keys=True)
    cache = args.work / f"cells-{hashlib.sha256(what.encode()).hexdigest()[:12]}.pkl"
    if cache.is_file():
        cells = pickle.loads(cache.read_bytes())
        log.info("loaded %d cached cells from %s", len(cells.cell_ids), cache)
    else:
        cells = make_cells(looks, args.n_cells, seed=args.seed, preparer=trainer, vary_detector=args.vary_detector,
                           workers=args.workers)
        cache.write_bytes(pickle.dumps(cells))
    if args.synth_only:
        return 0
    data = {"generator": "ames_batch.synth", "looks": looks, "scale_um": DEMO_SCALE_UM,
            "n_cells_per_look": args.n_cells, "design": "source x sarcomerisation x directionality, balanced",
            "rater_noise": 0.0, "vary_detector": args.vary_detector}
    t0 = time.time()
    report = train_cells(
        cells, args.out, trainer=trainer, seed=args.seed, resume=args.resume,
        name=f"ames-{args.arch}{'-3d' if args.arch == 'hybrid' and pre.ndim == 3 else ''}-default",
        version=args.version,
        description=(f"Trained on synthetic cells only (ames_batch.synth, looks {', '.join(looks)}"
                     + (f"; {args.vary_detector:.0%} of them behind a random change of detector"
                        if args.vary_detector else "") + "); held-out "
                     "metrics are on synthetic cells. Facilities should adapt it to their own rated cells."),
        provenance={"data": data,
                    "command": "python examples/train_default_model.py " + " ".join(argv or sys.argv[1:]),
                    **({"cnn_from": cnn_from} if args.heads_on is not None else {})})
    if args.heads_on is not None:
        for name, content in history.items():
            (args.out / name).write_bytes(content)
    log.info("trained in %.0f s", time.time() - t0)
    print((args.out / "summary.md").read_text())
    return 0 if report.n_cells else 1


if __name__ == "__main__":
    sys.exit(main())
