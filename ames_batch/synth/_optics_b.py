"""Look "b", acquisition: a camera behind a widefield or Airyscan-like microscope.

Written apart from look "a"'s SIM model: the points are splatted into a 3D volume and blurred by a
3D Gaussian point-spread function; the exposure is set per field so that the brightest in-cell
structures reach `peak_photons`; out-of-focus light is a Lorentzian fall-off in z blurred widely
in x/y (strong in widefield); the cytoplasm's stain leaves the nucleus dark; the field is
vignetted; shot noise is exact Poisson; the camera adds an offset with a fixed per-pixel pattern,
read noise, and clips at its bit depth; an 8-bit file is an export scaled to its 99.9th percentile
with a display gamma.
"""

import numpy as np
from scipy import ndimage as ndi

from ._params import OpticsParamsB

__all__ = ["sample_optics_b", "acquire_stack_b"]

_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
_PEAK_PERCENTILE = 99.5  # in-cell percentile of the in-focus MIP that the exposure puts at peak_photons


def sample_optics_b(rng: np.random.Generator) -> OpticsParamsB:
    """Draw look-"b" acquisition settings: widefield or Airyscan-like, camera and file format."""
    widefield = bool(rng.random() < 0.5)
    if widefield:
        optics = dict(mode="widefield", blur_lateral_um=rng.uniform(0.24, 0.34), blur_axial_um=rng.uniform(0.7, 1.1),
                      haze_level=rng.uniform(1.0, 4.0), haze_axial_um=rng.uniform(1.0, 3.0),
                      haze_lateral_um=rng.uniform(1.5, 4.0))
    else:
        optics = dict(mode="airyscan", blur_lateral_um=rng.uniform(0.13, 0.19), blur_axial_um=rng.uniform(0.4, 0.6),
                      haze_level=rng.uniform(0.05, 0.3), haze_axial_um=rng.uniform(0.5, 1.0),
                      haze_lateral_um=rng.uniform(0.5, 1.5))
    bit_depth = int(rng.choice([8, 12, 16], p=[0.3, 0.3, 0.4]))
    peak = float(np.exp(rng.uniform(np.log(40.0), np.log(4000.0))))
    offset = rng.uniform(20.0, 400.0)
    # the brightest structures may just saturate, never most of the cell
    gain = min(rng.uniform(0.3, 3.0), 1.2 * (2.0**bit_depth - 1 - offset) / peak) if bit_depth < 16 else \
        rng.uniform(0.3, 3.0)
    return OpticsParamsB(
        **optics,
        photons_per_unit=peak,
        background_photons=float(np.exp(rng.uniform(np.log(1.0), np.log(40.0)))),
        vignetting=rng.uniform(0.0, 0.4),
        vignette_centre_yx=(rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)),
        gain=float(max(gain, 0.05)),
        offset_counts=offset if bit_depth > 8 else rng.uniform(0.0, 20.0),
        read_noise=rng.uniform(0.5, 8.0),
        fixed_pattern=rng.uniform(0.0, 4.0),
        bit_depth=bit_depth,
        export_headroom=rng.uniform(1.0, 1.6),
        display_gamma=rng.uniform(0.45, 1.0),
    )


def _splat3(volume: np.ndarray, z: np.ndarray, y: np.ndarray, x: np.ndarray, amp: np.ndarray) -> None:
    """Trilinear deposit of point amplitudes into `volume` (voxel coordinates), in place."""
    flat = volume.reshape(-1)
    n_z, n_y, n_x = volume.shape
    z0, y0, x0 = (np.floor(c).astype(np.int64) for c in (z, y, x))
    fz, fy, fx = z - z0, y - y0, x - x0
    for dz in (0, 1):
        wz = fz if dz else 1.0 - fz
        for dy in (0, 1):
            wy = fy if dy else 1.0 - fy
            for dx in (0, 1):
                wx = fx if dx else 1.0 - fx
                zz, yy, xx = z0 + dz, y0 + dy, x0 + dx
                ok = (zz >= 0) & (zz < n_z) & (yy >= 0) & (yy < n_y) & (xx >= 0) & (xx < n_x)
                np.add.at(flat, (zz[ok] * n_y + yy[ok]) * n_x + xx[ok], (amp * wz * wy * wx)[ok].astype(np.float32))


