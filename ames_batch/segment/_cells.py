"""Classical cell segmentation of one field's alpha-actinin maximum projection."""

import math

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage import filters, measure, morphology, segmentation

from ._validate import _check_image_2d, _check_positive

__all__ = ["segment_cells", "THRESHOLD_METHODS"]

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


def segment_cells(
    mip: np.ndarray,
    pixel_size_um: float,
    *,
    smoothing_um: float = 1.0,
    threshold_method: str = "otsu_log",
    min_contrast: float = 5.0,
    min_texture: float = 1.5,
    flatten_background: bool = True,
    edge_level: float = 0.5,
    min_area_um2: float = 100.0,
    max_hole_area_um2: float = 300.0,
    split_touching: bool = True,
    min_cell_distance_um: float = 10.0,
    split_depth_um: float = 1.0,
    split_neck_ratio: float = 0.7,
    working_pixel_size_um: float = 0.5,
) -> np.ndarray:
    """Label the cells of one field (eager: one in-memory (Y, X) MIP).

    Parameters
    ----------
    mip : (Y, X) ndarray of int or float
        Alpha-actinin maximum projection of one field, value range preserved
        (no rescaling needed). Cast to float32 internally.
    pixel_size_um : float
        Isotropic pixel size of `mip` in µm, > 0.
    smoothing_um : float
        Gaussian sigma in µm applied before thresholding. 1.0 µm damps the
        z-disc striation (period ~1.8 µm) to ~0.2 % of its amplitude and
        closes the ~1 µm gaps between myofibrils, so a cell becomes one blob.
    threshold_method : {"otsu_log", "otsu", "triangle", "li"}
        Rule for the foreground threshold on the smoothed image. "otsu_log"
        (default) is Otsu on log intensity: alpha-actinin is bright on the
        z-discs and dim in between, and the log makes that skewed foreground
        compact enough for Otsu; it won the comparison in
        ``docs/segmentation.md``.
    min_contrast : float
        Foreground/background separation below which the field counts as
        empty: (median foreground - median background) of the smoothed image
        divided by the robust standard deviation of its background. Otsu
        always splits something, even pure noise (ratio ~3); real cells give
        tens to hundreds. 5.0 by default.
    flatten_background : bool
        Fit a plane to the background (first through the lower half of the
        pixels, then twice to the pixels over 4 µm away from the thresholded
        foreground) and subtract it before thresholding. Removes
        illumination ramps that otherwise shift the threshold across the
        field: on synthetic fields with dim cells on a sloped background it
        rescues whole fields. The plane is only subtracted when its rise
        across the field is at least 20 % of the foreground/background step;
        a smaller slope cannot move the threshold much, and in a crowded field
        (sarcgraph sample_4) the fit itself is the larger risk.
    edge_level : float
        Outline refinement: in a rim 2 × `smoothing_um` wide inside each
        object, pixels at or below background + `edge_level` × (object median
        - background) are trimmed. The log-Otsu cut sits low on the blurred
        edge and puts the outline ~1 µm outside the cell; 0.5 moves it back to
        the half-contrast point of the edge. 0 keeps the threshold outline.
    min_texture : float
        Ratio of fine-detail SD (the working image minus its smoothed version)
        inside over outside the foreground, below which the foreground is taken
        for uneven illumination rather than cells. Z-discs and z-bodies give
        2 to several hundred; a background ramp or vignette gives ~1 (1.3 for
        photon noise under a 5× brighter vignette). 1.5 by default. A field
        whose contrast exceeds 4 × `min_contrast` passes without texture
        (a saturated cell). Not applied when `smoothing_um` is 0.
    min_area_um2 : float
        Objects (and split pieces) smaller than this area in µm² are dropped:
        debris and stray bright spots. 100 µm² is well below the smallest
        cardiomyocyte (a round iPSC-CM of ~15 µm diameter is ~180 µm²).
    max_hole_area_um2 : float
        Holes inside a cell up to this area in µm² are filled (the unstained
        nucleus, ~100-250 µm²). Larger enclosed gaps stay background so a
        ring of touching cells does not swallow the empty space it encloses.
    split_touching : bool
        Split touching cells with a distance-transform watershed. If False,
        every connected foreground object is one cell.
    min_cell_distance_um : float
        Smallest distance in µm between two cell centres (watershed markers);
        closer markers are merged into the taller one. 10 µm: no
        cardiomyocyte is narrower than that.
    split_depth_um : float
        How much (in µm of distance to the background) the neck between two
        touching cells must be narrower than the thinner cell's half-width
        for the pair to be split (the h of the h-maxima markers). 1 µm stops
        ragged outlines from seeding extra markers; the relative test below
        does the rest.
    split_neck_ratio : float
        Two touching pieces stay one cell when the neck between them (its
        half-width, the distance-transform value on their border) is at least
        this fraction of the thinner piece's half-width. 0.7 keeps long rods
        whole, whose width wanders by 10-30 % along the cell, while a real
        contact between two cells is much narrower than either. Values >= 1
        leave only the `split_depth_um` test.
    working_pixel_size_um : float
        Pixel size in µm the field is block-averaged to before segmenting;
        labels are upsampled back to the input grid by nearest neighbour.
        0.5 µm is fine enough for cell outlines (cells are 15-150 µm) and
        makes a 2000×2000 field at 0.04 µm/px ~150× cheaper. Inputs coarser
        than this are used as they are.

    Returns
    -------
    labels : (Y, X) ndarray of uint32
        Cell labels 1..n in raster order of first appearance, 0 = background.
        All zeros when the field is empty, flat or saturated.

    Raises
    ------
    TypeError
        If `mip` is not a numpy array of integers or floats, or a numeric
        option is not a real number.
    ValueError
        If `mip` is not 2D, holds NaN or inf, or an option is out of range.

    Notes
    -----
    Steps: block-average to `working_pixel_size_um` (integer factor, edges
    padded by replication); Gaussian smoothing; threshold; contrast check
    (empty field → zeros); fill holes up to `max_hole_area_um2`; drop objects
    under `min_area_um2`; if `split_touching`, watershed of the negated
    Euclidean distance transform (in µm) from h-maxima markers of depth
    `split_depth_um`, thinned to `min_cell_distance_um`; pieces under
    `min_area_um2` are merged into their neighbours; labels made sequential
    and upsampled back. A flat field (max == min, e.g. fully saturated) has
    no contrast and returns zeros; a field holding only background noise
    fails the contrast check and returns zeros. Cells touching the field
    border are kept. Two cells that touch along their full length, with no
    neck and no dimmer seam between them, stay one label.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:200, :200]
    >>> mip = 100.0 + 1000.0 * ((yy - 100) ** 2 / 60**2 + (xx - 100) ** 2 / 30**2 < 1)
    >>> labels = segment_cells(mip.astype(np.float32), 0.2)
    >>> int(labels.max()), labels.dtype
    (1, dtype('uint32'))
    """
    _check_image_2d(mip, "mip")
    pixel_size_um = _check_positive(pixel_size_um, "pixel_size_um")
    smoothing_um = _check_positive(smoothing_um, "smoothing_um", allow_zero=True)
    min_contrast = _check_positive(min_contrast, "min_contrast", allow_zero=True)
    min_texture = _check_positive(min_texture, "min_texture", allow_zero=True)
    min_area_um2 = _check_positive(min_area_um2, "min_area_um2", allow_zero=True)
    max_hole_area_um2 = _check_positive(max_hole_area_um2, "max_hole_area_um2", allow_zero=True)
    min_cell_distance_um = _check_positive(min_cell_distance_um, "min_cell_distance_um")
    split_depth_um = _check_positive(split_depth_um, "split_depth_um", allow_zero=True)
    split_neck_ratio = _check_positive(split_neck_ratio, "split_neck_ratio")
    working_pixel_size_um = _check_positive(working_pixel_size_um, "working_pixel_size_um")
    if threshold_method not in THRESHOLD_METHODS:
        raise ValueError(
            f"`threshold_method` must be one of {THRESHOLD_METHODS}; got {threshold_method!r}"
        )
    for name, flag in (("split_touching", split_touching), ("flatten_background", flatten_background)):
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"`{name}` must be a bool; got {type(flag).__name__}")

    factor = max(1, int(round(working_pixel_size_um / pixel_size_um)))
    work_um = pixel_size_um * factor
    block = _block_mean(mip, factor)
    smoothed = block
    if smoothing_um > 0:
        smoothed = ndi.gaussian_filter(block, sigma=smoothing_um / work_um, mode="nearest")
    work = smoothed

    if flatten_background:
        margin_px = max(_FLATTEN_MARGIN_UM, 2.0 * smoothing_um) / work_um
        work = _flatten(work, threshold_method, margin_px=margin_px)
    mask = _foreground(work, threshold_method, min_contrast)
    if mask is not None and smoothing_um > 0 and _texture(block, smoothed, mask) < min_texture:
        if _contrast(work, mask) < _SURE_CONTRAST * min_contrast:
            mask = None
    if mask is None:
        return np.zeros(mip.shape, dtype=np.uint32)
    if edge_level > 0:
        band_px = 2.0 * max(smoothing_um, work_um) / work_um
        mask = _refine_edges(work, mask, edge_level, band_px)

    pixel_area_um2 = work_um**2
    mask = _fill_small_holes(mask, max_hole_area_um2 / pixel_area_um2)
    mask = _drop_small_objects(mask, min_area_um2 / pixel_area_um2)
    if split_touching:
        labels = _split(
            mask,
            work_um,
            min_distance_px=min_cell_distance_um / work_um,
            depth_um=split_depth_um,
            neck_ratio=split_neck_ratio,
            min_area_px=min_area_um2 / pixel_area_um2,
        )
    else:
        labels = measure.label(mask, connectivity=2)
    return _upsample(_relabel_raster(labels), factor, mip.shape)


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over `factor`×`factor` blocks, float32; edges padded by replication."""
    image = image.astype(np.float32, copy=False)
    if factor == 1:
        return image
    ny, nx = image.shape
    pad = ((0, -ny % factor), (0, -nx % factor))
    if any(p for _, p in pad):
        image = np.pad(image, pad, mode="edge")
    h, w = image.shape[0] // factor, image.shape[1] // factor
    return image.reshape(h, factor, w, factor).mean(axis=(1, 3), dtype=np.float32)


def _drop_small_objects(mask: np.ndarray, min_area_px: float) -> np.ndarray:
    """Remove 8-connected objects with fewer than `min_area_px` pixels."""
    objects, _ = ndi.label(mask, structure=np.ones((3, 3), bool))
    areas = np.bincount(objects.ravel())
    keep = areas >= min_area_px
    keep[0] = False
    return keep[objects]


def _fill_small_holes(mask: np.ndarray, max_area_px: float) -> np.ndarray:
    """Fill 4-connected background pockets of at most `max_area_px` pixels not touching the edge."""
    holes, _ = ndi.label(~mask)
    areas = np.bincount(holes.ravel())
    fill = areas <= max_area_px
    fill[0] = False
    edge = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
    fill[edge] = False
    return mask | fill[holes]


def _relabel_raster(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 1..n in raster order of each label's first pixel (uint32)."""
    values, first = np.unique(labels.ravel(), return_index=True)
    first, values = first[values > 0], values[values > 0]
    lut = np.zeros(int(labels.max()) + 1, dtype=np.uint32)
    lut[values[np.argsort(first)]] = np.arange(1, values.size + 1, dtype=np.uint32)
    return lut[labels]


