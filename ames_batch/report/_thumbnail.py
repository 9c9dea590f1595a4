"""PNG pictures of one cell for the report and the rating sheet: whole cell at a fixed µm per
pixel, and a zoomed inset of its most textured square at full resolution."""

import io
import math

import numpy as np

__all__ = ["DISPLAY_UM_PER_PX", "cell_inset_png", "cell_thumbnail_png", "inset_window"]

#: µm per pixel of every thumbnail, so cells on one page compare by size (a 100 µm cell: 400 px).
DISPLAY_UM_PER_PX = 0.25
_NICE_UM = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
_OUTLINE = (0.0, 1.0, 1.0)  # cyan: away from grey and from the inferno heatmap
_BOX = (1.0, 0.85, 0.0)  # yellow: where the inset is
_HEATMAP_ALPHA = 0.6  # opacity at heatmap value 1; weak evidence leaves the stain visible


def _check(mip, mask, pixel_size_um, heatmap=None):
    mip = np.asarray(mip)
    mask = np.asarray(mask)
    if mip.ndim != 2:
        raise ValueError(f"`mip` must be a (Y, X) image; got shape {mip.shape}")
    if not np.issubdtype(mip.dtype, np.number) or np.issubdtype(mip.dtype, np.complexfloating):
        raise ValueError(f"`mip` must hold real numbers; got dtype {mip.dtype}")
    if not np.all(np.isfinite(mip)):
        raise ValueError("`mip` must be finite (no NaN or inf)")
    if mask.shape != mip.shape:
        raise ValueError(f"`mask` must match `mip` shape {mip.shape}; got {mask.shape}")
    if mask.dtype != bool:
        raise ValueError(f"`mask` must be a bool array; got dtype {mask.dtype}")
    if not mask.any():
        raise ValueError("`mask` is empty; a cell needs at least one pixel")
    if isinstance(pixel_size_um, bool) or not isinstance(pixel_size_um, int | float | np.number):
        raise TypeError(f"`pixel_size_um` must be a number; got {type(pixel_size_um).__name__}")
    if not (math.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise ValueError(f"`pixel_size_um` must be a finite number > 0; got {pixel_size_um}")
    if heatmap is not None:
        heatmap = np.asarray(heatmap)
        if heatmap.shape != mip.shape:
            raise ValueError(f"`heatmap` must match `mip` shape {mip.shape}; got {heatmap.shape}")
        if not np.issubdtype(heatmap.dtype, np.floating) or not np.all(np.isfinite(heatmap)):
            raise ValueError("`heatmap` must be a finite float array in [0, 1]")
        if heatmap.min() < 0 or heatmap.max() > 1:
            raise ValueError(f"`heatmap` must lie in [0, 1] (Grad-CAM, organised map); got "
                             f"[{heatmap.min():.3g}, {heatmap.max():.3g}]")
        heatmap = heatmap.astype(np.float32)
    return mip.astype(np.float32), mask, float(pixel_size_um), heatmap


def _contrast(mip, mask):
    """Grey in [0, 1]: black at the crop's 1st percentile, white at the cell's 99.5th (robust to
    a bright neighbour or a few hot pixels)."""
    lo = float(np.percentile(mip, 1))
    hi = float(np.percentile(mip[mask], 99.5))
    if hi <= lo:
        hi = float(mip.max())
    return np.clip((mip - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(mip)


def _scale_bar_um(width_um: float) -> float:
    """The nice length nearest a fifth of the width, at most half of it."""
    fits = [v for v in _NICE_UM if v <= width_um / 2] or [_NICE_UM[0]]
    return min(fits, key=lambda v: abs(math.log(v / (width_um / 5))))


def _png(rgb, *, um_per_px, outline=None, box=None):
    """Draw `rgb` (H, W, 3) pixel for pixel with a cell contour, a box and a scale bar; PNG bytes."""
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    h, w = rgb.shape[:2]
    rgb = rgb.copy()
    bar_um = _scale_bar_um(w * um_per_px)
    bar_px = max(1, round(bar_um / um_per_px))
    thick = max(2, round(0.012 * max(h, w)))
    margin = max(3, round(0.04 * w))
    x1, y1 = w - margin, h - margin
    rgb[max(0, y1 - thick):y1, max(0, x1 - bar_px):x1] = 1.0  # exact length: drawn in the pixels

    dpi = 100
    fig = Figure(figsize=((w + 0.01) / dpi, (h + 0.01) / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.imshow(rgb, interpolation="nearest")
    if outline is not None and outline.min() < 0.5 < outline.max():  # a cell filling the crop has none
        ax.contour(outline, levels=[0.5], colors=[_OUTLINE], linewidths=1.2)
    if box is not None:
        (y0, y_end), (x0, x_end) = box
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x_end - x0, y_end - y0, fill=False,
                               edgecolor=_BOX, linewidth=1.2))
    font = max(8.0, min(12.0, 0.05 * min(h, w)))
    halo = [patheffects.withStroke(linewidth=2.5, foreground="black")]  # legible on bright stain
    ax.text(x1 - bar_px / 2, y1 - thick - 2, f"{bar_um:g} µm", color="white", ha="center", va="bottom",
            fontsize=font, path_effects=halo)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png", metadata={"Software": None})
    return buffer.getvalue()


def cell_thumbnail_png(
    mip: np.ndarray,
    mask: np.ndarray,
    *,
    pixel_size_um: float,
    heatmap: np.ndarray | None = None,
    window: tuple[slice, slice] | None = None,
    display_um_per_px: float = DISPLAY_UM_PER_PX,
) -> bytes:
    """PNG of a cell crop at a fixed physical scale: stain, contour, µm scale bar, optional heatmap.

    Parameters
    ----------
    mip : (Y, X) ndarray
        Stain maximum projection of the cell crop (any real dtype), e.g. ``field_mip[record.bbox]``.
    mask : (Y, X) ndarray of bool
        The cell (not empty), same shape.
    pixel_size_um : float
        Pixel size of the crop in µm, > 0.
    heatmap : (Y, X) ndarray of float in [0, 1], optional
        Grad-CAM or organised map of the same crop, drawn with ``inferno``, opacity growing with
        the value (0.6 at 1).
    window : (slice, slice), optional
        A square of the crop (`inset_window`) outlined in yellow, where the inset is.
    display_um_per_px : float
        µm per pixel of the picture, > 0; the default is shared by every thumbnail.

    Returns
    -------
    png : bytes
        RGB PNG of ``round(Y * pixel_size_um / display_um_per_px)`` by the same for X pixels (at
        least 1): the crop resampled (anti-aliased when shrunk), grey from the crop's 1st
        percentile to the cell's 99.5th, the cell contour in cyan, a white scale bar of a round
        length (about a fifth of the width) in the bottom right, its length exact to a pixel.

    Raises
    ------
    TypeError
        If `pixel_size_um` is not a number.
    ValueError
        If a shape, dtype or value is wrong (non-finite `mip`, empty or non-bool `mask`,
        `heatmap` outside [0, 1], sizes <= 0).

    Examples
    --------
    >>> mip = np.random.default_rng(0).random((40, 60)); mask = np.zeros((40, 60), bool)
    >>> mask[10:30, 10:50] = True
    >>> cell_thumbnail_png(mip, mask, pixel_size_um=0.5)[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    mip, mask, pixel_size_um, heatmap = _check(mip, mask, pixel_size_um, heatmap)
    if not (math.isfinite(display_um_per_px) and display_um_per_px > 0):
        raise ValueError(f"`display_um_per_px` must be a finite number > 0; got {display_um_per_px}")
    from skimage.transform import resize

    factor = pixel_size_um / display_um_per_px
    shape = tuple(max(1, round(n * factor)) for n in mip.shape)
    grey = resize(_contrast(mip, mask), shape, order=1, anti_aliasing=factor < 1, preserve_range=True)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if heatmap is not None:
        from matplotlib import colormaps

        heat = np.clip(resize(heatmap, shape, order=1, anti_aliasing=factor < 1, preserve_range=True), 0, 1)
        alpha = (_HEATMAP_ALPHA * heat)[..., None]
        rgb = (1 - alpha) * rgb + alpha * colormaps["inferno"](heat)[..., :3]
    outline = resize(mask.astype(np.float32), shape, order=1, anti_aliasing=False)
    box = None
    if window is not None:  # crop pixels -> picture pixels
        box = tuple((s.start * n / m, s.stop * n / m) for s, n, m in zip(window, shape, mip.shape))
    return _png(rgb, um_per_px=display_um_per_px, outline=outline, box=box)


def inset_window(mip: np.ndarray, mask: np.ndarray, *, pixel_size_um: float,
                 side_um: float = 10.0) -> tuple[slice, slice]:
    """The square of the crop where the cell's z-disc stripes are strongest.

    Parameters
    ----------
    mip : (Y, X) ndarray
        Stain maximum projection of the cell crop.
    mask : (Y, X) ndarray of bool
        The cell, same shape, not empty.
    pixel_size_um : float
        Pixel size in µm, > 0.
    side_um : float
        Side of the square in µm, > 0 (clipped to the crop).

    Returns
    -------
    window : (slice, slice)
        Rows and columns of the square inside the crop.

    Notes
    -----
    Stripe strength is ``ames_batch.metrics.orientation_field``'s anisotropic structure-tensor
    energy (high on striations, ~0 on punctate z-bodies and flat stain), summed inside the mask
    over each candidate square; a cell without any gets the square centred on its centroid.
    """
    mip, mask, pixel_size_um, _ = _check(mip, mask, pixel_size_um)
    if not (math.isfinite(side_um) and side_um > 0):
        raise ValueError(f"`side_um` must be a finite number > 0; got {side_um}")
    from scipy import ndimage as ndi

    from ..metrics import orientation_field

    side = [min(n, max(1, round(side_um / pixel_size_um))) for n in mip.shape]
    _, strength = orientation_field(mip, pixel_size_um)
    energy = ndi.uniform_filter(np.where(mask, strength, 0.0), size=side, mode="constant")
    # candidate centres: squares that lie inside the crop
    lo = [s // 2 for s in side]
    hi = [n - (s - s // 2) + 1 for n, s in zip(mip.shape, side)]
    inner = energy[lo[0]:hi[0], lo[1]:hi[1]]
    if inner.max() > 0:
        cy, cx = np.unravel_index(int(np.argmax(inner)), inner.shape)
        centre = (cy + lo[0], cx + lo[1])
    else:
        centre = tuple(int(round(c)) for c in ndi.center_of_mass(mask))
    starts = [int(np.clip(c - s // 2, 0, n - s)) for c, s, n in zip(centre, side, mip.shape)]
    return tuple(slice(a, a + s) for a, s in zip(starts, side))


def cell_inset_png(mip: np.ndarray, mask: np.ndarray, *, pixel_size_um: float,
                   window: tuple[slice, slice] | None = None, side_um: float = 10.0,
                   min_side_px: int = 240) -> bytes:
    """PNG of a square of the cell at full resolution (pixels enlarged, never resampled).

    Parameters
    ----------
    mip, mask, pixel_size_um
        As for `cell_thumbnail_png`.
    window : (slice, slice), optional
        The square; by default ``inset_window(mip, mask, pixel_size_um=..., side_um=side_um)``.
    side_um : float
        Side of the default square in µm, > 0.
    min_side_px : int
        Each crop pixel becomes a k x k block, k the smallest whole factor making the longer side
        at least this many pixels, >= 1.

    Returns
    -------
    png : bytes
        RGB PNG of the window's pixels times k, with the same contrast as the thumbnail (from the
        whole crop), the cell contour and a µm scale bar.

    Raises
    ------
    TypeError, ValueError
        As for `cell_thumbnail_png`; ValueError also for a window outside the crop.

    Examples
    --------
    >>> mip = np.random.default_rng(0).random((100, 100)); mask = np.ones((100, 100), bool)
    >>> cell_inset_png(mip, mask, pixel_size_um=0.1)[:4]
    b'\\x89PNG'
    """
    mip, mask, pixel_size_um, _ = _check(mip, mask, pixel_size_um)
    if isinstance(min_side_px, bool) or not isinstance(min_side_px, int) or min_side_px < 1:
        raise ValueError(f"`min_side_px` must be an int >= 1; got {min_side_px!r}")
    if window is None:
        window = inset_window(mip, mask, pixel_size_um=pixel_size_um, side_um=side_um)
    rows, cols = window
    if not (0 <= rows.start < rows.stop <= mip.shape[0] and 0 <= cols.start < cols.stop <= mip.shape[1]):
        raise ValueError(f"`window` {window} must lie inside the crop of shape {mip.shape}")
    grey = _contrast(mip, mask)[window]
    k = max(1, math.ceil(min_side_px / max(grey.shape)))
    big = np.kron(grey, np.ones((k, k), np.float32))
    outline = np.kron(mask[window].astype(np.float32), np.ones((k, k), np.float32))
    rgb = np.repeat(big[..., None], 3, axis=2)
    return _png(rgb, um_per_px=pixel_size_um / k, outline=outline)
