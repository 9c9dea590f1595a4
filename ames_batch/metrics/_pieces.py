"""Z-disc pieces of one cell: how long its z-discs are, how many punctate z-bodies it holds."""

import numpy as np

from .._lazy import ndi
from ._crop import _CellCrop
from ._validate import _check_inputs

#: A round piece of z-disc foreground (length < `PUNCTUM_MAX_ASPECT` x width) shorter than this
#: (µm) is a punctum (a z-body or a disc seen end-on); the other pieces are z-disc lines. Z-bodies
#: are 0.05–0.3 µm (Rhee et al. 1994, docs/metrics.md), blurred and thresholded a few tenths of a µm.
PUNCTUM_MAX_UM = 0.7
PUNCTUM_MAX_ASPECT = 2.0
#: Pieces smaller than this (µm²) are noise, neither lines nor puncta.
MIN_PIECE_UM2 = 0.09
#: Puncta are sought above the between-disc background plus this many of its spreads: z-bodies
#: are dimmer than z-discs (Otsu's threshold on a striated cell would miss most of them).
PUNCTUM_SPREADS = 4.0
#: Fewer z-disc lines than this: no z-disc length (NaN).
MIN_LINES = 3


def zdisc_pieces(mip, mask, pixel_size_um: float) -> dict[str, float]:
    """Length of the z-disc lines and density of puncta in one cell.

    Parameters
    ----------
    mip : (Y, X) ndarray
        Alpha-actinin maximum projection of the cell crop.
    mask : (Y, X) ndarray of bool
        True inside the cell; same shape as `mip`.
    pixel_size_um : float
        Isotropic pixel size in µm, > 0.

    Returns
    -------
    dict of str to float
        ``zdisc_length_um``: median length (µm) of the z-disc lines, which is about the width of
        the myofibril (or of the band of myofibrils in register) a z-disc spans; NaN with fewer
        than `MIN_LINES` lines. ``punctate_density_per_um2``: puncta (round pieces shorter than
        `PUNCTUM_MAX_UM`: z-bodies, premyofibril dots) per µm² of cell.

    Raises
    ------
    ValueError
        As `cell_metrics`.

    Notes
    -----
    The lines are the 8-connected components of the thresholded, high-passed MIP that
    `zdisc_density` skeletonises; the puncta are sought likewise at a lower threshold,
    `PUNCTUM_SPREADS` spreads of the between-disc background over its median. A piece's
    length is ``sqrt(12 * l1 + 1)`` pixels, ``l1`` the larger eigenvalue of its pixel
    coordinates' covariance: exact for a straight line of pixels, close for a thick or slightly
    curved one; its width is the same of the smaller eigenvalue. Pieces under `MIN_PIECE_UM2`
    are dropped as noise. Meant for ranking cells (thin fibrils and many z-bodies in immature
    cells, long continuous z-lines in adult ones), not a z-disc segmentation: discs that touch count as one longer line, lines shorter than
    `PUNCTUM_MAX_UM` count as puncta, and puncta much dimmer than the cell's z-discs (below
    the threshold set by the spread of the cell's between-disc background) are missed.

    Examples
    --------
    >>> y, x = np.mgrid[:360, :360] * 0.08  # µm
    >>> lines = np.exp(-((x % 1.8) - 0.9) ** 2 / 0.03) * (y % 2.4 < 1.2)  # discs 1.2 µm long
    >>> m = zdisc_pieces(lines.astype(np.float32), np.ones((360, 360), bool), 0.08)
    >>> round(m["zdisc_length_um"], 1), m["punctate_density_per_um2"]  # the threshold trims a pixel
    (1.1, 0.0)
    """
    return _zdisc_pieces(_CellCrop(*_check_inputs(mip, mask, pixel_size_um)))


def _pieces_px(foreground: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area, length and width (px) of each 8-connected piece of `foreground`, float64."""
    labels, n = ndi.label(foreground, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    count = np.bincount(lab, minlength=n + 1)[1:].astype(np.float64)
    sums = [np.bincount(lab, weights=w, minlength=n + 1)[1:]
            for w in (ys, xs, ys * ys.astype(np.float64), xs * xs.astype(np.float64), ys * xs.astype(np.float64))]
    my, mx = sums[0] / count, sums[1] / count
    vyy, vxx, vxy = sums[2] / count - my ** 2, sums[3] / count - mx ** 2, sums[4] / count - my * mx
    mean, half = 0.5 * (vyy + vxx), np.sqrt(0.25 * (vyy - vxx) ** 2 + vxy ** 2)
    return count, np.sqrt(12.0 * (mean + half) + 1.0), np.sqrt(12.0 * np.maximum(mean - half, 0.0) + 1.0)


def _classified(foreground: np.ndarray, px: float) -> tuple[np.ndarray, np.ndarray]:
    """Length (µm) of each piece of `foreground` that is not noise, and whether it is a punctum."""
    area, length, width = _pieces_px(foreground)
    real = area * px ** 2 >= MIN_PIECE_UM2
    length, width = length[real], width[real]
    return length * px, (length * px < PUNCTUM_MAX_UM) & (length < PUNCTUM_MAX_ASPECT * width)


def _zdisc_pieces(crop: _CellCrop) -> dict[str, float]:
    length_um, punctum = _classified(crop.zdisc_foreground, crop.px)
    lines = length_um[~punctum]
    _, puncta = _classified(crop.above_background(PUNCTUM_SPREADS), crop.px)
    cell_um2 = float(crop.mask.sum()) * crop.px ** 2
    return {"zdisc_length_um": float(np.median(lines)) if lines.size >= MIN_LINES else float("nan"),
            "punctate_density_per_um2": float(puncta.sum()) / cell_um2}
