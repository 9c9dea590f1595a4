"""Benchmark `ames-batch run` on synthetic plates of 4 and 32 fields, 2D (and 3D if bundled).

For each plate size and mode, in child processes (so peak RSS is the run's own):
- the run: ``run_plate(..., explain=("gradcam",), force=True, report=False)``: fields/s, cells/s,
  peak RSS; then the plate report `run` writes at the end, timed on its own (``report_seconds``):
  its gallery lays heatmaps on up to 22 example cells, a cost per field only until it is full, so
  counted in the run it would pass for a per-field cost on these small plates;
- the raw read: every field's level-0 zarr chunks read with ``zarr`` alone (same data).
The ratio run time / raw read time is reported, measured in one go on the same machine.
A run of 16 fields or more, 2D or 3D, prepares them in worker processes (so the 32-field run does, the
4-field one not: the marginal carries the workers' start): their peak RSS is reported apart
(``workers_peak_rss_mib``, the sum of each worker's peak) and, with the run's, in the growth.
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

SIM scale (``--sim``, on by default): the cached plate of ``sim_plate.py`` (fields of 1024 x 1024
x 64 at 0.04 µm/px, one cell each); runs over its first 16 and all 48 fields (``wells=``,
``--sim-sizes``), 2D without heatmaps, 2D with Grad-CAM and 3D with Grad-CAM (both sizes are
runs that prepare their fields in worker processes, as a plate's run does:
``PROCESSES_FROM_FIELDS``; until 2026-12-07 the sizes were 4 and 12, until 2026-12-08 16 and
24). The *marginal* time per field (t48 - t16) / 32 is set against the raw zarr read of the same
fields' level-0 arrays;
each run's child process first reads its fields with zarr alone (timed without start-up), rates
one field untimed (tracing the model's passes, which a run would otherwise charge to its first
fields), then runs; each of 5 repeats (``--sim-repeats``) runs the three cases in turn, each on
fields stripped of earlier outputs (rated as new acquisitions, not replacing a run's outputs;
until 2026-12-08 each case ran its repeats in a block, on fields rated by the repeat before),
and gives one ratio per case (its run marginal over its read per field); the median is reported
with each (the load of this shared machine changes within minutes: a ratio of a read measured
once against runs measured later swung by half). The same in CPU seconds (the run's process and
its workers; the read's process, whose zarr decodes in threads): the work, which other load moves
far less than wall-clock time. Grad-CAM's share in 2D (``gradcam_added_2d``), repeat by repeat.
The heatmaps' bytes on disk against the images'.

A rerun with nothing to do (``--noop``): a 96-field demo plate rated once, then rated again
in a fresh process (``ames-batch run``, the command a cron job calls): wall-clock seconds.

Run: ``.venv/bin/python benchmarks/bench_run.py [--sizes 4 32] [--sim-sizes 16 48] [--no-sim] [--no-noop]``; writes
``benchmarks/results/run.json``, keeping the last figures of the parts skipped (``measured_at`` says
when each part was measured).
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


def _run_child(plate: str, model: str | None, mode: str, queue, explain=("gradcam",), wells=None,
               read_first=False, warm_up=False) -> None:
    from ames_batch._logging import import_tensorflow_quietly

    import_tensorflow_quietly()
    from ames_batch.pipeline import run_plate, write_plate_report

    # the raw read of the same fields in the same process just before the run: one moment's load
    raw = _read_levels0(Path(plate), wells) if read_first else None
    csv = Path(plate).with_suffix(f".{mode}.csv")
    if warm_up:  # one field first, untimed: the model's passes are traced before the timed run
        run_plate(Path(plate), model=Path(model) if model else None, mode=mode, explain=explain,
                  force=True, wells=wells[:1], out_csv=csv, report=False)
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    report = run_plate(Path(plate), model=Path(model) if model else None, mode=mode, explain=explain,
                       force=True, wells=wells, out_csv=csv, report=False)
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    # the report `run` writes at the end, timed apart: its gallery of <= 22 example cells costs
    # per cell until it is full, so on small plates it would count as a cost per field
    t0 = time.perf_counter()
    write_plate_report(Path(plate), csv)
    report_seconds = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"seconds": elapsed, "cpu_seconds": cpu, "report_seconds": report_seconds, "fields": len(report.results),
               "cells": report.n_cells, "failed": len(report.failed), "peak_rss_mib": peak_mib,
               "workers_peak_rss_mib": _workers_peak_mib(), "raw_read": raw})


def _cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and of its live children (the run's
    preparing workers, which outlive a run): the work done, whatever the other load on the
    machine made of the wall-clock time."""
    import psutil

    me = psutil.Process()
    total = time.process_time()
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _workers_peak_mib() -> float:
    """Sum of the peak RSS of this process's live children (the run's preparing workers; Linux
    ``VmHWM``): at most what they held at once."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0) / 1024
    return total


def _read_levels0(plate: Path, wells=None) -> dict:
    """Seconds and bytes to read every field's level-0 array (of `wells`) with zarr alone."""
    import zarr

    from ames_batch.io import list_fields

    cpu0, t0 = time.process_time(), time.perf_counter()
    nbytes = n = 0
    for key in list_fields(plate):
        if wells is None or key.well in wells:
            nbytes += zarr.open_array(plate / key.path / "0", mode="r")[...].nbytes
            n += 1
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0, "bytes": nbytes,
            "fields": n}


