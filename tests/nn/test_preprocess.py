import math

import numpy as np
import pytest

from ames_batch.image import cell_long_axis
from ames_batch.nn import CellGeometry, PreprocessSettings, cell_input_2d, cell_input_3d


@pytest.fixture
def rng():
    return np.random.default_rng(5)


def dominant_period(profile: np.ndarray) -> float:
    """Period (samples) of the strongest sinusoid, by a fine periodogram scan (Hann window)."""
    p = np.asarray(profile, float) - np.mean(profile)
    p = p * np.hanning(len(p))
    x = np.arange(len(p))
    periods = np.linspace(2.2, 30, 5000)
    power = [abs(np.sum(p * np.exp(-2j * np.pi * x / period))) for period in periods]
    return float(periods[int(np.argmax(power))])


def rod_cell(pixel_size_um, *, angle_rad=0.0, length_um=24.0, width_um=9.0, period_um=1.8,
             field_um=(34.0, 34.0), center_um=None, noise=None, stripes_along_axis=True):
    """A rod-shaped cell with z-disc stripes perpendicular to its long axis (intensity varies
    along the axis with `period_um`), on a dark background; returns (mip, mask)."""
    ny, nx = (int(round(f / pixel_size_um)) for f in field_um)
    yy, xx = np.mgrid[:ny, :nx] * pixel_size_um
    cy, cx = center_um or (field_um[0] / 2, field_um[1] / 2)
    dy, dx = yy - cy, xx - cx
    u = dx * math.cos(angle_rad) + dy * math.sin(angle_rad)
    v = -dx * math.sin(angle_rad) + dy * math.cos(angle_rad)
    mask = (u / (length_um / 2)) ** 2 + (v / (width_um / 2)) ** 2 <= 1
    wave = u if stripes_along_axis else v
    mip = np.where(mask, 300 + 200 * np.cos(2 * np.pi * wave / period_um), 20.0)
    if noise is not None:
        mip = mip + noise.normal(0, 5, mip.shape)
    return mip.astype(np.float32), mask


SMALL_2D = PreprocessSettings(input_shape=(96, 96), target_um_per_px=0.4)


