"""Where the cells of a field go: apart by a gap, or touching; inside a given field or sized to them."""

import numpy as np

from ._shapes import Outline

__all__ = ["place_cells"]

_MARGIN_UM = 4.0  # free border around the cells when the field size follows from them
_GAP_UM = 3.0  # least distance between cells that must not touch


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


def place_cells(rng: np.random.Generator, outlines: list[Outline], field_size_um, touching: bool):
    """Cell centres (µm, ``(y, x)`` arrays) and the field size (µm).

    Raises
    ------
    ValueError
        If the cells do not fit into `field_size_um` (200 random arrangements tried).
    """
    polys = [o.field_polygon_um((0.0, 0.0)) for o in outlines]

    def cluster():
        centres = [np.zeros(2)]
        for o in outlines[1:]:
            centres.append(_place_next(rng, outlines[: len(centres)], centres, o, touching))
        pts = np.concatenate([p + c for p, c in zip(polys, centres)])
        return centres, pts.min(axis=0), pts.max(axis=0)

    if field_size_um is None:
        centres, lo, hi = cluster()
        lo, hi = lo - _MARGIN_UM, hi + _MARGIN_UM
        return [c - lo for c in centres], tuple(hi - lo)
    size = np.asarray(field_size_um, float)
    for _ in range(200):
        if touching:  # a touching cluster, shifted to a random place where it fits
            centres, lo, hi = cluster()
            if np.all(hi - lo + 2.0 <= size):
                shift = rng.uniform(1.0 - lo, size - 1.0 - hi)
                return [c + shift for c in centres], tuple(size)
            continue
        centres = []
        for i, (o, p) in enumerate(zip(outlines, polys)):
            lo, hi = -p.min(axis=0) + 1.0, size - p.max(axis=0) - 1.0
            if np.any(hi < lo):
                break
            for _ in range(200):
                c = rng.uniform(lo, hi)
                if _apart(outlines[:i], centres, o, c, _GAP_UM):
                    break
            else:
                break
            centres.append(c)
        if len(centres) == len(outlines):
            return centres, tuple(size)
    raise ValueError(f"{len(outlines)} cell(s) do not fit into `field_size_um` {tuple(size)}; "
                     f"pass a larger field, fewer cells, or None to size the field to the cells")
