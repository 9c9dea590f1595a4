"""Look "d", acquisition: a spinning-disk confocal microscope with an EMCCD camera.

Written apart from looks "a" and "b". Every emitter is seen through an axially asymmetric
point-spread function (a split normal, wider away from the coverslip), its own z extent added;
the stain filling the cytoplasm's column is integrated through the same profile. Each plane is
then convolved laterally with a heavy-tailed Moffat profile in Fourier space, where the plane's
lateral drift is a phase ramp and the pinhole cross-talk (every plane's light, Lorentzian in
defocus, a wide Gaussian laterally) is added on the low frequencies only. Later planes are
bleached, the field falls off towards its corners (cos**4 law), and the EMCCD counts photons
(Poisson, clock-induced charge), multiplies them (Gamma-distributed gain), adds read noise, a
fixed offset per row and the camera offset, and clips at 14 or 16 bits.
"""

import numpy as np
import scipy.fft as sfft
from scipy.special import ndtr

from ._params import OpticsParamsD
from ._validate import _as_generator

__all__ = ["sample_optics_d", "acquire_stack_d"]

_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
_MOFFAT_REACH_UM = 2.0  # the lateral kernel is cut here (and renormalised)
_HAZE_OTF_FLOOR = 7.0  # cross-talk frequencies kept: Gaussian OTF above exp(-7)
_REACH_SIGMAS = 4.0  # emitters further than this many axial widths from a plane are left out
_BRIGHTEST = 1.5  # in-focus peak of the brightest structures, in units of a unit z-disc


def sample_optics_d(rng: np.random.Generator | int) -> OpticsParamsD:
    """Draw look-"d" acquisition settings (domain randomisation over spinning-disk/EMCCD ranges).

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random source (an int seeds a new generator).

    Returns
    -------
    OpticsParamsD
        The EM gain is capped so that at most the brightest structures saturate.

    Examples
    --------
    >>> sample_optics_d(0).bit_depth in (14, 16)
    True
    """
    rng = _as_generator(rng)
    bit_depth = int(rng.choice([14, 16]))
    photons = float(np.exp(rng.uniform(np.log(80.0), np.log(1500.0))))
    offset = rng.uniform(200.0, 1200.0)
    sensitivity = rng.uniform(3.0, 20.0)
    em_gain = float(np.exp(rng.uniform(np.log(20.0), np.log(300.0))))
    em_gain = max(min(em_gain, (2.0 ** bit_depth - 1 - offset) * sensitivity / (_BRIGHTEST * photons)), 2.0)
    drift = rng.normal(0.0, 0.015, 2)
    return OpticsParamsD(
        blur_lateral_um=rng.uniform(0.22, 0.32),
        psf_beta=rng.uniform(1.6, 3.5),
        blur_axial_um=rng.uniform(0.6, 1.1),
        axial_asymmetry=rng.uniform(1.1, 1.8),
        crosstalk_level=rng.uniform(0.01, 0.08),
        crosstalk_axial_um=rng.uniform(1.0, 4.0),
        crosstalk_lateral_um=rng.uniform(1.0, 3.0),
        photons_per_unit=photons,
        background_photons=float(np.exp(rng.uniform(np.log(0.3), np.log(8.0)))),
        vignetting=rng.uniform(0.1, 0.5),
        vignette_centre_yx=(rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)),
        bleach_per_um=rng.uniform(0.01, 0.07),
        acquired_upwards=bool(rng.random() < 0.7),
        drift_yx_um_per_um=(float(drift[0]), float(drift[1])),
        drift_jitter_um=rng.uniform(0.0, 0.015),
        em_gain=em_gain,
        sensitivity_e_per_count=sensitivity,
        spurious_charge=rng.uniform(0.002, 0.03),
        read_noise=rng.uniform(1.5, 12.0),
        row_pattern=rng.uniform(0.0, 3.0),
        offset_counts=offset,
        bit_depth=bit_depth,
    )


def _axial_sigmas(optics: OpticsParamsD) -> tuple[float, float]:
    """Standard deviations (µm) of the split-normal axial PSF below and above focus; their mean
    keeps the FWHM `blur_axial_um`."""
    sigma = optics.blur_axial_um / _FWHM_PER_SIGMA
    r = optics.axial_asymmetry
    return 2.0 * sigma / (1.0 + r), 2.0 * r * sigma / (1.0 + r)


def _split_normal_cdf(delta, below: float, above: float):
    """Integral of the unit-area split normal up to `delta` (focus minus emitter height, µm)."""
    delta = np.asarray(delta, np.float32)
    lo = 2.0 * below / (below + above) * ndtr(delta / below)
    hi = (below + above * (2.0 * ndtr(delta / above) - 1.0)) / (below + above)
    return np.where(delta < 0, lo, hi).astype(np.float32)


