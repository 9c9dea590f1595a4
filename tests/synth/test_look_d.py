"""Look "d", the held-out look: its own image of the shared truth, measured on the stacks.

What is specific to d: independent cells (beaded z-lines, stress fibres, rim, perinuclear stain)
whose sarcomere length and z-line angle the metrics still recover, and a spinning-disk confocal
with an EMCCD: heavy-tailed lateral and asymmetric axial blur, vignetting, bleaching along z,
lateral drift per plane, excess noise of the EM gain and a fixed pattern per row.
"""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage as ndi

from ames_batch.metrics import cell_metrics
from ames_batch.synth import (DEMO_SCALE_UM, OpticsParamsD, sample_cell_params, sample_optics,
                              synthesize_field)
from ames_batch.synth._optics_d import _moffat_otf, sample_optics_d
from ames_batch.synth._shapes import Outline

SMALL = {"z": 1.0, "y": 0.4, "x": 0.4}
SCALE = {"z": 0.25, "y": 0.2, "x": 0.2}


def _texture(field, inside):
    """The MIP's z-disc band (0.3-1 µm) inside the cell."""
    mip = field.stack.max(axis=0).astype(float)
    px = field.scale_um["x"]
    return (ndi.gaussian_filter(mip, 0.3 / px) - ndi.gaussian_filter(mip, 1.0 / px))[inside]


def _plain_cell(seed=3, **change):
    """A 30 x 20 µm iPSC-like cell lying along x, little organised, no z-bodies: mostly stain."""
    p = sample_cell_params(seed, source="ipsc")
    return dataclasses.replace(p, **{**dict(length_um=30.0, width_um=20.0, height_um=3.0, nucleus_height_um=0.5,
                                            diffuse_level=0.1, organised_fraction=0.05, zbody_density_per_um2=0.0,
                                            long_axis_deg=0.0), **change})


def _signal(field):
    """Stack minus each plane's background (median outside the cells), and the cell mask."""
    stack = field.stack.astype(float)
    inside = field.cell_labels == 1
    return stack - np.median(stack[:, ~inside], axis=1)[:, None, None], inside


def test_same_seed_same_bytes_and_the_truth_of_look_a():
    a = synthesize_field(7, n_cells=2, scale_um=SMALL, touching=True)
    d = synthesize_field(7, n_cells=2, scale_um=SMALL, touching=True, look="d")
    again = synthesize_field(np.random.default_rng(7), n_cells=2, scale_um=SMALL, touching=True, look="d")
    assert d.look == "d" and isinstance(d.optics, OpticsParamsD) and d.stack.dtype == np.uint16
    assert d.stack.tobytes() == again.stack.tobytes() and d.optics == again.optics
    assert np.array_equal(a.cell_labels, d.cell_labels) and a.cells == d.cells
    assert np.array_equal(a.organised, d.organised) and a.stack.shape == d.stack.shape


def test_look_d_draws_its_own_cells():
    """Same truth and seed: look c (a's cells) follows a's z-disc texture, look d does not."""
    for seed in (5, 7):
        fields = {look: synthesize_field(seed, scale_um=DEMO_SCALE_UM, look=look) for look in "acd"}
        inside = fields["a"].cell_labels == 1
        ref = _texture(fields["a"], inside)
        r_c, r_d = (np.corrcoef(_texture(fields[look], inside), ref)[0, 1] for look in "cd")
        # measured: c 0.96 / 0.98, d 0.34 / 0.28 (the same organised region, period and angle)
        assert r_d < 0.5 and r_c > r_d + 0.4, (seed, r_c, r_d)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_metrics_recover_sarcomere_length_and_angle(seed):
    """A well-organised cell in look d, with the look's randomised optics, measured by ames_batch.metrics."""
    source = ("adult", "neonatal", "ipsc", "neonatal")[seed]
    params = dataclasses.replace(sample_cell_params(40 + seed, source=source, sarcomerisation=4,
                                                    directionality=1 + seed), length_um=45.0, width_um=25.0,
                                 orientation_disorder_deg=3.0, organised_fraction=0.9)
    field = synthesize_field(seed, scale_um=DEMO_SCALE_UM, cell_params=[params], look="d")
    m = cell_metrics(field.stack.max(axis=0), field.cell_labels == 1, field.scale_um["x"])
    # measured: within 0.13 % and 1.4°
    assert m["sarcomere_length_um"] == pytest.approx(params.sarcomere_length_um, rel=0.03)
    assert m["zdisc_angle_deg"] == pytest.approx(abs(params.zdisc_angle_deg), abs=5.0)


