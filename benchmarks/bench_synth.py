"""Benchmark the synthetic field generator, per look, against the raw cost of making noise of the same size.

Writes ``benchmarks/results/synth.json`` and prints the figures. For each look (``synth.LOOKS``) and
source (adult, neonatal, iPSC) at ``DEMO_SCALE_UM`` it times ``synthesize_field`` for one cell in a
field sized to it (best of `--repeat`, a fixed cell per source; CPU seconds of this process, since
the machine is shared) and, as the raw baseline in the same run, drawing the same number of uint16
voxels of Gaussian noise with numpy (``standard_normal`` + cast): the floor any generator of that
stack pays. Per look it also times 8 fields of 1-3 random cells sized to them, and one field of
the demo plate's fixed view for 2 cells (``field_of_view``, writing excluded).

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

from ames_batch.synth import DEMO_SCALE_UM, LOOKS, field_of_view, sample_cell_params, synthesize_field


def _best(fn, repeat: int) -> float:
    """Best-of-`repeat` CPU seconds of this process (the machine is shared: wall time is noisy)."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def _raw_noise(voxels: int, repeat: int) -> float:
    rng = np.random.default_rng(0)
    return _best(lambda: (rng.standard_normal(voxels, dtype=np.float32) * 10 + 100).astype(np.uint16), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict = {"scale_um": DEMO_SCALE_UM, "repeat": args.repeat, "looks": {},
                     "machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    for look in LOOKS:
        out = results["looks"][look] = {"cells": {}}
        for source, seed in (("adult", 11), ("neonatal", 12), ("ipsc", 13)):
            params = sample_cell_params(seed, source=source)
            field = synthesize_field(seed, scale_um=DEMO_SCALE_UM, cell_params=[params], look=look)
            ours = _best(lambda: synthesize_field(seed, scale_um=DEMO_SCALE_UM, cell_params=[params], look=look),
                         args.repeat)
            raw = _raw_noise(field.stack.size, args.repeat)
            out["cells"][source] = {"length_um": round(params.length_um, 1), "stack_shape": list(field.stack.shape),
                                    "seconds": round(ours, 4), "raw_noise_seconds": round(raw, 4),
                                    "ratio_vs_raw": round(ours / raw, 2)}
            print(f"look {look} {source:9s} {str(field.stack.shape):18s} synthesize_field {ours:.3f} s   "
                  f"raw noise {raw:.3f} s   ratio {ours / raw:.1f}x")

        rng = np.random.default_rng(1)
        t0 = time.process_time()
        voxels = 0
        for _ in range(8):
            field = synthesize_field(rng, n_cells=int(rng.integers(1, 4)), scale_um=DEMO_SCALE_UM, look=look)
            voxels += field.stack.size
        fields = time.process_time() - t0
        raw = _raw_noise(voxels, 1)
        out["fields_8_sized_to_cells"] = {"seconds": round(fields, 3), "voxels": int(voxels),
                                          "raw_noise_seconds": round(raw, 3), "ratio_vs_raw": round(fields / raw, 2)}
        print(f"look {look} 8 fields of 1-3 random cells: {fields:.2f} s ({voxels / 1e6:.1f} M voxels), "
              f"raw noise {raw:.2f} s, ratio {fields / raw:.1f}x")

        view = field_of_view(DEMO_SCALE_UM, n_cells=2)
        rng = np.random.default_rng(2)
        params = [sample_cell_params(rng, source=s) for s in ("adult", "ipsc")]
        t0 = time.process_time()
        field = synthesize_field(rng, cell_params=params, scale_um=DEMO_SCALE_UM, field_size_um=view.size_um,
                                 n_z=view.n_z, touching=True, look=look)
        fixed = time.process_time() - t0
        raw = _raw_noise(field.stack.size, 1)
        out["demo_view_2_cells"] = {"stack_shape": list(field.stack.shape), "seconds": round(fixed, 3),
                                    "raw_noise_seconds": round(raw, 3), "ratio_vs_raw": round(fixed / raw, 2)}
        print(f"look {look} demo view {field.stack.shape} (2 cells): {fixed:.2f} s, raw noise {raw:.2f} s, "
              f"ratio {fixed / raw:.1f}x")

    out = Path(__file__).resolve().parent / "results" / "synth.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(out)


if __name__ == "__main__":
    main()
