"""The cells table as the report reads it: checked, keys as str, ratings as class names."""

import re

import numpy as np
import pandas as pd

from ..vocabulary import ORDINAL_TASKS, TASK_CLASSES, TASKS, expected_rating

_WELL = re.compile(r"^([A-Z]+)/([1-9][0-9]*)$")
_KEYS = ("plate", "well", "field")


def _check_cells(cells, *, name: str = "cells", required: tuple[str, ...] = ("status",)) -> pd.DataFrame:
    """A normalised copy of a run's cells table (one row per cell, or per failed/empty field).

    ``plate``, ``well``, ``field``, ``status`` become str, ``label`` nullable Int64, the rating
    columns class names (``"1"``, ``"adult"``) or None. The CSV read back by pandas (ints, NaN)
    and the in-memory table of a run give the same result.
    """
    if not isinstance(cells, pd.DataFrame):
        raise TypeError(f"`{name}` must be a pandas.DataFrame; got {type(cells).__name__}")
    missing = [c for c in (*_KEYS, *required) if c not in cells.columns]
    if missing:
        raise ValueError(f"`{name}` lacks column(s) {', '.join(missing)}; has {', '.join(map(str, cells.columns))}")
    out = cells.reset_index(drop=True).copy()
    for column in _KEYS:
        out[column] = [_key_text(v) for v in out[column]]
    bad = [w for w in out["well"] if not _WELL.match(w)]
    if bad:
        raise ValueError(f"`{name}` column 'well' must hold wells like 'A/1'; got {bad[0]!r}")
    if "status" in out.columns:
        out["status"] = ["" if _missing(v) else str(v) for v in out["status"]]
    if "label" in out.columns:
        out["label"] = pd.array([None if _missing(v) else int(v) for v in out["label"]], dtype="Int64")
    for task in TASKS:
        if task in out.columns:
            out[task] = pd.Series([_class_name(v, task, name) for v in out[task]], index=out.index, dtype=object)
    return out


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) or value == ""


def _key_text(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)  # a field read back as float from a CSV with blank rows
    return "" if _missing(value) else str(value).strip()


def _class_name(value, task: str, name: str):
    if _missing(value):
        return None
    text = str(int(value)) if isinstance(value, int | float | np.integer | np.floating) else str(value).strip()
    if text not in TASK_CLASSES[task]:
        raise ValueError(f"`{name}` column {task!r} must hold {', '.join(TASK_CLASSES[task])} or be empty; "
                         f"got {value!r}")
    return text


def _rated(cells: pd.DataFrame) -> pd.DataFrame:
    """Rows of rated cells (status ``ok``)."""
    return cells[cells["status"] == "ok"]


def _probabilities(cells: pd.DataFrame, task: str) -> np.ndarray:
    """(N, K) class probabilities of `task`: the ``p_<task>_<class>`` columns, else one-hot ratings.

    Rows without a rating and without probabilities are NaN.
    """
    classes = TASK_CLASSES[task]
    columns = [f"p_{task}_{c}" for c in classes]
    if all(c in cells.columns for c in columns):
        return cells[columns].to_numpy(dtype=np.float64)
    p = np.full((len(cells), len(classes)), np.nan)
    if task in cells.columns:
        for i, value in enumerate(cells[task]):
            if value is not None:
                p[i] = 0.0
                p[i, classes.index(value)] = 1.0
    return p


def _expected(cells: pd.DataFrame, task: str) -> np.ndarray:
    """(N,) expected rating of an ordinal `task` per cell (NaN where unknown)."""
    if task not in ORDINAL_TASKS:
        raise ValueError(f"`task` must be one of {ORDINAL_TASKS}; got {task!r}")
    return expected_rating(_probabilities(cells, task), task)


def _well_position(well: str) -> tuple[int, int]:
    """(row, column) from 0 of a well ``"B/3"`` -> (1, 2); rows past Z count on (``"AA"`` = 26)."""
    letters, column = _WELL.match(well).groups()
    row = 0
    for ch in letters:
        row = row * 26 + (ord(ch) - ord("A") + 1)
    return row - 1, int(column) - 1


def _well_order(wells) -> list:
    """Wells sorted row by row (A/1, A/2, ..., A/12, B/1), not as strings (A/10 before A/2)."""
    return sorted(wells, key=_well_position)
