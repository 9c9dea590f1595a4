"""`zdisc_pieces` recovers planted z-disc line lengths and punctum counts."""

import math

import numpy as np
import pytest

from ames_batch.metrics import cell_metrics, zdisc_pieces


def _discs(rng, *, length_um, pixel_size_um, size_um=40.0, period_um=1.8, sigma_um=0.12, noise=0.05):
    """Rows of vertical z-disc lines `length_um` long, a gap as long between rows (µm); whole
    rows only (a row cut by the border would be short lines)."""
    n = int(round(size_um / pixel_size_um))
    y, x = np.mgrid[:n, :n] * pixel_size_um
    stripes = np.exp(-((x % period_um) - period_um / 2) ** 2 / (2 * sigma_um ** 2))
    rows = ((y % (2 * length_um)) < length_um) & (y < (size_um // (2 * length_um)) * 2 * length_um)
    return (stripes * rows + noise * rng.standard_normal((n, n))).astype(np.float32)


def _dots(rng, *, n_dots, pixel_size_um, size_um=40.0, sigma_um=0.1, noise=0.05):
    """`n_dots` Gaussian puncta at least 1 µm apart (on a jittered grid) and their field."""
    n = int(round(size_um / pixel_size_um))
    img = noise * rng.standard_normal((n, n))
    side = int(math.ceil(math.sqrt(n_dots)))
    step = (size_um - 2.0) / side
    cells = rng.choice(side * side, n_dots, replace=False)
    y, x = np.mgrid[:n, :n] * pixel_size_um
    for c in cells:
        cy, cx = 1.0 + step * (c // side + 0.5), 1.0 + step * (c % side + 0.5)
        cy, cx = cy + rng.uniform(-0.2, 0.2) * step, cx + rng.uniform(-0.2, 0.2) * step
        img += rng.uniform(0.6, 1.0) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma_um ** 2))
    return img.astype(np.float32)


@pytest.mark.parametrize("pixel_size_um", [0.08, 0.16])
@pytest.mark.parametrize("length_um", [0.9, 1.2, 2.0, 3.0])
def test_zdisc_length_recovers_planted_line_length(rng, length_um, pixel_size_um):
    mip = _discs(rng, length_um=length_um, pixel_size_um=pixel_size_um)
    m = zdisc_pieces(mip, np.ones(mip.shape, bool), pixel_size_um)
    # within one pixel and 5 %: the threshold cuts a line's blurred ends by about a pixel
    assert m["zdisc_length_um"] == pytest.approx(length_um, abs=pixel_size_um + 0.05 * length_um)
    assert m["punctate_density_per_um2"] < 0.01


@pytest.mark.parametrize("pixel_size_um", [0.08, 0.16])
@pytest.mark.parametrize("density_per_um2", [0.05, 0.2, 0.5])
def test_punctate_density_counts_planted_dots(rng, density_per_um2, pixel_size_um):
    n_dots = int(round(density_per_um2 * 40.0 ** 2))
    mip = _dots(rng, n_dots=n_dots, pixel_size_um=pixel_size_um)
    m = zdisc_pieces(mip, np.ones(mip.shape, bool), pixel_size_um)
    assert m["punctate_density_per_um2"] == pytest.approx(density_per_um2, rel=0.1)


def test_lines_and_dots_in_one_cell_are_told_apart(rng):
    px = 0.16
    lines = _discs(rng, length_um=1.5, pixel_size_um=px)
    # z-bodies as bright as the z-discs (much dimmer ones beside bright discs are missed: Notes)
    dots = _dots(rng, n_dots=200, pixel_size_um=px, sigma_um=0.15)
    left = np.zeros(lines.shape, bool)
    left[:, : lines.shape[1] // 2] = True
    mip = np.where(left, lines, dots)
    m = zdisc_pieces(mip, np.ones(mip.shape, bool), px)
    assert m["zdisc_length_um"] == pytest.approx(1.5, abs=0.2)
    # the dots of the right half (about 100 of the 200), per µm² of the whole cell
    assert m["punctate_density_per_um2"] == pytest.approx(100 / 40.0 ** 2, rel=0.25)


def test_pieces_of_noise_and_of_a_constant_image():
    rng = np.random.default_rng(3)
    mask = np.ones((150, 150), bool)
    m = zdisc_pieces(rng.normal(100, 10, mask.shape), mask, 0.16)
    assert math.isnan(m["zdisc_length_um"]) or m["zdisc_length_um"] < 0.6
    flat = zdisc_pieces(np.full(mask.shape, 7.0), mask, 0.16)
    assert math.isnan(flat["zdisc_length_um"]) and flat["punctate_density_per_um2"] == 0.0


def test_cell_metrics_reports_the_pieces(rng):
    mip = _discs(rng, length_um=1.2, pixel_size_um=0.16)
    mask = np.ones(mip.shape, bool)
    m = cell_metrics(mip, mask, 0.16)
    assert {k: m[k] for k in ("zdisc_length_um", "punctate_density_per_um2")} == zdisc_pieces(mip, mask, 0.16)
