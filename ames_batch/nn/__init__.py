"""Rating models: preprocessing settings, architectures, bundle, inference (and training)."""

from ._architectures import ARCHS, Ensemble, build_model, min_input_size
from ._augment import AugmentSettings, augment_cell
from ._bundle import FORMAT_VERSION, load_bundle, make_card, model_card_schema, save_bundle
from ._predict import ExplainTarget, RatingModel
from ._preprocess import CellGeometry, PreprocessSettings, cell_input_2d, cell_input_3d
from ._dataset import CellSequence, class_weights
from ._evaluate import evaluate_ratings
from ._metrics_model import METRICS_MODEL_FEATURES, METRICS_MODEL_FILE, MetricsRatingModel, is_metrics_bundle
from ._report import PAPER_TABLE1, plot_confusion, plot_history, summary_markdown
from ._split import CellSplit, split_cells
from ._train import TrainResult, TrainSettings, encode_ratings, predict_probs, train_model

__all__ = [
    # training and evaluation (nntrain)
    "AugmentSettings",
    "CellSequence",
    "CellSplit",
    "PAPER_TABLE1",
    "TrainResult",
    "TrainSettings",
    "augment_cell",
    "class_weights",
    "encode_ratings",
    "evaluate_ratings",
    "plot_confusion",
    "plot_history",
    "predict_probs",
    "split_cells",
    "summary_markdown",
    "train_model",
    # interpretable metrics baseline (metrics)
    "METRICS_MODEL_FEATURES",
    "METRICS_MODEL_FILE",
    "MetricsRatingModel",
    "is_metrics_bundle",
    # models and bundles (nn-core)
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
