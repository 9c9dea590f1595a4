"""Look "d", one cell: beaded z-lines in myofibril bundles, stress fibres, dots, rim and stain.

Written apart from looks "a" (analytic stripes of Voronoi domains) and "b" (discs of dots on
streamlines); neither's code is called. Only the truth is shared (:class:`~._geometry.CellFrame`:
outline, body, nucleus, organised region). Here the organised region is tiled by myofibril
**bundles**, bricks of a staggered wall in the fibril frame (``domain_size_um`` long and about
half as wide), each turned by its own angle (``orientation_disorder_deg``, area-weighted mean
removed: the mean angle is exact) and rolled out of the image plane (``zdisc_out_of_plane_deg``).
A z-disc is a **continuous line segment** across its myofibril with a ``sech**2`` profile along
the fibril (full width ``zdisc_thickness_um``), soft ``tanh`` ends, a slight bow and **beaded**
intensity along the line; it is evaluated on a supersampled grid and area-averaged per pixel.
Outside the organised region lie **stress-fibre lines** near the coverslip with faint, irregular
punctae (premyofibrils), and scattered dots, both with a Lorentzian-like (2D Cauchy) profile; a
faint **cortical rim** follows the outline and the diffuse stain is **brighter around the
nucleus** (those in :mod:`._look_d_cytoplasm`). The result is a list of emitters (pixel, emission, height, own z extent) and a stain
density that fills the cytoplasm's column, imaged by :func:`~._optics_d.acquire_stack_d`.

Parameters read as in the other looks: sarcomere length and jitter, z-disc thickness, angle,
tilt and brightness spread, orientation disorder, domain size, fibril width, gap, fill, bend and
layers, register, stripe contrast (the signal kept between z-discs), out-of-plane spread, z-body
density, size and brightness, diffuse level and brightness. Not used: stripe sharpness (the
profile is always ``sech**2``) and branching (bundles end and restart instead).
"""

from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi
from scipy.special import ndtri

from ._geometry import CellFrame, cytoplasm_height
from ._look_d_cytoplasm import dots, outline_distance_um, stain, stress_fibres

__all__ = ["render_cell_d"]

_SUB_UM = 0.06  # supersampling pitch of the z-line grid, at most
_MAX_SUB = 4
_SECH2_FWHM = 2.0 * np.arccosh(np.sqrt(2.0))  # FWHM of sech(x)**2 in units of x
_TABLE = 1 << 14  # random tables indexed by hashed (bundle, layer, lane) and (lane, disc) keys
_LANE_EDGE_UM = 0.06  # soft end of a z-line at the myofibril's edge
_RIM_FADE_UM = 0.6  # myofibrils fade out this close to the outline
_CHUNK_PX = 20_000  # organised pixels per evaluation chunk (memory)
_MIN_EMISSION = 1e-4  # emitters dimmer than this (z-disc peak = 1) are left out


class _Bundles(NamedTuple):
    """A staggered wall of bricks in the common fibril frame ``(s, t)`` and each brick's pose."""

    edges: np.ndarray  # (R + 1,) row edges across the fibrils, µm
    offset: np.ndarray  # (R,) start of each row's first brick along the fibrils, µm
    length: np.ndarray  # (R,) brick length of each row, µm
    n_col: int
    turn: np.ndarray  # (R * n_col,) in-plane turn, radians
    roll: np.ndarray  # (R * n_col,) slope of the sheet across the fibrils (tan of the roll)
    rel: np.ndarray  # (R * n_col, layers) offsets of each layer's relative height


def _hash(*keys) -> np.ndarray:
    """Table index in [0, _TABLE) of integer key tuples (elementwise, int64 wrap-around mixing)."""
    h = np.zeros(np.broadcast(*keys).shape, np.int64)
    with np.errstate(over="ignore"):
        for k in keys:
            h = (h ^ np.asarray(k, np.int64)) * np.int64(-7046029254386353131)  # 0x9E3779B97F4A7C15
            h ^= h >> 29
    return (h >> 17) & (_TABLE - 1)


