"""The calibrated vote of one-vs-all members (scikit-learn's multinomial regression on their logits)."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from ames_batch.nn._combiner import _logits, check_combiner, combine, fit_combiner


def _shy_members(rng, n):
    """Sigmoids of 4 ordinal members; the middle ones are right but rarely the most confident."""
    y = rng.integers(0, 4, n)
    level = np.array([0.85, 0.45, 0.40, 0.85])  # members 1 and 2 answer timidly when right
    probs = np.where(np.eye(4)[y] > 0, level, 0.0)
    # an ordinal neighbour's member half-fires too (the middle classes differ only in degree)
    probs += 0.5 * np.eye(4)[np.clip(y + rng.choice([-1, 1], n), 0, 3)]
    return np.clip(probs + rng.normal(0, 0.05, probs.shape), 0.01, 0.99), y


def test_combiner_recovers_timid_middle_members_on_held_out_cells():
    rng = np.random.default_rng(3)
    probs, y = _shy_members(rng, 400)
    comb = fit_combiner(probs[:200], y[:200])
    argmax = np.mean(probs[200:].argmax(1) == y[200:])
    combined = np.mean(combine(probs[200:], comb).argmax(1) == y[200:])
    assert argmax < 0.75 and combined > argmax + 0.15, (argmax, combined)


def test_combine_is_the_regressions_predict_proba():
    rng = np.random.default_rng(4)
    probs, y = _shy_members(rng, 120)
    comb = fit_combiner(probs, y, c=0.5)
    reference = LogisticRegression(C=0.5, max_iter=2000).fit(_logits(probs), y)
    out = combine(probs, comb)
    assert out.dtype == np.float32 and np.allclose(out.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out, reference.predict_proba(_logits(probs)), atol=1e-6)


def test_saturated_sigmoids_stay_finite():
    probs = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 1.0]], np.float32)
    comb = {"coef": np.eye(3).tolist(), "intercept": [0.0, 0.0, 0.0]}
    out = combine(probs, comb)
    assert np.isfinite(out).all() and out[0].argmax() == 0


def test_a_class_without_validation_cells_gives_no_combiner():
    probs = np.random.default_rng(5).random((20, 3))
    assert fit_combiner(probs, np.arange(20) % 2) is None  # class 2 never seen


@pytest.mark.parametrize("bad, match", [
    ({"coef": [[1.0, 0.0]], "intercept": [0.0, 0.0]}, "coef 2x2"),
    ({"coef": [[1.0, 0.0], [0.0, float("nan")]], "intercept": [0.0, 0.0]}, "non-finite"),
    ({"intercept": [0.0, 0.0]}, "must hold"),
])
def test_bad_combiners_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        check_combiner(bad, 2, "source")


def test_fit_needs_two_or_more_members():
    with pytest.raises(ValueError, match=r"\(N, K >= 2\)"):
        fit_combiner(np.zeros((4, 1)), np.zeros(4, int))
