"""Organised fraction: share of a cell whose z-discs repeat at the sarcomere spacing."""

import copy
import math

import numpy as np

from .._lazy import ndi
from ._blur import _blurs
from ._crop import _CellCrop
from ._validate import _check_inputs, _check_positive

#: Spacing band that counts as sarcomeric, µm.
SARCOMERE_BAND_UM = (1.4, 2.6)
#: Step of the spacings the comb tries across the band, µm.
_LENGTH_STEP_UM = 0.05
#: Gaussian sigma of the neighbourhood over which the periodicity score is averaged, µm.
NEIGHBOURHOOD_UM = 1.0
#: A pixel is organised when its neighbourhood's periodicity score reaches this value.
MIN_SCORE = 0.2
#: Gaussian sigma of the majority vote that smooths the organised decision, µm.
VOTE_UM = 0.75
#: The spacing search first scores every spacing on this many evenly spread z-disc pixels,
#: keeps the spacings the sample cannot rule out (sample sum within _SCREEN_SE standard
#: errors of the best), scores those on _SCREEN_GROWTH times as many pixels, and so on;
#: the last round uses all pixels: samples cut the work, all pixels decide.
_SCREEN_POINTS = 4000
_SCREEN_GROWTH = 8
_SCREEN_SE = 4.0
#: Gaussian sigma of the small neighbourhood that must itself be periodic within half a
#: sarcomere of an organised pixel, µm.
FOOTPRINT_NEIGHBOURHOOD_UM = 0.5
#: The z-disc response is divided by its local amplitude (RMS over a Gaussian of this sigma,
#: µm, about two z-discs), so neighbouring discs of unequal brightness still count as periodic:
#: the comb then reads the spacing, not how evenly the stain or the detector lit the discs
#: (measured on 48 cells per look: another detector gamma moved the organised fraction
#: by -0.035 / -0.056 on looks a / b, against -0.073 / -0.100 unnormalised, and its Spearman
#: with the truth rose from 0.895 / 0.861 to 0.904 / 0.877).
AMPLITUDE_UM = 1.0
#: Floor of that amplitude, as a share of the cell's 90th percentile amplitude: noise in
#: stain-free parts is not raised to the level of z-discs.
AMPLITUDE_FLOOR = 0.05


