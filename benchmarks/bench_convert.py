"""Benchmark ``convert``: peak memory against one plane and a raw read, time against a raw copy.

Run: ``.venv/bin/python benchmarks/bench_convert.py [--out PATH]``. Prints its figures and
writes ``benchmarks/results/convert.json``.

Every measurement runs in its own child process on 1024 x 1024 uint16 OME-TIFF fields
(C = 1, Z = 10, 40, 80; and four Z = 40 files in one call). Peak memory is the child's peak
RSS (``resource.getrusage``) minus its RSS after a warm-up on a tiny file of the same format
(imports, thread pools, caches). Baselines, measured in the same run on the same file:

- raw read: ``tifffile.imread`` of the whole file (what holding the stack costs);
- raw copy: that read plus one zarr write with the plate's level-0 chunks (one level, no
  pyramid, no hashing, no metadata): the time baseline.

Ratios: convert peak / one plane's bytes (flat in Z means a constant), convert peak / one
file's voxel bytes and / the raw read's peak RSS, convert time / raw copy time.

Vendor formats: one stack of C = 2, Z = 40 written as OME-TIFF, DeltaVision (mrc) and CZI
(pylibCZIrw), each converted in a child: seconds and the ratio to the OME-TIFF's convert.

A rerun over the four files (nothing new): seconds, against hashing them alone.

A movie (SarcGraph's ``sample_2.avi`` from ``../shared/data``, 146 frames of 400 x 400 RGB, one
field per frame; skipped when absent): convert time against its raw copy (every frame decoded
once with imageio, then one zarr write of the whole movie), and convert's peak RSS against that
of the same frames twice over (its frames are read forward by one open reader, never held
together: the peak must not grow with the movie's length).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

YX = 1024
PLANE_BYTES = YX * YX * 2
OME_METADATA = {"axes": "CZYX", "PhysicalSizeX": 0.04, "PhysicalSizeY": 0.04, "PhysicalSizeZ": 0.125}
CONVERT = r"""
import json, resource, sys, time
import psutil
from ames_batch.pipeline import convert_files
px = float(sys.argv[4]) if len(sys.argv) > 4 else None  # for files without a calibration
assert convert_files([sys.argv[2]], sys.argv[3] + ".warm", pixel_size_um=px).ok
after_import = psutil.Process().memory_info().rss
t0 = time.perf_counter()
report = convert_files(json.loads(sys.argv[1]), sys.argv[3], pixel_size_um=px)
seconds = time.perf_counter() - t0
assert report.ok, report.failed
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_over_warm": peak - after_import}))
"""
RERUN = r"""
import json, sys, time
from ames_batch.pipeline import convert_files
assert convert_files(json.loads(sys.argv[1]), sys.argv[3]).ok
t0 = time.perf_counter()
report = convert_files(json.loads(sys.argv[1]), sys.argv[3])
seconds = time.perf_counter() - t0
assert report.ok and not report.converted
t0 = time.perf_counter()
from ames_batch.io import file_digest
for f in json.loads(sys.argv[1]):
    file_digest(f)
print(json.dumps({"seconds": seconds, "hash_seconds": time.perf_counter() - t0}))
"""
RAW = r"""
import json, resource, sys, time
import psutil, tifffile, zarr
tifffile.imread(sys.argv[2])
zarr.create_array(sys.argv[3] + ".warm", shape=(4, 4), dtype="uint16", chunks=(2, 2))[...] = 1
after_import = psutil.Process().memory_info().rss
t0 = time.perf_counter()
data = tifffile.imread(json.loads(sys.argv[1])[0])
read_s = time.perf_counter() - t0
read_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
data = data.reshape((1,) * (4 - data.ndim) + data.shape)
z = zarr.create_array(sys.argv[3], shape=data.shape, dtype=data.dtype,
                      chunks=(1, min(16, data.shape[1]), 256, 256), zarr_format=3)
