"""Random changes of the detector and optics behind a rendered field (domain randomisation).

A facility's microscope differs from either look in ways no renderer lists one by one: another
detector response or stain contrast, a detector that clipped the brightest structures, more
noise, a softer focus. Training cells that carry such changes teach a rater to rely on what
stays the same under them.
"""

from dataclasses import asdict, dataclass

import numpy as np

from .._lazy import ndi
from ._validate import _as_generator

__all__ = ["DetectorChange", "sample_detector_change", "apply_detector_change"]


@dataclass(frozen=True)
class DetectorChange:
    """One field's change of acquisition, applied in this order.

    Attributes
    ----------
    blur_um : float
        Extra lateral Gaussian blur (sigma, µm), >= 0: softer focus.
    gamma : float
        Response ``x -> x ** gamma`` between the background and the cells' brightest voxels,
        > 0 (1 = linear): another detector response or stain contrast.
    noise : float
        Gaussian noise per voxel, in units of that range, >= 0.
    saturation_quantile : float
        The detector clips at this quantile of the cells' MIP values, in (0, 1] (1 = off).
    """

    blur_um: float = 0.0
    gamma: float = 1.0
    noise: float = 0.0
    saturation_quantile: float = 1.0

    def to_dict(self) -> dict:
        """JSON-ready copy."""
        return asdict(self)


def sample_detector_change(rng: np.random.Generator | int) -> DetectorChange:
    """Draw one change: gamma log-uniform in [0.4, 2.5]; each of blur (0-0.25 µm), noise (0-12 %)
    and saturation (at the cells' 80th-100th percentile) present with probability 1/2.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random source (an int seeds a new generator).

    Returns
    -------
    DetectorChange

    Examples
    --------
    >>> c = sample_detector_change(0)
    >>> 0.4 <= c.gamma <= 2.5 and 0.8 <= c.saturation_quantile <= 1.0
    True
    """
    rng = _as_generator(rng)
    gamma = float(np.exp(rng.uniform(np.log(0.4), np.log(2.5))))
    blur, noise, saturate = rng.random(3) < 0.5
    return DetectorChange(blur_um=float(rng.uniform(0.0, 0.25)) if blur else 0.0, gamma=gamma,
                          noise=float(rng.uniform(0.0, 0.12)) if noise else 0.0,
                          saturation_quantile=float(rng.uniform(0.8, 1.0)) if saturate else 1.0)


def apply_detector_change(stack: np.ndarray, cell_labels: np.ndarray, change: DetectorChange, *,
                          pixel_size_um: float, rng: np.random.Generator | int) -> np.ndarray:
    """The stack as the changed detector would have recorded it.

    Parameters
    ----------
    stack : (Z, Y, X) ndarray
        Rendered counts.
    cell_labels : (Y, X) ndarray of int
        Cells > 0; their MIP values set the range the response and the clip refer to.
    change : DetectorChange
    pixel_size_um : float
        Lateral pixel size in µm (for the blur).
    rng : numpy.random.Generator or int
        Source of the noise.

    Returns
    -------
    (Z, Y, X) ndarray of uint16
        Changed counts, rounded and clipped to the uint16 range.

    Raises
    ------
    ValueError
        If `stack` is not 3D, `cell_labels` does not match its (Y, X), or no pixel is a cell.

    Notes
    -----
    The range is from the median of the stack (the background) to the 99.5th percentile of the
    cells' MIP. Gamma and clip are monotone, so they commute with the maximum projection: the
    MIP of the changed stack is the changed MIP (the noise, added per voxel, does not).

    Examples
    --------
    >>> stack = np.random.default_rng(0).integers(100, 1000, (3, 8, 8)).astype(np.uint16)
    >>> out = apply_detector_change(stack, np.ones((8, 8), int), DetectorChange(saturation_quantile=0.5),
    ...                             pixel_size_um=0.16, rng=0)
    >>> int(out.max()) < int(stack.max())
    True
    """
    rng = _as_generator(rng)
    if stack.ndim != 3 or cell_labels.shape != stack.shape[1:]:
        raise ValueError(f"`stack` must be (Z, Y, X) with `cell_labels` its (Y, X); got {stack.shape} "
                         f"and {cell_labels.shape}")
    cells = cell_labels > 0
    if not cells.any():
        raise ValueError("`cell_labels` holds no cell")
    out = stack.astype(np.float32)
    if change.blur_um > 0:
        out = ndi.gaussian_filter(out, (0.0, change.blur_um / pixel_size_um, change.blur_um / pixel_size_um))
    lo = float(np.median(out))
    hi = float(np.percentile(out.max(axis=0)[cells], 99.5))
    span = max(hi - lo, 1e-6)
    if change.gamma != 1.0:
        above = out > lo
        out[above] = lo + span * ((out[above] - lo) / span) ** change.gamma
    if change.noise > 0:
        out += rng.normal(0.0, change.noise * span, out.shape).astype(np.float32)
    if change.saturation_quantile < 1.0:
        out = np.minimum(out, np.quantile(out.max(axis=0)[cells], change.saturation_quantile))
    return np.clip(np.rint(out), 0, np.iinfo(np.uint16).max).astype(np.uint16)
