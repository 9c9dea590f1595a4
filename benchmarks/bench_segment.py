"""Benchmark ``segment_cells``: fields per second against reading the same MIP from zarr.

Run: ``.venv/bin/python benchmarks/bench_segment.py [--repeats 5]``. Prints its figures and
writes ``benchmarks/results/segment.json``.

Fields:

- ``demo_4_cells``: a 4-cell synthetic field (``ames_batch.synth``, seed 7, DEMO_SCALE_UM,
  0.16 µm/px), projected along z;
- ``sample_4``: SarcGraph's crowded real field (1736 × 1776 uint16, ~0.12 µm/px), skipped
  when ``../shared/data`` is absent;
- ``sample_4_2000``: sample_4 mirror-padded to 2000 × 2000 (the size the brief names).

Baseline: each MIP is first written to a zarr v3 array in a temporary folder (512 × 512
chunks, default compressor); the raw figure is one full read of that array into numpy,
``zarr.open_array(...)[:]``. Both are timed in the same run on the same machine, median of
``--repeats``; ratio = segmentation time / raw read time.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "segment.json"
SAMPLE_4 = ROOT / ".." / "shared" / "data" / "sarcgraph" / "sample_4.png"


def _fields() -> dict[str, tuple[np.ndarray, float]]:
    from ames_batch.synth import DEMO_SCALE_UM, synthesize_field

    field = synthesize_field(7, n_cells=4, scale_um=DEMO_SCALE_UM)
    fields = {"demo_4_cells": (field.stack.max(axis=0), field.scale_um["x"])}
    if SAMPLE_4.is_file():
        import imageio.v3 as iio

        image = iio.imread(SAMPLE_4)
        fields["sample_4"] = (image, 0.12)
        pad = [(0, 2000 - image.shape[0]), (0, 2000 - image.shape[1])]
        fields["sample_4_2000"] = (np.pad(image, pad, mode="reflect"), 0.12)
    return fields


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import zarr

    from ames_batch.segment import segment_cells

    results = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "repeats": args.repeats,
        "baseline": "zarr v3 full read of the same MIP (512x512 chunks) into numpy",
        "fields": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, (mip, pixel_size_um) in _fields().items():
            store = Path(tmp) / f"{name}.zarr"
            array = zarr.create_array(
                store=str(store), shape=mip.shape, dtype=mip.dtype, chunks=(512, 512)
            )
            array[:] = mip
            read = _median_seconds(lambda: zarr.open_array(str(store), mode="r")[:], args.repeats)
            labels = segment_cells(mip, pixel_size_um)  # warm-up, and the label count
            seg = _median_seconds(lambda: segment_cells(mip, pixel_size_um), args.repeats)
            row = {
                "shape": list(mip.shape),
                "pixel_size_um": pixel_size_um,
                "n_labels": int(labels.max()),
                "segment_s": round(seg, 4),
                "segment_fields_per_s": round(1.0 / seg, 2),
                "zarr_read_s": round(read, 4),
                "zarr_read_fields_per_s": round(1.0 / read, 2),
                "ratio_segment_to_read": round(seg / read, 1),
            }
            results["fields"][name] = row
            print(
                f"{name:14s} {mip.shape[0]}x{mip.shape[1]} @ {pixel_size_um} µm/px: "
                f"segment {seg * 1e3:7.1f} ms ({1 / seg:6.2f} fields/s), "
                f"zarr read {read * 1e3:6.1f} ms ({1 / read:7.2f} fields/s), "
                f"ratio {seg / read:5.1f}x, {row['n_labels']} labels"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
