"""segment_cells on drawn striated cells: planted truth, invariants, empty fields, bad input."""

import numpy as np
import pytest
from segment_drawing import draw_cells

from ames_batch.segment import match_labels, segment_cells

PX = 0.25  # µm per pixel; a 200 × 200 field is 50 µm wide
SHAPE = (200, 200)

ONE = [(25.0, 25.0, 20.0, 9.0, 30.0)]
TWO_APART = [(15.0, 15.0, 12.0, 6.0, 0.0), (38.0, 35.0, 12.0, 7.0, 60.0)]
TWO_TOUCHING = [(25.0, 14.0, 13.0, 8.0, 0.0), (25.0, 37.0, 13.0, 8.0, 0.0)]  # 3 µm overlap
THREE_TOUCHING = [(15.0, 15.0, 12.0, 7.0, 45.0), (32.0, 18.0, 12.0, 7.0, -20.0), (25.0, 38.0, 14.0, 7.0, 90.0)]


@pytest.mark.parametrize("cells", [ONE, TWO_APART, TWO_TOUCHING, THREE_TOUCHING], ids=["1", "2", "2t", "3t"])
def test_finds_every_planted_cell(rng, cells):
    mip, truth = draw_cells(rng, SHAPE, PX, cells)
    labels = segment_cells(mip, PX)
    assert labels.shape == SHAPE and labels.dtype == np.uint32
    m = match_labels(labels, truth, iou_threshold=0.5)
    assert m.n_predicted == m.n_truth == len(cells)
    assert m.recall == 1.0 and m.precision == 1.0
    # Outlines within ~1 µm of the drawn ellipse: IoU of a 12 × 6 µm half-axis cell stays > 0.85.
    assert min(iou for *_, iou in m.pairs) > 0.85


def test_no_split_keeps_touching_cells_together(rng):
    mip, truth = draw_cells(rng, SHAPE, PX, TWO_TOUCHING)
    labels = segment_cells(mip, PX, split_touching=False)
    assert labels.max() == 1
    union = truth > 0
    assert (labels > 0)[union].mean() > 0.95


def test_labels_sequential_in_raster_order(rng):
    mip, _ = draw_cells(rng, SHAPE, PX, THREE_TOUCHING)
    labels = segment_cells(mip, PX)
    values = np.unique(labels)
    np.testing.assert_array_equal(values, np.arange(labels.max() + 1))
    first = [np.flatnonzero(labels.ravel() == v)[0] for v in values[1:]]
    assert first == sorted(first)


def test_nucleus_filled_and_debris_dropped(rng):
    mip, truth = draw_cells(rng, SHAPE, PX, [(25.0, 22.0, 18.0, 10.0, 0.0)])
    mip[180:186, 180:186] += 3000.0  # 1.5 × 1.5 µm bright speck, far below 100 µm²
    labels = segment_cells(mip, PX)
    assert labels.max() == 1
    assert labels[100, 88] == 1  # the middle of the dark nucleus
    assert labels[183, 183] == 0
    from scipy import ndimage as ndi

    assert not (ndi.binary_fill_holes(labels > 0) & (labels == 0)).any()


def test_every_label_at_least_min_area(rng):
    mip, _ = draw_cells(rng, SHAPE, PX, THREE_TOUCHING)
    for min_area in (50.0, 150.0):
        labels = segment_cells(mip, PX, min_area_um2=min_area)
        areas_um2 = np.bincount(labels.ravel())[1:] * PX**2
        assert areas_um2.min() >= min_area


def test_affine_intensity_change_gives_same_labels(rng):
    mip, _ = draw_cells(rng, SHAPE, PX, TWO_TOUCHING)
    reference = segment_cells(mip.astype(np.float64), PX)
    np.testing.assert_array_equal(segment_cells(3.0 * mip.astype(np.float64) + 500.0, PX), reference)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_integer_and_float_inputs(rng, dtype):
    mip, truth = draw_cells(rng, SHAPE, PX, TWO_APART, background=20.0, brightness=200.0, noise=3.0)
    mip = np.clip(np.round(mip), 0, 255).astype(dtype)
    m = match_labels(segment_cells(mip, PX), truth)
    assert m.recall == 1.0 and m.precision == 1.0


