"""Rating metrics of a model on held-out cells: accuracy, weighted F1, per-class precision/recall.

All numbers come from scikit-learn on the true and predicted class names; probabilities are
reduced by argmax. Fractions in [0, 1] (the Markdown report shows percent).
"""

import numpy as np

__all__ = ["evaluate_ratings"]


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
        (``{name: {"precision", "recall", "f1", "support"}}``) and ``confusion_matrix``
        (rows true, columns predicted, in ``classes`` order).

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
