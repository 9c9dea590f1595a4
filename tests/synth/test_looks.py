"""Looks of one truth: same labels, ratings and organised region; measurably different images."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage as ndi

from ames_batch.synth import (DEMO_SCALE_UM, LOOKS, OpticsParams, OpticsParamsB, sample_cell_params, sample_optics,
                              synthesize_field)
from ames_batch.synth._shapes import Outline

SMALL = {"z": 1.0, "y": 0.4, "x": 0.4}


def test_looks_are_listed_and_a_is_the_default():
    assert LOOKS == ("a", "b", "c", "d")
    assert synthesize_field(2, n_cells=1, scale_um=SMALL).look == "a"


def test_same_seed_same_bytes_in_look_b_and_the_truth_is_shared():
    a = synthesize_field(7, n_cells=2, scale_um=SMALL, touching=True)
    b = synthesize_field(7, n_cells=2, scale_um=SMALL, touching=True, look="b")
    again = synthesize_field(np.random.default_rng(7), n_cells=2, scale_um=SMALL, touching=True, look="b")
    assert b.look == "b" and isinstance(b.optics, OpticsParamsB) and isinstance(a.optics, OpticsParams)
    assert b.stack.tobytes() == again.stack.tobytes() and b.optics == again.optics
    # one truth: labels, cells (parameters and ratings) and the organised region do not depend on the look
    assert np.array_equal(a.cell_labels, b.cell_labels) and a.cells == b.cells
    assert np.array_equal(a.organised, b.organised)
    assert a.stack.shape == b.stack.shape and a.stack.tobytes() != b.stack.tobytes()


def test_look_c_is_look_a_cells_through_look_b_optics():
    """Same seed: c draws b's optics and shows a's structure (its MIP, blurred to the camera's
    resolution, follows a's far more closely than b's point-built discs)."""
    fields = {look: synthesize_field(5, n_cells=1, scale_um=DEMO_SCALE_UM, look=look) for look in LOOKS}
    again = synthesize_field(5, n_cells=1, scale_um=DEMO_SCALE_UM, look="c")
    c = fields["c"]
    assert c.optics == fields["b"].optics and c.stack.tobytes() == again.stack.tobytes()
    inside = c.cell_labels == 1

    def texture(field):  # the MIP's z-disc band (0.3-1 µm) inside the cell
        mip = field.stack.max(axis=0).astype(float)
        band = ndi.gaussian_filter(mip, 0.3 / 0.16) - ndi.gaussian_filter(mip, 1.0 / 0.16)
        return band[inside]

    r_a, r_b = (np.corrcoef(texture(c), texture(fields[look]))[0, 1] for look in ("a", "b"))
    assert r_a > 0.6 and r_a > r_b + 0.3, (r_a, r_b)


def test_optics_of_each_look_are_drawn_widely():
    draws = [sample_optics(seed, look="b") for seed in range(60)]
    assert {d.mode for d in draws} == {"widefield", "airyscan"}
    assert {d.bit_depth for d in draws} == {8, 12, 16}
    assert np.ptp([np.log(d.photons_per_unit) for d in draws]) > np.log(20.0)
    wide = [d for d in draws if d.mode == "widefield"]
    airy = [d for d in draws if d.mode == "airyscan"]
    assert min(d.blur_axial_um for d in wide) > max(d.blur_axial_um for d in airy)
    assert isinstance(sample_optics(0), OpticsParams) and sample_optics(3, look="a") == sample_optics(3)


def _flat_cell(seed=3, **change):
    """A 40 x 26 µm cell of mostly diffuse stain, no z-bodies, nucleus bulging 1.5 µm."""
    p = sample_cell_params(seed, source="ipsc")
    return dataclasses.replace(p, **{**dict(length_um=40.0, width_um=26.0, height_um=4.0, nucleus_height_um=1.5,
                                            diffuse_level=0.3, organised_fraction=0.05, zbody_density_per_um2=0.0,
                                            long_axis_deg=0.0), **change})


def test_nucleus_is_a_dark_hole_except_in_look_a(quiet_optics):
    """Looks b, c and d fill the cytoplasm with stain and leave the nucleus out; look a fills the whole body."""
    scale = {"z": 0.25, "y": 0.25, "x": 0.25}
    params = _flat_cell()
    ratio = {}
    for look in LOOKS:
        field = synthesize_field(3, scale_um=scale, cell_params=[params], look=look, optics=quiet_optics[look])
        stack = field.stack.astype(float)
        inside = field.cell_labels == 1
        signal = stack - np.median(stack[:, ~inside])
        yy, xx = np.mgrid[:inside.shape[0], :inside.shape[1]] * scale["x"]
        dome = Outline(params).nucleus_dome(*Outline(params).to_cell_frame(yy, xx, field.cells[0].centre_yx_um))
        ring = inside & (dome == 0) & ndi.binary_dilation(dome > 0, iterations=int(3.0 / scale["x"]))
        nucleus, around = signal[:, dome > 0.6].mean(axis=1), signal[:, ring].mean(axis=1)
        mid = int(np.argmax(around))  # the slice where the cytoplasm around the nucleus is brightest
        ratio[look] = nucleus[mid] / around[mid]
    # measured: a 1.06, b 0.02, c 0.02 (b's optics lay the diffuse stain in the cytoplasm's column), d 0.08
    assert ratio["a"] > 0.8 and ratio["b"] < 0.3 and ratio["c"] < 0.3 and ratio["d"] < 0.3, ratio


def test_widefield_haze_lowers_the_contrast_of_look_b(quiet_optics):
    """Median over 99th percentile of the MIP inside an organised cell: haze lifts what lies between z-discs."""
    scale = {"z": 0.25, "y": 0.2, "x": 0.2}
    wide = dataclasses.replace(quiet_optics["b"], mode="widefield", blur_lateral_um=0.3, blur_axial_um=0.9,
                               haze_level=2.5, haze_axial_um=2.0, haze_lateral_um=3.0)
    for seed in (1, 2):
        params = dataclasses.replace(sample_cell_params(seed, source="neonatal", sarcomerisation=4), length_um=40.0,
                                     width_um=26.0, zbody_density_per_um2=0.0, diffuse_level=0.02)
        contrast = {}
        for name, look, optics in (("a", "a", quiet_optics["a"]), ("airyscan", "b", quiet_optics["b"]),
                                   ("widefield", "b", wide)):
            field = synthesize_field(3, scale_um=scale, cell_params=[params], look=look, optics=optics)
            stack = field.stack.astype(float)
            inside = field.cell_labels == 1
            mip = stack.max(axis=0) - np.median(stack[:, ~inside])
            contrast[name] = np.median(mip[inside]) / np.percentile(mip[inside], 99)
        # measured: a 0.08 / 0.07, Airyscan 0.04 / 0.04, widefield 0.29 / 0.27
        assert contrast["widefield"] > 2.5 * max(contrast["a"], contrast["airyscan"]), (seed, contrast)


def test_vignetting_darkens_the_corners_of_look_b(quiet_optics):
    """Look a's background is a linear gradient (corners average the centre); look b's falls off radially."""
    params = [dataclasses.replace(_flat_cell(), length_um=20.0, width_um=14.0)]
    dark = dataclasses.replace(quiet_optics["b"], vignetting=0.4, background_photons=400.0, read_noise=0.5)
    tilted = dataclasses.replace(quiet_optics["a"], background_gradient=0.6, background_angle_deg=30.0,
                                 background_photons=400.0)
    ratio = {}
    for look, optics in (("a", tilted), ("b", dark)):
        field = synthesize_field(5, scale_um=SMALL, cell_params=params, field_size_um=(80.0, 80.0), n_z=3,
                                 look=look, optics=optics)
        mean = field.stack.astype(float).mean(axis=0) - optics.offset_counts
        free = ~ndi.binary_dilation(field.cell_labels > 0, iterations=10)
        n = 15
        corners = np.concatenate([mean[:n, :n].ravel(), mean[:n, -n:].ravel(), mean[-n:, :n].ravel(),
                                  mean[-n:, -n:].ravel()])
        h, w = mean.shape
        centre = mean[h // 2 - 2 * n:h // 2 + 2 * n, w // 2 - 2 * n:w // 2 + 2 * n]
        ratio[look] = corners.mean() / centre[free[h // 2 - 2 * n:h // 2 + 2 * n, w // 2 - 2 * n:w // 2 + 2 * n]].mean()
    # planted: 1 for the linear gradient, about 1 - 0.4 * 0.8 at the corners' middles for the vignetting
    assert 0.9 < ratio["a"] < 1.1 and ratio["b"] < 0.8, ratio


@pytest.mark.parametrize("bits", [8, 12])
def test_look_b_files_keep_their_bit_depth(quiet_optics, bits):
    optics = dataclasses.replace(quiet_optics["b"], bit_depth=bits, gain=3.0, export_headroom=1.2,
                                 display_gamma=0.6 if bits == 8 else 1.0)
    field = synthesize_field(4, scale_um=SMALL, cell_params=[_flat_cell(organised_fraction=0.9)], look="b",
                             optics=optics)
    top = 2**bits - 1
    assert field.stack.max() <= top and field.stack.dtype == np.uint16
    assert len(np.unique(field.stack)) > (100 if bits == 8 else 300)
    if bits == 8:  # an export: black at the camera offset, white just above the 99.9th percentile
        assert np.percentile(field.stack, 99.9) > 0.7 * top and np.median(field.stack) < 0.5 * top


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(look="e"), ValueError, "look"),
    (dict(look=None), ValueError, "look"),
    (dict(look="b", optics=sample_optics(0, look="a")), TypeError, "optics"),
    (dict(look="a", optics="bright"), TypeError, "optics"),
])
def test_bad_look_or_optics_is_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        synthesize_field(0, scale_um=DEMO_SCALE_UM, **kwargs)
    with pytest.raises(ValueError, match="look"):
        sample_optics(0, look="B")