def test_same_cells_at_two_pixel_sizes_agree_in_um(rng):
    areas = []
    for px in (0.1, 0.25):
        shape = (round(50 / px), round(50 / px))
        mip, truth = draw_cells(rng, shape, px, TWO_APART)
        labels = segment_cells(mip, px)
        assert labels.max() == 2
        areas.append(np.bincount(labels.ravel())[1:] * px**2)
        truth_area = np.bincount(truth.ravel())[1:] * px**2
        np.testing.assert_allclose(areas[-1], truth_area, rtol=0.1)
    np.testing.assert_allclose(areas[0], areas[1], rtol=0.05)


@pytest.mark.parametrize("shape", [(199, 203), (64, 64), (7, 300)])
def test_shape_kept_for_any_size(rng, shape):
    mip, _ = draw_cells(rng, shape, PX, ONE)
    labels = segment_cells(mip, PX)
    assert labels.shape == shape and labels.dtype == np.uint32


def test_coarse_input_used_as_is(rng):
    px = 0.8  # coarser than the 0.5 µm working grid: no downsampling
    mip, truth = draw_cells(rng, (64, 64), px, [(25.0, 25.0, 20.0, 10.0, 10.0)], period_um=2.0)
    m = match_labels(segment_cells(mip, px), truth)
    assert m.recall == 1.0 and m.precision == 1.0


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: np.zeros(SHAPE, np.uint16),
        lambda rng: np.full(SHAPE, 65535, np.uint16),  # saturated
        lambda rng: np.full(SHAPE, 3.5, np.float32),
        lambda rng: rng.normal(200.0, 30.0, SHAPE).astype(np.float32),  # background noise only
        lambda rng: rng.poisson(5.0, SHAPE).astype(np.uint16),  # dim photon noise
        lambda rng: (rng.normal(200.0, 30.0, SHAPE) + np.linspace(0, 60, SHAPE[1])).astype(np.float32),
    ],
    ids=["zeros", "saturated", "flat", "noise", "poisson", "noise+gradient"],
)
def test_empty_fields_give_no_labels(rng, make):
    labels = segment_cells(make(rng), PX)
    assert labels.shape == SHAPE and labels.dtype == np.uint32
    assert not labels.any()


def test_bad_input_raises():
    good = np.zeros((32, 32), np.float32)
    with pytest.raises(ValueError, match=r"2D.*\(4, 32, 32\)"):
        segment_cells(np.zeros((4, 32, 32), np.float32), PX)
    bad = good.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="finite"):
        segment_cells(bad, PX)
    bad[3, 4] = np.inf
    with pytest.raises(ValueError, match="finite"):
        segment_cells(bad, PX)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        segment_cells(good.tolist(), PX)
    with pytest.raises(TypeError, match="dtype bool"):
        segment_cells(good > 0, PX)
    for value in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="pixel_size_um"):
            segment_cells(good, value)
    with pytest.raises(TypeError, match="pixel_size_um"):
        segment_cells(good, "0.1")
    with pytest.raises(ValueError, match="threshold_method"):
        segment_cells(good, PX, threshold_method="magic")
    with pytest.raises(ValueError, match="min_area_um2"):
        segment_cells(good, PX, min_area_um2=-1.0)
    with pytest.raises(ValueError, match="min_cell_distance_um"):
        segment_cells(good, PX, min_cell_distance_um=0.0)


def _ramp(shape, amplitude):
    return np.linspace(0.0, amplitude, shape[1], dtype=np.float32)[None, :]


def _vignette(shape, amplitude):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r2 = (yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2
    return amplitude * np.exp(-r2 / (2 * (0.3 * shape[0]) ** 2))


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.normal(200.0, 30.0, SHAPE) + _ramp(SHAPE, 300.0),
        lambda rng: rng.normal(200.0, 30.0, SHAPE) + _ramp(SHAPE, 3000.0),
        lambda rng: rng.poisson(100.0 + _vignette(SHAPE, 400.0)),
        lambda rng: rng.normal(200.0, 30.0, SHAPE) + _vignette(SHAPE, 300.0),
    ],
    ids=["ramp", "steep-ramp", "poisson-vignette", "vignette"],
)
@pytest.mark.parametrize("flatten", [False, True])
def test_uneven_illumination_alone_is_no_cell(rng, make, flatten):
    assert not segment_cells(make(rng).astype(np.float32), PX, flatten_background=flatten).any()


