"""Plate maps as inline SVG: one disc per well in the plate's rows and columns, coloured by a rating."""

import math

import numpy as np

from ..vocabulary import ORDINAL_TASKS, RATING_COLOURS, SOURCES, TASK_CLASSES
from ._html import _esc, _ink_on, _rgb
from ._table import _well_position

_FORMATS = ((8, 12), (16, 24), (32, 48))  # 96-, 384- and 1536-well plates
_PITCH = 30  # px between well centres
_RADIUS = 12.5
_MARGIN = 24  # room for row letters and column numbers
NO_CELLS = (189, 189, 189)  # imaged, but no rated cell
_NOT_IMAGED = "#ffffff"
_FAILED = "#b00020"
_OOD = ((255, 255, 255), (84, 39, 143))  # share of out-of-distribution cells, 0 -> 1 (white -> purple)


def _plate_shape(wells) -> tuple[int, int]:
    """(rows, columns) of the smallest standard plate holding every well (at least 8 x 12)."""
    need = [_well_position(w) for w in wells]
    rows = max((r for r, _ in need), default=0) + 1
    cols = max((c for _, c in need), default=0) + 1
    for shape in _FORMATS:
        if rows <= shape[0] and cols <= shape[1]:
            return shape
    return rows, cols


def _row_name(row: int) -> str:
    name = ""
    row += 1
    while row:
        row, rest = divmod(row - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def _ordinal_colour(value: float, task: str) -> tuple[float, float, float]:
    """Colour of an expected rating in [1, 4]: linear between the class colours of `task`."""
    anchors = np.array([RATING_COLOURS[task][c][:3] for c in TASK_CLASSES[task]], dtype=float)
    t = float(np.clip(value, 1, len(anchors))) - 1
    i = min(int(math.floor(t)), len(anchors) - 2)
    return tuple(anchors[i] + (t - i) * (anchors[i + 1] - anchors[i]))


def _ood_colour(share: float) -> tuple[float, float, float]:
    lo, hi = (np.array(c, float) for c in _OOD)
    return tuple(lo + float(np.clip(share, 0, 1)) * (hi - lo))


def _pie(cx, cy, r, shares) -> str:
    """SVG slices of a disc, one per (colour, share > 0), clockwise from 12 o'clock."""
    shares = [(c, s) for c, s in shares if s > 0]
    if len(shares) == 1:
        return f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{_rgb(shares[0][0])}"/>'
    out, angle = [], -math.pi / 2
    for colour, share in shares:
        end = angle + 2 * math.pi * share
        x0, y0 = cx + r * math.cos(angle), cy + r * math.sin(angle)
        x1, y1 = cx + r * math.cos(end), cy + r * math.sin(end)
        large = 1 if share > 0.5 else 0
        out.append(f'<path d="M{cx},{cy} L{x0:.2f},{y0:.2f} A{r},{r} 0 {large} 1 {x1:.2f},{y1:.2f} Z" '
                   f'fill="{_rgb(colour)}"/>')
        angle = end
    return "".join(out)


def _well_mark(row, cx, cy, view) -> str:
    """One well's disc (its fill by `view`), value text and tooltip."""
    tip = [f"{row['well']}: {row['cells']} cells in {row['fields']} fields"]
    if row["failed_fields"]:
        tip.append(f"{row['failed_fields']} failed field(s)")
    attrs = f'data-well="{_esc(row["well"])}" data-cells="{row["cells"]}"'
    text, shape = "", ""
    if row["cells"] == 0:
        shape = f'<circle cx="{cx}" cy="{cy}" r="{_RADIUS}" fill="{_rgb(NO_CELLS)}"/>'
        attrs += f' data-fill="{_rgb(NO_CELLS)}"'
        text = "–"
        ink = "#000"
    elif view in ORDINAL_TASKS:
        value = float(row[f"mean_expected_{view}"])
        colour = _ordinal_colour(value, view)
        shape = f'<circle cx="{cx}" cy="{cy}" r="{_RADIUS}" fill="{_rgb(colour)}"/>'
        attrs += f' data-value="{value:.4f}" data-fill="{_rgb(colour)}"'
        text, ink = f"{value:.1f}", _ink_on(colour)
        tip.append(f"mean expected {view} {value:.2f}")
    elif view == "source":
        shares = [(RATING_COLOURS["source"][s], float(row[f"share_{s}"])) for s in SOURCES]
        shape = _pie(cx, cy, _RADIUS, shares)
        major = row["majority_source"]
        attrs += f' data-value="{_esc(major)}" data-fill="{_rgb(RATING_COLOURS["source"][major])}"'
        text, ink = str(row["cells"]), "#000"
        tip.append(", ".join(f"{s} {100 * float(row[f'share_{s}']):.0f} %" for s in SOURCES))
    else:  # "ood"
        share = row["ood_cells"] / row["cells"]
        colour = _ood_colour(share)
        shape = f'<circle cx="{cx}" cy="{cy}" r="{_RADIUS}" fill="{_rgb(colour)}"/>'
        attrs += f' data-value="{share:.4f}" data-fill="{_rgb(colour)}"'
        text, ink = f"{100 * share:.0f}", _ink_on(colour)
        tip.append(f"{row['ood_cells']} of {row['cells']} cells out of distribution")
    ring = (f'<circle cx="{cx}" cy="{cy}" r="{_RADIUS + 1.5}" fill="none" stroke="{_FAILED}" '
            f'stroke-width="2.5" stroke-dasharray="4 2"/>' if row["failed_fields"] else "")
    label = (f'<text x="{cx}" y="{cy + 4}" text-anchor="middle" font-size="10" fill="{ink}">{_esc(text)}</text>'
             if text else "")
    return (f'<g class="well" {attrs}><title>{_esc("; ".join(tip))}</title>'
            f'{shape}{ring}{label}</g>')


def _plate_map_svg(summary, view: str, shape: tuple[int, int], *, caption: str) -> str:
    """SVG plate map of one plate's rows of `well_summary`; `view` is a task or ``"ood"``."""
    rows, cols = shape
    width, height = _MARGIN + cols * _PITCH + 4, _MARGIN + rows * _PITCH + 4
    parts = [f'<svg class="platemap" data-view="{_esc(view)}" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{_esc(caption)}" font-family="system-ui, sans-serif">',
             f'<rect x="{_MARGIN - 6}" y="{_MARGIN - 6}" width="{cols * _PITCH + 8}" '
             f'height="{rows * _PITCH + 8}" rx="10" fill="#f1f3f5" stroke="#adb5bd"/>']
    for c in range(cols):
        parts.append(f'<text x="{_MARGIN + (c + 0.5) * _PITCH}" y="{_MARGIN - 10}" text-anchor="middle" '
                     f'font-size="10" fill="#59636e">{c + 1}</text>')
    for r in range(rows):
        parts.append(f'<text x="{_MARGIN - 13}" y="{_MARGIN + (r + 0.5) * _PITCH + 4}" text-anchor="middle" '
                     f'font-size="10" fill="#59636e">{_row_name(r)}</text>')
    seen = {_well_position(w): i for i, w in enumerate(summary["well"])}
    records = summary.to_dict("records")
    for r in range(rows):
        for c in range(cols):
            cx, cy = _MARGIN + (c + 0.5) * _PITCH, _MARGIN + (r + 0.5) * _PITCH
            if (r, c) in seen:
                parts.append(_well_mark(records[seen[(r, c)]], cx, cy, view))
            else:
                parts.append(f'<circle class="absent" cx="{cx}" cy="{cy}" r="{_RADIUS}" fill="{_NOT_IMAGED}" '
                             f'stroke="#ced4da"/>')
    parts.append("</svg>")
    return "".join(parts)


def _legend_html(view: str, uid: str) -> str:
    """The colour key of a plate map: a ramp with ticks for ratings and OOD share, swatches for sources.

    `uid` makes the gradient's id unique on the page."""
    if view == "source":
        key = "".join(f'<span class="swatch" style="background: {_rgb(RATING_COLOURS["source"][s])}"></span>{s} '
                      for s in SOURCES)
        return f'<div class="legend">{key}</div>'
    if view in ORDINAL_TASKS:
        stops = [(i / 3, RATING_COLOURS[view][c]) for i, c in enumerate(TASK_CLASSES[view])]
        ticks = [(i / 3, c) for i, c in enumerate(TASK_CLASSES[view])]
    else:
        stops = [(0, _OOD[0]), (1, _OOD[1])]
        ticks = [(0, "0 %"), (0.5, "50 %"), (1, "100 %")]
    width, left = 200, 12
    gradient = "".join(f'<stop offset="{o:.3f}" stop-color="{_rgb(c)}"/>' for o, c in stops)
    marks = "".join(f'<line x1="{left + o * width}" x2="{left + o * width}" y1="12" y2="16" stroke="#59636e"/>'
                    f'<text x="{left + o * width}" y="27" text-anchor="middle">{_esc(t)}</text>' for o, t in ticks)
    return (f'<svg class="legend" width="{width + 2 * left}" height="30" font-size="11" fill="#59636e" '
            f'xmlns="http://www.w3.org/2000/svg"><defs><linearGradient id="ramp-{_esc(uid)}">{gradient}'
            f'</linearGradient></defs><rect x="{left}" y="2" width="{width}" height="10" rx="2" '
            f'fill="url(#ramp-{_esc(uid)})"/>{marks}</svg>')
