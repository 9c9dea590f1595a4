"""On-the-fly augmentation of preprocessed cell inputs (training split only).

Flips, 90° turns and small rotations act in the y/x plane only and keep the canvas size, so the
physical pixel size (µm/px) the ratings depend on is never changed; intensity jitter is a small
random gain and offset. Used by ``_dataset.CellSequence`` for the training split; validation and
test data never pass through here.
"""

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["AugmentSettings", "augment_cell"]


@dataclass(frozen=True)
class AugmentSettings:
    """What random changes a training input may receive.

    Attributes
    ----------
    flip : bool
        Random flips along y and x.
    rot90 : bool
        Random turns by a multiple of 90° (square inputs only).
    max_rotation_deg : float
        Extra rotation drawn uniformly in ``[-max, +max]`` degrees; canvas size kept (no growth,
        so no shrinking of the cell), corners filled with 0 (the masked background).
    gain : float
        Intensity multiplied by ``1 + U(-gain, gain)``.
    offset : float
        ``U(-offset, offset)`` added inside the cell (where the input is non-zero).
    """

    flip: bool = True
    rot90: bool = True
    max_rotation_deg: float = 10.0
    gain: float = 0.1
    offset: float = 0.05

    def __post_init__(self):
        for name in ("max_rotation_deg", "gain", "offset"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0; got {value}")

    def to_dict(self) -> dict:
        """JSON-ready copy of the settings (for the model card)."""
        return asdict(self)


def augment_cell(image: np.ndarray, rng: np.random.Generator, settings: AugmentSettings | None = None,
                 *, spatial_axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """One random augmented copy of one preprocessed cell input.

    Parameters
    ----------
    image : (Y, X, C) or (Z, Y, X, C) ndarray of float32
        One model input as made by ``ames_batch.image.cell_input_2d`` / ``cell_input_3d``.
    rng : numpy.random.Generator
        Source of randomness (seeded by the caller).
    settings : AugmentSettings, optional
        Defaults to ``AugmentSettings()``.
    spatial_axes : (int, int)
        The y and x axes of `image`: ``(0, 1)`` for 2D inputs, ``(1, 2)`` for 3D ones.

    Returns
    -------
    ndarray of float32
        Same shape as `image`; `image` itself is not modified.

    Raises
    ------
    TypeError
        If `image` is not an ndarray or `rng` not a Generator.
    ValueError
        If `spatial_axes` do not name two distinct axes of `image`.

    Examples
    --------
    >>> x = np.zeros((8, 8, 1), np.float32); x[2:6, 3:5] = 1
    >>> augment_cell(x, np.random.default_rng(0)).shape
    (8, 8, 1)
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"`image` must be a numpy ndarray; got {type(image).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"`rng` must be a numpy.random.Generator; got {type(rng).__name__}")
    ay, ax = spatial_axes
    if ay == ax or not (0 <= ay < image.ndim and 0 <= ax < image.ndim):
        raise ValueError(f"`spatial_axes` must be two distinct axes of a {image.ndim}-D image; got {spatial_axes}")
    settings = AugmentSettings() if settings is None else settings

    out = np.asarray(image, dtype=np.float32)
    if settings.flip:
        if rng.random() < 0.5:
            out = np.flip(out, axis=ay)
        if rng.random() < 0.5:
            out = np.flip(out, axis=ax)
    if settings.rot90 and out.shape[ay] == out.shape[ax]:
        out = np.rot90(out, k=int(rng.integers(4)), axes=(ay, ax))
    if settings.max_rotation_deg > 0:
        angle = float(rng.uniform(-settings.max_rotation_deg, settings.max_rotation_deg))
        out = ndi.rotate(out, angle, axes=(ay, ax), reshape=False, order=1, mode="constant", cval=0.0)
    out = np.array(out, dtype=np.float32, copy=True)
    if settings.gain > 0 or settings.offset > 0:
        gain = 1.0 + float(rng.uniform(-settings.gain, settings.gain))
        offset = float(rng.uniform(-settings.offset, settings.offset))
        inside = out != 0
        out *= gain
        out[inside] += offset
    return out
