"""Rating models: preprocessing settings, architectures, bundle, inference (and training)."""

from ._architectures import ARCHS, Ensemble, build_model, min_input_size
from ._bundle import FORMAT_VERSION, load_bundle, make_card, model_card_schema, save_bundle
from ._predict import ExplainTarget, RatingModel
from ._preprocess import CellGeometry, PreprocessSettings, cell_input_2d, cell_input_3d

__all__ = [
    "ARCHS",
    "FORMAT_VERSION",
    "CellGeometry",
    "Ensemble",
    "ExplainTarget",
    "PreprocessSettings",
    "RatingModel",
    "build_model",
    "cell_input_2d",
    "cell_input_3d",
    "load_bundle",
    "make_card",
    "min_input_size",
    "model_card_schema",
    "save_bundle",
]
