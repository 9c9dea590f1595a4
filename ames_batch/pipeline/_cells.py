"""One record per cell, made by one function for `run`, `train` and `evaluate`, and one table out of them.

The record holds where the cell is and what was measured on it; a rater's prepared input is
added to it (``dataclasses.replace``), never kept in a parallel list. Metrics are measured on
ONE crop rule (`CELL_MARGIN_UM` around the mask), so a metrics model is deployed on exactly
the numbers it learned from.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..image import cell_bboxes
from ..io import FieldKey
from ..metrics import cell_metrics
from ._field_input import FieldData

__all__ = ["CELL_MARGIN_UM", "SATURATED_CELL_SHARE", "CellRecord", "extract_cells", "prepare_cells", "records_table"]

#: Context measured around each cell mask, µm (the high-pass, structure tensor and spectra
#: see the cell's edge with this much of its surroundings).
CELL_MARGIN_UM = 2.0
#: A cell counts as ``saturated`` when more than this share of its pixels was clipped by the
#: detector: clipping look-"a" cells at their brightest 1 % costs the default 5 points of
#: directionality, at 10 % 22 points (docs/facility-guide.md): the z-disc metrics lose most of what
#: a plateau erased.
SATURATED_CELL_SHARE = 0.01


@dataclass(frozen=True, eq=False)
class CellRecord:
    """One cell of one field.

    Attributes
    ----------
    key : FieldKey
        The field.
    label : int
        Its label value (>= 1) in the field's cell labels.
    bbox : (slice, slice)
        Crop of the cell with `CELL_MARGIN_UM` of context, in the field's (Y, X) pixels.
    mask : (h, w) ndarray of bool
        The cell inside `bbox`.
    centroid_um : (float, float)
        (y, x) centroid in µm from the field's origin.
    metrics : dict of str to float
        ``ames_batch.metrics.cell_metrics`` of the crop (NaN where undefined).
    organised : (h, w) ndarray of bool or None
        The organised map behind ``metrics["organised_fraction"]`` when it was kept.
    saturated_fraction : float
        Share of the cell's pixels the detector clipped (``FieldData.clipped``), in [0, 1].
    prepared : object
        A rater's input for this cell (see ``ames_batch.nn.Rater.prepare``), once prepared.
    """

    key: FieldKey
    label: int
    bbox: tuple[slice, slice]
    mask: np.ndarray
    centroid_um: tuple[float, float]
    metrics: Mapping[str, float]
    organised: np.ndarray | None = None
    saturated_fraction: float = 0.0
    prepared: Any = None

    @property
    def saturated(self) -> bool:
        """More than `SATURATED_CELL_SHARE` of the cell was clipped: its ratings are not to be trusted."""
        return self.saturated_fraction > SATURATED_CELL_SHARE

    def field_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The cell's mask in the whole (Y, X) field of `shape`, bool."""
        out = np.zeros(shape, bool)
        out[self.bbox] = self.mask
        return out


def extract_cells(field: FieldData, labels: np.ndarray, *, only: Sequence[int] | None = None,
                  keep_organised: bool = False) -> list[CellRecord]:
    """Measure every cell of a field: one :class:`CellRecord` per label.

    Parameters
    ----------
    field : FieldData
        The field's stain (MIP (Y, X) at the working scale, its scale and origin in µm).
    labels : (Y, X) ndarray of int
        Cell labels on the grid of ``field.mip``, 0 = background.
    only : sequence of int, optional
        Measure only these labels (a label that is absent is left out; the caller reports it).
    keep_organised : bool
        Keep each cell's organised map (for the ``organised`` heatmap).

    Returns
    -------
    list of CellRecord
        In label order.
    """
    px = field.pixel_size_um
    # every box in one pass over the field (a full-field pass per cell cost 14 ms of a demo field)
    boxes = cell_bboxes(labels, pixel_size_um=px, margin_um=CELL_MARGIN_UM)
    wanted = list(boxes) if only is None else sorted(set(boxes) & {int(v) for v in only})
    records = []
    for label in wanted:
        bbox = boxes[label]
        crop = labels[bbox] == label
        organised = np.zeros(crop.shape, bool) if keep_organised else None
        clipped = None if field.clipped is None else field.clipped[bbox]
        metrics = cell_metrics(field.mip[bbox], crop, px, clipped=clipped, organised_out=organised)
        cy, cx = np.argwhere(crop).mean(axis=0) + [s.start for s in bbox]
        share = 0.0 if clipped is None else float(np.clip(clipped[crop].mean(), 0.0, 1.0))
        records.append(CellRecord(key=field.key, label=label, bbox=bbox, mask=crop,
                                  centroid_um=tuple(float(field.translation_um[a] + c * field.scale_um[a])
                                                    for a, c in zip("yx", (cy, cx))),
                                  metrics=metrics, organised=organised, saturated_fraction=share))
    return records


def prepare_cells(records: Sequence[CellRecord], field: FieldData, preparer: Callable) -> list[CellRecord]:
    """The records with a rater's input of each cell added (``preparer(cell, field)``, a rater's
    or a trainer's `preparer`)."""
    return [replace(r, prepared=preparer(r, field)) for r in records]


def records_table(records: Sequence[CellRecord], *, probabilities: Mapping[str, np.ndarray] | None = None,
                  tasks: Mapping[str, Sequence[str]] | None = None,
                  columns: Sequence[Mapping[str, Any]] | None = None) -> list[dict]:
    """One row per cell: the CSV rows of a run, the label properties and a bundle's ``cells.csv``.

    Parameters
    ----------
    records : sequence of CellRecord
    probabilities : dict of str to (N, K) ndarray, optional
        Class probabilities per task, rows in `records` order; adds ``<task>`` (the most
        probable class) and ``p_<task>_<class>`` columns.
    tasks : dict of str to sequence of str, optional
        Class names per task (required with `probabilities`).
    columns : sequence of dict, optional
        Further per-cell columns (e.g. IG completeness, provenance), one dict per record.

    Returns
    -------
    rows : list of dict
        ``well``, ``field``, ``label``, centroid in µm, ratings and probabilities, the metrics,
        ``saturated_fraction`` and ``saturated``, then `columns`; non-finite floats become None
        (empty in the CSV, null in JSON).
    """
    rows = []
    for i, r in enumerate(records):
        row = {"well": r.key.well, "field": r.key.field, "label": r.label,
               "centroid_y_um": r.centroid_um[0], "centroid_x_um": r.centroid_um[1]}
        for task, names in (tasks or {}).items():
            p = probabilities[task][i]
            row[task] = names[int(np.argmax(p))]
            row.update({f"p_{task}_{c}": float(v) for c, v in zip(names, p)})
        row.update(r.metrics)
        row.update(saturated_fraction=r.saturated_fraction, saturated=r.saturated)
        if columns is not None:
            row.update(columns[i])
        rows.append({k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()})
    return rows
