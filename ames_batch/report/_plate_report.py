"""The plate report: one self-contained HTML page of a rated plate (issue #17)."""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..vocabulary import RATING_COLOURS, TASK_CLASSES, TASKS
from ._charts import METRIC_OF_TASK, _confusion_html, _metrics_svg, _wells_table
from ._html import _data_uri, _esc, _ink_on, _kv_table, _page, _rgb
from ._plate_map import NO_CELLS, _legend_html, _ordinal_colour, _plate_map_svg, _plate_shape
from ._summary import well_summary
from ._table import _check_cells

__all__ = ["render_plate_report"]

_CAPTIONS = {
    "sarcomerisation": "Sarcomerisation: mean expected rating per well (1 none … 4 fully organised)",
    "directionality": "Directionality: mean expected rating (1 z-discs along the long axis … 4 across it)",
    "source": "Cell source: share of cells per source (number: cells rated)",
    "ood": "Out of distribution: % of cells unlike the training cells",
}

_CSS = """
.maps { display: flex; flex-wrap: wrap; gap: 18px; margin-top: 14px; }
.maps figure { background: var(--paper); }
.maps figure > svg { display: block; }
.maps figcaption { max-width: 390px; font-size: 13px; color: var(--ink); margin-bottom: 4px; }
div.legend { display: flex; align-items: center; gap: 6px; font-size: 12px; color: var(--muted); flex-wrap: wrap; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 50%; margin-left: 8px; }
.marks { font-size: 12px; color: var(--muted); margin-top: 10px; }
.marks span.dot { display: inline-block; width: 12px; height: 12px; border-radius: 50%; vertical-align: -2px;
                  margin: 0 4px 0 12px; border: 1px solid #ced4da; }
.marks span.ring { border: 2px dashed #b00020; }
.callout { font-size: 15px; margin: 10px 0 0; }
.callout b.well { display: inline-block; padding: 0 6px; border-radius: 4px; color: #fff; }
table.wells td { padding: 2px 8px; }
.barcell { display: flex; align-items: center; gap: 6px; }
.bar { display: flex; width: 150px; height: 16px; border-radius: 3px; overflow: hidden; background: #eceff1;
       font-size: 10px; line-height: 16px; }
.bar span { display: block; text-align: center; }
.mean { font-weight: 600; min-width: 32px; }
.failed { color: #b00020; font-weight: 600; }
.gallery h3 { margin-top: 18px; }
.classgrid { display: grid; gap: 14px; align-items: start; margin: 6px 0 16px; }
.classcol { display: flex; flex-direction: column; gap: 10px; min-width: 0; }
.classcol .cls { font-weight: 600; padding: 3px 8px; border-radius: 4px; }
.row { display: flex; flex-wrap: wrap; gap: 28px; }
.confusion td.diag { font-weight: 700; outline: 2px solid #1f2328; outline-offset: -2px; }
.kvs { display: flex; flex-wrap: wrap; gap: 28px; }
table.kv th { width: 14em; }
"""


def _check_gallery(gallery) -> list[dict]:
    if isinstance(gallery, Mapping | str | bytes) or not isinstance(gallery, Sequence):
        raise TypeError(f"`gallery` must be a list of dicts; got {type(gallery).__name__}")
    out = []
    for i, item in enumerate(gallery):
        if not isinstance(item, Mapping):
            raise TypeError(f"`gallery[{i}]` must be a dict; got {type(item).__name__}")
        missing = [k for k in ("well", "field", "label", "task", "class", "png") if k not in item]
        if missing:
            raise ValueError(f"`gallery[{i}]` lacks {', '.join(missing)}")
        if item["task"] not in TASK_CLASSES or str(item["class"]) not in TASK_CLASSES[item["task"]]:
            raise ValueError(f"`gallery[{i}]`: task {item['task']!r} / class {item['class']!r} is not in the "
                             "vocabulary")
        out.append({**item, "class": str(item["class"]), "src": _data_uri(item["png"])})
    return out


def _callout(summary: pd.DataFrame) -> str:
    """Plain words for the question every reader has: which wells are most and least organised."""
    rated = summary[summary["cells"] > 0].sort_values(
        ["mean_expected_sarcomerisation", "cells"], ascending=[False, False], kind="stable")
    rated = rated[np.isfinite(rated["mean_expected_sarcomerisation"])]
    if rated.empty:
        return '<p class="callout">No rated cells.</p>'

    def names(rows):
        out = []
        for r in rows.itertuples():
            colour = _ordinal_colour(r.mean_expected_sarcomerisation, "sarcomerisation")
            out.append(f'<b class="well" style="background: {_rgb(colour)}; color: {_ink_on(colour)}">'
                       f"{_esc(r.well)}</b> {r.mean_expected_sarcomerisation:.2f} ({r.cells} cells)")
        return ", ".join(out)

    text = f'<p class="callout" id="most-organised">Most organised wells: {names(rated.head(3))}</p>'
    if len(rated) >= 6:
        text += f'<p class="callout">Least organised: {names(rated.tail(3).iloc[::-1])}</p>'
    return text


