"""Benchmark the plate layer against raw zarr on the same data, same chunks and codec.

Writes ``benchmarks/results/plate.json`` and prints the figures. Measures, for one field of
C x Z x Y x X uint16 (default 1 x 16 x 1024 x 1024, 32 MiB):

- write: ``write_field`` (level 0 + pyramid + metadata + atomic rename) vs ``zarr`` level-0 only
  (``da.store`` into one array with the same chunks and Blosc-zstd codec);
- read: ``read_field(...).values`` vs ``zarr.open_array(...)[:]`` of level 0;
- MIP: ``read_field(...).max("z")`` computed vs the same on a raw ``da.from_zarr`` array.

Run: ``.venv/bin/python benchmarks/bench_plate.py [--shape 1 16 1024 1024] [--repeat 3]``.
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

import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

from ames_batch.io import FieldKey, read_field, write_field


def _best_pair(ours, raw, repeat: int) -> tuple[float, float]:
    """Best-of-`repeat` times of two functions run alternately (the CPU is shared and noisy)."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((ours, times[0]), (raw, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return min(times[0]), min(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[1, 16, 1024, 1024])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    shape = tuple(args.shape)
    rng = np.random.default_rng(0)
    # realistic-ish content: smooth stripes + Poisson noise (compresses like microscopy, not like noise)
    yy, xx = np.meshgrid(np.arange(shape[2]), np.arange(shape[3]), indexing="ij")
    stripes = (1000 + 800 * np.sin(2 * np.pi * (xx + 0.3 * yy) / 14.0)).astype(np.float64)
    stack = rng.poisson(np.broadcast_to(stripes, shape)).astype(np.uint16)
    nbytes = stack.nbytes
    chunks = (1, shape[1], 256, 256)
    work = Path(tempfile.mkdtemp(prefix="bench_plate_"))
    key = FieldKey("A/1", "0")
    scale = {"z": 0.125, "y": 0.04, "x": 0.04}
    image = xr.DataArray(da.from_array(stack, chunks=chunks), dims=("c", "z", "y", "x"),
                         coords={"c": [f"ch{i}" for i in range(shape[0])]}, attrs={"scale_um": scale})
    codec = BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")
    counter = iter(range(10_000))

    def ours_write():
        write_field(work / f"p{next(counter)}.ome.zarr", key, image)

    def raw_write():
        arr = zarr.create_array(str(work / f"raw{next(counter)}.zarr"), shape=shape, chunks=chunks,
                                dtype=np.uint16, compressors=codec, fill_value=0)
        da.store(image.data, arr, lock=False)

    with dask.config.set(scheduler="threads"):
        t_ours_w, t_raw_w = _best_pair(ours_write, raw_write, args.repeat)
        plate = work / "p0.ome.zarr"
        raw = work / "raw1.zarr"
        t_ours_r, t_raw_r = _best_pair(lambda: read_field(plate, key).values,
                                       lambda: zarr.open_array(str(raw), mode="r")[:], args.repeat)
        t_ours_mip, t_raw_mip = _best_pair(
            lambda: read_field(plate, key).max("z").values,
            lambda: da.from_zarr(zarr.open_array(str(raw), mode="r")).max(axis=1).compute(),
            args.repeat,
        )
    stored = sum(f.stat().st_size for f in (plate / "A/1/0/0").rglob("*") if f.is_file())
    shutil.rmtree(work, ignore_errors=True)

    mib = nbytes / 2**20
    result = {
        "shape_czyx": list(shape),
        "dtype": "uint16",
        "mib": round(mib, 2),
        "repeat_best_of": args.repeat,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "write_s": {"write_field_with_pyramid": round(t_ours_w, 4), "raw_zarr_level0": round(t_raw_w, 4),
                    "ratio": round(t_ours_w / t_raw_w, 3)},
        "read_s": {"read_field": round(t_ours_r, 4), "raw_zarr": round(t_raw_r, 4),
                   "ratio": round(t_ours_r / t_raw_r, 3)},
        "mip_s": {"read_field_max_z": round(t_ours_mip, 4), "raw_dask_max_z": round(t_raw_mip, 4),
                  "ratio": round(t_ours_mip / t_raw_mip, 3)},
        "level0_compression_ratio": round(nbytes / stored, 3),
    }
    for k in ("write_s", "read_s", "mip_s"):
        r = result[k]
        names = [n for n in r if n != "ratio"]
        print(f"{k[:-2]:>5}: {names[0]} {r[names[0]]:.3f} s, {names[1]} {r[names[1]]:.3f} s, "
              f"ratio {r['ratio']:.2f} ({mib:.0f} MiB)")
    print(f"level-0 compression ratio {result['level0_compression_ratio']:.2f}")
    out = Path(__file__).resolve().parent / "results" / "plate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
