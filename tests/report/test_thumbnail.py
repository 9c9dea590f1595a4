"""Cell thumbnails and insets: physical size, exact scale bar, robust contrast, outline, heatmap, inset place."""

import imageio.v3 as iio
import numpy as np
import pytest

from ames_batch.report import DISPLAY_UM_PER_PX, cell_inset_png, cell_thumbnail_png, inset_window

CYAN = np.array([0, 255, 255])


def _rgb(png: bytes) -> np.ndarray:
    return iio.imread(png)[..., :3].astype(int)


def _cell(shape=(80, 160), box=(slice(15, 65), slice(20, 100)), value=100.0):
    mip = np.zeros(shape, np.float32)
    mask = np.zeros(shape, bool)
    mask[box] = True
    mip[mask] = value
    return mip, mask


@pytest.mark.parametrize(("pixel_size_um", "display"), [(0.5, DISPLAY_UM_PER_PX), (0.08, 0.25), (0.3, 0.1)])
def test_thumbnail_is_at_physical_scale(pixel_size_um, display):
    mip, mask = _cell()
    png = cell_thumbnail_png(mip, mask, pixel_size_um=pixel_size_um, display_um_per_px=display)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    h, w = _rgb(png).shape[:2]
    assert (h, w) == (round(80 * pixel_size_um / display), round(160 * pixel_size_um / display))


def _bar_run(rgb: np.ndarray) -> int:
    """Length of the longest run of pure white pixels in the lowest rows that hold any."""
    white = np.all(rgb == 255, axis=2)
    best = 0
    for row in white[::-1]:
        if row.any():
            runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0])))[::2]
            best = max(best, int(runs.max()))
            if best:
                return best
    return best


@pytest.mark.parametrize(("width_px", "pixel_size_um", "bar_um"), [
    (160, 0.25, 10),   # 40 µm wide: a fifth is 8 µm, nearest round length 10 µm
    (300, 0.5, 20),    # 150 µm: 30 -> 20
    (400, 0.04, 5),    # 16 µm: 3.2 -> 5 (log-nearer than 2: 3.2 / 2 > 5 / 3.2)
])
def test_scale_bar_has_a_round_length_exact_to_the_pixel(width_px, pixel_size_um, bar_um):
    mip = np.zeros((width_px, width_px), np.float32)  # black: the bar and its label are the only white
    mask = np.zeros_like(mip, bool)
    mask[5:20, 5:40] = True
    rgb = _rgb(cell_thumbnail_png(mip, mask, pixel_size_um=pixel_size_um))
    assert _bar_run(rgb) == round(bar_um / DISPLAY_UM_PER_PX)


def test_contrast_ignores_a_hot_pixel_and_the_background():
    mip, mask = _cell(value=100.0)
    mip[~mask] = 20.0
    mip[40, 60] = 1e6  # one hot pixel in 4000 cell pixels
    rgb = _rgb(cell_thumbnail_png(mip, mask, pixel_size_um=0.25))
    inner = rgb[20:60, 25:95, 0]
    assert np.median(inner) >= 250  # the cell is white, not crushed to black by the hot pixel
    assert np.median(rgb[70:78, 110:150, 0]) <= 10  # background at the crop's 1st percentile: black


def test_outline_follows_the_mask_and_nothing_else():
    mip, mask = _cell()
    rgb = _rgb(cell_thumbnail_png(mip, mask, pixel_size_um=0.25))
    cyanish = (rgb[..., 0] < 90) & (rgb[..., 1] > 160) & (rgb[..., 2] > 160)
    ys, xs = np.nonzero(cyanish)
    assert ys.size > 100
    # every outline pixel within 1.5 px of the cell's border (rows 15..64, columns 20..99)
    to_edge = np.minimum.reduce([np.abs(ys - 14.5), np.abs(ys - 64.5), np.abs(xs - 19.5), np.abs(xs - 99.5)])
    inside_box = (ys > 13) & (ys < 66) & (xs > 18) & (xs < 101)
    assert np.all(inside_box) and np.all(to_edge <= 1.5)


def test_heatmap_colours_only_where_it_is_high():
    mip, mask = _cell()
    heatmap = np.zeros(mip.shape, np.float32)
    heatmap[15:65, 20:60] = 1.0  # left half of the cell
    rgb = _rgb(cell_thumbnail_png(mip, mask, pixel_size_um=0.25, heatmap=heatmap))
    left, right = rgb[25:55, 25:55], rgb[25:55, 65:95]
    assert np.all(right[..., 0] == right[..., 1]) and np.all(right[..., 1] == right[..., 2])  # grey
    assert np.median(right[..., 2] - left[..., 2]) > 40  # inferno at 1 is pale yellow: less blue


