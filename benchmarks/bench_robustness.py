"""How much does a rating model's accuracy change when the images look different?

Cells unlike the training data are the rule in a facility: another microscope, detector, stain
or segmentation. This applies one change at a time to the maximum projection (or the mask) of
freshly drawn synthetic cells (seeds never used in training; balanced sarcomerisation x
directionality, sources drawn by the sampler) before the model's own preprocessing, and scores
each rater (any bundle: a CNN, or a metrics model from ``train --arch metrics``) on the same cells,
through the pipeline's own per-cell record and the rater's ``prepare``:

- ``gamma 0.5`` / ``gamma 2``: another detector response or stain contrast (between the cell's 1st
  and 99th percentile);
- ``saturated at p90``: a detector that clipped the brightest 10 % of the cell;
- ``noise 10 %``: Gaussian noise of 10 % of that range;
- ``offset``, ``blur 0.2 µm``, ``pixel size /2`` and ``x2``: background, optics, sampling;
- ``mask +1 µm`` / ``-1 µm``: a segmentation that cut the cell 1 µm too wide or too tight.

Writes ``benchmarks/results/robustness.json`` (per look, replacing that look's entry: accuracy
per task, per change, per model, and the share of cells the run flags ``saturated`` and ``ood``
with the accuracy of the flagged cells and of the others). CPU, about 2 minutes per model and
look for 160 cells::

    .venv/bin/python benchmarks/bench_robustness.py [MODEL ...] [--cells 160] [--look a|b] [--results PATH]
"""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "robustness.json"


def _stretch(mip, mask, exponent):
    lo, hi = np.percentile(mip[mask], [1, 99])
    return lo + (hi - lo) * np.clip((mip - lo) / (hi - lo), 0, None) ** exponent


def _noise(mip, mask):
    lo, hi = np.percentile(mip[mask], [1, 99])
    return mip + np.random.default_rng(0).normal(0, 0.1 * (hi - lo), mip.shape).astype(np.float32)


def _rescaled(mip, mask, px, factor):
    return (ndi.zoom(mip, factor, order=1), ndi.zoom(mask.astype(np.uint8), factor, order=0) > 0, px / factor)


#: change -> function (mip, mask, pixel size µm) -> (mip, mask, pixel size µm)
CHANGES = {
    "none": lambda mip, mask, px: (mip, mask, px),
    "gamma 0.5": lambda mip, mask, px: (_stretch(mip, mask, 0.5), mask, px),
    "gamma 2": lambda mip, mask, px: (_stretch(mip, mask, 2.0), mask, px),
    "saturated at p90": lambda mip, mask, px: (np.minimum(mip, np.percentile(mip[mask], 90)), mask, px),
    "noise 10 %": lambda mip, mask, px: (_noise(mip, mask), mask, px),
    "offset": lambda mip, mask, px: (mip + 0.5 * np.percentile(mip[mask], 99), mask, px),
    "blur 0.2 um": lambda mip, mask, px: (ndi.gaussian_filter(mip, 0.2 / px), mask, px),
    "pixel size /2": lambda mip, mask, px: _rescaled(mip, mask, px, 2.0),
    "pixel size x2": lambda mip, mask, px: _rescaled(mip, mask, px, 0.5),
    "mask +1 um": lambda mip, mask, px: (mip, ndi.binary_dilation(mask, iterations=round(1 / px)), px),
    "mask -1 um": lambda mip, mask, px: (mip, ndi.binary_erosion(mask, iterations=round(1 / px)), px),
}


def make_cells(n: int, first_seed: int = 90000, look: str = "a"):
    """(MIP, mask, truth) of `n` synthetic cells at the demo scale in `look`, balanced over both ratings."""
    from ames_batch.synth import DEMO_SCALE_UM, sample_cell_params, synthesize_field

    cells = []
    for i in range(n):
        rng = np.random.default_rng(first_seed + i)
        params = sample_cell_params(rng, sarcomerisation=i % 4 + 1, directionality=(i // 4) % 4 + 1)
        field = synthesize_field(rng, cell_params=[params], scale_um=DEMO_SCALE_UM, look=look)
        cells.append((field.stack.max(axis=0).astype(np.float32), field.cell_labels == 1, field.cells[0]))
    return cells, DEMO_SCALE_UM["x"]


def _records(rater, changed: list) -> list:
    """Each changed cell as the pipeline hands it to the rater: one record, prepared by the rater."""
    from ames_batch.io import FieldKey
    from ames_batch.pipeline import FieldData, extract_cells, prepare_cells

    out = []
    for i, (mip, mask, px) in enumerate(changed):
        field = FieldData.from_arrays(FieldKey("A/1", str(i)), np.asarray(mip, np.float32), {"y": px, "x": px})
        out += prepare_cells(extract_cells(field, field.labels_from_field(mask.astype(np.uint32))), field, rater.preparer)
    return out


def score(rater, cells, px) -> tuple[dict, dict]:
    """Accuracy (%) per change and task of one rater on `cells`, and per change what the run's
    per-cell flags say: % of cells ``saturated`` and ``ood``, and the mean accuracy over the tasks
    of the cells flagged ood and of the others."""
    classes = {t: list(c) for t, c in rater.tasks.items()}
    truth = {t: np.array([str(getattr(c, t)) for _, _, c in cells]) for t in classes}
    accuracy, flags = {}, {}
    for name, change in CHANGES.items():
        records = _records(rater, [change(mip, mask, px) for mip, mask, _ in cells])
        rating = rater.rate([r.prepared for r in records])
        hits = {t: np.asarray(classes[t])[np.argmax(rating.probabilities[t], axis=1)] == truth[t] for t in classes}
        accuracy[name] = {t: round(100 * float(np.mean(h)), 1) for t, h in hits.items()}
        per_cell = np.mean(list(hits.values()), axis=0)
        ood = np.array([bool(c.get("ood", False)) for c in rating.columns])
        flags[name] = {"saturated %": round(100 * float(np.mean([r.saturated for r in records])), 1),
                       "ood %": round(100 * float(ood.mean()), 1),
                       "accuracy ood / not ood %": [round(100 * float(per_cell[m].mean()), 1) if m.any() else None
                                                    for m in (ood, ~ood)]}
        print(f"  {name:18s} " + "  ".join(f"{t} {v:5.1f}" for t, v in accuracy[name].items())
              + f"  | saturated {flags[name]['saturated %']:5.1f} %  ood {flags[name]['ood %']:5.1f} %", flush=True)
    return accuracy, flags


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", type=Path, default=[REPO / "ames_batch" / "models" / "default"])
    p.add_argument("--cells", type=int, default=160)
    p.add_argument("--look", default="a", help="the generator's look of the cells (ames_batch.synth.LOOKS)")
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    from ames_batch.nn import load_rater

    cells, px = make_cells(args.cells, look=args.look)
    # one file for all looks: this look's entry is replaced, the others kept
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    if results.get("n_cells_per_look", len(cells)) != len(cells):
        results = {}
    results["n_cells_per_look"] = len(cells)
    look = results.setdefault("looks", {}).setdefault(args.look, {})
    look["cells"] = f"ames_batch.synth look {args.look}, seeds 90000+, demo scale 0.16 um/px"
    for path in args.models:
        rater = load_rater(path)
        name = f"{rater.name}@{rater.version}"
        print(f"{name} ({path}), accuracy %:")
        look.setdefault("models", {})[name], look.setdefault("flags", {})[name] = score(rater, cells, px)
    args.results.parent.mkdir(exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
