"""Look "a", one cell: myofibrils of analytic z-disc stripes in layers, z-bodies, diffuse stain.

Works on a cell's :class:`~._geometry.CellFrame` and returns *emitters*: window pixels with an
in-focus emission (z-disc peak of a unit-brightness cell = 1), the height (µm above the cell's
base) it sits at and its own extent in z, plus the diffuse stain map. Everything is vectorised
over the cell's pixels.

Myofibrils are lanes of a bending fibril coordinate system ``(s, t)``: ``s`` runs along the
fibrils, ``t`` across. The organised region is split into domains (Voronoi cells of random
seeds) that each turn the common lattice by a random angle (orientation disorder) about their
own seed, so with no disorder the lattice is seamless and z-discs of neighbouring fibrils stay
in register. ``fibril_layers`` layers of lanes share that lattice at their own depths: each
follows the body's dome (under and over the nucleus, not through it) and rolls about the fibril axis per
domain (``zdisc_out_of_plane_deg``), so z-lines tilt out of the image plane.
"""

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ._geometry import CellFrame, SmoothNoise, cytoplasm_height
from ._params import CellParams

__all__ = ["render_cell_a"]

_LN2 = np.float32(np.log(2.0))
_CHUNK_SARCOMERES = 4  # fibril presence is decided per run of this many sarcomeres
_LANE_SPREAD = 0.25  # a lane's height varies by this share of its layer's slot


def _fibril_lattice(params: CellParams, rng: np.random.Generator, u: np.ndarray, v: np.ndarray,
                    seeds_uv: np.ndarray):
    """Fibril coordinates ``(s, t)`` (µm) of organised pixels, their domain and ``t`` from its seed."""
    n_dom = seeds_uv.shape[0]
    _, dom = cKDTree(seeds_uv).query(np.stack([u, v], axis=1))
    psi0 = np.deg2rad(params.zdisc_angle_deg + 90.0)  # fibril direction in the cell frame
    turn = rng.normal(0.0, params.orientation_disorder_deg, n_dom)
    turn -= np.bincount(dom, minlength=n_dom) @ turn / dom.size  # area-weighted mean: the requested angle
    psi = psi0 + np.deg2rad(turn)
    e0 = np.array([np.cos(psi0), np.sin(psi0)])
    n0 = np.array([-np.sin(psi0), np.cos(psi0)])
    s_seed = seeds_uv @ e0  # each domain turns about its seed, where it meets the common lattice
    t_seed = seeds_uv @ n0
    du = u - seeds_uv[dom, 0]
    dv = v - seeds_uv[dom, 1]
    c, s_ = np.cos(psi)[dom], np.sin(psi)[dom]
    s = (du * c + dv * s_ + s_seed[dom]).astype(np.float32)
    across = (-du * s_ + dv * c).astype(np.float32)
    t = across + t_seed[dom].astype(np.float32)

    lam = params.fibril_bend_period_um
    ph = rng.uniform(0, 2 * np.pi, 2)
    a = params.fibril_bend_um
    t = t + a * np.sin(2 * np.pi * s / lam + ph[0]) + 0.4 * a * np.sin(2 * np.pi * s / (0.53 * lam) + ph[1])
    return s, t.astype(np.float32), dom, across