def _in_focus(emitters: dict, column: np.ndarray, thickness_um, nucleus_bottom_um, nucleus_top_um, *, n_z: int,
              dz: float, base_um: float, optics: OpticsParamsD) -> np.ndarray:
    """(Z, Y, X) float32 light at each focal plane before the lateral blur: emitters through the
    split-normal PSF widened by their own extent (peak kept), the column stain integrated through it."""
    shape = column.shape
    below, above = _axial_sigmas(optics)
    order = np.argsort(emitters["height"], kind="stable")
    idx, e, h, s2 = (emitters[k][order] for k in ("index", "emission", "height", "spread"))
    s2 = s2.astype(np.float32) ** 2
    reach = _REACH_SIGMAS * np.sqrt(max(below, above) ** 2 + (float(s2.max()) if s2.size else 0.0))
    cell = np.flatnonzero(thickness_um.ravel() > 0)
    t_c, dens = thickness_um.ravel()[cell], column.ravel()[cell]
    inner = np.flatnonzero(nucleus_top_um.ravel()[cell] > nucleus_bottom_um.ravel()[cell])  # over the nucleus
    nb, nt = nucleus_bottom_um.ravel()[cell[inner]], nucleus_top_um.ravel()[cell[inner]]
    volume = np.zeros((n_z, shape[0] * shape[1]), np.float32)
    for m in range(n_z):
        zc = m * dz - base_um
        a, b = np.searchsorted(h, [zc - reach, zc + reach])
        delta = zc - h[a:b]
        var = np.where(delta > 0, above ** 2, below ** 2).astype(np.float32) + s2[a:b]
        volume[m] = np.bincount(idx[a:b], weights=e[a:b] * np.exp(-0.5 * delta * delta / var),
                                minlength=volume.shape[1])
        share = _split_normal_cdf(zc, below, above) - _split_normal_cdf(zc - t_c, below, above)
        share[inner] -= _split_normal_cdf(zc - nb, below, above) - _split_normal_cdf(zc - nt, below, above)
        volume[m, cell] += dens * share
    return volume.reshape((n_z,) + shape)


def _moffat_otf(padded: tuple[int, int], pixel_um: float, optics: OpticsParamsD, n_sub: int = 4) -> np.ndarray:
    """rfft2 of the pixel-averaged, unit-sum Moffat kernel centred on pixel (0, 0) of the padded plane."""
    beta = optics.psf_beta
    alpha = optics.blur_lateral_um / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    n = int(np.ceil(_MOFFAT_REACH_UM / pixel_um))
    off = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    g = (np.arange(-n, n + 1)[:, None] + off[None, :]).ravel() * pixel_um
    r2 = g[:, None] ** 2 + g[None, :] ** 2
    k = ((1.0 + r2 / alpha ** 2) ** -beta).reshape(2 * n + 1, n_sub, 2 * n + 1, n_sub).mean(axis=(1, 3))
    k /= k.sum()
    plane = np.zeros(padded, np.float32)
    rows, cols = np.arange(-n, n + 1) % padded[0], np.arange(-n, n + 1) % padded[1]
    plane[np.ix_(rows, cols)] = k
    return sfft.rfft2(plane)


def _drift_px(optics: OpticsParamsD, n_z: int, dz: float, pixel_um: float, rng: np.random.Generator) -> np.ndarray:
    """(Z, 2) lateral shift (pixels, y and x) of each plane: linear in the stack acquired so far
    plus a random walk, zero for the first plane acquired."""
    steps = rng.normal(0.0, optics.drift_jitter_um, (n_z, 2))
    steps[0] = 0.0
    walk = np.cumsum(steps + np.asarray(optics.drift_yx_um_per_um) * dz * (np.arange(n_z) > 0)[:, None], axis=0)
    order = np.arange(n_z) if optics.acquired_upwards else np.arange(n_z)[::-1]
    out = np.empty_like(walk)
    out[order] = walk
    return out / pixel_um


def _acquired_um(optics: OpticsParamsD, n_z: int, dz: float) -> np.ndarray:
    """(Z,) µm of stack acquired before each plane."""
    i = np.arange(n_z, dtype=np.float64)
    return dz * (i if optics.acquired_upwards else i[::-1])


def _vignette(shape: tuple[int, int], optics: OpticsParamsD) -> np.ndarray:
    """(Y, X) relative light, cos**4-shaped ``(1 + k r**2) ** -2``; `vignetting` lost at a centred
    field's corner (r**2 = 1/2 in units of the field's height and width)."""
    yy = np.linspace(0.0, 1.0, shape[0])[:, None] - optics.vignette_centre_yx[0]
    xx = np.linspace(0.0, 1.0, shape[1])[None, :] - optics.vignette_centre_yx[1]
    k = ((1.0 - optics.vignetting) ** -0.5 - 1.0) / 0.5
    return ((1.0 + k * (yy * yy + xx * xx)) ** -2).astype(np.float32)


