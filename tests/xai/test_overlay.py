"""overlay_png writes a real PNG with the heatmap, outline and scale bar where they belong."""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from ames_batch.xai import overlay_png

N = 40
K = 13  # enlargement: smallest whole factor with 40 * k >= 512


def _scene(rng):
    mip = rng.integers(100, 200, size=(N, N)).astype(np.uint16)
    heat = np.zeros((N, N), np.float32)
    heat[5:15, 22:32] = 0.7  # hot square, top right (inferno(0.7) is orange)
    mask = np.zeros((N, N), bool)
    mask[4:30, 4:30] = True
    return mip, heat, mask


def _px(img, y, x):
    """RGB of crop pixel (y, x) in the enlarged picture (centre of its k x k block)."""
    return img[y * K + K // 2, x * K + K // 2, :3].astype(int)


def test_overlay_png_draws_heat_outline_and_scale_bar(rng, tmp_path):
    mip, heat, mask = _scene(rng)
    out = overlay_png(mip, heat, mask, tmp_path / "cell.png", pixel_size_um=0.1, title="Grad-CAM")
    assert out == tmp_path / "cell.png" and out.stat().st_size > 0
    img = iio.imread(out)
    assert img.shape[:2] == (N * K, N * K) and img.dtype == np.uint8

    hot = _px(img, 10, 27)
    assert hot[0] > hot[2] + 60  # orange over grey at opacity 0.6 * 0.7: red >> blue
    cold = _px(img, 20, 15)  # inside the cell, no heat: grey
    assert np.ptp(cold) <= 2
    edge = _px(img, 4, 15)  # top edge of the mask: cyan outline
    assert edge[0] < 60 and edge[1] > 200 and edge[2] > 200
    assert np.ptp(_px(img, 2, 15)) <= 2  # just outside the mask: grey again

    # scale bar: 40 px * 0.1 um = 4 um wide -> nice length closest to 0.8 um is 1 um = 10 px,
    # white, in the bottom-right corner
    bottom = img[int(0.9 * N * K):, int(0.6 * N * K):, :3]
    white = np.all(bottom > 250, axis=-1)
    width_px = white.sum(axis=1).max() / K  # the bar is the widest white row (text is thinner)
    assert width_px == pytest.approx(10, abs=1.0)


def test_signed_heatmap_uses_both_sides_of_a_diverging_map(rng, tmp_path):
    mip, _, labels = _scene(rng)
    ig = np.zeros((N, N), np.float32)
    ig[5:15, 5:15], ig[20:28, 20:28] = 2.0, -2.0
    img = iio.imread(overlay_png(mip, ig, labels.astype(np.uint32) * 7, tmp_path / "ig.png", pixel_size_um=0.2))
    pos, neg = _px(img, 10, 10), _px(img, 24, 24)
    assert pos[0] > pos[2] + 40 and neg[2] > neg[0] + 40  # red for positive, blue for negative


def test_several_labels_are_all_outlined(rng, tmp_path):
    mip = np.full((N, N), 150, np.uint16)
    labels = np.zeros((N, N), np.uint32)
    labels[5:15, 5:15], labels[20:35, 20:35] = 1, 2
    img = iio.imread(overlay_png(mip, np.zeros((N, N), np.float32), labels, tmp_path / "l.png", pixel_size_um=1.0))
    for y, x in ((5, 10), (20, 25)):
        r, g, b = _px(img, y, x)
        assert r < 60 and g > 200 and b > 200


def test_overlay_png_refuses_bad_arguments(rng, tmp_path):
    mip, heat, mask = _scene(rng)
    with pytest.raises(ValueError, match="`heatmap` must match"):
        overlay_png(mip, heat[:-1], mask, tmp_path / "a.png", pixel_size_um=0.1)
    with pytest.raises(ValueError, match="`cell_mask` must match"):
        overlay_png(mip, heat, mask[:, :-1], tmp_path / "a.png", pixel_size_um=0.1)
    with pytest.raises(ValueError, match=r"\(Y, X\)"):
        overlay_png(mip[None], heat, mask, tmp_path / "a.png", pixel_size_um=0.1)
    with pytest.raises(ValueError, match="pixel_size_um"):
        overlay_png(mip, heat, mask, tmp_path / "a.png", pixel_size_um=0.0)
    with pytest.raises(TypeError, match="pixel_size_um"):
        overlay_png(mip, heat, mask, tmp_path / "a.png", pixel_size_um="0.1")
    with pytest.raises(ValueError, match="finite float"):
        overlay_png(mip, np.full((N, N), np.nan, np.float32), mask, tmp_path / "a.png", pixel_size_um=0.1)
    with pytest.raises(ValueError, match="bool mask or integer"):
        overlay_png(mip, heat, mask.astype(float), tmp_path / "a.png", pixel_size_um=0.1)
    with pytest.raises(ValueError, match=".png"):
        overlay_png(mip, heat, mask, tmp_path / "a.jpg", pixel_size_um=0.1)
    with pytest.raises(ValueError, match="does not exist"):
        overlay_png(mip, heat, mask, tmp_path / "nope" / "a.png", pixel_size_um=0.1)
    assert not any(Path(tmp_path).iterdir())
