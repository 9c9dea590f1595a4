"""A PNG picture of a heatmap over the cell's MIP, with cell outline and scale bar."""

import math
from os import PathLike
from pathlib import Path

import numpy as np

__all__ = ["overlay_png"]

_NICE_UM = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
_SIGNED_PERCENTILE = 99.5  # IG is heavy-tailed: full colour at this percentile of |value|
_MIN_SIDE_PX = 512  # small crops are drawn enlarged (whole-pixel factor) so the text stays legible


def _scale_bar_um(width_um: float) -> float:
    """The 'nice' length closest to a fifth of the image width."""
    goal = width_um / 5
    return min(_NICE_UM, key=lambda v: abs(math.log(v / goal)))


def _check_overlay_args(mip, heatmap, cell_mask, path, pixel_size_um, alpha):
    mip = np.asarray(mip)
    heatmap = np.asarray(heatmap)
    cells = np.asarray(cell_mask)
    if mip.ndim != 2:
        raise ValueError(f"`mip` must be a (Y, X) image; got shape {mip.shape}")
    if not np.issubdtype(mip.dtype, np.number) or np.issubdtype(mip.dtype, np.complexfloating):
        raise ValueError(f"`mip` must hold real numbers; got dtype {mip.dtype}")
    for name, arr in (("heatmap", heatmap), ("cell_mask", cells)):
        if arr.shape != mip.shape:
            raise ValueError(f"`{name}` must match `mip` shape {mip.shape}; got {arr.shape}")
    if not np.issubdtype(heatmap.dtype, np.floating) or not np.all(np.isfinite(heatmap)):
        raise ValueError("`heatmap` must be a finite float array (Grad-CAM in [0, 1] or signed IG)")
    if cells.dtype != bool and not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"`cell_mask` must be a bool mask or integer labels; got dtype {cells.dtype}")
    if np.issubdtype(cells.dtype, np.integer) and cells.size and cells.min() < 0:
        raise ValueError("`cell_mask` labels must be >= 0 (0 = background)")
    if isinstance(pixel_size_um, bool) or not isinstance(pixel_size_um, int | float | np.floating):
        raise TypeError(f"`pixel_size_um` must be a number; got {type(pixel_size_um).__name__}")
    if not pixel_size_um > 0 or not math.isfinite(pixel_size_um):
        raise ValueError(f"`pixel_size_um` must be a finite number > 0; got {pixel_size_um}")
    if not 0 < alpha <= 1:
        raise ValueError(f"`alpha` must lie in (0, 1]; got {alpha}")
    if not isinstance(path, str | PathLike):
        raise TypeError(f"`path` must be a str or path; got {type(path).__name__}")
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"`path` must end in .png; got {path.name!r}")
    if not path.parent.is_dir():
        raise ValueError(f"`path` folder {str(path.parent)!r} does not exist; create it first")
    return mip.astype(np.float32), heatmap.astype(np.float32), cells, path


