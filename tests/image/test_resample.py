import math

import numpy as np
import pytest

from ames_batch.image import antialias_sigma_px, axis_operator, resample, resample_frame


def dominant_period(profile: np.ndarray) -> float:
    """Period (samples) of the strongest sinusoid, by a fine periodogram scan (Hann window)."""
    p = np.asarray(profile, float) - np.mean(profile)
    p = p * np.hanning(len(p))
    x = np.arange(len(p))
    periods = np.linspace(2.2, 30, 5000)
    power = [abs(np.sum(p * np.exp(-2j * np.pi * x / period))) for period in periods]
    return float(periods[int(np.argmax(power))])


def stripes(shape, pixel_size_um, period_um, angle_rad=0.0):
    """cos stripes whose wave vector points along `angle_rad` (from +x towards +y)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]] * pixel_size_um
    u = xx * math.cos(angle_rad) + yy * math.sin(angle_rad)
    return (100 + 50 * np.cos(2 * np.pi * u / period_um)).astype(np.float32)


@pytest.mark.parametrize("pixel_size_um", [0.04, 0.1, 0.2, 0.3])
def test_resample_keeps_period_in_um(pixel_size_um):
    # the same 1.8 µm period, sampled at four microscope pixel sizes, measures 1.8 µm at 0.4 µm/px
    field_um = 40.0
    n = int(round(field_um / pixel_size_um))
    image = stripes((8, n), pixel_size_um, 1.8)
    out = resample(image, axes="yx", scale_um={"y": pixel_size_um, "x": pixel_size_um},
                   target_um={"y": 0.4, "x": 0.4})
    assert out.dtype == np.float32
    assert out.shape[1] == round(n * pixel_size_um / 0.4)
    # tolerance: periodogram resolution over 100 samples is well under 1 %
    assert dominant_period(out[out.shape[0] // 2]) * 0.4 == pytest.approx(1.8, abs=0.03)


def test_resample_constant_stays_constant_and_field_of_view_kept():
    out = resample(np.full((5, 30, 50), 7.0), axes="zyx", scale_um={"z": 0.1, "y": 0.1, "x": 0.1},
                   target_um={"z": 0.3, "y": 0.25, "x": 0.5})
    assert out.shape == (2, 12, 10)
    np.testing.assert_allclose(out, 7.0, rtol=1e-6)


def test_resample_antialiasing_suppresses_unresolvable_detail():
    # a 0.3 µm period cannot exist at 0.4 µm/px: anti-aliasing removes it; plain decimation
    # would alias it into a fake coarse pattern with the full amplitude
    image = stripes((16, 800), 0.05, 0.3)
    out = resample(image, axes="yx", scale_um={"y": 0.05, "x": 0.05}, target_um={"y": 0.4, "x": 0.4})
    naive = image[:, ::8]
    assert np.ptp(naive[8]) > 50
    assert np.ptp(out[1, 2:-2]) < 0.1 * np.ptp(naive[8])
    np.testing.assert_allclose(out[1, 2:-2].mean(), 100, atol=1)


def test_antialias_sigma_rule():
    assert antialias_sigma_px(0.1, 0.4) == pytest.approx(1.5)
    assert antialias_sigma_px(0.4, 0.1) == 0.0
    with pytest.raises(ValueError, match="> 0"):
        antialias_sigma_px(0.0, 0.4)


def test_resample_frame_rotation_turns_stripes_and_maps_indices():
    # stripes varying along a 30° direction become stripes varying along output x
    angle = math.radians(30)
    image = stripes((400, 400), 0.1, 2.0, angle)
    out, matrix, offset = resample_frame(
        image, axes="yx", scale_um={"y": 0.1, "x": 0.1}, target_um={"y": 0.4, "x": 0.4},
        center_px={"y": 200, "x": 200}, output_shape=(64, 64), angle_rad=angle,
    )
    assert out.shape == (64, 64) and out.dtype == np.float32
    assert dominant_period(out[32]) * 0.4 == pytest.approx(2.0, abs=0.04)
    assert np.ptp(out[:, 32]) < 0.05 * np.ptp(out[32])  # constant along output y
    # the output centre maps to the requested centre, one output step along x = 0.4 µm at 30°
    np.testing.assert_allclose(matrix @ [31.5, 31.5] + offset, [200, 200])
    step = matrix @ [0, 1]
    np.testing.assert_allclose(step * 0.1, [0.4 * math.sin(angle), 0.4 * math.cos(angle)], atol=1e-12)


def test_resample_frame_pads_with_cval_outside_input():
    image = np.full((20, 20), 5.0, np.float32)
    out, _, _ = resample_frame(image, axes="yx", scale_um={"y": 0.1, "x": 0.1}, target_um={"y": 0.1, "x": 0.1},
                               center_px={"y": 10, "x": 10}, output_shape=(60, 60), cval=-1.0)
    assert out[0, 0] == -1.0 and out[30, 30] == 5.0
    far, _, _ = resample_frame(image, axes="yx", scale_um={"y": 0.1, "x": 0.1}, target_um={"y": 0.1, "x": 0.1},
                               center_px={"y": 500, "x": 500}, output_shape=(8, 8), cval=3.0)
    np.testing.assert_array_equal(far, 3.0)


def test_resample_frame_3d_z_sampling():
    # intensity = z index: output slice o samples z = cz + (o - (D-1)/2) * tz/sz
    stack = np.broadcast_to(np.arange(20, dtype=np.float32)[:, None, None], (20, 30, 30)).copy()
    out, matrix, offset = resample_frame(
        stack, axes="zyx", scale_um={"z": 0.25, "y": 0.1, "x": 0.1}, target_um={"z": 0.25, "y": 0.2, "x": 0.2},
        center_px={"z": 10, "y": 15, "x": 15}, output_shape=(4, 8, 8),
    )
    np.testing.assert_allclose(out[:, 4, 4], 10 + (np.arange(4) - 1.5), atol=1e-5)


@pytest.mark.parametrize(("z_target", "centre", "angle"), [
    (1.0, (10.0, 40.0, 45.0), 0.6),   # blurred in z and y/x, turned
    (0.5, (3.2, 40.0, 45.0), -1.1),   # no z blur; the window runs off the stack's first planes
    (1.5, (17.7, 8.0, 70.0), 2.5),    # off its last planes and its y/x edges
])
def test_resample_frame_3d_equals_one_gaussian_and_one_trilinear_transform(z_target, centre, angle, rng):
    # the reference: scipy's 3D Gaussian and affine transform over the whole stack
    from scipy import ndimage as ndi

    stack = ndi.gaussian_filter(rng.normal(100.0, 20.0, (20, 80, 90)), 1.0).astype(np.float32)
    scale, target = {"z": 0.5, "y": 0.16, "x": 0.16}, {"z": z_target, "y": 0.4, "x": 0.4}
    out, matrix, offset = resample_frame(
        stack, axes="zyx", scale_um=scale, target_um=target, center_px=dict(zip("zyx", centre)),
        output_shape=(8, 30, 34), angle_rad=angle, cval=90.0)
    sigma = [antialias_sigma_px(scale[a], target[a]) for a in "zyx"]
    blurred = ndi.gaussian_filter(stack, sigma, mode="constant", cval=90.0)
    reference = ndi.affine_transform(blurred, matrix, offset=offset, output_shape=(8, 30, 34), order=1,
                                     mode="grid-constant", cval=90.0)
    assert (out == 90.0).any() and (out != 90.0).any()
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(axes="xy"), ValueError, "axes"),
        (dict(scale_um={"y": 0.1}), ValueError, "lacks"),
        (dict(target_um={"y": 0.4, "x": 0.0}), ValueError, "> 0"),
        (dict(scale_um=0.1), TypeError, "dict"),
    ],
)
def test_resample_rejects_bad_arguments(kwargs, error, match):
    args = dict(axes="yx", scale_um={"y": 0.1, "x": 0.1}, target_um={"y": 0.4, "x": 0.4}) | kwargs
    with pytest.raises(error, match=match):
        resample(np.zeros((8, 8)), **args)


def test_resample_rejects_dask_and_wrong_rank():
    da = pytest.importorskip("dask.array")
    with pytest.raises(TypeError, match="numpy"):
        resample(da.zeros((8, 8)), axes="yx", scale_um={"y": 0.1, "x": 0.1}, target_um={"y": 0.4, "x": 0.4})
    with pytest.raises(ValueError, match="axes 'yx'"):
        resample(np.zeros((2, 8, 8)), axes="yx", scale_um={"y": 0.1, "x": 0.1}, target_um={"y": 0.4, "x": 0.4})


def test_block_mean_path_matches_plain_gaussian_path(rng):
    # resample_frame averages 5x5 blocks before a residual Gaussian (ratio 10); resample uses one
    # Gaussian. Same total blur: the two agree on the same output grid up to the kernel shape
    from scipy import ndimage as ndi

    image = ndi.gaussian_filter(rng.normal(size=(400, 400)), 3).astype(np.float32)
    plain = resample(image, axes="yx", scale_um={"y": 0.04, "x": 0.04}, target_um={"y": 0.4, "x": 0.4})
    # resample samples input (o + 0.5) * 10 - 0.5: output 40 x 40 is centred on 199.5
    fast, _, _ = resample_frame(image, axes="yx", scale_um={"y": 0.04, "x": 0.04}, target_um={"y": 0.4, "x": 0.4},
                                center_px={"y": 199.5, "x": 199.5}, output_shape=(40, 40))
    inner = (slice(2, -2), slice(2, -2))
    assert np.corrcoef(plain[inner].ravel(), fast[inner].ravel())[0, 1] > 0.98
    assert np.abs(plain - fast)[inner].max() < 0.1 * np.ptp(plain)


@pytest.mark.parametrize("n_in, n_out, sigma", [(1024, 256, 1.5), (101, 37, 0.8), (64, 90, 0.0), (2, 5, 0.6), (1, 3, 0.5)])
def test_axis_operator_is_scipys_filter_then_linear_interpolation(rng, n_in, n_out, sigma):
    # the matrix must reproduce the two scipy steps it replaced, edges included
    import scipy.ndimage as ndi

    signal = rng.random(n_in) * 1000
    positions = np.linspace(-1.3, n_in + 0.7, n_out)  # reaching past both edges
    filtered = ndi.gaussian_filter1d(signal, sigma, mode="nearest") if sigma else signal
    expected = ndi.map_coordinates(filtered, [positions], order=1, mode="nearest")
    np.testing.assert_allclose(axis_operator(n_in, positions, sigma) @ signal, expected, rtol=1e-5, atol=1e-4)
