"""A synthetic field: cells placed, rendered, imaged; with their labels and ratings."""

from dataclasses import dataclass

import numpy as np

from ._fibrils import render_cell_maps
from ._optics import acquire_stack, sample_optics
from ._params import SIM_SCALE_UM, CellParams, OpticsParams
from ._ratings import rate_cell
from ._sampling import sample_cell_params
from ._shapes import Outline
from ._validate import _as_generator, _check_scale

__all__ = ["SyntheticField", "CellTruth", "synthesize_field"]

_MARGIN_UM = 4.0  # free border around the cells when the field size follows from them
_Z_MARGIN_UM = 1.0  # free space below and above the cells in the stack
_GAP_UM = 3.0  # least distance between cells that must not touch
_MAX_CELLS = 50


@dataclass(frozen=True)
class CellTruth:
    """Ground truth of one cell in a field.

    Attributes
    ----------
    label : int
        Its id in ``SyntheticField.cell_labels`` (1..n).
    source : str
        ``"adult"``, ``"neonatal"`` or ``"ipsc"`` as rated.
    sarcomerisation, directionality : int
        Ratings 1..4 (with the field's rater noise, if any).
    params : CellParams
        Every generator parameter of the cell.
    centre_yx_um : tuple of float
        Cell centre in the field (µm from the centre of pixel (0, 0)).
    """

    label: int
    source: str
    sarcomerisation: int
    directionality: int
    params: CellParams
    centre_yx_um: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class SyntheticField:
    """One synthetic field of view.

    Attributes
    ----------
    stack : (Z, Y, X) ndarray of uint16
        The alpha-actinin image stack.
    cell_labels : (Y, X) ndarray of uint32
        0 = background, 1..n = the cells of `cells`, in order.
    cells : list of CellTruth
        One per label.
    scale_um : dict
        ``{"z", "y", "x"}``: µm per slice / pixel.
    optics : OpticsParams
        Acquisition settings used.
    organised : (Y, X) ndarray of bool
        The cells' organised regions, the truth behind ``organised_fraction``: where the
        generator lays myofibrils, gaps between lanes and missing stretches of a lane
        included (the stain shows fibrils on part of it only). A cell's share of it is its
        ``params.organised_fraction`` up to pixel rounding.
    """

    stack: np.ndarray
    cell_labels: np.ndarray
    cells: list[CellTruth]
    scale_um: dict
    optics: OpticsParams | None = None
    organised: np.ndarray | None = None


def _clearance(a: Outline, ca: np.ndarray, b: Outline, cb: np.ndarray) -> float:
    """Smallest normalised radius of either outline's points inside the other (> 1: apart)."""
    pb = b.field_polygon_um(tuple(cb))
    pa = a.field_polygon_um(tuple(ca))
    ra = a.rho(*a.to_cell_frame(pb[:, 0], pb[:, 1], tuple(ca)))
    rb = b.rho(*b.to_cell_frame(pa[:, 0], pa[:, 1], tuple(cb)))
    return float(min(ra.min(), rb.min()))


def _apart(outlines, centres, new: Outline, c_new: np.ndarray, gap_um: float) -> bool:
    for o, c in zip(outlines, centres):
        size = min(o.half_width_um, new.half_width_um)
        if _clearance(o, c, new, c_new) < 1.0 + gap_um / size:
            return False
    return True


def _place_next(rng, outlines, centres, new: Outline, touching: bool) -> np.ndarray:
    """March outwards from the first cell along a random direction until the new one fits."""
    ang = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.sin(ang), np.cos(ang)])
    anchor = centres[int(rng.integers(len(centres)))]
    gap = 0.0 if touching else _GAP_UM
    d = 0.0
    while not _apart(outlines, centres, new, anchor + d * direction, gap):
        d += 1.0
    if touching:
        d = max(d - 1.5, 0.0)  # overlap a little: the shared rim is split between the two
    else:
        d += rng.uniform(0.0, 10.0)
    return anchor + d * direction