def _upsample(labels: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of working-grid labels back to `shape`."""
    if factor > 1:
        labels = np.repeat(np.repeat(labels, factor, axis=0), factor, axis=1)
    return np.ascontiguousarray(labels[: shape[0], : shape[1]], dtype=np.uint32)


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


def _split(
    mask: np.ndarray,
    pixel_size_um: float,
    *,
    min_distance_px: float,
    depth_um: float,
    neck_ratio: float,
    min_area_px: float,
) -> np.ndarray:
    """Distance-transform watershed of `mask` into cells (working grid, int labels)."""
    distance = ndi.distance_transform_edt(mask) * pixel_size_um  # µm to the background
    peaks = morphology.h_maxima(distance, depth_um) if depth_um > 0 else morphology.local_maxima(
        distance
    )
    markers = measure.label(peaks & mask, connectivity=2)
    markers = _thin_markers(markers, distance, min_distance_px)
    labels = segmentation.watershed(-distance, markers, mask=mask, connectivity=2)
    labels = _merge_regions(labels, distance, neck_ratio=neck_ratio, min_area_px=min_area_px)

    # Objects without any marker (too thin for the h-maxima) are cells of their own.
    # Pieces under the size limit are dropped.
    orphans = measure.label(mask & (labels == 0), connectivity=2)
    if orphans.max():
        orphans = _drop_small_objects(orphans > 0, min_area_px) * orphans
        labels = np.where(orphans > 0, orphans + labels.max(), labels)
    return labels


def _merge_regions(
    labels: np.ndarray, distance: np.ndarray, *, neck_ratio: float, min_area_px: float
) -> np.ndarray:
    """Merge neighbouring watershed regions joined by a wide neck, and pieces too small.

    The neck between two regions is the largest distance-to-background on
    their shared border. Pairs are visited from the widest neck down (a
    flooding order); two groups merge when the neck is at least `neck_ratio`
    times the half-width (distance peak) of the thinner group, or when one
    group is under `min_area_px` pixels.
    """
    n = int(labels.max())
    if n < 2:
        return labels
    lows, highs, necks = [], [], []
    for a, b, da, db in (
        (labels[:, :-1], labels[:, 1:], distance[:, :-1], distance[:, 1:]),
        (labels[:-1, :], labels[1:, :], distance[:-1, :], distance[1:, :]),
    ):
        border = (a != b) & (a > 0) & (b > 0)
        lows.append(np.minimum(a, b)[border])
        highs.append(np.maximum(a, b)[border])
        necks.append(np.minimum(da, db)[border])
    key = np.concatenate(lows).astype(np.int64) * (n + 1) + np.concatenate(highs)
    if key.size == 0:
        return labels
    neck = np.concatenate(necks)
    order = np.argsort(key, kind="stable")
    key, neck = key[order], neck[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    pair_key, pair_neck = key[starts], np.maximum.reduceat(neck, starts)

    index = np.arange(1, n + 1)
    peak = np.r_[0.0, ndi.maximum(distance, labels, index)]
    area = np.bincount(labels.ravel(), minlength=n + 1).astype(float)
    parent = np.arange(n + 1)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k in np.argsort(-pair_neck, kind="stable"):
        ra, rb = root(int(pair_key[k] // (n + 1))), root(int(pair_key[k] % (n + 1)))
        if ra == rb:
            continue
        wide = pair_neck[k] >= neck_ratio * min(peak[ra], peak[rb])
        if wide or min(area[ra], area[rb]) < min_area_px:
            parent[rb] = ra
            peak[ra] = max(peak[ra], peak[rb])
            area[ra] += area[rb]
    lut = np.array([root(i) for i in range(n + 1)])
    return lut[labels]


def _thin_markers(markers: np.ndarray, distance: np.ndarray, min_distance_px: float) -> np.ndarray:
    """Drop markers closer than `min_distance_px` to a taller one (greedy, tallest first)."""
    n = int(markers.max())
    if n < 2:
        return markers
    index = np.arange(1, n + 1)
    heights = ndi.maximum(distance, markers, index)
    centres = np.asarray(ndi.maximum_position(distance, markers, index), dtype=float)
    order = np.argsort(-np.asarray(heights), kind="stable")
    tree = cKDTree(centres)
    keep = np.zeros(n, dtype=bool)
    suppressed = np.zeros(n, dtype=bool)
    for i in order:
        if suppressed[i]:
            continue
        keep[i] = True
        for j in tree.query_ball_point(centres[i], r=min_distance_px):
            if j != i and not keep[j]:
                suppressed[j] = True
    lut = np.zeros(n + 1, dtype=markers.dtype)
    lut[index[keep]] = index[keep]
    return lut[markers]
