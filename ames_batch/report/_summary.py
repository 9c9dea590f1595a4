"""Per-well summary of a run's cells table, and the example cells a report shows per class."""

import numpy as np
import pandas as pd

from ..metrics import METRIC_NAMES
from ..vocabulary import ORDINAL_TASKS, SOURCES, TASK_CLASSES, TASKS
from ._table import _check_cells, _expected, _probabilities, _rated, _well_position

__all__ = ["gallery_cells", "well_summary"]


def _truthy(value) -> bool:
    return value is True or value is np.True_ or str(value).strip().lower() in ("true", "1")


def well_summary(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per well: counts, class counts, mean expected ratings, source shares, metric spread.

    Parameters
    ----------
    cells : pandas.DataFrame
        A run's cells table (the ratings CSV, read back or in memory): one row per cell with
        ``status == "ok"``, and one row per failed (``"error: ..."``) or empty (``"no cells"``)
        field. Needs ``plate, well, field, status``; uses the rating, ``p_<task>_<class>``,
        metric, ``ood`` and ``saturated`` columns present.

    Returns
    -------
    wells : pandas.DataFrame
        Sorted by plate, then well row by row (A/1, A/2, ..., B/1). Columns:

        - ``plate``, ``well`` (str); ``fields`` (fields with a row), ``failed_fields``
          (status ``error: ...``), ``empty_fields`` (``no cells``), ``cells`` (rated cells): int
        - ``n_<task>_<class>``: cells rated that class, int, for every task and class
        - ``mean_expected_<task>`` for the ordinal tasks: mean over cells of
          ``sum_k k p_k`` (from the probabilities; the ratings themselves when there are none),
          in [1, 4], NaN without cells
        - ``share_<source>``: fraction of the well's rated cells rated that source (NaN without
          cells); ``majority_source``: the commonest (first in ``SOURCES`` order on a tie), or ""
        - ``<metric>_median``, ``<metric>_p25``, ``<metric>_p75`` for every metric of
          ``ames_batch.metrics.METRIC_NAMES`` in the table (NaN-skipping; NaN when none)
        - ``ood_cells`` (cells flagged out of distribution), when the table has ``ood``;
          ``saturated_cells`` (cells the detector clipped), when it has ``saturated``

    Raises
    ------
    TypeError
        If `cells` is not a DataFrame.
    ValueError
        If a key column is missing, a well is not like ``"A/1"`` or a rating is not a class name.

    Examples
    --------
    >>> cells = pd.DataFrame({"plate": "p", "well": ["A/1", "A/1", "B/2"], "field": ["0", "0", "0"],
    ...                       "label": [1, 2, None], "status": ["ok", "ok", "error: NaN pixels"],
    ...                       "sarcomerisation": [4, 2, None]})
    >>> summary = well_summary(cells)
    >>> summary[["well", "cells", "failed_fields", "mean_expected_sarcomerisation"]].to_dict("records")
    [{'well': 'A/1', 'cells': 2, 'failed_fields': 0, 'mean_expected_sarcomerisation': 3.0}, {'well': 'B/2', 'cells': 0, 'failed_fields': 1, 'mean_expected_sarcomerisation': nan}]
    """
    table = _check_cells(cells)
    metrics = [m for m in METRIC_NAMES if m in table.columns]
    expected = {task: _expected(table, task) for task in ORDINAL_TASKS}
    rows = []
    for (plate, well), rows_of_well in table.groupby(["plate", "well"], sort=False):
        rated = _rated(rows_of_well)
        where = rated.index
        fields = rows_of_well.groupby("field")["status"]
        row = {
            "plate": plate, "well": well,
            "fields": int(fields.ngroups),
            "failed_fields": int(fields.agg(lambda s: s.str.startswith("error").any()).sum()),
            "empty_fields": int(fields.agg(lambda s: (s == "no cells").any()).sum()),
            "cells": len(rated),
        }
        for task in TASKS:
            ratings = rated[task] if task in rated.columns else pd.Series([], dtype=object)
            for cls in TASK_CLASSES[task]:
                row[f"n_{task}_{cls}"] = int((ratings == cls).sum())
        for task in ORDINAL_TASKS:
            values = expected[task][where]
            row[f"mean_expected_{task}"] = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
        counts = [row[f"n_source_{s}"] for s in SOURCES]
        for source, n in zip(SOURCES, counts):
            row[f"share_{source}"] = n / len(rated) if len(rated) else np.nan
        row["majority_source"] = SOURCES[int(np.argmax(counts))] if sum(counts) else ""
        for metric in metrics:
            values = pd.to_numeric(rated[metric], errors="coerce").to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            p25, median, p75 = np.percentile(values, [25, 50, 75]) if values.size else (np.nan,) * 3
            row.update({f"{metric}_median": median, f"{metric}_p25": p25, f"{metric}_p75": p75})
        for flag in ("ood", "saturated"):
            if flag in table.columns:
                row[f"{flag}_cells"] = int(sum(_truthy(v) for v in rated[flag]))
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = sorted(range(len(out)), key=lambda i: (out["plate"][i], _well_position(out["well"][i])))
    return out.iloc[order].reset_index(drop=True)


def gallery_cells(cells: pd.DataFrame, *, per_class: int = 3) -> pd.DataFrame:
    """The clearest example cells of every class of every task, for a report's gallery.

    Parameters
    ----------
    cells : pandas.DataFrame
        A run's cells table (see `well_summary`) with the rating columns.
    per_class : int
        Cells per (task, class), >= 1; fewer when fewer cells were rated that class.

    Returns
    -------
    examples : pandas.DataFrame
        Columns ``task, class, plate, well, field, label, probability``: per task and class, the
        cells rated that class with the highest probability of it (ties by plate, well, field,
        label), in task and class order. Make one thumbnail per row (`cell_thumbnail_png`, with
        the heatmap of that task) and hand them to `render_plate_report` as its ``gallery``.

    Raises
    ------
    TypeError
        If `cells` is not a DataFrame.
    ValueError
        If `per_class` < 1 or the table is malformed (see `well_summary`).
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"`per_class` must be an int >= 1; got {per_class!r}")
    table = _rated(_check_cells(cells, required=("status", "label")))
    picks = []
    for task in TASKS:
        if task not in table.columns:
            continue
        p = _probabilities(table, task)
        for k, cls in enumerate(TASK_CLASSES[task]):
            mine = table.assign(probability=p[:, k], task=task, **{"class": cls})[table[task] == cls]
            mine = mine.sort_values(["probability", "plate", "well", "field", "label"],
                                    ascending=[False, True, True, True, True], kind="stable")
            picks.append(mine.head(per_class))
    columns = ["task", "class", "plate", "well", "field", "label", "probability"]
    if not picks:
        return pd.DataFrame(columns=columns)
    return pd.concat(picks)[columns].reset_index(drop=True)
