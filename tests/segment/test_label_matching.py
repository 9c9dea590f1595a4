"""match_labels: planted overlaps with hand-computed IoU, brute-force reference, edge cases."""

import itertools

import numpy as np
import pytest

from ames_batch.segment import LabelMatch, match_labels


def _blank(shape=(20, 20)):
    return np.zeros(shape, np.uint32)


def test_identical_labels_with_other_ids_match_perfectly(rng):
    truth = rng.integers(0, 5, size=(30, 30)).astype(np.uint32)
    permutation = np.array([0, 40, 7, 12, 3], np.uint32)  # background stays 0
    m = match_labels(permutation[truth], truth)
    assert m.n_matched == 4 and m.recall == 1.0 and m.precision == 1.0 and m.f1 == 1.0
    assert sorted((p, t) for p, t, _ in m.pairs) == [(3, 4), (7, 2), (12, 3), (40, 1)]
    assert all(iou == 1.0 for *_, iou in m.pairs)
    assert m.unmatched_predicted == [] and m.unmatched_truth == []


def test_planted_overlaps_give_hand_computed_iou():
    truth, pred = _blank(), _blank()
    truth[0:10, 0:10] = 1  # 100 px
    pred[0:10, 2:10] = 5  # 80 px inside truth 1: IoU 80/100
    truth[12:20, 0:10] = 2  # 80 px
    pred[12:20, 6:16] = 6  # 80 px, 32 shared: IoU 32/128 = 0.25 -> no match at 0.5
    m = match_labels(pred, truth)
    assert m.pairs == [(5, 1, pytest.approx(0.8))]
    assert m.unmatched_predicted == [6] and m.unmatched_truth == [2]
    assert m.recall == 0.5 and m.precision == 0.5
    assert m.mean_iou == pytest.approx(0.8)
    loose = match_labels(pred, truth, iou_threshold=0.25)  # threshold is inclusive
    assert [(p, t) for p, t, _ in loose.pairs] == [(5, 1), (6, 2)]
    assert loose.pairs[1][2] == pytest.approx(0.25)


def test_one_prediction_over_two_cells_matches_at_most_one():
    truth, pred = _blank(), _blank()
    truth[:, :12] = 1  # 240 px
    truth[:, 12:] = 2  # 160 px
    pred[:, :] = 9  # IoU 0.6 with 1, 0.4 with 2
    m = match_labels(pred, truth)
    assert [(p, t) for p, t, _ in m.pairs] == [(9, 1)]
    assert m.unmatched_truth == [2] and m.recall == 0.5 and m.precision == 1.0


@pytest.mark.parametrize(
    ("pred_has", "truth_has", "recall", "precision"),
    [(False, False, 1.0, 1.0), (True, False, 1.0, 0.0), (False, True, 0.0, 1.0)],
)
def test_empty_images(pred_has, truth_has, recall, precision):
    pred, truth = _blank(), _blank()
    pred[2:6, 2:6] = 3 if pred_has else 0
    truth[10:14, 10:14] = 4 if truth_has else 0
    m = match_labels(pred, truth)
    assert m.n_matched == 0 and m.recall == recall and m.precision == precision
    assert m.unmatched_predicted == ([3] if pred_has else [])
    assert m.unmatched_truth == ([4] if truth_has else [])
    assert np.isnan(m.mean_iou)


def _brute_force_best_sum(pred, truth, threshold):
    """Largest summed IoU over every one-to-one pairing of pairs with IoU >= threshold."""
    p_ids = [int(p) for p in np.unique(pred) if p]
    t_ids = [int(t) for t in np.unique(truth) if t]
    iou = {}
    for p in p_ids:
        for t in t_ids:
            a, b = pred == p, truth == t
            value = (a & b).sum() / (a | b).sum()
            if value >= threshold:
                iou[p, t] = value
    best = 0.0
    for k in range(1, min(len(p_ids), len(t_ids)) + 1):
        for ps in itertools.combinations(p_ids, k):
            for ts in itertools.permutations(t_ids, k):
                if all((p, t) in iou for p, t in zip(ps, ts)):
                    best = max(best, sum(iou[p, t] for p, t in zip(ps, ts)))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_low_threshold_assignment_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    truth, pred = _blank((24, 24)), _blank((24, 24))
    for label in range(1, 5):  # overlapping random rectangles, later ones on top
        y, x = rng.integers(0, 16, 2)
        truth[y : y + rng.integers(5, 9), x : x + rng.integers(5, 9)] = label
        y, x = rng.integers(0, 16, 2)
        pred[y : y + rng.integers(5, 9), x : x + rng.integers(5, 9)] = label + 10
    m = match_labels(pred, truth, iou_threshold=0.1)
    assert sum(iou for *_, iou in m.pairs) == pytest.approx(_brute_force_best_sum(pred, truth, 0.1))
    assert len({p for p, _, _ in m.pairs}) == m.n_matched == len({t for _, t, _ in m.pairs})
    assert all(iou >= 0.1 for *_, iou in m.pairs)


def test_result_type_and_counts():
    truth, pred = _blank(), _blank()
    truth[:5, :5], truth[10:, 10:] = 1, 2
    pred[:5, :5] = 1
    m = match_labels(pred, truth)
    assert isinstance(m, LabelMatch)
    assert (m.n_predicted, m.n_truth, m.n_matched) == (1, 2, 1)
    assert m.f1 == pytest.approx(2 * 1 / (1 + 2))


def test_bad_inputs_raise():
    labels = _blank()
    with pytest.raises(ValueError, match=r"`predicted` must match `truth` shape \(20, 20\)"):
        match_labels(_blank((20, 21)), labels)
    with pytest.raises(TypeError, match="integer labels"):
        match_labels(labels.astype(np.float32), labels)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        match_labels(labels.tolist(), labels)
    with pytest.raises(ValueError, match="2D"):
        match_labels(labels[None], labels[None])
    with pytest.raises(ValueError, match=">= 0"):
        match_labels(labels.astype(np.int32) - 1, labels.astype(np.int32))
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="iou_threshold"):
            match_labels(labels, labels, iou_threshold=bad)
