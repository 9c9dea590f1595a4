"""Random detector changes for domain randomisation: each does what it says, and only that."""

import numpy as np
import pytest

from ames_batch.synth import DetectorChange, apply_detector_change, sample_detector_change


def _field():
    """A background of 100 counts and one 8 x 8 cell of 1100 with a single voxel of 600."""
    stack = np.full((3, 32, 32), 100, np.uint16)
    labels = np.zeros((32, 32), np.uint32)
    labels[4:12, 4:12] = 1
    stack[1, 4:12, 4:12] = 1100
    stack[1, 7, 7] = 600
    return stack, labels


def _apply(change, stack=None, labels=None, seed=0):
    s, lab = _field()
    return apply_detector_change(s if stack is None else stack, lab if labels is None else labels, change,
                                 pixel_size_um=0.16, rng=seed)


def test_gamma_bends_the_response_between_background_and_the_brightest_cell_voxels():
    out = _apply(DetectorChange(gamma=2.0))
    # halfway between the background (100) and the cell's top (1100) -> a quarter of the way
    assert out[1, 7, 7] == 350
    assert out[1, 5, 5] == 1100 and out[0, 0, 0] == 100
    assert _apply(DetectorChange(gamma=0.5))[1, 7, 7] == round(100 + 1000 * 0.5 ** 0.5)


def test_saturation_clips_the_cells_brightest_share():
    stack, labels = _field()
    stack[1, 4:12, 4:12] = np.arange(100, 164).reshape(8, 8) * 10  # a ramp of 64 distinct values
    out = _apply(DetectorChange(saturation_quantile=0.75), stack=stack)
    mip = out.max(axis=0)[labels > 0]
    assert (mip == mip.max()).sum() == pytest.approx(0.25 * 64, abs=1.5)
    assert np.array_equal(out.max(axis=0)[labels > 0][:40], stack.max(axis=0)[labels > 0][:40])  # below: untouched


def test_noise_is_in_units_of_the_cell_range():
    out = _apply(DetectorChange(noise=0.05)).astype(float)
    background = out[0, 16:, 16:]
    assert background.std() == pytest.approx(0.05 * 1000, rel=0.15)
    assert background.mean() == pytest.approx(100, abs=10)


def test_blur_is_lateral_only():
    stack = np.zeros((3, 33, 33), np.uint16)
    stack[1, 16, 16] = 10000
    labels = np.zeros((33, 33), np.uint32)
    labels[12:21, 12:21] = 1
    out = apply_detector_change(stack, labels, DetectorChange(blur_um=0.16), pixel_size_um=0.16, rng=0)
    assert out[0].max() == 0 and out[2].max() == 0  # nothing moved to other planes
    assert out[1, 16, 17] > 0 and out[1, 16, 16] < 10000


def test_the_same_seed_gives_the_same_counts_and_no_change_leaves_them_alone():
    change = DetectorChange(gamma=1.5, noise=0.05, blur_um=0.1, saturation_quantile=0.9)
    assert np.array_equal(_apply(change, seed=3), _apply(change, seed=3))
    assert not np.array_equal(_apply(change, seed=3), _apply(change, seed=4))
    assert np.array_equal(_apply(DetectorChange()), _field()[0])


def test_drawn_changes_cover_their_ranges():
    draws = [sample_detector_change(np.random.default_rng(i)) for i in range(400)]
    gammas = np.array([d.gamma for d in draws])
    assert gammas.min() >= 0.4 and gammas.max() <= 2.5 and (gammas < 0.6).any() and (gammas > 1.8).any()
    for share in (np.mean([d.blur_um > 0 for d in draws]), np.mean([d.noise > 0 for d in draws]),
                  np.mean([d.saturation_quantile < 1 for d in draws])):
        assert 0.4 < share < 0.6
    assert sample_detector_change(5) == sample_detector_change(5)


def test_bad_input_is_refused():
    stack, labels = _field()
    with pytest.raises(ValueError, match="no cell"):
        apply_detector_change(stack, np.zeros_like(labels), DetectorChange(), pixel_size_um=0.16, rng=0)
    with pytest.raises(ValueError, match="Z, Y, X"):
        apply_detector_change(stack[0], labels, DetectorChange(), pixel_size_um=0.16, rng=0)
