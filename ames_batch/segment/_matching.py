"""Score predicted cell labels against ground-truth labels by one-to-one IoU matching."""

from dataclasses import dataclass

import numpy as np

from .._lazy import optimize
from ._validate import _check_labels_2d, _check_positive, _check_same_shape

__all__ = ["LabelMatch", "match_labels"]


@dataclass(frozen=True)
class LabelMatch:
    """One-to-one matching of predicted and true labels of one field.

    Attributes
    ----------
    pairs : list of (int, int, float)
        ``(predicted_label, truth_label, iou)`` for every matched pair, sorted by
        truth label.
    unmatched_predicted : list of int
        Predicted labels without a partner (false positives).
    unmatched_truth : list of int
        True labels without a partner (missed cells).
    iou_threshold : float
        Smallest IoU that counted as a match.
    n_predicted, n_truth : int
        Number of labels present in each image.
    """

    pairs: list[tuple[int, int, float]]
    unmatched_predicted: list[int]
    unmatched_truth: list[int]
    iou_threshold: float
    n_predicted: int
    n_truth: int

    @property
    def n_matched(self) -> int:
        """Number of matched pairs (true positives)."""
        return len(self.pairs)

    @property
    def recall(self) -> float:
        """Matched / true labels; 1.0 when the truth holds no label (nothing to miss)."""
        return self.n_matched / self.n_truth if self.n_truth else 1.0

    @property
    def precision(self) -> float:
        """Matched / predicted labels; 1.0 when nothing was predicted (nothing false)."""
        return self.n_matched / self.n_predicted if self.n_predicted else 1.0

    @property
    def f1(self) -> float:
        """2·TP / (2·TP + FP + FN); 1.0 when both images are empty."""
        denominator = self.n_predicted + self.n_truth
        return 2 * self.n_matched / denominator if denominator else 1.0

    @property
    def mean_iou(self) -> float:
        """Mean IoU over matched pairs; NaN when nothing matched."""
        return float(np.mean([iou for *_, iou in self.pairs])) if self.pairs else float("nan")


def match_labels(
    predicted: np.ndarray, truth: np.ndarray, *, iou_threshold: float = 0.5
) -> LabelMatch:
    """Match predicted to true cell labels one-to-one by intersection over union.

    Parameters
    ----------
    predicted : (Y, X) ndarray of int
        Predicted labels, 0 = background; label values need not be sequential.
    truth : (Y, X) ndarray of int
        Ground-truth labels, same shape, 0 = background.
    iou_threshold : float
        A pair counts as a match when its IoU is >= this value, in (0, 1].
        At 0.5 or above a label can overlap at most one partner that much,
        so the matching is unique.

    Returns
    -------
    match : LabelMatch
        Pairs with their IoU, unmatched labels of both sides, and
        ``recall``, ``precision``, ``f1``, ``mean_iou`` properties.

    Raises
    ------
    TypeError
        If either input is not an integer numpy array.
    ValueError
        If shapes differ, an input is not 2D or holds negative labels, or
        `iou_threshold` is outside (0, 1].

    Notes
    -----
    Overlaps come from one contingency table (``np.unique`` over label pairs),
    so cost grows with pixels, not with labels squared. The pairing maximises
    the summed IoU of pairs above the threshold (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``), which for thresholds below 0.5
    is the standard one-to-one assignment used for instance segmentation.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((8, 8), np.uint32); truth[:4, :4] = 1; truth[4:, 4:] = 2
    >>> pred = np.zeros((8, 8), np.uint32); pred[:4, :3] = 7
    >>> m = match_labels(pred, truth)
    >>> m.pairs, m.recall, m.precision
    ([(7, 1, 0.75)], 0.5, 1.0)
    """
    _check_labels_2d(predicted, "predicted")
    _check_labels_2d(truth, "truth")
    _check_same_shape(predicted, truth, "predicted", "truth")
    iou_threshold = _check_positive(iou_threshold, "iou_threshold")
    if iou_threshold > 1:
        raise ValueError(f"`iou_threshold` must be in (0, 1]; got {iou_threshold}")

    pred_ids, pred_area = np.unique(predicted, return_counts=True)
    truth_ids, truth_area = np.unique(truth, return_counts=True)
    pred_area = dict(zip(pred_ids.tolist(), pred_area.tolist()))
    truth_area = dict(zip(truth_ids.tolist(), truth_area.tolist()))
    pred_ids = [int(p) for p in pred_ids if p != 0]
    truth_ids = [int(t) for t in truth_ids if t != 0]

    both = (predicted != 0) & (truth != 0)
    pairs: list[tuple[int, int, float]] = []
    if both.any():
        base = int(truth.max()) + 1
        keys = predicted[both].astype(np.int64) * base + truth[both].astype(np.int64)
        keys, inter = np.unique(keys, return_counts=True)
        p_lab, t_lab = keys // base, keys % base
        union = np.array(
            [pred_area[p] + truth_area[t] for p, t in zip(p_lab.tolist(), t_lab.tolist())]
        )
        iou = inter / (union - inter)
        ok = iou >= iou_threshold
        p_lab, t_lab, iou = p_lab[ok], t_lab[ok], iou[ok]
        if iou.size:
            p_index = {p: i for i, p in enumerate(np.unique(p_lab).tolist())}
            t_index = {t: i for i, t in enumerate(np.unique(t_lab).tolist())}
            table = np.zeros((len(p_index), len(t_index)))
            rows = [p_index[p] for p in p_lab.tolist()]
            cols = [t_index[t] for t in t_lab.tolist()]
            table[rows, cols] = iou
            r, c = optimize.linear_sum_assignment(table, maximize=True)
            p_of, t_of = list(p_index), list(t_index)
            pairs = sorted(
                ((p_of[i], t_of[j], float(table[i, j])) for i, j in zip(r, c) if table[i, j] > 0),
                key=lambda pair: pair[1],
            )

    matched_p = {p for p, _, _ in pairs}
    matched_t = {t for _, t, _ in pairs}
    return LabelMatch(
        pairs=pairs,
        unmatched_predicted=[p for p in pred_ids if p not in matched_p],
        unmatched_truth=[t for t in truth_ids if t not in matched_t],
        iou_threshold=iou_threshold,
        n_predicted=len(pred_ids),
        n_truth=len(truth_ids),
    )
