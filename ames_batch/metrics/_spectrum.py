"""Spectral tools of the sarcomere length: low-frequency power, radial profile, peaks, lags."""

import math

import numpy as np

from .._lazy import sfft

#: A spectral peak must stand at least this far above its radial background (peak/background
#: >= 1 / (1 - MIN_CONFIDENCE)) for a length to be reported; below it the length is NaN.
MIN_CONFIDENCE = 0.55
#: The flanks a spectral peak is judged against, as factors of its frequency.
_FLANKS = (1.15, 1.6)
#: Sector (half width, degrees) around the fibril axis in which the 2D peak is sought: lanes
#: of myofibrils make an oblique lattice whose side peaks (sarcomere and lane spacing combined)
#: sit 15-30° off the fibril axis at a shorter apparent spacing.
_AXIS_DEG = 15.0


def _even_fast_len(n: int) -> int:
    """Smallest even 5-smooth FFT length >= n."""
    m = sfft.next_fast_len(n, real=True)
    while m % 2:
        m = sfft.next_fast_len(m + 1, real=True)
    return m


class _HalfPlane:
    """Power ``|rfft2|^2`` of a signal zero-padded to >= `pad` x its size, at low frequencies.

    The padded shape ``(My, Mx)`` (even, fast FFT sizes) sets the grid; only wave vectors up
    to `max_cycles_per_px` (plus the bins the profile's smoothing reads) are transformed and
    kept, the others are never used. Power is float32, the grids float64 in cycles/px.
    """

    def __init__(self, signal: np.ndarray, *, max_cycles_per_px: float, pad: float = 2.0):
        ny, nx = signal.shape
        my = _even_fast_len(int(math.ceil(max(ny, 32) * pad)))
        mx = _even_fast_len(int(math.ceil(max(nx, 32) * pad)))
        self.m = max(my, mx)
        self.n_bins = self.m // 2  # rings up to the Nyquist radius
        self.n_kept = min(self.n_bins, int(max_cycles_per_px * self.m) + 4)
        # rows and columns holding every wave vector of a kept ring (radius < n_kept + 0.5 steps)
        reach = (self.n_kept + 0.5) / self.m
        ky, kx = min(my // 2, int(math.ceil(reach * my))), min(mx // 2, int(math.ceil(reach * mx)))
        rows = np.arange(my) if 2 * ky + 1 >= my else np.r_[0:ky + 1, my - ky:my]
        spec = sfft.fft(sfft.rfft(signal, n=mx, axis=1)[:, :kx + 1], n=my, axis=0)[rows]
        self.power = spec.real ** 2 + spec.imag ** 2
        self.fy = np.fft.fftfreq(my)[rows][:, None]
        self.fx = np.fft.rfftfreq(mx)[None, :kx + 1]
        # the half plane stands for both halves: columns other than 0 and Nyquist count twice
        w = np.full(self.fx.shape, 2.0)
        w[0, 0] = 1.0
        if kx == mx // 2:
            w[0, -1] = 1.0
        self.radius = np.sqrt(self.fy * self.fy + self.fx * self.fx)
        ring = np.rint(self.radius * self.m).astype(np.int64)
        keep = ring < self.n_kept
        self._ring, self._weights = ring[keep], np.broadcast_to(w, keep.shape)[keep]
        self._keep, self._power = keep, self.power[keep]
        self._direction = None

    def _sector(self, normal_deg: float | None, half_width_deg: float) -> np.ndarray | bool:
        """Wave vectors within `half_width_deg` of `normal_deg` (nematic); True: all."""
        if normal_deg is None:
            return True
        if self._direction is None:
            self._direction = np.degrees(np.arctan2(self.fy, self.fx))
        off = (self._direction - normal_deg + 90.0) % 180.0 - 90.0
        return np.abs(off) <= half_width_deg

    def radial_profile(self, pixel_size_um: float, normal_deg: float | None = None,
                       half_width_deg: float = 45.0) -> tuple[np.ndarray, np.ndarray]:
        """Angle-averaged power in rings one frequency step wide; (frequency cycles/µm, power).

        With `normal_deg`, only the sector of wave vectors around that direction is averaged.
        Rings past the kept frequencies are NaN, as are empty ones.
        """
        w = self._weights
        if normal_deg is not None:
            w = w * self._sector(normal_deg, half_width_deg)[self._keep]
        count = np.bincount(self._ring, weights=w, minlength=self.n_bins)
        psum = np.bincount(self._ring, weights=self._power * w, minlength=self.n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            profile = psum / count
        freq = np.arange(self.n_bins) / (self.m * pixel_size_um)
        return freq, profile

    def wave_vector(self, pixel_size_um: float, f0: float, normal_deg: float | None = None
                    ) -> tuple[float, float]:
        """(ky, kx) in cycles/px of the strongest peak within ±20 % of `f0` (cycles/µm)."""
        r = self.radius / pixel_size_um
        ring = (r > f0 / 1.2) & (r < f0 * 1.2) & self._sector(normal_deg, _AXIS_DEG)
        iy, ix = np.unravel_index(np.argmax(np.where(ring, self.power, -1.0)), self.power.shape)
        return float(self.fy[iy, 0]), float(self.fx[0, ix])


def _vertex(a: float, b: float, c: float) -> float:
    """Offset (-0.5..0.5) of the vertex of a parabola through three samples, 0 if not a peak."""
    d = a - 2.0 * b + c
    if not (d < 0 and math.isfinite(a) and math.isfinite(c)):
        return 0.0
    return float(np.clip(0.5 * (a - c) / d, -0.5, 0.5))


def _autocorrelation(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Circular autocorrelation of `image` zero-padded to `shape` (linear for lags < padding)."""
    spec = sfft.rfft2(image, s=shape)
    return sfft.irfft2(spec.real ** 2 + spec.imag ** 2, s=shape)


def _spacing_from_autocorrelation(signal: np.ndarray, weights: np.ndarray, ky: float, kx: float
                                  ) -> float:
    """Z-disc spacing in px from the normalised autocorrelation along the wave vector.

    The autocorrelation of the tapered `signal` is divided by that of the taper `weights`,
    which removes the overlap envelope that pulls a finite patch's side peaks towards zero
    lag. Its maxima near lags k * tau0 (k = 1, 2, 3; tau0 = wave vector / |wave vector|²) are
    refined by separable parabolas, and the spacing is the least-squares slope of |lag| over
    k. Lags where the overlap falls under 15 % of the cell are not used. Both are zero-padded
    just past the largest lag read, which keeps them linear (not circular) there.
    """
    k2 = ky * ky + kx * kx
    ty, tx = ky / k2, kx / k2
    rad = max(2, int(0.25 * math.hypot(ty, tx)))
    my, mx = (sfft.next_fast_len(n + int(math.ceil(3 * abs(t))) + rad + 2, real=True)
              for n, t in zip(signal.shape, (ty, tx)))
    acf = _autocorrelation(signal, (my, mx))
    wacf = _autocorrelation(weights, (my, mx))
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
    noise alone rarely exceeds 0.4. Where the winner is a harmonic (a peak clearing
    `MIN_CONFIDENCE`, and carrying more power, sits at half its frequency, ±6 %), the
    fundamental is returned: thin z-discs give a second harmonic that can stand out more sharply.
    """
    profile = np.convolve(np.nan_to_num(profile, nan=0.0), np.ones(3) / 3, mode="same")
    valid = np.isfinite(profile) & (profile > 0)
    logp = np.full_like(profile, -np.inf)
    logp[valid] = np.log(profile[valid])
    peaks = []
    near, far = _FLANKS
    cand = np.flatnonzero((freq >= f_lo / 2.2) & (freq <= f_hi) & valid)
    for i in cand:
        if i <= 0 or i >= len(profile) - 1 or not (logp[i] >= logp[i - 1] and logp[i] > logp[i + 1]):
            continue
        f0 = freq[i]
        left = np.flatnonzero((freq >= f0 / far) & (freq <= f0 / near) & valid)
        right = np.flatnonzero((freq >= f0 * near) & (freq <= f0 * far) & valid)
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
