"""Quantitative sarcomere metrics of one cell: length, orientation order, organisation, shape.

Pure functions on a MIP crop (Y, X), a boolean cell mask (Y, X) and the pixel size in µm;
lengths in µm, areas in µm², angles in degrees from x towards y. See ``docs/metrics.md``.
"""

from ._cell import METRIC_NAMES, METRICS_VERSION, cell_metrics
from ._clipped import extrapolate_clipped
from ._crop import MAX_TEXTURE_PIXEL_UM
from ._organisation import organised_fraction, organised_map
from ._orientation import orientation_field, zdisc_orientation
from ._density import zdisc_density
from ._pieces import zdisc_pieces
from ._sarcomere import sarcomere_length
from ._shape import cell_shape

__all__ = [
    "METRIC_NAMES",
    "METRICS_VERSION",
    "MAX_TEXTURE_PIXEL_UM",
    "cell_metrics",
    "cell_shape",
    "extrapolate_clipped",
    "organised_fraction",
    "organised_map",
    "orientation_field",
    "sarcomere_length",
    "zdisc_density",
    "zdisc_orientation",
    "zdisc_pieces",
]
