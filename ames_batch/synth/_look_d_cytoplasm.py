"""Look "d", one cell's cytoplasm outside its myofibrils: stress fibres, dots, rim and stain.

Premyofibril-like stress-fibre lines near the coverslip with faint, irregular punctae and
scattered dots lie outside the organised region, both with a Lorentzian-like (2D Cauchy) profile
drawn by splatting points and convolving them with a pixel-averaged kernel; the stain that fills
the cytoplasm's column is textured, brighter around the nucleus and carries a faint cortical rim
along the outline. Part of :func:`~._look_d.render_cell_d`; independent of looks "a" and "b".
"""

import numpy as np
from scipy.signal import fftconvolve

from ._geometry import CellFrame, SmoothNoise, cytoplasm_height

__all__ = ["stress_fibres", "dots", "outline_distance_um", "stain"]

_LINE_STEP_UM = 0.05  # sampling step along a stress fibre
_MIN_EMISSION = 1e-4  # emitters dimmer than this (z-disc peak = 1) are left out


def _cauchy_kernel(width_um: float, pixel_um: float, *, line: bool, n_sub: int = 5) -> np.ndarray:
    """Pixel-averaged 2D Cauchy kernel ``(1 + r**2 / a**2) ** -1.5``, out to 6 a.

    With ``line=True`` it is scaled by ``1 / (2 a)``: a line of unit density per µm then has a
    Lorentzian cross profile ``1 / (1 + x**2 / a**2)`` of peak 1; otherwise a dot's peak is 1.
    """
    n = max(1, int(np.ceil(6.0 * width_um / pixel_um)))
    off = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    g = ((np.arange(-n, n + 1)[:, None] + off[None, :]).ravel() * pixel_um)
    r2 = g[:, None] ** 2 + g[None, :] ** 2
    k = ((1.0 + r2 / width_um ** 2) ** -1.5).reshape(2 * n + 1, n_sub, 2 * n + 1, n_sub).mean(axis=(1, 3))
    return (k / (2.0 * width_um) if line else k).astype(np.float32)


def _splat2(shape, row, col, amp) -> np.ndarray:
    """Bilinear deposit of amplitudes at float window positions (points outside are dropped)."""
    img = np.zeros(shape, np.float64)
    r0, c0 = np.floor(row).astype(np.int64), np.floor(col).astype(np.int64)
    fr, fc = row - r0, col - c0
    for dr, wr in ((0, 1.0 - fr), (1, fr)):
        for dc, wc in ((0, 1.0 - fc), (1, fc)):
            rr, cc = r0 + dr, c0 + dc
            ok = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
            np.add.at(img, (rr[ok], cc[ok]), (amp * wr * wc)[ok])
    return img


def _blurred_emitters(frame: CellFrame, row, col, amp, z, kernel: np.ndarray, spread_um: float):
    """Points splatted and convolved with `kernel`: emitters at the cell's pixels, height the
    emission-weighted mean of the points' heights."""
    shape = frame.shape
    e = fftconvolve(_splat2(shape, row, col, amp), kernel, mode="same")[frame.iy, frame.ix]
    ez = fftconvolve(_splat2(shape, row, col, amp * z), kernel, mode="same")[frame.iy, frame.ix]
    keep = np.flatnonzero(e > _MIN_EMISSION)
    height = np.clip(ez[keep] / e[keep], 0.0, frame.thickness[keep])
    return keep, e[keep], height, np.full(keep.size, spread_um)


def _nearest(frame: CellFrame, maps: dict, row, col) -> dict:
    """Window maps at the pixels nearest to float positions (0 outside the window)."""
    r, c = np.rint(row).astype(np.int64), np.rint(col).astype(np.int64)
    ok = (r >= 0) & (r < frame.shape[0]) & (c >= 0) & (c < frame.shape[1])
    r, c = np.where(ok, r, 0), np.where(ok, c, 0)
    return {k: np.where(ok, m[r, c], 0) for k, m in maps.items()}


