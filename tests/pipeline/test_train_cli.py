"""`ames-batch train` / `evaluate` end to end on a small synthetic demo plate (real zarr on disk)."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ames_batch.cli import main  # noqa: E402
from ames_batch.nn import PreprocessSettings, load_bundle  # noqa: E402
from ames_batch.pipeline import evaluate_plate, train_plate, write_demo_plate  # noqa: E402

# coarse voxels keep the plate small (fields of a few hundred px, a few slices)
SCALE = {"z": 1.0, "y": 0.32, "x": 0.32}
SMALL = PreprocessSettings(input_shape=(88, 88), target_um_per_px=0.8)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    report = write_demo_plate(root / "demo.zarr", n_wells=4, n_fields=2, cells_per_field=2, seed=5, scale_um=SCALE)
    return report.plate, report.truth_csv


@pytest.fixture(scope="module")
def metrics_model(demo, tmp_path_factory):
    """`train --arch metrics --tasks source` through the CLI, once for the tests that use its bundle."""
    plate, truth = demo
    model = tmp_path_factory.mktemp("metrics") / "metrics"
    res = CliRunner().invoke(main, ["-q", "train", str(plate), "--ratings", str(truth), "-o", str(model),
                                    "--labels", "truth", "--arch", "metrics", "--tasks", "source"])
    assert res.exit_code == 0, res.output
    return model


def _grouped_csv(truth_csv, tmp_path):
    table = pd.read_csv(truth_csv, dtype=str)
    table["group"] = "culture-" + table["well"].str.replace("/", "")  # one culture per well
    path = tmp_path / "grouped.csv"
    table.to_csv(path, index=False)
    return path, table


def test_train_and_evaluate_cli(demo, tmp_path):
    plate, truth = demo
    runner = CliRunner()
    model = tmp_path / "model"
    res = runner.invoke(main, ["-q", "train", str(plate), "--ratings", str(truth), "-o", str(model),
                               "--labels", "truth", "--epochs", "1", "--steps-per-epoch", "1",
                               "--batch-size", "4", "--tasks", "source,sarcomerisation"])
    assert res.exit_code == 0, res.output
    assert str(model) in res.output and "source=" in res.output
    rating = load_bundle(model)
    assert list(rating.tasks) == ["source", "sarcomerisation"]
    card = json.loads((model / "model.json").read_text())
    assert len(card["training"]["data_fingerprint"]) == 64
    split = json.loads((model / "split.json").read_text())
    parts = [set(split[k]) for k in ("train", "val", "test")]
    n_truth = len(pd.read_csv(truth))
    assert sum(map(len, parts)) == n_truth == len(set().union(*parts))  # every cell once
    assert (model / "checkpoints" / "last.keras").is_file()

    report = tmp_path / "report"
    res = runner.invoke(main, ["-q", "evaluate", str(model), str(plate), "--ratings", str(truth),
                               "--labels", "truth", "-o", str(report)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((report / "metrics.json").read_text())
    # only held-out cells are scored: the training and validation cells are refused
    assert metrics["n_cells"] == len(split["test"])
    assert metrics["n_excluded_training_cells"] == len(split["train"]) + len(split["val"])
    cm = np.asarray(metrics["metrics"]["source"]["confusion_matrix"])
    assert cm.sum() == len(split["test"])
    assert (report / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (report / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    assert (report / "training_curves.png").is_file()
    assert "| AMES 2D singular (paper) |" in (report / "summary.md").read_text()
    # how far the probabilities hold: the bins hold every scored cell, the table names the model
    bins = metrics["metrics"]["source"]["calibration"]["bins"]
    assert sum(b["n_cells"] for b in bins) == len(split["test"])
    assert all(b["from"] < b["mean_confidence"] <= b["to"] for b in bins)
    assert f"| {card['name']} | source |" in (report / "summary.md").read_text()


@pytest.mark.parametrize("verbosity", [[], ["-v"]])
def test_training_logs_one_line_per_fit_and_epochs_only_when_asked(demo, tmp_path, verbosity):
    """A fine-tuning's cross-validation fits dozens of models: a cron mail of every epoch is noise."""
    plate, truth = demo
    res = CliRunner().invoke(main, [*verbosity, "train", str(plate), "--ratings", str(truth), "-o",
                                    str(tmp_path / "m"), "--labels", "truth", "--epochs", "3", "--patience", "5",
                                    "--steps-per-epoch", "1", "--batch-size", "4", "--tasks", "source"])
    assert res.exit_code == 0, res.output
    assert ": 3 epochs, best val_loss " in res.output
    assert ("INFO epoch 1: loss" in res.output or "DEBUG epoch 1: loss" in res.output) == bool(verbosity)


