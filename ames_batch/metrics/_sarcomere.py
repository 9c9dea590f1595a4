"""Sarcomere length of one cell from the periodicity of its z-disc pattern (global 2D spectrum)."""

import math

import numpy as np
from scipy import fft as sfft
from scipy import ndimage as ndi

from ._orientation import INTEGRATION_SIGMA_UM, _tensor_complex, _zdisc_orientation
from ._validate import _check_inputs

#: Search range for the z-disc spacing in µm (physiological 1.4–2.6 µm plus margin).
LENGTH_SEARCH_UM = (1.0, 3.5)
#: A spectral peak must stand at least this far above its radial background (peak/background
#: >= 1 / (1 - MIN_CONFIDENCE)) for a length to be reported; below it the length is NaN.
MIN_CONFIDENCE = 0.55
_HIGHPASS_SIGMA_UM = 2.0
_TAPER_UM = 1.5
#: When the z-discs share a direction (orientation order >= this), only wave vectors within
#: _SECTOR_DEG of their normal count: a periodicity along the z-disc lines is the spacing of
#: the myofibrils side by side, not of their sarcomeres.
_ORDERED_OOP = 0.4
_SECTOR_DEG = 45.0
#: The direction of the autocorrelation refinement is sought closer still to the normal: lanes
#: of myofibrils make an oblique lattice whose side peaks (sarcomere and lane spacing combined)
#: sit 15-30° off the fibril axis at a shorter apparent spacing.
_AXIS_DEG = 15.0


def _highpass(mip: np.ndarray, pixel_size_um: float) -> np.ndarray:
    """Remove structure coarser than a few sarcomeres (Gaussian of 2 µm subtracted), float32."""
    sigma_px = _HIGHPASS_SIGMA_UM / pixel_size_um
    return mip - ndi.gaussian_filter(mip, sigma_px, mode="reflect")


def _soft_mask(mask: np.ndarray, pixel_size_um: float, taper_um: float = _TAPER_UM) -> np.ndarray:
    """Weights 0..1: 1 deep inside the cell, raised-cosine ramp over `taper_um` at its edge."""
    dist_um = ndi.distance_transform_edt(mask) * pixel_size_um
    ramp = np.clip(dist_um / taper_um, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * ramp)).astype(np.float32)


def _tapered_signal(mip: np.ndarray, mask: np.ndarray, pixel_size_um: float, *,
                    highpassed: np.ndarray | None = None, weights: np.ndarray | None = None
                    ) -> np.ndarray:
    """High-passed MIP, weighted-mean removed and tapered to zero at the cell edge."""
    hp = _highpass(mip, pixel_size_um) if highpassed is None else highpassed
    w = _taper_weights(mask, pixel_size_um) if weights is None else weights
    mean = float((hp * w).sum() / w.sum())
    return (hp - mean) * w


def _taper_weights(mask: np.ndarray, pixel_size_um: float) -> np.ndarray:
    """`_soft_mask`, or the hard mask for a cell too thin to taper."""
    w = _soft_mask(mask, pixel_size_um)
    if float(w.sum()) <= 0:  # a cell thinner than one pixel of taper: use the hard mask
        w = mask.astype(np.float32)
    return w


def _power_spectrum(signal: np.ndarray, *, pad: float = 2.0) -> np.ndarray:
    """Half-plane power ``|rfft2|^2`` of `signal` zero-padded to >= `pad` x its size per axis.

    Returns a (My, Mx // 2 + 1) float64 array; the padded shape is ``(My, Mx)`` with
    ``Mx = 2 * (power.shape[1] - 1)`` (both even, fast FFT sizes).
    """
    ny, nx = signal.shape
    my = _even_fast_len(int(math.ceil(max(ny, 32) * pad)))
    mx = _even_fast_len(int(math.ceil(max(nx, 32) * pad)))
    spec = sfft.rfft2(signal.astype(np.float64, copy=False), s=(my, mx))
    return spec.real ** 2 + spec.imag ** 2


def _even_fast_len(n: int) -> int:
    """Smallest even 5-smooth FFT length >= n."""
    m = sfft.next_fast_len(n, real=True)
    while m % 2:
        m = sfft.next_fast_len(m + 1, real=True)
    return m