def _lane_layer(params: CellParams, rng: np.random.Generator, s: np.ndarray, t: np.ndarray,
                half_extent_um: float, pixel_um: float, layer: int):
    """One layer of myofibril lanes: emission, relative height (0..1) and z spread at each pixel."""
    sl = params.sarcomere_length_um
    pitch = params.fibril_width_um + params.fibril_gap_um
    n_layers = params.fibril_layers
    t = t + rng.uniform(0.0, pitch) * (layer > 0)  # layers interleave; the first keeps the lattice
    reach = 2.0 * half_extent_um + 2.0 * params.fibril_bend_um + 4.0 * pitch
    n_lane = int(np.ceil(2 * reach / pitch)) + 4
    lane0 = n_lane // 2
    chunk = _CHUNK_SARCOMERES * sl
    n_chunk = int(np.ceil(2 * reach / chunk)) + 4
    n_sarc = int(np.ceil(2 * reach / sl)) + 6
    width = params.fibril_width_um * rng.uniform(0.75, 1.25, n_lane)
    centre_off = rng.uniform(-0.25, 0.25, n_lane) * pitch
    wob_amp = rng.uniform(0.0, 0.25, n_lane) * params.fibril_gap_um
    wob_k = 2 * np.pi / rng.uniform(8.0, 20.0, n_lane)
    wob_ph = rng.uniform(0, 2 * np.pi, n_lane)
    wmod_k = 2 * np.pi / rng.uniform(5.0, 15.0, n_lane)
    wmod_ph = rng.uniform(0, 2 * np.pi, n_lane)
    lane_gain = rng.lognormal(0.0, 0.2, n_lane)
    lane_height = (layer + 0.5 + rng.uniform(-_LANE_SPREAD, _LANE_SPREAD, n_lane)) / n_layers
    register = rng.normal(0.0, params.register_jitter_um, n_lane)
    chunk_off = rng.uniform(0.0, chunk, n_lane)
    present = rng.random((n_lane, n_chunk)) < params.fibril_fill
    # branching: a lane veers into its neighbour (a Y seen in the image), pauses, then restarts
    branch_at = rng.uniform(-reach, reach, n_lane)
    branch_shift = 0.7 * pitch * rng.choice([-1.0, 1.0], n_lane) * (rng.random(n_lane) < params.fibril_branching)
    branch_len = rng.uniform(3.0, 6.0, n_lane)
    branch_pause = rng.uniform(4.0, 15.0, n_lane)
    jitter = rng.normal(0.0, params.sarcomere_jitter_um, (n_lane, n_sarc))
    sigma_amp = np.sqrt(np.log1p(params.zdisc_brightness_cv**2))
    disc_amp = rng.lognormal(-0.5 * sigma_amp**2, sigma_amp, (n_lane, n_sarc))
    disc_amp *= rng.random((n_lane, n_sarc)) > 0.03  # an occasional missing z-disc
    disc_slope = np.tan(np.deg2rad(rng.normal(0.0, params.zdisc_tilt_deg, (n_lane, n_sarc))))

    # stripe profile: FWHM widened by the pixel box, integral kept
    fwhm = params.zdisc_thickness_um
    fwhm_eff = np.sqrt(fwhm**2 + 0.46 * pixel_um**2)
    half = np.float32(fwhm_eff / 2)
    peak = np.float32(fwhm / fwhm_eff)
    p = np.float32(params.stripe_sharpness)
    floor = np.float32(1.0 - params.stripe_contrast)

    lane = np.floor(t / pitch).astype(np.int64)
    best = np.zeros(s.shape, np.float32)
    height = np.full(s.shape, 0.5, np.float32)
    spread = np.zeros(s.shape, np.float32)
    for shift in (-1, 0, 1):
        j = np.clip(lane + shift + lane0, 0, n_lane - 1)
        jc = j - lane0
        centre = (jc + 0.5) * pitch + centre_off[j] + wob_amp[j] * np.sin(wob_k[j] * s + wob_ph[j])
        x = (s - branch_at[j]) / branch_len[j]
        ramp = np.clip(x, 0.0, 1.0)
        centre = centre + branch_shift[j] * ramp * ramp * (3.0 - 2.0 * ramp)
        alive = (branch_shift[j] == 0) | (x <= 1.0) | (s > branch_at[j] + branch_len[j] + branch_pause[j])
        w = width[j] * (1.0 + 0.2 * np.sin(wmod_k[j] * s + wmod_ph[j]))
        across = t - centre
        lateral = np.exp(-_LN2 * np.abs(2.0 * across / w) ** 2.5)
        q = np.clip(np.floor((s + chunk_off[j]) / chunk).astype(np.int64) + n_chunk // 2, 0, n_chunk - 1)
        pos = (s - register[j]) / sl
        k = np.rint(pos).astype(np.int64)
        kk = np.clip(k + n_sarc // 2, 0, n_sarc - 1)
        d = (pos - k) * sl - jitter[j, kk] - disc_slope[j, kk] * across
        stripe = peak * disc_amp[j, kk] * np.exp(-_LN2 * np.abs(d / half) ** p)
        value = (lane_gain[j] * lateral * (present[j, q] & alive) * (floor + (1.0 - floor) * stripe)).astype(
            np.float32)
        take = value > best
        best[take] = value[take]
        height[take] = lane_height[j][take]
        spread[take] = 0.3 * width[j][take]  # a round myofibril's z-disc, seen edge-on, spans its width in z
    return best, height, spread


def _zbody_impulses(params: CellParams, rng: np.random.Generator, free_iy: np.ndarray,
                    free_ix: np.ndarray, org_count: int, pixel_um: float, fibril_dir: float):
    """Positions (pixel units, window frame) and amplitudes of z-bodies."""
    area_free = free_iy.size * pixel_um**2
    area_org = org_count * pixel_um**2
    mean_count = params.zbody_density_per_um2 * (area_free + 0.1 * area_org)
    n = int(rng.poisson(mean_count))
    if n == 0 or free_iy.size == 0:
        return np.zeros((0, 2)), np.zeros(0)
    n_string = int(0.4 * n / 5)  # about 40 % sit on bead strings (premyofibrils)
    pick = rng.integers(0, free_iy.size, n)
    pts = np.stack([free_iy[pick], free_ix[pick]], axis=1) + rng.uniform(-0.5, 0.5, (n, 2))
    strings = []
    for i in range(n_string):
        n_bead = int(rng.integers(3, 9))
        step = rng.uniform(0.6, 1.2) / pixel_um
        ang = fibril_dir + rng.normal(0.0, 0.6)
        k = np.arange(n_bead) * step
        strings.append(pts[i] + np.stack([k * np.sin(ang), k * np.cos(ang)], axis=1))
    if strings:
        pts = np.concatenate([pts[n_string:]] + strings)
    amp = params.zbody_brightness * rng.lognormal(-0.08, 0.4, pts.shape[0])
    return pts, amp


def _splat(shape: tuple[int, int], pts: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """Bilinear deposit of point amplitudes onto a grid (points outside are dropped)."""
    img = np.zeros(shape, np.float32)
    y0 = np.floor(pts[:, 0]).astype(np.int64)
    x0 = np.floor(pts[:, 1]).astype(np.int64)
    fy = pts[:, 0] - y0
    fx = pts[:, 1] - x0
    for dy, dx, wgt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                        (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        yy, xx = y0 + dy, x0 + dx
        ok = (yy >= 0) & (yy < shape[0]) & (xx >= 0) & (xx < shape[1])
        np.add.at(img, (yy[ok], xx[ok]), (amp * wgt)[ok].astype(np.float32))
    return img


def render_cell_a(frame: CellFrame, pixel_um: float) -> dict:
    """Look-"a" emitters and diffuse stain of one cell.

    Parameters
    ----------
    frame : CellFrame
        The cell's shared geometry in its window.
    pixel_um : float
        Isotropic pixel size (µm).

    Returns
    -------
    out : dict
        ``index`` (M,) int64 window-flat pixel of each emitter; ``emission`` (M,) float32
        (z-disc peak of a unit cell = 1, times ``params.brightness``); ``depth`` (M,) float32
        µm above the cell base; ``spread`` (M,) float32 standard deviation (µm) of the
        emitter's own extent in z; ``diffuse`` (H, W) float32 stain density (0 outside the cell).
    """
    params = frame.params
    shape = frame.shape
    rng = np.random.default_rng([params.detail_seed, 3])
    iy, ix, u, v = frame.iy, frame.ix, frame.u, frame.v
    thick = frame.thickness
    half_extent = frame.half_extent_um
    flat = iy * shape[1] + ix
    gain = np.float32(params.brightness)
    out = {"index": np.zeros(0, np.int64), "emission": np.zeros(0, np.float32), "depth": np.zeros(0, np.float32),
           "spread": np.zeros(0, np.float32), "diffuse": np.zeros(shape, np.float32)}
    if iy.size == 0:
        return out
    org = frame.ramp > 0  # fibrils fade out over the soft edge of the region
    edge = np.clip((1.0 - frame.rho) * frame.outline.half_width_um / 0.8, 0.0, 1.0)
    parts = []
    if org.any():
        area = org.sum() * pixel_um**2
        n_dom = int(np.clip(round(area / params.domain_size_um**2), 1, 400))
        seeds = rng.choice(np.flatnonzero(org), n_dom, replace=org.sum() < n_dom)
        seeds_uv = np.stack([u[seeds], v[seeds]], axis=1)
        s, t, dom, across = _fibril_lattice(params, rng, u[org], v[org], seeds_uv)
        roll = np.tan(np.deg2rad(rng.normal(0.0, params.zdisc_out_of_plane_deg, n_dom)))[dom] * across
        weight = frame.ramp[org] * edge[org]
        for layer in range(params.fibril_layers):
            fib, rel, spread = _lane_layer(params, rng, s, t, half_extent, pixel_um, layer)
            depth = cytoplasm_height(rel, thick[org], frame.nucleus_bottom[org], frame.nucleus_top[org])
            depth = np.clip(depth + roll, 0.02 * thick[org], 0.98 * thick[org])
            keep = fib > 1e-4
            parts.append((flat[org][keep], (fib * weight)[keep], depth[keep], spread[keep]))

    # z-bodies: blurred point deposits, two size classes
    free = ~org | (frame.ramp < 0.5)
    fibril_dir = np.deg2rad(params.long_axis_deg + params.zdisc_angle_deg + 90.0)
    pts, amp = _zbody_impulses(params, rng, iy[free], ix[free], int(org.sum()), pixel_um, fibril_dir)
    zb = np.zeros(shape, np.float32)
    if pts.shape[0]:
        big = rng.random(pts.shape[0]) < 0.3
        for sel, size in ((~big, params.zbody_size_um), (big, 1.7 * params.zbody_size_um)):
            sigma_px = max(size / pixel_um, 0.5)
            img = ndi.gaussian_filter(_splat(shape, pts[sel], amp[sel]), sigma_px, truncate=3.0)
            zb += img * np.float32(2 * np.pi * sigma_px**2)
    rel_height = np.clip(0.5 + 0.2 * SmoothNoise(rng, half_extent, 4.0)(u, v), 0.1, 0.9)
    zb_cell = zb.ravel()[flat]
    keep = zb_cell > 1e-4
    parts.append((flat[keep], zb_cell[keep],
                  cytoplasm_height(rel_height, thick, frame.nucleus_bottom, frame.nucleus_top)[keep],
                  np.full(int(keep.sum()), params.zbody_size_um, np.float32)))

    diffuse = params.diffuse_level * np.clip(1.0 + 0.3 * SmoothNoise(rng, half_extent, 6.0)(u, v), 0.2, None)
    out["index"] = np.concatenate([p[0] for p in parts]).astype(np.int64)
    out["emission"] = (np.concatenate([p[1] for p in parts]) * gain).astype(np.float32)
    out["depth"] = np.concatenate([p[2] for p in parts]).astype(np.float32)
    out["spread"] = np.concatenate([p[3] for p in parts]).astype(np.float32)
    out["diffuse"][iy, ix] = gain * diffuse
    return out
