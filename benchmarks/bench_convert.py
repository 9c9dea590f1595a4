"""Benchmark ``convert``: throughput against a raw tifffile->zarr copy, and peak memory.

Run: ``.venv/bin/python benchmarks/bench_convert.py``. Prints its figures and writes
``benchmarks/results/convert.json``.

- Throughput: `convert_files` on one OME-TIFF vs. a plain copy of the same voxels with
  tifffile (read) and zarr (write, same chunk shape, one level, no hashing), same run,
  same machine. Ratio = convert time / raw copy time.
- Memory: each conversion runs in its own child process; the figure is the child's peak RSS
  (``resource.getrusage``) minus its RSS after a warm-up conversion of a tiny file of the same
  format (imports, thread pools), for files from ~16x to ~64x the
  plate chunk size, grown along channels and along z. A third child runs our reader alone
  into one level of plate-shaped chunks (no pyramid, no hashing) to separate the reader's
  memory from the plate writer's.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

CHUNK_YX = 256  # io.write_field default; plate chunks are (1, Z, 256, 256)
CHILD = r"""
import json, resource, sys, time
import psutil
from ames_batch.pipeline import convert_files
# warm-up on a tiny file of the same format: plugin imports, thread pools, caches
assert convert_files([sys.argv[4]], sys.argv[2] + ".warm").ok
after_import = psutil.Process().memory_info().rss
t0 = time.perf_counter()
report = convert_files([sys.argv[1]], sys.argv[2])
seconds = time.perf_counter() - t0
assert report.ok, report.failed
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_rss": peak, "after_import_rss": after_import}))
"""
READER = r"""
import json, resource, sys, time
import psutil, zarr, dask.array as da
from ames_batch.io import read_image
read_image(sys.argv[4]).values  # warm-up
after_import = psutil.Process().memory_info().rss
t0 = time.perf_counter()
image = read_image(sys.argv[1])
data = image.data.rechunk((1, image.sizes["z"], 256, 256))
target = zarr.create_array(sys.argv[2], shape=data.shape, dtype=data.dtype, chunks=data.chunksize, zarr_format=3)
da.store(data, target)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_rss": peak, "after_import_rss": after_import}))
"""
RAW = r"""
import json, sys, time, resource
import psutil, tifffile, zarr, numpy
tifffile.imread(sys.argv[4])
zarr.create_array(sys.argv[2] + ".warm", shape=(4, 4), dtype="uint16", chunks=(2, 2))[...] = 1
after_import = psutil.Process().memory_info().rss
t0 = time.perf_counter()
data = tifffile.imread(sys.argv[1]).reshape(json.loads(sys.argv[3]))
z = zarr.create_array(sys.argv[2], shape=data.shape, dtype=data.dtype, chunks=(1, data.shape[1], 256, 256),
                      zarr_format=3)
z[...] = data
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_rss": peak, "after_import_rss": after_import}))
"""


def make_file(path: Path, shape: tuple[int, int, int, int]) -> int:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4096, size=shape, dtype=np.uint16)
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "CZYX", "PhysicalSizeX": 0.04,
                                                     "PhysicalSizeY": 0.04, "PhysicalSizeZ": 0.125})
    return data.nbytes


def run_child(code: str, src: Path, dst: Path, shape: tuple, warm: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", code, str(src), str(dst), json.dumps(list(shape)), str(warm)], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> dict:
    results: dict = {"chunk_shape": f"(1, Z, {CHUNK_YX}, {CHUNK_YX})", "cases": []}
    cases = [
        ("16x chunk (C=1, Z=10, 1024x1024)", (1, 10, 1024, 1024)),
        ("64x chunk along channels (C=4, Z=10)", (4, 10, 1024, 1024)),
        ("64x chunk along z (C=1, Z=40)", (1, 40, 1024, 1024)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, shape in cases:
            src = tmp / "in.ome.tif"
            nbytes = make_file(src, shape)
            chunk_bytes = shape[1] * CHUNK_YX * CHUNK_YX * 2
            warm = tmp / "warm.ome.tif"
            make_file(warm, (1, 2, 64, 64))
            raw = run_child(RAW, src, tmp / "raw.zarr", shape, warm)
            conv = run_child(CHILD, src, tmp / "plate.zarr", shape, warm)
            reader = run_child(READER, src, tmp / "reader.zarr", shape, warm)
            for name in ("raw.zarr", "raw.zarr.warm", "plate.zarr", "plate.zarr.warm", "reader.zarr"):
                shutil.rmtree(tmp / name, ignore_errors=True)
            case = {
                "case": label, "shape_czyx": shape, "file_mb": nbytes / 1e6,
                "file_over_chunk": nbytes / chunk_bytes,
                "raw_copy_s": raw["seconds"], "convert_s": conv["seconds"],
                "time_ratio_convert_over_raw": conv["seconds"] / raw["seconds"],
                "convert_mb_per_s": nbytes / 1e6 / conv["seconds"],
                "raw_mb_per_s": nbytes / 1e6 / raw["seconds"],
                "convert_peak_rss_over_import_mb": (conv["peak_rss"] - conv["after_import_rss"]) / 1e6,
                "raw_peak_rss_over_import_mb": (raw["peak_rss"] - raw["after_import_rss"]) / 1e6,
                "reader_to_tiles_s": reader["seconds"],
                "reader_to_tiles_peak_rss_over_import_mb": (reader["peak_rss"] - reader["after_import_rss"]) / 1e6,
            }
            results["cases"].append(case)
            print(f"{label}: file {case['file_mb']:.0f} MB ({case['file_over_chunk']:.0f}x chunk); "
                  f"convert {case['convert_s']:.2f} s ({case['convert_mb_per_s']:.0f} MB/s), raw copy "
                  f"{case['raw_copy_s']:.2f} s -> ratio {case['time_ratio_convert_over_raw']:.1f}x; "
                  f"peak RSS above warm-up: convert {case['convert_peak_rss_over_import_mb']:.0f} MB, "
                  f"raw copy {case['raw_peak_rss_over_import_mb']:.0f} MB, our reader into one level of "
                  f"plate-shaped chunks {case['reader_to_tiles_peak_rss_over_import_mb']:.0f} MB "
                  f"({case['reader_to_tiles_s']:.2f} s)")
    out = Path(__file__).resolve().parent / "results" / "convert.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
