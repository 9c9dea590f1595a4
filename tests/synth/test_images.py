"""The generated images carry what was asked for, measured by independent code."""

import dataclasses

import numpy as np
import pytest

from ames_batch.synth import DEMO_SCALE_UM, LOOKS, rate_cell, sample_cell_params, synthesize_field
from synth_measure import angle_diff, dominant_period, mask_orientation_deg, mip_float, striated_fraction

PIXEL_UM = DEMO_SCALE_UM["x"]


def _striated_cell(seed, sarcomere_um, source="ipsc"):
    """A small, fully organised cell without orientation disorder, narrow fibril gaps."""
    p = sample_cell_params(seed, source=source, sarcomerisation=4, directionality=1 + seed % 4)
    return dataclasses.replace(p, sarcomere_length_um=sarcomere_um, length_um=40.0, width_um=26.0,
                               orientation_disorder_deg=0.0, fibril_gap_um=0.3, organised_fraction=0.9)


@pytest.mark.parametrize("look", LOOKS)
@pytest.mark.parametrize(("seed", "sarcomere_um"), [(0, 1.6), (1, 1.75), (2, 1.9), (3, 2.05), (4, 2.2)])
def test_fft_period_and_stripe_angle_match_request(seed, sarcomere_um, look):
    """Both looks, each with its own randomised optics, carry the requested period and angle."""
    params = _striated_cell(seed, sarcomere_um)
    field = synthesize_field(seed, scale_um=DEMO_SCALE_UM, cell_params=[params], look=look)
    period, wave_deg = dominant_period(mip_float(field.stack), field.cell_labels == 1, PIXEL_UM)
    assert period == pytest.approx(sarcomere_um, rel=0.05)
    stripe_deg = (wave_deg + 90.0) % 180.0  # stripes run perpendicular to the wave vector
    wanted = (params.long_axis_deg + params.zdisc_angle_deg) % 180.0
    assert angle_diff(stripe_deg, wanted) < 5.0


@pytest.mark.parametrize("look", LOOKS)
def test_striated_area_rises_with_sarcomerisation(look):
    scores = {}
    for s in (1, 2, 3, 4):
        vals = []
        for seed in (0, 1):
            base = sample_cell_params(100 + seed, source="neonatal", sarcomerisation=4, directionality=4)
            fraction = sample_cell_params(10 * s + seed, sarcomerisation=s).organised_fraction
            params = dataclasses.replace(base, organised_fraction=fraction, length_um=60.0, width_um=40.0)
            assert rate_cell(params)["sarcomerisation"] == s
            field = synthesize_field(seed, scale_um=DEMO_SCALE_UM, cell_params=[params], look=look)
            vals.append(striated_fraction(mip_float(field.stack), field.cell_labels == 1, PIXEL_UM))
        scores[s] = float(np.mean(vals))
    ordered = [scores[s] for s in (1, 2, 3, 4)]
    assert all(b > a for a, b in zip(ordered, ordered[1:])), scores
    assert ordered[-1] - ordered[0] > 0.2, scores


@pytest.mark.parametrize("seed", range(6))
def test_mask_long_axis_matches_request(seed):
    source = ("adult", "neonatal", "ipsc")[seed % 3]
    params = sample_cell_params(seed, source=source)
    if source == "adult":  # keep the field small: a short rod is still a rod
        params = dataclasses.replace(params, length_um=80.0, width_um=16.0)
    field = synthesize_field(seed, scale_um={"z": 1.0, "y": 0.25, "x": 0.25}, cell_params=[params], n_z=4)
    mask = field.cell_labels == 1
    aspect = params.length_um / params.width_um
    assert aspect >= 1.3
    assert angle_diff(mask_orientation_deg(mask), params.long_axis_deg) < (3.0 if aspect > 1.6 else 6.0)


def test_cell_is_a_slab_thicker_in_the_middle():
    params = dataclasses.replace(sample_cell_params(3, source="ipsc"), height_um=4.0, diffuse_level=0.3,
                                 organised_fraction=0.05, zbody_density_per_um2=0.0, nucleus_height_um=0.0)
    field = synthesize_field(3, scale_um={"z": 0.25, "y": 0.25, "x": 0.25}, cell_params=[params])
    stack = field.stack.astype(float)
    bg = np.median(stack[:, field.cell_labels == 0])
    lit = (stack > bg + 0.5 * (np.percentile(stack[:, field.cell_labels == 1], 90) - bg))
    from scipy import ndimage as ndi
    dist = ndi.distance_transform_edt(field.cell_labels == 1)
    middle, rim = dist > 0.6 * dist.max(), (dist > 0) & (dist < 0.15 * dist.max())
    thick_mid = lit[:, middle].sum(axis=0).mean() * field.scale_um["z"]
    thick_rim = lit[:, rim].sum(axis=0).mean() * field.scale_um["z"]
    assert thick_mid > 1.5 * thick_rim
    assert thick_mid == pytest.approx(params.height_um, rel=0.5)
    # nothing but background and noise in the first and last slice
    assert stack[0, field.cell_labels == 1].mean() < bg + 0.2 * (stack.max(axis=0)[field.cell_labels == 1].mean() - bg)


@pytest.mark.parametrize("look", LOOKS)
def test_period_at_sim_scale(look):
    params = _striated_cell(5, 1.85)
    params = dataclasses.replace(params, length_um=24.0, width_um=16.0, height_um=2.0)
    scale = {"z": 0.125, "y": 0.08, "x": 0.08}
    field = synthesize_field(5, scale_um=scale, cell_params=[params], look=look)
    period, _ = dominant_period(mip_float(field.stack), field.cell_labels == 1, scale["x"])
    assert period == pytest.approx(1.85, rel=0.05)


def test_zdiscs_span_slices_like_a_myofibril_is_thick():
    """A z-disc of a ~1.5 µm wide myofibril stays bright over several 0.125 µm slices."""
    params = dataclasses.replace(_striated_cell(6, 1.9), length_um=24.0, width_um=16.0,
                                 fibril_width_um=1.5, height_um=4.0, zbody_density_per_um2=0.0)
    scale = {"z": 0.125, "y": 0.16, "x": 0.16}
    field = synthesize_field(6, scale_um=scale, cell_params=[params])
    stack = field.stack.astype(float)
    inside = field.cell_labels == 1
    mip = stack.max(axis=0)
    bright = inside & (mip > np.percentile(mip[inside], 97))
    bg = np.median(stack[:, ~inside])
    rel = (stack[:, bright] - bg) / (mip[bright] - bg)
    above_half = (rel > 0.5).sum(axis=0) * scale["z"]  # FWHM-like z extent per bright pixel, µm
    assert np.median(above_half) > 0.5  # wider than the axial PSF (< 0.45 µm FWHM)
