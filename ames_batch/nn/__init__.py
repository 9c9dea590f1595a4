"""Rating models: preprocessing settings, architectures, bundle, inference (and training)."""

from ._architectures import ARCHS, Ensemble, build_model, min_input_size
from ._preprocess import CellGeometry, PreprocessSettings, cell_input_2d, cell_input_3d

__all__ = [
    "ARCHS",
    "CellGeometry",
    "Ensemble",
    "PreprocessSettings",
    "build_model",
    "cell_input_2d",
    "cell_input_3d",
    "min_input_size",
]
