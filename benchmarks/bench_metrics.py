"""Benchmark `cell_metrics` on demo-scale synthetic cells against reading the same crops from zarr.

Writes ``benchmarks/results/metrics.json`` and prints the figures. For N synthetic cells
(``ames_batch.synth`` at ``DEMO_SCALE_UM``, mixed sources) each cell's (Z, Y, X) uint16 stack
crop is stored as its own zarr v3 array (256 x 256 chunks, full z, zstd). Measured per cell:

- raw baseline: ``zarr.open_array(...)[:]`` of the crop plus the z maximum (what any consumer of
  the crop pays before measuring);
- ``cell_metrics(mip, mask, pixel_size_um)`` on the in-memory MIP and mask;
- the parts of `cell_metrics` one by one (shape, length, orientation, organisation, density).

Best of `--repeat` runs, alternating ours and raw (the CPU is shared). One thread per process
(numpy/scipy FFTs here are single-threaded anyway).

Run: ``.venv/bin/python benchmarks/bench_metrics.py [--cells 12] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from ames_batch.metrics import (
    cell_metrics,
    cell_shape,
    organised_fraction,
    sarcomere_length,
    zdisc_density,
    zdisc_orientation,
)
from ames_batch.synth import DEMO_SCALE_UM, sample_cell_params, synthesize_field


def _cells(n: int):
    """(stack crop, mask crop, pixel size, source) of `n` seeded synthetic cells."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(7000 + i)
        params = sample_cell_params(rng, source=("adult", "neonatal", "ipsc")[i % 3])
        field = synthesize_field(rng, cell_params=[params], scale_um=DEMO_SCALE_UM)
        mask = field.cell_labels == field.cells[0].label
        rows, cols = np.nonzero(mask)
        sl = np.s_[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        out.append((np.ascontiguousarray(field.stack[(slice(None),) + sl]), mask[sl],
                    field.scale_um["x"], params.source))
    return out


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cells = _cells(args.cells)
    work = Path(tempfile.mkdtemp(prefix="bench_metrics_"))
    try:
        paths = []
        for i, (stack, _, _, _) in enumerate(cells):
            path = work / f"cell{i}.zarr"
            arr = zarr.create_array(path, shape=stack.shape, dtype=stack.dtype,
                                    chunks=(stack.shape[0], 256, 256),
                                    compressors=[BloscCodec(cname="zstd", clevel=3)])
            arr[:] = stack
            paths.append(path)
        mips = [s.max(axis=0) for s, _, _, _ in cells]

        def raw_read():
            for path in paths:
                zarr.open_array(path, mode="r")[:].max(axis=0)

        def ours():
            for mip, (_, mask, px, _) in zip(mips, cells):
                cell_metrics(mip, mask, px)

        parts = {
            "shape": lambda m, k, p: cell_shape(k, p),
            "sarcomere_length": lambda m, k, p: sarcomere_length(m, k, p),
            "zdisc_orientation": lambda m, k, p: zdisc_orientation(m, k, p),
            "organised_fraction": lambda m, k, p: organised_fraction(m, k, p),
            "zdisc_density": lambda m, k, p: zdisc_density(m, k, p),
        }
        ours()  # warm-up (imports, FFT plans)
        raw_read()
        t_raw, t_ours = [], []
        for _ in range(args.repeat):  # alternate, keep the best of each
            t_raw.append(_best(raw_read, 1))
            t_ours.append(_best(ours, 1))
        t_raw, t_ours = min(t_raw), min(t_ours)
        t_parts = {name: _best(lambda f=f: [f(m, c[1], c[2]) for m, c in zip(mips, cells)],
                               args.repeat) for name, f in parts.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = len(cells)
    pixels = [int(m.size) for m in mips]
    result = {
        "what": "cell_metrics on demo-scale synthetic cells vs zarr read + MIP of the same crops",
        "cells": n,
        "scale_um": DEMO_SCALE_UM,
        "crop_yx_median": [int(np.median([m.shape[0] for m in mips])),
                           int(np.median([m.shape[1] for m in mips]))],
        "crop_pixels_total": int(sum(pixels)),
        "z_slices_median": int(np.median([s.shape[0] for s, _, _, _ in cells])),
        "raw_zarr_read_mip_s": t_raw,
        "cell_metrics_s": t_ours,
        "cells_per_s": n / t_ours,
        "raw_cells_per_s": n / t_raw,
        "ratio_metrics_to_raw_read": t_ours / t_raw,
        "ms_per_megapixel": 1000 * t_ours / (sum(pixels) / 1e6),
        "parts_s": t_parts,
        "repeat": args.repeat,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
    }
    print(f"{n} cells, median crop {result['crop_yx_median']} px x {result['z_slices_median']} z")
    print(f"raw zarr read + MIP: {t_raw:.3f} s ({n / t_raw:.1f} cells/s)")
    print(f"cell_metrics:        {t_ours:.3f} s ({n / t_ours:.2f} cells/s, "
          f"{result['ms_per_megapixel']:.0f} ms/Mpx)")
    print(f"ratio cell_metrics / raw read: {t_ours / t_raw:.1f}x")
    for name, t in t_parts.items():
        print(f"  {name:20s} {t:.3f} s")
    out = Path(__file__).resolve().parent / "results" / "metrics.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
