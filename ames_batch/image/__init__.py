"""Pure (lazy where possible) image operations: projection, resampling, working scale, crops,
normalisation, detector clipping."""

from ._clipping import CLIP_BAND, clipped_pixels
from ._crop import cell_bbox, cell_bboxes, cell_long_axis
from ._normalize import normalize_percentile, percentile
from ._projection import max_projection
from ._resample import antialias_sigma_px, axis_operator, resample, resample_frame
from ._working_scale import WORKING_PIXEL_SIZE_UM, at_working_scale, to_working_scale, upsample_labels

__all__ = [
    "CLIP_BAND",
    "WORKING_PIXEL_SIZE_UM",
    "at_working_scale",
    "antialias_sigma_px",
    "axis_operator",
    "cell_bbox",
    "cell_bboxes",
    "cell_long_axis",
    "clipped_pixels",
    "max_projection",
    "normalize_percentile",
    "percentile",
    "resample",
    "resample_frame",
    "to_working_scale",
    "upsample_labels",
]
