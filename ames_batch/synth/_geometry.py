"""What every look of a cell shares: its pixels, body, nucleus and organised region (the truth).

Both looks render the same :class:`CellFrame`, so a cell's outline, thickness and the region
behind ``organised_fraction`` are one thing whatever the rendering.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ._params import CellParams
from ._shapes import Outline

__all__ = ["CellFrame", "cell_frame", "cytoplasm_height", "SmoothNoise"]

_EDGE_UM = 1.0  # soft edge of the organised region


class SmoothNoise:
    """Zero-mean, unit-std Gaussian random field on a coarse grid, sampled bilinearly.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the grid.
    half_extent_um : float
        The field covers ``[-half_extent_um, half_extent_um]`` in both cell-frame axes.
    corr_um : float
        Correlation length (µm).
    """

    def __init__(self, rng: np.random.Generator, half_extent_um: float, corr_um: float):
        self.step = max(corr_um / 3.0, 0.25)
        n = int(np.ceil(2 * half_extent_um / self.step)) + 3
        grid = ndi.gaussian_filter(rng.standard_normal((n, n)), corr_um / self.step, mode="wrap")
        grid = (grid - grid.mean()) / (grid.std() + 1e-12)
        self.grid = grid.astype(np.float32)
        self.origin = -half_extent_um - self.step

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        coords = np.stack([(v - self.origin) / self.step, (u - self.origin) / self.step])
        return ndi.map_coordinates(self.grid, coords, order=1, mode="nearest").astype(np.float32)


@dataclass(frozen=True)
class CellFrame:
    """One cell's pixels in a window of the field and the geometry all looks share.

    Attributes
    ----------
    params : CellParams
    outline : Outline
    shape : (int, int)
        Window shape (rows, columns).
    iy, ix : (N,) ndarray of int
        Window rows and columns of the cell's pixels.
    u, v : (N,) ndarray of float32
        Their cell-frame coordinates (µm): along and across the long axis.
    rho : (N,) ndarray of float32
        Normalised radius (1 on the outline).
    thickness : (N,) ndarray of float32
        Body thickness (µm), the nucleus bulge included.
    nucleus_bottom, nucleus_top : (N,) ndarray of float32
        The nucleus's span above the base (µm); ``top <= bottom`` outside it.
    ramp : (N,) ndarray of float32
        Soft weight of the organised region, 0..1 over a ~1 µm edge.
    organised : (N,) ndarray of bool
        The organised region (the truth, ``ramp > 1/2``): ``params.organised_fraction`` of the pixels.
    half_extent_um : float
        A half width (µm) that covers the cell in the cell frame with room to spare.
    centre_yx_um : (float, float)
        Cell centre in the field (µm).
    origin_yx_um : (float, float)
        Field position (µm) of the window's pixel (0, 0).
    pixel_um : float
        Isotropic pixel size (µm).
    """

    params: CellParams
    outline: Outline
    shape: tuple[int, int]
    iy: np.ndarray
    ix: np.ndarray
    u: np.ndarray
    v: np.ndarray
    rho: np.ndarray
    thickness: np.ndarray
    nucleus_bottom: np.ndarray
    nucleus_top: np.ndarray
    ramp: np.ndarray
    organised: np.ndarray
    half_extent_um: float
    centre_yx_um: tuple[float, float]
    origin_yx_um: tuple[float, float]
    pixel_um: float

    def window_map(self, values: np.ndarray, fill=0) -> np.ndarray:
        """`values` of the cell's pixels as an (H, W) window image, `fill` elsewhere."""
        out = np.full(self.shape, fill, dtype=np.asarray(values).dtype)
        out[self.iy, self.ix] = values
        return out

    def to_window_px(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell-frame points (µm) to window pixel coordinates (row, column), as floats."""
        th = np.deg2rad(self.params.long_axis_deg)
        y = self.centre_yx_um[0] + u * np.sin(th) + v * np.cos(th) - self.origin_yx_um[0]
        x = self.centre_yx_um[1] + u * np.cos(th) - v * np.sin(th) - self.origin_yx_um[1]
        return y / self.pixel_um, x / self.pixel_um


def cytoplasm_height(rel, thickness_um, nucleus_bottom_um, nucleus_top_um) -> np.ndarray:
    """Height (µm above the base) at relative position `rel` (0..1) of the cytoplasm's column.

    The column runs from the base to the top of the body and skips the nucleus, so what lies
    in the cytoplasm (myofibrils, z-bodies) passes under and over the nucleus, never through it.
    All arguments broadcast; heights in µm.
    """
    nucleus = np.clip(np.asarray(nucleus_top_um) - nucleus_bottom_um, 0.0, None)
    z = np.asarray(rel) * np.clip(np.asarray(thickness_um) - nucleus, 0.0, None)
    return np.where((nucleus > 0) & (z > nucleus_bottom_um), z + nucleus, z).astype(np.float32)


def cell_frame(params: CellParams, outline: Outline, owned: np.ndarray, y_um: np.ndarray, x_um: np.ndarray,
               centre_yx_um: tuple[float, float], pixel_um: float) -> CellFrame:
    """The shared geometry of one cell in a window.

    Parameters
    ----------
    params : CellParams
    outline : Outline
    owned : (H, W) ndarray of bool
        Window pixels that belong to this cell.
    y_um, x_um : (H,) and (W,) ndarray of float
        Field coordinates (µm) of the window's rows and columns.
    centre_yx_um : tuple of float
        Cell centre in the field (µm).
    pixel_um : float
        Isotropic pixel size (µm).

    Returns
    -------
    CellFrame

    Notes
    -----
    The organised region is the top `organised_fraction` of a smooth random field (correlation
    ``max(2, domain_size_um / 2)`` µm) drawn from ``detail_seed``: exact to a pixel.
    """
    iy, ix = np.nonzero(owned)
    u, v = outline.to_cell_frame(y_um[iy], x_um[ix], centre_yx_um)
    u = u.astype(np.float32)
    v = v.astype(np.float32)
    rho = outline.rho(u, v)
    thickness = outline.thickness(u, v, rho)
    bottom, top = outline.nucleus_span(u, v, thickness)
    half_extent = 1.4 * max(outline.half_length_um, outline.half_width_um)
    rng = np.random.default_rng([params.detail_seed, 2])
    corr = max(2.0, 0.5 * params.domain_size_um)
    field = SmoothNoise(rng, half_extent, corr)(u, v)
    if iy.size:
        q = np.quantile(field, 1.0 - params.organised_fraction)
        ramp = np.clip((field - q) * corr / _EDGE_UM + 0.5, 0.0, 1.0).astype(np.float32)
        organised = field > q
    else:
        ramp, organised = np.zeros(0, np.float32), np.zeros(0, bool)
    return CellFrame(params=params, outline=outline, shape=owned.shape, iy=iy, ix=ix, u=u, v=v, rho=rho,
                     thickness=thickness, nucleus_bottom=bottom, nucleus_top=top, ramp=ramp,
                     organised=organised, half_extent_um=half_extent,
                     centre_yx_um=(float(centre_yx_um[0]), float(centre_yx_um[1])),
                     origin_yx_um=(float(y_um[0]), float(x_um[0])), pixel_um=float(pixel_um))
