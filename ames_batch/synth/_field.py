"""A synthetic field: cells placed, rendered, imaged; with their labels and ratings."""

from dataclasses import dataclass

import numpy as np

from typing import NamedTuple

from ._geometry import cell_frame
from ._looks import LOOK_RECIPES
from ._params import LOOKS, SIM_SCALE_UM, CellParams, OpticsParams, OpticsParamsB, OpticsParamsD
from ._placement import _MARGIN_UM, place_cells
from ._ratings import rate_cell
from ._sampling import MAX_BODY_HEIGHT_UM, MAX_LENGTH_UM, sample_cell_params
from ._shapes import Outline
from ._validate import _as_generator, _check_look, _check_scale

__all__ = ["SyntheticField", "CellTruth", "FieldOfView", "field_of_view", "synthesize_field"]

_Z_MARGIN_UM = 1.0  # free space below and above the cells in the stack
_MAX_CELLS = 50


@dataclass(frozen=True)
class CellTruth:
    """Ground truth of one cell in a field.

    Attributes
    ----------
    label : int
        Its id in ``SyntheticField.cell_labels`` (1..n).
    source : str
        ``"adult"``, ``"neonatal"`` or ``"ipsc"`` as rated.
    sarcomerisation, directionality : int
        Ratings 1..4 (with the field's rater noise, if any).
    params : CellParams
        Every generator parameter of the cell.
    centre_yx_um : tuple of float
        Cell centre in the field (µm from the centre of pixel (0, 0)).
    """

    label: int
    source: str
    sarcomerisation: int
    directionality: int
    params: CellParams
    centre_yx_um: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class SyntheticField:
    """One synthetic field of view.

    Attributes
    ----------
    stack : (Z, Y, X) ndarray of uint16
        The alpha-actinin image stack.
    cell_labels : (Y, X) ndarray of uint32
        0 = background, 1..n = the cells of `cells`, in order.
    cells : list of CellTruth
        One per label.
    scale_um : dict
        ``{"z", "y", "x"}``: µm per slice / pixel.
    optics : OpticsParams, OpticsParamsB or OpticsParamsD
        Acquisition settings used (:class:`OpticsParams` for look ``"a"``, :class:`OpticsParamsB`
        for looks ``"b"`` and ``"c"``, :class:`OpticsParamsD` for look ``"d"``).
    organised : (Y, X) ndarray of bool
        The cells' organised regions, the truth behind ``organised_fraction``: where the
        generator lays myofibrils, gaps between lanes and missing stretches of a lane
        included (the stain shows fibrils on part of it only). A cell's share of it is its
        ``params.organised_fraction`` up to pixel rounding. The same in every look.
    look : str
        The rendering, one of ``LOOKS``.
    """

    stack: np.ndarray
    cell_labels: np.ndarray
    cells: list[CellTruth]
    scale_um: dict
    optics: OpticsParams | OpticsParamsB | OpticsParamsD | None = None
    organised: np.ndarray | None = None
    look: str = "a"


