"""The fixed striation filter bank at the front of models tuned to a pixel size."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from ames_batch.nn import build_model
from ames_batch.nn._architectures import STRIATION_ORIENTATIONS, STRIATION_PERIODS_UM, striation_bank


def _stripes(period_um, angle_deg, um_per_px, size=96):
    """Cosine stripes whose wave vector points at `angle_deg` (from x towards y)."""
    yy, xx = np.mgrid[:size, :size] * um_per_px
    t = np.deg2rad(angle_deg)
    return np.cos(2 * np.pi * (xx * np.cos(t) + yy * np.sin(t)) / period_um)


def _energy(image, bank):
    return np.array([ndi.convolve(image, bank[:, :, 0, f])[24:-24, 24:-24].var() for f in range(bank.shape[-1])])


@pytest.mark.parametrize("um_per_px", [0.3, 0.4])
@pytest.mark.parametrize("orientation", [0, 2, 5])
def test_bank_answers_to_the_planted_stripe_direction(um_per_px, orientation):
    bank = striation_bank(um_per_px)
    angle = 180 * orientation / STRIATION_ORIENTATIONS
    energy = _energy(_stripes(1.9, angle, um_per_px), bank)
    per_orientation = energy.reshape(len(STRIATION_PERIODS_UM), STRIATION_ORIENTATIONS, 2).sum(axis=(0, 2))
    assert int(np.argmax(per_orientation)) == orientation
    assert per_orientation[orientation] > 5 * np.median(per_orientation)


def test_bank_ignores_flat_stain_and_is_tuned_to_sarcomeres():
    bank = striation_bank(0.4)
    assert np.abs(bank.sum(axis=(0, 1))).max() < 1e-6  # zero mean: uniform stain gives nothing
    sarcomeres = _energy(_stripes(1.9, 30, 0.4), bank).max()
    coarse = _energy(_stripes(8.0, 30, 0.4), bank).max()  # cell-scale intensity ramps
    assert sarcomeres > 20 * coarse


def test_tuned_model_keeps_the_bank_fixed_and_names_its_layers():
    tasks = {"sarcomerisation": ["1", "2", "3", "4"], "directionality": ["1", "2", "3", "4"]}
    model = build_model("2d", input_shape=(96, 96), tasks=tasks, seed=1, um_per_px=0.4)
    front = model.get_layer("striation_filters")
    assert not front.trainable
    bank = striation_bank(0.4)
    np.testing.assert_array_equal(front.get_weights()[0], bank)
    # the amplitude maps are the half-wave rectified responses of both signs, in that order
    import keras
    from scipy.ndimage import correlate

    image = np.random.default_rng(0).random((96, 96), dtype=np.float32)
    amplitude = keras.Model(model.input, model.get_layer("striation_amplitude").output)(image[None, ..., None])
    amplitude = np.asarray(amplitude)[0]
    response = correlate(image.astype(np.float64), bank[:, :, 0, 3].astype(np.float64), mode="constant")
    inner = (slice(10, -10), slice(10, -10))
    np.testing.assert_allclose(amplitude[..., 3][inner], np.maximum(response, 0)[inner], atol=1e-5)
    np.testing.assert_allclose(amplitude[..., bank.shape[-1] + 3][inner], np.maximum(-response, 0)[inner], atol=1e-5)
    assert model.get_layer("last_conv") is not None
    assert model.get_layer("sarcomerisation_logits").units == 4
    ensemble = build_model("2d-ensemble", input_shape=(96, 96), tasks=tasks, seed=1, um_per_px=0.4)
    banks = [m.get_layer("striation_filters").get_weights()[0] for _, _, m in ensemble]
    assert all(np.array_equal(b, banks[0]) for b in banks)


def test_bad_pixel_size_is_refused():
    with pytest.raises(ValueError, match="um_per_px"):
        striation_bank(0.0)
