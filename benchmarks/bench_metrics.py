"""Benchmark `cell_metrics` and each of its parts, at full resolution and at the working scale.

Writes ``benchmarks/results/metrics.json`` and prints the figures. Cases:

- ``demo``: N synthetic cells (``ames_batch.synth`` at ``DEMO_SCALE_UM``, 0.16 µm/px, mixed
  sources), cropped like the pipeline (mask bounding box + 2 µm); the demo scale is the
  working scale, so full resolution and working scale are the same crop;
- ``sim``: synthetic cells rendered at the 3D-SIM pixel size (``SIM_SCALE_UM``, 0.08 µm/px),
  and a planted striated cell (36 x 18 µm) drawn at 0.04 µm/px; measured on the crop as
  drawn and on the crop of ``image.to_working_scale`` of the field (0.16 µm/px);
- ``sample_4``: SarcGraph's sample_4.png (1736 x 1776, ~0.12 µm/px) as one cell (mask all
  True), as read and at the working scale (1302 x 1332); skipped without ``../shared/data``.

Baselines, measured in the same run on the same crops: one ``scipy.fft.rfft2`` of the crop
(float32, single thread) — every figure is also given as a multiple of it — and, for the
demo cells, reading the crop's (Z, Y, X) uint16 stack from its own zarr v3 array (256 x 256
chunks, zstd) plus the z maximum. Parts are timed on one `_CellCrop` (the record of shared
intermediates `cell_metrics` uses), in the order cell_metrics needs them, so each part's
figure excludes what an earlier part already computed. Best of `--repeat`, wall clock and
CPU time of this process (the machine is shared; CPU time is the steadier one). NumPy/SciPy
run single-threaded except the last figure, `cell_metrics` on sample_4 under
``scipy.fft.set_workers(2)``.

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
from scipy import fft as sfft
from zarr.codecs import BloscCodec

from ames_batch.image import WORKING_PIXEL_SIZE_UM, cell_bbox, to_working_scale
from ames_batch.metrics import cell_metrics
from ames_batch.metrics._crop import _CellCrop
from ames_batch.metrics._density import _zdisc_density
from ames_batch.metrics._orientation import _axis_relation, _zdisc_orientation
from ames_batch.metrics._organisation import _organised_map
from ames_batch.metrics._pieces import _zdisc_pieces
from ames_batch.metrics._sarcomere import _sarcomere_length, _zdisc_normal
from ames_batch.metrics._shape import _cell_shape
from ames_batch.synth import DEMO_SCALE_UM, SIM_SCALE_UM, sample_cell_params, synthesize_field

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_4 = ROOT / ".." / "shared" / "data" / "sarcgraph" / "sample_4.png"
MARGIN_UM = 2.0  # the pipeline's crop margin (pipeline.CELL_MARGIN_UM)


def _crop(mip, mask, px):
    """(crop, mask crop, px): the cell's bounding box plus the pipeline's margin."""
    if mask.all():
        return np.ascontiguousarray(mip), mask, px
    bbox = cell_bbox(mask, pixel_size_um=px, margin_um=MARGIN_UM)
    return np.ascontiguousarray(mip[bbox]), mask[bbox], px


def _at_working_scale(mip, mask, px):
    """The field and its mask brought to the working scale, then cropped."""
    mip_w, px_w = to_working_scale(mip, px)
    mask_w = to_working_scale(mask.astype(np.float32), px)[0] >= 0.5
    return _crop(mip_w, mask_w, px_w)


def _synthetic(seed, scale_um, source=None):
    rng = np.random.default_rng(seed)
    params = sample_cell_params(rng, source=source)
    field = synthesize_field(rng, cell_params=[params], scale_um=scale_um)
    return field.stack, field.cell_labels == field.cells[0].label, field.scale_um["x"]


def _planted_sim_cell(px=0.04):
    """Blurred 1.8 µm z-disc stripes across a 36 x 18 µm ellipse, drawn at `px`, noise 0.3."""
    rng = np.random.default_rng(14)
    y, x = np.mgrid[:int(22 / px), :int(40 / px)].astype(np.float64)
    yc, xc = (y.shape[0] - 1) / 2, (y.shape[1] - 1) / 2
    d = ((x - xc) * px / 1.8) % 1.0 - 0.5
    stripes = np.exp(-((d * 1.8) ** 2) / (2 * 0.15 ** 2))
    mask = ((x - xc) * px / 18) ** 2 + ((y - yc) * px / 9) ** 2 < 1.0
    mip = 100 + 50 * (np.where(mask, stripes, 0.0) + 0.3 * rng.standard_normal(mask.shape))
    return mip.astype(np.float32), mask, px


def _best(fn, repeat):
    """(best wall s, best CPU s) of `repeat` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def _parts(mip, mask, px):
    """Seconds (wall, CPU) of each part of cell_metrics on one fresh crop, in its order."""
    crop = _CellCrop(mip.astype(np.float32), mask, px)

    def orientation():
        angle, _ = _zdisc_orientation(crop.tensor_in_cell)
        return _axis_relation(crop.tensor_in_cell, angle, 0.0)

    steps = {
        "shape": lambda: _cell_shape(mask, px),
        "line_residual": lambda: crop.line_residual,
        "high_pass": lambda: crop.highpassed,
        "structure_tensor": lambda: crop.tensor,
        "orientation": orientation,
        "taper_distance": lambda: (crop.edge_distance_px, crop.taper, crop.room_px),
        "sarcomere_length": lambda: _sarcomere_length(
            crop, min_confidence=0.0, zdisc_normal_deg=_zdisc_normal(*_zdisc_orientation(crop.tensor_in_cell))),
        "organised_map": lambda: _organised_map(crop),
        "zdisc_density": lambda: _zdisc_density(crop),
        "zdisc_pieces": lambda: _zdisc_pieces(crop),
    }
    out = {}
    for name, step in steps.items():
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        out[name] = (time.perf_counter() - t0, time.process_time() - c0)
    return out