def synthesize_field(rng: np.random.Generator | int, *, n_cells: int = 1, scale_um: dict | None = None,
                     n_z: int | None = None, field_size_um: tuple[float, float] | None = None,
                     cell_params: list[CellParams] | None = None, rater_noise: float = 0.0,
                     touching: bool = False, look: str = "a",
                     optics: OpticsParams | OpticsParamsB | OpticsParamsD | None = None) -> SyntheticField:
    """Render a synthetic 3D-SIM field of alpha-actinin-stained cardiomyocytes.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random source; an int seeds a new generator (same seed, same bytes).
    n_cells : int
        Number of cells (1..50) when `cell_params` is None.
    scale_um : dict, optional
        ``{"z", "y", "x"}`` in µm per slice / pixel, square pixels; default
        ``SIM_SCALE_UM``. ``DEMO_SCALE_UM`` is a coarse, fast preset.
    n_z : int, optional
        Number of slices; by default the tallest cell plus 1 µm below and above. The
        cells' slab is centred in the stack (a short stack cuts it).
    field_size_um : (float, float), optional
        Field height and width in µm; by default the cells' bounding box plus 4 µm.
    cell_params : list of CellParams, optional
        The cells to render; drawn with :func:`sample_cell_params` when None. When
        given, its length sets the number of cells (`n_cells` must be 1 or equal).
    rater_noise : float
        Rater reading error (class widths) used for the cells' ratings, >= 0.
    touching : bool
        Place the cells so that each touches another (their outlines overlap a little
        and the shared rim is split between them); otherwise at least 3 µm apart.
    look : {"a", "b", "c", "d"}
        The rendering of the same truth: ``"a"`` SIM-like with analytic z-disc stripes,
        ``"b"`` z-discs of dots imaged by a widefield or Airyscan-like camera (independent
        code; see docs/synthetic-cells.md), ``"c"`` the cells of ``"a"`` imaged by the camera
        of ``"b"``, ``"d"`` beaded z-lines and stress fibres imaged by a spinning-disk confocal
        with an EMCCD (independent of both; held out: no shipped model is trained on it).
        Labels, ratings and ``organised`` do not depend on it.
    optics : OpticsParams, OpticsParamsB or OpticsParamsD, optional
        Acquisition settings of the look; drawn with :func:`sample_optics` when None.

    Returns
    -------
    field : SyntheticField
        ``stack`` (Z, Y, X) uint16, ``cell_labels`` (Y, X) uint32 with labels
        1..n in the order of ``cells``, ``scale_um``, the optics used and the look.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If a value is out of range, or the cells do not fit into `field_size_um`.

    Notes
    -----
    Pure and deterministic: no files, all randomness from `rng`. The cells' fine
    detail comes from each ``CellParams.detail_seed``, so a given parameter record
    always renders the same cell. Cost grows with the field's pixel count times
    slices: a single cell at ``DEMO_SCALE_UM`` takes well under a second in every look.
    Myofibrils lie in ``fibril_layers`` layers at their own depths, z-lines tilt out of the
    image plane and the body bulges over its nucleus, so the stack holds more than its MIP.

    Examples
    --------
    >>> from ames_batch.synth import DEMO_SCALE_UM, sample_cell_params
    >>> f = synthesize_field(0, scale_um=DEMO_SCALE_UM, cell_params=[
    ...     sample_cell_params(1, source="ipsc")])
    >>> f.stack.dtype, int(f.cell_labels.max()), f.cells[0].source
    (dtype('uint16'), 1, 'ipsc')
    """
    rng = _as_generator(rng)
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)):
        raise TypeError(f"`n_cells` must be an int; got {type(n_cells).__name__}")
    if not 1 <= n_cells <= _MAX_CELLS:
        raise ValueError(f"`n_cells` must be in 1..{_MAX_CELLS}; got {n_cells}")
    scale = _check_scale(SIM_SCALE_UM if scale_um is None else scale_um)
    if n_z is not None:
        if isinstance(n_z, bool) or not isinstance(n_z, (int, np.integer)):
            raise TypeError(f"`n_z` must be an int or None; got {type(n_z).__name__}")
        if n_z < 1:
            raise ValueError(f"`n_z` must be >= 1; got {n_z}")
    if field_size_um is not None:
        if len(field_size_um) != 2 or not all(np.isfinite(s) and s > 0 for s in field_size_um):
            raise ValueError(f"`field_size_um` must be two positive µm sizes (height, width); got {field_size_um}")
    if cell_params is not None:
        if not isinstance(cell_params, (list, tuple)) or not all(isinstance(p, CellParams) for p in cell_params):
            raise TypeError("`cell_params` must be a list of CellParams")
        if not 1 <= len(cell_params) <= _MAX_CELLS:
            raise ValueError(f"`cell_params` must hold 1..{_MAX_CELLS} cells; got {len(cell_params)}")
        if n_cells not in (1, len(cell_params)):
            raise ValueError(f"`n_cells` ({n_cells}) disagrees with len(cell_params) ({len(cell_params)})")
    if not np.isfinite(rater_noise) or rater_noise < 0:
        raise ValueError(f"`rater_noise` must be a finite number >= 0; got {rater_noise}")
    if not isinstance(touching, bool):
        raise TypeError(f"`touching` must be a bool; got {type(touching).__name__}")
    _check_look(look)
    recipe = LOOK_RECIPES[look]
    if optics is not None and not isinstance(optics, recipe.optics_type):
        raise TypeError(f"`optics` of look {look!r} must be a {recipe.optics_type.__name__}; "
                        f"got {type(optics).__name__}")

    params = list(cell_params) if cell_params is not None else [sample_cell_params(rng) for _ in range(n_cells)]
    outlines = [Outline(p) for p in params]
    centres, size_um = place_cells(rng, outlines, field_size_um, touching)
    pixel = scale["y"]
    shape = (int(np.ceil(size_um[0] / pixel)), int(np.ceil(size_um[1] / pixel)))

    labels = np.zeros(shape, np.uint32)
    best = np.full(shape, np.inf, np.float32)
    windows = []
    for k, (o, c) in enumerate(zip(outlines, centres), start=1):
        poly = o.field_polygon_um(tuple(c)) / pixel
        r0, c0 = np.maximum(np.floor(poly.min(axis=0)).astype(int) - 2, 0)
        r1, c1 = np.minimum(np.ceil(poly.max(axis=0)).astype(int) + 3, shape)
        u, v = o.to_cell_frame(np.arange(r0, r1)[:, None] * pixel, np.arange(c0, c1)[None, :] * pixel, tuple(c))
        rho = o.rho(u, v)
        win = (slice(r0, r1), slice(c0, c1))
        take = (rho <= 1.0) & (rho < best[win])
        best[win][take] = rho[take]
        labels[win][take] = k
        windows.append(win)

    frames = []
    organised = np.zeros(shape, bool)
    for k, (p, o, c, (sy, sx)) in enumerate(zip(params, outlines, centres, windows), start=1):
        frame = cell_frame(p, o, labels[sy, sx] == k, np.arange(sy.start, sy.stop) * pixel,
                           np.arange(sx.start, sx.stop) * pixel, tuple(c), pixel)
        organised[frame.iy + sy.start, frame.ix + sx.start] = frame.organised
        frames.append(frame)

    tallest = max(float(f.thickness.max(initial=0.0)) for f in frames)
    if n_z is None:
        n_z = int(np.ceil((tallest + 2 * _Z_MARGIN_UM) / scale["z"])) + 1
    base = ((n_z - 1) * scale["z"] - tallest) / 2
    optics = recipe.sample_optics(rng) if optics is None else optics
    stack = recipe.image(frames, windows, shape, scale_um=scale, n_z=int(n_z), base_um=base, optics=optics, rng=rng)
    cells = []
    for k, (p, c) in enumerate(zip(params, centres), start=1):
        r = rate_cell(p, rater_noise=rater_noise, rng=rng if rater_noise > 0 else None)
        cells.append(CellTruth(label=k, source=r["source"], sarcomerisation=r["sarcomerisation"],
                               directionality=r["directionality"], params=p,
                               centre_yx_um=(float(c[0]), float(c[1]))))
    return SyntheticField(stack=stack, cell_labels=labels, cells=cells, scale_um=scale, optics=optics,
                          organised=organised, look=look)


