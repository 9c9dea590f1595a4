"""Look "b", one cell: z-discs built of dots in 3D, z-body clouds and strings, textured stain.

Written apart from look "a" (which draws analytic stripes pixel by pixel): here a myofibril is a
streamline of a smooth orientation field, every z-disc is a round disc of point emitters standing
perpendicular to its myofibril, tilted with the slope of its layer's undulating sheet, some discs
are doublets or missing, and z-bodies are clouds of dots or beaded strings. The result is a list
of 3D points that look "b"'s optics splats into the stack and blurs. Only the truth is shared
with look "a": outline, body, nucleus and organised region (:class:`~._geometry.CellFrame`).

Parameters read as in look "a": sarcomere length and jitter, z-disc angle and orientation
disorder (here the standard deviation of a continuous field with correlation length
``domain_size_um``), fibril width, gap, fill and layers, register, disc brightness spread and
tilts, z-body density, size and brightness, diffuse level and brightness. Not used: stripe
sharpness and contrast (discs are dots, no stain between them), fibril bend and branching
(streamlines bend and merge by themselves).
"""

import numpy as np
from scipy import ndimage as ndi

from ._geometry import CellFrame, cytoplasm_height

__all__ = ["render_cell_b"]

_DOT_AREA_UM2 = 0.09  # one dot per 0.3 x 0.3 µm of disc
_STEPS_PER_SARCOMERE = 4
_RUN_DISCS = (4.0, 10.0)  # mean run of present discs along a fibril
_SHEET_CORR_UM = 2.5  # correlation length of a myofibril sheet's undulation


class _FourierField:
    """Unit-variance Gaussian random field made by filtering white noise in Fourier space,
    on a cell-frame grid of 0.5 µm, read back by linear interpolation."""

    def __init__(self, rng: np.random.Generator, half_extent_um: float, corr_um: float):
        self.step = 0.5
        n = int(np.ceil(2 * half_extent_um / self.step)) + 2
        k = np.fft.fftfreq(n, d=self.step)
        k2 = k[:, None] ** 2 + np.fft.rfftfreq(n, d=self.step)[None, :] ** 2
        spectrum = np.fft.rfft2(rng.standard_normal((n, n))) * np.exp(-2.0 * (np.pi * corr_um) ** 2 * k2)
        grid = np.fft.irfft2(spectrum, s=(n, n))
        self.grid = ((grid - grid.mean()) / (grid.std() + 1e-12)).astype(np.float32)
        self.origin = -half_extent_um - self.step

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        coords = np.stack([(np.asarray(v) - self.origin) / self.step, (np.asarray(u) - self.origin) / self.step])
        return ndi.map_coordinates(self.grid, coords, order=1, mode="wrap").astype(np.float32)