def _bundles(p, rng: np.random.Generator, reach_um: float) -> _Bundles:
    d = p.domain_size_um
    n_rows = int(np.ceil(2 * reach_um / (0.5 * d))) + 2
    widths = d * rng.uniform(0.5, 1.0, n_rows)
    edges = np.concatenate([[0.0], np.cumsum(widths)]) - reach_um - rng.uniform(0.0, widths[0])
    length = d * rng.uniform(1.0, 2.0, n_rows)
    offset = -reach_um - rng.uniform(0.0, 1.0, n_rows) * length
    n_col = int(np.ceil(2 * reach_um / d)) + 2
    n = n_rows * n_col
    return _Bundles(edges=edges, offset=offset, length=length, n_col=n_col,
                    turn=np.deg2rad(rng.normal(0.0, p.orientation_disorder_deg, n)),
                    roll=np.tan(np.deg2rad(rng.normal(0.0, p.zdisc_out_of_plane_deg, n))),
                    rel=rng.uniform(-0.15, 0.15, (n, p.fibril_layers)))


def _bundle_of(b: _Bundles, s0: np.ndarray, t0: np.ndarray):
    """Brick id and brick centre ``(s, t)`` (µm) of points of the common fibril frame."""
    row = np.clip(np.searchsorted(b.edges, t0, side="right") - 1, 0, b.length.size - 1)
    col = np.clip(np.floor((s0 - b.offset[row]) / b.length[row]).astype(np.int64), 0, b.n_col - 1)
    sc = b.offset[row] + (col + 0.5) * b.length[row]
    tc = 0.5 * (b.edges[row] + b.edges[row + 1])
    return row * b.n_col + col, sc, tc


def _tables(p, rng: np.random.Generator) -> dict:
    """Random lane and z-disc properties, looked up by hashed keys."""
    n = _TABLE
    sigma = np.sqrt(np.log1p(p.zdisc_brightness_cv ** 2))
    amp = rng.lognormal(-0.5 * sigma ** 2, sigma, n) * (rng.random(n) >= rng.uniform(0.02, 0.06))  # missing discs
    run = ndi.gaussian_filter1d(rng.standard_normal(n), rng.uniform(1.5, 3.0), mode="wrap")  # along a lane, in discs
    return dict(width=rng.uniform(0.75, 1.25, n), shift=rng.uniform(-1.0, 1.0, n), gain=rng.lognormal(0.0, 0.2, n),
                rel=rng.uniform(-0.1, 0.1, n), register=rng.normal(0.0, p.register_jitter_um, n),
                run_start=rng.integers(0, n, n), run=run / run.std(),
                jitter=rng.normal(0.0, p.sarcomere_jitter_um, n), amp=amp,
                tilt=np.tan(np.deg2rad(rng.normal(0.0, p.zdisc_tilt_deg, n))), bow=rng.normal(0.0, 0.04, n),
                bead_phase=rng.uniform(0.0, 2 * np.pi, n))


class _Layout(NamedTuple):
    """Everything one cell's myofibrils are drawn from."""

    e0: np.ndarray  # fibril direction of the common lattice in the cell frame
    n0: np.ndarray  # across it
    bundles: _Bundles
    tables: dict
    lane_origin: np.ndarray  # (layers,) µm
    bend_phase: np.ndarray  # (layers,) radians
    present_above: float  # lane-run threshold whose exceedance share is fibril_fill
    bead_period_um: float
    bead_depth: float


