"""Classical cell segmentation of one field's alpha-actinin maximum projection."""

import numpy as np

from .._lazy import measure, ndi
from ._foreground import THRESHOLD_METHODS, _detect, _halo, _refine_edges, _rim_share
from ._grid import _block_mean, _drop_small_objects, _fill_small_holes, _relabel_raster, _upsample
from ._split import _split
from ._validate import _check_image_2d, _check_positive

__all__ = ["segment_cells"]

#: Factor on `smoothing_um` for a second try at a field the first finds empty.
_COARSE = 2.0
#: Edge-refinement passes on soft-edged fields, and what calls for them: light outside the
#: foreground (`_halo`) at least _HALO, or a rim left dimmer than _RIM_SHARE after one pass
#: (`_rim_share`; tuning seeds 0-19 of the demo fields: halo-widened outlines 0.07-0.28,
#: sharp ones 0.31-0.92, but small look-a cells with dim edges from 0.28: docs/segmentation.md).
_REFINE_PASSES = 4
_HALO = 0.035
_RIM_SHARE = 0.2


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
    split_notch_depth_um: float = 3.0,
    split_concavity: float = 0.35,
    split_solidity_gain: float = 0.03,
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
        A field that comes out empty is tried once more at 2 × `smoothing_um`
        (dim widefield fields whose contrast only rises above `min_contrast`
        once the noise is averaged over more pixels; cells are >= 10 µm wide).
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
        foreground) and subtract it before thresholding; a final fit is a
        quadratic surface (vignetting) when that leaves the background's
        robust spread under 0.8 × the plane's. Removes
        illumination ramps that otherwise shift the threshold across the
        field: on synthetic fields with dim cells on a sloped background it
        rescues whole fields. The plane is only subtracted when its rise
        across the field is at least 20 % of the foreground/background step;
        a smaller slope cannot move the threshold much, and in a crowded field
        (sarcgraph sample_4) the fit itself is the larger risk.
    edge_level : float
        Outline refinement: in a rim 2 × `smoothing_um` wide inside each
        object, pixels at or below background + `edge_level` × (reference
        - background) are trimmed, the reference being the smoothed value at
        the nearest pixel deeper than the rim (the object's median where it
        has none), so dim unorganised parts at a cell's edge are not cut into
        notches. The log-Otsu cut sits low on the blurred edge and puts the
        outline ~1 µm outside the cell; 0.5 moves it back to the
        half-contrast point of the edge. When the light 2-3 µm outside the
        foreground is >= 3.5 % of its contrast (a widefield halo), the
        reference is a Gaussian-weighted local mean of the deep pixels and
        the trim is repeated up to 4 times. 0 keeps the threshold outline.
    min_texture : float
        Ratio of fine-detail SD (the working image minus its smoothed version)
        inside over outside the foreground, below which the foreground is taken
        for uneven illumination rather than cells. Z-discs and z-bodies give
        2 to several hundred; a background ramp or vignette gives ~1 (1.3 for
        photon noise under a 5× brighter vignette). 1.5 by default. A field
        whose contrast exceeds 2 × `min_contrast` passes without texture
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
    split_notch_depth_um : float
        Depth in µm from which a pocket between the outline and its convex
        hull counts as a notch. Cells pressed together along a wide contact
        (no neck for the distance transform) leave a notch at each end of it.
        3 µm ignores outline roughness.
    split_concavity : float
        A region is cut along the straight line between the deepest points of
        two notches when (depth + depth) / cut length >= this value, the cut
        stays inside the region, both pieces reach `min_area_um2` and the cut
        passes `split_solidity_gain`; of the valid cuts the one with the
        largest solidity gain is made and the pieces are cut again. 0.35
        (with the solidity test; 0.8 without it, before 2026-12): of 48
        single synthetic cells, 35 have no two notches 3 µm deep and the rest
        score a median 0.38. 0 makes every notch pair a candidate.
    split_solidity_gain : float
        Solidity (area / convex-hull area) test for both splitting steps: a
        notch cut is made, and two watershed neighbours with a narrow neck
        stay apart, only when the less convex of the two pieces is more
        convex than their union by at least this much. Two cells pressed
        together make a concave union of convex pieces; a large spread cell
        with a waist or a ragged outline cut in two leaves pieces hardly more
        convex than the whole. 0.03 measured best on synthetic looks a and b
        (seeds 0-19, ``docs/segmentation.md``): 0.02 over-splits look-b spread
        cells, 0.05 keeps a small cell joined to a large one. 0 turns the
        test off for the neck merge and accepts any cut that does not lower
        solidity.
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
    Steps, all on the working grid: block mean to `working_pixel_size_um`
    (integer factor, edges padded by replication); Gaussian smoothing;
    optional background plane or quadratic; threshold; empty-field checks
    (contrast, then texture; an empty field is retried once at twice the
    smoothing); outline refinement; holes up to `max_hole_area_um2` filled and
    objects under `min_area_um2` dropped; if `split_touching`, watershed of
    the negated Euclidean distance transform (µm) from h-maxima markers of
    depth `split_depth_um`, thinned to `min_cell_distance_um`, then
    neighbours joined by a wide neck (`split_neck_ratio`), too small, or not
    more convex apart (`split_solidity_gain`) are merged, then regions are
    cut between deep outline notches (`split_notch_depth_um`,
    `split_concavity`, `split_solidity_gain`); labels renumbered in raster
    order and upsampled back by nearest neighbour. Measurements behind each default are in
    ``docs/segmentation.md``.

    An all-zero, flat or fully saturated field (max == min) has no contrast
    and returns zeros, without error; so does a field holding only
    background noise or a smooth illumination ramp. Cells touching the field
    border are kept. Two cells that touch along a contact as wide as
    themselves with no notch at its ends (side by side along their length)
    stay one label; a confluent sheet of cells comes out as a few large
    regions.

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
    split_notch_depth_um = _check_positive(split_notch_depth_um, "split_notch_depth_um")
    split_concavity = _check_positive(split_concavity, "split_concavity", allow_zero=True)
    split_solidity_gain = _check_positive(split_solidity_gain, "split_solidity_gain", allow_zero=True)
    working_pixel_size_um = _check_positive(working_pixel_size_um, "working_pixel_size_um")
    edge_level = _check_positive(edge_level, "edge_level", allow_zero=True)
    if edge_level >= 1:
        raise ValueError(f"`edge_level` must be in [0, 1); got {edge_level}")
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
    # A field too dim for the given smoothing is tried again smoother (cells are >= 10 µm
    # wide; noise alone gives the same contrast at any smoothing).
    for smoothing in (smoothing_um, _COARSE * smoothing_um) if smoothing_um > 0 else (0.0,):
        found = _detect(block, work_um, smoothing, threshold_method, min_contrast=min_contrast,
                        min_texture=min_texture, flatten=flatten_background)
        if found is not None:
            break
    if found is None:
        return np.zeros(mip.shape, dtype=np.uint32)
    work, mask = found
    if edge_level > 0:
        band_px = 2.0 * max(smoothing, work_um) / work_um
        # Soft edges (a widefield halo) are trimmed from outside in, pass after pass.
        halo = _halo(work, mask, work_um) >= _HALO
        once = None if halo else _refine_edges(work, mask, edge_level, band_px)
        if halo or _rim_share(work, once, work_um) < _RIM_SHARE:
            for _ in range(_REFINE_PASSES):
                refined = _refine_edges(work, mask, edge_level, band_px, spread=True)
                if (refined == mask).all():
                    break
                mask = refined
        else:
            mask = once

    pixel_area_um2 = work_um**2
    mask = _fill_small_holes(mask, max_hole_area_um2 / pixel_area_um2)
    mask = _drop_small_objects(mask, min_area_um2 / pixel_area_um2)
    if not mask.any():
        return np.zeros(mip.shape, dtype=np.uint32)
    if split_touching:
        labels = _split(
            mask,
            work_um,
            min_distance_px=min_cell_distance_um / work_um,
            depth_um=split_depth_um,
            neck_ratio=split_neck_ratio,
            notch_depth_um=split_notch_depth_um,
            concavity=split_concavity,
            solidity_gain=split_solidity_gain,
            min_area_px=min_area_um2 / pixel_area_um2,
        )
    else:
        labels = measure.label(mask, connectivity=2)
    return _upsample(_relabel_raster(labels), factor, mip.shape)
