"""Rating models: the rater protocol, its kinds (CNN bundles, the metrics model, the hybrid of both), training, bundles.

Names load lazily (as in scikit-image) and nothing here imports TensorFlow until a CNN is
built, loaded or trained: a metrics model and a rerun with nothing to do never pay for it.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        # the rater protocol and its kinds
        "_rater": ["BundleRater", "CellExplanation", "Prepares", "Rater", "RaterInfo", "Rating", "load_rater", "rater_info", "register_rater_kind"],
        "_cnn_rater": ["FEATURE_LAYER", "CNNInput", "CNNRater", "cnn_input"],
        "_metrics_rater": ["MetricsRater", "metrics_input"],
        "_hybrid_rater": ["HYBRID_ARCH", "HybridInput", "HybridRater", "HybridTrainer", "hybrid_input"],
        "_recalibrate": ["HeadRecalibrator"],
        "_trainers": ["FineTuneSettings", "FitResult", "Trainer", "add_ood_statistics", "fit_rater_ood", "make_trainer",
                       "tuning_candidates"],
        "_ood": ["OOD_QUANTILE", "OODStatistics", "fit_ood"],
        # models and bundles
        "_architectures": ["ARCHS", "Ensemble", "build_model", "min_input_size"],
        "_bundle": ["FORMAT_VERSION", "load_bundle", "make_card", "model_card_schema", "read_card", "save_bundle",
                    "write_bundle"],
        "_predict": ["ExplainTarget", "RatingModel"],
        "_preprocess": ["CellGeometry", "PreprocessSettings", "cell_input_2d", "cell_input_3d"],
        "_metrics_model": ["METRICS_MODEL_FEATURES", "METRICS_MODEL_FILE", "MetricsRatingModel"],
        # training and evaluation
        "_augment": ["AugmentSettings", "augment_cell"],
        "_dataset": ["CellSequence", "class_weights"],
        "_evaluate": ["CALIBRATION_BINS", "calibration", "encode_ratings", "evaluate_ratings"],
        "_report": ["PAPER_TABLE1", "plot_calibration", "plot_confusion", "plot_history", "summary_markdown"],
        "_split": ["CellSplit", "split_cells"],
        "_train": ["TrainResult", "TrainSettings", "adapt_batchnorm", "fine_tune_model", "fit_model", "predict_probs", "train_model"],
    },
)