def _layout(frame: CellFrame, rng: np.random.Generator) -> _Layout:
    p = frame.params
    psi0 = np.deg2rad(p.zdisc_angle_deg + 90.0)  # myofibrils run perpendicular to the z-lines
    e0, n0 = np.array([np.cos(psi0), np.sin(psi0)]), np.array([-np.sin(psi0), np.cos(psi0)])
    bundles = _bundles(p, rng, 1.2 * frame.half_extent_um)
    org = frame.organised
    if org.any():  # the organised area's mean turn is removed: the mean z-line angle is the requested one
        ids, _, _ = _bundle_of(bundles, frame.u[org] * e0[0] + frame.v[org] * e0[1],
                               frame.u[org] * n0[0] + frame.v[org] * n0[1])
        area = np.bincount(ids, minlength=bundles.turn.size)
        bundles = bundles._replace(turn=bundles.turn - area @ bundles.turn / area.sum())
    pitch = p.fibril_width_um + p.fibril_gap_um
    return _Layout(e0=e0, n0=n0, bundles=bundles, tables=_tables(p, rng),
                   lane_origin=rng.uniform(0.0, pitch, p.fibril_layers),
                   bend_phase=rng.uniform(0.0, 2 * np.pi, p.fibril_layers),
                   present_above=float(ndtri(1.0 - p.fibril_fill)) if p.fibril_fill < 1 else -np.inf,
                   bead_period_um=rng.uniform(0.25, 0.45), bead_depth=rng.uniform(0.2, 0.6))


def _fibril_layer(p, lay: _Layout, u: np.ndarray, v: np.ndarray, layer: int):
    """One layer's myofibrils at cell-frame points (µm): emission (z-line peak 1), relative height
    in the cytoplasm's column, lift (µm) by the bundle's roll and the z-line's own z extent (µm)."""
    b = lay.bundles
    tab = lay.tables
    s0 = u * lay.e0[0] + v * lay.e0[1]
    t0 = u * lay.n0[0] + v * lay.n0[1]
    brick, sc, tc = _bundle_of(b, s0, t0)
    ds, dt = s0 - sc, t0 - tc
    c, sn = np.cos(b.turn[brick]), np.sin(b.turn[brick])
    s = sc + ds * c + dt * sn  # turned about the brick's centre: the lattice is unbroken there
    across = dt * c - ds * sn
    t = tc + across + p.fibril_bend_um * np.sin(2 * np.pi * s / p.fibril_bend_period_um + lay.bend_phase[layer])
    pitch = p.fibril_width_um + p.fibril_gap_um
    tt = t - lay.lane_origin[layer]
    lane = np.floor(tt / pitch).astype(np.int64)
    key = _hash(brick, layer, lane)
    width = np.minimum(p.fibril_width_um * tab["width"][key], 0.92 * pitch)  # one myofibril per slot
    x = tt - (lane + 0.5) * pitch - tab["shift"][key] * 0.5 * (pitch - width)
    ends = 0.5 * (1.0 - np.tanh((np.abs(x) - 0.5 * width) / _LANE_EDGE_UM))
    pos = (s - tab["register"][key]) / p.sarcomere_length_um
    q = np.rint(pos).astype(np.int64)
    disc = _hash(key, q)
    d = ((pos - q) * p.sarcomere_length_um - tab["jitter"][disc] - tab["tilt"][disc] * x
         - tab["bow"][disc] * (2 * x / width) ** 2)
    beads = 1.0 + lay.bead_depth * np.cos(2 * np.pi * x / lay.bead_period_um + tab["bead_phase"][disc])
    zline = tab["amp"][disc] * beads / np.cosh(d * (_SECH2_FWHM / p.zdisc_thickness_um)) ** 2
    present = tab["run"][(tab["run_start"][key] + q) & (_TABLE - 1)] > lay.present_above
    floor = 1.0 - p.stripe_contrast
    value = tab["gain"][key] * ends * present * (floor + (1.0 - floor) * zline)
    rel = (layer + 0.5 + b.rel[brick, layer] + tab["rel"][key]) / p.fibril_layers
    return value, rel, b.roll[brick] * across, 0.3 * width  # a round myofibril's z-disc spans its width in z