def test_window_is_drawn_as_a_yellow_box():
    mip, mask = _cell()
    plain = _rgb(cell_thumbnail_png(mip, mask, pixel_size_um=0.25))
    boxed = _rgb(cell_thumbnail_png(mip, mask, pixel_size_um=0.25, window=(slice(20, 40), slice(30, 50))))
    yellow = (boxed[..., 0] > 200) & (boxed[..., 1] > 170) & (boxed[..., 2] < 80)
    ys, xs = np.nonzero(yellow)
    assert not ((plain[..., 0] > 200) & (plain[..., 1] > 170) & (plain[..., 2] < 80)).any()
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == pytest.approx((19.5, 39.5, 29.5, 49.5), abs=1.5)


def _stripes(shape, pixel_size_um, period_um=1.8, angle_deg=30.0):
    y, x = np.mgrid[: shape[0], : shape[1]] * pixel_size_um
    phase = 2 * np.pi * (x * np.cos(np.radians(angle_deg)) + y * np.sin(np.radians(angle_deg))) / period_um
    return (np.cos(phase) > 0.8).astype(np.float32)


def test_inset_window_finds_the_striated_part(rng):
    pixel_size_um = 0.1
    shape = (300, 400)  # 30 x 40 µm
    mask = np.zeros(shape, bool)
    mask[20:280, 20:380] = True
    # punctate z-bodies everywhere (bright isotropic dots), clear stripes only in the lower right
    mip = np.zeros(shape, np.float32)
    dots = rng.integers(0, shape, size=(600, 2))
    mip[dots[:, 0], dots[:, 1]] = 3.0
    from scipy import ndimage as ndi

    mip = ndi.gaussian_filter(mip, 1.5) * 20
    mip[160:280, 240:380] += _stripes((120, 140), pixel_size_um)
    rows, cols = inset_window(mip, mask, pixel_size_um=pixel_size_um, side_um=10.0)
    assert (rows.stop - rows.start, cols.stop - cols.start) == (100, 100)
    overlap = np.zeros(shape, bool)
    overlap[rows, cols] = True
    assert overlap[160:280, 240:380].sum() >= 0.9 * 100 * 100


def test_inset_window_of_a_flat_cell_is_centred_and_clipped():
    _, mask = _cell(shape=(80, 160), box=(slice(10, 30), slice(100, 150)))
    mip = np.full(mask.shape, 100.0)  # no stripes anywhere
    rows, cols = inset_window(mip, mask, pixel_size_um=0.25, side_um=10.0)  # 40 px square
    assert (rows.stop - rows.start, cols.stop - cols.start) == (40, 40)
    assert rows.start == 0  # centred on row 19.5 would start at -0.5: clipped into the crop
    assert cols.start + 20 == pytest.approx(124.5, abs=1)
    small = inset_window(mip[:20, :30], np.ones((20, 30), bool), pixel_size_um=0.25, side_um=10.0)
    assert small == (slice(0, 20), slice(0, 30))  # a crop smaller than the square: all of it


def test_inset_is_full_resolution_pixels_enlarged():
    mip = np.arange(50 * 50, dtype=np.float32).reshape(50, 50) % 97
    mask = np.ones((50, 50), bool)
    window = (slice(10, 30), slice(5, 25))  # 20 x 20 px
    rgb = _rgb(cell_inset_png(mip, mask, pixel_size_um=0.1, window=window, min_side_px=100))
    assert rgb.shape[:2] == (100, 100)  # k = 5
    blocks = rgb[:60, :60, 0].reshape(12, 5, 12, 5)  # away from the scale bar
    assert np.all(blocks == blocks[:, :1, :, :1])  # every source pixel a uniform 5 x 5 block
    order = np.argsort(blocks[:, 0, :, 0].ravel(), kind="stable")
    expected = np.argsort(mip[window][:12, :12].ravel(), kind="stable")
    assert np.array_equal(order, expected)  # grey levels keep the order of the raw pixels


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"mask": np.ones((10, 10), np.uint8)}, ValueError, "bool"),
    ({"mask": np.ones((10, 11), bool)}, ValueError, "shape"),
    ({"mask": np.zeros((10, 10), bool)}, ValueError, "empty"),
    ({"mip": np.full((10, 10), np.nan)}, ValueError, "finite"),
    ({"pixel_size_um": 0.0}, ValueError, "pixel_size_um"),
    ({"pixel_size_um": "0.1"}, TypeError, "pixel_size_um"),
    ({"heatmap": np.full((10, 10), 1.5, np.float32)}, ValueError, r"\[0, 1\]"),
    ({"display_um_per_px": -1.0}, ValueError, "display_um_per_px"),
])
def test_bad_arguments_are_refused(kwargs, error, match):
    args = {"mip": np.zeros((10, 10)), "mask": np.ones((10, 10), bool), "pixel_size_um": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        cell_thumbnail_png(args.pop("mip"), args.pop("mask"), **args)


def test_a_window_outside_the_crop_is_refused():
    with pytest.raises(ValueError, match="window"):
        cell_inset_png(np.zeros((10, 10)), np.ones((10, 10), bool), pixel_size_um=0.1,
                       window=(slice(5, 15), slice(0, 10)))