@pytest.mark.parametrize(("amplitude", "flatten"), [(60.0, False), (60.0, True), (1000.0, True)])
def test_cell_on_uneven_background_is_found(rng, amplitude, flatten):
    mip, truth = draw_cells(rng, SHAPE, PX, TWO_APART)  # background 200, noise 30
    labels = segment_cells(mip + _ramp(SHAPE, amplitude), PX, flatten_background=flatten)
    m = match_labels(labels, truth)
    assert m.recall == 1.0 and m.precision == 1.0


def test_saturated_cell_without_texture_is_one_cell(rng):
    mip, truth = draw_cells(rng, SHAPE, PX, ONE, brightness=1e6)
    mip = np.clip(mip, 0, 65535).astype(np.uint16)  # the whole cell clips flat
    assert (mip[truth > 0] == 65535).mean() > 0.5
    m = match_labels(segment_cells(mip, PX), truth)
    assert m.n_predicted == 1 and m.recall == 1.0


def test_only_debris_gives_no_labels(rng):
    mip = rng.normal(200.0, 30.0, SHAPE).astype(np.float32)
    mip[50:56, 50:56] += 3000.0  # a 1.5 µm speck: real contrast, but far below min_area_um2
    assert not segment_cells(mip, PX).any()


def test_bad_options_raise():
    good = np.zeros((32, 32), np.float32)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="edge_level"):
            segment_cells(good, PX, edge_level=bad)
    with pytest.raises(TypeError, match="flatten_background"):
        segment_cells(good, PX, flatten_background="yes")
    with pytest.raises(ValueError, match="split_neck_ratio"):
        segment_cells(good, PX, split_neck_ratio=0.0)


SIDE_BY_SIDE = [(18.0, 25.0, 20.0, 6.0, 0.0), (31.0, 25.0, 20.0, 6.0, 0.0)]  # 12 µm rods, 1 µm overlap


def test_cells_pressed_side_by_side_are_cut_between_notches(rng):
    # Contact as long as the cells: the distance transform has one ridge, no neck; the
    # notches at both ends of the contact carry the split.
    mip, truth = draw_cells(rng, SHAPE, PX, SIDE_BY_SIDE)
    m = match_labels(segment_cells(mip, PX), truth)
    assert m.recall == 1.0 and m.precision == 1.0
    assert min(iou for *_, iou in m.pairs) > 0.8
    assert segment_cells(mip, PX, split_concavity=0.0).max() == 1  # without notch cuts


def test_one_notch_does_not_cut_a_cell(rng):
    mip, truth = draw_cells(rng, SHAPE, PX, [(25.0, 25.0, 20.0, 11.0, 0.0)], nucleus=False)
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]] * PX
    bite = (yy - 34.0) ** 2 + (xx - 25.0) ** 2 < 7.0**2  # a deep bite out of one side
    mip[bite] = rng.normal(200.0, 30.0, int(bite.sum()))
    truth[bite] = 0
    labels = segment_cells(mip, PX)
    assert labels.max() == 1
    assert match_labels(labels, truth).recall == 1.0