def _haze_coarse(volume: np.ndarray, optics: OpticsParamsB, dz: float, px: float) -> tuple[np.ndarray, int]:
    """Out-of-focus light on a grid `f` times coarser in x/y: every plane's light, falling off as a
    Lorentzian with defocus (per µm of depth), spread by a wide Gaussian in x/y."""
    n_z, h, w = volume.shape
    f = max(1, int(optics.haze_lateral_um / px / 3))
    ph, pw = (-h) % f, (-w) % f
    coarse = np.pad(volume, ((0, 0), (0, ph), (0, pw)), mode="edge") if ph or pw else volume
    coarse = coarse.reshape(n_z, coarse.shape[1] // f, f, coarse.shape[2] // f, f).mean(axis=(2, 4))
    k = np.arange(-(n_z - 1), n_z) * dz
    kernel = dz / (1.0 + (k / optics.haze_axial_um) ** 2)  # per µm of depth: a thicker cell is hazier
    coarse = ndi.convolve1d(coarse, kernel.astype(np.float32), axis=0, mode="constant")
    sigma = optics.haze_lateral_um / px / f
    return ndi.gaussian_filter(coarse, (0, sigma, sigma), mode="nearest").astype(np.float32), f


def _linear_upsampler(n_out: int, factor: int, n_coarse: int):
    """Indices and weights that interpolate a coarse axis (cells of `factor` pixels) back to `n_out`."""
    pos = (np.arange(n_out) + 0.5) / factor - 0.5
    lo = np.floor(pos).astype(np.int64)
    frac = (pos - lo).astype(np.float32)
    return np.clip(lo, 0, n_coarse - 1), np.clip(lo + 1, 0, n_coarse - 1), frac


def _upsample(plane: np.ndarray, rows, cols) -> np.ndarray:
    (r0, r1, fr), (c0, c1, fc) = rows, cols
    tall = plane[r0] * (1 - fr)[:, None] + plane[r1] * fr[:, None]
    return tall[:, c0] * (1 - fc) + tall[:, c1] * fc


def _cytoplasm_stain(thickness_um, nucleus_bottom_um, nucleus_top_um, n_z: int, dz: float, base_um: float,
                     sigma_z_px: float) -> np.ndarray:
    """(Z, N) share of each slice that the cytoplasm of N columns fills (the nucleus left out),
    blurred in z by the axial point-spread function."""
    lo = np.arange(n_z)[:, None] * dz - base_um - dz / 2
    hi = lo + dz

    def overlap(bottom, top):
        return np.clip(np.minimum(hi, top) - np.maximum(lo, bottom), 0.0, None) / dz

    occupied = overlap(0.0, thickness_um[None, :]) - overlap(nucleus_bottom_um[None, :],
                                                           np.maximum(nucleus_top_um, nucleus_bottom_um)[None, :])
    return ndi.gaussian_filter1d(occupied.astype(np.float32), max(sigma_z_px, 1e-3), axis=0, mode="constant")


def acquire_stack_b(points: np.ndarray, amp: np.ndarray, density: np.ndarray, thickness_um: np.ndarray,
                    nucleus_bottom_um: np.ndarray, nucleus_top_um: np.ndarray, *, scale_um: dict, n_z: int,
                    base_um: float, optics: OpticsParamsB, rng: np.random.Generator) -> np.ndarray:
    """Image look-"b" point emitters and stain into a noisy (Z, Y, X) uint16 stack.

    Parameters
    ----------
    points : (P, 3) ndarray of float32
        Height above the cell base (µm), field row and column (pixels) of each emitter.
    amp : (P,) ndarray of float32
        Their amplitudes.
    density : (Y, X) ndarray of float32
        Diffuse stain relative to the in-focus peak, filling the cytoplasm's column.
    thickness_um, nucleus_bottom_um, nucleus_top_um : (Y, X) ndarray of float32
        Body thickness and the nucleus's span (µm above the base; ``top <= bottom`` where none).
    scale_um : dict
        ``{"z", "y", "x"}`` in µm.
    n_z : int
        Number of slices.
    base_um : float
        Height of the cell base above slice 0.
    optics : OpticsParamsB
        Acquisition settings.
    rng : numpy.random.Generator
        Noise source.

    Returns
    -------
    stack : (Z, Y, X) ndarray of uint16
    """
    dz, px = scale_um["z"], scale_um["y"]
    shape = density.shape
    sigma_z = optics.blur_axial_um / _FWHM_PER_SIGMA
    sigma_xy = optics.blur_lateral_um / _FWHM_PER_SIGMA
    volume = np.zeros((n_z,) + shape, np.float32)
    _splat3(volume, (points[:, 0] + base_um) / dz, points[:, 1], points[:, 2], amp)
    volume = ndi.gaussian_filter(volume, (sigma_z / dz, sigma_xy / px, sigma_xy / px), truncate=3.0, mode="constant")
    cell = thickness_um > 0
    mip = volume.max(axis=0)
    peak = float(np.percentile(mip[cell], _PEAK_PERCENTILE)) if cell.any() else 0.0
    volume /= peak if peak > 0 else 1.0
    rows, cols = np.nonzero(cell)
    stain = _cytoplasm_stain(thickness_um[rows, cols], nucleus_bottom_um[rows, cols], nucleus_top_um[rows, cols],
                             n_z, dz, base_um, sigma_z / dz)
    volume[:, rows, cols] += stain * density[rows, cols]
    haze, f = _haze_coarse(volume, optics, dz, px) if optics.haze_level > 0 else (None, 1)
    if haze is not None:
        up_rows = _linear_upsampler(shape[0], f, haze.shape[1])
        up_cols = _linear_upsampler(shape[1], f, haze.shape[2])

    yy = np.linspace(0.0, 1.0, shape[0], dtype=np.float32)[:, None] - np.float32(optics.vignette_centre_yx[0])
    xx = np.linspace(0.0, 1.0, shape[1], dtype=np.float32)[None, :] - np.float32(optics.vignette_centre_yx[1])
    r2 = (yy * yy + xx * xx) / np.float32(0.5)  # 1 at a corner of a centred field
    light = (1.0 - np.float32(optics.vignetting) * np.clip(r2, 0.0, 2.0)).astype(np.float32)
    pattern = (optics.offset_counts + optics.fixed_pattern * rng.standard_normal(shape)).astype(np.float32)
    counts = np.empty(volume.shape, np.float32)
    for m in range(n_z):
        signal = volume[m] if haze is None else \
            volume[m] + np.float32(optics.haze_level) * _upsample(haze[m], up_rows, up_cols)
        lam = (signal * np.float32(optics.photons_per_unit) + np.float32(optics.background_photons)) * light
        electrons = rng.poisson(np.maximum(lam, 0.0)).astype(np.float32)
        counts[m] = electrons * np.float32(optics.gain) + pattern + np.float32(optics.read_noise) * \
            rng.standard_normal(shape, dtype=np.float32)
    top = 2.0**optics.bit_depth - 1
    if optics.bit_depth == 8:  # an export: offset to black, head room over the 99.9th percentile to white
        black = optics.offset_counts
        white = max(optics.export_headroom * float(np.percentile(counts, 99.9)), black + 1.0)
        counts = top * np.clip((counts - black) / (white - black), 0.0, 1.0) ** np.float32(optics.display_gamma)
    return np.clip(np.rint(counts), 0, top).astype(np.uint16)
