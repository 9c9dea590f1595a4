"""Charts of a report: the metric behind each rating per class (matplotlib SVG), per-well class bars
(HTML), confusion matrices against ground truth (HTML tables)."""

import numpy as np
import pandas as pd

from ..vocabulary import ORDINAL_TASKS, RATING_COLOURS, TASK_CLASSES, TASKS
from ._html import _esc, _figure_svg, _ink_on, _rgb
from ._table import _rated

_MAX_DOTS = 300  # per class: a plate of 10^5 cells must not make a 10 MB chart

#: The metric that explains each rating best, with its axis label.
METRIC_OF_TASK = {
    "sarcomerisation": ("organised_fraction", "organised fraction"),
    "directionality": ("zdisc_angle_deg", "z-disc angle to the long axis (°)"),
    "source": ("area_um2", "cell area (µm²)"),
}


def _metrics_svg(cells: pd.DataFrame, *, seed: int = 0) -> str:
    """One panel per task: the task's metric (`METRIC_OF_TASK`) per rated class, box and points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rated = _rated(cells)
    panels = [t for t in TASKS if t in rated.columns and METRIC_OF_TASK[t][0] in rated.columns]
    if not panels:
        return ""
    rng = np.random.default_rng(seed)  # jitter only; fixed so a report renders the same twice
    fig = Figure(figsize=(3.9 * len(panels), 3.3), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    for i, task in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        metric, axis_label = METRIC_OF_TASK[task]
        classes = TASK_CLASSES[task]
        values = pd.to_numeric(rated[metric], errors="coerce").to_numpy(dtype=float)
        groups = [values[(rated[task] == c).to_numpy() & np.isfinite(values)] for c in classes]
        boxes = [(k, g) for k, g in enumerate(groups) if g.size]
        if boxes:
            ax.boxplot([g for _, g in boxes], positions=[k for k, _ in boxes], widths=0.55, showfliers=False,
                       medianprops={"color": "#1f2328"}, boxprops={"color": "#59636e"},
                       whiskerprops={"color": "#59636e"}, capprops={"color": "#59636e"})
        for k, g in enumerate(groups):
            colour = np.array(RATING_COLOURS[task][classes[k]][:3]) / 255
            dots = rng.choice(g, _MAX_DOTS, replace=False) if g.size > _MAX_DOTS else g  # boxes use all
            ax.scatter(k + rng.uniform(-0.18, 0.18, dots.size), dots, s=12, color=colour, alpha=0.75,
                       edgecolors="none", zorder=3)
        ax.set_xticks(range(len(classes)), [f"{c}\n(n={g.size})" for c, g in zip(classes, groups)])
        ax.set_xlim(-0.6, len(classes) - 0.4)
        ax.set_xlabel(f"{task} (model's rating)")
        ax.set_ylabel(axis_label)
        if task == "source" and np.any(values[np.isfinite(values)] > 0):
            ax.set_yscale("log")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
        ax.set_axisbelow(True)
    return _figure_svg(fig)


def _class_bar(counts: list[tuple[str, int]], task: str) -> str:
    """A stacked bar of class counts (widths are shares), classes in their order and colours."""
    total = sum(n for _, n in counts)
    if not total:
        return '<div class="bar empty"></div>'
    parts = []
    for cls, n in counts:
        if n:
            colour = RATING_COLOURS[task][cls]
            parts.append(f'<span style="width: {100 * n / total:.2f}%; background: {_rgb(colour)}; '
                         f'color: {_ink_on(colour)}" title="{_esc(task)} {_esc(cls)}: {n} of {total}">'
                         f'{n if n / total >= 0.12 else ""}</span>')
    return f'<div class="bar">{"".join(parts)}</div>'


def _spread(row, metric: str, digits: int) -> str:
    median = row.get(f"{metric}_median", np.nan)
    if not np.isfinite(median):
        return "–"
    return (f'{median:.{digits}f} <span class="muted">({row[f"{metric}_p25"]:.{digits}f}–'
            f'{row[f"{metric}_p75"]:.{digits}f})</span>')


def _wells_table(summary: pd.DataFrame) -> str:
    """One row per well: counts, a class bar per task with the mean expected rating, metric spread."""
    flags = [(c, h) for c, h in (("ood_cells", "OOD cells"), ("saturated_cells", "saturated cells"))
             if c in summary.columns]
    plates = summary["plate"].nunique() > 1  # the plate column only when there is a choice
    head = [*(["plate"] if plates else []), "well", "cells", "fields", *TASKS, "organised fraction",
            "sarcomere length µm"]
    head += [h for _, h in flags]
    rows = []
    for row in summary.to_dict("records"):
        failed = f' <span class="failed">({row["failed_fields"]} failed)</span>' if row["failed_fields"] else ""
        tds = [f"<td>{_esc(row['plate'])}</td>"] if plates else []
        tds += [f"<td><b>{_esc(row['well'])}</b></td>",
               f'<td class="num">{row["cells"]}</td>', f'<td class="num">{row["fields"]}{failed}</td>']
        for task in TASKS:
            bar = _class_bar([(c, row[f"n_{task}_{c}"]) for c in TASK_CLASSES[task]], task)
            mean = row.get(f"mean_expected_{task}", np.nan)
            value = f'<span class="mean">{mean:.2f}</span>' if task in ORDINAL_TASKS and np.isfinite(mean) else ""
            tds.append(f'<td><div class="barcell">{bar}{value}</div></td>')
        tds += [f'<td class="num">{_spread(row, m, 2)}</td>' for m in ("organised_fraction", "sarcomere_length_um")]
        tds += [f'<td class="num">{row[c]}</td>' for c, _ in flags]
        rows.append(f'<tr data-well="{_esc(row["well"])}">{"".join(tds)}</tr>')
    header = "".join(f"<th>{_esc(h)}</th>" for h in head)
    return f'<table class="wells"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _confusion_html(cells: pd.DataFrame, truth: pd.DataFrame) -> str:
    """Per task, a confusion matrix (rows truth, columns the model) of the cells found in both."""
    from sklearn.metrics import confusion_matrix

    keys = ["plate", "well", "field", "label"]
    rated = _rated(cells)
    merged = rated.merge(truth, on=keys, how="inner", suffixes=("", "_truth"))
    note = (f'<p class="muted">{len(merged)} of {len(rated)} rated cells matched a ground-truth cell '
            f'(of {len(truth)}) on plate, well, field and label.</p>')
    blocks = []
    for task in TASKS:
        if task not in rated.columns or task not in truth.columns:
            continue
        pair = merged[[task, f"{task}_truth"]].dropna()
        classes = list(TASK_CLASSES[task])
        cm = (confusion_matrix(pair[f"{task}_truth"], pair[task], labels=classes) if len(pair)
              else np.zeros((len(classes),) * 2, int))
        n = int(cm.sum())
        accuracy = np.trace(cm) / n if n else np.nan
        scores = f"accuracy {100 * accuracy:.1f} % of {n}" if n else "no cell rated in both"
        if task in ORDINAL_TASKS and n:
            near = sum(cm[i, j] for i in range(len(classes)) for j in range(len(classes)) if abs(i - j) <= 1)
            scores += f"; within one class {100 * near / n:.1f} %"
        top = max(int(cm.max()), 1)
        body = []
        for i, cls in enumerate(classes):
            tds = []
            for j in range(len(classes)):
                shade = cm[i, j] / top
                colour = tuple(255 - shade * (255 - c) for c in (33, 102, 172))
                mark = " diag" if i == j else ""
                tds.append(f'<td class="num{mark}" style="background: {_rgb(colour)}; color: {_ink_on(colour)}">'
                           f"{cm[i, j]}</td>")
            body.append(f"<tr><th>{_esc(cls)}</th>{''.join(tds)}</tr>")
        head = "".join(f"<th>{_esc(c)}</th>" for c in classes)
        blocks.append(f'<div class="confusion" data-task="{_esc(task)}"><h3>{_esc(task)}</h3>'
                      f'<table><thead><tr><th>truth \\ model</th>{head}</tr></thead><tbody>{"".join(body)}'
                      f'</tbody></table><p class="muted">{scores}</p></div>')
    return note + f'<div class="row">{"".join(blocks)}</div>'