def _maps(summary: pd.DataFrame) -> str:
    views = [*TASKS, *(["ood"] if "ood_cells" in summary.columns else [])]
    blocks = []
    for n, (plate, rows) in enumerate(summary.groupby("plate", sort=False)):
        shape = _plate_shape(rows["well"])
        figures = "".join(
            f"<figure><figcaption>{_esc(_CAPTIONS[v])}</figcaption>"
            f'{_plate_map_svg(rows, v, shape, caption=f"{plate}: {_CAPTIONS[v]}")}'
            f'{_legend_html(v, f"{v}-{n}")}</figure>'
            for v in views)
        heading = f"<h3>plate {_esc(plate)}</h3>" if summary["plate"].nunique() > 1 else ""
        blocks.append(f'{heading}<div class="maps" data-plate="{_esc(plate)}">{figures}</div>')
    marks = (f'<p class="marks">Wells:<span class="dot" style="background: {_rgb(NO_CELLS)}"></span>imaged, '
             'no rated cell<span class="dot" style="background: #fff"></span>not imaged'
             '<span class="dot ring"></span>a field failed (see below). Hover a well for its numbers.</p>')
    return "".join(blocks) + marks


def _gallery_html(items: list[dict], summary: pd.DataFrame) -> str:
    if not items:
        return '<p class="muted">No example cells were handed to the report.</p>'
    out = []
    for task in TASKS:
        mine = [g for g in items if g["task"] == task]
        if not mine:
            continue
        columns = []
        for cls in TASK_CLASSES[task]:
            figures = []
            for g in (g for g in mine if g["class"] == cls):
                where = " · ".join(str(v) for v in (g.get("plate"), g["well"], f"field {g['field']}",
                                                    f"cell {g['label']}") if v is not None)
                p = f" · p {float(g['probability']):.2f}" if g.get("probability") is not None else ""
                figures.append(f'<figure class="pic" data-task="{_esc(task)}" data-class="{_esc(cls)}">'
                               f'<img src="{g["src"]}" alt="{_esc(task)} {_esc(cls)}: {_esc(where)}">'
                               f"<figcaption>{_esc(where + p)}</figcaption></figure>")
            n = int(summary[f"n_{task}_{cls}"].sum())
            colour = RATING_COLOURS[task][cls]
            head = (f'<div class="cls" style="background: {_rgb(colour)}; color: {_ink_on(colour)}">'
                    f"{_esc(cls)} · {n} cells</div>")
            body = "".join(figures) or '<span class="muted">no example</span>'
            columns.append(f'<div class="classcol">{head}{body}</div>')
        out.append(f'<h3>{_esc(task)}</h3><div class="classgrid" style="grid-template-columns: '
                   f'repeat({len(columns)}, minmax(0, 1fr))">{"".join(columns)}</div>')
    return "".join(out)


