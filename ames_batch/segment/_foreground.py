"""Foreground of a smoothed field: threshold, background plane, empty-field checks, outline."""

import math

import numpy as np
from scipy import ndimage as ndi
from skimage import filters

__all__ = ["THRESHOLD_METHODS"]

#: Foreground threshold rules `segment_cells` accepts (see ``docs/segmentation.md``).
THRESHOLD_METHODS = ("otsu_log", "otsu", "triangle", "li")

#: A foreground this many times `min_contrast` above background counts as cells even
#: without fine texture (saturated cells); smooth ramps and vignetting stay below ~7.
_SURE_CONTRAST = 4.0

#: Background pixels for the plane fit lie this far (µm) from a first foreground, so
#: the narrow dim gaps between cells of a crowded field do not count as background.
_FLATTEN_MARGIN_UM = 4.0

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
    yy, xx = np.mgrid[0:ny:step, 0:nx:step]
    design = np.stack([np.ones(yy.size), yy.ravel() / ny, xx.ravel() / nx], axis=1)
    values = smooth[::step, ::step].ravel().astype(np.float64)

    def plane_of(sample: np.ndarray) -> np.ndarray:
        coef, *_ = np.linalg.lstsq(design[sample], values[sample], rcond=None)
        return (
            coef[0] + coef[1] * (np.arange(ny) / ny)[:, None] + coef[2] * (np.arange(nx) / nx)[None, :]
        )

    sample = np.ones(values.size, dtype=bool)
    for _ in range(_LOWER_ROUNDS):
        coef, *_ = np.linalg.lstsq(design[sample], values[sample], rcond=None)
        residual = values - design @ coef
        sample = residual <= np.median(residual)
    plane = plane_of(sample)
    for _ in range(rounds):
        mask = _threshold((smooth - plane).astype(np.float32), method)
        if mask is None:
            break
        sample = (ndi.distance_transform_edt(~mask) > margin_px)[::step, ::step].ravel()
        if sample.mean() < 0.1:
            break
        plane = plane_of(sample)
    flat = (smooth - plane).astype(np.float32)
    mask = _threshold(flat, method)
    if mask is None:
        return flat
    tilt = float(plane.max() - plane.min())
    if tilt < _MIN_TILT * (float(np.median(flat[mask])) - float(np.median(flat[~mask]))):
        return smooth  # the slope is too small to have moved the threshold
    return flat


def _refine_edges(smooth: np.ndarray, mask: np.ndarray, level: float, band_px: float) -> np.ndarray:
    """Trim each object's rim (within `band_px` of its outline) to `level` of its contrast.

    A pixel in the rim stays foreground if it is brighter than background +
    `level` × (object median - background); deeper pixels are never removed.
    """
    background = float(np.median(smooth[~mask]))
    objects, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    medians = np.asarray(ndi.median(smooth, objects, np.arange(1, n + 1)), dtype=np.float32)
    cut = np.concatenate([[np.inf], background + level * (medians - background)])
    rim = ndi.distance_transform_edt(mask) <= band_px
    return mask & ~(rim & (smooth <= cut[objects]))


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
