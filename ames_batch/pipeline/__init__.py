from ._convert import ConvertReport, convert_files
from ._demo import DemoReport, write_demo_plate
from ._run import RunReport, default_model_path, ratings_csv_path, run_plate
from ._score import score_run

__all__: list[str] = ["ConvertReport", "convert_files"]
__all__ += ["DemoReport", "RunReport", "default_model_path", "ratings_csv_path", "run_plate", "score_run", "write_demo_plate"]
from ._train import CellTable, TrainReport, collect_cells, train_plate  # noqa: E402
from ._evaluate import EvaluateReport, evaluate_plate  # noqa: E402

__all__ += ["CellTable", "EvaluateReport", "TrainReport", "collect_cells", "evaluate_plate", "train_plate"]
