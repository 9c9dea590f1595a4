"""Evaluation report: confusion matrices and training curves as PNG, a Table-1 style summary.

Writes files given by the caller (pipeline); matplotlib runs with the Agg backend.
"""

from pathlib import Path

import numpy as np

from ..vocabulary import TASKS
from ._evaluate import CALIBRATION_BINS

__all__ = ["PAPER_TABLE1", "plot_calibration", "plot_confusion", "plot_history", "summary_markdown"]

# Hillemanns et al. 2021 (bioRxiv 10.1101/2021.08.06.455455), Table 1, test accuracy / weighted F1 (%).
PAPER_TABLE1 = {
    "AMES 2D singular (paper)": {"accuracy": (68.68, 57.95, 74.85), "weighted_f1": (67.33, 57.96, 74.81)},
    "AMES 2D one-vs-all ensemble (paper)": {"accuracy": (70.93, 64.16, 82.06),
                                            "weighted_f1": (70.16, 64.19, 81.94)},
    "AMES 3D singular (paper)": {"accuracy": (90.91, 62.60, 79.04), "weighted_f1": (90.87, 62.63, 79.14)},
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path, title: str = "") -> Path:
    """Lay out `fig` (under `title`), write it to the PNG `path` at 100 dpi and close it."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(metrics: dict, path: Path, *, title: str = "") -> list[Path]:
    """One PNG of the confusion matrices of all tasks (rows true, columns predicted).

    Parameters
    ----------
    metrics : dict
        Output of :func:`evaluate_ratings`.
    path : Path
        PNG file to write.
    title : str
        Figure title.

    Returns
    -------
    list of Path
        The written file(s).
    """
    plt = _pyplot()
    tasks = list(metrics)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 4.0), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        cm = np.asarray(metrics[task]["confusion_matrix"], dtype=float)
        names = metrics[task]["classes"]
        ax.imshow(cm, cmap="Blues")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center",
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{task}\nacc {100 * metrics[task]['accuracy']:.1f} %")
    return [_save(plt, fig, path, title)]


def plot_calibration(metrics: dict, path: Path, *, title: str = "") -> Path | None:
    """Reliability diagram per task: accuracy against the mean probability of the chosen class,
    one point per bin of that probability (area ~ its cells), the diagonal where they agree.

    Parameters
    ----------
    metrics : dict
        Output of :func:`evaluate_ratings` (each task's ``calibration``).
    path : Path
        PNG file to write.
    title : str
        Figure title.

    Returns
    -------
    Path or None
        The file, or None when no task has a scored cell (nothing is written).
    """
    tasks = [t for t, m in metrics.items() if m.get("calibration", {}).get("bins")]
    if not tasks:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.8 * len(tasks), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        c = metrics[task]["calibration"]
        x = [b["mean_confidence"] for b in c["bins"]]
        y = [b["accuracy"] for b in c["bins"]]
        n = np.asarray([b["n_cells"] for b in c["bins"]], float)
        ax.plot([0, 1], [0, 1], color="0.6", lw=1)
        ax.plot(x, y, color="C0", lw=1)
        ax.scatter(x, y, s=300 * n / n.max(), color="C0", zorder=3, clip_on=False)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_xlabel("probability of the chosen class")
        ax.set_ylabel("share rated right")
        ax.set_title(f"{task}\ncalibration error {100 * c['ece']:.1f} %")
    return _save(plt, fig, path, title)


def plot_history(history: dict[str, list[float]], path: Path) -> Path | None:
    """Training curves (loss and accuracy, training vs validation) as one PNG.

    Parameters
    ----------
    history : dict of str to list of float
        Keras ``History.history`` (e.g. ``loss``, ``val_loss``, ``source_accuracy``).
    path : Path
        PNG file to write.

    Returns
    -------
    Path or None
        The file, or None when `history` holds no epochs (nothing is written).
    """
    keys = [k for k in history if not k.startswith("val_") and len(history[k])]
    if not keys:
        return None
    plt = _pyplot()
    loss_keys = [k for k in keys if k.endswith("loss")]
    acc_keys = [k for k in keys if k.endswith("accuracy")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, group, label in ((axes[0], loss_keys, "loss"), (axes[1], acc_keys, "accuracy")):
        for k in group:
            epochs = np.arange(1, len(history[k]) + 1)
            line, = ax.plot(epochs, history[k], label=k)
            if f"val_{k}" in history:
                ax.plot(epochs[:len(history[f"val_{k}"])], history[f"val_{k}"], "--",
                        color=line.get_color(), label=f"val_{k}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if group:
            ax.legend(fontsize=7)
    return _save(plt, fig, path)


def summary_markdown(results: dict[str, dict], *, include_paper: bool = True, note: str = "") -> str:
    """Table 1 of the paper, with our models' rows: accuracy and weighted F1 in percent; then
    how far our models' probabilities hold (their calibration, where the results carry it).

    Parameters
    ----------
    results : dict of str to dict
        Model name -> output of :func:`evaluate_ratings` (tasks missing from a model show "–").
    include_paper : bool
        Add the paper's three rows for comparison.
    note : str
        A line printed under the table (data, split, caveats).

    Returns
    -------
    str
        Markdown text.
    """
    head = ("| model | sarc acc | dir acc | source acc | sarc F1 | dir F1 | source F1 | cells |\n"
            "|---|---|---|---|---|---|---|---|")
    rows = []
    if include_paper:
        for name, p in PAPER_TABLE1.items():
            vals = [f"{v:.2f}" for v in (*p["accuracy"], *p["weighted_f1"])]
            rows.append(f"| {name} | " + " | ".join(vals) + " | |")
    for name, metrics in results.items():
        vals = []
        for key in ("accuracy", "weighted_f1"):
            for task in TASKS:
                vals.append(f"{100 * metrics[task][key]:.2f}" if task in metrics else "–")
        n = max((m["n_cells"] for m in metrics.values()), default=0)
        rows.append(f"| {name} | " + " | ".join(vals) + f" | {n} |")
    text = head + "\n" + "\n".join(rows) + "\n"
    if note:
        text += f"\n{note}\n"
    return text + _calibration_markdown(results)


def _calibration_markdown(results: dict[str, dict]) -> str:
    """Per model and task: the mean probability of the predicted class against how often it is
    right, and the expected calibration error (empty when no result carries a calibration)."""
    rows = []
    for name, metrics in results.items():
        for task in (t for t in TASKS if t in metrics):
            m = metrics[task]
            c = m.get("calibration")
            if c and c["bins"]:
                rows.append(f"| {name} | {task} | {100 * c['mean_confidence']:.1f} | {100 * m['accuracy']:.1f} | "
                            f"{100 * c['ece']:.1f} | {m['n_cells']} |")
    if not rows:
        return ""
    return ("\nHow far the probabilities hold: a calibrated model's mean probability of its chosen class "
            f"equals its accuracy (expected calibration error over {CALIBRATION_BINS} bins of that probability; 0 = "
            "calibrated; the bins are in metrics.json).\n\n"
            "| model | task | mean probability % | accuracy % | calibration error % | cells |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
