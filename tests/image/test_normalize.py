import numpy as np
import pytest

from ames_batch.image import normalize_percentile, percentile


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_percentiles_map_to_zero_and_one(rng, dtype):
    image = rng.integers(0, 200, size=(40, 40)).astype(dtype)
    out = normalize_percentile(image, low=2, high=98, clip=False)
    lo, hi = np.percentile(image.astype(np.float64), [2, 98])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (image - lo) / (hi - lo), rtol=1e-5, atol=1e-6)


def test_mask_sets_the_scale_and_clip_bounds(rng):
    image = np.zeros((32, 32), np.float32)
    image[:, :16] = rng.uniform(10, 20, size=(32, 16))  # the cell
    image[:, 16:] = 1000  # a bright neighbour outside the mask
    mask = np.zeros_like(image, bool)
    mask[:, :16] = True
    out = normalize_percentile(image, low=0, high=100, mask=mask)
    assert out[mask].min() == 0 and out[mask].max() == pytest.approx(1)
    assert np.all(out[~mask] == 1.0)  # clipped, not scaled by the neighbour
    unclipped = normalize_percentile(image, low=0, high=100, mask=mask, clip=False)
    assert unclipped[~mask].min() > 50


def test_flat_image_gives_zeros_and_empty_mask_uses_all():
    np.testing.assert_array_equal(normalize_percentile(np.full((4, 4), 3.0)), 0)
    image = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(
        normalize_percentile(image, low=0, high=100, mask=np.zeros((4, 4), bool)), image / 15
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"low": 50, "high": 10}, ValueError, "low"),
        ({"high": 101}, ValueError, "high"),
        ({"mask": np.ones((3, 3), bool)}, ValueError, "shape"),
        ({"mask": np.ones((4, 4), np.uint8)}, ValueError, "bool"),
    ],
)
def test_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        normalize_percentile(np.zeros((4, 4)), **kwargs)


def test_rejects_non_numpy():
    with pytest.raises(TypeError, match="numpy"):
        normalize_percentile([[1, 2]])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int32])
def test_percentile_equals_numpys(dtype, rng):
    values = rng.integers(0, 250 if dtype == np.uint8 else 4000, size=(3, 101, 37)).astype(dtype)
    for q in (0, 0.5, 25, 50, 99.8, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12, abs=1e-12)
    assert percentile(np.array([7], np.uint16), 25) == 7.0
    with pytest.raises(ValueError, match="empty"):
        percentile(np.array([], np.uint16), 25)
