"""The expert's rating sheet: one offline HTML page of cell cards that saves a ratings CSV (issue #16)."""

import hashlib

import pandas as pd

from ..vocabulary import ORDINAL_TASKS, RATING_COLOURS, TASK_CLASSES, TASKS
from ._html import _data_uri, _esc, _ink_on, _json_script, _page, _rgb
from ._sheet_script import SHEET_CSS, SHEET_JS
from ._table import _check_cells

__all__ = ["SHEET_COLUMNS", "rating_sheet_csv", "render_rating_sheet"]

#: Columns of the saved sheet: what ``ames-batch train --ratings`` reads (``ames_batch.io.read_ratings``).
SHEET_COLUMNS: tuple[str, ...] = ("plate", "well", "field", "label", *TASKS)
_FILENAME = "ratings.csv"


def _sheet_keys(cells, *, name: str, required: tuple[str, ...] = ()) -> pd.DataFrame:
    table = _check_cells(cells, name=name, required=("label", *required))
    if "status" in table.columns:
        table = table[table["status"] == "ok"]
    if table["label"].isna().any():
        raise ValueError(f"`{name}` column 'label' must be set for every cell (>= 1)")
    dup = table.duplicated(["plate", "well", "field", "label"])
    if dup.any():
        first = table[dup].iloc[0]
        raise ValueError(f"`{name}` holds cell ({first['plate']}, {first['well']}, field {first['field']}, "
                         f"label {first['label']}) twice")
    return table.reset_index(drop=True)


def rating_sheet_csv(cells: pd.DataFrame) -> pd.DataFrame:
    """The empty ratings table of the cells on a sheet (what the sheet saves before any choice).

    Parameters
    ----------
    cells : pandas.DataFrame
        Cells with ``plate, well, field, label`` (a run's cells table or the sheet's own; rows
        whose ``status`` is not ``ok`` are left out).

    Returns
    -------
    sheet : pandas.DataFrame
        Columns `SHEET_COLUMNS`, one row per cell in the given order; keys as str (``label`` as
        int), the task columns empty strings. Written with ``index=False`` it is a CSV that
        ``ames_batch.io.read_ratings`` reads as "nothing rated yet".

    Raises
    ------
    TypeError
        If `cells` is not a DataFrame.
    ValueError
        If a key column is missing or empty, a well is malformed, or a cell appears twice.

    Examples
    --------
    >>> rating_sheet_csv(pd.DataFrame({"plate": ["p"], "well": ["B/3"], "field": [0], "label": [7]})).to_dict("records")
    [{'plate': 'p', 'well': 'B/3', 'field': '0', 'label': 7, 'sarcomerisation': '', 'directionality': '', 'source': ''}]
    """
    table = _sheet_keys(cells, name="cells")
    out = pd.DataFrame({"plate": table["plate"], "well": table["well"], "field": table["field"],
                        "label": table["label"].astype("int64")})
    for task in TASKS:
        out[task] = ""
    return out[list(SHEET_COLUMNS)]


def _shortcuts() -> dict[str, tuple[str, str]]:
    """Keys of the sheet: digits for the first ordinal task, Shift+digits for the second, the first
    letter of each source."""
    keys = {}
    for prefix, task in zip(("", "Shift+"), ORDINAL_TASKS):
        keys.update({f"{prefix}{cls}": (task, cls) for cls in TASK_CLASSES[task]})
    keys.update({cls[0]: ("source", cls) for cls in TASK_CLASSES["source"]})
    return keys


def _options(index: int, task: str) -> str:
    name = f"c{index}-{task}"
    parts = [f'<label data-task="{task}" data-class=""><input type="radio" name="{name}" data-task="{task}" '
             f'value="" checked><span title="not rated" style="--c: #d0d7de; --ink-c: #1f2328">–</span></label>']
    for cls in TASK_CLASSES[task]:
        colour = RATING_COLOURS[task][cls]
        parts.append(f'<label data-task="{task}" data-class="{_esc(cls)}"><input type="radio" name="{name}" '
                     f'data-task="{task}" value="{_esc(cls)}"><span style="--c: {_rgb(colour)}; '
                     f'--ink-c: {_ink_on(colour)}">{_esc(cls)}</span></label>')
    return f'<fieldset><legend>{_esc(task)}</legend><div class="options">{"".join(parts)}</div></fieldset>'


