"""Where a source file goes on a plate: layout CSV, filename pattern, or wells in order."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Placement", "parse_well", "place_by_pattern", "read_layout", "well_in_order"]

_WELL = re.compile(r"^\s*([A-Za-z]{1,2})\s*/?\s*0*(\d{1,3})\s*$")
_COLUMNS_PER_ROW = 12  # a 96-well plate fills A1..A12, B1..; rows continue past H


@dataclass(frozen=True)
class Placement:
    """Plate position of a file's first image; further scenes/frames take the next fields.

    Attributes
    ----------
    well : str
        ``"<row>/<column>"``, e.g. ``"B/3"``.
    field : int
        Field index of the file's first image, >= 0.
    acquisition : str or None
        Free-text acquisition label from the layout, kept in the field attributes.
    """

    well: str
    field: int
    acquisition: str | None = None


def parse_well(text: str) -> str:
    """Normalise a well name (``"B3"``, ``"b03"``, ``"B/3"``) to ``"B/3"``.

    Raises
    ------
    TypeError
        If `text` is not a str.
    ValueError
        If `text` is not a row letter (or two) followed by a column number >= 1.
    """
    if not isinstance(text, str):
        raise TypeError(f"`well` must be a str like 'B3'; got {type(text).__name__}")
    match = _WELL.match(text)
    if match is None or int(match.group(2)) < 1:
        raise ValueError(f"well {text!r} is not a row letter and column number like 'B3' or 'B/3'")
    return f"{match.group(1).upper()}/{int(match.group(2))}"


def well_in_order(index: int) -> str:
    """The `index`-th well (from 0) filling rows of 12: A/1 .. A/12, B/1, ..., Z/12."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"`index` must be an int >= 0; got {index!r}")
    row, column = divmod(index, _COLUMNS_PER_ROW)
    if row >= 26:
        raise ValueError(f"well index {index} is past Z/12; use a layout CSV for larger plates")
    return f"{chr(ord('A') + row)}/{column + 1}"


def _parse_field(text: str, where: str) -> int:
    try:
        field = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{where}: field {text!r} is not an integer") from None
    if field < 0:
        raise ValueError(f"{where}: field {field} must be >= 0")
    return field


def read_layout(path: Path) -> dict[str, Placement]:
    """Read a layout CSV with columns ``file, well, field[, acquisition]``.

    Parameters
    ----------
    path : Path
        CSV with a header row. ``file`` is a path (absolute, or relative to the CSV's folder)
        or a bare file name; ``well`` like ``B3``; ``field`` an int >= 0.

    Returns
    -------
    layout : dict of str to Placement
        Keyed by the resolved path when ``file`` has a folder part or exists beside the CSV,
        else by the bare file name.

    Raises
    ------
    ValueError
        Missing columns, a bad well or field, a file listed twice, or two files on one
        (well, field).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"layout CSV {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = {c.strip().lower() for c in reader.fieldnames or []}
        missing = {"file", "well", "field"} - columns
        if missing:
            raise ValueError(f"layout CSV {path} lacks column(s) {sorted(missing)}; "
                             f"needs file, well, field[, acquisition]")
        layout: dict[str, Placement] = {}
        taken: dict[tuple[str, int], str] = {}
        for line, row in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            where = f"{path}:{line}"
            name = row["file"]
            if not name:
                raise ValueError(f"{where}: empty file name")
            try:
                well = parse_well(row["well"])
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
            place = Placement(well, _parse_field(row["field"], where), row.get("acquisition") or None)
            candidate = Path(name) if Path(name).is_absolute() else path.parent / name
            key = str(candidate.resolve()) if (Path(name).name != name or candidate.exists()) else name
            if key in layout:
                raise ValueError(f"{where}: {name} listed twice")
            if (place.well, place.field) in taken:
                raise ValueError(f"{where}: {place.well} field {place.field} already given to "
                                 f"{taken[place.well, place.field]}")
            taken[place.well, place.field] = name
            layout[key] = place
    return layout


def place_by_pattern(name: str, pattern: str | re.Pattern) -> Placement:
    """Placement from a file name and a regex with named groups.

    Parameters
    ----------
    name : str
        File name (no folder), searched with ``re.search``.
    pattern : str or re.Pattern
        Groups ``row`` and ``column``, or ``well``; optional ``field`` (default 0) and
        ``acquisition``. Example: ``(?P<row>[A-H])(?P<column>\\d+)_f(?P<field>\\d+)``.

    Raises
    ------
    ValueError
        If the pattern lacks the groups or does not match `name`.
    """
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    groups = set(regex.groupindex)
    if not ({"row", "column"} <= groups or "well" in groups):
        raise ValueError(f"pattern {regex.pattern!r} needs named groups (?P<row>)(?P<column>) or (?P<well>)")
    match = regex.search(name)
    if match is None:
        raise ValueError(f"file name {name!r} does not match pattern {regex.pattern!r}")
    parts = match.groupdict()
    well = parse_well(parts["well"] if parts.get("well") else f"{parts['row']}{parts['column']}")
    field = _parse_field(parts["field"], name) if parts.get("field") else 0
    return Placement(well, field, parts.get("acquisition") or None)
