"""On-the-fly augmentation of preprocessed cell inputs (training split only).

Flips, 90° turns and small rotations act in the y/x plane only and keep the canvas size, so the
physical pixel size (µm/px) the ratings depend on is never changed. Intensity changes stand in
for other microscopes, stains and cameras (domain randomisation): a random gamma, a saturated
top, added noise, then a small gain and offset. Used by ``_dataset.CellSequence`` for the training split; validation and
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
    max_gamma : float
        Inside the cell ``x -> x ** g`` with ``log g ~ U(-log max_gamma, log max_gamma)``, >= 1
        (1 = off): another detector response or stain contrast. Inputs are in [0, 1].
    min_saturation : float
        Inside the cell ``x -> min(x, s) / s`` with ``s ~ U(min_saturation, 1)``, in (0, 1]
        (1 = off): a detector that saturated on the brightest structures.
    max_noise : float
        Gaussian noise of standard deviation ``U(0, max_noise)`` added inside the cell, then
        clipped to [0, 1], >= 0 (in units of the [0, 1] input range).
    """

    flip: bool = True
    rot90: bool = True
    max_rotation_deg: float = 10.0
    gain: float = 0.1
    offset: float = 0.05
    max_gamma: float = 1.0
    min_saturation: float = 1.0
    max_noise: float = 0.0

    def __post_init__(self):
        for name in ("max_rotation_deg", "gain", "offset", "max_noise"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0; got {value}")
        if not (np.isfinite(self.max_gamma) and self.max_gamma >= 1):
            raise ValueError(f"`max_gamma` must be a finite number >= 1; got {self.max_gamma}")
        if not 0 < self.min_saturation <= 1:
            raise ValueError(f"`min_saturation` must be in (0, 1]; got {self.min_saturation}")

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
    inside = out != 0  # the masked background stays 0: the model reads the cell's support from it
    if settings.max_gamma > 1:
        gamma = float(np.exp(rng.uniform(-1.0, 1.0) * np.log(settings.max_gamma)))
        out[inside] = np.maximum(out[inside], 0.0) ** gamma
    if settings.min_saturation < 1:
        top = float(rng.uniform(settings.min_saturation, 1.0))
        out[inside] = np.minimum(out[inside], top) / top
    if settings.max_noise > 0:
        sigma = float(rng.uniform(0.0, settings.max_noise))
        noisy = out[inside] + rng.normal(0.0, sigma, int(inside.sum())).astype(np.float32)
        out[inside] = np.clip(noisy, 0.0, 1.0)  # as the preprocessing's clip would have left it
    if settings.gain > 0 or settings.offset > 0:
        gain = 1.0 + float(rng.uniform(-settings.gain, settings.gain))
        offset = float(rng.uniform(-settings.offset, settings.offset))
        out *= gain
        out[inside] += offset
    return out