def _place(rng, outlines, field_size_um, touching):
    """Cell centres (µm) and the field size (µm)."""
    polys = [o.field_polygon_um((0.0, 0.0)) for o in outlines]
    if field_size_um is None:
        centres = [np.zeros(2)]
        for o in outlines[1:]:
            centres.append(_place_next(rng, outlines[: len(centres)], centres, o, touching))
        pts = np.concatenate([p + c for p, c in zip(polys, centres)])
        lo = pts.min(axis=0) - _MARGIN_UM
        hi = pts.max(axis=0) + _MARGIN_UM
        return [c - lo for c in centres], tuple(hi - lo)
    size = np.asarray(field_size_um, float)
    for _ in range(200):
        centres = []
        for i, (o, p) in enumerate(zip(outlines, polys)):
            lo, hi = -p.min(axis=0) + 1.0, size - p.max(axis=0) - 1.0
            if np.any(hi < lo):
                break
            if i == 0 or not touching:
                for _ in range(200):
                    c = rng.uniform(lo, hi)
                    if _apart(outlines[:i], centres, o, c, _GAP_UM):
                        break
                else:
                    break
            else:
                c = _place_next(rng, outlines[:i], centres, o, True)
                if np.any(c < lo) or np.any(c > hi):
                    break
            centres.append(c)
        if len(centres) == len(outlines):
            return centres, tuple(size)
    raise ValueError(f"{len(outlines)} cell(s) do not fit into `field_size_um` {tuple(size)}; "
                     f"pass a larger field, fewer cells, or None to size the field to the cells")


