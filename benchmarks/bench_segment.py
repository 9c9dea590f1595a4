"""Benchmark ``segment_cells``: fields per second against reading the same MIP from zarr.

Run: ``.venv/bin/python benchmarks/bench_segment.py [--repeats 5]``. Prints its figures and
writes ``benchmarks/results/segment.json``.

Fields:

- ``demo_4_cells``: a 4-cell synthetic field (``ames_batch.synth``, seed 7, DEMO_SCALE_UM,
  0.16 µm/px), projected along z;
- ``sample_4``: SarcGraph's crowded real field (1736 × 1776 uint16, ~0.12 µm/px), skipped
  when ``../shared/data`` is absent;
- ``sample_4_2000``: sample_4 mirror-padded to 2000 × 2000 (the size the brief names);
- ``sim_1024``: a 1024 × 1024 field at the 3D-SIM pixel size 0.04 µm (one iPSC-derived
  cell, ``ames_batch.synth``, 64 z at 0.125 µm), projected along z.

Each field is segmented as given and the way the pipeline does it (issue #14): brought to
the working scale (``image.to_working_scale``, 0.16 µm/px), segmented there, and the labels
brought back with ``image.upsample_labels``; the figures are given for that path too
(``working_*``: conversion, segmentation, upsampling, total) with the agreement of the two
label images (pixels with the same foreground/background, mean IoU of matched labels).

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


def _sim_field(seed: int = 0) -> np.ndarray:
    """MIP of a 1024 x 1024 x 64 field at 0.04 / 0.125 µm: one iPSC-derived cell that fits."""
    from ames_batch.synth import sample_cell_params, synthesize_field

    rng = np.random.default_rng(seed)
    for _ in range(100):
        try:
            return synthesize_field(rng, cell_params=[sample_cell_params(rng, source="ipsc")],
                                    scale_um={"z": 0.125, "y": 0.04, "x": 0.04}, n_z=64,
                                    field_size_um=(40.96, 40.96)).stack.max(axis=0)
        except ValueError as err:
            if "do not fit" not in str(err):
                raise
    raise RuntimeError("no iPSC-derived cell of 100 drawn fits a 40.96 µm field")


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
    fields["sim_1024"] = (_sim_field(), 0.04)
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

    from ames_batch.image import to_working_scale, upsample_labels
    from ames_batch.segment import match_labels, segment_cells

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
            small, px = to_working_scale(mip, pixel_size_um)
            work = segment_cells(small, px)
            back = upsample_labels(work, mip.shape, pixel_size_um=pixel_size_um,
                                   labels_pixel_size_um=px)
            t_scale = _median_seconds(lambda: to_working_scale(mip, pixel_size_um), args.repeats)
            t_work = _median_seconds(lambda: segment_cells(small, px), args.repeats)
            t_up = _median_seconds(lambda: upsample_labels(
                work, mip.shape, pixel_size_um=pixel_size_um, labels_pixel_size_um=px), args.repeats)
            match = match_labels(back, labels, iou_threshold=0.5)
            row = {
                "shape": list(mip.shape),
                "pixel_size_um": pixel_size_um,
                "n_labels": int(labels.max()),
                "segment_s": round(seg, 4),
                "segment_fields_per_s": round(1.0 / seg, 2),
                "zarr_read_s": round(read, 4),
                "zarr_read_fields_per_s": round(1.0 / read, 2),
                "ratio_segment_to_read": round(seg / read, 1),
                "working_pixel_size_um": px,
                "working_shape": list(small.shape),
                "working_to_scale_s": round(t_scale, 4),
                "working_segment_s": round(t_work, 4),
                "working_upsample_labels_s": round(t_up, 4),
                "working_total_s": round(t_scale + t_work + t_up, 4),
                "ratio_working_total_to_read": round((t_scale + t_work + t_up) / read, 1),
                "working_n_labels": int(work.max()),
                "working_same_foreground": round(float(((back > 0) == (labels > 0)).mean()), 4),
                "working_matched_labels": match.n_matched,
                "working_mean_iou": round(match.mean_iou, 4),
            }
            results["fields"][name] = row
            print(
                f"{name:14s} {mip.shape[0]}x{mip.shape[1]} @ {pixel_size_um} µm/px: "
                f"segment {seg * 1e3:7.1f} ms ({1 / seg:6.2f} fields/s), "
                f"zarr read {read * 1e3:6.1f} ms ({1 / read:7.2f} fields/s), "
                f"ratio {seg / read:5.1f}x, {row['n_labels']} labels"
            )
            print(
                f"{'':14s} via {px} µm/px {small.shape[0]}x{small.shape[1]}: scale "
                f"{t_scale * 1e3:.1f} + segment {t_work * 1e3:.1f} + upsample {t_up * 1e3:.1f} ms, "
                f"{row['working_n_labels']} labels, same foreground {row['working_same_foreground']:.3f}, "
                f"{match.n_matched} matched, mean IoU {row['working_mean_iou']:.3f}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