def _grid(power: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(fy column, fx row) in cycles/px of the half-plane `power`, and the padded (My, Mx)."""
    my, mx = power.shape[0], 2 * (power.shape[1] - 1)
    return np.fft.fftfreq(my)[:, None], np.fft.rfftfreq(mx)[None, :], my, mx


def _sector(power: np.ndarray, normal_deg: float | None, half_width_deg: float = _SECTOR_DEG
            ) -> np.ndarray | bool:
    """Wave vectors of the half-plane `power` within `half_width_deg` of `normal_deg` (True: all)."""
    if normal_deg is None:
        return True
    fy, fx, _, _ = _grid(power)
    off = (np.degrees(np.arctan2(fy, fx)) - normal_deg + 90.0) % 180.0 - 90.0  # nematic
    return np.abs(off) <= half_width_deg


def _radial_profile(power: np.ndarray, pixel_size_um: float, normal_deg: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Angle-averaged `power` in rings one frequency step wide; (frequency cycles/µm, power).

    With `normal_deg`, only the sector of wave vectors around that direction is averaged.
    """
    fy, fx, my, mx = _grid(power)
    m = max(my, mx)
    idx = np.rint(np.sqrt(fy * fy + fx * fx) * m).astype(np.int64)
    # the half plane stands for both halves: columns other than 0 and Nyquist count twice
    w = np.full(fx.shape, 2.0)
    w[0, 0] = 1.0
    w[0, -1] = 1.0
    w = np.broadcast_to(w, power.shape) * _sector(power, normal_deg)
    n_bins = m // 2  # up to the Nyquist radius
    keep = (idx < n_bins).ravel()
    idx = idx.ravel()[keep]
    count = np.bincount(idx, weights=w.ravel()[keep], minlength=n_bins)
    psum = np.bincount(idx, weights=(power * w).ravel()[keep], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = psum / count
    freq = np.arange(n_bins) / (m * pixel_size_um)
    return freq, profile


def _wave_vector(power: np.ndarray, pixel_size_um: float, f0: float, normal_deg: float | None = None
                 ) -> tuple[float, float]:
    """(ky, kx) in cycles/px of the strongest 2D spectral peak within ±20 % of `f0` (cycles/µm)."""
    fy, fx, _, _ = _grid(power)
    r = np.sqrt(fy * fy + fx * fx) / pixel_size_um
    ring = (r > f0 / 1.2) & (r < f0 * 1.2) & _sector(power, normal_deg, _AXIS_DEG)
    iy, ix = np.unravel_index(np.argmax(np.where(ring, power, -1.0)), power.shape)
    return float(fy[iy, 0]), float(fx[0, ix])


def _vertex(a: float, b: float, c: float) -> float:
    """Offset (-0.5..0.5) of the vertex of a parabola through three samples, 0 if not a peak."""
    d = a - 2.0 * b + c
    if not (d < 0 and math.isfinite(a) and math.isfinite(c)):
        return 0.0
    return float(np.clip(0.5 * (a - c) / d, -0.5, 0.5))


def _spacing_from_autocorrelation(power: np.ndarray, weights: np.ndarray, ky: float, kx: float
                                  ) -> float:
    """Z-disc spacing in px from the normalised autocorrelation along the wave vector.

    The autocorrelation of the tapered signal (inverse FFT of `power`) is divided by that of
    the taper `weights`, which removes the overlap envelope that pulls a finite patch's side
    peaks towards zero lag. Its maxima near lags k * tau0 (k = 1, 2, 3; tau0 = wave vector /
    |wave vector|²) are refined by separable parabolas, and the spacing is the least-squares
    slope of |lag| over k. Lags where the overlap falls under 15 % of the cell are not used.
    """
    _, _, my, mx = _grid(power)
    acf = sfft.irfft2(power, s=(my, mx))
    wspec = sfft.rfft2(weights.astype(np.float64, copy=False), s=(my, mx))
    wacf = sfft.irfft2(wspec.real ** 2 + wspec.imag ** 2, s=(my, mx))
    k2 = ky * ky + kx * kx
    ty, tx = ky / k2, kx / k2
    rad = max(2, int(0.25 * math.hypot(ty, tx)))
    offs = np.arange(-rad - 1, rad + 2)
    floor = 0.15 * wacf[0, 0]
    num = den = 0.0
    for k in (1, 2, 3):
        cy, cx = int(round(k * ty)), int(round(k * tx))
        rows, cols = (cy + offs) % my, (cx + offs) % mx
        wb = wacf[np.ix_(rows, cols)]
        block = np.where(wb > floor, acf[np.ix_(rows, cols)] / np.where(wb > floor, wb, 1.0),
                         -np.inf)
        inner = block[1:-1, 1:-1]
        if not np.isfinite(inner).any():
            break
        by, bx = np.unravel_index(np.argmax(inner), inner.shape)
        by, bx = by + 1, bx + 1
        dy = _vertex(block[by - 1, bx], block[by, bx], block[by + 1, bx])
        dx = _vertex(block[by, bx - 1], block[by, bx], block[by, bx + 1])
        num += k * math.hypot(cy + offs[by] + dy, cx + offs[bx] + dx)
        den += k * k
    return num / den if den else math.nan


def _peak_with_prominence(freq: np.ndarray, profile: np.ndarray, f_lo: float, f_hi: float
                          ) -> tuple[float, float]:
    """Most prominent local maximum of `profile` in [f_lo, f_hi]; returns (frequency, confidence).

    Confidence is ``1 - background / peak``, background being the log-log interpolation between
    the median profile values on either side of the peak (within a factor 1.15–1.6 in frequency).
    The profile is first smoothed over 1.5 native frequency steps (the taper's resolution), so
    noise alone rarely exceeds 0.4. Where the winner is a harmonic (a peak clearing the
    threshold, and carrying more power, sits at half its frequency, ±6 %), the fundamental is
    returned: thin z-discs give a second harmonic that can stand out more sharply.
    """
    profile = np.convolve(np.nan_to_num(profile, nan=0.0), np.ones(3) / 3, mode="same")
    valid = np.isfinite(profile) & (profile > 0)
    logp = np.full_like(profile, -np.inf)
    logp[valid] = np.log(profile[valid])
    peaks = []
    cand = np.flatnonzero((freq >= f_lo / 2.2) & (freq <= f_hi) & valid)
    for i in cand:
        if i <= 0 or i >= len(profile) - 1 or not (logp[i] >= logp[i - 1] and logp[i] > logp[i + 1]):
            continue
        f0 = freq[i]
        left = np.flatnonzero((freq >= f0 / 1.6) & (freq <= f0 / 1.15) & valid)
        right = np.flatnonzero((freq >= f0 * 1.15) & (freq <= f0 * 1.6) & valid)
        if len(left) == 0 or len(right) == 0:
            continue
        log_fl = float(np.mean(np.log(freq[left])))
        log_fr = float(np.mean(np.log(freq[right])))
        t = (math.log(f0) - log_fl) / (log_fr - log_fl)
        log_bg = (1 - t) * float(np.median(logp[left])) + t * float(np.median(logp[right]))
        peaks.append((float(f0), 1.0 - math.exp(min(0.0, log_bg - logp[i])), float(logp[i])))
    inside = [pk for pk in peaks if f_lo <= pk[0] <= f_hi]
    if not inside:
        return math.nan, 0.0
    best = max(inside, key=lambda pk: pk[1])
    sub = [pk for pk in peaks
           if abs(pk[0] - best[0] / 2) <= 0.06 * best[0] / 2 and pk[1] >= MIN_CONFIDENCE
           and pk[2] >= best[2]]
    if sub and best[0] / 2 >= f_lo:
        best = max(sub, key=lambda pk: pk[1])
    return best[0], best[1]


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
    angle, oop = _zdisc_orientation(_tensor_complex(arr, px, INTEGRATION_SIGMA_UM), m)
    return _sarcomere_length(arr, m, px, min_confidence=float(min_confidence),
                             zdisc_normal_deg=_zdisc_normal(angle, oop))


def _zdisc_normal(angle_deg: float, oop: float) -> float | None:
    """Direction (°) the sarcomeres repeat along, given the z-discs' mean line angle and order.

    None when the z-discs share no direction (order parameter under 0.4): then every
    direction of the spectrum counts.
    """
    if not (math.isfinite(angle_deg) and math.isfinite(oop)) or oop < _ORDERED_OOP:
        return None
    return (angle_deg + 90.0) % 180.0


def _sarcomere_length(mip: np.ndarray, mask: np.ndarray, pixel_size_um: float, *,
                      min_confidence: float = MIN_CONFIDENCE, highpassed: np.ndarray | None = None,
                      zdisc_normal_deg: float | None = None) -> tuple[float, float]:
    """Unchecked core of `sarcomere_length`; `highpassed` may carry a precomputed `_highpass`,
    `zdisc_normal_deg` restricts the spectrum to the sector around that direction."""
    weights = _taper_weights(mask, pixel_size_um)
    signal = _tapered_signal(mip, mask, pixel_size_um, highpassed=highpassed, weights=weights)
    power = _power_spectrum(signal)
    freq, profile = _radial_profile(power, pixel_size_um)
    f_nyq = 0.5 / pixel_size_um
    f_lo = 1.0 / LENGTH_SEARCH_UM[1]
    f_hi = min(1.0 / LENGTH_SEARCH_UM[0], 0.9 * f_nyq)
    f0, conf = _peak_with_prominence(freq, profile, f_lo, f_hi)
    if zdisc_normal_deg is not None:
        # which ring: the one along the fibrils; how clearly: judged over all directions, as
        # for any cell (a sector alone would let weaker peaks through)
        _, along = _radial_profile(power, pixel_size_um, zdisc_normal_deg)
        f0, _ = _peak_with_prominence(freq, along, f_lo, f_hi)
        if math.isfinite(f0):
            conf = _peak_with_prominence(freq, profile, f0 / 1.03, f0 * 1.03)[1]
    if not math.isfinite(f0) or f0 <= 0:
        return math.nan, 0.0
    ky, kx = _wave_vector(power, pixel_size_um, f0, zdisc_normal_deg)
    spacing_px = _spacing_from_autocorrelation(power, weights, ky, kx)
    length = spacing_px * pixel_size_um
    if not math.isfinite(length) or abs(length * f0 - 1.0) > 0.2:  # refinement lost the peak
        length = 1.0 / f0
    return (length if conf >= min_confidence else math.nan), float(conf)


def zdisc_density(mip, mask, pixel_size_um: float) -> float:
    """Z-disc line length per cell area, µm per µm² (i.e. 1/µm).

    Parameters
    ----------
    mip : (Y, X) ndarray
        Alpha-actinin maximum projection of the cell crop.
    mask : (Y, X) ndarray of bool
        True inside the cell; same shape as `mip`.
    pixel_size_um : float
        Isotropic pixel size in µm, > 0.

    Returns
    -------
    density : float
        Total skeleton length of the z-disc stripes inside the cell divided by its area. A cell
        filled edge to edge with z-discs at spacing L scores about 1/L (0.55 /µm at 1.8 µm);
        short or sparse z-discs and punctate z-bodies score less.

    Raises
    ------
    ValueError
        As `cell_metrics`.

    Notes
    -----
    The high-passed MIP (as for `sarcomere_length`, lightly smoothed at 0.1 µm) is thresholded
    inside the cell at the larger of Otsu's threshold and the median plus 2.5 times the spread
    of the values below the median (the between-disc background), so pure noise yields few
    pixels; the foreground is skeletonised, pieces shorter than 0.5 µm are dropped, and the
    length is the sum of skeleton steps (1 or sqrt(2) pixels). An approximation meant for
    ranking cells, not a z-disc segmentation.

    Examples
    --------
    >>> y, x = np.mgrid[:160, :160]
    >>> mip = np.exp(-((x % 12) - 6.0) ** 2 / 4.0).astype(np.float32)  # 1.8 µm at 0.15 µm/px
    >>> 0.5 < zdisc_density(mip, np.ones((160, 160), bool), 0.15) < 0.6
    True
    """
    arr, m, px = _check_inputs(mip, mask, pixel_size_um)
    return _zdisc_density(arr, m, px)


def _zdisc_density(mip, mask, pixel_size_um, *, highpassed=None):
    from skimage.filters import threshold_otsu
    from skimage.morphology import skeletonize

    hp = _highpass(mip, pixel_size_um) if highpassed is None else highpassed
    hp = ndi.gaussian_filter(hp, 0.1 / pixel_size_um, mode="reflect")
    values = hp[mask]
    if values.size < 4 or np.ptp(values) <= 0:
        return 0.0
    med = float(np.median(values))
    lower = values[values <= med]
    spread = float(np.sqrt(np.mean((lower - med) ** 2)))
    thr = max(float(threshold_otsu(values)), med + 2.5 * spread)
    fg = (hp > thr) & mask
    skel = skeletonize(fg)
    min_px = max(2, int(round(0.5 / pixel_size_um)))
    labels, _ = ndi.label(skel, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    skel = skel & (sizes[labels] >= min_px) & (labels > 0)
    # length: each skeleton pixel counts half of each step to its 8-neighbours on the skeleton
    s = skel.astype(np.float32)
    axial = ndi.convolve(s, np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32),
                         mode="constant")
    diag = ndi.convolve(s, np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]], np.float32),
                        mode="constant")
    length_px = float((s * (0.5 * axial + 0.5 * math.sqrt(2) * diag)).sum())
    return length_px * pixel_size_um / (float(mask.sum()) * pixel_size_um ** 2)
