"""Synthetic 3D-SIM fields of alpha-actinin-stained cardiomyocytes with ground truth (pure).

Parameters and a seed go in, arrays come out; nothing opens a file. The rules that
turn parameters into ratings are written in ``docs/synthetic-cells.md``.
"""

from ._field import CellTruth, SyntheticField, synthesize_field
from ._optics import sample_optics
from ._params import DEMO_SCALE_UM, SIM_SCALE_UM, SOURCES, CellParams, OpticsParams
from ._ratings import DIRECTIONALITY_EDGES_DEG, SARCOMERISATION_EDGES, rate_cell
from ._sampling import sample_cell_params

__all__ = [
    "SOURCES",
    "SIM_SCALE_UM",
    "DEMO_SCALE_UM",
    "SARCOMERISATION_EDGES",
    "DIRECTIONALITY_EDGES_DEG",
    "CellParams",
    "OpticsParams",
    "CellTruth",
    "SyntheticField",
    "sample_cell_params",
    "sample_optics",
    "rate_cell",
    "synthesize_field",
]
