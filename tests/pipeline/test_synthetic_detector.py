"""A synthetic training cell behind a random detector: same truth and ratings, other counts."""

import numpy as np

from ames_batch.pipeline import synthetic_cell


def _cell(detector_rng=None):
    rng = np.random.default_rng(7)
    return synthetic_cell(5, "a", params_rng=rng, field_rng=rng, detector_rng=detector_rng)


def test_a_varied_detector_changes_the_measured_image_not_the_truth():
    plain, varied = _cell(), _cell(np.random.default_rng(1))
    assert plain.detector is None and varied.detector is not None
    assert varied.ratings == plain.ratings and varied.truth == plain.truth
    assert np.array_equal(varied.synthetic.stack, plain.synthetic.stack)  # the rendering itself is kept
    assert varied.field.stack.shape == plain.field.stack.shape
    assert not np.array_equal(varied.field.stack, plain.field.stack)
    assert varied.record.metrics["area_um2"] == plain.record.metrics["area_um2"]  # the same outline
    again = _cell(np.random.default_rng(1))
    assert again.detector == varied.detector and np.array_equal(again.field.stack, varied.field.stack)
