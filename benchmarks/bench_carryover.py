"""Do ratings carry over to cells the model was not made from? (issue #15)

The same truth is drawn in the generator's looks (``ames_batch.synth.LOOKS``: "a" SIM-like
stripes, "b" z-discs of dots behind a widefield/Airyscan camera, by independent code; "c" a's
cells behind b's camera). Each candidate rater is trained on "a" or "b" and scored on the
held-out cells of the other, both ways (leave one look out), with the in-look held-out score
beside it for reference, and on look "c"; "ab" trains on both, leaving "c" out.

Cells: ``--cells`` per look, balanced over source x sarcomerisation x directionality (the
3 x 4 x 4 design cycled), cell ``i`` drawn from seed ``(seed, i)`` with the same parameters
and field seed in every look, each its own field at the demo scale, turned into the
pipeline's own records in memory (``FieldData.from_arrays``, ``extract_cells``) and prepared
as each trainer prepares them. One split by cell (stratified, seed 0; 60 / 15 / 25 %) serves
every look, so no cell's truth (outline, organised region) is trained on in one look and
scored in the other. Prepared cells are cached (``--work``, npz); trained raters too.

Per task: accuracy, weighted F1, the mean probability of the predicted class and the expected
calibration error (``nn.calibration``; %, does a probability hold on a look the rater did not
see?) and (ordinal tasks) the Spearman correlation of the expected rating
(``vocabulary.expected_rating``) with the continuous truth: the organised fraction
(sarcomerisation) and the z-disc angle to the long axis folded to [0, 90] deg (directionality).

A bundle trained elsewhere (``--bundles``, by default the bundled default) is scored on the
test split, as the candidates are, and on every cell of each look (none trained it: an accuracy
on 576 cells is known to about ±2 points, on the 144 of the test split to ±4).

Writes ``benchmarks/results/carryover.json``::

    .venv/bin/python benchmarks/bench_carryover.py [--cells 1152] [--candidates metrics,2d,hybrid,...] [--results PATH]
"""

import argparse
import hashlib
import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "carryover.json"
log = logging.getLogger("ames_batch")
SPLIT = {"val_fraction": 0.15, "test_fraction": 0.25, "seed": 0}


def preprocess_settings() -> dict:
    """The CNN inputs compared: the default's 2D window and the default-3d stack window."""
    from ames_batch.nn import PreprocessSettings

    return {"2d": replace(PreprocessSettings.default_2d(), input_shape=(160, 160), target_um_per_px=0.3),
            "3d": replace(PreprocessSettings.default_3d(), input_shape=(8, 120, 120), target_um_per_px=0.4,
                          z_step_um=1.0)}


def _one_cell(job):
    """Cell `i` of `look`: its record's metrics, 2D and 3D inputs and truth (runs in a worker)."""
    i, seed, look = job
    from ames_batch.metrics import METRIC_NAMES
    from ames_batch.nn import cnn_input
    from ames_batch.pipeline import synthetic_cell

    # the same parameters and rendering seed in every look
    cell = synthetic_cell(i, look, params_rng=np.random.default_rng([seed, i]),
                          field_rng=np.random.default_rng([seed, i, 1]))
    inputs = {kind: cnn_input(settings, cell.record, cell.field).x for kind, settings in preprocess_settings().items()}
    params, optics = cell.truth.params, cell.synthetic.optics
    return (i, np.array([cell.record.metrics[n] for n in METRIC_NAMES]), inputs,
            {**cell.ratings, "organised_fraction": params.organised_fraction,
             "zdisc_angle_deg": abs(params.zdisc_angle_deg),
             "optics": f"{getattr(optics, 'mode', 'sim')}-{getattr(optics, 'bit_depth', 16)}bit"})