def _read_child(plate: str, queue, wells=None) -> None:
    queue.put({**_read_levels0(Path(plate), wells),
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


def _in_child(target, *args, **kwargs) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue), kwargs=kwargs)
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _disk_bytes(folders) -> int:
    return sum(f.stat().st_size for folder in folders for f in Path(folder).rglob("*") if f.is_file())


def _best(runs) -> dict:
    """The run of fewest seconds, with the peak RSS of the highest."""
    runs = list(runs)
    return {**min(runs, key=lambda r: r["seconds"]), "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "workers_peak_rss_mib": max(r["workers_peak_rss_mib"] for r in runs)}


def _strip_outputs(plate: Path, keys) -> None:
    """Remove what a run wrote into the fields `keys` (labels, heatmaps, tables): the next run
    rates them as new acquisitions, as a cron job does, instead of replacing earlier outputs."""
    import shutil

    for key in keys:
        for part in ("labels", "heatmaps", "tables"):
            shutil.rmtree(plate / key.path / part, ignore_errors=True)


def sim_scale(tmp: Path, models: dict, sizes=None, repeats: int = 5) -> dict:
    """Marginal seconds per SIM-scale field against the raw read of one, per mode and heatmaps
    (median over `repeats` of ratios measured back to back); `sizes` default
    (``PROCESSES_FROM_FIELDS``, that + 32): both runs prepare their fields in worker processes,
    and the marginal spans 32 fields (over 8, the start-up's swings of a second or more on this
    shared machine gave repeats from -0.4x to 4x the raw read).

    Each repeat runs every case in turn (the machine's load drifts within minutes: cases run
    in blocks of their own compared one moment with another), each on fields without outputs
    (`_strip_outputs`). Besides wall-clock seconds, the CPU seconds of the run's process and its
    workers, and of the raw read's process (zarr decodes in threads): the work, which the other
    load on the machine moves far less than the wall-clock time.
    """
    import shutil
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import numpy as np
    from sim_plate import make_sim_plate

    from ames_batch.io import list_fields
    from ames_batch.pipeline._run import PROCESSES_FROM_FIELDS

    sizes = sizes or (PROCESSES_FROM_FIELDS, PROCESSES_FROM_FIELDS + 32)

    cached = make_sim_plate(Path(tempfile.gettempdir()) / "ames-sim-plate", max(sizes))
    plate = tmp / "sim.zarr"
    shutil.copytree(cached, plate)
    keys = list_fields(plate)
    wells = [k.well for k in keys]
    out = {"plate": "sim_plate.py: 1024 x 1024 x 64 uint16 at 0.04 um / 0.125 um, one cell per field",
           "sizes": list(sizes), "repeats": repeats, "cases": []}
    small, large = sizes
    cases = (("2d", ()), ("2d", ("gradcam",)), ("3d", ("gradcam",)))
    runs = {(case, n): [] for case in cases for n in sizes}
    heatmap_share = {}
    for _ in range(repeats):
        for case in cases:
            mode, explain = case
            for n in sizes:
                _strip_outputs(plate, keys[:n])
                # the child reads its fields' level-0 arrays with zarr alone, then runs: the
                # ratio of one repeat sees one moment's load on this shared machine
                runs[case, n].append(_in_child(_run_child, str(plate), models[mode], mode, explain=explain,
                                               wells=wells[:n], read_first=True, warm_up=True))
            if explain:  # every field holds this case's heatmaps now
                heatmap_share[case] = (_disk_bytes(plate / k.path / "heatmaps" for k in keys)
                                       / _disk_bytes(plate / k.path / "0" for k in keys))
    marginals = {}
    for case in cases:
        mode, explain = case
        pairs = list(zip(runs[case, small], runs[case, large]))
        per_field = {
            clock: [(b[clock] - a[clock]) / (large - small) for a, b in pairs] for clock in ("seconds", "cpu_seconds")}
        # the read has no start-up inside its timer: all fields of both children over their number
        read = {clock: [(a["raw_read"][clock] + b["raw_read"][clock]) / (small + large) for a, b in pairs]
                for clock in ("seconds", "cpu_seconds")}
        ratios = {clock: [r / w for r, w in zip(per_field[clock], read[clock])] for clock in per_field}
        marginals[case] = per_field
        best = {n: _best(runs[case, n]) for n in sizes}
        row = {"mode": mode, "explain": list(explain),
               "seconds": {n: round(r["seconds"], 2) for n, r in best.items()},
               "report_seconds": {n: round(float(np.median([r["report_seconds"] for r in runs[case, n]])), 2)
                                  for n in sizes},
               "marginal_seconds_per_field": round(float(np.median(per_field["seconds"])), 3),
               "raw_read_seconds_per_field": round(float(np.median(read["seconds"])), 4),
               "ratio_to_raw_read": round(float(np.median(ratios["seconds"])), 2),
               "ratio_to_raw_read_each_repeat": [round(r, 2) for r in ratios["seconds"]],
               "marginal_cpu_seconds_per_field": round(float(np.median(per_field["cpu_seconds"])), 3),
               "raw_read_cpu_seconds_per_field": round(float(np.median(read["cpu_seconds"])), 4),
               "cpu_ratio_to_raw_read": round(float(np.median(ratios["cpu_seconds"])), 2),
               "cpu_ratio_to_raw_read_each_repeat": [round(r, 2) for r in ratios["cpu_seconds"]],
               "peak_rss_mib": {n: round(r["peak_rss_mib"]) for n, r in best.items()},
               "workers_peak_rss_mib": {n: round(r["workers_peak_rss_mib"]) for n, r in best.items()},
               "failed": sum(r["failed"] for n in sizes for r in runs[case, n])}
        if explain:
            row["heatmap_bytes_over_image_bytes"] = round(heatmap_share[case], 4)
        out["cases"].append(row)
        print(json.dumps(row))
    # Grad-CAM's share in 2D, repeat by repeat (the two cases ran minutes apart at most)
    plain, explained = marginals[cases[0]], marginals[cases[1]]
    out["gradcam_added_2d"] = {
        clock: round(float(np.median([g / p - 1 for p, g in zip(plain[clock], explained[clock])])), 3)
        for clock in ("seconds", "cpu_seconds")}
    print(json.dumps({"gradcam_added_2d": out["gradcam_added_2d"]}))
    return out


def noop_rerun(tmp: Path, n_wells: int = 48, n_fields: int = 2) -> dict:
    """Seconds of `ames-batch run` on a rated plate of n_wells x n_fields demo fields (nothing to do)."""
    import subprocess
    import sys

    from ames_batch.pipeline import write_demo_plate

    plate = write_demo_plate(tmp / "noop.zarr", n_wells=n_wells, n_fields=n_fields, cells_per_field=1,
                             seed=3000).plate
    cmd = [sys.executable, "-m", "ames_batch.cli", "-q", "run", str(plate), "--explain", "none"]
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds.append(time.perf_counter() - t0)
    row = {"fields": n_wells * n_fields, "seconds": [round(t, 2) for t in seconds], "best_seconds": round(min(seconds), 2)}
    print(json.dumps({"noop_rerun": row}))
    return row


def _demo_row(plate, model, mode, explain, raw, truth_csv, untrained) -> dict:
    from ames_batch.pipeline import score_run

    run = _in_child(_run_child, str(plate), model, mode, explain=explain)
    row = {"mode": mode, "explain": list(explain), "fields": run["fields"], "cells": run["cells"],
           "failed": run["failed"], "seconds": round(run["seconds"], 2),
           "report_seconds": round(run["report_seconds"], 2),
           "fields_per_s": round(run["fields"] / run["seconds"], 3),
           "cells_per_s": round(run["cells"] / run["seconds"], 3),
           "peak_rss_mib": round(run["peak_rss_mib"]),
           "workers_peak_rss_mib": round(run["workers_peak_rss_mib"]),
           "raw_read_seconds": round(raw["seconds"], 3),
           "ratio_to_raw_read": round(run["seconds"] / raw["seconds"], 1),
           "against_truth": score_run(plate, plate.with_suffix(f".{mode}.csv"), truth_csv)}
    if mode in untrained:  # cells are found by segmentation; ratings of random weights mean nothing
        row["weights"] = "untrained: speed and memory only"
        row["against_truth"] = {k: v for k, v in row["against_truth"].items() if not isinstance(v, dict)}
    print(json.dumps(row))
    return row


def demo_scale(tmp: Path, sizes, modes: dict, untrained: set, results: dict) -> None:
    """Plates of `sizes` fields (the first plate's fields repeated), each mode with and without
    Grad-CAM; marginal cells/s between the smallest and the largest; accuracy on 32 distinct fields."""
    from ames_batch.pipeline import score_run, write_demo_plate

    first = tmp / f"plate{sizes[0]}.zarr"
    demo = write_demo_plate(first, n_wells=max(1, sizes[0] // 4), n_fields=min(4, sizes[0]), cells_per_field=2,
                            seed=1000)
    rows = {}
    for n_fields in sizes:
        plate = tmp / f"plate{n_fields}.zarr"
        truth_csv = _repeat_plate(first, demo.truth_csv, plate, n_fields) if plate != first else demo.truth_csv
        raw = _in_child(_read_child, str(plate))
        for mode, model in modes.items():
            for explain in ((), ("gradcam",)):
                rows[n_fields, mode, explain] = _demo_row(plate, model, mode, explain, raw, truth_csv, untrained)
                results["runs"].append(rows[n_fields, mode, explain])
    small, large = sizes[0], sizes[-1]
    results["marginal"] = []
    for mode in modes:
        for explain in ((), ("gradcam",)):
            a, b = rows[small, mode, explain], rows[large, mode, explain]
            results["marginal"].append({
                "mode": mode, "explain": list(explain),
                "cells_per_s": round((b["cells"] - a["cells"]) / (b["seconds"] - a["seconds"]), 2),
                "peak_rss_growth": round(b["peak_rss_mib"] / a["peak_rss_mib"], 3),
                "peak_rss_with_workers_growth": round((b["peak_rss_mib"] + b["workers_peak_rss_mib"])
                                                      / (a["peak_rss_mib"] + a["workers_peak_rss_mib"]), 3)})
            print(json.dumps(results["marginal"][-1]))
    # Accuracy needs many different cells, not repeats: 32 distinct fields, the 2D default.
    distinct = write_demo_plate(tmp / "distinct.zarr", n_wells=8, n_fields=4, cells_per_field=2, seed=2000)
    _in_child(_run_child, str(distinct.plate), modes["2d"], "2d")
    results["accuracy_2d_32_distinct_fields"] = score_run(
        distinct.plate, distinct.plate.with_suffix(".2d.csv"), distinct.truth_csv)
    print(json.dumps(results["accuracy_2d_32_distinct_fields"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 32])
    parser.add_argument("--model-3d", default=None, help="3D bundle (default: the bundled one if any)")
    parser.add_argument("--no-sim", dest="sim", action="store_false", help="skip the SIM-scale plate")
    parser.add_argument("--sim-repeats", type=int, default=5, help="repeats of each SIM-scale case")
    parser.add_argument("--sim-sizes", type=int, nargs=2, default=None, metavar=("SMALL", "LARGE"),
                        help="fields of the two SIM-scale runs (default 16 and 48)")
    parser.add_argument("--no-noop", dest="noop", action="store_false", help="skip the 96-field no-op rerun")
    parser.add_argument("--no-demo", dest="demo", action="store_false", help="skip the demo-scale plates")
    args = parser.parse_args()
    from ames_batch.pipeline import default_model_path

    # sections not measured this time keep their last figures (``--no-sim`` etc. rerun one part)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    measured = {}
    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp:
        modes = {"2d": str(default_model_path("2d"))}
        untrained = set()
        try:
            modes["3d"] = args.model_3d or str(default_model_path("3d"))
        except ValueError:
            modes["3d"] = _untrained_3d_bundle(Path(tmp) / "untrained-3d")
            untrained.add("3d")
        if args.sim:
            measured["sim_scale"] = sim_scale(Path(tmp), modes, sizes=args.sim_sizes, repeats=args.sim_repeats)
        if args.noop:
            measured["noop_rerun"] = noop_rerun(Path(tmp))
        if args.demo:
            measured["runs"] = []
            demo_scale(Path(tmp), args.sizes, modes, untrained, measured)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results.update(measured)
    results.setdefault("measured_at", {}).update({section: stamp for section in measured})
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
