"""``ames-batch report``: a rated plate as one self-contained HTML page and a per-well CSV.

Reads the run's CSV (one row per cell), the plate's cell labels and heatmaps for the example
cells, and hands them to the pure renderers of ``ames_batch.report``. Written by ``run`` at the
end (unless ``--no-report``) and by ``ames-batch report`` on its own.
"""

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._lazy import ndi
from ..image import cell_bbox
from ..io import FieldKey, field_attributes, list_heatmaps, list_labels, read_heatmap, read_labels, write_csv_atomic
from ..segment import match_labels
from ._cells import CELL_MARGIN_UM
from ._field_input import read_field_data, read_field_window
from ._rate import CELL_LABELS

__all__ = ["ReportFiles", "report_path", "wells_csv_path", "write_plate_report"]

log = logging.getLogger("ames_batch")

#: Display pixel size of the gallery pictures, µm (a 100 µm cell is 250 px wide).
GALLERY_UM_PER_PX = 0.4
#: Heatmaps shown on the gallery cells, the first the plate has.
GALLERY_HEATMAPS = ("gradcam", "organised")
TRUTH_LABELS = "truth"


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_plate_report` wrote."""

    html: Path
    wells_csv: Path


def _beside(plate: Path, suffix: str) -> Path:
    return plate.with_name(plate.name.removesuffix(".zarr") + suffix)


def report_path(plate: Path) -> Path:
    """Default report beside the plate: ``plate.zarr`` → ``plate-report.html``."""
    return _beside(Path(plate), "-report.html")


def wells_csv_path(ratings_csv: Path) -> Path:
    """The per-well summary beside a ratings CSV: ``plate-ratings.csv`` → ``plate-wells.csv``."""
    ratings_csv = Path(ratings_csv)
    return ratings_csv.with_name(ratings_csv.name.removesuffix(".csv").removesuffix("-ratings") + "-wells.csv")


def _task_maps(plate: Path, key: FieldKey) -> dict[str, tuple[np.ndarray, dict]]:
    """{task: (heatmap plane in [0, 1] on its own grid, its attrs)} of the first of
    `GALLERY_HEATMAPS` the field has (a 3D map projected over z; the organised map stands for
    sarcomerisation)."""
    method = next((m for m in GALLERY_HEATMAPS if m in list_heatmaps(plate, key)), None)
    if method is None:
        return {}
    heat = read_heatmap(plate, key, method)
    values = np.asarray(heat.transpose("c", ...))  # one read of every task's map
    maps = {}
    for name, plane in zip(heat.coords["c"].values, values):
        maps[str(name)] = (plane.max(axis=0) if plane.ndim == 3 else plane, heat.attrs)
    return {"sarcomerisation": maps["organised"]} if method == "organised" else maps


def _on_grid(plane: np.ndarray, attrs: dict, data, box: tuple[slice, slice]) -> np.ndarray:
    """`plane` (scale and translation in `attrs`) resampled onto the pixels `box` of `data.mip`
    (linear, clipped to [0, 1]; a heatmap on a model's coarser grid comes out smooth on the
    picture's). Only the box: the whole field cost 0.75 of a demo report's 3.4 s."""
    scale = [data.scale_um[a] / attrs["scale_um"][a] for a in "yx"]
    shift = [(data.translation_um[a] - attrs["translation_um"][a]) / attrs["scale_um"][a] + f * b.start
             for a, f, b in zip("yx", scale, box)]
    shape = [b.stop - b.start for b in box]
    out = ndi.affine_transform(plane.astype(np.float32), scale, offset=shift, output_shape=shape,
                               order=1, mode="nearest")
    return np.clip(out, 0, 1)


def _gallery(plate: Path, cells: pd.DataFrame, channel) -> list[dict]:
    """Thumbnails (outline, the heatmap of the task shown) of the report's example cells."""
    from ..report import cell_thumbnail_png, gallery_cells

    items = []
    for (well, fld), rows in gallery_cells(cells, per_class=2).groupby(["well", "field"], sort=False):
        key = FieldKey(str(well), str(fld))
        image = read_labels(plate, key, CELL_LABELS)[0]
        labels = np.asarray(image.max(dim="z"))
        px = float(image.attrs["scale_um"]["x"])
        maps = whole = None
        for row in rows.to_dict("records"):
            mask = labels == int(row["label"])
            if not mask.any():
                continue  # labels of an older release on another grid: no picture
            box = cell_bbox(mask, pixel_size_um=px, margin_um=CELL_MARGIN_UM)
            # the stain under this cell only (a demo cell: a quarter of its field's chunks), read from
            # the pyramid level on the labels' grid; the whole field where no level lies on it
            data = None if whole is not None else read_field_window(plate, key, box, channel=channel)
            if data is None or data.mip.shape != mask[box].shape:
                whole = read_field_data(plate, key, channel=channel) if whole is None else whole
                if whole.mip.shape != labels.shape:
                    break
                data, box_in_data = whole, box
            else:
                box_in_data = tuple(slice(0, n) for n in data.mip.shape)
            maps = _task_maps(plate, key) if maps is None else maps
            overlay = _on_grid(*maps[row["task"]], data, box_in_data) if row["task"] in maps else None
            png = cell_thumbnail_png(data.mip[box_in_data], mask[box], pixel_size_um=px, heatmap=overlay,
                                     display_um_per_px=GALLERY_UM_PER_PX)
            items.append({**row, "png": png})
    return items


def _truth_of_found(plate: Path, truth_csv: Path) -> pd.DataFrame:
    """The truth CSV keyed by the run's labels: each found cell takes the truth cell it overlaps
    (IoU >= 0.5, the demo plate's ``labels/truth``); without truth labels, the CSV as it is."""
    truth = pd.read_csv(truth_csv, dtype={"field": str, "sarcomerisation": str, "directionality": str})
    rows = []
    for (well, fld), part in truth.groupby(["well", "field"]):
        key = FieldKey(str(well), str(fld))
        if TRUTH_LABELS not in list_labels(plate, key) or CELL_LABELS not in list_labels(plate, key):
            rows.append(part)
            continue
        found = np.asarray(read_labels(plate, key, CELL_LABELS, on_field_grid=True)[0][0])
        true = np.asarray(read_labels(plate, key, TRUTH_LABELS, on_field_grid=True)[0][0])
        to_found = {t: p for p, t, _ in match_labels(found, true, iou_threshold=0.5).pairs}
        matched = part[part["label"].isin(to_found)]
        rows.append(matched.assign(label=matched["label"].map(to_found)))
    return pd.concat(rows, ignore_index=True) if rows else truth


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_plate_report(plate: Path, ratings_csv: Path, *, out: Path | None = None,
                       truth_csv: Path | None = None) -> ReportFiles:
    """Write the HTML plate report and the per-well summary CSV of a rated plate.

    Parameters
    ----------
    plate : Path
        A plate rated by ``ames-batch run``.
    ratings_csv : Path
        The run's CSV.
    out : Path, optional
        The HTML file; default ``<plate>-report.html`` beside the plate.
    truth_csv : Path, optional
        True ratings (an expert's, or a demo plate's ``-truth.csv``): adds confusion matrices.
        Cells are matched to the run's by overlap when the plate holds ``labels/truth``.

    Returns
    -------
    ReportFiles
        The report and ``<plate>-wells.csv`` beside `ratings_csv`.

    Raises
    ------
    FileNotFoundError
        If `ratings_csv` (or `truth_csv`) does not exist.
    ValueError
        If the CSV is not a run's ratings table.
    """
    from ..report import render_plate_report, well_summary

    plate, ratings_csv = Path(plate), Path(ratings_csv)
    cells = pd.read_csv(ratings_csv, dtype={"field": str, "sarcomerisation": str, "directionality": str})
    wells_csv = wells_csv_path(ratings_csv)
    write_csv_atomic(wells_csv, well_summary(cells))
    rated = cells[cells["status"] == "ok"]
    model = ({"name": rated["model"].iloc[0], "version": str(rated["model_version"].iloc[0])}
             if len(rated) else {})
    record = next((field_attributes(plate, FieldKey(r.well, r.field)).get("run", {})
                   for r in rated.itertuples()), {})
    settings = {"plate": plate.name, "rater": record.get("model"), "heatmaps": ", ".join(record.get("explain", [])),
                "channel": record.get("channel") or "as converted", "ames-batch": record.get("ames_batch")}
    truth = _truth_of_found(plate, Path(truth_csv)) if truth_csv is not None else None
    html = render_plate_report(cells, gallery=_gallery(plate, rated, record.get("channel")), model=model, settings=settings, truth=truth,
                               title=f"{plate.name.removesuffix('.zarr')}: sarcomere ratings")
    out = Path(out) if out is not None else report_path(plate)
    _write_text_atomic(out, html)
    log.info("report %s, per-well summary %s", out, wells_csv)
    return ReportFiles(out, wells_csv)