def synthesize_field(rng: np.random.Generator | int, *, n_cells: int = 1, scale_um: dict | None = None,
                     n_z: int | None = None, field_size_um: tuple[float, float] | None = None,
                     cell_params: list[CellParams] | None = None, rater_noise: float = 0.0,
                     touching: bool = False) -> SyntheticField:
    """Render a synthetic 3D-SIM field of alpha-actinin-stained cardiomyocytes.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random source; an int seeds a new generator (same seed, same bytes).
    n_cells : int
        Number of cells (1..50) when `cell_params` is None.
    scale_um : dict, optional
        ``{"z", "y", "x"}`` in µm per slice / pixel, square pixels; default
        ``SIM_SCALE_UM``. ``DEMO_SCALE_UM`` is a coarse, fast preset.
    n_z : int, optional
        Number of slices; by default the tallest cell plus 1 µm below and above. The
        cells' slab is centred in the stack (a short stack cuts it).
    field_size_um : (float, float), optional
        Field height and width in µm; by default the cells' bounding box plus 4 µm.
    cell_params : list of CellParams, optional
        The cells to render; drawn with :func:`sample_cell_params` when None. When
        given, its length sets the number of cells (`n_cells` must be 1 or equal).
    rater_noise : float
        Rater reading error (class widths) used for the cells' ratings, >= 0.
    touching : bool
        Place the cells so that each touches another (their outlines overlap a little
        and the shared rim is split between them); otherwise at least 3 µm apart.

    Returns
    -------
    field : SyntheticField
        ``stack`` (Z, Y, X) uint16, ``cell_labels`` (Y, X) uint32 with labels
        1..n in the order of ``cells``, ``scale_um`` and the optics used.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If a value is out of range, or the cells do not fit into `field_size_um`.

    Notes
    -----
    Pure and deterministic: no files, all randomness from `rng`. The cells' fine
    detail comes from each ``CellParams.detail_seed``, so a given parameter record
    always renders the same cell. Cost grows with the field's pixel count times
    slices: a single cell at ``DEMO_SCALE_UM`` takes well under a second.

    Examples
    --------
    >>> from ames_batch.synth import DEMO_SCALE_UM, sample_cell_params
    >>> f = synthesize_field(0, scale_um=DEMO_SCALE_UM, cell_params=[
    ...     sample_cell_params(1, source="ipsc")])
    >>> f.stack.dtype, int(f.cell_labels.max()), f.cells[0].source
    (dtype('uint16'), 1, 'ipsc')
    """
    rng = _as_generator(rng)
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)):
        raise TypeError(f"`n_cells` must be an int; got {type(n_cells).__name__}")
    if not 1 <= n_cells <= _MAX_CELLS:
        raise ValueError(f"`n_cells` must be in 1..{_MAX_CELLS}; got {n_cells}")
    scale = _check_scale(SIM_SCALE_UM if scale_um is None else scale_um)
    if n_z is not None:
        if isinstance(n_z, bool) or not isinstance(n_z, (int, np.integer)):
            raise TypeError(f"`n_z` must be an int or None; got {type(n_z).__name__}")
        if n_z < 1:
            raise ValueError(f"`n_z` must be >= 1; got {n_z}")
    if field_size_um is not None:
        if len(field_size_um) != 2 or not all(np.isfinite(s) and s > 0 for s in field_size_um):
            raise ValueError(f"`field_size_um` must be two positive µm sizes (height, width); got {field_size_um}")
    if cell_params is not None:
        if not isinstance(cell_params, (list, tuple)) or not all(isinstance(p, CellParams) for p in cell_params):
            raise TypeError("`cell_params` must be a list of CellParams")
        if not 1 <= len(cell_params) <= _MAX_CELLS:
            raise ValueError(f"`cell_params` must hold 1..{_MAX_CELLS} cells; got {len(cell_params)}")
        if n_cells not in (1, len(cell_params)):
            raise ValueError(f"`n_cells` ({n_cells}) disagrees with len(cell_params) ({len(cell_params)})")
    if not np.isfinite(rater_noise) or rater_noise < 0:
        raise ValueError(f"`rater_noise` must be a finite number >= 0; got {rater_noise}")
    if not isinstance(touching, bool):
        raise TypeError(f"`touching` must be a bool; got {type(touching).__name__}")

    params = list(cell_params) if cell_params is not None else [sample_cell_params(rng) for _ in range(n_cells)]
    outlines = [Outline(p) for p in params]
    centres, size_um = _place(rng, outlines, field_size_um, touching)
    pixel = scale["y"]
    shape = (int(np.ceil(size_um[0] / pixel)), int(np.ceil(size_um[1] / pixel)))

    labels = np.zeros(shape, np.uint32)
    best = np.full(shape, np.inf, np.float32)
    windows = []
    for k, (o, c) in enumerate(zip(outlines, centres), start=1):
        poly = o.field_polygon_um(tuple(c)) / pixel
        r0, c0 = np.maximum(np.floor(poly.min(axis=0)).astype(int) - 2, 0)
        r1, c1 = np.minimum(np.ceil(poly.max(axis=0)).astype(int) + 3, shape)
        y_um = np.arange(r0, r1) * pixel
        x_um = np.arange(c0, c1) * pixel
        u, v = o.to_cell_frame(y_um[:, None], x_um[None, :], tuple(c))
        rho = o.rho(u, v)
        win = (slice(r0, r1), slice(c0, c1))
        take = (rho <= 1.0) & (rho < best[win])
        best[win][take] = rho[take]
        labels[win][take] = k
        windows.append((win, y_um, x_um))

    maps = {k: np.zeros(shape, np.float32) for k in ("emission", "depth", "depth_spread", "diffuse", "thickness")}
    organised = np.zeros(shape, bool)
    for k, (p, o, c, (win, y_um, x_um)) in enumerate(zip(params, outlines, centres, windows), start=1):
        cell_maps = render_cell_maps(p, o, labels[win] == k, y_um, x_um, tuple(c), pixel)
        owned = labels[win] == k
        maps["emission"][win] += cell_maps["emission"]
        organised[win] |= cell_maps["organised"]
        for name in ("depth", "depth_spread", "diffuse", "thickness"):
            maps[name][win][owned] = cell_maps[name][owned]

    tallest = max(p.height_um for p in params)
    if n_z is None:
        n_z = int(np.ceil((tallest + 2 * _Z_MARGIN_UM) / scale["z"])) + 1
    base = ((n_z - 1) * scale["z"] - tallest) / 2
    optics = sample_optics(rng)
    stack = acquire_stack(maps["emission"], maps["depth"], maps["depth_spread"], maps["diffuse"], maps["thickness"],
                          scale_um=scale, n_z=int(n_z), base_um=base, optics=optics, rng=rng)
    cells = []
    for k, (p, c) in enumerate(zip(params, centres), start=1):
        r = rate_cell(p, rater_noise=rater_noise, rng=rng if rater_noise > 0 else None)
        cells.append(CellTruth(label=k, source=r["source"], sarcomerisation=r["sarcomerisation"],
                               directionality=r["directionality"], params=p,
                               centre_yx_um=(float(c[0]), float(c[1]))))
    return SyntheticField(stack=stack, cell_labels=labels, cells=cells, scale_um=scale, optics=optics,
                          organised=organised)
