"""Argument checks shared by the synth room's public functions."""

import numpy as np

from ._params import LOOKS

__all__ = ["_as_generator", "_check_scale", "_check_look"]


def _as_generator(rng, name: str = "rng") -> np.random.Generator:
    """A numpy Generator from a Generator or an int seed; TypeError otherwise."""
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"`{name}` must be a numpy Generator or an int seed; got {type(rng).__name__}")
    return rng


def _check_scale(scale_um) -> dict:
    """A ``{"z", "y", "x"}`` dict of finite, positive µm sizes with square pixels (a copy)."""
    if not isinstance(scale_um, dict):
        raise TypeError(f"`scale_um` must be a dict with keys 'z', 'y', 'x'; got {type(scale_um).__name__}")
    if set(scale_um) != {"z", "y", "x"}:
        raise ValueError(f"`scale_um` must have exactly the keys 'z', 'y', 'x'; got {sorted(scale_um)}")
    out = {k: float(scale_um[k]) for k in ("z", "y", "x")}
    if not all(np.isfinite(v) and v > 0 for v in out.values()):
        raise ValueError(f"`scale_um` values must be finite and > 0; got {out}")
    if not np.isclose(out["y"], out["x"], rtol=1e-6):
        raise ValueError(f"`scale_um` must have square pixels (y == x); got y={out['y']}, x={out['x']}")
    return out


def _check_look(look) -> None:
    """ValueError unless `look` is one of ``LOOKS``."""
    if not isinstance(look, str) or look not in LOOKS:
        raise ValueError(f"`look` must be one of {LOOKS}; got {look!r}")