def _myofibrils(frame: CellFrame, lay: _Layout, weight: np.ndarray):
    """Emitters of all layers: (pixel, emission, height µm, z extent µm), area-averaged per pixel."""
    p = frame.params
    n_sub = int(np.clip(np.ceil(frame.pixel_um / _SUB_UM), 1, _MAX_SUB))
    off = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * frame.pixel_um
    dy, dx = (g.ravel() for g in np.meshgrid(off, off, indexing="ij"))
    th = np.deg2rad(p.long_axis_deg)
    du, dv = dx * np.cos(th) + dy * np.sin(th), dy * np.cos(th) - dx * np.sin(th)  # field offsets in the cell frame
    pixels = np.flatnonzero(weight > 0)
    out = []
    for start in range(0, pixels.size, _CHUNK_PX):
        px = pixels[start:start + _CHUNK_PX]
        u = (frame.u[px, None] + du[None, :]).ravel().astype(np.float32)
        v = (frame.v[px, None] + dv[None, :]).ravel().astype(np.float32)
        for layer in range(p.fibril_layers):
            value, rel, lift, spread = (a.reshape(px.size, -1) for a in _fibril_layer(p, lay, u, v, layer))
            total = value.sum(axis=1)
            keep = total > _MIN_EMISSION * n_sub ** 2
            if not keep.any():
                continue
            w = value[keep] / total[keep, None]
            k = px[keep]
            thick = frame.thickness[k]
            z = cytoplasm_height((w * rel[keep]).sum(axis=1), thick, frame.nucleus_bottom[k], frame.nucleus_top[k])
            z = np.clip(z + (w * lift[keep]).sum(axis=1), 0.05 * thick, 0.95 * thick)
            out.append((k, total[keep] / n_sub ** 2 * weight[k], z, (w * spread[keep]).sum(axis=1)))
    return out


def render_cell_d(frame: CellFrame) -> dict:
    """Look-"d" emitters and stain of one cell.

    Parameters
    ----------
    frame : CellFrame
        The cell's shared geometry in its window.

    Returns
    -------
    out : dict
        ``index`` (M,) int64 window-flat pixel of each emitter (a pixel may hold several: one per
        myofibril layer, stress fibre, dot); ``emission`` (M,) float32, pixel-averaged (an in-focus
        z-line of a unit cell peaks at 1, times ``params.brightness``); ``height`` (M,) float32 µm
        above the cell base; ``spread`` (M,) float32, standard deviation (µm) of the emitter's own
        extent in z; ``column`` (N,) float32 stain density at the frame's pixels, filling the
        cytoplasm's column (the nucleus left out).

    Notes
    -----
    Deterministic in ``params.detail_seed``. The z-lines are sampled on a grid of at most
    0.06 µm (2 x 2 sub-pixels at 0.08 µm pixels, 3 x 3 at 0.16 µm) and averaged per pixel.
    """
    p = frame.params
    rng = np.random.default_rng([p.detail_seed, 11])
    parts = []
    column = np.zeros(frame.iy.size, np.float32)
    if frame.iy.size:
        maps = {"ramp": frame.window_map(frame.ramp), "thickness": frame.window_map(frame.thickness),
                "nucleus_bottom": frame.window_map(frame.nucleus_bottom),
                "nucleus_top": frame.window_map(frame.nucleus_top)}
        lay = _layout(frame, rng)
        weight = frame.ramp * np.clip(outline_distance_um(frame) / _RIM_FADE_UM, 0.0, 1.0)
        parts += _myofibrils(frame, lay, weight)
        parts += [q for q in (stress_fibres(frame, maps, rng), dots(frame, rng)) if q is not None]
        column = stain(frame, rng)
    gain = np.float32(p.brightness)
    if not parts:
        parts = [(np.zeros(0, np.int64),) + (np.zeros(0, np.float32),) * 3]
    pixel = np.concatenate([q[0] for q in parts])
    return {"index": (frame.iy[pixel] * frame.shape[1] + frame.ix[pixel]).astype(np.int64),
            "emission": (np.concatenate([q[1] for q in parts]) * gain).astype(np.float32),
            "height": np.concatenate([q[2] for q in parts]).astype(np.float32),
            "spread": np.concatenate([q[3] for q in parts]).astype(np.float32),
            "column": column * gain}
