"""Look "a", acquisition: SIM-like z-sectioning, blur, haze, uneven light, background, noise, uint16."""

import numpy as np
from scipy import ndimage as ndi

from ._params import OpticsParams

__all__ = ["sample_optics_a", "acquire_stack_a"]

_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def sample_optics_a(rng: np.random.Generator) -> OpticsParams:
    """Draw look-"a" acquisition settings (domain randomisation over real SIM-like ranges)."""
    return OpticsParams(
        blur_lateral_um=float(np.exp(rng.uniform(np.log(0.09), np.log(0.3)))),
        blur_axial_um=rng.uniform(0.25, 0.45),
        photons_per_unit=float(np.exp(rng.uniform(np.log(150.0), np.log(3000.0)))),
        background_photons=float(np.exp(rng.uniform(np.log(2.0), np.log(60.0)))),
        background_gradient=rng.uniform(0.0, 0.6),
        background_angle_deg=rng.uniform(0.0, 360.0),
        illumination_unevenness=rng.uniform(0.0, 0.3),
        haze_level=rng.uniform(0.0, 0.12),
        haze_sigma_um=rng.uniform(1.0, 4.0),
        read_noise=rng.uniform(1.0, 6.0),
        offset_counts=rng.uniform(50.0, 150.0),
        gain=rng.uniform(0.5, 2.0),
        sim_speckle=rng.uniform(0.0, 0.25),
    )


def _blur_wide(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with a wide kernel, done on a block-averaged copy for speed."""
    factor = int(max(1, sigma_px // 2))
    if factor == 1:
        return ndi.gaussian_filter(img, sigma_px, mode="nearest")
    h, w = img.shape
    ph, pw = (-h) % factor, (-w) % factor
    padded = np.pad(img, ((0, ph), (0, pw)), mode="edge")
    small = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).mean(axis=(1, 3))
    small = ndi.gaussian_filter(small, sigma_px / factor, mode="nearest")
    big = ndi.zoom(small, factor, order=1, mode="nearest", grid_mode=True)
    return big[:h, :w].astype(np.float32)


def _smooth_pattern(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A few low-frequency waves, zero mean, amplitude about 1."""
    yy = np.linspace(0.0, 1.0, shape[0], dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, shape[1], dtype=np.float32)[None, :]
    out = np.zeros(shape, np.float32)
    for _ in range(3):
        ky, kx = rng.uniform(-1.5, 1.5, 2) * np.pi
        out += np.cos(ky * yy + kx * xx + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    return out / 3.0


def acquire_stack_a(emitters: dict, diffuse: np.ndarray, thickness_um: np.ndarray, *, scale_um: dict, n_z: int,
                    base_um: float, optics: OpticsParams, rng: np.random.Generator) -> np.ndarray:
    """Image the field's emitters and diffuse stain into a noisy (Z, Y, X) uint16 stack.

    Parameters
    ----------
    emitters : dict
        ``index`` (M,) field-flat pixel, ``emission`` (M,) in-focus emission, ``depth`` (M,)
        its height above the cell base (µm), ``spread`` (M,) its own extent in z (standard
        deviation, µm), as made by ``render_cell_a`` (a pixel may hold several emitters).
    diffuse, thickness_um : (Y, X) ndarray of float32
        Diffuse stain density and cell body thickness (µm).
    scale_um : dict
        ``{"z", "y", "x"}`` in µm.
    n_z : int
        Number of slices.
    base_um : float
        Height of the cell base (the coverslip) above slice 0.
    optics : OpticsParams
        Acquisition settings.
    rng : numpy.random.Generator
        Noise source.

    Returns
    -------
    stack : (Z, Y, X) ndarray of uint16
    """
    dz, py = scale_um["z"], scale_um["y"]
    shape = diffuse.shape
    n_px = shape[0] * shape[1]
    sigma_z = np.sqrt((optics.blur_axial_um / _FWHM_PER_SIGMA) ** 2 + dz**2 / 12.0)
    sigma_xy_px = optics.blur_lateral_um / _FWHM_PER_SIGMA / py
    order = np.argsort(emitters["depth"], kind="stable")  # each slice touches only emitters within 4 sigma
    idx = emitters["index"][order]
    e_idx = emitters["emission"][order]
    z_idx = emitters["depth"][order]
    spread = emitters["spread"][order]
    # an extended emitter: the PSF widened by the emitter's own depth, peak kept
    inv2var = (-0.5 / (sigma_z**2 + spread**2)).astype(np.float32)
    reach = 4.0 * np.sqrt(sigma_z**2 + (float(spread.max()) if spread.size else 0.0) ** 2)
    cell = np.flatnonzero(thickness_um > 0)
    d_cell = diffuse.ravel()[cell]
    t_cell = thickness_um.ravel()[cell]
    # dim out-of-focus haze from everything the cell holds, spread widely in z
    emission = np.bincount(idx, weights=e_idx, minlength=n_px).astype(np.float32).reshape(shape)
    haze = optics.haze_level * _blur_wide(emission + diffuse * thickness_um, optics.haze_sigma_um / py)
    haze_mid = float(np.median(t_cell)) / 2 if cell.size else 0.0
    speckle = np.float32(1.0) + np.float32(optics.sim_speckle) * ndi.gaussian_filter(
        rng.standard_normal(shape, dtype=np.float32), 0.7)
    illumination = 1.0 + optics.illumination_unevenness * _smooth_pattern(rng, shape)
    yy = np.linspace(-0.5, 0.5, shape[0], dtype=np.float32)[:, None]
    xx = np.linspace(-0.5, 0.5, shape[1], dtype=np.float32)[None, :]
    ang = np.deg2rad(optics.background_angle_deg)
    background = optics.background_photons * (1.0 + optics.background_gradient * (
        np.float32(np.cos(ang)) * xx + np.float32(np.sin(ang)) * yy))
    gain_map = (np.float32(optics.photons_per_unit) * speckle * illumination).astype(np.float32)

    stack = np.empty((n_z,) + shape, np.uint16)
    plane = np.zeros(n_px, np.float32)
    for m in range(n_z):
        zc = m * dz - base_um
        a, b = np.searchsorted(z_idx, [zc - reach, zc + reach])
        plane[:] = np.bincount(idx[a:b], weights=e_idx[a:b] * np.exp(inv2var[a:b] * (zc - z_idx[a:b]) ** 2),
                               minlength=n_px)
        lo = np.maximum(zc - dz / 2, -sigma_z)
        hi = np.minimum(zc + dz / 2, t_cell + sigma_z)
        plane[cell] += d_cell * np.clip((hi - lo) / dz, 0.0, 1.0)
        signal = plane.reshape(shape)
        if sigma_xy_px > 0.2:
            signal = ndi.gaussian_filter(signal, sigma_xy_px, truncate=3.0)
        signal = signal + haze * np.float32(np.exp(-0.5 * ((zc - haze_mid) / 3.0) ** 2))
        lam = np.maximum(signal * gain_map + background, 0.0)
        # shot noise through the Anscombe transform: mean lam, variance lam + 1/2, Poisson-like skew
        a = 2.0 * np.sqrt(lam + 0.375) + rng.standard_normal(shape, dtype=np.float32)
        electrons = np.maximum((a * a - 1.0) / 4.0 - 0.375, 0.0)
        counts = electrons * optics.gain + optics.offset_counts + optics.read_noise * rng.standard_normal(
            shape, dtype=np.float32)
        stack[m] = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)
    return stack
