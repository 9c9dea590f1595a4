"""Score a finished run against ground truth: cells found, and ratings of the matched cells."""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from ..io import list_fields, read_labels, read_ratings
from ..segment import match_labels
from ..vocabulary import TASKS
from ._rate import CELL_LABELS

__all__ = ["score_run"]


def score_run(plate: Path, ratings_csv: Path, truth_csv: Path, *, truth_labels: str = "truth",
              iou_threshold: float = 0.5) -> dict:
    """Compare a run's cells and ratings with ground-truth masks and ratings.

    Parameters
    ----------
    plate : Path
        A plate rated by ``ames-batch run`` that also holds truth masks (the demo's ``truth``).
    ratings_csv : Path
        The run's CSV.
    truth_csv : Path
        Ground-truth ratings (plate, well, field, label and the task columns).
    truth_labels : str
        Label image holding the truth masks.
    iou_threshold : float
        Overlap (IoU) at which a found cell matches a true one.

    Returns
    -------
    scores : dict
        ``recall`` and ``precision`` of the cells (pooled over fields), ``n_truth``, ``n_found``,
        ``n_matched``, and per task ``{"accuracy", "f1_weighted", "n"}`` over the matched cells.
    """
    # ratings as the text written: a field's status row leaves them empty, and pandas would read
    # every rating of the file as a float ("2.0", never equal to the truth's "2")
    found = pd.read_csv(ratings_csv, dtype={"field": str, "label": "Int64", **{task: str for task in TASKS}})
    truth = read_ratings(truth_csv)
    pairs, n_truth, n_found = [], 0, 0
    for key in list_fields(plate):
        predicted, _ = read_labels(plate, key, CELL_LABELS, on_field_grid=True)
        true, _ = read_labels(plate, key, truth_labels, on_field_grid=True)
        match = match_labels(np.asarray(predicted[0]), np.asarray(true[0]), iou_threshold=iou_threshold)
        n_truth, n_found = n_truth + match.n_truth, n_found + match.n_predicted
        pairs += [(key.well, key.field, int(p), int(t)) for p, t, _ in match.pairs]
    matched = pd.DataFrame(pairs, columns=["well", "field", "label", "truth_label"])
    merged = matched.merge(found, on=["well", "field", "label"]).merge(
        truth.astype({"field": str}), left_on=["well", "field", "truth_label"],
        right_on=["well", "field", "label"], suffixes=("", "_truth"))
    scores = {"n_truth": n_truth, "n_found": n_found, "n_matched": len(pairs),
              "recall": len(pairs) / n_truth if n_truth else float("nan"),
              "precision": len(pairs) / n_found if n_found else float("nan")}
    for task in TASKS:
        if f"{task}_truth" not in merged:
            continue
        y_true, y_pred = merged[f"{task}_truth"].astype(str), merged[task].astype(str)
        scores[task] = {"accuracy": float(accuracy_score(y_true, y_pred)),
                        "f1_weighted": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
                        "n": int(len(merged))}
    return scores
