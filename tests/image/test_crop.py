import math

import numpy as np
import pytest
from skimage.measure import regionprops

from ames_batch.image import cell_bbox, cell_bboxes, cell_long_axis


def ellipse(shape, center, a, b, angle_rad):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    dy, dx = yy - center[0], xx - center[1]
    u = dx * math.cos(angle_rad) + dy * math.sin(angle_rad)
    v = -dx * math.sin(angle_rad) + dy * math.cos(angle_rad)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


@pytest.mark.parametrize("angle_deg", [-60, -10, 0, 30, 45, 89])
def test_long_axis_finds_planted_angle(angle_deg):
    mask = ellipse((64, 64), (30, 33), 25, 8, math.radians(angle_deg))
    (cy, cx), angle, elongation = cell_long_axis(mask, pixel_size_um=0.2)
    # rasterising a 25x8 px ellipse shifts its moment angle by well under 1°
    diff = (math.degrees(angle) - angle_deg + 90) % 180 - 90
    assert abs(diff) < 1.0
    assert (cy, cx) == pytest.approx((30, 33), abs=0.1)
    assert elongation == pytest.approx(25 / 8, rel=0.05)


def test_long_axis_agrees_with_skimage_orientation():
    # independent reference: skimage's orientation is measured from the row axis (y)
    mask = ellipse((64, 64), (32, 32), 20, 6, math.radians(25))
    _, angle, _ = cell_long_axis(mask, pixel_size_um=1.0)
    props = regionprops(mask.astype(np.uint8))[0]
    assert math.sin(angle) == pytest.approx(math.cos(props.orientation), abs=0.01)


def test_long_axis_uses_physical_units():
    # a square of pixels is a 2:1 rod when x pixels are twice as wide as y pixels
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    _, angle, elongation = cell_long_axis(mask, pixel_size_um=(0.1, 0.2))
    assert angle == pytest.approx(0.0, abs=1e-9)
    assert elongation == pytest.approx(2.0, rel=0.01)


def test_cell_bbox_margin_in_um_and_clipped():
    mask = np.zeros((30, 40), bool)
    mask[10:15, 2:20] = True
    assert cell_bbox(mask, pixel_size_um=0.5) == (slice(10, 15), slice(2, 20))
    assert cell_bbox(mask, pixel_size_um=0.5, margin_um=1.2) == (slice(7, 18), slice(0, 23))
    assert cell_bbox(mask, pixel_size_um=(1.0, 0.5), margin_um=1.0) == (slice(9, 16), slice(0, 22))


def test_cell_bbox_3d_and_integer_mask():
    mask = np.zeros((4, 10, 10), np.uint8)
    mask[1:3, 2:5, 6:9] = 1
    assert cell_bbox(mask, pixel_size_um=1.0) == (slice(1, 3), slice(2, 5), slice(6, 9))


def test_cell_bboxes_are_each_labels_cell_bbox():
    # labels touching the array's edges, one absent (3), one pixel wide, anisotropic pixels
    labels = np.zeros((30, 40), np.uint32)
    labels[0:6, 30:40] = 1
    labels[10:15, 2:20] = 2
    labels[20, 25] = 4
    labels[22:30, 0:3] = 5
    boxes = cell_bboxes(labels, pixel_size_um=(1.0, 0.5), margin_um=1.2)
    assert list(boxes) == [1, 2, 4, 5]
    for label, box in boxes.items():
        assert box == cell_bbox(labels == label, pixel_size_um=(1.0, 0.5), margin_um=1.2)
    assert cell_bboxes(np.zeros((5, 5), np.int64), pixel_size_um=1.0) == {}
    with pytest.raises(TypeError, match="integers"):
        cell_bboxes(labels.astype(float), pixel_size_um=1.0)


@pytest.mark.parametrize(
    ("mask", "kwargs", "error", "match"),
    [
        (np.zeros((8, 8), bool), {}, ValueError, "empty"),
        (np.full((8, 8), 2, np.uint8), {}, ValueError, "bool"),
        (np.ones((8, 8), bool), {"margin_um": -1}, ValueError, "margin_um"),
        (np.ones((8, 8), bool), {"pixel_size_um": 0}, ValueError, "pixel_size_um"),
        ([[True]], {}, TypeError, "numpy"),
    ],
)
def test_cell_bbox_rejects_bad_input(mask, kwargs, error, match):
    with pytest.raises(error, match=match):
        cell_bbox(mask, **({"pixel_size_um": 0.1} | kwargs))


def test_long_axis_rejects_3d_mask():
    with pytest.raises(ValueError, match="2D"):
        cell_long_axis(np.ones((2, 4, 4), bool), pixel_size_um=0.1)