def _lookup(image: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Nearest-pixel values of a window image at float positions; 0 outside the window."""
    r, c = np.rint(row).astype(np.int64), np.rint(col).astype(np.int64)
    ok = (r >= 0) & (r < image.shape[0]) & (c >= 0) & (c < image.shape[1])
    out = np.zeros(r.shape, image.dtype)
    out[ok] = image[r[ok], c[ok]]
    return out


def _cytoplasm_height(maps: dict, row, col, rel) -> np.ndarray:
    """:func:`cytoplasm_height` at float window positions (nearest pixel)."""
    return cytoplasm_height(rel, _lookup(maps["thickness"], row, col), _lookup(maps["nucleus_bottom"], row, col),
                            _lookup(maps["nucleus_top"], row, col))


def _trace(frame: CellFrame, direction, starts_uv: np.ndarray, sign: np.ndarray, step_um: float, n_steps: int):
    """Streamlines from `starts_uv` (F, 2) along ``sign * direction``: positions and unit directions,
    (F, n_steps + 1, 2) each, in the cell frame (µm)."""
    pos = np.empty((starts_uv.shape[0], n_steps + 1, 2), np.float32)
    vel = np.empty_like(pos)
    p = starts_uv.astype(np.float32).copy()
    limit = 1.2 * frame.half_extent_um
    for i in range(n_steps + 1):
        d = direction(p[:, 0], p[:, 1]) * sign[:, None]
        pos[:, i], vel[:, i] = p, d
        p = p + step_um * d
        if i % 16 == 0 and np.all(np.abs(p).max(axis=1) > limit):
            pos[:, i + 1:], vel[:, i + 1:] = pos[:, i:i + 1], vel[:, i:i + 1]
            break
    return pos, vel


def _markov_presence(rng: np.random.Generator, n_fib: int, n_disc: int, fill: float) -> np.ndarray:
    """(F, K) bool: runs of present and absent discs whose long-run share of present ones is `fill`."""
    run_on = rng.uniform(*_RUN_DISCS)
    run_off = max(run_on * (1.0 - fill) / max(fill, 1e-3), 1.0)
    state = rng.random(n_fib) < fill
    out = np.empty((n_fib, n_disc), bool)
    flips = rng.random((n_fib, n_disc))
    for k in range(n_disc):
        out[:, k] = state
        state = np.where(state, flips[:, k] >= 1.0 / run_on, flips[:, k] < 1.0 / run_off)
    return out


def _discs(frame: CellFrame, maps: dict, rng: np.random.Generator):
    """Dots of the z-discs: (P, 3) points (z µm, row px, column px) and their amplitudes."""
    p = frame.params
    sl = p.sarcomere_length_um
    org = frame.organised
    orient = _FourierField(rng, frame.half_extent_um, max(2.0, p.domain_size_um))
    values = orient(frame.u[org], frame.v[org])
    mu, sd = float(values.mean()), float(values.std()) + 1e-6  # the region's mean angle is the requested one
    psi0 = np.deg2rad(p.zdisc_angle_deg + 90.0)
    spread = np.deg2rad(p.orientation_disorder_deg)

    def direction(u, v):
        psi = psi0 + spread * (orient(u, v) - mu) / sd
        return np.stack([np.cos(psi), np.sin(psi)], axis=1).astype(np.float32)

    # the layers' sheets undulate: a smooth height field whose slope has the out-of-plane spread
    # (the gradient of this field has a standard deviation of 1 / (sqrt(2) * correlation length))
    sheet = _FourierField(rng, frame.half_extent_um, _SHEET_CORR_UM)
    sheet_amp = np.sqrt(2.0) * _SHEET_CORR_UM * np.tan(np.deg2rad(p.zdisc_out_of_plane_deg))
    e0, n0 = np.array([np.cos(psi0), np.sin(psi0)]), np.array([-np.sin(psi0), np.cos(psi0)])
    centre = np.array([frame.u[org].mean(), frame.v[org].mean()])
    pitch = p.fibril_width_um + p.fibril_gap_um
    reach = 1.2 * frame.half_extent_um
    starts, rel, width = [], [], []
    for layer in range(p.fibril_layers):
        spacing = pitch * rng.uniform(0.85, 1.15, int(2 * reach / pitch) + 2)
        offsets = -reach + rng.uniform(0, pitch) + np.cumsum(spacing)
        offsets = offsets[offsets < reach]
        starts.append(centre + offsets[:, None] * n0)
        rel.append((layer + 0.5 + rng.uniform(-0.3, 0.3, offsets.size)) / p.fibril_layers)
        width.append(p.fibril_width_um * rng.uniform(0.75, 1.25, offsets.size))
    starts, rel, width = np.concatenate(starts), np.concatenate(rel), np.concatenate(width)
    # both halves of every fibril, from the seed line forwards and backwards
    n_half = starts.shape[0]
    starts, rel, width = np.concatenate([starts, starts]), np.tile(rel, 2), np.tile(width, 2)
    sign = np.repeat([1.0, -1.0], n_half).astype(np.float32)
    step = sl / _STEPS_PER_SARCOMERE
    n_steps = int(np.ceil(2 * reach / step))
    pos, vel = _trace(frame, direction, starts, sign, step, n_steps)

    # z-disc positions along each half, on a common lattice through the seed line (register)
    phase = (float((centre @ e0) % sl) + rng.normal(0.0, p.register_jitter_um, n_half)) % sl
    first = np.concatenate([phase, sl - phase])
    n_disc = int(n_steps // _STEPS_PER_SARCOMERE) - 1
    arc = (first[:, None] + sl * np.arange(n_disc)[None, :]
           + rng.normal(0.0, p.sarcomere_jitter_um, (2 * n_half, n_disc)))
    arc = np.clip(arc, 0.0, n_steps * step - 1e-3)
    i = np.floor(arc / step).astype(np.int64)
    f = np.repeat(np.arange(2 * n_half)[:, None], n_disc, axis=1)
    centre_uv = pos[f, i] + (arc - i * step)[..., None] * vel[f, i]
    axis_uv = vel[f, i]
    row, col = frame.to_window_px(centre_uv[..., 0], centre_uv[..., 1])
    weight = _lookup(maps["ramp"], row, col)
    sigma = np.sqrt(np.log1p(p.zdisc_brightness_cv**2))
    weight = weight * rng.lognormal(-0.5 * sigma**2, sigma, weight.shape)
    weight *= _markov_presence(rng, 2 * n_half, n_disc, p.fibril_fill)
    weight *= rng.random(weight.shape) >= rng.uniform(0.02, 0.1)  # missing discs
    keep = weight > 1e-3
    if not keep.any():
        return np.zeros((0, 3), np.float32), np.zeros(0, np.float32)
    fk = f[keep]
    c_uv, a_uv, w = centre_uv[keep], axis_uv[keep], width[fk] * rng.uniform(0.85, 1.15, int(keep.sum()))
    thick_c = _lookup(maps["thickness"], row[keep], col[keep])
    z_c = np.clip(_cytoplasm_height(maps, row[keep], col[keep], rel[fk]) + sheet_amp * sheet(c_uv[:, 0], c_uv[:, 1]),
                  0.05 * thick_c, 0.95 * thick_c)
    nu = np.stack([-a_uv[:, 1], a_uv[:, 0]], axis=1)  # across the fibril, in the image plane
    ahead, behind = c_uv + 0.25 * nu, c_uv - 0.25 * nu
    phi = np.arctan(sheet_amp * (sheet(ahead[:, 0], ahead[:, 1]) - sheet(behind[:, 0], behind[:, 1])) / 0.5)
    tilt = np.tan(np.deg2rad(rng.normal(0.0, p.zdisc_tilt_deg, w.size)))
    doublet = rng.random(w.size) < rng.uniform(0.0, 0.3)
    gap = rng.uniform(0.25, 0.45)

    return _disc_dots(frame, maps, rng, c_uv, a_uv, nu, w, phi, tilt, doublet, gap, z_c, weight[keep])


def _disc_dots(frame: CellFrame, maps: dict, rng: np.random.Generator, c_uv, a_uv, nu, w, phi, tilt, doublet,
               gap: float, z_c, weight):
    """Dots spread uniformly over each round disc (a across the fibril, b upwards), then rolled by
    the sheet's slope `phi`, tilted, doubled: (P, 3) points (z µm, row px, column px) and amplitudes."""
    p = frame.params
    n_dots = np.clip(np.rint(np.pi * (w / 2) ** 2 / _DOT_AREA_UM2), 3, 60).astype(np.int64)
    d = np.repeat(np.arange(w.size), n_dots)
    r = (w[d] / 2) * np.sqrt(rng.random(d.size))
    ang = rng.uniform(0.0, 2 * np.pi, d.size)
    a, b = r * np.cos(ang), r * np.sin(ang)
    across = a * np.cos(phi[d]) - b * np.sin(phi[d])
    up = a * np.sin(phi[d]) + b * np.cos(phi[d])
    along = (a * tilt[d] + rng.normal(0.0, p.zdisc_thickness_um / 2.355, d.size)
             + np.where(doublet[d], gap / 2 * rng.choice([-1.0, 1.0], d.size), 0.0))
    uv = c_uv[d] + along[:, None] * a_uv[d] + across[:, None] * nu[d]
    dot_row, dot_col = frame.to_window_px(uv[:, 0], uv[:, 1])
    thick = _lookup(maps["thickness"], dot_row, dot_col)
    z = np.clip(z_c[d] + up, 0.0, thick)
    amp = (weight[d] * w[d] / n_dots[d]).astype(np.float32)
    inside = thick > 0
    return np.stack([z, dot_row, dot_col], axis=1)[inside].astype(np.float32), amp[inside]


def _zbodies(frame: CellFrame, maps: dict, rng: np.random.Generator):
    """Dots of the z-bodies: clouds and beaded strings (premyofibrils) outside the organised region."""
    p = frame.params
    px = frame.pixel_um
    free = np.flatnonzero(frame.ramp < 0.5)
    area_free, area_org = free.size * px**2, (frame.iy.size - free.size) * px**2
    n = int(rng.poisson(p.zbody_density_per_um2 * (area_free + 0.1 * area_org)))
    if n == 0 or free.size == 0:
        return np.zeros((0, 3), np.float32), np.zeros(0, np.float32)
    n_strings = int(round(0.4 * n / 10))
    n_clouds = max(n - 10 * n_strings, 0)
    pick = free[rng.integers(0, free.size, n_clouds + n_strings)]
    start = np.stack([frame.u[pick], frame.v[pick]], axis=1)
    centres = [start[:n_clouds]]
    for s0 in start[n_clouds:]:  # a persistent random walk of beads
        n_bead = int(rng.integers(5, 16))
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, 0.35, n_bead))
        steps = rng.uniform(0.35, 0.9, n_bead)[:, None] * np.stack([np.cos(heading), np.sin(heading)], axis=1)
        centres.append(s0 + np.cumsum(steps, axis=0))
    centres = np.concatenate(centres)
    is_cloud = np.arange(centres.shape[0]) < n_clouds
    m = np.where(is_cloud, rng.integers(3, 13, centres.shape[0]), rng.integers(1, 4, centres.shape[0]))
    total = p.zbody_brightness * 1.5 * rng.lognormal(-0.08, 0.4, centres.shape[0])
    k = np.repeat(np.arange(centres.shape[0]), m)
    size = np.where(is_cloud[k], 1.5, 1.0) * p.zbody_size_um
    uv = centres[k] + rng.normal(0.0, 1.0, (k.size, 2)) * size[:, None]
    row, col = frame.to_window_px(uv[:, 0], uv[:, 1])
    c_row, c_col = frame.to_window_px(centres[:, 0], centres[:, 1])
    z_c = _cytoplasm_height(maps, c_row, c_col, rng.uniform(0.2, 0.8, centres.shape[0]))
    thick = _lookup(maps["thickness"], row, col)
    z = np.clip(z_c[k] + rng.normal(0.0, 1.5, k.size) * size, 0.0, thick)
    inside = thick > 0
    amp = (total[k] / m[k]).astype(np.float32)
    return np.stack([z, row, col], axis=1)[inside].astype(np.float32), amp[inside]