class FieldOfView(NamedTuple):
    """A fixed field of view: its size (height, width) in µm and its number of slices."""

    size_um: tuple[float, float]
    n_z: int


def field_of_view(scale_um: dict, *, n_cells: int = 1) -> FieldOfView:
    """The fixed field of view that holds `n_cells` of the largest cells the sampler draws.

    Pass it as ``synthesize_field(..., field_size_um=fov.size_um, n_z=fov.n_z)`` so that all
    fields share one shape, as a microscope's do.

    Parameters
    ----------
    scale_um : dict
        ``{"z", "y", "x"}`` in µm per slice / pixel, square pixels.
    n_cells : int
        Cells per field, >= 1: the side grows as ``sqrt(n_cells)``.

    Returns
    -------
    FieldOfView
        A square ``(side, side)`` of ``MAX_LENGTH_UM * sqrt(n_cells)`` plus a 4 µm margin on each
        side, and the slices that hold the thickest body (nucleus bulge included) plus 1 µm
        below and above.

    Raises
    ------
    ValueError
        If `n_cells` < 1 or `scale_um` is invalid.

    Examples
    --------
    >>> fov = field_of_view({"z": 0.5, "y": 0.16, "x": 0.16})
    >>> fov.size_um, fov.n_z
    ((148.0, 148.0), 20)
    """
    scale = _check_scale(scale_um)
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 1:
        raise ValueError(f"`n_cells` must be an int >= 1; got {n_cells!r}")
    side = float(MAX_LENGTH_UM * np.sqrt(n_cells) + 2 * _MARGIN_UM)
    n_z = int(np.ceil((MAX_BODY_HEIGHT_UM + 2 * _Z_MARGIN_UM) / scale["z"])) + 1
    return FieldOfView(size_um=(side, side), n_z=n_z)