def acquire_stack_d(emitters: dict, column: np.ndarray, thickness_um: np.ndarray, nucleus_bottom_um: np.ndarray,
                    nucleus_top_um: np.ndarray, *, scale_um: dict, n_z: int, base_um: float, optics: OpticsParamsD,
                    rng: np.random.Generator) -> np.ndarray:
    """Image look-"d" emitters and stain into a noisy (Z, Y, X) uint16 stack.

    Parameters
    ----------
    emitters : dict
        ``index`` (M,) field-flat pixel, ``emission`` (M,) in-focus emission (unit z-disc = 1),
        ``height`` (M,) µm above the cell base, ``spread`` (M,) standard deviation (µm) of each
        emitter's own extent in z, as made by ``render_cell_d``.
    column : (Y, X) ndarray of float32
        Stain density filling the cytoplasm's column (relative to a z-disc's peak).
    thickness_um, nucleus_bottom_um, nucleus_top_um : (Y, X) ndarray of float32
        Body thickness and the nucleus's span (µm above the base; ``top <= bottom`` where none).
    scale_um : dict
        ``{"z", "y", "x"}`` in µm.
    n_z : int
        Number of planes.
    base_um : float
        Height of the cell base (the coverslip) above plane 0.
    optics : OpticsParamsD
        Acquisition settings.
    rng : numpy.random.Generator
        Source of drift jitter and noise.

    Returns
    -------
    stack : (Z, Y, X) ndarray of uint16
        Counts, at most ``2**optics.bit_depth - 1``.
    """
    dz, px = scale_um["z"], scale_um["y"]
    shape = column.shape
    volume = _in_focus(emitters, column, thickness_um, nucleus_bottom_um, nucleus_top_um, n_z=n_z, dz=dz,
                       base_um=base_um, optics=optics)
    drift = _drift_px(optics, n_z, dz, px, rng)
    # zero padding: no light wraps round from the far side (the cross-talk's widest tail aside)
    margin = int(np.ceil(_MOFFAT_REACH_UM / px + 2.0 * optics.crosstalk_lateral_um / px + np.abs(drift).max()))
    padded = tuple(sfft.next_fast_len(n + 2 * margin, real=True) for n in shape)
    otf = _moffat_otf(padded, px, optics)
    fy = sfft.fftfreq(padded[0], d=px)[:, None]
    fx = sfft.rfftfreq(padded[1], d=px)[None, :]
    # cross-talk on the low frequencies only: a wide Gaussian has nothing above them
    k_max = np.sqrt(_HAZE_OTF_FLOOR / 2.0) / (np.pi * optics.crosstalk_lateral_um)
    rows, cols = np.flatnonzero(np.abs(fy[:, 0]) < k_max), np.flatnonzero(fx[0] < k_max)
    low = np.ix_(rows, cols)
    spectra = np.empty((n_z, rows.size, cols.size), np.complex64)
    for m in range(n_z):
        spectra[m] = sfft.rfft2(volume[m], s=padded)[low]
    defocus = (np.arange(n_z)[:, None] - np.arange(n_z)[None, :]) * dz
    mixing = (optics.crosstalk_level * dz / (1.0 + (defocus / optics.crosstalk_axial_um) ** 2)).astype(np.float32)
    gauss = np.exp(-2.0 * (np.pi * optics.crosstalk_lateral_um) ** 2 * (fy[rows] ** 2 + fx[:, cols] ** 2))
    haze = np.tensordot(mixing, spectra, axes=(1, 0)) * gauss.astype(np.float32)

    bleach = np.exp(-optics.bleach_per_um * _acquired_um(optics, n_z, dz))
    light = _vignette(shape, optics)
    background = np.float32(optics.background_photons) * light
    rows_offset = (optics.offset_counts + optics.row_pattern * rng.standard_normal(shape[0]))[:, None]
    counts_per_e = np.float32(1.0 / optics.sensitivity_e_per_count)
    top = 2 ** optics.bit_depth - 1
    stack = np.empty((n_z,) + shape, np.uint16)
    for m in range(n_z):
        spec = sfft.rfft2(volume[m], s=padded) * otf
        spec[low] += haze[m]
        spec *= np.exp(-2j * np.pi * fy * drift[m, 0] * px).astype(np.complex64)  # the plane's drift: a phase ramp
        spec *= np.exp(-2j * np.pi * fx * drift[m, 1] * px).astype(np.complex64)
        signal = sfft.irfft2(spec, s=padded)[:shape[0], :shape[1]]
        lam = np.maximum(signal * np.float32(optics.photons_per_unit * bleach[m]) * light + background, 0.0)
        electrons = rng.poisson(lam + optics.spurious_charge).astype(np.float32)
        amplified = rng.standard_gamma(electrons, dtype=np.float32) * np.float32(optics.em_gain)
        counts = amplified * counts_per_e + rows_offset + np.float32(optics.read_noise) * rng.standard_normal(
            shape, dtype=np.float32)
        stack[m] = np.clip(np.rint(counts), 0, top).astype(np.uint16)
    return stack