def _measure(crops, repeat):
    """Whole and parts over a list of (mip, mask, px) crops, summed; plus the FFT baseline."""
    arrays = [(m.astype(np.float32), k, p) for m, k, p in crops]
    whole = _best(lambda: [cell_metrics(m, k, p) for m, k, p in arrays], repeat)
    fft = _best(lambda: [sfft.rfft2(m) for m, _, _ in arrays], repeat)
    parts = {}
    for _ in range(repeat):
        total = {}
        for m, k, p in arrays:
            for name, (w, c) in _parts(m, k, p).items():
                tw, tc = total.get(name, (0.0, 0.0))
                total[name] = (tw + w, tc + c)
        parts = {n: (min(v[0], parts.get(n, v)[0]), min(v[1], parts.get(n, v)[1]))
                 for n, v in total.items()}
    pixels = sum(int(m.size) for m, _, _ in arrays)
    return {
        "crops": len(arrays),
        "pixel_size_um": sorted({round(p, 4) for _, _, p in arrays}),
        "crop_yx_median": [int(np.median([m.shape[0] for m, _, _ in arrays])),
                           int(np.median([m.shape[1] for m, _, _ in arrays]))],
        "crop_pixels_total": pixels,
        "cell_metrics_s": whole[0],
        "cell_metrics_cpu_s": whole[1],
        "cell_metrics_s_per_crop": whole[0] / len(arrays),
        "ms_per_megapixel": 1000 * whole[0] / (pixels / 1e6),
        "rfft2_s": fft[0],
        "ratio_cell_metrics_to_rfft2": whole[0] / fft[0],
        "parts_s": {n: v[0] for n, v in parts.items()},
        "parts_cpu_s": {n: v[1] for n, v in parts.items()},
        "parts_ratio_to_rfft2": {n: v[0] / fft[0] for n, v in parts.items()},
    }