def make_cells(n: int, look: str, *, seed: int, work: Path, workers: int) -> dict:
    """The cells of one look as arrays (cached in `work`): ids, metrics, x2d, x3d, truth columns."""
    from ames_batch.metrics import METRIC_NAMES, METRICS_VERSION

    # the metric names and version in the name: a cache of another version's metrics is not read
    names = hashlib.sha256(",".join(METRIC_NAMES).encode()).hexdigest()[:8]
    cache = work / f"cells-{look}-n{n}-seed{seed}-m{names}v{METRICS_VERSION}.npz"
    if cache.is_file():
        with np.load(cache) as data:
            return {k: data[k] for k in data.files}
    settings = preprocess_settings()
    out = {"ids": np.array([f"synthetic/seed{seed}/cell{i}" for i in range(n)]),
           "metrics": np.empty((n, len(METRIC_NAMES))), **{f"x{k}": np.empty((n, *s.input_shape, 1), np.float32)
                                            for k, s in settings.items()}}
    truth = {}
    t0 = time.time()
    import multiprocessing as mp

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        for k, (i, metrics, inputs, t) in enumerate(pool.map(_one_cell, [(i, seed, look) for i in range(n)],
                                                             chunksize=8), start=1):
            out["metrics"][i] = metrics
            for kind, x in inputs.items():
                out[f"x{kind}"][i] = x
            for key, v in t.items():
                truth.setdefault(key, [None] * n)[i] = v
            if k % 100 == 0:
                log.info("look %s: %d/%d cells (%.0f s)", look, k, n, time.time() - t0)
    out.update({k: np.asarray(v) for k, v in truth.items()})
    work.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    log.info("look %s: %d cells in %.0f s -> %s", look, n, time.time() - t0, cache)
    return out


def prepared_cells(cells: dict, kind: str, *, stack: bool = False) -> list:
    """The cached cells of one look as a trainer of `kind` prepares them ("metrics", "2d", "3d", "hybrid";
    a hybrid on a 3D CNN, `stack`, sees the 3D windows)."""
    from ames_batch.metrics import METRIC_NAMES
    from ames_batch.nn import CNNInput
    from ames_batch.nn import HybridInput

    metrics = [dict(zip(METRIC_NAMES, row)) for row in cells["metrics"]]
    if kind == "metrics":
        return metrics
    if kind == "hybrid":
        return [HybridInput(CNNInput(x, None), m) for x, m in zip(cells["x3d" if stack else "x2d"], metrics)]
    return [CNNInput(x, None) for x in cells[f"x{kind}"]]


def cnn_trainer(kind: str, *, epochs: int, max_minutes: float, randomise: bool = False):
    """The CNN recipe of the default (lr 5e-4, batch 16, ±3°, source loss weight 0.1, patience 10),
    optionally with intensity domain randomisation (gamma in [1/2, 2], saturation at [0.5, 1],
    noise up to 5 % of the range)."""
    from ames_batch.nn import make_trainer

    trainer = make_trainer(kind, preprocess=preprocess_settings()[kind], max_rotation_deg=3.0,
                           loss_weights={"source": 0.1}, epochs=epochs, patience=10, batch_size=16,
                           learning_rate=5e-4, seed=0, max_seconds=60 * max_minutes)
    if randomise:
        trainer.settings = replace(trainer.settings, augment=replace(trainer.settings.augment, max_gamma=2.0,
                                                                     min_saturation=0.5, max_noise=0.05))
    return trainer


#: candidate -> (kind of prepared cells, CNN it stands on or None, intensity randomisation)
CANDIDATES = {
    "metrics": ("metrics", None, False),
    "2d": ("2d", None, False),
    "hybrid": ("hybrid", "2d", False),
    "2d-dr": ("2d", None, True),
    "hybrid-dr": ("hybrid", "2d-dr", True),
    "3d": ("3d", None, False),
}


