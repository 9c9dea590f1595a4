"""Augmentation: keeps shape and scale, changes training inputs, never validation/test ones."""

import numpy as np
import pytest

from ames_batch.nn._augment import AugmentSettings, augment_cell
from ames_batch.nn._dataset import CellSequence, class_weights
from ames_batch.nn._split import split_cells


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def _stripes(size=32, period_px=6):
    """A square cell with horizontal stripes of a known period (planted truth)."""
    yy = np.arange(size)[:, None] * np.ones((1, size))
    img = (0.5 + 0.5 * np.cos(2 * np.pi * yy / period_px)).astype(np.float32)
    img[:4] = img[-4:] = 0
    img[:, :4] = img[:, -4:] = 0
    return img[..., None]


def test_flips_and_turns_only_permute_pixels(rng):
    img = rng.random((16, 16, 1)).astype(np.float32)
    s = AugmentSettings(max_rotation_deg=0, gain=0, offset=0)
    for _ in range(8):
        out = augment_cell(img, rng, s)
        assert out.shape == img.shape and out.dtype == np.float32
        np.testing.assert_array_equal(np.sort(out.ravel()), np.sort(img.ravel()))


def test_small_rotation_keeps_canvas_and_period(rng):
    img = _stripes()
    out = augment_cell(img, rng, AugmentSettings(flip=False, rot90=False, max_rotation_deg=10, gain=0, offset=0))
    assert out.shape == img.shape
    # the stripe period (6 px) survives: the dominant spatial frequency is unchanged (±1 bin of 32)
    def peak(a):
        spec = np.abs(np.fft.fft2(a[..., 0] - a[..., 0].mean()))
        spec[0, 0] = 0
        fy, fx = np.unravel_index(np.argmax(spec), spec.shape)
        return np.hypot(min(fy, 32 - fy), min(fx, 32 - fx))
    assert peak(out) == pytest.approx(peak(img), abs=1.0)


def test_input_is_not_modified(rng):
    img = _stripes()
    before = img.copy()
    augment_cell(img, rng)
    np.testing.assert_array_equal(img, before)


def test_3d_input_turns_in_plane_only(rng):
    vol = rng.random((4, 12, 12, 1)).astype(np.float32)
    out = augment_cell(vol, rng, AugmentSettings(max_rotation_deg=0, gain=0, offset=0), spatial_axes=(1, 2))
    # each z slice is a permutation of the same slice: z is never mixed
    for z in range(4):
        np.testing.assert_array_equal(np.sort(out[z].ravel()), np.sort(vol[z].ravel()))


def test_bad_arguments():
    with pytest.raises(TypeError, match="image"):
        augment_cell([[0.0]], np.random.default_rng(0))
    with pytest.raises(ValueError, match="spatial_axes"):
        augment_cell(np.zeros((4, 4, 1), np.float32), np.random.default_rng(0), spatial_axes=(0, 0))
    with pytest.raises(ValueError, match="gain"):
        AugmentSettings(gain=-1)
    with pytest.raises(ValueError, match="max_gamma"):
        AugmentSettings(max_gamma=0.5)
    with pytest.raises(ValueError, match="min_saturation"):
        AugmentSettings(min_saturation=0)
    with pytest.raises(ValueError, match="max_noise"):
        AugmentSettings(max_noise=float("nan"))


INTENSITY_ONLY = dict(flip=False, rot90=False, max_rotation_deg=0.0, gain=0.0, offset=0.0)


def test_gamma_bends_intensities_both_ways_and_keeps_their_order(rng):
    ramp = np.zeros((1, 12, 1), np.float32)
    ramp[0, 1:11, 0] = np.linspace(0.1, 1.0, 10)  # pixel 0 and 11: masked background
    settings = AugmentSettings(max_gamma=2.0, **INTENSITY_ONLY)
    mids = []
    for _ in range(40):
        out = augment_cell(ramp, rng, settings)[0, :, 0]
        assert out[0] == out[11] == 0 and out[10] == pytest.approx(1.0)
        assert np.all(np.diff(out[1:11]) > 0)
        mids.append(out[5] / ramp[0, 5, 0])
    # log-uniform in [1/2, 2]: 0.5 ** 2 = 0.25 ... 0.5 ** 0.5 = 0.71 around the original 0.5
    assert min(mids) < 0.8 and max(mids) > 1.2 and min(mids) >= 0.5 - 1e-6 and max(mids) <= 1.42


def test_saturation_flattens_the_top_and_rescales(rng):
    cell = _stripes()
    out = augment_cell(cell, rng, AugmentSettings(min_saturation=0.5, **INTENSITY_ONLY))
    inside = cell > 0
    assert out[~inside].max() == 0 and out.max() == pytest.approx(1.0)
    top = cell[inside] >= cell[inside].max() * 0.999
    assert np.all(out[inside][top] == pytest.approx(1.0))
    assert np.mean(out[inside] >= 0.999) > np.mean(cell[inside] >= 0.999)  # more pixels at the top


def test_noise_stays_inside_the_cell_and_in_range(rng):
    cell = _stripes()
    outs = [augment_cell(cell, rng, AugmentSettings(max_noise=0.2, **INTENSITY_ONLY)) for _ in range(10)]
    inside = cell > 0
    for out in outs:
        assert out[~inside].max() == 0 and out.min() >= 0 and out.max() <= 1
    spread = [np.std(out[inside] - cell[inside]) for out in outs]
    assert max(spread) > 0.05 and min(spread) < max(spread)  # sigma drawn per call

