"""Foreground of a smoothed field: threshold, background plane, empty-field checks, outline."""

import math

import numpy as np

from .._lazy import filters, ndi
from ._grid import _box, _inside_distance, _outside_distance

__all__ = ["THRESHOLD_METHODS"]

#: Foreground threshold rules `segment_cells` accepts (see ``docs/segmentation.md``).
THRESHOLD_METHODS = ("otsu_log", "otsu", "triangle", "li")

#: A foreground this many times `min_contrast` above background counts as cells even
#: without fine texture (saturated cells); smooth ramps and vignetting stay below ~7.
_SURE_CONTRAST = 2.0

#: Background pixels for the plane fit lie this far (µm) from a first foreground, so
#: the narrow dim gaps between cells of a crowded field do not count as background.
_FLATTEN_MARGIN_UM = 4.0

#: The background surface is a plane, or a quadratic (vignetting: a radial fall-off
#: about a centre) when that leaves the background's spread under this share of the plane's.
_CURVED_GAIN = 0.8

#: Refits of the first, lower-half background plane.
_LOWER_ROUNDS = 4

#: A background plane whose rise across the field is under this fraction of the
#: foreground/background step is not subtracted: too small to move the threshold,
#: and in a crowded field the fit itself is the larger risk.
_MIN_TILT = 0.2


def _threshold(smooth: np.ndarray, method: str) -> np.ndarray | None:
    """Foreground mask by `method`; None when the field is flat or splits into nothing."""
    lo, hi = float(smooth.min()), float(smooth.max())
    if not hi > lo:  # flat or saturated field
        return None
    if method == "otsu_log":
        # The offset keeps the log finite and stops it from inflating the noise of a
        # zero-offset background: 0.1 % of the bright range.
        offset = 1e-3 * (float(np.percentile(smooth, 99.9)) - lo) or 1e-3 * (hi - lo)
        values = np.log(smooth - lo + offset)
        mask = values > filters.threshold_otsu(values)
    else:
        rule = {
            "otsu": filters.threshold_otsu,
            "triangle": filters.threshold_triangle,
            "li": filters.threshold_li,
        }[method]
        mask = smooth > rule(smooth)
    if not mask.any() or mask.all():
        return None
    return mask


def _foreground(smooth: np.ndarray, method: str, min_contrast: float) -> np.ndarray | None:
    """Threshold the smoothed field; None when it has no credible foreground."""
    mask = _threshold(smooth, method)
    if mask is None or _contrast(smooth, mask) < min_contrast:
        return None
    return mask