def test_groups_never_straddle_splits_and_resume(demo, tmp_path):
    plate, truth = demo
    csv, table = _grouped_csv(truth, tmp_path)
    out = tmp_path / "m"
    train_plate(plate, csv, out, labels="truth", tasks=["source"], epochs=1, steps_per_epoch=1, batch_size=4,
                preprocess=SMALL)
    split = json.loads((out / "split.json").read_text())
    group_of = {f"{r.plate}/{r.well}/{r.field}/{r.label}": r.group for r in table.itertuples()}
    groups = [{group_of[c] for c in split[k]} for k in ("train", "val", "test")]
    assert all(groups) and not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])

    with pytest.raises(FileExistsError, match="resume"):
        train_plate(plate, csv, out, labels="truth", tasks=["source"], epochs=2, preprocess=SMALL)
    train_plate(plate, csv, out, labels="truth", tasks=["source"], epochs=2, steps_per_epoch=1, batch_size=4,
                preprocess=SMALL, resume=True)
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 2  # epoch 1 kept, epoch 2 added
    assert json.loads((out / "split.json").read_text()) == split


def test_evaluate_refuses_when_only_training_cells(demo, tmp_path):
    plate, truth = demo
    out = tmp_path / "m"
    train_plate(plate, truth, out, labels="truth", tasks=["source"], epochs=1, steps_per_epoch=1, batch_size=4,
                preprocess=SMALL)
    split = json.loads((out / "split.json").read_text())
    table = pd.read_csv(truth, dtype=str)
    ids = table["plate"] + "/" + table["well"] + "/" + table["field"] + "/" + table["label"]
    only_train = tmp_path / "train_only.csv"
    table[ids.isin(split["train"])].to_csv(only_train, index=False)
    with pytest.raises(ValueError, match="train"):
        evaluate_plate(out, plate, only_train, labels="truth", out=tmp_path / "r")


def test_cli_usage_errors(demo, tmp_path):
    plate, truth = demo
    runner = CliRunner()
    res = runner.invoke(main, ["train", str(plate), "--ratings", str(truth), "-o", str(tmp_path / "x"),
                               "--labels", "nope", "--epochs", "1"])
    assert res.exit_code == 2 and "nope" in res.output
    res = runner.invoke(main, ["train", str(plate), "--ratings", str(truth), "-o", str(tmp_path / "y"),
                               "--tasks", "colour"])
    assert res.exit_code == 2 and "colour" in res.output