def fit_candidate(name: str, cells: dict, split, args, fitted: dict):
    """Fit candidate `name` on one look's training split (CNNs are cached as bundles in --work)."""
    from ames_batch.nn import load_rater, make_trainer
    from ames_batch.nn import HybridTrainer
    from ames_batch.vocabulary import TASK_CLASSES

    kind, base, randomise = CANDIDATES[name]
    ratings = {t: cells[t].astype(str) for t in TASK_CLASSES}
    ids = cells["ids"].tolist()
    classes = {t: list(c) for t, c in TASK_CLASSES.items()}
    if kind == "metrics":
        trainer = make_trainer("metrics")
    elif kind == "hybrid":
        trainer = HybridTrainer(cnn=fitted[base])
    else:
        folder = args.work / "models" / f"{name}-{cells['look']}-n{len(ids)}"
        if (folder / "model.json").is_file():
            return load_rater(folder), {"cached": str(folder)}
        trainer = cnn_trainer(kind, epochs=args.epochs, max_minutes=args.max_minutes, randomise=randomise)
    t0 = time.process_time(), time.time()
    fit = trainer.fit(prepared_cells(cells, kind), ratings, ids, split, classes=classes)
    info = {"cpu_s": round(time.process_time() - t0[0], 1), "wall_s": round(time.time() - t0[1], 1),
            "epochs_run": fit.epochs_run, "best_epoch": fit.best_epoch, "settings": fit.settings}
    if kind in ("2d", "3d"):
        fit.rater.save(folder, name=f"carryover-{name}-{cells['look']}", version="0",
                       training={"data_fingerprint": f"bench_carryover n{len(ids)} seed{args.seed} look "
                                                     f"{cells['look']}", "split": SPLIT, **info})
    return fit.rater, info


def score(rater, kind: str, cells: dict, rows: np.ndarray) -> dict:
    """Accuracy, weighted F1 (%) and the Spearman correlation of the expected rating with the truth."""
    from scipy.stats import spearmanr

    from ames_batch.nn import evaluate_ratings
    from ames_batch.vocabulary import ORDINAL_TASKS, expected_rating

    prepared = prepared_cells(cells, kind, stack=rater.needs_stack)
    probs = rater.predict_proba([prepared[i] for i in rows])
    classes = {t: list(c) for t, c in rater.tasks.items()}
    truth = {t: cells[t].astype(str)[rows] for t in classes}
    metrics = evaluate_ratings(truth, probs, classes)
    continuous = {"sarcomerisation": "organised_fraction", "directionality": "zdisc_angle_deg"}
    out = {}
    for task in classes:
        out[task] = {"accuracy": round(100 * metrics[task]["accuracy"], 1),
                     "f1": round(100 * metrics[task]["weighted_f1"], 1),
                     "mean_confidence": round(100 * metrics[task]["calibration"]["mean_confidence"], 1),
                     "ece": round(100 * metrics[task]["calibration"]["ece"], 1)}
        if task in ORDINAL_TASKS:
            rho = spearmanr(expected_rating(probs[task], task), cells[continuous[task]][rows]).statistic
            out[task]["spearman"] = round(float(rho), 3)
    return out


def _line(name: str, train: str, test: str, s: dict) -> str:
    cols = [f"{s[t]['accuracy']:5.1f}/{s[t]['f1']:5.1f} ece {s[t]['ece']:4.1f}"
            + (f" rho {s[t]['spearman']:.3f}" if "spearman" in s[t] else "")
            for t in ("sarcomerisation", "directionality", "source")]
    return f"{name:10s} {train}->{test}  " + "   ".join(cols)


