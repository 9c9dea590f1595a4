"""The rules that turn a cell's parameters into the three expert labels.

Written out in ``docs/synthetic-cells.md``; the numbers live here once.
"""

import numpy as np

from ._params import SOURCES, CellParams
from ._validate import _as_generator

__all__ = ["rate_cell", "SARCOMERISATION_EDGES", "DIRECTIONALITY_EDGES_DEG"]

#: Organised-fraction edges between sarcomerisation ratings 1|2, 2|3, 3|4.
SARCOMERISATION_EDGES: tuple[float, float, float] = (0.20, 0.45, 0.70)
#: Stripe-to-long-axis angle edges (degrees) between directionality ratings 1|2, 2|3, 3|4.
DIRECTIONALITY_EDGES_DEG: tuple[float, float, float] = (22.5, 45.0, 67.5)

_SARC_NOISE_PER_UNIT = 0.25  # one class width of organised fraction
_DIR_NOISE_PER_UNIT_DEG = 22.5  # one class width of angle


def _fold_angle(angle_deg: float) -> float:
    """Angle between two lines, in [0, 90] degrees."""
    a = abs(float(angle_deg)) % 180.0
    return 180.0 - a if a > 90.0 else a


def _bin(value: float, edges: tuple[float, ...]) -> int:
    return int(np.searchsorted(np.asarray(edges), value, side="right")) + 1


def rate_cell(params: CellParams, *, rater_noise: float = 0.0,
              rng: np.random.Generator | int | None = None) -> dict:
    """Rate one synthetic cell as an expert would (sarcomerisation, directionality, source).

    Parameters
    ----------
    params : CellParams
        The cell.
    rater_noise : float
        Standard deviation of the rater's reading error in units of one class width,
        >= 0. 0 gives the noise-free rating.
    rng : numpy.random.Generator or int, optional
        Random source; required when `rater_noise` > 0.

    Returns
    -------
    ratings : dict
        ``{"sarcomerisation": int 1..4, "directionality": int 1..4, "source": str}``.

    Raises
    ------
    TypeError
        If `params` is not a :class:`CellParams`.
    ValueError
        If `rater_noise` < 0, or > 0 without `rng`.

    Notes
    -----
    - Sarcomerisation bins the organised fraction at 0.20 / 0.45 / 0.70.
    - Directionality bins the angle between z-disc stripes and the long axis, folded
      to [0, 90] degrees, at 22.5 / 45 / 67.5 (0 = parallel = 1, 90 = perpendicular = 4).
      It is judged on the organised part only; the reading error grows with
      orientation disorder and when little of the cell is organised.
    - Source is where the cell came from (``params.source``), as a lab knows it from the
      culture; rater noise does not touch it. Sizes of the sources overlap, so it shows
      in texture and form, not in size alone.

    Examples
    --------
    >>> import numpy as np
    >>> from ames_batch.synth import sample_cell_params
    >>> p = sample_cell_params(np.random.default_rng(0), source="adult",
    ...                        sarcomerisation=4, directionality=4)
    >>> rate_cell(p)
    {'sarcomerisation': 4, 'directionality': 4, 'source': 'adult'}
    """
    if not isinstance(params, CellParams):
        raise TypeError(f"`params` must be a CellParams; got {type(params).__name__}")
    if not np.isfinite(rater_noise) or rater_noise < 0:
        raise ValueError(f"`rater_noise` must be a finite number >= 0; got {rater_noise}")
    if rater_noise > 0 and rng is None:
        raise ValueError("`rng` is required when `rater_noise` > 0")
    if params.source not in SOURCES:
        raise ValueError(f"`params.source` must be one of {SOURCES}; got {params.source!r}")

    fraction = float(params.organised_fraction)
    angle = _fold_angle(params.zdisc_angle_deg)
    if rater_noise > 0:
        gen = _as_generator(rng)
        fraction += gen.normal(0.0, rater_noise * _SARC_NOISE_PER_UNIT)
        unsure = (1.0 + params.orientation_disorder_deg / 15.0) * np.sqrt(max(1.0, 0.2 / max(fraction, 1e-3)))
        angle = _fold_angle(angle + gen.normal(0.0, rater_noise * _DIR_NOISE_PER_UNIT_DEG * unsure))
    return {
        "sarcomerisation": _bin(fraction, SARCOMERISATION_EDGES),
        "directionality": _bin(angle, DIRECTIONALITY_EDGES_DEG),
        "source": params.source,
    }
