"""Organised fraction: share of a cell whose z-discs repeat at the sarcomere spacing."""

import math

import numpy as np
from scipy import ndimage as ndi

from ._orientation import INTEGRATION_SIGMA_UM, LINE_SIGMA_UM, _tensor_complex
from ._sarcomere import _sarcomere_length
from ._validate import _check_inputs, _check_positive

#: Spacing band that counts as sarcomeric, µm.
SARCOMERE_BAND_UM = (1.4, 2.6)
#: Spacing assumed when the cell shows no spectral peak at all, µm (middle of the band).
_FALLBACK_LENGTH_UM = 2.0
#: Gaussian sigma of the neighbourhood over which the periodicity score is averaged, µm.
NEIGHBOURHOOD_UM = 1.0
#: A pixel is organised when its neighbourhood's periodicity score reaches this value.
MIN_SCORE = 0.2


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
        Sarcomere spacing to test for, µm; by default the cell's own spectral estimate (see
        `sarcomere_length`, taken even below its confidence threshold), clipped to 1.4–2.6 µm.
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
    its 0.3 µm Gaussian blur, smoothed at 0.2 µm, positive part, inside the cell); ``n`` the
    local normal to the z-disc lines from the structure tensor. The score is

    ``G * [R(x) (R(x ± L n) - R(x ± L/2 n))] / G * [R(x)^2]``

    (± averaged, ``G`` the neighbourhood Gaussian): a z-disc whose neighbours one sarcomere
    away along the fibril are bright, and half a sarcomere away dark, scores high; z-bodies,
    noise and diffuse stain score near 0. Compared with a windowed-spectrum test it resolves
    organised patches of a few µm and is not fooled by strings of z-bodies, whose local
    direction runs along the string. Neighbourhoods with under 2 % of the z-disc energy
    ``G * R^2`` of the cell's 90th percentile (no stain) score 0. Noise correlated over >= 0.3 µm (smoothed or
    upsampled images) raises the score of empty areas: judge such images with care.

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
    return _organised_map(arr, m, px, length_um=length_um, neighbourhood_um=nb,
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


def _band_length(mip, mask, pixel_size_um) -> float:
    """The cell's spectral spacing whatever its confidence, clipped to the band (µm)."""
    length, _ = _sarcomere_length(mip, mask, pixel_size_um, min_confidence=0.0)
    if not math.isfinite(length):
        length = _FALLBACK_LENGTH_UM
    return float(np.clip(length, *SARCOMERE_BAND_UM))


def _organised_map(mip, mask, pixel_size_um, *, length_um=None,
                   neighbourhood_um=NEIGHBOURHOOD_UM, min_score=MIN_SCORE, tensor=None):
    px = pixel_size_um
    if length_um is None:
        length_um = _band_length(mip, mask, px)
    if tensor is None:
        tensor = _tensor_complex(mip, px, INTEGRATION_SIGMA_UM)
    resp = mip - ndi.gaussian_filter(mip, LINE_SIGMA_UM / px, mode="reflect")
    resp = ndi.gaussian_filter(resp, max(0.5, 0.2 / px), mode="reflect")
    resp = (np.maximum(resp, 0.0) * mask).astype(np.float32)
    normal = np.angle(tensor) / 2.0 + np.pi / 2.0  # across the z-disc lines, x towards y
    ny, nx = mip.shape
    yy, xx = np.mgrid[:ny, :nx].astype(np.float32)
    dy, dx = np.sin(normal).astype(np.float32), np.cos(normal).astype(np.float32)

    def _at(shift_um: float) -> np.ndarray:
        d = shift_um / px
        return ndi.map_coordinates(resp, [yy + d * dy, xx + d * dx], order=1, mode="constant")

    on = 0.5 * (_at(length_um) + _at(-length_um))
    off = 0.5 * (_at(length_um / 2) + _at(-length_um / 2))
    sigma_px = neighbourhood_um / px
    num = ndi.gaussian_filter(resp * (on - off), sigma_px, mode="constant")
    den = ndi.gaussian_filter(resp * resp, sigma_px, mode="constant")
    score = np.zeros((ny, nx), np.float32)
    # no stain: a neighbourhood with under 2 % of the z-disc energy of the cell's bright parts
    floor = 0.02 * float(np.percentile(den[mask], 90)) if mask.any() else 0.0
    ok = mask & (den > max(floor, 1e-30))
    score[ok] = np.clip(num[ok] / den[ok], -1.0, 1.0)
    return (score >= min_score) & mask, score
