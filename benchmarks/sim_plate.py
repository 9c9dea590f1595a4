"""A SIM-scale benchmark plate, and the raw read it is measured against.

Run: ``.venv/bin/python benchmarks/sim_plate.py [--fields 8] [--seed 0] [--folder DIR]``.
Builds (or reuses) the plate, prints its figures and writes ``benchmarks/results/sim_plate.json``.

Each field is one synthetic cardiomyocyte (``ames_batch.synth.synthesize_field``) rendered
at the SIM reconstruction scale, 0.04 µm pixels and 0.125 µm z steps, as a 1024 x 1024 x 64
uint16 stack (40.96 µm square), written as an OME-TIFF and converted with
``pipeline.convert_files``, as ``ames-batch convert`` would. The cells are iPSC-derived: adult
and neonatal cells (55-150 µm) do not fit into a 41 µm field.

Other benchmarks import it::

    from sim_plate import make_sim_plate, read_level0
    plate = make_sim_plate(folder, n_fields=8)     # built once, then reused
    baseline = read_level0(plate)                  # {"seconds": ..., "mb_per_s": ...}

The raw baseline is the time to read and decompress every field's level-0 array once with
plain zarr (``zarr.open_array(...)[...]``), nothing else.
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import zarr

from ames_batch.io import list_fields
from ames_batch.pipeline import convert_files
from ames_batch.synth import sample_cell_params, synthesize_field

SCALE_UM = {"z": 0.125, "y": 0.04, "x": 0.04}
N_Z = 64
FIELD_SIZE_UM = (40.96, 40.96)  # 1024 x 1024 px at 0.04 µm
STAIN = "alpha-actinin"
_CONVERT_BATCH = 8  # source files on disk at once (134 MB each)


def _plate_path(folder: Path, n_fields: int, seed: int) -> Path:
    return Path(folder) / f"sim-{n_fields}f-seed{seed}.ome.zarr"


def _manifest(n_fields: int, seed: int) -> dict:
    return {"n_fields": n_fields, "seed": seed, "scale_um": SCALE_UM, "n_z": N_Z, "field_size_um": list(FIELD_SIZE_UM),
            "cells": "one iPSC-derived cell per field", "stain_channel": STAIN}


def _field_stack(seed: int, index: int) -> np.ndarray:
    """(Z, Y, X) uint16 stack of field `index`: one iPSC-derived cell that fits the field."""
    rng = np.random.default_rng([seed, index])
    for _ in range(100):
        params = sample_cell_params(rng, source="ipsc")
        try:
            return synthesize_field(rng, cell_params=[params], scale_um=SCALE_UM, n_z=N_Z,
                                    field_size_um=FIELD_SIZE_UM).stack
        except ValueError as err:
            if "do not fit" not in str(err):
                raise
    raise RuntimeError(f"no iPSC-derived cell of 100 drawn fits {FIELD_SIZE_UM} µm (seed {seed}, field {index})")


def _write_ome_tiff(path: Path, stack: np.ndarray) -> None:
    tifffile.imwrite(path, stack[np.newaxis], ome=True, photometric="minisblack", metadata={
        "axes": "CZYX", "Channel": {"Name": [STAIN]},
        "PhysicalSizeX": SCALE_UM["x"], "PhysicalSizeY": SCALE_UM["y"], "PhysicalSizeZ": SCALE_UM["z"]})


def make_sim_plate(folder: Path, n_fields: int, *, seed: int = 0) -> Path:
    """Build, or reuse, a plate of `n_fields` SIM-scale fields (1024 x 1024 x 64, uint16).

    Parameters
    ----------
    folder : Path
        Cache folder; the plate is ``<folder>/sim-<n>f-seed<seed>.ome.zarr`` with a
        ``.json`` manifest beside it, written last. A plate with its manifest is reused as is.
    n_fields : int
        Number of fields, >= 1; each is its own well (A/1, A/2, ... in rows of 12).
    seed : int
        Field `i` is drawn from ``numpy.random.default_rng([seed, i])``.

    Returns
    -------
    plate : Path
        The converted plate (stain channel ``"alpha-actinin"``).
    """
    if isinstance(n_fields, bool) or not isinstance(n_fields, int) or n_fields < 1:
        raise ValueError(f"`n_fields` must be an int >= 1; got {n_fields!r}")
    plate = _plate_path(folder, n_fields, seed)
    manifest = plate.with_suffix(".json")
    if manifest.is_file() and json.loads(manifest.read_text()) == _manifest(n_fields, seed) and plate.is_dir():
        return plate
    shutil.rmtree(plate, ignore_errors=True)  # a half-built plate from a killed call
    plate.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=plate.parent) as sources:
        for start in range(0, n_fields, _CONVERT_BATCH):
            files = []
            for i in range(start, min(start + _CONVERT_BATCH, n_fields)):
                files.append(Path(sources) / f"field-{i:04d}.ome.tif")
                _write_ome_tiff(files[-1], _field_stack(seed, i))
            report = convert_files(files, plate, channel=STAIN)
            if not report.ok:
                raise RuntimeError(f"convert failed: {report.failed}")
            for f in files:
                f.unlink()
    if len(list_fields(plate)) != n_fields:
        raise RuntimeError(f"{plate}: expected {n_fields} fields, found {len(list_fields(plate))}")
    manifest.write_text(json.dumps(_manifest(n_fields, seed), indent=2))
    return plate


def read_level0(plate: Path) -> dict:
    """Read and decompress every field's level-0 array once with plain zarr; time it.

    Returns
    -------
    dict
        ``n_fields``, ``mb`` (decompressed), ``seconds``, ``mb_per_s``, ``seconds_per_field``.
    """
    paths = [Path(plate) / key.path / "0" for key in list_fields(plate)]
    nbytes = 0
    t0 = time.perf_counter()
    for path in paths:
        nbytes += zarr.open_array(str(path), mode="r")[...].nbytes
    seconds = time.perf_counter() - t0
    return {"n_fields": len(paths), "mb": nbytes / 1e6, "seconds": seconds, "mb_per_s": nbytes / 1e6 / seconds,
            "seconds_per_field": seconds / len(paths)}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "ames-sim-plate")
    args = parser.parse_args()
    t0 = time.perf_counter()
    cached = _plate_path(args.folder, args.fields, args.seed).with_suffix(".json").is_file()
    plate = make_sim_plate(args.folder, args.fields, seed=args.seed)
    build_s = None if cached else time.perf_counter() - t0
    read_level0(plate)  # warm-up: imports and the page cache, so the figure is the decode
    reads = [read_level0(plate) for _ in range(3)]
    best = min(reads, key=lambda r: r["seconds"])
    on_disk = sum(p.stat().st_size for p in plate.rglob("*") if p.is_file())
    results = {**_manifest(args.fields, args.seed), "plate": str(plate), "plate_mb_on_disk": on_disk / 1e6,
               "build_s": build_s, "build_s_per_field": build_s / args.fields if build_s else None,
               "raw_read_level0": best, "raw_read_level0_all_s": [r["seconds"] for r in reads]}
    print(f"{plate}: {args.fields} fields of {N_Z} x 1024 x 1024 uint16, {on_disk / 1e6:.0f} MB on disk"
          + (f", built in {build_s:.0f} s ({build_s / args.fields:.1f} s per field)" if build_s else " (cached)"))
    print(f"raw read of every level-0 array (plain zarr, warm page cache, best of 3): {best['seconds']:.2f} s, "
          f"{best['mb_per_s']:.0f} MB/s decompressed, {best['seconds_per_field']:.3f} s per field")
    out = Path(__file__).resolve().parent / "results" / "sim_plate.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