z[...] = data
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "read_seconds": read_s, "read_peak_over_warm": read_peak - after_import}))
"""


RAW_MOVIE = r"""
import json, sys, time
import imageio.v3 as iio, numpy as np, zarr
iio.imread(sys.argv[2], plugin="pyav", index=0)
t0 = time.perf_counter()
data = np.moveaxis(iio.imread(json.loads(sys.argv[1])[0], plugin="pyav"), -1, 1)[:, :, None]  # (T, C, 1, Y, X)
read_s = time.perf_counter() - t0
z = zarr.create_array(sys.argv[3], shape=data.shape, dtype=data.dtype, chunks=(1, 1, 1, 256, 256), zarr_format=3)
z[...] = data
print(json.dumps({"seconds": time.perf_counter() - t0, "read_seconds": read_s, "nbytes": data.nbytes}))
"""
MOVIE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sarcgraph" / "sample_2.avi"


def movie_case(tmp: Path) -> dict | None:
    """`convert` of a real movie (one field per frame) against decoding it once and writing it;
    its peak RSS against that of the same frames written twice over (a movie twice as long)."""
    if not MOVIE.is_file():
        return None
    warm = tmp / "warm.png"
    import imageio.v3 as iio

    iio.imwrite(warm, np.zeros((64, 64, 3), np.uint8))
    longer = tmp / "twice.avi"
    iio.imwrite(longer, np.concatenate([iio.imread(MOVIE, plugin="pyav")] * 2), plugin="pyav", codec="mpeg4", fps=25)
    raw = run_child(RAW_MOVIE, [MOVIE], MOVIE, tmp / "raw.zarr")
    conv = run_child(CONVERT, [MOVIE], warm, tmp / "plate.zarr", "0.12")  # its pixel size is not published
    conv2 = run_child(CONVERT, [longer], warm, tmp / "plate2.zarr", "0.12")
    longer.unlink()
    case = {"case": "movie: sarcgraph sample_2.avi, 146 frames of 400 x 400 RGB", "frames": 146,
            "decoded_mb": raw["nbytes"] / 1e6, "convert_s": conv["seconds"], "raw_copy_s": raw["seconds"],
            "raw_read_s": raw["read_seconds"], "convert_s_per_frame": conv["seconds"] / 146,
            "time_ratio_convert_over_raw_copy": conv["seconds"] / raw["seconds"],
            "convert_peak_mb": conv["peak_over_warm"] / 1e6,
            "twice_as_long_convert_s": conv2["seconds"], "twice_as_long_peak_mb": conv2["peak_over_warm"] / 1e6,
            "peak_ratio_twice_as_long": conv2["peak_over_warm"] / conv["peak_over_warm"]}
    print(f"{case['case']}: convert {case['convert_s']:.1f} s ({1000 * case['convert_s_per_frame']:.0f} ms a frame) = "
          f"{case['time_ratio_convert_over_raw_copy']:.1f}x the raw copy ({raw['seconds']:.2f} s); peak RSS "
          f"{case['convert_peak_mb']:.0f} MB; twice as long: {conv2['seconds']:.1f} s, peak "
          f"{case['peak_ratio_twice_as_long']:.2f}x")
    return case


def formats_case(tmp: Path, warm: Path) -> dict:
    """The same (C=2, Z=40) stack as OME-TIFF, DV and CZI: convert seconds, and per OME-TIFF's."""
    import mrc
    from pylibCZIrw import czi as pyczi

    data = np.random.default_rng(7).integers(0, 4096, size=(2, 40, YX, YX), dtype=np.uint16)
    files = {"ome-tiff": tmp / "f.ome.tif", "dv": tmp / "f.dv", "czi": tmp / "f.czi"}
    tifffile.imwrite(files["ome-tiff"], data, ome=True, metadata={**OME_METADATA, "axes": "CZYX"})
    mrc.save(data, str(files["dv"]), zAxisOrder="wz", ifExists="overwrite",
             metadata={"dx": 0.04, "dy": 0.04, "dz": 0.125, "wave0": 525, "wave1": 460})
    with pyczi.create_czi(str(files["czi"]), exist_ok=True) as czi:
        for c in range(2):
            for z in range(40):
                czi.write(data[c, z], plane={"C": c, "Z": z, "T": 0})
        czi.write_metadata(document_name="f", channel_names={0: "actinin", 1: "DAPI"},
                           scale_x=0.04e-6, scale_y=0.04e-6, scale_z=0.125e-6)
    seconds = {name: run_child(CONVERT, [f], warm, tmp / f"{name}.zarr")["seconds"] for name, f in files.items()}
    for f in files.values():
        f.unlink()
    case = {"case": "C=2, Z=40 in three formats", "voxel_mb": data.nbytes / 1e6, "convert_s": seconds,
            "ratio_to_ome_tiff": {k: v / seconds["ome-tiff"] for k, v in seconds.items()}}
    print(f"{case['case']} ({case['voxel_mb']:.0f} MB): " + ", ".join(
        f"{k} {v:.2f} s ({case['ratio_to_ome_tiff'][k]:.2f}x)" for k, v in seconds.items()))
    return case