def stress_fibres(frame: CellFrame, maps: dict, rng: np.random.Generator):
    """Premyofibril-like lines near the coverslip in the unorganised region: continuous stain with
    faint, irregular punctae (0.4-0.9 µm apart, off the sarcomere band), Lorentzian cross profile."""
    free = np.flatnonzero(frame.ramp < 0.5)
    n = int(rng.poisson(rng.uniform(0.005, 0.02) * free.size * frame.pixel_um ** 2)) if free.size else 0
    if n == 0:
        return None
    length = rng.uniform(3.0, 15.0, n)
    n_step = int(np.ceil(length.max() / _LINE_STEP_UM)) + 1
    heading = ((rng.normal(0.0, np.deg2rad(30.0), n) + np.pi * rng.integers(0, 2, n))[:, None]
               + np.cumsum(rng.normal(0.0, 0.02, (n, n_step)), axis=1))  # mostly along the long axis, bending
    path = np.cumsum(_LINE_STEP_UM * np.stack([np.cos(heading), np.sin(heading)], axis=-1), axis=1)
    seed = free[rng.integers(0, free.size, n)]
    mid = path[np.arange(n), (0.5 * length / _LINE_STEP_UM).astype(np.int64)]
    path += (np.stack([frame.u[seed], frame.v[seed]], axis=1) - mid)[:, None, :]
    arc = np.arange(n_step) * _LINE_STEP_UM
    spacing = rng.uniform(0.4, 0.9)
    phase = (arc[None, :] + 0.3 * spacing * np.sin(2 * np.pi * arc[None, :] / rng.uniform(2.0, 5.0, (n, 1))
                                                     + rng.uniform(0, 2 * np.pi, (n, 1)))) / spacing
    bump = np.exp(-0.5 * ((phase - np.rint(phase)) * spacing / 0.08) ** 2)
    density = rng.uniform(0.08, 0.25, (n, 1)) * (1.0 + rng.uniform(0.5, 1.5) * bump)
    row, col = frame.to_window_px(path[..., 0].ravel(), path[..., 1].ravel())
    at = _nearest(frame, maps, row, col)
    amp = (density * (arc[None, :] < length[:, None])).ravel() * _LINE_STEP_UM * (at["ramp"] < 0.5) * (1 - at["ramp"])
    rel = np.repeat(rng.uniform(0.03, 0.2, n), n_step)  # ventral, hugging the coverslip
    z = cytoplasm_height(rel, at["thickness"], at["nucleus_bottom"], at["nucleus_top"])
    keep = (amp > 0) & (at["thickness"] > 0)
    if not keep.any():
        return None
    kernel = _cauchy_kernel(rng.uniform(0.08, 0.15), frame.pixel_um, line=True)
    return _blurred_emitters(frame, row[keep], col[keep], amp[keep], z[keep], kernel, 0.12)


def dots(frame: CellFrame, rng: np.random.Generator):
    """Scattered z-bodies: `zbody_density_per_um2` outside the organised region, a tenth inside."""
    p = frame.params
    area = frame.pixel_um ** 2
    free, org = np.flatnonzero(frame.ramp < 0.5), np.flatnonzero(frame.ramp >= 0.5)
    picks = [pool[rng.integers(0, pool.size, rng.poisson(share * p.zbody_density_per_um2 * pool.size * area))]
             for pool, share in ((free, 1.0), (org, 0.1)) if pool.size]
    pick = np.concatenate(picks) if picks else np.zeros(0, np.int64)
    if pick.size == 0:
        return None
    row = frame.iy[pick] + rng.uniform(-0.5, 0.5, pick.size)
    col = frame.ix[pick] + rng.uniform(-0.5, 0.5, pick.size)
    amp = p.zbody_brightness * rng.lognormal(-0.08, 0.4, pick.size)
    z = cytoplasm_height(rng.uniform(0.15, 0.85, pick.size), frame.thickness[pick], frame.nucleus_bottom[pick],
                         frame.nucleus_top[pick])
    kernel = _cauchy_kernel(1.536 * p.zbody_size_um, frame.pixel_um, line=False)  # FWHM of the Gaussian's
    return _blurred_emitters(frame, row, col, amp, z, kernel, p.zbody_size_um)


def outline_distance_um(frame: CellFrame) -> np.ndarray:
    """Approximate distance (µm) of the cell's pixels to its outline, along the ray from the centre."""
    r = np.hypot(frame.u, frame.v)
    return (1.0 - frame.rho) * r / np.maximum(frame.rho, 0.05)


def stain(frame: CellFrame, rng: np.random.Generator) -> np.ndarray:
    """Stain density (z-disc peak = 1) filling the cytoplasm's column: textured diffuse stain,
    brighter around the nucleus, and a faint cortical rim along the outline."""
    p = frame.params
    sigma = rng.uniform(0.15, 0.4)
    texture = np.exp(sigma * SmoothNoise(rng, frame.half_extent_um, rng.uniform(1.0, 2.5))(frame.u, frame.v)
                     - 0.5 * sigma ** 2)
    o = frame.outline
    (cu, cv), (a, b) = o.nucleus_centre_uv, o.nucleus_axes_um
    r = np.hypot((frame.u - cu) / a, (frame.v - cv) / b)
    outside = np.clip(r - 1.0, 0.0, None) * np.sqrt(a * b)  # µm beyond the nucleus's rim, roughly
    perinuclear = rng.uniform(1.0, 3.0) * np.exp(-outside / rng.uniform(1.0, 3.0))
    rim = rng.uniform(0.05, 0.15) * np.exp(-outline_distance_um(frame) / rng.uniform(0.3, 0.6))
    return (p.diffuse_level * texture * (1.0 + perinuclear) + rim).astype(np.float32)