def test_optics_sampler_is_deterministic_and_varied():
    assert sample_optics_d(3) == sample_optics_d(np.random.default_rng(3)) == sample_optics(3, look="d")
    draws = [sample_optics_d(seed) for seed in range(60)]
    assert len(set(draws)) == 60
    assert {d.bit_depth for d in draws} == {14, 16} and {d.acquired_upwards for d in draws} == {True, False}
    assert np.ptp([np.log(d.photons_per_unit) for d in draws]) > np.log(5.0)
    assert all(0.1 <= d.vignetting <= 0.5 and 0.01 <= d.bleach_per_um <= 0.07 for d in draws)
    assert all(d.axial_asymmetry > 1 and d.psf_beta > 1 for d in draws)
    # the EM gain is capped so that a structure 1.5 x a unit z-disc stays below the clip
    for d in draws:
        peak = d.offset_counts + 1.5 * d.photons_per_unit * d.em_gain / d.sensitivity_e_per_count
        assert peak <= 2**d.bit_depth - 1 + 1e-6 or d.em_gain == 2.0


def test_lateral_psf_has_heavier_tails_than_a_gaussian():
    """The Moffat kernel's FWHM is the requested one; much more of its light lies beyond 1.5 FWHM."""
    px = 0.02
    optics = dataclasses.replace(sample_optics_d(0), blur_lateral_um=0.25, psf_beta=2.0)
    kernel = np.fft.fftshift(np.fft.irfft2(_moffat_otf((256, 256), px, optics), s=(256, 256)))
    r = np.hypot(*np.mgrid[-128:128, -128:128]) * px
    profile = kernel[128, 128:]
    fwhm = 2 * px * np.interp(0.5, profile[::-1] / profile[0], np.arange(128)[::-1])
    sigma = 0.25 / 2.355
    gauss = np.exp(-0.5 * (r / sigma) ** 2)
    tail, tail_gauss = (k[r > 1.5 * 0.25].sum() / k.sum() for k in (kernel, gauss))
    # planted: a 0.25 µm FWHM; beyond 0.375 µm a Moffat of beta 2 keeps ~0.2 (cut at 2 µm), a Gaussian 0.002
    # (measured 0.251 µm, 0.21 and 0.002)
    assert fwhm == pytest.approx(0.25, rel=0.05) and tail > 0.1 > 50 * tail_gauss, (fwhm, tail, tail_gauss)


def test_axial_blur_is_asymmetric(quiet_optics):
    """A single layer of z-discs: with the asymmetric PSF its light reaches further above than below."""
    params = dataclasses.replace(_plain_cell(organised_fraction=0.9, diffuse_level=0.0), fibril_layers=1,
                                 zdisc_out_of_plane_deg=0.0, height_um=5.0, nucleus_height_um=0.0)
    ratio = {}
    for asym in (1.0, 1.8):
        optics = dataclasses.replace(quiet_optics["d"], blur_axial_um=0.9, axial_asymmetry=asym)
        signal, inside = _signal(synthesize_field(3, scale_um=SCALE, cell_params=[params], look="d", optics=optics))
        core = ndi.distance_transform_edt(inside) * SCALE["x"] > 4.0
        mip = signal.max(axis=0)
        cols = signal[:, core & (mip > np.percentile(mip[core], 95))]
        top = np.argmax(cols, axis=0)
        step = int(round(0.75 / SCALE["z"]))
        ok = (top >= step) & (top < signal.shape[0] - step)
        j = np.flatnonzero(ok)
        ratio[asym] = np.median(cols[top[ok] + step, j] / np.maximum(cols[top[ok] - step, j], 1.0))
    # planted: the split normal's half widths above/below are 1 : 1 and 1.8 : 1 (measured 1.06 and 1.94)
    assert 0.8 < ratio[1.0] < 1.3 and ratio[1.8] > 1.5 * ratio[1.0], ratio