def make_file(path: Path, n_z: int, seed: int) -> int:
    data = np.random.default_rng(seed).integers(0, 4096, size=(1, n_z, YX, YX), dtype=np.uint16)
    tifffile.imwrite(path, data, ome=True, metadata=OME_METADATA)
    return data.nbytes


def run_child(code: str, files: list[Path], warm: Path, out: Path, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, json.dumps([str(f) for f in files]), str(warm), str(out),
                           *extra],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    for name in (out, Path(f"{out}.warm")):
        shutil.rmtree(name, ignore_errors=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(out: Path) -> dict:
    results: dict = {"plane": f"{YX} x {YX} uint16", "plane_mb": PLANE_BYTES / 1e6, "cases": []}
    cases = [("C=1, Z=10", 10, 1), ("C=1, Z=40", 40, 1), ("C=1, Z=80", 80, 1), ("4 files of C=1, Z=40", 40, 4)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        warm = tmp / "warm.ome.tif"
        tifffile.imwrite(warm, np.zeros((1, 2, 64, 64), np.uint16), ome=True, metadata=OME_METADATA)
        for label, n_z, n_files in cases:
            files = [tmp / f"in{i}.ome.tif" for i in range(n_files)]
            nbytes = sum(make_file(f, n_z, seed=i) for i, f in enumerate(files))
            raw = run_child(RAW, files, warm, tmp / "raw.zarr")
            conv = run_child(CONVERT, files, warm, tmp / "plate.zarr")
            if n_files > 1:  # a nightly rerun over the same files: nothing to convert
                rerun = run_child(RERUN, files, warm, tmp / "rerun.zarr")
                results["rerun"] = {"case": f"rerun of {label}", "seconds": rerun["seconds"],
                                    "hashing_the_files_s": rerun["hash_seconds"]}
                print(f"rerun of {label}: {rerun['seconds']:.3f} s (hashing the files alone: "
                      f"{rerun['hash_seconds']:.3f} s from the page cache)")
            for f in files:
                f.unlink()
            case = {
                "case": label, "n_files": n_files, "shape_czyx_per_file": [1, n_z, YX, YX],
                "file_mb_total": nbytes / 1e6,
                "convert_s": conv["seconds"], "raw_copy_s": raw["seconds"], "raw_read_s": raw["read_seconds"],
                "time_ratio_convert_over_raw_copy": conv["seconds"] / (raw["seconds"] * n_files),
                "convert_peak_mb": conv["peak_over_warm"] / 1e6,
                "raw_read_peak_mb": raw["read_peak_over_warm"] / 1e6,
                "peak_ratio_convert_over_plane": conv["peak_over_warm"] / PLANE_BYTES,
                "peak_ratio_convert_over_raw_read": conv["peak_over_warm"] / raw["read_peak_over_warm"],
                "peak_ratio_convert_over_stack_bytes": conv["peak_over_warm"] / (nbytes / n_files),
            }
            results["cases"].append(case)
            print(f"{label}: {nbytes / 1e6:.0f} MB; convert {case['convert_s']:.2f} s = "
                  f"{case['time_ratio_convert_over_raw_copy']:.1f}x the raw copy ({raw['seconds']:.2f} s per file); "
                  f"peak RSS {case['convert_peak_mb']:.0f} MB = {case['peak_ratio_convert_over_plane']:.0f} planes = "
                  f"{case['peak_ratio_convert_over_stack_bytes']:.2f}x one file's voxels, "
                  f"{case['peak_ratio_convert_over_raw_read']:.2f}x the raw read's peak "
                  f"({case['raw_read_peak_mb']:.0f} MB)")
        results["formats"] = formats_case(tmp, warm)
        movie = movie_case(tmp)
        if movie is not None:
            results["movie"] = movie
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "convert.json")
    main(parser.parse_args().out)
