"""Benchmark `ames-batch run` on synthetic plates of 4 and 32 fields, 2D (and 3D if bundled).

For each plate size and mode, in child processes (so peak RSS is the run's own):
- the run: ``run_plate(..., explain=("gradcam",), force=True)``: fields/s, cells/s, peak RSS;
- the raw read: every field's level-0 zarr chunks read with ``zarr`` alone (same data).
The ratio run time / raw read time is reported, measured in one go on the same machine.
Peak RSS must not grow with the plate: the 32-field plate repeats the 4 fields of the first
plate 8 times (same content, 8x as many fields), so its peak must equal the 4-field one.
Each run is also scored against the plate's ground truth (``score_run``): cell recall and
precision at IoU 0.5, and accuracy / weighted F1 of each rating over the matched cells; since
repeats say little about accuracy, a separate plate of 32 distinct fields is rated with the 2D
default and scored the same way. The
plates use a seed the default model was not trained on, two cells per field (they may touch).

The 3D rows use ``--model-3d`` or the bundled 3D default; an installation without one gets a 3D
bundle with the default 3D preprocessing and random weights instead (speed and memory only, its
ratings not scored).

Run: ``.venv/bin/python benchmarks/bench_run.py [--sizes 4 32]``; writes ``benchmarks/results/run.json``.
"""

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "run.json"


def _run_child(plate: str, model: str | None, mode: str, queue) -> None:
    from ames_batch._logging import import_tensorflow_quietly

    import_tensorflow_quietly()
    from ames_batch.pipeline import run_plate

    t0 = time.perf_counter()
    report = run_plate(Path(plate), model=Path(model) if model else None, mode=mode, explain=("gradcam",),
                       force=True, out_csv=Path(plate).with_suffix(f".{mode}.csv"))
    elapsed = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"seconds": elapsed, "fields": len(report.results), "cells": report.n_cells,
               "failed": len(report.failed), "peak_rss_mib": peak_mib})


def _read_child(plate: str, queue) -> None:
    import zarr

    from ames_batch.io import list_fields

    t0 = time.perf_counter()
    nbytes = 0
    for key in list_fields(Path(plate)):
        nbytes += zarr.open_array(Path(plate) / key.path / "0", mode="r")[...].nbytes
    queue.put({"seconds": time.perf_counter() - t0, "bytes": nbytes,
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _repeat_plate(source: Path, truth_csv: Path, plate: Path, n_fields: int) -> Path:
    """A plate of `n_fields` fields that cycles through the fields of `source` (same content).

    Same fields, more of them: peak memory must then be the same as on `source`.
    """
    import pandas as pd

    from ames_batch.io import FieldKey, list_fields, read_field, read_labels, write_field, write_labels
    from ames_batch.pipeline._demo import demo_wells

    keys = list_fields(source)
    truth = pd.read_csv(truth_csv, dtype={"field": str})
    rows = []
    for i, well in enumerate(demo_wells(-(-n_fields // 4))):
        for f in range(4):
            k = keys[(4 * i + f) % len(keys)]
            new = FieldKey(well, str(f))
            write_field(plate, new, read_field(source, k).compute())
            labels, properties = read_labels(source, k, "truth")
            write_labels(plate, new, "truth", labels.values[0], properties=properties)
            rows.append(truth[(truth.well == k.well) & (truth.field == k.field)].assign(well=well, field=str(f)))
    out = plate.with_name(plate.name.removesuffix(".zarr") + "-truth.csv")
    pd.concat(rows).to_csv(out, index=False)
    return out


def _untrained_3d_bundle(path: Path) -> str:
    """A 3D bundle with the default 3D preprocessing and random weights (when no 3D default is installed)."""
    from ames_batch.nn import PreprocessSettings, build_model, make_card, save_bundle

    settings = PreprocessSettings.default_3d()
    tasks = {"sarcomerisation": list("1234"), "directionality": list("1234"), "source": ["adult", "neonatal", "ipsc"]}
    model = build_model("3d", input_shape=settings.input_shape, tasks=tasks, um_per_px=settings.target_um_per_px)
    card = make_card(name="untrained-3d", version="0", tasks=tasks, settings=settings,
                     training={"data_fingerprint": "none", "split": {}})
    return str(save_bundle(model, card, path))


def _in_child(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 32])
    parser.add_argument("--model-3d", default=None, help="3D bundle (default: the bundled one if any)")
    args = parser.parse_args()
    from ames_batch.pipeline import default_model_path, score_run, write_demo_plate

    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp:
        modes = {"2d": str(default_model_path("2d"))}
        untrained = set()
        try:
            modes["3d"] = args.model_3d or str(default_model_path("3d"))
        except ValueError:
            modes["3d"] = _untrained_3d_bundle(Path(tmp) / "untrained-3d")
            untrained.add("3d")
        first = Path(tmp) / f"plate{args.sizes[0]}.zarr"
        demo = write_demo_plate(first, n_wells=max(1, args.sizes[0] // 4), n_fields=min(4, args.sizes[0]),
                                cells_per_field=2, seed=1000)
        for n_fields in args.sizes:
            plate = Path(tmp) / f"plate{n_fields}.zarr"
            truth_csv = _repeat_plate(first, demo.truth_csv, plate, n_fields) if plate != first else demo.truth_csv
            raw = _in_child(_read_child, str(plate))
            for mode, model in modes.items():
                run = _in_child(_run_child, str(plate), model, mode)
                row = {"mode": mode, "fields": run["fields"], "cells": run["cells"], "failed": run["failed"],
                       "seconds": round(run["seconds"], 2),
                       "fields_per_s": round(run["fields"] / run["seconds"], 3),
                       "cells_per_s": round(run["cells"] / run["seconds"], 3),
                       "peak_rss_mib": round(run["peak_rss_mib"]),
                       "raw_read_seconds": round(raw["seconds"], 3),
                       "ratio_to_raw_read": round(run["seconds"] / raw["seconds"], 1),
                       "against_truth": score_run(plate, plate.with_suffix(f".{mode}.csv"), truth_csv)}
                if mode in untrained:  # cells are found by segmentation; ratings of random weights mean nothing
                    row["weights"] = "untrained: speed and memory only"
                    row["against_truth"] = {k: v for k, v in row["against_truth"].items() if not isinstance(v, dict)}
                results["runs"].append(row)
                print(json.dumps(row))
        # Accuracy needs many different cells, not repeats: 32 distinct fields, the 2D default.
        distinct = write_demo_plate(Path(tmp) / "distinct.zarr", n_wells=8, n_fields=4, cells_per_field=2, seed=2000)
        _in_child(_run_child, str(distinct.plate), modes["2d"], "2d")
        results["accuracy_2d_32_distinct_fields"] = score_run(
            distinct.plate, distinct.plate.with_suffix(".2d.csv"), distinct.truth_csv)
        print(json.dumps(results["accuracy_2d_32_distinct_fields"]))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
