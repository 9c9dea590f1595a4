"""CSV tables: atomic writing, and reading the cell ratings CSV with checks."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pandas as pd

from ..vocabulary import ORDINAL_TASKS, SOURCES, TASK_CLASSES, TASKS

__all__ = ["write_csv_atomic", "read_ratings"]

KEY_COLUMNS = ("plate", "well", "field", "label")
_WELL_RE = re.compile(r"^[A-Z]+/[1-9][0-9]*$")
_FIELD_RE = re.compile(r"^[0-9]+$")


def write_csv_atomic(path: Path, table: pd.DataFrame) -> None:
    """Write a table as CSV so readers never see a half-written file.

    Parameters
    ----------
    path : Path
        Destination; its directory must exist. Replaced if present.
    table : pandas.DataFrame
        Written without its index.

    Raises
    ------
    TypeError
        If `table` is not a DataFrame.
    FileNotFoundError
        If the directory of `path` does not exist.

    Notes
    -----
    Writes ``.<name>.tmp-<uuid>`` beside `path`, flushes it to disk and renames it with
    ``os.replace`` (atomic on one file system).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"`table` must be a pandas.DataFrame; got {type(table).__name__}")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: directory does not exist; create it first")
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            table.to_csv(fh, index=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _bad(path: Path, column: str, message: str, rows: pd.Index) -> ValueError:
    lines = ", ".join(str(int(i) + 2) for i in list(rows)[:5])  # +2: header line, 1-based
    more = "" if len(rows) <= 5 else f" (+{len(rows) - 5} more)"
    return ValueError(f"{path}: column '{column}': {message} (CSV lines {lines}{more})")


def _rating_column(raw: pd.Series, path: Path, column: str) -> pd.Series:
    present = raw != ""
    values = pd.to_numeric(raw.where(present), errors="coerce")
    not_number = present & values.isna()
    if not_number.any():
        raise _bad(path, column, "ratings must be integers 1..4 or empty", raw.index[not_number])
    out_of_range = present & ~values.isin([int(c) for c in TASK_CLASSES[column]])
    if out_of_range.any():
        raise _bad(path, column, "ratings must be integers 1..4 or empty", raw.index[out_of_range])
    return values.astype("Int64")


def read_ratings(path: Path) -> pd.DataFrame:
    """Read and check a cell ratings CSV (one row per cell).

    Parameters
    ----------
    path : Path
        CSV with columns ``plate, well, field, label`` and at least one of
        ``sarcomerisation, directionality, source`` (optional ``group``; other columns kept).

    Returns
    -------
    ratings : pandas.DataFrame
        ``plate``, ``well`` (``"A/1"``), ``field`` (``"0"``), ``group`` as str; ``label`` int64
        (>= 1); ``sarcomerisation``/``directionality`` nullable Int64 in 1..4; ``source``
        one of ``adult, neonatal, ipsc`` or None. Empty cells mean "not rated for that task".

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        Naming the file, the column and CSV line numbers: a missing required column, no task
        column, a bad well/field/label, a rating outside 1..4, an unknown source, or a
        repeated (plate, well, field, label).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ratings CSV not found")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    raw = raw.apply(lambda s: s.str.strip())
    for column in KEY_COLUMNS:
        if column not in raw.columns:
            raise ValueError(f"{path}: column '{column}' is missing; required: {', '.join(KEY_COLUMNS)}")
    tasks = [t for t in TASKS if t in raw.columns]
    if not tasks:
        raise ValueError(f"{path}: column 'sarcomerisation', 'directionality' or 'source' is needed; none found")
    out = raw.copy()
    empty_plate = raw["plate"] == ""
    if empty_plate.any():
        raise _bad(path, "plate", "must not be empty", raw.index[empty_plate])
    bad_well = ~raw["well"].str.match(_WELL_RE)
    if bad_well.any():
        raise _bad(path, "well", "must look like 'A/1'", raw.index[bad_well])
    bad_field = ~raw["field"].str.match(_FIELD_RE)
    if bad_field.any():
        raise _bad(path, "field", "must be a field index like '0'", raw.index[bad_field])
    labels = pd.to_numeric(raw["label"], errors="coerce")
    bad_label = labels.isna() | (labels < 1) | (labels != labels.round())
    if bad_label.any():
        raise _bad(path, "label", "must be an integer >= 1 (0 is background)", raw.index[bad_label])
    out["label"] = labels.astype("int64")
    for task in ORDINAL_TASKS:
        if task in raw.columns:
            out[task] = _rating_column(raw[task], path, task)
    if "source" in raw.columns:
        bad_source = (raw["source"] != "") & ~raw["source"].isin(SOURCES)
        if bad_source.any():
            raise _bad(path, "source", f"must be one of {', '.join(SOURCES)} or empty", raw.index[bad_source])
        out["source"] = pd.Series(
            [v if v != "" else None for v in raw["source"]], index=raw.index, dtype=object
        )
    dup = out.duplicated(list(KEY_COLUMNS), keep=False)
    if dup.any():
        raise _bad(path, "label", "the same (plate, well, field, label) appears twice", out.index[dup])
    return out
