"""`clipped_pixels`: a pile-up at the top of the range, whatever the detector's limit."""

import numpy as np
import pytest

from ames_batch.image import clipped_pixels


def _cell_like(rng, shape=(128, 128)):
    """Smooth bright structure over a dim background, with camera noise (no two pixels need share the top)."""
    y, x = np.mgrid[:shape[0], :shape[1]]
    stripes = 0.5 + 0.5 * np.cos(2 * np.pi * x / 11.0)
    blob = np.exp(-((y - 64) ** 2 + (x - 64) ** 2) / (2 * 30.0 ** 2))
    return 200 + 3000 * stripes * blob + rng.normal(0, 20, shape)


@pytest.mark.parametrize("dtype,limit", [(np.uint16, 65535), (np.uint16, 4095), (np.uint8, 255), (np.float32, None)])
def test_a_clipped_top_is_found_exactly_whatever_the_limit(rng, dtype, limit):
    raw = _cell_like(rng)
    level = np.percentile(raw, 95)
    if limit is not None:  # a detector whose limit sits at the 95th percentile of what it saw
        raw = raw * (limit / level)
        level = limit
    clipped = np.minimum(raw, level)
    image = np.rint(clipped).astype(dtype) if limit is not None else clipped.astype(dtype)
    found = clipped_pixels(image)
    assert found is not None and found.dtype == bool and found.shape == image.shape
    np.testing.assert_array_equal(found, image == image.max())
    assert found.mean() == pytest.approx(0.05, abs=0.005)


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8, np.float32])
def test_an_image_that_tails_off_is_not_clipped(rng, dtype):
    raw = _cell_like(rng)
    image = (np.rint(raw * 250 / raw.max()) if dtype == np.uint8 else raw).astype(dtype)
    assert clipped_pixels(image) is None


def test_a_dim_integer_image_with_ties_at_its_top_is_not_clipped(rng):
    # photon counts: the top value is shared by a few pixels, the one below by more
    image = rng.poisson(3.0, (256, 256)).astype(np.uint16)
    assert np.count_nonzero(image == image.max()) >= 1
    assert clipped_pixels(image) is None
    # the same counts behind a 5-count limit: 18 % of the pixels pile up there, 17 % hold 4
    assert clipped_pixels(np.minimum(image, 5)) is not None
    # a limit of 6 clips 8 % of the pixels, fewer than hold 5: not seen (the function's Notes)
    assert clipped_pixels(np.minimum(image, 6)) is None
