"""Cutting a region between two concave notches of its outline (private)."""

import numpy as np
from scipy import ndimage as ndi
from skimage import draw, measure, morphology


def _cut_at_concavities(
    labels: np.ndarray,
    pixel_size_um: float,
    *,
    concavity: float,
    min_area_px: float,
    min_depth_um: float,
    max_cuts: int = 8,
) -> np.ndarray:
    """Split regions along a cut joining two deep concave notches of the outline.

    A notch is a pocket of the region's convex hull that the region leaves empty;
    its depth is how far its deepest outline point lies inside the hull, and it
    counts from `min_depth_um`. A cut between the deepest points of two notches is
    scored (depth + depth) / length; the best cut scoring at least `concavity` is
    made when it runs inside the region and leaves two pieces of at least
    `min_area_px` pixels. Outline roughness gives shallow notches far apart (score
    ~0.1-0.2); two cells pressed together leave deep notches at both ends of a
    short contact. Pieces are cut again, up to `max_cuts` times per region.
    Labels are returned renumbered 1..n.
    """
    out = np.zeros(labels.shape, dtype=np.int64)
    next_label = 1
    queue = [(sl, labels[sl] == lab) for lab, sl in enumerate(ndi.find_objects(labels), 1) if sl]
    budget = {}
    while queue:
        sl, region = queue.pop()
        key = (sl[0].start, sl[1].start)
        pieces = None
        if budget.get(key, 0) < max_cuts and region.sum() >= 2 * min_area_px:
            pieces = _best_cut(region, pixel_size_um, concavity, min_area_px, min_depth_um)
        if pieces is None:
            out[sl][region] = next_label
            next_label += 1
            continue
        for piece in pieces:
            budget[key] = budget.get(key, 0) + 1
            queue.append((sl, piece))
    return out


def _best_cut(
    region: np.ndarray,
    pixel_size_um: float,
    concavity: float,
    min_area_px: float,
    min_depth_um: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The two pieces of the best valid notch-to-notch cut of `region`, or None."""
    padded = np.pad(region, 1)
    hull = morphology.convex_hull_image(padded)
    pockets, n = ndi.label(hull & ~padded)
    if n < 2:
        return None
    depth = ndi.distance_transform_edt(hull) * pixel_size_um  # µm inside the hull
    rim = padded & ~ndi.binary_erosion(padded)  # outline pixels of the region
    notches = []
    for pocket in range(1, n + 1):
        touching = rim & ndi.binary_dilation(pockets == pocket)
        if not touching.any():
            continue
        ys, xs = np.nonzero(touching)
        k = int(np.argmax(depth[ys, xs]))
        if depth[ys[k], xs[k]] >= min_depth_um:
            notches.append((ys[k], xs[k], float(depth[ys[k], xs[k]])))
    if len(notches) < 2:
        return None
    best = None
    for i in range(len(notches)):
        for j in range(i + 1, len(notches)):
            (y0, x0, d0), (y1, x1, d1) = notches[i], notches[j]
            length_um = max(np.hypot(y1 - y0, x1 - x0) * pixel_size_um, pixel_size_um)
            score = (d0 + d1) / length_um
            if score < concavity or (best is not None and score <= best[0]):
                continue
            rr, cc = draw.line(y0, x0, y1, x1)
            if padded[rr, cc].mean() < 0.9:
                continue  # the cut would leave the region
            cut = np.zeros_like(padded)
            cut[rr, cc] = True
            cut = ndi.binary_dilation(cut)
            parts, m = ndi.label(padded & ~cut)
            if m < 2:
                continue
            areas = np.bincount(parts.ravel())[1:]
            a, b = np.argsort(areas)[::-1][:2] + 1
            if areas[b - 1] < min_area_px:
                continue
            best = (score, parts, a, b)
    if best is None:
        return None
    _, parts, a, b = best
    # Give the cut line and any crumbs to the nearer of the two pieces.
    seeds = np.where(parts == a, 1, np.where(parts == b, 2, 0))
    _, (iy, ix) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    nearest = seeds[iy, ix]
    inner = (slice(1, -1), slice(1, -1))
    return (padded & (nearest == 1))[inner], (padded & (nearest == 2))[inner]
