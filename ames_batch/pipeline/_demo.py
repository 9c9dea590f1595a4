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
from ..synth import DEMO_SCALE_UM, LOOKS, SOURCES, field_of_view, sample_cell_params, synthesize_field

__all__ = ["DemoReport", "write_demo_plate", "TRUTH_LABELS", "STAIN_CHANNEL"]

log = logging.getLogger("ames_batch")

TRUTH_LABELS = "truth"
STAIN_CHANNEL = "alpha-actinin"
_PLATE_COLUMNS = 12  # wells fill a 96-well layout row by row: A/1..A/12, B/1..
_DRAWS_PER_FIELD = 20  # a field's cells are drawn again (same classes) when they do not fit into the view


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
    look: str = "a",
) -> DemoReport:
    """Write a synthetic OME-Zarr HCS plate and its ground-truth ratings.

    Classes are drawn uniformly per cell (source, sarcomerisation, directionality), so every
    rating appears about equally often. Each field holds `cells_per_field` cells, which may touch.
    All fields of the plate share one shape, as a microscope's do: the fixed field of view
    ``synth.field_of_view(scale_um, n_cells=cells_per_field)``, a square that holds the largest
    cell the sampler draws (times ``sqrt(cells_per_field)``) and the thickest body.

    Parameters
    ----------
    plate : Path
        Plate to create (``.zarr`` directory); it must not exist yet.
    n_wells, n_fields, cells_per_field : int
        Plate size; wells fill row by row from A/1.
    seed : int
        Seed of everything random; the same seed writes the same voxels, and the same cells
        (labels, truth) in every look.
    scale_um : dict, optional
        ``{"z", "y", "x"}`` voxel size in µm; default the generator's demo preset.
    rater_noise : float
        Rater noise of the ground truth (see ``docs/synthetic-cells.md``), 0 = exact rules.
    truth_csv : Path, optional
        Where the ground-truth CSV goes; default ``<plate without .zarr>-truth.csv`` beside it.
    look : {"a", "b", "c", "d"}
        Rendering of the synthetic cells (``synth.LOOKS``): ``"a"`` SIM-like, ``"b"`` an
        independent widefield/Airyscan-like rendering of the same truth, ``"c"`` look a's
        cells through look b's camera, ``"d"`` a third independent rendering (spinning-disk
        confocal, EMCCD) that no shipped model is trained on.

    Returns
    -------
    DemoReport
        Paths, fields written and number of cells.

    Notes
    -----
    Ground-truth cell masks are stored as the label image ``truth`` of each field with the ratings
    as label properties; ``ames-batch run`` writes its own ``cells`` labels beside them. Cells
    that happen not to fit into the view together are drawn again with the same classes (an
    operator moving the stage), up to 20 times.

    Raises
    ------
    FileExistsError
        If `plate` exists.
    ValueError
        If a count is < 1 or `look` is unknown.
    """
    plate = Path(plate)
    if plate.exists():
        raise FileExistsError(f"{plate}: already exists; choose a new path or remove it")
    if min(n_fields, cells_per_field) < 1:
        raise ValueError(f"`n_fields` and `cells_per_field` must be >= 1; got {n_fields}, {cells_per_field}")
    if look not in LOOKS:
        raise ValueError(f"`look` must be one of {LOOKS}; got {look!r}")
    scale_um = scale_um or DEMO_SCALE_UM
    view = field_of_view(scale_um, n_cells=cells_per_field)
    truth_csv = Path(truth_csv) if truth_csv else plate.with_name(plate.name.removesuffix(".zarr") + "-truth.csv")
    plate_name = plate.name.removesuffix(".zarr")
    keys = [FieldKey(well, str(f)) for well in demo_wells(n_wells) for f in range(n_fields)]
    # one random stream per field: a field's cells do not depend on the look of the fields before it
    streams = np.random.SeedSequence(seed).spawn(len(keys))
    rows = []
    for key, stream in progress(zip(keys, streams), total=len(keys), desc="demo fields"):
        field = _demo_field(np.random.default_rng(stream), cells_per_field, scale_um, view, rater_noise, look)
        image = xr.DataArray(
            field.stack[np.newaxis], dims=("c", "z", "y", "x"),
            coords={"c": [STAIN_CHANNEL]}, attrs={"scale_um": dict(field.scale_um)},
        )
        write_field(plate, key, image, plate_name=plate_name,
                    attrs={"synthetic": {"seed": seed, "look": look}, "stain_channel": STAIN_CHANNEL})
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


def _demo_field(rng, n_cells: int, scale_um: dict, view, rater_noise: float, look: str):
    """One field of the plate's fixed view; cells that do not fit together are drawn again."""
    for _ in range(_DRAWS_PER_FIELD):
        params = [
            sample_cell_params(
                rng,
                source=SOURCES[rng.integers(len(SOURCES))],
                sarcomerisation=int(rng.integers(1, 5)),
                directionality=int(rng.integers(1, 5)),
            )
            for _ in range(n_cells)
        ]
        try:
            return synthesize_field(rng, n_cells=n_cells, scale_um=scale_um, cell_params=params,
                                    field_size_um=view.size_um, n_z=view.n_z, rater_noise=rater_noise,
                                    touching=n_cells > 1, look=look)
        except ValueError:  # the arguments are valid: only "do not fit into field_size_um" is left
            continue
    raise ValueError(f"{n_cells} cells did not fit into the {view.size_um} µm view in {_DRAWS_PER_FIELD} draws; "
                     f"use fewer cells per field")


def _truth_row(plate_name: str, key: FieldKey, cell) -> dict:
    """One ground-truth CSV row: where the cell is, its three ratings, its generator parameters."""
    row = {
        "plate": plate_name, "well": key.well, "field": key.field, "label": int(cell.label),
        "group": key.well, "source": cell.source,
        "sarcomerisation": int(cell.sarcomerisation), "directionality": int(cell.directionality),
    }
    row.update({f"param_{k}": v for k, v in cell.params.as_dict().items() if k != "source"})
    return row