@pytest.mark.parametrize("pixel_size_um", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("angle_deg", [0, 35])
def test_planted_period_survives_any_input_pixel_size(pixel_size_um, angle_deg, rng):
    mip, mask = rod_cell(pixel_size_um, angle_rad=math.radians(angle_deg), noise=rng)
    x, geometry = cell_input_2d(mip, mask, pixel_size_um, SMALL_2D)
    assert x.shape == (96, 96, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    # after alignment the stripes vary along x whatever the cell's angle in the field
    row = x[48, :, 0]
    inside = np.flatnonzero(geometry.extra["crop_mask"][48])
    period_um = dominant_period(row[inside[0]: inside[-1] + 1]) * SMALL_2D.target_um_per_px
    assert period_um == pytest.approx(1.8, abs=0.05)  # the 1.8 ± 0.05 µm of style.md
    column = x[:, 48, 0]
    inside_y = geometry.extra["crop_mask"][:, 48]
    assert np.ptp(column[inside_y][3:-3]) < 0.5 * np.ptp(row[inside[0] + 3: inside[-1] - 3])


@pytest.mark.parametrize("angle_deg", [-70, -20, 0, 30, 60, 90])
def test_long_axis_alignment_puts_rotated_ellipse_horizontal(angle_deg):
    mip, mask = rod_cell(0.1, angle_rad=math.radians(angle_deg), length_um=20, width_um=7)
    x, geometry = cell_input_2d(mip, mask, 0.1, SMALL_2D)
    crop_mask = geometry.extra["crop_mask"]
    _, angle, elongation = cell_long_axis(crop_mask, pixel_size_um=0.4)
    assert abs(math.degrees(angle)) < 2.0
    assert elongation == pytest.approx(20 / 7, rel=0.1)
    rows, cols = np.nonzero(crop_mask)
    # 20 µm x 7 µm at 0.4 µm/px: 50 px long along x, 17.5 px along y (edge pixels ± 1)
    assert np.ptp(cols) + 1 == pytest.approx(50, abs=2)
    assert np.ptp(rows) + 1 == pytest.approx(17.5, abs=2)


def test_without_alignment_orientation_is_kept():
    settings = PreprocessSettings(input_shape=(96, 96), align_long_axis=False)
    mip, mask = rod_cell(0.1, angle_rad=math.radians(90), length_um=20, width_um=7)
    _, geometry = cell_input_2d(mip, mask, 0.1, settings)
    rows, cols = np.nonzero(geometry.extra["crop_mask"])
    assert geometry.angle_rad == 0.0
    assert np.ptp(rows) > 2 * np.ptp(cols)  # still vertical


def test_geometry_maps_a_crop_point_back_onto_the_planted_spot():
    # a bright spot off the cell centre; its position in the crop, mapped back, is the spot
    pixel = 0.1
    mip, mask = rod_cell(pixel, angle_rad=math.radians(40), period_um=1.8)
    mip = np.where(mask, 100.0, 20.0).astype(np.float32)
    spot = (200, 205)  # field pixels (y, x), inside the cell, 4.6 µm from its centre
    assert mask[spot]
    yy, xx = np.mgrid[: mip.shape[0], : mip.shape[1]]
    mip += 5000 * np.exp(-((yy - spot[0]) ** 2 + (xx - spot[1]) ** 2) / (2 * 6.0**2))
    x, geometry = cell_input_2d(mip, mask, pixel, SMALL_2D)
    peak = np.unravel_index(np.argmax(x[..., 0]), x.shape[:2])
    forward = geometry.matrix @ np.array(peak, float) + geometry.offset
    # one crop pixel is 4 field pixels: the peak lands within one crop pixel of the spot
    assert np.hypot(*(forward - spot)) < 4.0
    delta = np.zeros((96, 96), np.float32)
    delta[peak] = 1.0
    back = geometry.to_field(delta, mip.shape)
    assert np.hypot(*(np.array(np.unravel_index(np.argmax(back), back.shape)) - spot)) < 4.0


def test_geometry_round_trip_covers_exactly_the_cell():
    mip, mask = rod_cell(0.1, angle_rad=math.radians(-25), length_um=20, width_um=8)
    x, geometry = cell_input_2d(mip, mask, 0.1, SMALL_2D)
    ones_back = geometry.to_field(np.ones((96, 96, 1), np.float32), mip.shape)
    assert ones_back.dtype == np.float32 and ones_back.shape == mip.shape
    np.testing.assert_array_equal(ones_back > 0, mask)  # the whole cell fits the window: all of it
    np.testing.assert_allclose(ones_back[mask], 1.0, atol=1e-6)
    # the input itself mapped back correlates with the original inside the cell
    back = geometry.to_field(x, mip.shape)
    r = np.corrcoef(back[mask], mip[mask])[0, 1]
    assert r > 0.8
    # the bounding box alone: the cell's part of the same map, zero everywhere outside it
    np.testing.assert_array_equal(geometry.to_region(x, mip.shape), back[geometry.region])
    outside = np.ones(mip.shape, bool)
    outside[geometry.region] = False
    assert not back[outside].any() and mask[geometry.region].sum() == mask.sum()


def _block_mean(a, step):
    cut = a[tuple(slice(0, n // f * f) for n, f in zip(a.shape, step))]
    shape = [x for n, f in zip(cut.shape, step) for x in (n // f, f)]
    return cut.reshape(shape).mean(axis=tuple(range(1, 2 * len(step), 2)))


@pytest.mark.parametrize("step", [(4, 4), (2, 4, 4)])
def test_a_map_placed_on_a_coarser_grid_is_the_block_mean_of_the_fine_one(step):
    """#14: a 3D map was laid on every plane of the working grid, then block-averaged: ~1 s per
    cell and task. Laid on the blocks directly, it is the same map up to interpolation."""
    pixel = 0.1
    mip, mask = rod_cell(pixel, angle_rad=math.radians(-25), length_um=20, width_um=8)
    stack = np.repeat(mip[None], 10, axis=0)
    if len(step) == 2:
        _, geometry = cell_input_2d(mip, mask, pixel, SMALL_2D)
        field_shape, crop = mip.shape, SMALL_2D.input_shape
    else:
        settings = PreprocessSettings(input_shape=(8, 96, 96), target_um_per_px=0.4, z_step_um=0.2)
        _, geometry = cell_input_3d(stack, mask, {"z": 0.2, "y": pixel, "x": pixel}, settings)
        field_shape, crop = stack.shape, settings.input_shape
    grids = np.meshgrid(*(np.linspace(0, 1, n) for n in crop), indexing="ij")
    smooth = np.sin(3 * grids[-1]) * np.cos(2 * grids[-2]) + (grids[0] if len(crop) == 3 else 0)
    fine = _block_mean(geometry.to_field(smooth, field_shape), step)
    coarse = np.zeros(fine.shape, np.float32)
    coarse[geometry.region_on(step, field_shape)] = geometry.to_region(smooth, field_shape, step=step)
    # blocks wholly inside the cell and its crop window (at an edge a block's centre may fall out)
    inside = _block_mean(geometry.to_field(np.ones(crop), field_shape) > 0, step) == 1
    assert inside.sum() > 100
    np.testing.assert_allclose(coarse[inside], fine[inside], atol=0.03)  # one crop pixel's change
    assert not coarse[fine == 0].any()  # nothing outside the cell's blocks
    np.testing.assert_array_equal(geometry.to_region(smooth, field_shape, step=(1,) * len(step)),
                                  geometry.to_region(smooth, field_shape))


@pytest.mark.parametrize("z_offset", [-1.0, -0.5, 0.0, 0.3, 3.5, 6.0, 7.0])
def test_a_3d_map_turned_in_y_x_is_placed_as_by_one_trilinear_transform(rng, z_offset):
    """z first, then y/x plane by plane: scipy's trilinear transform, up to float32 rounding, at
    and beyond the edge planes too; a matrix that mixes z with y/x goes to scipy as it is."""
    from scipy import ndimage as ndi

    from ames_batch.nn._preprocess import _affine_linear

    array = rng.uniform(0, 1, (8, 30, 34)).astype(np.float32)
    angle = np.deg2rad(23)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * 1.3
    for mix in (0.0, 0.2):
        matrix = np.eye(3)
        matrix[0, 0], matrix[1:, 1:], matrix[1, 0] = 0.5, turn, mix
        offset = np.array([z_offset, -4.0, 6.0])
        want = ndi.affine_transform(array, matrix, offset=offset, output_shape=(16, 28, 33), order=1,
                                    mode="constant", cval=0.0)
        got = _affine_linear(array, matrix, offset, (16, 28, 33))
        assert got.dtype == np.float32 and got.shape == want.shape and want.any()
        np.testing.assert_allclose(got, want, atol=1e-6)
    one = array[:1]
    np.testing.assert_allclose(_affine_linear(one, np.eye(3), np.array([0.0, 0.5, 0.5]), (3, 20, 20)),
                               ndi.affine_transform(one, np.eye(3), offset=[0.0, 0.5, 0.5], output_shape=(3, 20, 20),
                                                    order=1, mode="constant", cval=0.0), atol=1e-6)


def test_large_cell_is_centre_cropped_not_shrunk():
    # a 60 µm cell in a 38.4 µm window: it fills the window along x at the same µm/px
    mip, mask = rod_cell(0.2, length_um=60, width_um=10, field_um=(30, 70))
    x, geometry = cell_input_2d(mip, mask, 0.2, SMALL_2D)
    crop_mask = geometry.extra["crop_mask"]
    assert crop_mask[48].all()
    row = x[48, :, 0]
    assert dominant_period(row) * 0.4 == pytest.approx(1.8, abs=0.05)
    back = geometry.to_field(np.ones((96, 96)), mip.shape)
    assert 0 < (back > 0).sum() < mask.sum()  # only the part inside the window maps back
    assert not np.any((back > 0) & ~mask)


def test_neighbour_beyond_margin_is_background():
    # the cell ends at x = 20 µm, a 3x brighter neighbour starts at x = 22 µm, margin 1 µm
    pixel = 0.1
    mip, mask = rod_cell(pixel, length_um=16, width_um=6, center_um=(17, 12))
    neighbour, nmask = rod_cell(pixel, length_um=10, width_um=6, center_um=(17, 27))
    both = np.where(nmask, neighbour * 3, mip).astype(np.float32)
    settings = PreprocessSettings(input_shape=(96, 96), margin_um=1.0, outside_weight=0.5)
    x, geometry = cell_input_2d(both, mask, pixel, settings)
    # field position of every crop pixel
    idx = np.stack(np.mgrid[:96, :96], axis=-1).reshape(-1, 2).astype(float)
    pts = np.rint(idx @ geometry.matrix.T + geometry.offset).astype(int)
    ok = (pts >= 0).all(1) & (pts[:, 0] < both.shape[0]) & (pts[:, 1] < both.shape[1])
    on_neighbour = np.zeros(len(idx), bool)
    on_neighbour[ok] = nmask[pts[ok, 0], pts[ok, 1]]
    on_cell = np.zeros(len(idx), bool)
    on_cell[ok] = mask[pts[ok, 0], pts[ok, 1]]
    values = x[..., 0].reshape(-1)
    assert on_neighbour.sum() > 200  # the neighbour lies inside the window ...
    assert values[on_neighbour].max() < 0.02  # ... yet shows as background (0 after normalisation)
    assert values[on_cell].mean() > 0.3
    back = geometry.to_field(np.ones((96, 96)), both.shape)
    assert back[nmask].max() == 0


def test_3d_input_centres_on_cell_in_z_and_keeps_period():
    pixel, z_step = 0.1, 0.2
    mip, mask = rod_cell(pixel, angle_rad=math.radians(20), length_um=20, width_um=8)
    z = np.arange(30)[:, None, None]
    stack = (20 + (mip - 20)[None] * np.exp(-(((z - 15) * z_step) ** 2) / (2 * 1.0**2))).astype(np.float32)
    settings = PreprocessSettings(input_shape=(8, 96, 96), target_um_per_px=0.4, z_step_um=0.5)
    x, geometry = cell_input_3d(stack, mask, {"z": z_step, "y": pixel, "x": pixel}, settings)
    assert x.shape == (8, 96, 96, 1) and x.dtype == np.float32
    assert geometry.extra["centroid_z"] == pytest.approx(15, abs=0.1)  # planted, +-3 sigma in the stack
    profile = x[..., 0].mean(axis=(1, 2))
    assert abs(int(np.argmax(profile)) - 3.5) <= 0.5  # brightest slices in the middle
    mid = x[4, 48, :, 0]
    inside = np.flatnonzero(geometry.extra["crop_mask"][4, 48])
    assert dominant_period(mid[inside[0]: inside[-1] + 1]) * 0.4 == pytest.approx(1.8, abs=0.05)
    back3 = geometry.to_field(np.ones((8, 96, 96)), stack.shape)
    # 8 slices x 0.5 µm = 4 µm around slice 15 (0.2 µm): field slices 15 ± 8.75 -> 7..23
    assert set(np.flatnonzero(back3.any(axis=(1, 2)))) == set(range(7, 24))
    np.testing.assert_array_equal(back3[15] > 0, mask)
    back2 = geometry.to_field(np.ones((96, 96)), stack.shape[1:])
    np.testing.assert_array_equal(back2 > 0, mask)


def test_settings_round_trip_and_defaults():
    for settings in (PreprocessSettings.default_2d(), PreprocessSettings.default_3d()):
        data = settings.to_dict()
        assert PreprocessSettings.from_dict(data) == settings
        # the shortest sarcomere (1.6 µm) spans >= 4 px; the window holds a >= 64 µm cell
        assert 1.6 / settings.target_um_per_px >= 4.0
        assert settings.input_shape[-1] * settings.target_um_per_px >= 64
    assert PreprocessSettings.default_3d().ndim == 3
    with pytest.raises(ValueError, match="unknown"):
        PreprocessSettings.from_dict({**PreprocessSettings().to_dict(), "colour": 1})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (4, 4)}, "input_shape"),
        ({"target_um_per_px": 0}, "target_um_per_px"),
        ({"input_shape": (8, 32, 32)}, "z_step_um"),
        ({"z_step_um": 0.5}, "z_step_um"),
        ({"outside_weight": 2}, "outside_weight"),
        ({"percentiles": (99, 1)}, "percentiles"),
        ({"margin_um": -1}, "margin_um"),
    ],
)
def test_settings_reject_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PreprocessSettings(**kwargs)


def test_cell_input_rejects_bad_arguments():
    mip, mask = rod_cell(0.2, field_um=(12, 12), length_um=8, width_um=4)
    with pytest.raises(ValueError, match="empty"):
        cell_input_2d(mip, np.zeros_like(mask), 0.2, SMALL_2D)
    with pytest.raises(ValueError, match="bool"):
        cell_input_2d(mip, mask.astype(np.uint32) * 7, 0.2, SMALL_2D)
    with pytest.raises(ValueError, match="match"):
        cell_input_2d(mip, mask[:-1], 0.2, SMALL_2D)
    with pytest.raises(ValueError, match="pixel_size_um"):
        cell_input_2d(mip, mask, 0.0, SMALL_2D)
    with pytest.raises(ValueError, match="3D"):
        cell_input_2d(mip, mask, 0.2, PreprocessSettings.default_3d())
    with pytest.raises(TypeError, match="PreprocessSettings"):
        cell_input_2d(mip, mask, 0.2, {"input_shape": (96, 96)})
    with pytest.raises(ValueError, match="scale_um"):
        cell_input_3d(mip[None], mask, {"y": 0.2, "x": 0.2}, PreprocessSettings.default_3d())
    da = pytest.importorskip("dask.array")
    with pytest.raises(TypeError, match="numpy"):
        cell_input_2d(da.from_array(mip), mask, 0.2, SMALL_2D)


def test_geometry_rejects_mismatched_shapes():
    mip, mask = rod_cell(0.2, field_um=(12, 12), length_um=8, width_um=4)
    _, geometry = cell_input_2d(mip, mask, 0.2, SMALL_2D)
    assert isinstance(geometry, CellGeometry)
    with pytest.raises(ValueError, match="crop shape"):
        geometry.to_field(np.ones((10, 10)), mip.shape)
    with pytest.raises(ValueError, match="field shape"):
        geometry.to_field(np.ones((96, 96)), (5, 5))


def test_synthetic_field_cells_become_aligned_inputs():
    # cells from the synth room (seeded): every cell gives a normalised, aligned input in 2D and
    # 3D, and the crop window mapped back lands on that cell's label only
    synth = pytest.importorskip("ames_batch.synth")
    field = synth.synthesize_field(3, n_cells=2, scale_um=synth.DEMO_SCALE_UM)
    mip = field.stack.max(axis=0)
    s2, s3 = PreprocessSettings.default_2d(), PreprocessSettings.default_3d()
    for cell in field.cells:
        mask = field.cell_labels == cell.label
        x, geometry = cell_input_2d(mip, mask, field.scale_um["x"], s2)
        x3, geometry3 = cell_input_3d(field.stack, mask, field.scale_um, s3)
        assert x.shape == (*s2.input_shape, 1) and x3.shape == (*s3.input_shape, 1)
        for arr, crop_mask in ((x, geometry.extra["crop_mask"]), (x3, geometry3.extra["crop_mask"])):
            assert arr.dtype == np.float32 and 0 <= arr.min() and arr.max() <= 1
            assert np.percentile(arr[..., 0][crop_mask], 99) > 0.5  # the cell's z-discs, not padding
        _, angle, elongation = cell_long_axis(geometry.extra["crop_mask"], pixel_size_um=s2.target_um_per_px)
        if elongation > 1.2:  # a round cell has no long axis to align
            assert abs(math.degrees(angle)) < 3
        back = geometry.to_field(np.ones(s2.input_shape), mip.shape) > 0
        assert back.any() and not np.any(back & ~mask)
        # all of the cell that lies within the window comes back (the whole cell if it fits)
        length_um = 4 * math.sqrt(np.linalg.eigvalsh(np.cov(np.nonzero(mask))).max()) * field.scale_um["x"]
        if length_um < 0.9 * s2.input_shape[1] * s2.target_um_per_px:
            np.testing.assert_array_equal(back, mask)
