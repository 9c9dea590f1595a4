"""``ames-batch sample``: pick cells of a rated plate for an expert to rate, and write the rating sheet.

The cells that teach a model most are spread over the plate (wells are cultures, conditions,
days) and over what the model believes (a sheet of only "4"s teaches nothing about "1"s), with
extra weight where the model is unsure. The picks are a seeded draw, so the same plate and seed
give the same sheet.
"""

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..image import cell_bbox
from ..io import list_fields, list_labels, read_labels, write_csv_atomic
from ..vocabulary import TASK_CLASSES
from ._cells import CELL_MARGIN_UM
from ._field_input import read_field_data

__all__ = ["SampleReport", "sample_cells", "sampling_weights", "pick_cells"]

log = logging.getLogger("ames_batch")

#: Weight of the model's doubt: a cell it is wholly unsure of counts (1 + this) times one it is sure of.
UNCERTAINTY_WEIGHT = 2.0


@dataclass(frozen=True)
class SampleReport:
    """What :func:`sample_cells` wrote."""

    sheet: Path
    csv: Path
    n_cells: int
    n_rated: int
    wells: int
    picked: pd.DataFrame


def _probabilities(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{task: (N, K)}`` from a run's ``p_<task>_<class>`` columns (tasks the table has)."""
    out = {}
    for task, classes in TASK_CLASSES.items():
        cols = [f"p_{task}_{c}" for c in classes]
        if all(c in table.columns for c in cols):
            out[task] = table[cols].to_numpy(np.float64)
    return out


def sampling_weights(table: pd.DataFrame, *, uncertainty_weight: float = UNCERTAINTY_WEIGHT) -> np.ndarray:
    """How much each rated cell should be picked: balanced over the model's classes, more when unsure.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell with the run's ``p_<task>_<class>`` probabilities.
    uncertainty_weight : float
        >= 0; see `UNCERTAINTY_WEIGHT`.

    Returns
    -------
    (N,) ndarray of float64
        ``(1 + uncertainty_weight * u) * b``: `u` the mean over tasks of the normalised entropy
        of the cell's probabilities (0 sure, 1 uniform), `b` the mean over tasks of
        ``1 / (K * share of cells predicted the cell's class)`` (1 when classes are even; a
        cell of a rare predicted class weighs more).

    Raises
    ------
    ValueError
        If the table holds no probabilities.
    """
    probs = _probabilities(table)
    if not probs:
        raise ValueError("the cells carry no p_<task>_<class> probabilities; rate the plate with `ames-batch run`")
    if not (math.isfinite(uncertainty_weight) and uncertainty_weight >= 0):
        raise ValueError(f"`uncertainty_weight` must be >= 0; got {uncertainty_weight}")
    n = len(table)
    doubt, balance = np.zeros(n), np.zeros(n)
    for p in probs.values():
        k = p.shape[1]
        q = np.clip(p, 1e-12, 1.0)
        q = q / q.sum(axis=1, keepdims=True)
        doubt += -(q * np.log(q)).sum(axis=1) / math.log(k)
        predicted = p.argmax(axis=1)
        share = np.bincount(predicted, minlength=k)[predicted] / n
        balance += 1.0 / (k * share)
    return (1.0 + uncertainty_weight * doubt / len(probs)) * balance / len(probs)


def pick_cells(table: pd.DataFrame, n: int, *, seed: int = 0,
               uncertainty_weight: float = UNCERTAINTY_WEIGHT) -> pd.DataFrame:
    """Pick `n` cells spread over wells, over the model's classes and towards its doubts.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per rated cell: ``well``, ``field``, ``label`` and the run's probabilities.
    n : int
        Cells to pick, >= 1 (all cells if there are fewer).
    seed : int
        Seed of the draw.
    uncertainty_weight : float
        See :func:`sampling_weights`.

    Returns
    -------
    pandas.DataFrame
        The picked rows in the order picked (wells interleaved), with ``weight`` added.

    Notes
    -----
    A weighted draw without replacement (Efraimidis & Spirakis 2006: key ``log(U) / w``, the
    largest keys win) is ranked within each well; the wells, in a seeded order, then give their
    best remaining cell in turn. So every well gives ``n // wells`` or one more cell (while it
    has cells), and within a well the classes and doubts steer the choice.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"`n` must be an int >= 1; got {n!r}")
    weights = sampling_weights(table, uncertainty_weight=uncertainty_weight)
    rng = np.random.default_rng(seed)
    keys = np.log(rng.random(len(table))) / weights
    ranked = table.assign(weight=weights, _key=keys).sort_values(["well", "_key"], ascending=[True, False],
                                                                 kind="stable")
    queues = {w: list(rows.index) for w, rows in ranked.groupby("well", sort=True)}
    order = [list(queues)[i] for i in rng.permutation(len(queues))]
    picked = []
    while len(picked) < min(n, len(table)):
        for well in order:
            if queues[well] and len(picked) < n:
                picked.append(queues[well].pop(0))
    return ranked.loc[picked].drop(columns="_key").reset_index(drop=True)


def _rated_cells(plate: Path, labels: str) -> pd.DataFrame:
    """One row per cell of every field with label image `labels` (its properties: the run's rows)."""
    rows = []
    for key in list_fields(plate):
        if labels not in list_labels(plate, key):
            continue
        _, properties = read_labels(plate, key, labels)
        for p in properties:
            if p.get("status", "ok") == "ok":
                rows.append({**{k: v for k, v in p.items() if k != "label-value"}, "well": key.well,
                             "field": key.field, "label": int(p["label-value"])})
    if not rows:
        raise ValueError(f"{plate}: no field has rated cells in labels/{labels}; run `ames-batch run` first")
    return pd.DataFrame(rows)


def _pictures(plate: Path, picked: pd.DataFrame, labels: str, channel) -> pd.DataFrame:
    """`picked` with ``thumbnail_png`` and ``inset_png`` of each cell (each field read once)."""
    from ..io import FieldKey
    from ..report import cell_inset_png, cell_thumbnail_png, inset_window

    thumbs, insets = {}, {}
    for (well, fld), cells in picked.groupby(["well", "field"], sort=True):
        key = FieldKey(str(well), str(fld))
        data = read_field_data(plate, key, channel=channel)
        image, _ = read_labels(plate, key, labels)
        plane = np.asarray(image.max(dim="z").values)
        px = data.pixel_size_um
        for i, label in zip(cells.index, cells["label"]):
            mask = plane == int(label)
            bbox = cell_bbox(mask, pixel_size_um=px, margin_um=CELL_MARGIN_UM)
            mip, crop = data.mip[bbox], mask[bbox]
            window = inset_window(mip, crop, pixel_size_um=px)
            thumbs[i] = cell_thumbnail_png(mip, crop, pixel_size_um=px, window=window)
            insets[i] = cell_inset_png(mip, crop, pixel_size_um=px, window=window)
    return picked.assign(thumbnail_png=pd.Series(thumbs), inset_png=pd.Series(insets))


def sample_cells(plate: Path, n: int, out: Path, *, labels: str = "cells", seed: int = 0,
                 channel: str | int | None = None, uncertainty_weight: float = UNCERTAINTY_WEIGHT) -> SampleReport:
    """Pick `n` rated cells of a plate for an expert and write their rating sheet to `out`.

    Parameters
    ----------
    plate : Path
        A plate rated by ``ames-batch run`` (its cells' probabilities are the label properties).
    n : int
        Cells on the sheet, >= 1 (all rated cells when the plate has fewer, with a warning).
    out : Path
        Folder to create (or an empty one): ``index.html`` (the rating sheet) and
        ``ratings.csv`` (its empty table: ``plate, well, field, label`` + the task columns,
        what ``ames-batch train --ratings`` reads once filled in).
    labels : str
        Label image of the rated cells.
    seed : int
        Seed of the draw: the same plate, `n` and seed give the same sheet, byte for byte.
    channel : str or int, optional
        Stain channel for the pictures; default the one recorded at convert.
    uncertainty_weight : float
        Extra weight of cells the model is unsure of (see :func:`sampling_weights`).

    Returns
    -------
    SampleReport

    Raises
    ------
    FileExistsError
        If `out` holds files (a sheet being rated is never overwritten).
    ValueError
        If the plate has no rated cells or `n` < 1.
    """
    from ..report import rating_sheet_csv, render_rating_sheet

    plate, out = Path(plate), Path(out)
    if out.is_dir() and any(out.iterdir()):
        raise FileExistsError(f"{out}: already holds files; choose a new folder for the sheet")
    table = _rated_cells(plate, labels)
    if n > len(table):
        log.warning("%s holds %d rated cells, fewer than the %d asked: the sheet has them all", plate, len(table), n)
    picked = pick_cells(table, n, seed=seed, uncertainty_weight=uncertainty_weight)
    picked.insert(0, "plate", plate.name.removesuffix(".zarr"))
    sheet = rating_sheet_csv(picked)
    html = render_rating_sheet(_pictures(plate, picked, labels, channel), title=f"{plate.name}: rate {len(picked)} cells")
    out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out / "ratings.csv", sheet)
    tmp = out / ".index.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out / "index.html")
    wells = picked["well"].nunique()
    log.info("%s: %d of %d rated cells from %d wells on %s", plate, len(picked), len(table), wells, out / "index.html")
    return SampleReport(sheet=out / "index.html", csv=out / "ratings.csv", n_cells=len(picked), n_rated=len(table),
                        wells=wells, picked=picked)
