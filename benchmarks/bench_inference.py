"""Inference speed on CPU at the shipped models' input shapes, against reading the same inputs from zarr.

Figures (printed and written to ``benchmarks/results/inference.json``):

- 2D singular model, shared trunk with three heads (the bundled default): images/s;
- 2D, one model per task (three models, same tuned trunk): images/s for all three tasks;
- 2D one-vs-all ensemble (4 + 4 + 3 = 11 members, same tuned trunk): images/s for all three tasks;
- 3D singular model, shared trunk (the bundled default-3d): volumes/s;
- preprocessing (``cell_input_2d`` / ``cell_input_3d``) from SIM-scale fields: cells/s;
- the raw baseline: reading the same preprocessed inputs back from a zarr v3 array (one chunk per
  cell) on local disk; each model figure is also given as a ratio to that read time.

The bundled models as shipped; the per-task and ensemble variants untrained (weights do not
change the cost). Run: ``python benchmarks/bench_inference.py``.
"""

import json
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import zarr  # noqa: E402

from ames_batch.nn import build_model, cell_input_2d, cell_input_3d, load_bundle  # noqa: E402
from ames_batch.pipeline import default_model_path  # noqa: E402

TASKS = {
    "sarcomerisation": ["1", "2", "3", "4"],
    "directionality": ["1", "2", "3", "4"],
    "source": ["adult", "neonatal", "ipsc"],
}
RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"


def best_of(fn, repeats: int = 5) -> float:
    """Fastest wall time of `repeats` calls (s), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def zarr_read_time(inputs: np.ndarray, scratch: Path) -> float:
    """Seconds to read `inputs` back from a zarr v3 array with one chunk per cell."""
    store = scratch / f"inputs-{inputs.ndim}d.zarr"
    arr = zarr.create_array(store=str(store), shape=inputs.shape, dtype=inputs.dtype,
                            chunks=(1, *inputs.shape[1:]), overwrite=True)
    arr[:] = inputs

    def read():
        np.asarray(zarr.open_array(str(store), mode="r")[:])

    return best_of(read)


def synthetic_field_2d(rng, pixel_size_um=0.04, field_um=80.0, length_um=60.0, width_um=20.0):
    n = int(field_um / pixel_size_um)
    yy, xx = np.mgrid[:n, :n] * pixel_size_um
    u, v = (xx - field_um / 2), (yy - field_um / 2)
    c, s = math.cos(0.5), math.sin(0.5)
    u, v = u * c + v * s, -u * s + v * c
    mask = (u / (length_um / 2)) ** 2 + (v / (width_um / 2)) ** 2 <= 1
    mip = np.where(mask, 300 + 200 * np.cos(2 * np.pi * u / 1.8), 20) + rng.normal(0, 5, mask.shape)
    return mip.astype(np.float32), mask


def main() -> dict:
    rng = np.random.default_rng(0)
    default2, default3 = load_bundle(default_model_path("2d")), load_bundle(default_model_path("3d"))
    s2, s3 = default2.settings, default3.settings
    tuned = {"um_per_px": s2.target_um_per_px}
    n2, n3, batch2, batch3 = 64, 16, 32, 4
    x2 = rng.random((n2, *s2.input_shape, 1), dtype=np.float32)
    x3 = rng.random((n3, *s3.input_shape, 1), dtype=np.float32)
    results = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "note": "CPU only; shared machine"},
        "input_2d": list(s2.input_shape), "input_3d": list(s3.input_shape),
        "n_2d": n2, "n_3d": n3, "batch_2d": batch2, "batch_3d": batch3,
    }
    scratch = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    try:
        read2 = zarr_read_time(x2, scratch)
        read3 = zarr_read_time(x3, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results["zarr_read_2d_per_s"] = n2 / read2
    results["zarr_read_3d_per_s"] = n3 / read3

    shared = default2.keras_model
    t = best_of(lambda: shared.predict(x2, batch_size=batch2, verbose=0))
    results["2d_shared_images_per_s"] = n2 / t
    results["2d_shared_time_over_zarr_read"] = t / read2

    per_task = [build_model("2d", input_shape=s2.input_shape, tasks={k: v}, **tuned) for k, v in TASKS.items()]
    t = best_of(lambda: [m.predict(x2, batch_size=batch2, verbose=0) for m in per_task])
    results["2d_per_task_images_per_s"] = n2 / t
    results["2d_per_task_time_over_zarr_read"] = t / read2

    ensemble = build_model("2d-ensemble", input_shape=s2.input_shape, tasks=TASKS, **tuned)
    t = best_of(lambda: ensemble.predict(x2, batch_size=batch2), repeats=2)
    results["2d_ensemble_members"] = len(ensemble)
    results["2d_ensemble_images_per_s"] = n2 / t
    results["2d_ensemble_time_over_zarr_read"] = t / read2

    model3 = default3.keras_model
    t = best_of(lambda: model3.predict(x3, batch_size=batch3, verbose=0))
    results["3d_shared_volumes_per_s"] = n3 / t
    results["3d_shared_time_over_zarr_read"] = t / read3

    mip, mask = synthetic_field_2d(rng)
    t = best_of(lambda: cell_input_2d(mip, mask, 0.04, s2))
    results["preprocess_2d_cells_per_s"] = 1 / t
    results["preprocess_2d_field"] = f"{mip.shape} at 0.04 um/px, one 60 x 20 um cell"
    stack = np.repeat(mip[None, ::2, ::2], 40, axis=0)
    t = best_of(lambda: cell_input_3d(stack, mask[::2, ::2], {"z": 0.125, "y": 0.08, "x": 0.08}, s3), repeats=1)
    results["preprocess_3d_cells_per_s"] = 1 / t
    results["preprocess_3d_field"] = f"{stack.shape} at 0.125 x 0.08 x 0.08 um"
    return results


if __name__ == "__main__":
    out = main()
    for key, value in out.items():
        print(f"{key:36s} {value:.3g}" if isinstance(value, float) else f"{key:36s} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")
