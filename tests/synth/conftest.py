"""Fixtures of the synth tests: quiet acquisition settings per look, so that structure shows."""

import pytest

from ames_batch.synth import OpticsParams, OpticsParamsB, OpticsParamsD


@pytest.fixture(scope="session")
def quiet_optics():
    """``{look: optics}``: bright, sharp, little haze and noise (looks "b" and "c" Airyscan-like, 16 bit;
    look "d" without vignetting, bleaching or drift, a low EM gain)."""
    optics = {
        "a": OpticsParams(blur_lateral_um=0.15, blur_axial_um=0.35, photons_per_unit=2000.0, background_photons=10.0,
                          background_gradient=0.0, background_angle_deg=0.0, illumination_unevenness=0.0,
                          haze_level=0.02, haze_sigma_um=2.0, read_noise=2.0, offset_counts=100.0, gain=1.0,
                          sim_speckle=0.0),
        "b": OpticsParamsB(mode="airyscan", blur_lateral_um=0.16, blur_axial_um=0.5, haze_level=0.05,
                           haze_axial_um=0.7, haze_lateral_um=1.0, photons_per_unit=2000.0, background_photons=10.0,
                           vignetting=0.0, vignette_centre_yx=(0.5, 0.5), gain=1.0, offset_counts=100.0,
                           read_noise=2.0, fixed_pattern=0.0, bit_depth=16, export_headroom=1.0, display_gamma=1.0),
        "d": OpticsParamsD(blur_lateral_um=0.2, psf_beta=3.5, blur_axial_um=0.5, axial_asymmetry=1.0,
                           crosstalk_level=0.01, crosstalk_axial_um=1.0, crosstalk_lateral_um=1.5,
                           photons_per_unit=2000.0, background_photons=10.0, vignetting=0.0,
                           vignette_centre_yx=(0.5, 0.5), bleach_per_um=0.0, acquired_upwards=True,
                           drift_yx_um_per_um=(0.0, 0.0), drift_jitter_um=0.0, em_gain=10.0,
                           sensitivity_e_per_count=10.0, spurious_charge=0.0, read_noise=2.0, row_pattern=0.0,
                           offset_counts=100.0, bit_depth=16),
    }
    return {**optics, "c": optics["b"]}
