"""Rating metrics of a model on held-out cells: accuracy, weighted F1, per-class precision/recall,
and how far its probabilities hold (calibration).

Accuracy and F1 come from scikit-learn on the true and predicted class names (probabilities
reduced by argmax); the calibration compares the probability of the predicted class with how
often it is right. Fractions in [0, 1] (the Markdown report shows percent).
"""

import numpy as np

__all__ = ["CALIBRATION_BINS", "calibration", "evaluate_ratings"]

#: Equal-width bins of the predicted class's probability over [0, 1] for `calibration`.
CALIBRATION_BINS = 10


def calibration(truth: np.ndarray, probs: np.ndarray, *, bins: int = CALIBRATION_BINS) -> dict:
    """Does a probability of 0.9 mean right 9 times in 10? Top-class calibration of one task.

    Parameters
    ----------
    truth : (N,) ndarray of int
        True class index per cell (columns of `probs`).
    probs : (N, K) ndarray of float
        Predicted class probabilities, rows summing to 1.
    bins : int
        Equal-width bins of the predicted class's probability ("confidence") over [0, 1]; a
        bin holds the confidences in (lo, hi], the first one 0 too.

    Returns
    -------
    dict
        ``mean_confidence`` (mean probability of the predicted class), ``ece`` (expected
        calibration error: over the bins, the share of cells times |accuracy - mean
        confidence|; 0 = calibrated), ``log_loss`` (mean -ln p of the true class, p clipped at
        1e-15; NaN without cells) and ``bins``: one dict per non-empty bin with ``from``,
        ``to``, ``n_cells``, ``mean_confidence`` and ``accuracy``.

    Examples
    --------
    >>> r = calibration(np.array([0, 0, 1, 1]), np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.4, 0.6]]))
    >>> round(r["mean_confidence"], 3), round(r["ece"], 3)  # 0.9 right 2 of 3 times, 0.6 once of once
    (0.825, 0.275)
    """
    truth = np.asarray(truth, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if not truth.size:
        return {"mean_confidence": float("nan"), "ece": float("nan"), "log_loss": float("nan"), "bins": []}
    confidence, right = p.max(axis=1), (p.argmax(axis=1) == truth)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    table, ece = [], 0.0
    for k in np.unique(which):
        inside = which == k
        acc, conf = float(right[inside].mean()), float(confidence[inside].mean())
        ece += inside.mean() * abs(acc - conf)
        table.append({"from": float(k / bins), "to": float((k + 1) / bins), "n_cells": int(inside.sum()),
                      "mean_confidence": conf, "accuracy": acc})
    log_loss = float(-np.mean(np.log(np.clip(p[np.arange(truth.size), truth], 1e-15, 1.0))))
    return {"mean_confidence": float(confidence.mean()), "ece": float(ece), "log_loss": log_loss, "bins": table}


def evaluate_ratings(
    y_true: dict[str, np.ndarray],
    probs: dict[str, np.ndarray],
    classes: dict[str, list[str]],
) -> dict:
    """Score predicted ratings against true ones, task by task.

    Parameters
    ----------
    y_true : dict of str to (N,) array-like of str
        True class name per cell for each task (e.g. ``"3"``, ``"adult"``).
    probs : dict of str to (N, K) ndarray of float
        Predicted class probabilities, columns in the order of ``classes[task]``.
    classes : dict of str to list of str
        Class names per task, in model output order.

    Returns
    -------
    dict
        Per task: ``n_cells``, ``accuracy``, ``weighted_f1``, ``classes``, ``per_class``
        (``{name: {"precision", "recall", "f1", "support"}}``), ``confusion_matrix``
        (rows true, columns predicted, in ``classes`` order) and ``calibration``
        (:func:`calibration`).

    Raises
    ------
    ValueError
        If a task is missing from `probs` or `classes`, shapes disagree, or a true class
        is not among ``classes[task]``.

    Examples
    --------
    >>> r = evaluate_ratings({"source": ["adult", "ipsc"]},
    ...                      {"source": np.array([[0.9, 0.0, 0.1], [0.2, 0.7, 0.1]])},
    ...                      {"source": ["adult", "ipsc", "neonatal"]})
    >>> r["source"]["accuracy"]
    1.0
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    out = {}
    for task, truth in y_true.items():
        if task not in probs or task not in classes:
            raise ValueError(f"task {task!r} must be in `probs` and `classes`; got {sorted(probs)}, {sorted(classes)}")
        names = [str(c) for c in classes[task]]
        truth = np.asarray([str(v) for v in truth])
        p = np.asarray(probs[task], dtype=np.float64)
        if p.ndim != 2 or p.shape != (truth.size, len(names)):
            raise ValueError(
                f"`probs[{task!r}]` must have shape ({truth.size}, {len(names)}); got {p.shape}"
            )
        unknown = sorted(set(truth.tolist()) - set(names))
        if unknown:
            raise ValueError(f"true {task} classes {unknown} are not model classes {names}")
        pred = np.asarray(names)[np.argmax(p, axis=1)] if truth.size else truth
        prec, rec, f1, support = precision_recall_fscore_support(
            truth, pred, labels=names, zero_division=0
        )
        out[task] = {
            "n_cells": int(truth.size),
            "accuracy": float(accuracy_score(truth, pred)),
            "weighted_f1": float(f1_score(truth, pred, labels=names, average="weighted", zero_division=0)),
            "classes": names,
            "per_class": {
                name: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                       "support": int(support[i])}
                for i, name in enumerate(names)
            },
            "confusion_matrix": confusion_matrix(truth, pred, labels=names).tolist(),
            "calibration": calibration(np.array([names.index(v) for v in truth], dtype=np.int64), p),
        }
    return out


def encode_ratings(ratings: dict[str, np.ndarray], classes: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Class names -> class indices in output order, task by task.

    Raises
    ------
    ValueError
        If a rating is not one of the task's classes.
    """
    out = {}
    for task, values in ratings.items():
        if task not in classes:
            raise ValueError(f"task {task!r} has no class list; known tasks: {sorted(classes)}")
        lookup = {str(c): i for i, c in enumerate(classes[task])}
        values = [str(v) for v in np.asarray(values).tolist()]
        bad = sorted(set(values) - set(lookup))
        if bad:
            raise ValueError(f"{task} ratings {bad} are not among its classes {list(lookup)}")
        out[task] = np.array([lookup[v] for v in values], dtype=np.int64)
    return out
