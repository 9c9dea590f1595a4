"""Write a synthetic HCS plate with ground truth: the demo, the tests' and the model's data."""

import logging
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import progress
from ..io import FieldKey, write_csv_atomic, write_field, write_labels
from ..synth import DEMO_SCALE_UM, SOURCES, sample_cell_params, synthesize_field

__all__ = ["DemoReport", "write_demo_plate", "TRUTH_LABELS", "STAIN_CHANNEL"]

log = logging.getLogger("ames_batch")

TRUTH_LABELS = "truth"
STAIN_CHANNEL = "alpha-actinin"
_PLATE_COLUMNS = 12  # wells fill a 96-well layout row by row: A/1..A/12, B/1..


@dataclass(frozen=True)
class DemoReport:
    """What :func:`write_demo_plate` wrote."""

    plate: Path
    truth_csv: Path
    fields: list[FieldKey]
    n_cells: int


def demo_wells(n_wells: int) -> list[str]:
    """Well names of the first `n_wells` wells of a 96-well plate, row by row ("A/1", "A/2", ...)."""
    if not 1 <= n_wells <= 8 * _PLATE_COLUMNS:
        raise ValueError(f"`n_wells` must be in 1..96; got {n_wells}")
    return [f"{string.ascii_uppercase[i // _PLATE_COLUMNS]}/{i % _PLATE_COLUMNS + 1}" for i in range(n_wells)]


def write_demo_plate(
    plate: Path,
    *,
    n_wells: int = 4,
    n_fields: int = 2,
    cells_per_field: int = 2,
    seed: int = 0,
    scale_um: dict | None = None,
    rater_noise: float = 0.0,
    truth_csv: Path | None = None,
) -> DemoReport:
    """Write a synthetic OME-Zarr HCS plate and its ground-truth ratings.

    Classes are drawn uniformly per cell (source, sarcomerisation, directionality), so every
    rating appears about equally often. Each field holds `cells_per_field` cells, which may touch.

    Parameters
    ----------
    plate : Path
        Plate to create (``.zarr`` directory); it must not exist yet.
    n_wells, n_fields, cells_per_field : int
        Plate size; wells fill row by row from A/1.
    seed : int
        Seed of everything random; the same seed writes the same voxels.
    scale_um : dict, optional
        ``{"z", "y", "x"}`` voxel size in µm; default the generator's demo preset.
    rater_noise : float
        Rater noise of the ground truth (see ``docs/synthetic-cells.md``), 0 = exact rules.
    truth_csv : Path, optional
        Where the ground-truth CSV goes; default ``<plate without .zarr>-truth.csv`` beside it.

    Returns
    -------
    DemoReport
        Paths, fields written and number of cells.

    Notes
    -----
    Ground-truth cell masks are stored as the label image ``truth`` of each field with the ratings
    as label properties; ``ames-batch run`` writes its own ``cells`` labels beside them.
    """
    plate = Path(plate)
    if plate.exists():
        raise FileExistsError(f"{plate}: already exists; choose a new path or remove it")
    if min(n_fields, cells_per_field) < 1:
        raise ValueError(f"`n_fields` and `cells_per_field` must be >= 1; got {n_fields}, {cells_per_field}")
    truth_csv = Path(truth_csv) if truth_csv else plate.with_name(plate.name.removesuffix(".zarr") + "-truth.csv")
    plate_name = plate.name.removesuffix(".zarr")
    rng = np.random.default_rng(seed)
    keys = [FieldKey(well, str(f)) for well in demo_wells(n_wells) for f in range(n_fields)]
    rows = []
    for key in progress(keys, total=len(keys), desc="demo fields"):
        params = [
            sample_cell_params(
                rng,
                source=SOURCES[rng.integers(len(SOURCES))],
                sarcomerisation=int(rng.integers(1, 5)),
                directionality=int(rng.integers(1, 5)),
            )
            for _ in range(cells_per_field)
        ]
        field = synthesize_field(
            rng, n_cells=cells_per_field, scale_um=scale_um or DEMO_SCALE_UM, cell_params=params,
            rater_noise=rater_noise, touching=cells_per_field > 1,
        )
        image = xr.DataArray(
            field.stack[np.newaxis], dims=("c", "z", "y", "x"),
            coords={"c": [STAIN_CHANNEL]}, attrs={"scale_um": dict(field.scale_um)},
        )
        write_field(plate, key, image, plate_name=plate_name,
                    attrs={"synthetic": {"seed": seed}, "stain_channel": STAIN_CHANNEL})
        cell_rows = [_truth_row(plate_name, key, cell) for cell in field.cells]
        write_labels(
            plate, key, TRUTH_LABELS, field.cell_labels,
            properties=[{"label-value": r["label"], **{k: r[k] for k in ("source", "sarcomerisation", "directionality")}}
                        for r in cell_rows],
        )
        rows.extend(cell_rows)
    write_csv_atomic(truth_csv, pd.DataFrame(rows))
    log.info("demo plate %s: %d fields, %d cells; ground truth in %s", plate, len(keys), len(rows), truth_csv)
    return DemoReport(plate=plate, truth_csv=truth_csv, fields=keys, n_cells=len(rows))


def _truth_row(plate_name: str, key: FieldKey, cell) -> dict:
    """One ground-truth CSV row: where the cell is, its three ratings, its generator parameters."""
    row = {
        "plate": plate_name, "well": key.well, "field": key.field, "label": int(cell.label),
        "group": key.well, "source": cell.source,
        "sarcomerisation": int(cell.sarcomerisation), "directionality": int(cell.directionality),
    }
    row.update({f"param_{k}": v for k, v in cell.params.as_dict().items() if k != "source"})
    return row