def _zarr_read_baseline(stacks, repeat):
    """Seconds to read each (Z, Y, X) stack crop from its own zarr array and take the MIP."""
    work = Path(tempfile.mkdtemp(prefix="bench_metrics_"))
    try:
        paths = []
        for i, stack in enumerate(stacks):
            path = work / f"cell{i}.zarr"
            arr = zarr.create_array(path, shape=stack.shape, dtype=stack.dtype,
                                    chunks=(stack.shape[0], 256, 256),
                                    compressors=[BloscCodec(cname="zstd", clevel=3)])
            arr[:] = stack
            paths.append(path)
        return _best(lambda: [zarr.open_array(p, mode="r")[:].max(axis=0) for p in paths], repeat)[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _print(name, r):
    print(f"{name:22s} {r['crops']:3d} crops, median {r['crop_yx_median']} px at {r['pixel_size_um']} µm: "
          f"cell_metrics {r['cell_metrics_s']:.3f} s ({r['cell_metrics_s_per_crop'] * 1e3:.0f} ms/crop, "
          f"CPU {r['cell_metrics_cpu_s']:.3f} s) = {r['ratio_cell_metrics_to_rfft2']:.0f}x rfft2")
    print("    parts (ms): " + ", ".join(f"{n} {v * 1e3:.0f}" for n, v in r["parts_s"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--sim-cells", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = {}

    demo = [_synthetic(7000 + i, DEMO_SCALE_UM, ("adult", "neonatal", "ipsc")[i % 3])
            for i in range(args.cells)]
    demo_crops, stacks = [], []
    for stack, mask, px in demo:
        bbox = cell_bbox(mask, pixel_size_um=px, margin_um=MARGIN_UM)
        stacks.append(np.ascontiguousarray(stack[(slice(None),) + bbox]))
        demo_crops.append((stacks[-1].max(axis=0), mask[bbox], px))
    cases["demo"] = _measure(demo_crops, args.repeat)
    read = _zarr_read_baseline(stacks, args.repeat)
    cases["demo"]["zarr_read_mip_s"] = read
    cases["demo"]["ratio_cell_metrics_to_zarr_read_mip"] = cases["demo"]["cell_metrics_s"] / read

    sim = [(s.max(axis=0), k, p) for s, k, p in
           (_synthetic(5000 + i, SIM_SCALE_UM) for i in range(args.sim_cells))]
    sim.append(_planted_sim_cell())
    cases["sim_full_resolution"] = _measure([_crop(*c) for c in sim], args.repeat)
    cases["sim_working_scale"] = _measure([_at_working_scale(*c) for c in sim], args.repeat)

    if SAMPLE_4.is_file():
        import imageio.v3 as iio

        image = iio.imread(SAMPLE_4)
        whole = np.ones(image.shape, bool)
        cases["sample_4_full_resolution"] = _measure([(image, whole, 0.12)], args.repeat)
        small, px = to_working_scale(image, 0.12)
        cases["sample_4_working_scale"] = _measure([(small, np.ones(small.shape, bool), px)],
                                                   args.repeat)
        small32 = small.astype(np.float32)
        with sfft.set_workers(2):
            two = _best(lambda: cell_metrics(small32, np.ones(small.shape, bool), px), args.repeat)
        cases["sample_4_working_scale"]["cell_metrics_fft_workers_2_s"] = two[0]
        t_ws = _best(lambda: to_working_scale(image, 0.12), args.repeat)
        cases["sample_4_working_scale"]["to_working_scale_s"] = t_ws[0]

    result = {
        "what": "cell_metrics and its parts at full resolution and at the working scale "
                f"({WORKING_PIXEL_SIZE_UM} µm/px), vs one scipy.fft.rfft2 of the same crops",
        "cases": cases,
        "repeat": args.repeat,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "load_1min": os.getloadavg()[0]},
    }
    for name, r in cases.items():
        _print(name, r)
    if "demo" in cases:
        print(f"demo: zarr read + MIP {read:.3f} s; cell_metrics / read = "
              f"{cases['demo']['ratio_cell_metrics_to_zarr_read_mip']:.1f}x")
    if "sample_4_working_scale" in cases:
        s4 = cases["sample_4_working_scale"]
        print(f"sample_4 at the working scale with 2 FFT workers: {s4['cell_metrics_fft_workers_2_s']:.3f} s; "
              f"to_working_scale {s4['to_working_scale_s']:.3f} s")
    out = ROOT / "benchmarks" / "results" / "metrics.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