def both_looks(cells: dict, split, looks=("a", "b")):
    """The `looks`' cells as one training set (ids by look) and the split of each look, joined."""
    from ames_batch.nn import CellSplit

    n = len(cells[looks[0]]["ids"])
    keys = [k for k in cells[looks[0]] if k != "look"]
    merged = {k: np.concatenate([cells[look][k] for look in looks]) for k in keys}
    merged["ids"] = np.array([f"{look}/{i}" for look in looks for i in cells[look]["ids"]])
    merged["look"] = "".join(looks)
    parts = {k: np.concatenate([split.indices(k) + j * n for j in range(len(looks))]) for k in ("train", "val", "test")}
    return merged, CellSplit(**parts, cell_ids=merged["ids"], groups=None, seed=split.seed)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", type=int, default=1152)
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=45)
    p.add_argument("--max-minutes", type=float, default=25.0, help="per CNN fit (best weights kept)")
    p.add_argument("--candidates", default=",".join(CANDIDATES), help="raters to fit ('' for none)")
    p.add_argument("--bundles", nargs="*", type=Path, default=[REPO / "ames_batch" / "models" / "default"],
                   help="trained bundles to score as they are (default: the bundled default)")
    p.add_argument("--train-looks", default="a,b", help="looks to train on, one at a time; 'ab' = both together")
    p.add_argument("--work", type=Path, default=REPO / "build" / "carryover")
    p.add_argument("--synth-only", action="store_true")
    p.add_argument("--results", type=Path, default=RESULTS, help="JSON to merge the scores into")
    args = p.parse_args(argv)
    from ames_batch._logging import configure_logging
    from ames_batch.nn import load_rater, split_cells
    from ames_batch.synth import LOOKS
    from ames_batch.vocabulary import TASK_CLASSES

    configure_logging(0)
    cells = {look: {**make_cells(args.cells, look, seed=args.seed, work=args.work, workers=args.workers),
                    "look": look} for look in LOOKS}
    if args.synth_only:
        return 0
    a = cells[LOOKS[0]]
    assert all((a[t] == cells[look][t]).all() for t in TASK_CLASSES for look in LOOKS), \
        "every look must hold the same truth"
    split = split_cells(a["ids"], {t: a[t] for t in TASK_CLASSES}, **SPLIT)
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results.update({"n_cells_per_look": args.cells, "split": {k: int(len(split.indices(k)))
                                                                   for k in ("train", "val", "test")},
                    "cells": f"ames_batch.synth seed {args.seed}, looks {list(LOOKS)}, demo scale, one cell per field, "
                             "3 x 4 x 4 design; same truth and split in every look"})
    table = results.setdefault("scores", {})
    for path in args.bundles:  # trained elsewhere (on other cells than these): scored as they are
        rater = load_rater(path)
        kind = rater.card["arch"]
        seen = ",".join(rater.card["training"].get("data", {}).get("looks", ["old generator"]))
        row = table.setdefault(f"{rater.name}@{rater.version}", {})
        every = np.arange(len(a["ids"]))
        for look in LOOKS:
            row[f"({seen}) -> {look}"] = s = score(rater, kind, cells[look], split.test)
            print(_line(f"{rater.name}@{rater.version}", seen, look, s), flush=True)
            # none of these cells trained it: all of them, 4x the test split's, narrow its intervals
            row[f"({seen}) -> {look}, all {every.size} cells"] = s = score(rater, kind, cells[look], every)
            print(_line(f"{rater.name}@{rater.version}", seen, f"{look} (all)", s), flush=True)
    train_looks = [look for look in args.train_looks.split(",") if look]
    if "ab" in train_looks:
        cells["ab"], joint = both_looks(cells, split)
    fitted = {look: {} for look in train_looks}
    for name in [c for c in args.candidates.split(",") if c]:
        for train in train_looks:
            rater, info = fit_candidate(name, cells[train], joint if train == "ab" else split, args, fitted[train])
            fitted[train][name] = rater
            row = table.setdefault(name, {})
            row[f"{train} info"] = info
            for test in LOOKS:
                row[f"{train} -> {test}"] = s = score(rater, CANDIDATES[name][0], cells[test], split.test)
                print(_line(name, train, test, s), flush=True)
            args.results.write_text(json.dumps(results, indent=1) + "\n")
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
