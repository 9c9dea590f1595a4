"""Pure (lazy where possible) image operations: projection, resampling, crops, normalisation."""

from ._crop import cell_bbox, cell_long_axis
from ._normalize import normalize_percentile
from ._projection import max_projection
from ._resample import antialias_sigma_px, resample, resample_frame

__all__ = [
    "antialias_sigma_px",
    "cell_bbox",
    "cell_long_axis",
    "max_projection",
    "normalize_percentile",
    "resample",
    "resample_frame",
]