def overlay_png(
    mip: np.ndarray,
    heatmap: np.ndarray,
    cell_mask: np.ndarray,
    path: str | PathLike,
    *,
    pixel_size_um: float,
    title: str | None = None,
    alpha: float = 0.6,
) -> Path:
    """Write a PNG: MIP in grey, heatmap in colour on top, cell outlines and a µm scale bar.

    Parameters
    ----------
    mip : (Y, X) ndarray
        Maximum projection of the crop (any real dtype; shown between its 1st and 99.8th
        percentile).
    heatmap : (Y, X) ndarray of float
        Heatmap in the same frame: non-negative (Grad-CAM in [0, 1]) is drawn with ``inferno``
        over [0, max(1, max)]; signed (IG) with the diverging ``coolwarm`` map, symmetric about 0,
        full colour from the 99.5th percentile of the non-zero |values| on (IG maps are
        heavy-tailed: scaled to their maximum, most of the map would be invisible). Opacity
        grows with |value|, so weak evidence leaves the grey image visible.
    cell_mask : (Y, X) ndarray of bool or int
        Cell mask, or cell labels (0 = background); every labelled region's boundary is outlined.
    path : str or path-like
        Target ``.png`` file in an existing folder; overwritten if present.
    pixel_size_um : float
        Pixel size of the crop in µm, > 0 (for the scale bar).
    title : str, optional
        Text written in the top-left corner.
    alpha : float
        Opacity of the strongest heatmap value, in (0, 1].

    Returns
    -------
    path : pathlib.Path
        The written file.

    Raises
    ------
    TypeError
        If `pixel_size_um` or `path` has the wrong type.
    ValueError
        If shapes differ, `heatmap` is not finite float, `cell_mask` is neither mask nor labels,
        `pixel_size_um` <= 0, or `path` is not a .png in an existing folder.

    Notes
    -----
    Drawn with matplotlib's Agg canvas on a private ``Figure`` (no pyplot state, safe in worker
    threads). The image fills the PNG: each crop pixel becomes a ``k x k`` block, k being the
    smallest whole factor that makes the longer side at least 512 px.

    Examples
    --------
    >>> import tempfile, os
    >>> mip = np.zeros((32, 32)); mask = np.zeros((32, 32), bool); mask[8:24, 8:24] = True
    >>> out = overlay_png(mip, mask.astype(np.float32), mask, os.path.join(tempfile.mkdtemp(), "a.png"),
    ...                   pixel_size_um=0.1)
    >>> out.suffix
    '.png'
    """
    mip, heatmap, cells, path = _check_overlay_args(mip, heatmap, cell_mask, path, pixel_size_um, alpha)
    from matplotlib import colormaps, patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from skimage.segmentation import find_boundaries

    ny, nx = mip.shape
    k = max(1, math.ceil(_MIN_SIDE_PX / max(ny, nx)))
    dpi = 100
    fig = Figure(figsize=(nx * k / dpi, ny * k / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()

    lo, hi = np.percentile(mip, [1, 99.8])
    grey = np.clip((mip - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(mip)
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")

    if heatmap.min() < 0:
        magnitude = np.abs(heatmap)
        top = float(np.percentile(magnitude[magnitude > 0], _SIGNED_PERCENTILE))
        clipped = np.clip(heatmap / top, -1, 1)
        norm = 0.5 + 0.5 * clipped
        strength = np.abs(clipped)
        rgba = colormaps["coolwarm"](norm)
    else:
        top = max(1.0, float(heatmap.max()))
        strength = heatmap / top
        rgba = colormaps["inferno"](strength)
    rgba[..., 3] = alpha * strength
    ax.imshow(rgba, interpolation="nearest")

    labels = cells.astype(np.uint8) if cells.dtype == bool else cells
    edge = find_boundaries(labels, mode="inner") & (labels > 0)
    outline = np.zeros((ny, nx, 4), np.float32)
    outline[edge] = (0.0, 1.0, 1.0, 1.0)  # cyan, away from both heatmap colour maps
    ax.imshow(outline, interpolation="nearest")

    bar_um = _scale_bar_um(nx * pixel_size_um)
    bar_px = bar_um / pixel_size_um
    margin = 0.04 * nx
    height = max(0.015 * ny, 1.0)
    x0, y0 = nx - margin - bar_px - 0.5, ny - margin - height - 0.5
    ax.add_patch(Rectangle((x0, y0), bar_px, height, color="white", linewidth=0))
    label = f"{bar_um:g} µm"
    font = max(8, min(24, 0.035 * ny * k * 72 / dpi))
    halo = [patheffects.withStroke(linewidth=3, foreground="black")]  # legible on bright stain
    ax.text(x0 + bar_px / 2, y0 - 0.5 * height, label, color="white", ha="center", va="bottom",
            fontsize=font, path_effects=halo)
    if title:
        ax.text(0.02 * nx, 0.02 * ny, title, color="white", ha="left", va="top", fontsize=font,
                bbox={"facecolor": "black", "alpha": 0.5, "linewidth": 0, "pad": 2})
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(ny - 0.5, -0.5)
    fig.savefig(path, dpi=dpi, format="png")
    return path
