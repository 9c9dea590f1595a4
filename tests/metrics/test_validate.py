"""Checks up front: every public metric rejects bad input with a message naming the argument."""

import numpy as np
import pytest

from ames_batch.metrics import (
    cell_metrics,
    cell_shape,
    organised_fraction,
    organised_map,
    orientation_field,
    sarcomere_length,
    zdisc_density,
    zdisc_orientation,
)

MASKED = [cell_metrics, sarcomere_length, zdisc_density, zdisc_orientation, organised_fraction,
          organised_map]


@pytest.fixture
def good():
    return np.zeros((32, 32), np.float32), np.ones((32, 32), bool)


@pytest.mark.parametrize("func", MASKED)
def test_shape_mismatch(func, good):
    mip, _ = good
    with pytest.raises(ValueError, match=r"`mask` must match `mip` shape \(32, 32\); got \(32, 16\)"):
        func(mip, np.ones((32, 16), bool), 0.1)


@pytest.mark.parametrize("func", MASKED)
def test_empty_mask(func, good):
    mip, _ = good
    with pytest.raises(ValueError, match="`mask` is empty"):
        func(mip, np.zeros((32, 32), bool), 0.1)


@pytest.mark.parametrize("func", MASKED)
def test_non_binary_mask(func, good):
    mip, _ = good
    with pytest.raises(ValueError, match="only 0/1"):
        func(mip, np.full((32, 32), 2, np.uint8), 0.1)


@pytest.mark.parametrize("func", MASKED)
@pytest.mark.parametrize("px", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_pixel_size(func, good, px):
    with pytest.raises(ValueError, match="pixel_size_um"):
        func(*good, px)


@pytest.mark.parametrize("func", MASKED)
def test_pixel_size_must_be_a_number(func, good):
    with pytest.raises(TypeError, match="pixel_size_um"):
        func(*good, "0.1")


@pytest.mark.parametrize("func", MASKED)
def test_nan_in_mip(func, good):
    mip, mask = good
    mip = mip.copy()
    mip[3, 4] = np.nan
    with pytest.raises(ValueError, match="`mip` holds NaN"):
        func(mip, mask, 0.1)


@pytest.mark.parametrize("func", MASKED)
def test_wrong_ndim(func, good):
    with pytest.raises(ValueError, match="`mip` must be 2-D; got 3-D"):
        func(np.zeros((2, 32, 32)), np.ones((2, 32, 32), bool), 0.1)


def test_not_an_array():
    with pytest.raises(TypeError, match="`mip` must be a numpy array"):
        cell_metrics([[1.0, 2.0]], np.ones((1, 2), bool), 0.1)
    with pytest.raises(TypeError, match="`mask` must be a numpy array"):
        cell_metrics(np.ones((1, 2)), [[True, True]], 0.1)


def test_int_mask_of_zeros_and_ones_is_accepted(good):
    mip, mask = good
    assert cell_shape(mask.astype(np.uint8), 0.1)["area_um2"] == pytest.approx(32 * 32 * 0.01)


def test_other_options_are_checked(good):
    with pytest.raises(ValueError, match="sigma_um"):
        orientation_field(good[0], 0.1, sigma_um=0.0)
    with pytest.raises(ValueError, match="min_confidence"):
        sarcomere_length(*good, 0.1, min_confidence=1.0)
    with pytest.raises(ValueError, match="neighbourhood_um"):
        organised_map(*good, 0.1, neighbourhood_um=-1.0)
    with pytest.raises(ValueError, match="length_um"):
        organised_map(*good, 0.1, length_um=0.0)
    with pytest.raises(ValueError, match="min_score"):
        organised_map(*good, 0.1, min_score=0.0)


def test_organised_out_receives_the_map_behind_the_fraction():
    from ames_batch.metrics import cell_metrics, organised_map

    y, x = np.mgrid[:120, :160]
    mip = np.where(x < 80, np.exp(-((y % 12) - 6.0) ** 2 / 2.0), 0).astype(np.float32)
    mip += np.random.default_rng(0).normal(0, 0.1, mip.shape).astype(np.float32)
    mask = np.ones(mip.shape, bool)
    out = np.zeros(mip.shape, bool)
    m = cell_metrics(mip, mask, 0.15, organised_out=out)
    np.testing.assert_array_equal(out, organised_map(mip, mask, 0.15)[0])
    assert out.mean() == pytest.approx(m["organised_fraction"]) and 0.3 < out.mean() < 0.7
    with pytest.raises(ValueError, match="organised_out"):
        cell_metrics(mip, mask, 0.15, organised_out=np.zeros((3, 3), bool))
