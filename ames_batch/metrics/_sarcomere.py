"""Sarcomere length of one cell from the periodicity of its z-disc pattern (global 2D spectrum)."""

import math

import numpy as np

from ._crop import _CellCrop
from ._orientation import _zdisc_orientation
from ._spectrum import (
    _FLANKS,
    MIN_CONFIDENCE,
    _HalfPlane,
    _peak_with_prominence,
    _spacing_from_autocorrelation,
)
from ._validate import _check_inputs

#: Search range for the z-disc spacing in µm (physiological 1.4–2.6 µm plus margin).
LENGTH_SEARCH_UM = (1.0, 3.5)
#: When the z-discs share a direction (orientation order >= this), only wave vectors within
#: _SECTOR_DEG of their normal count: a periodicity along the z-disc lines is the spacing of
#: the myofibrils side by side, not of their sarcomeres.
_ORDERED_OOP = 0.4
_SECTOR_DEG = 45.0


def sarcomere_length(mip, mask, pixel_size_um: float, *,
                     min_confidence: float = MIN_CONFIDENCE) -> tuple[float, float]:
    """Dominant z-disc spacing inside one cell and how clearly it stands out.

    Parameters
    ----------
    mip : (Y, X) ndarray
        Alpha-actinin maximum projection of the cell crop (any real dtype, value range kept).
    mask : (Y, X) ndarray of bool
        True inside the cell; same shape as `mip`.
    pixel_size_um : float
        Isotropic pixel size in µm, > 0.
    min_confidence : float, optional
        Confidence below which the length is reported as NaN (0..1).

    Returns
    -------
    length_um : float
        Peak spacing in µm, searched in 1.0–3.5 µm; NaN when no peak clears `min_confidence`.
    confidence : float
        ``1 - background / peak`` of the spectral peak, in [0, 1): 0 = no peak above the radial
        background, 0.5 = twice the background, 0.9 = ten times. 0.0 when nothing was found.

    Raises
    ------
    ValueError
        If shapes differ, `mask` is empty or not 0/1, `mip` holds NaN, `pixel_size_um` <= 0.
    TypeError
        If `mip`/`mask` are not arrays or `pixel_size_um` is not a number.

    Notes
    -----
    Global method: the cell is high-passed (2 µm Gaussian subtracted), tapered to zero over
    1.5 µm at its edge, zero-padded and Fourier transformed; the power is averaged over rings
    (so curved or differently oriented myofibrils all add to one radius) and the most prominent
    ring in the search band gives the spacing and the confidence. Where the z-discs share a
    direction (orientation order parameter >= 0.4), the ring is chosen from the wave vectors
    within 45° of their normal only, and its confidence is that ring's prominence over all
    directions: side-by-side myofibrils repeat along the z-disc lines too, and at fine pixel
    sizes that lateral spacing (2–4 µm) could otherwise win. The strongest 2D peak on that
    ring gives the direction; the final value comes from the autocorrelation along it,
    normalised by the taper's own autocorrelation (unbiased for small organised patches where
    a spectral peak is ~20 % wide), at lags of one to three sarcomeres. Global
    rather than local windows because a cell's myofibrils share one sarcomere length to a few
    percent, and the whole cell gives a frequency resolution of 1/cell size, where an 8 µm
    window resolves only ~20 %. The local windows serve `organised_fraction`. Computed in
    float32/float64 on the eager crop.

    Examples
    --------
    >>> y, x = np.mgrid[:128, :128]
    >>> mip = (np.cos(2 * np.pi * x * 0.1 / 1.8) > 0.8).astype(np.float32)
    >>> length_um, conf = sarcomere_length(mip, np.ones_like(mip, bool), 0.1)
    >>> round(length_um, 1)
    1.8
    """
    arr, m, px = _check_inputs(mip, mask, pixel_size_um)
    if not 0.0 <= float(min_confidence) < 1.0:
        raise ValueError(f"`min_confidence` must be in [0, 1); got {min_confidence}")
    crop = _CellCrop(arr, m, px)
    normal = _zdisc_normal(*_zdisc_orientation(crop.tensor_in_cell))
    return _sarcomere_length(crop, min_confidence=float(min_confidence), zdisc_normal_deg=normal)


def _zdisc_normal(angle_deg: float, oop: float) -> float | None:
    """Direction (°) the sarcomeres repeat along, given the z-discs' mean line angle and order.

    None when the z-discs share no direction (order parameter under 0.4): then every
    direction of the spectrum counts.
    """
    if not (math.isfinite(angle_deg) and math.isfinite(oop)) or oop < _ORDERED_OOP:
        return None
    return (angle_deg + 90.0) % 180.0


def _sarcomere_length(crop: _CellCrop, *, min_confidence: float = MIN_CONFIDENCE,
                      zdisc_normal_deg: float | None = None) -> tuple[float, float]:
    """Unchecked core of `sarcomere_length`; `zdisc_normal_deg` restricts the choice of the
    ring to the sector of wave vectors around that direction."""
    px = crop.px
    hp, weights = crop.highpassed, crop.taper
    mean = float((hp * weights).sum() / weights.sum())
    signal = (hp - mean) * weights  # high-passed, mean-free, tapered to zero at the cell edge
    f_nyq = 0.5 / px
    f_lo = 1.0 / LENGTH_SEARCH_UM[1]
    f_hi = min(1.0 / LENGTH_SEARCH_UM[0], 0.9 * f_nyq)
    spectrum = _HalfPlane(signal, max_cycles_per_px=_FLANKS[1] * f_hi * px)
    freq, profile = spectrum.radial_profile(px)
    f0, conf = _peak_with_prominence(freq, profile, f_lo, f_hi)
    if zdisc_normal_deg is not None:
        # which ring: the one along the fibrils; how clearly: judged over all directions, as
        # for any cell (a sector alone would let weaker peaks through)
        _, along = spectrum.radial_profile(px, zdisc_normal_deg, _SECTOR_DEG)
        f0, _ = _peak_with_prominence(freq, along, f_lo, f_hi)
        if math.isfinite(f0):
            conf = _peak_with_prominence(freq, profile, f0 / 1.03, f0 * 1.03)[1]
    if not math.isfinite(f0) or f0 <= 0:
        return math.nan, 0.0
    ky, kx = spectrum.wave_vector(px, f0, zdisc_normal_deg)
    spacing_px = _spacing_from_autocorrelation(signal, weights, ky, kx)
    length = spacing_px * px
    if not math.isfinite(length) or abs(length * f0 - 1.0) > 0.2:  # refinement lost the peak
        length = 1.0 / f0
    return (length if conf >= min_confidence else math.nan), float(conf)