def _detect(
    block: np.ndarray,
    pixel_size_um: float,
    smoothing_um: float,
    method: str,
    *,
    min_contrast: float,
    min_texture: float,
    flatten: bool,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The smoothed (flattened) field and its thresholded foreground; None when it is empty.

    Empty: no foreground `min_contrast` above the background, or (with smoothing) one
    without fine texture (`min_texture`) unless it is `_SURE_CONTRAST` × `min_contrast`
    above it: uneven illumination.
    """
    smooth = block
    if smoothing_um > 0:
        smooth = ndi.gaussian_filter(block, sigma=smoothing_um / pixel_size_um, mode="nearest")
    work = smooth
    if flatten:
        margin_px = max(_FLATTEN_MARGIN_UM, 2.0 * smoothing_um) / pixel_size_um
        work = _flatten(smooth, method, margin_px=margin_px)
    mask = _foreground(work, method, min_contrast)
    if mask is None and work is not smooth:
        # Flattening must not be what empties a field: where cells fill most of it, the plane
        # is fitted to dim cells, not to background (frames of sarcgraph's sample_2.avi). The
        # unflattened foreground counts only with fine texture (a ramp or vignette has none).
        plain = _foreground(smooth, method, min_contrast)
        if plain is not None and smoothing_um > 0 and _texture(block, smooth, plain) >= min_texture:
            return smooth, plain
    if mask is not None and smoothing_um > 0 and _texture(block, smooth, mask) < min_texture:
        if _contrast(work, mask) < _SURE_CONTRAST * min_contrast:
            return None
    return None if mask is None else (work, mask)


def _flatten(
    smooth: np.ndarray, method: str, *, margin_px: float, rounds: int = 2
) -> np.ndarray:
    """Subtract a plane fitted to the background.

    A first plane goes through the lower half of the pixels (refitted to the
    pixels below it, `_LOWER_ROUNDS` times), so a sloped background does not
    pull the first threshold across the field. Then, `rounds` times, the
    field is thresholded and the plane refitted to the pixels more than
    `margin_px` away from the foreground; this refit is skipped when under
    10 % of the field is left, where a plane fitted to a small corner would be
    extrapolated over the whole field.
    """
    ny, nx = smooth.shape
    step = max(1, int(math.sqrt(smooth.size / 40_000)))  # fit on <= ~40k pixels
    y, x = np.linspace(-1.0, 1.0, ny)[:, None], np.linspace(-1.0, 1.0, nx)[None, :]
    terms = (1.0, y, x, y * y, y * x, x * x)  # the surface's, broadcast: no (Y, X, 6) basis (9 ms)
    design = np.stack([np.broadcast_to(t, (ny, nx))[::step, ::step] for t in terms], axis=-1).reshape(-1, 6)
    values = smooth[::step, ::step].ravel().astype(np.float64)

    def surface(coef: np.ndarray) -> np.ndarray:
        return sum(c * t for c, t in zip(coef, terms))

    def fit(sample: np.ndarray, n_terms: int = 3) -> np.ndarray:
        coef, *_ = np.linalg.lstsq(design[sample, :n_terms], values[sample], rcond=None)
        return coef

    def spread(sample: np.ndarray, coef: np.ndarray) -> float:
        residual = values[sample] - design[sample, : coef.size] @ coef
        return float(np.median(np.abs(residual - np.median(residual))))

    sample = np.ones(values.size, dtype=bool)
    for _ in range(_LOWER_ROUNDS):
        coef = fit(sample)
        residual = values - design[:, :3] @ coef
        sample = residual <= np.median(residual)
    coef = fit(sample)
    for curved in [False] * rounds + [True]:
        mask = _threshold((smooth - surface(coef)).astype(np.float32), method)
        if mask is None:
            break
        sample = (_outside_distance(mask, margin_px) > margin_px)[::step, ::step].ravel()
        if sample.mean() < 0.1:
            break
        coef = fit(sample, coef.size)
        if curved:  # a curved surface only where it follows the background clearly better
            quadratic = fit(sample, 6)
            if spread(sample, quadratic) < _CURVED_GAIN * spread(sample, coef):
                coef = quadratic
    plane = surface(coef)
    flat = (smooth - plane).astype(np.float32)
    mask = _threshold(flat, method)
    if mask is None:
        return flat
    tilt = float(plane.max() - plane.min())
    if tilt < _MIN_TILT * (float(np.median(flat[mask])) - float(np.median(flat[~mask]))):
        return smooth  # the slope is too small to have moved the threshold
    return flat


def _object_medians(values: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """(n,) float32 median of `values` in each object 1..n of `objects`, each read in its own box
    (equal to ``ndi.median``, which sorts the whole image per call: 12 ms of a demo field's 0.12 s)."""
    boxes = ndi.find_objects(objects)
    return np.array([np.median(values[box][objects[box] == i]) for i, box in enumerate(boxes, 1)], np.float32)


def _refine_edges(
    smooth: np.ndarray, mask: np.ndarray, level: float, band_px: float, *, spread: bool = False
) -> np.ndarray:
    """Trim each object's outer rim (within `band_px` of its outline) to `level` of the local contrast.

    A rim pixel stays foreground if it is brighter than background + `level` ×
    (reference - background), the reference being the smoothed value at the nearest
    pixel deeper than the rim (the object's median where it has no such pixel). A
    local reference keeps the dim, unorganised parts of a cell at its edge, which a
    cell-wide median (set by its bright myofibrils) would trim into notches. Holes do
    not count as outline, and deeper pixels are never removed.
    """
    background = float(np.median(smooth[~mask]))
    filled = ndi.binary_fill_holes(mask)
    inside = _inside_distance(filled)
    deep = inside > band_px
    objects, _ = ndi.label(filled, structure=np.ones((3, 3), bool))
    medians = _object_medians(smooth, objects)
    reference = np.concatenate([[np.inf], medians])[objects]
    if deep.any() and spread:
        weight = ndi.gaussian_filter(deep.astype(np.float32), band_px)
        local = ndi.gaussian_filter(np.where(deep, smooth, 0).astype(np.float32), band_px)
        ok = weight > 1e-3
        reference = np.where(ok, local / np.maximum(weight, 1e-6), reference)
    elif deep.any():
        # in the box of the objects only: their rims are all that is cut, their deep pixels lie in it
        box = _box(filled, rim=1)
        _, (iy, ix) = ndi.distance_transform_edt(~deep[box], return_indices=True)
        same = objects[box][iy, ix] == objects[box]  # the nearest deep pixel lies in the same object
        reference[box] = np.where(same, smooth[box][iy, ix], reference[box])
    cut = background + level * (reference - background)
    rim = filled & ~deep
    return mask & ~(rim & (smooth <= cut))


def _halo(smooth: np.ndarray, mask: np.ndarray, pixel_size_um: float) -> float:
    """Light 2-3 µm outside the foreground, as a share of its contrast 2 µm and more inside."""
    outside = _outside_distance(mask, 3.0 / pixel_size_um) * pixel_size_um
    inside = _inside_distance(mask) * pixel_size_um
    shell, core = (outside > 2) & (outside <= 3), inside > 2
    if not shell.any() or not core.any():
        return 0.0
    background = float(np.median(smooth[~mask]))
    step = float(np.median(smooth[core])) - background
    return (float(np.median(smooth[shell])) - background) / step if step > 0 else 0.0


def _rim_share(smooth: np.ndarray, mask: np.ndarray, pixel_size_um: float) -> float:
    """Contrast of the outermost 1 µm inside the foreground, as a share of its contrast 4 µm and
    more inside; NaN without such a core.

    An outline trimmed at half the local contrast (`_refine_edges`) leaves about half or more of
    the contrast in its rim; far less means the outline still lies in a halo a wide PSF spreads
    around the cell, wider than one trim pass reaches.
    """
    inside = _inside_distance(mask) * pixel_size_um
    rim, core = (inside > 0) & (inside <= 1.0), inside > 4.0
    if not rim.any() or not core.any():
        return float("nan")
    background = float(np.median(smooth[~mask]))
    step = float(np.median(smooth[core])) - background
    return (float(np.median(smooth[rim])) - background) / step if step > 0 else float("nan")


def _texture(block: np.ndarray, smooth: np.ndarray, mask: np.ndarray) -> float:
    """SD of the fine detail (block - smooth) inside the foreground over that outside."""
    detail = block - smooth
    inside, outside = float(detail[mask].std()), float(detail[~mask].std())
    if outside == 0:
        return math.inf if inside > 0 else 0.0
    return inside / outside


def _contrast(smooth: np.ndarray, mask: np.ndarray) -> float:
    """(median foreground - median background) / robust SD of the background."""
    background = smooth[~mask]
    med_bg = float(np.median(background))
    sd_bg = 1.4826 * float(np.median(np.abs(background - med_bg)))
    step = float(np.median(smooth[mask])) - med_bg
    if sd_bg == 0:
        return math.inf if step > 0 else 0.0
    return step / sd_bg
