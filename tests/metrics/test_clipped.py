"""Clipped cells: the texture metrics read clipped plateaus as domes (`extrapolate_clipped`)."""

import numpy as np
import pytest

from ames_batch.metrics import METRIC_NAMES, cell_metrics, extrapolate_clipped

from metrics_planted import planted_cell

SHAPE_METRICS = ("area_um2", "length_um", "width_um", "aspect_ratio", "solidity", "rectangularity",
                 "long_axis_deg")


def _clipped_at(mip, mask, q):
    level = np.percentile(mip[mask], q)
    clipped = np.minimum(mip, level)
    return clipped, clipped >= level


@pytest.mark.parametrize("line_deg", [90.0, 30.0])
def test_clipped_stripes_keep_their_zdisc_density(rng, line_deg):
    mip, mask = planted_cell(rng, zdisc_line_deg=line_deg, zdisc_sigma_um=0.1)
    clean = cell_metrics(mip, mask, 0.16)["zdisc_density_per_um"]
    sat, hit = _clipped_at(mip, mask, 90)
    flat = cell_metrics(sat, mask, 0.16)["zdisc_density_per_um"]
    domes = cell_metrics(sat, mask, 0.16, clipped=hit)["zdisc_density_per_um"]
    assert abs(flat - clean) > 0.3 * clean  # the mesas lose z-disc line length
    assert domes == pytest.approx(clean, rel=0.1)


def test_clipped_synthetic_cells_keep_their_order():
    """Cells of the generator clipped at their 90th percentile: their z-discs become mesas a few
    counts above the diffuse stain; read as domes, `oop` and `zdisc_axis_alignment` move less."""
    from ames_batch.synth import DEMO_SCALE_UM, sample_cell_params, synthesize_field

    names, px = ("oop", "zdisc_axis_alignment"), DEMO_SCALE_UM["x"]
    flat, domes = [], []
    for i in range(8):
        rng = np.random.default_rng([90, i])
        params = sample_cell_params(rng, sarcomerisation=i % 4 + 1, directionality=i // 2 + 1)
        field = synthesize_field(rng, cell_params=[params], scale_um=DEMO_SCALE_UM, look="a")
        mip, mask = field.stack.max(axis=0).astype(np.float32), field.cell_labels == 1
        clean = cell_metrics(mip, mask, px)
        sat, hit = _clipped_at(mip, mask, 90)
        plain, read = cell_metrics(sat, mask, px), cell_metrics(sat, mask, px, clipped=hit)
        flat.append([abs(plain[k] - clean[k]) for k in names])
        domes.append([abs(read[k] - clean[k]) for k in names])
    (oop_flat, align_flat), (oop_domes, align_domes) = np.median(flat, axis=0), np.median(domes, axis=0)
    assert oop_flat > 0.1  # clipping moved the order parameter of these cells by a lot
    assert oop_domes < 0.75 * oop_flat and align_domes < align_flat


def test_nothing_clipped_changes_nothing(rng):
    mip, mask = planted_cell(rng, zdisc_line_deg=60.0)
    plain = cell_metrics(mip, mask, 0.16)
    got = cell_metrics(mip, mask, 0.16, clipped=np.zeros(mip.shape, np.float32))
    assert list(got) == list(METRIC_NAMES)
    np.testing.assert_array_equal([got[k] for k in METRIC_NAMES], [plain[k] for k in METRIC_NAMES])


def test_shape_is_read_from_the_mask_whatever_was_clipped(rng):
    mip, mask = planted_cell(rng, zdisc_line_deg=60.0)
    sat, hit = _clipped_at(mip, mask, 70)
    plain, read = cell_metrics(mip, mask, 0.16), cell_metrics(sat, mask, 0.16, clipped=hit)
    assert [read[k] for k in SHAPE_METRICS] == [plain[k] for k in SHAPE_METRICS]


def test_a_plateau_becomes_a_dome_that_continues_the_slope():
    # a ramp of slope 2 counts/px clipped at 10: the plateau keeps rising at 2 per px inside
    x = np.arange(20, dtype=np.float32)
    ramp = np.minimum(np.minimum(2 * x, 2 * (19 - x)), 10.0)
    mip = np.tile(ramp, (5, 1))
    out = extrapolate_clipped(mip, mip >= 10)
    row = out[2]
    assert np.all(np.diff(row[:10]) > 0) and np.all(np.diff(row[10:]) < 0)  # one peak, mid-plateau
    assert row[5] == pytest.approx(11.0)  # its edge pixel: half a pixel in, at 2 counts/px
    np.testing.assert_array_equal(out[mip < 10], mip[mip < 10])


def test_nothing_or_all_clipped_is_returned_as_is():
    mip = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert extrapolate_clipped(mip, np.zeros((3, 4), bool)) is mip
    assert extrapolate_clipped(mip, np.ones((3, 4), bool)) is mip


def test_clipped_of_another_shape_raises():
    with pytest.raises(ValueError, match="shape"):
        extrapolate_clipped(np.zeros((3, 4), np.float32), np.zeros((4, 3), bool))
