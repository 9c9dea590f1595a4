import math

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from ames_batch.image import WORKING_PIXEL_SIZE_UM, resample, to_working_scale, upsample_labels

from test_resample import dominant_period, stripes


@pytest.mark.parametrize("pixel_size_um", [0.04, 0.05, 0.08, 0.12])
def test_period_in_um_and_pixel_size_are_kept(pixel_size_um):
    # a 1.8 µm period imaged at four pixel sizes measures 1.8 µm at the working pixel size
    n = int(round(40.0 / pixel_size_um))
    image = stripes((8, n), pixel_size_um, 1.8)
    out, px = to_working_scale(image, pixel_size_um)
    assert px == WORKING_PIXEL_SIZE_UM == 0.16
    assert out.dtype == np.float32 and out.shape == (max(1, round(8 * pixel_size_um / px)),
                                                      round(n * pixel_size_um / px))
    # periodogram resolution over 250 samples: well under 1 %
    assert dominant_period(out[out.shape[0] // 2]) * px == pytest.approx(1.8, rel=0.01)


def test_same_numbers_as_resample(rng):
    image = rng.integers(0, 4000, size=(90, 70), dtype=np.uint16)
    out, px = to_working_scale(image, 0.05)
    ref = resample(image, axes="yx", scale_um={"y": 0.05, "x": 0.05},
                   target_um={"y": px, "x": px})
    # the same filter by another order of float32 sums: equal to a few units in the last place
    # (exact with some NumPy builds, 2e-7 apart with others)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=0)


def test_detail_finer_than_the_working_pixels_is_damped_before_sampling():
    # 0.2 µm stripes are under the 0.32 µm Nyquist period of 0.16 µm pixels: plain
    # subsampling folds them into a false coarse pattern at full amplitude; the Gaussian
    # (sigma 1.5 px = 0.06 µm) lets through exp(-2 pi^2 sigma^2 / period^2) = 0.17 of it
    image = stripes((400, 400), 0.04, 0.2, angle_rad=0.3)
    out, _ = to_working_scale(image, 0.04)
    naive = image[1::4, 1::4]
    assert naive.std() > 30  # the fold is there to be made (amplitude 50: std 35)
    assert out.std() < 0.2 * naive.std()
    assert out.mean() == pytest.approx(100, abs=0.5)


@pytest.mark.parametrize("pixel_size_um", [0.16, 0.2, 0.5])
def test_never_upsamples(rng, pixel_size_um):
    image = rng.random((20, 30)).astype(np.float64)
    out, px = to_working_scale(image, pixel_size_um)
    assert out is image and px == pixel_size_um


def test_constant_field_stays_constant():
    out, _ = to_working_scale(np.full((64, 48), 1234, np.uint16), 0.04)
    np.testing.assert_allclose(out, 1234, rtol=1e-6)


@pytest.mark.parametrize("chunks", [(37, 50), (64, 64)])
def test_dask_stays_lazy_and_equals_numpy(rng, chunks):
    image = rng.integers(0, 4000, size=(150, 130), dtype=np.uint16)
    eager, px = to_working_scale(image, 0.05)
    lazy, px_lazy = to_working_scale(da.from_array(image, chunks=chunks), 0.05)
    assert isinstance(lazy, da.Array) and px_lazy == px
    assert lazy.numblocks[0] > 1 and lazy.numblocks[1] > 1  # seams exercised
    assert lazy.shape == eager.shape and lazy.dtype == np.float32
    # each block reads its own input region: equal up to float32 rounding of its offsets
    np.testing.assert_allclose(lazy.compute(), eager, rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("backing", ["numpy", "dask"])
def test_dataarray_takes_and_gives_its_scale(rng, backing):
    image = rng.random((120, 100)).astype(np.float32)
    data = image if backing == "numpy" else da.from_array(image, chunks=50)
    mip = xr.DataArray(data, dims=("y", "x"), name="mip",
                       attrs={"scale_um": {"z": 0.125, "y": 0.08, "x": 0.08}, "channel": "actinin"})
    out, px = to_working_scale(mip)
    assert isinstance(out, xr.DataArray) and out.dims == ("y", "x") and px == 0.16
    assert out.attrs["scale_um"] == {"z": 0.125, "y": 0.16, "x": 0.16}
    assert out.attrs["channel"] == "actinin" and mip.attrs["scale_um"]["x"] == 0.08
    assert isinstance(out.data, da.Array) == (backing == "dask")
    np.testing.assert_allclose(np.asarray(out), to_working_scale(image, 0.08)[0], rtol=1e-6, atol=1e-6)


def test_bad_input_is_refused():
    image = np.zeros((10, 10), np.float32)
    with pytest.raises(ValueError, match="pixel_size_um"):
        to_working_scale(image)
    with pytest.raises(ValueError, match="> 0"):
        to_working_scale(image, 0.0)
    with pytest.raises(TypeError, match="pixel_size_um"):
        to_working_scale(image, "0.04")
    with pytest.raises(ValueError, match="2-D"):
        to_working_scale(np.zeros((2, 10, 10)), 0.04)
    with pytest.raises(ValueError, match="real"):
        to_working_scale(np.zeros((10, 10), complex), 0.04)
    with pytest.raises(TypeError, match="mip"):
        to_working_scale([[1.0, 2.0]], 0.04)
    with pytest.raises(ValueError, match="dims"):
        to_working_scale(xr.DataArray(image, dims=("x", "y")), 0.04)
    with pytest.raises(ValueError, match="square"):
        to_working_scale(xr.DataArray(image, dims=("y", "x"), attrs={"scale_um": {"y": 0.04, "x": 0.05}}))
    with pytest.raises(ValueError, match="working_pixel_size_um"):
        to_working_scale(image, 0.04, working_pixel_size_um=-1.0)


def test_upsample_labels_is_the_inverse_sampling():
    # integer ratio: every working pixel becomes a 4 x 4 block
    labels = np.arange(12, dtype=np.uint32).reshape(3, 4)
    up = upsample_labels(labels, (12, 16), pixel_size_um=0.04, labels_pixel_size_um=0.16)
    np.testing.assert_array_equal(up, np.repeat(np.repeat(labels, 4, axis=0), 4, axis=1))
    assert up.dtype == np.uint32


@pytest.mark.parametrize("pixel_size_um", [0.04, 0.05, 0.12])
def test_disc_survives_the_round_trip(pixel_size_um):
    # a 20 µm disc: mask -> working-scale MIP grid (nearest) -> back: only its rim may move
    n = int(round(30 / pixel_size_um))
    yy, xx = (np.mgrid[:n, :n] + 0.5) * pixel_size_um
    disc = (((yy - 15) ** 2 + (xx - 15) ** 2) < 10 ** 2).astype(np.uint16)
    small, px = to_working_scale(disc.astype(np.float32), pixel_size_um)
    labels = (small > 0.5).astype(np.uint16)
    back = upsample_labels(labels, disc.shape, pixel_size_um=pixel_size_um, labels_pixel_size_um=px)
    assert back.shape == disc.shape and back.dtype == np.uint16
    wrong = back != disc
    # wrong pixels lie within one working pixel of the true outline
    r = np.hypot(yy - 15, xx - 15)
    assert np.all(np.abs(r[wrong] - 10) <= px)
    assert wrong.mean() < 2 * math.pi * 10 * px / 30 ** 2


def test_upsample_labels_refuses_bad_input():
    labels = np.zeros((4, 4), np.uint32)
    with pytest.raises(ValueError, match="finer"):
        upsample_labels(labels, (2, 2), pixel_size_um=0.16, labels_pixel_size_um=0.04)
    with pytest.raises(ValueError, match="integer"):
        upsample_labels(labels.astype(float), (8, 8), pixel_size_um=0.08, labels_pixel_size_um=0.16)
    with pytest.raises(ValueError, match="shape"):
        upsample_labels(labels, (0, 8), pixel_size_um=0.08, labels_pixel_size_um=0.16)
    with pytest.raises(TypeError, match="labels"):
        upsample_labels([[1]], (8, 8), pixel_size_um=0.08, labels_pixel_size_um=0.16)
