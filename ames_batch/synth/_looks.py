"""The looks: how each renders a field's cells (shared :class:`CellFrame` truth) into a stack."""

from typing import Callable, NamedTuple

import numpy as np

from ._fibrils import render_cell_a
from ._geometry import CellFrame
from ._look_b import render_cell_b
from ._look_d import render_cell_d
from ._optics import acquire_stack_a, sample_optics_a
from ._optics_b import acquire_stack_b, sample_optics_b
from ._optics_d import acquire_stack_d, sample_optics_d
from ._params import OpticsParams, OpticsParamsB, OpticsParamsD
from ._validate import _as_generator, _check_look

__all__ = ["LOOK_RECIPES", "LookRecipe", "sample_optics"]


def _geometry_maps(frames: list[CellFrame], windows: list[tuple[slice, slice]], shape: tuple[int, int]) -> dict:
    """Field maps of body thickness and nucleus span (µm), 0 outside the cells."""
    maps = {k: np.zeros(shape, np.float32) for k in ("thickness", "nucleus_bottom", "nucleus_top")}
    for frame, (sy, sx) in zip(frames, windows):
        rows, cols = frame.iy + sy.start, frame.ix + sx.start
        maps["thickness"][rows, cols] = frame.thickness
        maps["nucleus_bottom"][rows, cols] = frame.nucleus_bottom
        maps["nucleus_top"][rows, cols] = frame.nucleus_top
    return maps


def _image_a(frames, windows, shape, *, scale_um, n_z, base_um, optics, rng) -> np.ndarray:
    emitters = {k: [] for k in ("index", "emission", "depth", "spread")}
    diffuse = np.zeros(shape, np.float32)
    for frame, (sy, sx) in zip(frames, windows):
        cell = render_cell_a(frame, scale_um["y"])
        rows, cols = np.divmod(cell["index"], frame.shape[1])
        emitters["index"].append((rows + sy.start) * shape[1] + cols + sx.start)
        for name in ("emission", "depth", "spread"):
            emitters[name].append(cell[name])
        diffuse[frame.iy + sy.start, frame.ix + sx.start] = cell["diffuse"][frame.iy, frame.ix]
    emitters = {k: np.concatenate(v) for k, v in emitters.items()}
    thickness = _geometry_maps(frames, windows, shape)["thickness"]
    return acquire_stack_a(emitters, diffuse, thickness, scale_um=scale_um, n_z=n_z, base_um=base_um,
                           optics=optics, rng=rng)


def _image_b(frames, windows, shape, *, scale_um, n_z, base_um, optics, rng) -> np.ndarray:
    points, amp = [], []
    density = np.zeros(shape, np.float32)
    for frame, (sy, sx) in zip(frames, windows):
        cell = render_cell_b(frame)
        points.append(cell["points"] + np.array([0.0, sy.start, sx.start], np.float32))
        amp.append(cell["amp"])
        density[frame.iy + sy.start, frame.ix + sx.start] = cell["density"]
    maps = _geometry_maps(frames, windows, shape)
    return acquire_stack_b(np.concatenate(points), np.concatenate(amp), density, maps["thickness"],
                           maps["nucleus_bottom"], maps["nucleus_top"], scale_um=scale_um, n_z=n_z,
                           base_um=base_um, optics=optics, rng=rng)


def _image_c(frames, windows, shape, *, scale_um, n_z, base_um, optics, rng) -> np.ndarray:
    """Look "a"'s cells (analytic stripes, z-bodies, diffuse stain) through look "b"'s camera: each
    stain pixel becomes a point emitter at its height, jittered by its own spread in z."""
    points, amp = [], []
    density = np.zeros(shape, np.float32)
    for frame, (sy, sx) in zip(frames, windows):
        cell = render_cell_a(frame, scale_um["y"])
        rows, cols = np.divmod(cell["index"], frame.shape[1])
        jitter = np.random.default_rng([frame.params.detail_seed, 5]).standard_normal(rows.size)
        depth = cell["depth"] + cell["spread"] * jitter.astype(np.float32)
        points.append(np.column_stack([depth, rows + sy.start, cols + sx.start]).astype(np.float32))
        amp.append(cell["emission"])
        density[frame.iy + sy.start, frame.ix + sx.start] = cell["diffuse"][frame.iy, frame.ix]
    maps = _geometry_maps(frames, windows, shape)
    return acquire_stack_b(np.concatenate(points), np.concatenate(amp), density, maps["thickness"],
                           maps["nucleus_bottom"], maps["nucleus_top"], scale_um=scale_um, n_z=n_z,
                           base_um=base_um, optics=optics, rng=rng)


def _image_d(frames, windows, shape, *, scale_um, n_z, base_um, optics, rng) -> np.ndarray:
    """Look "d": its own cells (beaded z-lines, stress fibres, rim) through a spinning-disk confocal
    and an EMCCD (independent of looks "a" and "b")."""
    emitters = {k: [] for k in ("index", "emission", "height", "spread")}
    column = np.zeros(shape, np.float32)
    for frame, (sy, sx) in zip(frames, windows):
        cell = render_cell_d(frame)
        rows, cols = np.divmod(cell["index"], frame.shape[1])
        emitters["index"].append((rows + sy.start) * shape[1] + cols + sx.start)
        for name in ("emission", "height", "spread"):
            emitters[name].append(cell[name])
        column[frame.iy + sy.start, frame.ix + sx.start] = cell["column"]
    emitters = {k: np.concatenate(v) for k, v in emitters.items()}
    maps = _geometry_maps(frames, windows, shape)
    return acquire_stack_d(emitters, column, maps["thickness"], maps["nucleus_bottom"], maps["nucleus_top"],
                           scale_um=scale_um, n_z=n_z, base_um=base_um, optics=optics, rng=rng)


class LookRecipe(NamedTuple):
    """What makes a look: its optics record, how to draw one, how to image a field's cells."""

    optics_type: type
    sample_optics: Callable
    image: Callable


LOOK_RECIPES: dict[str, LookRecipe] = {
    "a": LookRecipe(OpticsParams, sample_optics_a, _image_a),
    "b": LookRecipe(OpticsParamsB, sample_optics_b, _image_b),
    "c": LookRecipe(OpticsParamsB, sample_optics_b, _image_c),
    "d": LookRecipe(OpticsParamsD, sample_optics_d, _image_d),
}


def sample_optics(rng: np.random.Generator | int, *,
                  look: str = "a") -> OpticsParams | OpticsParamsB | OpticsParamsD:
    """Draw the acquisition settings of one field of a look (domain randomisation).

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random source (an int seeds a new generator).
    look : {"a", "b", "c", "d"}
        ``"a"``: SIM-like (:class:`OpticsParams`); ``"b"`` and ``"c"``: widefield or
        Airyscan-like camera (:class:`OpticsParamsB`); ``"d"``: spinning-disk confocal with an
        EMCCD (:class:`OpticsParamsD`).

    Returns
    -------
    OpticsParams, OpticsParamsB or OpticsParamsD

    Raises
    ------
    ValueError
        If `look` is not one of ``LOOKS``.

    Examples
    --------
    >>> sample_optics(0, look="b").mode in ("widefield", "airyscan")
    True
    """
    _check_look(look)
    return LOOK_RECIPES[look].sample_optics(_as_generator(rng))
