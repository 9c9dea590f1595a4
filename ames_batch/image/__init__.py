"""Pure (lazy where possible) image operations: projection, resampling, crops, normalisation."""

from ._projection import max_projection

__all__ = ["max_projection"]
