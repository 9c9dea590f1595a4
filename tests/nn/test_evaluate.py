"""Evaluation metrics against hand-counted truth; calibration; report files and Table-1 layout."""

import numpy as np
import pytest

from ames_batch.nn._evaluate import calibration, evaluate_ratings
from ames_batch.nn._report import plot_calibration, plot_confusion, plot_history, summary_markdown

CLASSES = {"sarcomerisation": ["1", "2", "3", "4"], "source": ["adult", "neonatal", "ipsc"]}


def _onehot(names, order):
    p = np.zeros((len(names), len(order)))
    p[np.arange(len(names)), [order.index(n) for n in names]] = 1.0
    return p


def test_metrics_match_hand_counts():
    truth = ["adult", "adult", "adult", "neonatal", "ipsc", "ipsc"]
    pred = ["adult", "adult", "ipsc", "neonatal", "ipsc", "adult"]
    r = evaluate_ratings({"source": truth}, {"source": _onehot(pred, CLASSES["source"])}, CLASSES)["source"]
    assert r["accuracy"] == pytest.approx(4 / 6)
    # adult: tp 2, fp 1, fn 1 -> p = r = 2/3; neonatal: 1/1; ipsc: tp 1, fp 1, fn 1 -> 1/2
    assert r["per_class"]["adult"]["precision"] == pytest.approx(2 / 3)
    assert r["per_class"]["adult"]["recall"] == pytest.approx(2 / 3)
    assert r["per_class"]["ipsc"]["recall"] == pytest.approx(1 / 2)
    f1 = {"adult": 2 / 3, "neonatal": 1.0, "ipsc": 0.5}
    support = {"adult": 3, "neonatal": 1, "ipsc": 2}
    assert r["weighted_f1"] == pytest.approx(sum(f1[c] * support[c] for c in f1) / 6)
    assert r["confusion_matrix"] == [[2, 0, 1], [0, 1, 0], [1, 0, 1]]  # rows true, cols predicted
    assert r["n_cells"] == 6


def test_argmax_of_soft_probabilities():
    p = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]])
    r = evaluate_ratings({"sarcomerisation": ["4", "2"]}, {"sarcomerisation": p}, CLASSES)
    assert r["sarcomerisation"]["accuracy"] == 0.5
    assert r["sarcomerisation"]["per_class"]["3"]["support"] == 0


def test_calibration_matches_hand_counts():
    # confidences 0.95 (right, wrong, right, right), 0.55 (right, wrong), 0.4 (wrong): bins (0.9, 1],
    # (0.5, 0.6], (0.3, 0.4]
    p = np.array([[0.95, 0.05, 0], [0.95, 0.05, 0], [0.05, 0.95, 0], [0, 0.05, 0.95],
                  [0.55, 0.45, 0], [0.45, 0.55, 0], [0.4, 0.3, 0.3]])
    truth = np.array([0, 1, 1, 2, 0, 0, 2])
    c = calibration(truth, p)
    assert [(b["from"], b["to"], b["n_cells"]) for b in c["bins"]] == [(0.3, 0.4, 1), (0.5, 0.6, 2), (0.9, 1.0, 4)]
    assert [b["accuracy"] for b in c["bins"]] == [0.0, 0.5, 0.75]
    assert c["mean_confidence"] == pytest.approx((4 * 0.95 + 2 * 0.55 + 0.4) / 7)
    assert c["ece"] == pytest.approx((1 * 0.4 + 2 * 0.05 + 4 * 0.2) / 7)
    true_p = [0.95, 0.05, 0.95, 0.95, 0.55, 0.45, 0.3]
    assert c["log_loss"] == pytest.approx(-np.mean(np.log(true_p)))


def test_calibration_tells_overconfidence_from_honest_doubt(rng):
    truth = rng.integers(0, 2, 2000)
    coin = rng.random(2000) < 0.5  # right half the time
    pred = np.where(coin, truth, 1 - truth)
    honest = np.full((2000, 2), 0.5)
    honest[np.arange(2000), pred] += 1e-9  # the tie broken towards the prediction
    sure = np.full((2000, 2), 0.01)
    sure[np.arange(2000), pred] = 0.99
    assert calibration(truth, honest)["ece"] < 0.05
    assert calibration(truth, sure)["ece"] == pytest.approx(0.99 - coin.mean())
    perfect = calibration(truth, np.eye(2)[truth])
    assert perfect["ece"] == 0.0 and perfect["log_loss"] < 1e-12 and perfect["mean_confidence"] == 1.0
    assert np.isnan(calibration(np.zeros(0, int), np.zeros((0, 2)))["ece"])


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        evaluate_ratings({"source": ["adult"]}, {"source": np.ones((1, 2))}, CLASSES)
    with pytest.raises(ValueError, match="not model classes"):
        evaluate_ratings({"source": ["horse"]}, {"source": np.ones((1, 3))}, CLASSES)


def test_report_files_and_table(tmp_path):
    truth = ["1", "2", "3", "4"] * 3
    r = evaluate_ratings({"sarcomerisation": truth},
                         {"sarcomerisation": _onehot(truth, CLASSES["sarcomerisation"])}, CLASSES)
    png = plot_confusion(r, tmp_path / "cm.png")[0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hist = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "sarcomerisation_accuracy": [0.3, 0.6]}
    assert plot_history(hist, tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert plot_history({}, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
    assert plot_calibration(r, tmp_path / "cal.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = {"source": {"calibration": calibration(np.zeros(0, int), np.zeros((0, 3)))}}  # no cells scored
    assert plot_calibration(empty, tmp_path / "none2.png") is None and not (tmp_path / "none2.png").exists()
    md = summary_markdown({"ours": r})
    row = [line for line in md.splitlines() if line.startswith("| ours")][0]
    assert row.split("|")[2].strip() == "100.00" and row.split("|")[3].strip() == "–"
    assert "| AMES 2D singular (paper) | 68.68 | 57.95 | 74.85 | 67.33 | 57.96 | 74.81 |" in md
    # one-hot and right: mean probability 100 %, accuracy 100 %, no calibration error
    assert "| ours | sarcomerisation | 100.0 | 100.0 | 0.0 | 12 |" in md