def _card(index: int, total: int, row, show_model: bool) -> str:
    key = f"{row['plate']}|{row['well']}|{row['field']}|{row['label']}"
    where = f"{row['plate']} · well {row['well']} · field {row['field']} · cell {row['label']}"
    model = ""
    if show_model:
        shown = " · ".join(f"{t} {row[t]}" for t in TASKS if row.get(t) is not None) or "no rating"
        model = f'<p class="model">model: {_esc(shown)}</p>'
    return (
        f'<article class="card" id="cell-{index}" data-key="{_esc(key)}">'
        f"<h2>{index + 1} / {total} · {_esc(where)}</h2>"
        f'<div class="pics"><figure class="pic"><img src="{_data_uri(row["thumbnail_png"])}" alt="cell {_esc(where)}">'
        f"<figcaption>whole cell</figcaption></figure>"
        f'<figure class="pic"><img src="{_data_uri(row["inset_png"])}" alt="zoom of cell {_esc(where)}">'
        f"<figcaption>zoom, full resolution</figcaption></figure></div>"
        f'<div class="choices">{"".join(_options(index, t) for t in TASKS)}{model}</div></article>'
    )


def render_rating_sheet(cells: pd.DataFrame, *, title: str = "ames-batch rating sheet",
                        show_model: bool = False) -> str:
    """One offline HTML page where an expert rates cells and saves ``ratings.csv``.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per cell to rate, in the order shown: ``plate, well, field, label``,
        ``thumbnail_png`` (PNG bytes of the whole cell, `cell_thumbnail_png` without heatmap and
        with ``window=`` the inset's square) and ``inset_png`` (`cell_inset_png`). The model's
        ratings (columns ``sarcomerisation, directionality, source``) are shown only with
        `show_model`.
    title : str
        Page title and heading.
    show_model : bool
        Print the model's current rating under each card. Off by default: an expert who sees
        it tends to agree with it (anchoring), and ratings meant to train or test the model
        must not be drawn towards it.

    Returns
    -------
    html : str
        A whole HTML5 document that loads nothing from anywhere (images as ``data:`` URIs,
        inline style and script, a Content-Security-Policy that forbids the rest). One card per
        cell with a choice per task ("–" for not rated, the classes of
        ``ames_batch.vocabulary.TASK_CLASSES``), a progress count, and a Save button that
        downloads ``ratings.csv`` with exactly `SHEET_COLUMNS`, one row per cell, empty where not
        rated. Choices are kept in the browser's localStorage (keyed by the page's cells), so a
        reload keeps them. Keys: 1-4 sarcomerisation, Shift+1-4 directionality, a/n/i source,
        0 clears the card, j or Enter next card, k previous; Tab and arrow keys move through
        the choices.

    Raises
    ------
    TypeError
        If `cells` is not a DataFrame.
    ValueError
        If a column is missing, a cell appears twice, an image is not PNG, or a shown rating is
        not a class name.
    """
    table = _sheet_keys(cells, name="cells", required=("thumbnail_png", "inset_png"))
    keys = [{"plate": r["plate"], "well": r["well"], "field": r["field"], "label": int(r["label"])}
            for r in table.to_dict("records")]
    digest = hashlib.sha256(repr((title, [tuple(k.values()) for k in keys])).encode()).hexdigest()[:16]
    data = {"id": digest, "tasks": list(TASKS), "columns": list(SHEET_COLUMNS), "cells": keys,
            "keys": _shortcuts(), "filename": _FILENAME}
    total = len(table)
    cards = "".join(_card(i, total, row, show_model) for i, row in enumerate(table.to_dict("records")))
    help_keys = ("<kbd>1</kbd>–<kbd>4</kbd> sarcomerisation · <kbd>Shift</kbd>+<kbd>1</kbd>–<kbd>4</kbd> "
                 "directionality · " + " ".join(f"<kbd>{s[0]}</kbd> {s}" for s in TASK_CLASSES["source"])
                 + " · <kbd>0</kbd> clear · <kbd>j</kbd>/<kbd>Enter</kbd> next · <kbd>k</kbd> previous")
    body = (
        f'<header class="bar"><h1>{_esc(title)}</h1>'
        f'<progress id="progress" value="0" max="{total}"></progress><span id="progress-text"></span>'
        f'<button type="button" class="save" id="save">Save {_FILENAME}</button><span id="saved"></span>'
        f'<p class="help">Rate what you see; leave a task at – when unsure. Your choices stay in this '
        f"browser until you save. Keys: {help_keys}</p></header>"
        f'<main class="cards">{cards}</main>{_json_script("sheet-data", data)}'
    )
    return _page(title, body, css=SHEET_CSS, script=SHEET_JS)
