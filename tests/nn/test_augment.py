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


def test_class_weights_balance_totals():
    y = np.array([0] * 10 + [1] * 30 + [3] * 20)
    w = class_weights(y, 4)
    totals = np.bincount(y, weights=w[y], minlength=4)
    np.testing.assert_allclose(totals[[0, 1, 3]], 20.0, rtol=1e-6)
    assert w[2] == 0


def test_augmentation_touches_train_only(rng):
    """Validation and test batches are the stored inputs bit for bit; training batches differ."""
    n = 40
    inputs = rng.random((n, 16, 16, 1)).astype(np.float32)
    stored = inputs.copy()
    y = {"source": np.arange(n) % 2}
    split = split_cells([f"c{i}" for i in range(n)], y, seed=0)
    train = CellSequence(inputs, y, split.train, batch_size=8, augment=AugmentSettings(), shuffle=True, seed=0)
    for name in ("val", "test"):
        seq = CellSequence(inputs, y, split.indices(name), batch_size=8, augment=None)
        got = np.concatenate([seq[i][0] for i in range(len(seq))])
        np.testing.assert_array_equal(got, inputs[split.indices(name)])
    served = [train.batch_indices(i) for i in range(len(train))]
    assert set(np.concatenate(served)) == set(split.train)  # only training rows are served
    x0 = train[0][0]
    assert not np.allclose(x0, inputs[train.batch_indices(0)])
    train.on_epoch_end()
    train[0]
    np.testing.assert_array_equal(inputs, stored)  # augmenting never writes into the stored inputs