def render_cell_b(frame: CellFrame) -> dict:
    """Look-"b" point emitters and stain density of one cell.

    Parameters
    ----------
    frame : CellFrame
        The cell's shared geometry in its window.

    Returns
    -------
    out : dict
        ``points`` (P, 3) float32: height above the cell base (µm), window row and column
        (pixels, float); ``amp`` (P,) float32 (a 1 µm wide z-disc of a unit cell sums to 1,
        times ``params.brightness``); ``density`` (N,) float32 diffuse stain at the frame's
        pixels (relative to a z-disc's peak, textured, log-normal).
    """
    p = frame.params
    rng = np.random.default_rng([p.detail_seed, 5])
    maps = {"ramp": frame.window_map(frame.ramp), "thickness": frame.window_map(frame.thickness),
            "nucleus_bottom": frame.window_map(frame.nucleus_bottom),
            "nucleus_top": frame.window_map(frame.nucleus_top)}
    parts = [_zbodies(frame, maps, rng)]
    if frame.organised.any():
        parts.append(_discs(frame, maps, rng))
    texture_sigma = rng.uniform(0.2, 0.5)
    texture = _FourierField(rng, frame.half_extent_um, rng.uniform(1.0, 3.0))(frame.u, frame.v)
    density = p.diffuse_level * np.exp(texture_sigma * texture - 0.5 * texture_sigma**2)
    gain = np.float32(p.brightness)
    return {"points": np.concatenate([q[0] for q in parts]),
            "amp": np.concatenate([q[1] for q in parts]) * gain,
            "density": (density * gain).astype(np.float32)}
