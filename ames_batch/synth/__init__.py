"""Synthetic 3D-SIM fields of alpha-actinin-stained cardiomyocytes with ground truth (pure).

Parameters and a seed go in, arrays come out; nothing opens a file. The rules that
turn parameters into ratings are written in ``docs/synthetic-cells.md``. Two looks render
the same truth with independent code, so a model can be trained on one and scored on the
other; a third combines the first's cells with the second's camera; a fourth, independent of
both, is held out (no shipped model is trained on it) to judge whether ratings carry over
(``LOOKS``).
"""

from ._detector import DetectorChange, apply_detector_change, sample_detector_change
from ._field import CellTruth, FieldOfView, SyntheticField, field_of_view, synthesize_field
from ._looks import sample_optics
from ._params import (DEMO_SCALE_UM, LOOKS, SIM_SCALE_UM, SOURCES, CellParams, OpticsParams, OpticsParamsB,
                      OpticsParamsD)
from ._ratings import DIRECTIONALITY_EDGES_DEG, SARCOMERISATION_EDGES, rate_cell
from ._sampling import MAX_BODY_HEIGHT_UM, MAX_LENGTH_UM, sample_cell_params

__all__ = [
    "SOURCES",
    "LOOKS",
    "SIM_SCALE_UM",
    "DEMO_SCALE_UM",
    "SARCOMERISATION_EDGES",
    "DIRECTIONALITY_EDGES_DEG",
    "MAX_LENGTH_UM",
    "MAX_BODY_HEIGHT_UM",
    "CellParams",
    "OpticsParams",
    "OpticsParamsB",
    "OpticsParamsD",
    "CellTruth",
    "DetectorChange",
    "SyntheticField",
    "FieldOfView",
    "sample_cell_params",
    "sample_optics",
    "sample_detector_change",
    "apply_detector_change",
    "rate_cell",
    "synthesize_field",
    "field_of_view",
]