def test_vignetting_darkens_the_corners(quiet_optics):
    """Background light falls off as cos**4 towards the corners: `vignetting` lost at a corner."""
    params = [dataclasses.replace(_plain_cell(), length_um=20.0, width_um=14.0)]
    ratio = {}
    for v in (0.0, 0.4):
        optics = dataclasses.replace(quiet_optics["d"], vignetting=v, background_photons=400.0, read_noise=0.5)
        field = synthesize_field(5, scale_um=SMALL, cell_params=params, field_size_um=(80.0, 80.0), n_z=3,
                                 look="d", optics=optics)
        mean = field.stack.astype(float).mean(axis=0) - optics.offset_counts
        free = ~ndi.binary_dilation(field.cell_labels > 0, iterations=10)
        n = 10
        corners = np.concatenate([mean[:n, :n].ravel(), mean[:n, -n:].ravel(), mean[-n:, :n].ravel(),
                                  mean[-n:, -n:].ravel()])
        h, w = mean.shape
        centre = (slice(h // 2 - 2 * n, h // 2 + 2 * n), slice(w // 2 - 2 * n, w // 2 + 2 * n))
        ratio[v] = corners.mean() / mean[centre][free[centre]].mean()
    # planted: 1 without; 0.6 at the very corner, ~0.64 over the corner patches (measured 1.00 / 0.63)
    assert 0.97 < ratio[0.0] < 1.03 and 0.58 < ratio[0.4] < 0.7, ratio


@pytest.mark.parametrize("upwards", [True, False])
def test_bleaching_dims_the_planes_acquired_later(quiet_optics, upwards):
    params = [_plain_cell(diffuse_level=0.3)]
    signal = {}
    for rate in (0.0, 0.15):
        optics = dataclasses.replace(quiet_optics["d"], bleach_per_um=rate, acquired_upwards=upwards)
        s, inside = _signal(synthesize_field(2, scale_um=SCALE, cell_params=params, look="d", optics=optics))
        signal[rate] = s[:, inside].mean(axis=1)
    lit = signal[0.0] > 0.3 * signal[0.0].max()
    z = np.arange(signal[0.0].size) * SCALE["z"]
    acquired = z if upwards else z[::-1]
    # planted: exp(-0.15 per µm of stack acquired), on the signal only (measured within 0.2 %)
    np.testing.assert_allclose((signal[0.15] / signal[0.0])[lit], np.exp(-0.15 * acquired[lit]), rtol=0.03)


def test_planes_drift_laterally(quiet_optics):
    """Drift of 0.1 µm in x per µm of stack: each plane's content moves by that much, relative to no drift."""
    params = [dataclasses.replace(_plain_cell(diffuse_level=0.3), zbody_density_per_um2=0.3)]
    centroid = {}
    for drift in (0.0, 0.1):
        optics = dataclasses.replace(quiet_optics["d"], drift_yx_um_per_um=(0.0, drift))
        s, inside = _signal(synthesize_field(2, scale_um=SCALE, cell_params=params, look="d", optics=optics))
        near = ndi.binary_dilation(inside, iterations=10)
        x = np.arange(inside.shape[1]) * SCALE["x"]
        w = np.clip(s, 0.0, None) * near
        centroid[drift] = (w * x).sum(axis=(1, 2)) / w.sum(axis=(1, 2))
    shift = centroid[0.1] - centroid[0.0]
    z = np.arange(shift.size) * SCALE["z"]
    lit = np.abs(z - z.mean()) < 1.5  # planes through the cell
    # planted: 0.1 µm per µm of stack, acquired upwards from plane 0 (measured 0.101)
    slope = np.polyfit(z[lit], shift[lit], 1)[0]
    assert slope == pytest.approx(0.1, abs=0.01), slope


def _background(optics, seed=4):
    """(Z, Y, X) counts and the pixels 6 µm or more from a small cell, in an 80 µm field."""
    field = synthesize_field(seed, scale_um=SMALL, cell_params=[_plain_cell()], field_size_um=(80.0, 80.0), n_z=8,
                             look="d", optics=optics)
    return field.stack.astype(float), ~ndi.binary_dilation(field.cell_labels > 0, iterations=15)


def test_em_gain_doubles_the_shot_noise(quiet_optics):
    """Background far from the cell: variance = 2 x mean x counts per photo-electron, the excess noise
    factor F**2 = 2 of an EM register (a camera that only counts photons has 1)."""
    optics = dataclasses.replace(quiet_optics["d"], background_photons=5.0, em_gain=200.0,
                                 sensitivity_e_per_count=10.0, read_noise=1.0, crosstalk_level=0.0)
    counts, free = _background(optics)
    above = counts[:, free] - optics.offset_counts
    per_e = optics.em_gain / optics.sensitivity_e_per_count
    excess = (above.var() - optics.read_noise**2 - 1 / 12) / (above.mean() * per_e)  # rounding adds 1/12
    # planted: mean 5 photo-electrons x 20 counts; F**2 = 2 (measured 5.00 and 2.00)
    assert above.mean() == pytest.approx(5.0 * per_e, rel=0.02) and excess == pytest.approx(2.0, abs=0.1), excess


def test_rows_keep_their_offset_in_every_plane(quiet_optics):
    optics = dataclasses.replace(quiet_optics["d"], background_photons=1.0, em_gain=50.0, row_pattern=4.0)
    counts, free = _background(optics)
    rows = np.where(free, counts, np.nan)
    first, second = (np.nanmean(rows[half], axis=(0, 2)) for half in (slice(0, 4), slice(4, 8)))
    # planted: one offset per row, standard deviation 4 counts, the same in all planes (measured r 0.995, 4.0)
    assert np.corrcoef(first, second)[0, 1] > 0.95 and 3.0 < first.std() < 5.0, (first.std(), second.std())


def test_unorganised_region_holds_lines_and_the_nucleus_a_bright_rim(quiet_optics):
    """Stress fibres: long thin bright objects outside the organised region; the stain is brighter just
    around the nucleus than further out, and the nucleus itself is dark."""
    params = _plain_cell(seed=8, length_um=40.0, width_um=26.0, height_um=4.0, nucleus_height_um=1.0,
                         organised_fraction=0.1, diffuse_level=0.05)
    field = synthesize_field(8, scale_um=SCALE, cell_params=[params], look="d", optics=quiet_optics["d"])
    signal, inside = _signal(field)
    mip = signal.max(axis=0)
    free = inside & ~ndi.binary_dilation(field.organised, iterations=5)
    ridges = mip - ndi.gaussian_filter(mip, 1.0 / SCALE["x"])
    labels, n = ndi.label(free & (ridges > 4 * np.median(np.abs(ridges[free]))))
    lengths = [np.ptp(np.nonzero(labels == k)[1]) * SCALE["x"] for k in range(1, n + 1)]
    yy, xx = np.mgrid[:inside.shape[0], :inside.shape[1]] * SCALE["x"]
    o = Outline(params)
    u, v = o.to_cell_frame(yy, xx, field.cells[0].centre_yx_um)
    (cu, cv), (a, b) = o.nucleus_centre_uv, o.nucleus_axes_um
    r = np.hypot((u - cu) / a, (v - cv) / b)  # 1 on the nucleus's outline
    body = free & (o.rho(u, v) < 0.8)  # off the cortical rim
    lit = np.flatnonzero(signal[:, body].mean(axis=1) > 0.5 * signal[:, body].mean(axis=1).max())
    plane = signal[lit[lit.size // 2]]  # mid-height of the cytoplasm, through the nucleus
    near, far, nucleus = (np.median(plane[body & m]) for m in ((r > 1.1) & (r < 1.4), (r > 1.9) & (r < 2.3), r < 0.6))
    # planted: lines 3-15 µm mostly along x; stain 2-4 x higher at the nucleus's rim, decaying over 1-3 µm
    # (measured: longest 10 µm; near 363, far 168, nucleus 2 counts)
    assert max(lengths) > 3.0, sorted(lengths)[-3:]
    assert near > 1.5 * far and nucleus < 0.1 * far, (near, far, nucleus)
