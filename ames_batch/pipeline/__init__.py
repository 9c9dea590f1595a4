"""Orchestration: demo, convert, run, train, evaluate; the only room that knows io and the array rooms.

Names load lazily (as in scikit-image): ``ames-batch convert`` must not pay TensorFlow's
start-up, which only `run`, `train` and `evaluate` need.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_convert": ["ConvertReport", "convert_files"],
        "_demo": ["DemoReport", "write_demo_plate"],
        "_run": ["RunReport", "default_model_path", "ratings_csv_path", "run_plate"],
        "_score": ["score_run"],
        "_train": ["CellTable", "TrainReport", "collect_cells", "train_plate"],
        "_evaluate": ["EvaluateReport", "evaluate_plate"],
    },
)