def _ellipses(shape, discs):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.any([((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 < 1 for cy, cx, a, b in discs], axis=0)


@pytest.mark.parametrize("discs", [
    [(60, 60, 30, 18), (60, 100, 28, 20)],            # a touching pair: the watershed and neck merge
    [(0, 50, 25, 30), (70, 149, 30, 22)],             # cells cut by the image's edges
    [(50, 40, 20, 15), (50, 80, 20, 15), (120, 60, 18, 40)],  # markers of separate cells within reach
    [(100, 100, 20, 20)],                             # with a square: flat sides along the box
])
def test_splitting_on_the_masks_box_gives_the_labels_of_the_whole_grid(discs):
    # _split works on the mask's bounding box (+1 px of background); the whole grid is the reference
    from ames_batch.segment._split import _split, _split_box

    mask = _ellipses((150, 150), discs)
    mask[58:62, 55:65] = False  # a hole, not touching the background
    if len(discs) == 1:
        mask[20:70, 20:70] = True
    params = dict(min_distance_px=20.0, depth_um=1.0, neck_ratio=0.7, notch_depth_um=3.0, concavity=0.35,
                  solidity_gain=0.03, min_area_px=100.0)
    whole = _split_box(mask, 0.5, **params)
    assert whole.max() >= 2
    np.testing.assert_array_equal(_split(mask, 0.5, **params), whole)


def test_solidity_on_the_regions_box_is_that_of_the_whole_grid(rng):
    # _solidity rasterises the hull on the region's bounding box; the whole grid is the reference
    from skimage.morphology import convex_hull_image

    from ames_batch.segment._concave import _solidity

    for _ in range(20):
        region = _ellipses((120, 140), [tuple(rng.uniform([10, 10, 5, 5], [110, 130, 40, 40])) for _ in range(3)])
        region &= rng.random(region.shape) > 0.05  # ragged, with holes
        assert _solidity(region) == region.sum() / max(1, convex_hull_image(region).sum())
    assert _solidity(np.zeros((5, 5), bool)) == 0.0


@pytest.mark.parametrize("discs", [
    [(60, 60, 30, 18), (60, 100, 28, 20)],           # inside the image
    [(0, 50, 25, 30), (70, 149, 30, 22)],            # cut by the image's edges
    [(75, 75, 100, 100)],                            # the whole image
    [],                                              # no pixel
])
def test_distances_on_the_masks_box_equal_scipys_on_the_whole_grid(discs, rng):
    from scipy import ndimage as ndi

    from ames_batch.segment._grid import _inside_distance, _outside_distance

    mask = _ellipses((150, 150), discs) & (rng.random((150, 150)) > 0.02)  # with holes
    np.testing.assert_array_equal(_inside_distance(mask), ndi.distance_transform_edt(mask))
    reference = ndi.distance_transform_edt(~mask)
    for reach in (0.5, 6.25, 40.0):
        outside = _outside_distance(mask, reach)
        near = reference <= reach
        np.testing.assert_array_equal(outside[near], reference[near])
        assert (outside[~near] > reach).all()


def test_object_medians_equal_scipys(rng):
    """The per-object median read box by box equals ``ndi.median`` over the whole image."""
    from scipy import ndimage as ndi

    from ames_batch.segment._foreground import _object_medians

    values = rng.normal(size=(300, 200)).astype(np.float32)
    objects, n = ndi.label(ndi.gaussian_filter(rng.random((300, 200)), 2) > 0.52)
    assert n > 20
    np.testing.assert_array_equal(_object_medians(values, objects),
                                  np.asarray(ndi.median(values, objects, np.arange(1, n + 1)), np.float32))


@pytest.mark.parametrize("discs", [
    [(60, 60, 30, 18), (60, 100, 28, 20)],           # touching cells, beside a thin strip
    [(0, 50, 25, 30), (70, 149, 30, 22)],            # cut by the image's edges
    [(75, 75, 100, 100)],                            # the whole image
])
def test_edge_trim_on_the_objects_box_equals_the_whole_grid(discs, rng):
    """`_refine_edges` looks up the nearest deep pixel on the objects' box; the reference here
    does it on the whole grid with scipy, as the docstring describes."""
    from scipy import ndimage as ndi

    from ames_batch.segment._foreground import _refine_edges

    mask = _ellipses((150, 150), discs)
    mask[40:44, 50:56] = False  # a hole: not outline
    if len(discs) == 2 and discs[0][0] == 60:
        mask[92:98, 40:120] = True  # no deep pixel of its own: the nearest ones are the cells', 1 px away
        mask[91, :] = mask[90, :] = False
    smooth = (ndi.gaussian_filter(mask.astype(np.float32), 3) + rng.normal(0, 0.05, mask.shape)).astype(np.float32)
    level, band = 0.5, 4.0
    filled = ndi.binary_fill_holes(mask)
    deep = ndi.distance_transform_edt(filled) > band
    objects, n = ndi.label(filled, structure=np.ones((3, 3), bool))
    medians = np.asarray(ndi.median(smooth, objects, np.arange(1, n + 1)), np.float32)
    _, (iy, ix) = ndi.distance_transform_edt(~deep, return_indices=True)
    reference = np.where(objects[iy, ix] == objects, smooth[iy, ix],
                         np.concatenate([[np.inf], medians])[objects])
    background = float(np.median(smooth[~mask]))
    cut = background + level * (reference - background)
    expected = mask & ~(filled & ~deep & (smooth <= cut))
    trimmed = _refine_edges(smooth, mask, level, band)
    assert (trimmed != mask).sum() > 10  # the rim was trimmed somewhere
    np.testing.assert_array_equal(trimmed, expected)