def test_metrics_arch_trains_and_evaluates_like_the_cnn(demo, metrics_model, tmp_path):
    plate, truth = demo
    runner = CliRunner()
    model = metrics_model
    assert (model / "metrics_model.json").is_file() and (model / "split.json").is_file()
    res = runner.invoke(main, ["-q", "evaluate", str(model), str(plate), "--ratings", str(truth),
                               "--labels", "truth", "-o", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    split = json.loads((model / "split.json").read_text())
    assert metrics["n_cells"] == len(split["test"])
    assert set(metrics["metrics"]) == {"source"}


def test_evaluate_from_cron_prints_no_tensorflow_start_up_lines(demo, metrics_model, tmp_path):
    """A cron job mails whatever reaches stderr: TensorFlow's C++ start-up notes must not."""
    import subprocess
    import sys

    plate, truth = demo
    model = metrics_model
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "ames_batch.cli", "-q", "evaluate", str(model), str(plate),
                           "--ratings", str(truth), "--labels", "truth", "-o", str(tmp_path / "rep")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "oneDNN" not in done.stderr and "cuda" not in done.stderr.lower(), done.stderr


def test_hybrid_trains_rates_counts_the_unfamiliar_and_fine_tunes(demo, tmp_path):
    """--arch hybrid end to end: train, run (the summary line counts the cells flagged ood, as the
    CSV has them), then --init from it: the refitted heads compete with the other candidates."""
    plate, truth = demo
    runner = CliRunner()
    model = tmp_path / "hybrid"
    small = ["--input-px", "88", "--um-per-px", "0.8", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4"]
    res = runner.invoke(main, ["-q", "train", str(plate), "--ratings", str(truth), "-o", str(model),
                               "--labels", "truth", "--arch", "hybrid", *small])
    assert res.exit_code == 0, res.output
    card = json.loads((model / "model.json").read_text())
    assert card["arch"] == "hybrid" and "ood" in card
    assert set(card["tasks"]) == {"sarcomerisation", "directionality", "source"}

    csv = tmp_path / "rated.csv"
    res = runner.invoke(main, ["-q", "run", str(plate), "--model", str(model), "--explain", "gradcam",
                               "--out", str(csv), "--no-report"])
    assert res.exit_code == 0, res.output
    rows = pd.read_csv(csv)
    rated = rows[rows["status"] == "ok"]
    assert len(rated) and rated["ood_score"].notna().all()
    n_ood = int(rated["ood"].astype(str).str.lower().eq("true").sum())
    assert f"\t{n_ood} ood" in res.output.strip().splitlines()[-1]

    tuned = tmp_path / "tuned"
    res = runner.invoke(main, ["-q", "train", str(plate), "--ratings", str(truth), "-o", str(tuned),
                               "--labels", "truth", "--init", str(model), "--folds", "2", "--epochs", "1",
                               "--steps-per-epoch", "1", "--batch-size", "4", "--tasks", "sarcomerisation"])
    assert res.exit_code == 0, res.output
    selection = json.loads((tuned / "model.json").read_text())["training"]["selection"]
    assert set(selection["candidates"]) == {"initial", "fine-tuned", "metrics", "heads", "recalibrated"}
    kept = json.loads((tuned / "model.json").read_text())
    assert set(kept["tasks"]) == {"sarcomerisation", "directionality", "source"}  # unrated tasks kept


def test_init_from_a_metrics_model_is_refused_with_a_clear_message(demo, metrics_model, tmp_path):
    plate, truth = demo
    runner = CliRunner()
    model = metrics_model
    res = runner.invoke(main, ["train", str(plate), "--ratings", str(truth), "-o", str(tmp_path / "t"),
                               "--labels", "truth", "--init", str(model)])
    assert res.exit_code == 2 and "fine-tuning starts from a singular CNN or a hybrid" in res.output
    assert not (tmp_path / "t").exists()


def test_the_default_model_recipe_trains_through_the_same_core_as_the_cli(demo, tmp_path):
    """Issue #13 defect 7: examples/train_default_model.py ends in `train_cells`, as `ames-batch train`
    does: the same bundle files, the same per-cell table, cells measured as `run` measures them."""
    import subprocess
    import sys
    from pathlib import Path

    from ames_batch.metrics import METRIC_NAMES
    from ames_batch.nn import load_rater

    example = Path(__file__).parents[2] / "examples" / "train_default_model.py"
    out = tmp_path / "example"
    done = subprocess.run([sys.executable, str(example), "--arch", "metrics", "--n-cells", "12", "--workers", "1",
                           "--out", str(out), "--work", str(tmp_path / "work")], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    plate, truth = demo
    cli = tmp_path / "cli"
    res = CliRunner().invoke(main, ["-q", "train", str(plate), "--ratings", str(truth), "-o", str(cli),
                                    "--labels", "truth", "--arch", "metrics"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in cli.iterdir())
    example_cells, cli_cells = pd.read_csv(out / "cells.csv"), pd.read_csv(cli / "cells.csv")
    assert list(example_cells.columns) == list(cli_cells.columns) and set(METRIC_NAMES) <= set(cli_cells.columns)
    assert len(example_cells) == 24 and set(example_cells["well"]) == {"look-a", "look-b"}
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["data"]["looks"] == ["a", "b"]
    assert set(load_rater(out).tasks) == {"sarcomerisation", "directionality", "source"}


def test_the_recipe_refits_a_hybrids_heads_on_its_own_cnn(demo, metrics_model, tmp_path):
    """examples/train_default_model.py --heads-on: the CNN's weights stay as they were, the heads read
    every metric of today (how a new metric reaches the default without retraining the network)."""
    import subprocess
    import sys
    from pathlib import Path

    from ames_batch.nn import METRICS_MODEL_FEATURES, load_rater

    plate, truth = demo
    model = tmp_path / "hybrid"
    small = ["--input-px", "88", "--um-per-px", "0.8", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4"]
    res = CliRunner().invoke(main, ["-q", "train", str(plate), "--ratings", str(truth), "-o", str(model),
                                    "--labels", "truth", "--arch", "hybrid", *small])
    assert res.exit_code == 0, res.output
    example = Path(__file__).parents[2] / "examples" / "train_default_model.py"

    def recipe(bundle, out):
        return subprocess.run([sys.executable, str(example), "--heads-on", str(bundle), "--n-cells", "48",
                               "--workers", "1", "--out", str(out), "--work", str(tmp_path / "work")],
                              capture_output=True, text=True, timeout=600)

    done = recipe(model, tmp_path / "refit")
    assert done.returncode == 0, done.stderr
    before, after = load_rater(model), load_rater(tmp_path / "refit")
    for w0, w1 in zip(before.cnn.model.keras_model.get_weights(), after.cnn.model.keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)
    assert all(set(METRICS_MODEL_FEATURES) <= set(h.features) for h in after.heads.values())
    card = json.loads((tmp_path / "refit" / "model.json").read_text())
    assert card["training"]["data"]["looks"] == ["a", "b"] and "--heads-on" in card["training"]["command"]
    assert card["training"]["cnn_from"]["bundle"] == before.identity
    assert card["training"]["settings"]["cnn"] == {"init": before.identity}

    refused = recipe(metrics_model, tmp_path / "no")
    assert refused.returncode == 2 and "neither a hybrid nor a singular 2d/3d CNN bundle" in refused.stderr
    assert not (tmp_path / "no").exists()