def organised_map(mip, mask, pixel_size_um: float, *, length_um: float | None = None,
                  neighbourhood_um: float = NEIGHBOURHOOD_UM, min_score: float = MIN_SCORE
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel "organised" decision and periodicity score inside one cell.

    Parameters
    ----------
    mip : (Y, X) ndarray
        Alpha-actinin maximum projection of the cell crop.
    mask : (Y, X) ndarray of bool
        True inside the cell; same shape as `mip`.
    pixel_size_um : float
        Isotropic pixel size in µm, > 0.
    length_um : float, optional
        Sarcomere spacing to test for, µm; by default the spacing in 1.4–2.6 µm (0.05 µm
        steps) at which the comb, summed over the cell, responds most.
    neighbourhood_um : float, optional
        Gaussian sigma (µm) of the neighbourhood over which the score is averaged, > 0.
    min_score : float, optional
        Score from which a pixel counts as organised, in (0, 1).

    Returns
    -------
    organised : (Y, X) ndarray of bool
        True for cell pixels whose neighbourhood shows z-discs repeating at the spacing.
    score : (Y, X) ndarray of float32
        Periodicity score: about 1 for perfect stripes, about 0 for noise or scattered dots,
        negative for anti-periodic texture; 0 outside the cell.

    Raises
    ------
    ValueError
        As `cell_metrics`, or if `length_um`/`neighbourhood_um` <= 0 or `min_score` not in (0, 1).

    Notes
    -----
    A comb test along the local myofibril direction. ``R`` is the z-disc response (MIP minus
    its 0.3 µm Gaussian blur, smoothed at 0.2 µm, positive part, inside the cell) divided by
    its local amplitude (RMS over a 1 µm Gaussian, at least 5 % of the cell's 90th percentile
    amplitude: discs of unequal brightness, or another detector response, still read as
    periodic); ``n`` the local normal to the z-disc lines from the structure tensor. The score is

    ``G * [R(x) (R(x ± L n) - R(x ± L/2 n))] / G * [R(x)^2]``

    (± averaged, one side only where the other falls outside the cell; ``G`` the
    neighbourhood Gaussian): a z-disc whose neighbours one sarcomere
    away along the fibril are bright, and half a sarcomere away dark, scores high; z-bodies,
    noise and diffuse stain score near 0. Compared with a windowed-spectrum test it resolves
    organised patches of a few µm and is not fooled by strings of z-bodies, whose local
    direction runs along the string. Neighbourhoods with under 2 % of the z-disc energy
    ``G * R^2`` of the cell's 90th percentile (no stain) score 0. A pixel scoring >= `min_score`
    must also lie within half a sarcomere of a place whose own 0.5 µm neighbourhood scores
    >= `min_score` (the wide neighbourhood would otherwise lend a fibril's score to empty
    surroundings up to ~3 µm away). These pixels are then put to a vote: a cell pixel is
    organised when the organised share of its 0.75 µm Gaussian neighbourhood inside the cell
    is >= 1/2 (fills gaps between fibrils, drops specks of z-body texture). The default
    spacing is the comb's own best over the band, not the global spectrum's peak: in cells
    rich in z-bodies that peak often sits at the band's edge, and the comb then missed whole
    organised regions. In large cells the spacings are first screened on samples of the
    z-disc pixels (4000, then 8x more); only those a sample cannot rule out (within 4
    standard errors of its best) are summed over all pixels, which decide. Noise correlated
    over >= 0.3 µm (smoothed or upsampled images) raises the score of empty areas: judge
    such images with care.

    Examples
    --------
    >>> y, x = np.mgrid[:120, :160]
    >>> stripes = np.exp(-((y % 12) - 6.0) ** 2 / 2.0)  # 1.8 µm at 0.15 µm/px
    >>> mip = np.where(x < 80, stripes, 0).astype(np.float32)
    >>> mip += np.random.default_rng(0).normal(0, 0.1, mip.shape).astype(np.float32)
    >>> organised, score = organised_map(mip, np.ones((120, 160), bool), 0.15)
    >>> bool(organised[60, 30]), bool(organised[60, 130])
    (True, False)
    """
    arr, m, px = _check_inputs(mip, mask, pixel_size_um)
    if length_um is not None:
        length_um = _check_positive(length_um, "length_um")
    nb = _check_positive(neighbourhood_um, "neighbourhood_um")
    if not 0.0 < float(min_score) < 1.0:
        raise ValueError(f"`min_score` must be in (0, 1); got {min_score}")
    return _organised_map(_CellCrop(arr, m, px), length_um=length_um, neighbourhood_um=nb,
                          min_score=float(min_score))


def organised_fraction(mip, mask, pixel_size_um: float, **options) -> float:
    """Share of the cell area (0..1) whose z-discs repeat at a sarcomeric spacing (1.4–2.6 µm).

    Parameters
    ----------
    mip, mask, pixel_size_um
        As `organised_map`.
    **options
        `length_um`, `neighbourhood_um`, `min_score` of `organised_map`.

    Returns
    -------
    fraction : float
        Organised cell pixels / cell pixels.

    Raises
    ------
    ValueError
        As `organised_map`.

    Examples
    --------
    >>> y, x = np.mgrid[:120, :120]
    >>> mip = np.exp(-((y % 12) - 6.0) ** 2 / 2.0).astype(np.float32)
    >>> organised_fraction(mip, np.ones((120, 120), bool), 0.15) > 0.9
    True
    """
    organised, _ = organised_map(mip, mask, pixel_size_um, **options)
    return float(organised.sum() / np.count_nonzero(np.asarray(mask)))


class _Comb:
    """Products ``R(x) R(x ± d n)`` at the z-disc pixels, for any shift ``d`` (µm).

    Points are kept in order of their room (`_CellCrop.room_px`, whole pixels), so those
    whose neighbours at ``± d`` surely round to cell pixels are a prefix: they are
    interpolated directly, the rest as at the cell edge (outside counts 0), both exactly as
    ``scipy.ndimage.map_coordinates`` (order 1 for R, order 0 for the cell, constant mode).
    """

    def __init__(self, resp, mask, tensor, room_px, pixel_size_um):
        at = np.nonzero(resp > 0)  # R(x) = 0 elsewhere: nothing to multiply
        # whole pixels of room, most first (a radix sort); the split below stays exact
        room = np.minimum(np.floor(room_px[at]), 65535).astype(np.uint16)
        order = np.argsort(65535 - room, kind="stable")
        self.at = (at[0][order], at[1][order])
        self.neg_room = -room[order].astype(np.int32)
        self.r = resp[self.at]
        n = np.angle(tensor[self.at]) / 2.0 + np.pi / 2.0  # across the z-disc lines, x towards y
        self.step = np.stack([np.sin(n), np.cos(n)]).astype(np.float32) / pixel_size_um
        self.yx = np.stack(self.at).astype(np.float32)
        self.px = pixel_size_um
        self.resp, self.mask = resp, mask
        # bilinear corners as shifted views of one padded copy (reads one row/column on)
        flat = np.pad(resp, ((0, 1), (0, 1))).ravel()
        self._width = resp.shape[1] + 1
        self._corners = (flat, flat[1:], flat[self._width:], flat[self._width + 1:])

    def _bilinear(self, coords: np.ndarray) -> np.ndarray:
        """`resp` at (2, k) float32 coordinates inside [0, n - 1] (as map_coordinates, order 1)."""
        base = np.floor(coords)
        fy, fx = coords - base
        i = base[0].astype(np.int32) * np.int32(self._width) + base[1].astype(np.int32)
        a, b, c, d = (np.take(f, i) for f in self._corners)
        top = a + (b - a) * fx
        return top + (c + (d - c) * fx - top) * fy

    def _at_edge(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(`resp` interpolated, 1 where the nearest pixel is in the cell) at any coordinates;
        0 for both off the array (map_coordinates' ``mode="constant"``)."""
        ny, nx = self.resp.shape
        on = (coords[0] >= 0) & (coords[0] <= ny - 1) & (coords[1] >= 0) & (coords[1] <= nx - 1)
        coords = np.where(on, coords, 0.0).astype(np.float32, copy=False)
        value = self._bilinear(coords) * on
        nearest = np.floor(coords + np.float32(0.5)).astype(np.intp)
        inside = self.mask[nearest[0], nearest[1]] & on
        return value, inside.astype(np.float32)

    def product(self, shift_um: float) -> np.ndarray:
        """``R(x)`` times the mean of ``R(x ± d n)`` over the sides that lie in the cell."""
        # neighbours at d px round to pixels within d + 0.71 px: inside where the room is larger
        clear = int(np.searchsorted(self.neg_room, -(math.floor(shift_um / self.px + 0.75) + 1),
                                    side="right"))
        total = np.zeros_like(self.r)
        count = np.full_like(self.r, 2.0)
        count[clear:] = 0.0
        for sign in (1.0, -1.0):
            coords = self.yx + sign * shift_um * self.step
            total[:clear] += self._bilinear(coords[:, :clear])
            value, inside = self._at_edge(coords[:, clear:])
            total[clear:] += value
            count[clear:] += inside
        return self.r * total / np.maximum(count, 1.0)

    def comb(self, length_um: float) -> np.ndarray:
        return self.product(length_um) - self.product(length_um / 2)

    def sample(self, count: int) -> "_Comb":
        """The same comb on `count` of its points, evenly spread over its order."""
        n = self.r.size
        pick = np.minimum((np.arange(count) * (n / count)).astype(np.intp), n - 1)
        out = copy.copy(self)
        out.at = (self.at[0][pick], self.at[1][pick])
        out.neg_room, out.r = self.neg_room[pick], self.r[pick]
        out.step, out.yx = self.step[:, pick], self.yx[:, pick]
        return out


def _best_length(comb: _Comb) -> tuple[float, np.ndarray]:
    """Spacing (µm) in the band at which the comb's sum over the cell is largest, and the
    comb at that spacing (per point).

    Spacings are screened on growing samples of the z-disc pixels (see `_SCREEN_POINTS`);
    the winner is always chosen by the sum over all pixels.
    """
    grid = np.arange(SARCOMERE_BAND_UM[0], SARCOMERE_BAND_UM[1] + 1e-9, _LENGTH_STEP_UM)
    candidates = np.arange(len(grid))
    size = _SCREEN_POINTS
    while len(candidates) > 1 and comb.r.size > 2 * size:
        sample = comb.sample(size)
        per_point = np.stack([sample.comb(grid[i]) for i in candidates]).astype(np.float64)
        sums = per_point.sum(axis=1)
        best = int(np.argmax(sums))
        se = np.sqrt(size) * (per_point - per_point[best]).std(axis=1)
        candidates = candidates[sums >= sums[best] - _SCREEN_SE * se]
        size *= _SCREEN_GROWTH
    combs = {int(i): comb.comb(grid[i]) for i in candidates}
    best = max(combs, key=lambda i: float(combs[i].sum()))
    return float(grid[best]), combs[best]


def _majority(decision, mask, sigma_px):
    """Cell pixels whose Gaussian neighbourhood inside the cell is mostly `decision`."""
    votes = _blurs(decision.astype(np.float32), [sigma_px], mode="constant")[0]
    weight = _blurs(mask.astype(np.float32), [sigma_px], mode="constant")[0]
    return (votes >= 0.5 * weight) & mask


def _ratios(products, energy, mask, sigmas_px):
    """``G * products / G * energy`` in the cell for each Gaussian of `sigmas_px`; 0 where
    the neighbourhood has no stain."""
    scores = []
    for num, den in zip(_blurs(products, sigmas_px, mode="constant"),
                        _blurs(energy, sigmas_px, mode="constant")):
        # no stain: a neighbourhood with under 2 % of the z-disc energy of the cell's bright parts
        floor = 0.02 * float(np.percentile(den[mask], 90))
        ok = mask & (den > max(floor, 1e-30))
        score = np.zeros(products.shape, np.float32)
        score[ok] = np.clip(num[ok] / den[ok], -1.0, 1.0)
        scores.append(score)
    return scores


def _within(seeds: np.ndarray, limit_um: float, pixel_size_um: float) -> np.ndarray:
    """Pixels at most `limit_um` from a True pixel of `seeds` (pixel centres, Euclidean).

    ``distance_transform_edt(~seeds) * pixel_size_um <= limit_um``, computed as a union of
    row-wise dilations (one per row offset) instead of a distance transform.
    """
    ny, nx = seeds.shape
    out = np.zeros_like(seeds)
    seeds8 = seeds.view(np.uint8)
    for dy in range(0, min(ny, int(limit_um / pixel_size_um) + 2)):
        if not np.sqrt(float(dy * dy)) * pixel_size_um <= limit_um:
            break
        dx = 0
        while dx + 1 < nx and np.sqrt(float(dy * dy + (dx + 1) ** 2)) * pixel_size_um <= limit_um:
            dx += 1
        row = ndi.maximum_filter1d(seeds8, 2 * dx + 1, axis=1, mode="constant").view(bool)
        out[dy:] |= row[:ny - dy]
        if dy:
            out[:ny - dy] |= row[dy:]
    return out


def _organised_map(crop, *, length_um=None, neighbourhood_um=NEIGHBOURHOOD_UM,
                   min_score=MIN_SCORE):
    px, mask = crop.px, crop.mask
    resp = ndi.gaussian_filter(crop.line_residual, max(0.5, 0.2 / px), mode="reflect")
    resp = (np.maximum(resp, 0.0) * mask).astype(np.float32)
    ny, nx = mask.shape
    if not resp.any():
        return np.zeros((ny, nx), bool), np.zeros((ny, nx), np.float32)
    # the blur may ring a little below 0 far from any stain
    amplitude = np.sqrt(np.maximum(_blurs(resp * resp, [AMPLITUDE_UM / px], mode="reflect")[0], 0.0))
    floor = AMPLITUDE_FLOOR * float(np.percentile(amplitude[mask], 90))
    resp = resp / np.maximum(amplitude, max(floor, 1e-30)).astype(np.float32)
    comb = _Comb(resp, mask, crop.tensor, crop.room_px, px)
    if length_um is None:
        length_um, at_length = _best_length(comb)
    else:
        at_length = comb.comb(length_um)
    products = np.zeros((ny, nx), np.float32)
    products[comb.at] = at_length
    # footprint: the wide neighbourhood lends a periodic fibril's score to empty stain-free
    # surroundings up to ~3 sigma away; count only pixels within half a sarcomere of a
    # place that is periodic on its own (a small neighbourhood)
    score, small = _ratios(products, resp * resp, mask,
                           [neighbourhood_um / px, FOOTPRINT_NEIGHBOURHOOD_UM / px])
    local = small >= min_score
    if not local.any():
        return np.zeros((ny, nx), bool), score
    near = _within(local, 0.5 * length_um, px)
    return _majority((score >= min_score) & near, mask, VOTE_UM / px), score
