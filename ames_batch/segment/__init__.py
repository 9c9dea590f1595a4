"""Cell segmentation of a field's maximum projection, and scoring labels against truth (pure)."""

from ._cells import segment_cells
from ._foreground import THRESHOLD_METHODS
from ._matching import LabelMatch, match_labels

__all__ = ["THRESHOLD_METHODS", "LabelMatch", "match_labels", "segment_cells"]
