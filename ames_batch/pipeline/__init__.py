"""Orchestration: demo, convert, run, train, evaluate; the only room that knows io and the array rooms.

Names load lazily (as in scikit-image); TensorFlow is imported only when a CNN is loaded,
built or trained, never for a metrics model or a rerun with nothing to do.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_convert": ["ConvertReport", "convert_files"],
        "_demo": ["DemoReport", "write_demo_plate"],
        "_run": ["RunReport", "default_model_path", "ratings_csv_path", "run_plate"],
        "_score": ["score_run"],
        "_report": ["ReportFiles", "report_path", "wells_csv_path", "write_plate_report"],
        "_cells": ["CELL_MARGIN_UM", "SATURATED_CELL_SHARE", "CellRecord", "extract_cells", "prepare_cells",
                   "records_table"],
        "_field_input": ["FieldData", "read_field_data", "read_field_window"],
        "_train": ["TrainReport", "TrainingCells", "collect_cells", "train_cells", "train_plate"],
        "_evaluate": ["EvaluateReport", "evaluate_plate"],
        "_synthetic": ["SyntheticCell", "design", "synthetic_cell"],
        "_sample": ["SampleReport", "pick_cells", "sample_cells", "sampling_weights"],
    },
)