def _failures_html(cells: pd.DataFrame) -> str:
    failed = cells[cells["status"].str.startswith("error")].drop_duplicates(["plate", "well", "field"])
    empty = cells[cells["status"] == "no cells"].drop_duplicates(["plate", "well", "field"])
    parts = []
    if len(failed):
        rows = "".join(f"<tr><td>{_esc(r.plate)}</td><td>{_esc(r.well)}</td><td>{_esc(r.field)}</td>"
                       f'<td class="failed">{_esc(r.status.removeprefix("error:").strip())}</td></tr>'
                       for r in failed.itertuples())
        parts.append(f'<table class="failures"><thead><tr><th>plate</th><th>well</th><th>field</th>'
                     f"<th>reason</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        parts.append("<p>No field failed.</p>")
    if len(empty):
        where = ", ".join(f"{r.well} field {r.field}" for r in empty.itertuples())
        parts.append(f'<p class="muted">{len(empty)} field(s) held no cell: {_esc(where)}.</p>')
    return "".join(parts)


def render_plate_report(
    cells: pd.DataFrame,
    *,
    gallery: Sequence[Mapping] = (),
    model: Mapping | None = None,
    settings: Mapping | None = None,
    truth: pd.DataFrame | None = None,
    title: str = "ames-batch plate report",
) -> str:
    """One self-contained HTML page of a rated plate (or several): maps, wells, examples, metrics.

    Parameters
    ----------
    cells : pandas.DataFrame
        The run's cells table (the ratings CSV read back, or the run's in-memory table): needs
        ``plate, well, field, status``; uses ``label``, the ratings, ``p_<task>_<class>``, the
        metrics, ``ood`` and ``run_timestamp`` when present.
    gallery : sequence of dict
        Example cells, each ``{"well", "field", "label", "task", "class", "png"}`` with
        optional ``"plate"`` and ``"probability"``; ``png`` is PNG bytes, typically
        ``cell_thumbnail_png(..., heatmap=<that task's heatmap crop>)`` of the rows of
        `gallery_cells`. Shown per task and class, in the order given.
    model : dict, optional
        What rated the cells (e.g. the model card's name, version, id), shown as a table.
    settings : dict, optional
        Run settings (pixel size, mode, explainers, ...), shown as a table.
    truth : pandas.DataFrame, optional
        Ground truth (``plate, well, field, label`` and any of the task columns, like the demo's
        ``*-truth.csv``), joined to the rated cells on those four keys: one confusion matrix
        per task.
    title : str
        Page title and heading.

    Returns
    -------
    html : str
        A whole HTML5 document that loads nothing (inline CSS and SVG, images as ``data:``
        URIs, a Content-Security-Policy that forbids any other source) and runs no script.

    Raises
    ------
    TypeError
        If `cells`, `truth` or `gallery` has the wrong type.
    ValueError
        If a table lacks a key column or holds a bad well or rating, or a gallery item is
        incomplete, not PNG or not in the vocabulary.

    Notes
    -----
    Plate maps are standard 96-well layouts (384 or 1536 when a well lies outside), one per task:
    ordinal ratings coloured by the well's mean expected rating between the class colours of
    ``ames_batch.vocabulary.RATING_COLOURS``, so the most organised wells are the deepest
    green; sources as pies of the share per source. Wells imaged without a rated cell are grey,
    wells not imaged white, wells with a failed field get a dashed red ring.
    """
    table = _check_cells(cells)
    truth_table = None if truth is None else _check_cells(truth, name="truth", required=("label",))
    items = _check_gallery(gallery)
    summary = well_summary(table)
    rated = table[table["status"] == "ok"]
    fields = table.drop_duplicates(["plate", "well", "field"])
    failed = int(fields["status"].str.startswith("error").sum())
    when = ""
    if "run_timestamp" in rated.columns and rated["run_timestamp"].notna().any():
        when = f" · rated {_esc(rated['run_timestamp'].dropna().astype(str).max())}"
    who = ""
    if model:
        who = " · " + _esc(" ".join(str(model[k]) for k in ("name", "version") if k in model))
    lead = (f'<p class="lead">{len(rated)} cells rated in {len(fields)} fields of {len(summary)} wells'
            f'{f" · <span class=failed>{failed} failed fields</span>" if failed else ""}{who}{when}</p>')
    sections = [
        f"<h1>{_esc(title)}</h1>{lead}",
        f'<section id="plate-maps"><h2>Plate maps</h2>{_callout(summary) if len(summary) else ""}'
        f'{_maps(summary) if len(summary) else ""}</section>',
        f'<section id="wells"><h2>Wells</h2><p class="muted">Bars: cells per class (red 1 → green 4; '
        f"sources by colour), hover for counts; number: mean expected rating. Metrics: median "
        f"(25th–75th percentile).</p>{_wells_table(summary) if len(summary) else ''}</section>",
        f'<section id="metrics"><h2>The metrics behind the ratings</h2><p class="muted">'
        + _esc("; ".join(f"{METRIC_OF_TASK[t][1]} by {t}" for t in TASKS))
        + f". Boxes: quartiles; dots: cells (300 drawn at most per class).</p>{_metrics_svg(table)}</section>",
        f'<section id="gallery" class="gallery"><h2>Example cells</h2><p class="muted">The most confident '
        f"cells of each class; contour cyan, heatmap of that task in colour, scale bar in µm.</p>"
        f"{_gallery_html(items, summary)}</section>",
    ]
    if truth_table is not None:
        sections.append(f'<section id="truth"><h2>Against ground truth</h2>{_confusion_html(table, truth_table)}'
                        "</section>")
    sections.append(f'<section id="failures"><h2>Failed fields</h2>{_failures_html(table)}</section>')
    settings_html = "".join(f"<div><h3>{name}</h3>{_kv_table(values)}</div>"
                            for name, values in (("model", model), ("settings", settings)) if values)
    sections.append(f'<section id="settings"><h2>Model and settings</h2><div class="kvs">'
                    f'{settings_html or "<p class=muted>not given</p>"}</div></section>')
    return _page(title, f"<main>{''.join(sections)}</main>", css=_CSS)
