"""`train --init`: grouped cross-validation of the candidates, the kept bundle and its report."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ames_batch.cli import main
from ames_batch.metrics import METRIC_NAMES
from ames_batch.nn import BundleRater, PreprocessSettings, build_model, load_rater, make_card, make_trainer, save_bundle
from ames_batch.pipeline import evaluate_plate, write_demo_plate
from ames_batch.pipeline._crossval import Candidate, cross_validate, fold_splits
from ames_batch.vocabulary import TASK_CLASSES, expected_rating

CLASSES = {t: list(c) for t, c in TASK_CLASSES.items()}


class _Rule(BundleRater):
    """A rater of one task by a planted rule on a number (no TensorFlow): class k where x falls in bin k."""

    card = {}
    needs_stack = False
    explanations = default_explanations = ()
    batch_size = 64

    def __init__(self, edges):
        self.edges = edges
        self.tasks = {"sarcomerisation": tuple(CLASSES["sarcomerisation"])}

    preparer = staticmethod(lambda cell, field: cell)

    def predict_proba(self, batch):
        return {"sarcomerisation": np.eye(4)[np.searchsorted(self.edges, [b["organised_fraction"] for b in batch])]}

    def explain(self, method, batch, probabilities):
        raise ValueError(method)


def _cells(rng, n_groups=12, per_group=8):
    x = rng.uniform(0, 1, n_groups * per_group)
    truth = np.asarray(CLASSES["sarcomerisation"])[np.searchsorted([0.25, 0.5, 0.75], x)]
    rows = [{**{m: float(rng.normal()) for m in METRIC_NAMES}, "organised_fraction": float(v)} for v in x]
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per_group)
    return rows, {"sarcomerisation": truth}, [f"p/A/{i}/0/1" for i in range(x.size)], groups


def test_folds_hold_whole_groups_and_every_cell_once(rng):
    _, ratings, ids, groups = _cells(rng)
    strata = np.searchsorted(CLASSES["sarcomerisation"], ratings["sarcomerisation"])
    splits = fold_splits(ids, strata, groups, folds=4, val_fraction=0.15, seed=0)
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested.tolist()) == list(range(len(ids)))
    for s in splits:
        parts = [set(groups[s.indices(k)]) for k in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert s.train.size + s.val.size + s.test.size == len(ids) and s.val.size > 0


def test_cross_validation_scores_every_candidate_out_of_fold(rng):
    rows, ratings, ids, groups = _cells(rng)
    exact, shifted = _Rule([0.25, 0.5, 0.75]), _Rule([0.35, 0.6, 0.85])
    candidates = [Candidate("initial", rows, rater=shifted, tasks=("sarcomerisation",)),
                  Candidate("exact", rows, rater=exact, tasks=("sarcomerisation",)),
                  Candidate("metrics", rows, trainer=make_trainer("metrics"), tasks=("sarcomerisation",))]
    cv = cross_validate(candidates, ratings, ids, groups, classes={"sarcomerisation": CLASSES["sarcomerisation"]},
                        grouped_by="group", folds=4, seed=1)
    truth = ratings["sarcomerisation"]
    reference = np.mean(np.asarray(CLASSES["sarcomerisation"])[np.argmax(
        shifted.predict_proba(rows)["sarcomerisation"], axis=1)] == truth)
    assert cv.scores["initial"]["sarcomerisation"]["accuracy"] == pytest.approx(reference)
    assert cv.scores["exact"]["sarcomerisation"] == {"accuracy": 1.0, "ci95": [1.0, 1.0], "n_cells": len(rows)}
    assert cv.winner == "exact"
    # the metrics model learns the planted rule from the other folds (organised_fraction carries it;
    # ~55 training cells and 15 noise features keep it from perfect), far above chance (0.25)
    assert cv.scores["metrics"]["sarcomerisation"]["accuracy"] >= 0.5
    lo, hi = cv.scores["initial"]["sarcomerisation"]["ci95"]
    assert lo < reference < hi and hi - lo < 0.4
    diff = cv.differences["exact"]["sarcomerisation"]
    assert diff["difference"] == pytest.approx(1 - reference) and diff["ci95"][0] > 0
    table = cv.markdown()
    assert "| exact **(kept)** | 100 % [100–100] |" in table and "4-fold cross-validation by group" in table


def test_a_candidate_that_rates_fewer_tasks_cannot_win(rng):
    rows, ratings, ids, groups = _cells(rng)
    candidates = [Candidate("initial", rows, rater=_Rule([0.35, 0.6, 0.85]), tasks=("sarcomerisation", "source")),
                  Candidate("exact", rows, rater=_Rule([0.25, 0.5, 0.75]), tasks=("sarcomerisation",))]
    cv = cross_validate(candidates, ratings, ids, groups, classes={"sarcomerisation": CLASSES["sarcomerisation"]},
                        grouped_by="group", folds=3, required_tasks=("sarcomerisation", "source"))
    assert cv.winner == "initial" and cv.mean_accuracy("exact") > cv.mean_accuracy("initial")


SCALE = {"z": 1.0, "y": 0.32, "x": 0.32}


@pytest.fixture(scope="module")
def plate_and_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("init")
    demo = write_demo_plate(root / "demo.zarr", n_wells=6, n_fields=2, cells_per_field=2, seed=5, scale_um=SCALE)
    settings = PreprocessSettings(input_shape=(88, 88), target_um_per_px=0.8)
    model = build_model("2d", input_shape=settings.input_shape, tasks=CLASSES, seed=0, um_per_px=0.8)
    card = make_card(name="initial-2d", version="0.1", tasks=CLASSES, settings=settings,
                     training={"data_fingerprint": "none", "split": {"train": 0}})
    return demo, save_bundle(model, card, root / "initial")


@pytest.mark.slow
def test_train_init_keeps_the_winner_and_reports_the_candidates(plate_and_model, tmp_path):
    demo, initial = plate_and_model
    truth = pd.read_csv(demo.truth_csv, dtype=str)
    truth.drop(columns=["directionality", "source", "group"]).to_csv(tmp_path / "sarc.csv", index=False)
    out = tmp_path / "model"
    res = CliRunner().invoke(main, ["-q", "train", str(demo.plate), "--ratings", str(tmp_path / "sarc.csv"),
                                    "--init", str(initial), "--folds", "3", "--labels", "truth", "-o", str(out),
                                    "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "4"])
    assert res.exit_code == 0, res.output
    card = json.loads((out / "model.json").read_text())
    selection = card["training"]["selection"]
    assert selection["folds"] == 3 and selection["grouped_by"] == "well" and selection["initial"] == "initial"
    candidates = selection["candidates"]
    assert set(candidates) == {"initial", "fine-tuned", "metrics"}
    # the initial model is not refitted: its out-of-fold accuracy is its accuracy on every rated cell
    everything = evaluate_plate(initial, demo.plate, tmp_path / "sarc.csv", labels="truth", out=tmp_path / "ev")
    assert candidates["initial"]["tasks"]["sarcomerisation"]["accuracy"] == pytest.approx(
        everything.metrics["sarcomerisation"]["accuracy"])
    for c in candidates.values():
        lo, hi = c["tasks"]["sarcomerisation"]["ci95"]
        assert lo <= c["tasks"]["sarcomerisation"]["accuracy"] <= hi
    eligible = {n: c["mean_accuracy"] for n, c in candidates.items() if n != "metrics"}  # it cannot rate source
    assert selection["winner"] == max(eligible, key=eligible.get)
    assert f"kept={selection['winner']}" in res.output
    summary = (out / "summary.md").read_text()
    assert f"Kept: **the {selection['winner']} model**" in summary and "| fine-tuned" in summary
    assert json.loads((out / "metrics.json").read_text())["selection"] == selection
    kept, first = load_rater(out), load_rater(initial)
    assert list(kept.tasks) == list(CLASSES)
    assert (kept.ood is not None) == (selection["winner"] == "fine-tuned")  # the initial one had none
    for layer in ("source_dense20", "source_logits", "directionality_logits"):  # not rated: never trained
        for a, b in zip(first.model.keras_model.get_layer(layer).get_weights(),
                        kept.model.keras_model.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_train_init_refuses_what_it_cannot_fine_tune(plate_and_model, tmp_path):
    demo, _ = plate_and_model
    runner = CliRunner()
    res = runner.invoke(main, ["train", str(demo.plate), "--ratings", str(demo.truth_csv), "--init", "nowhere",
                               "-o", str(tmp_path / "a")])
    assert res.exit_code == 2 and "nowhere" in res.output
    res = runner.invoke(main, ["train", str(demo.plate), "--ratings", str(demo.truth_csv), "--init", "default",
                               "--input-px", "96", "-o", str(tmp_path / "b")])
    assert res.exit_code == 2 and "initial model's" in res.output


# ---- the facility's path end to end (issue #16's checks): sample, rate, fine-tune, flag -----------------
#: A facility expert stricter than the generator's rules (0.20 / 0.45 / 0.70 organised fraction)
FACILITY_EDGES = (0.30, 0.55, 0.80)
#: The held-out look no model is trained on ("d": other cells and a spinning-disk camera, written
#: apart from "a" and "b", which the default saw), at a coarser camera pixel than the demo's 0.16 µm
#: (still finer than the model's 0.3 µm input): another microscope, and a plate written in minutes
OTHER_LOOK, OTHER_SCALE = "d", {"z": 1.0, "y": 0.24, "x": 0.24}
KEY = ["well", "field", "label"]


def _truth_of_run_cells(plate, truth_csv, edges=None):
    """The truth of each cell `run` found (``labels/cells`` matched to ``labels/truth`` at IoU 0.5),
    sarcomerisation re-binned at `edges` when given (an expert with other class boundaries)."""
    from ames_batch.io import list_fields, read_labels
    from ames_batch.segment import match_labels

    truth = pd.read_csv(truth_csv, dtype={"field": str})
    if edges is not None:
        truth["sarcomerisation"] = np.searchsorted(edges, truth["param_organised_fraction"], side="right") + 1
    by_cell = truth.set_index(KEY)
    rows = []
    for key in list_fields(plate):
        found, _ = read_labels(plate, key, "cells")
        true, _ = read_labels(plate, key, "truth")
        for cell, label, _ in match_labels(np.asarray(found[0]), np.asarray(true[0]), iou_threshold=0.5).pairs:
            t = by_cell.loc[(key.well, key.field, int(label))]
            rows.append({"well": key.well, "field": key.field, "label": int(cell), "sarcomerisation": int(t.sarcomerisation),
                         "directionality": int(t.directionality), "source": t.source})
    return pd.DataFrame(rows)


def _hindsight_ceiling(run_csv, truth: pd.DataFrame) -> float:
    """Sarcomerisation accuracy of the run's expected rating (sum of class x probability) cut at
    the three boundaries that fit `truth` best, chosen on those very cells: no boundaries on that
    score can rate them better."""
    run = pd.read_csv(run_csv, dtype={"field": str})
    merged = truth.merge(run, on=KEY, suffixes=("", "_run"))
    score = expected_rating(merged[[f"p_sarcomerisation_{k}" for k in CLASSES["sarcomerisation"]]].to_numpy(),
                            "sarcomerisation")
    classes = list(CLASSES["sarcomerisation"])
    y = merged["sarcomerisation"].astype(str).map(classes.index).to_numpy()[np.argsort(score)]
    # best monotone labelling of the sorted cells: best[k] = most hits so far with the last cell in class <= k
    best = np.zeros(len(classes))
    for v in y:
        best = np.maximum.accumulate(best + (np.arange(len(classes)) == v))
    return float(best[-1] / y.size)


def _accuracy(run_csv, truth: pd.DataFrame) -> dict:
    run = pd.read_csv(run_csv, dtype={"field": str, "sarcomerisation": str, "directionality": str})
    merged = truth.astype({"sarcomerisation": str, "directionality": str}).merge(run, on=KEY, suffixes=("", "_run"))
    return {t: float((merged[t] == merged[f"{t}_run"]).mean()) for t in TASK_CLASSES} | {"n": len(merged)}


@pytest.fixture(scope="module")
def default_with_ood(tmp_path_factory):
    """The bundled default; its card carries the ood statistics of its own training cells."""
    from ames_batch.nn import read_card
    from ames_batch.pipeline import default_model_path

    path = default_model_path("2d")
    assert "ood" in read_card(path), "the bundled default has no ood statistics: retrain it"
    return path


@pytest.fixture(scope="module")
def facility(tmp_path_factory, default_with_ood):
    """A plate of the look the default did not see, rated by the default, 96 cells sampled, their
    sheet filled in by a stricter expert (the truth at `FACILITY_EDGES`), the default fine-tuned on
    it and the plate rated again."""
    from ames_batch.pipeline import run_plate, sample_cells, train_plate

    root = tmp_path_factory.mktemp("facility")
    demo = write_demo_plate(root / "other.zarr", n_wells=24, n_fields=4, cells_per_field=2, seed=21,
                            look=OTHER_LOOK, scale_um=OTHER_SCALE)
    run_plate(demo.plate, model=default_with_ood, explain=(), out_csv=root / "default.csv")
    sample = sample_cells(demo.plate, 96, root / "sheet", seed=0)
    # the same seed on the same ratings (the run of the tuned model below changes them, and with
    # them the sampling weights: the sheet taken after it differed, rightly)
    again = sample_cells(demo.plate, 96, root / "sheet-again", seed=0)
    truth = _truth_of_run_cells(demo.plate, demo.truth_csv, FACILITY_EDGES)
    sheet = pd.read_csv(sample.csv, dtype={"field": str})[["plate", *KEY]]
    sheet.merge(truth, on=KEY, how="left").to_csv(root / "rated.csv", index=False)  # unmatched: left empty
    report = train_plate(demo.plate, root / "rated.csv", root / "model", init=default_with_ood, folds=5)
    run_plate(demo.plate, model=root / "model", explain=(), force=True, out_csv=root / "tuned.csv")
    rest = truth.merge(sheet[KEY], on=KEY, how="left", indicator=True)
    rest = rest[rest["_merge"] == "left_only"].drop(columns="_merge")
    return {"root": root, "demo": demo, "sample": sample, "again": again, "report": report, "rest": rest}


@pytest.mark.slow
def test_the_same_seed_gives_the_same_sheet(facility):
    assert facility["again"].csv.read_bytes() == facility["sample"].csv.read_bytes()
    assert facility["sample"].n_cells == 96 and facility["sample"].wells == 24


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "issue #16 target not reached (measured 2026-12-05 with the default 2.1 on the held-out look d; "
    "175 of 192 cells found at IoU 0.5): out of fold on the 94 rated cells no candidate beats the "
    "initial model beyond its interval (fine-tuned -6 points of sarcomerisation [-19 to +7], "
    "recalibrated sarcomerisation -6); the kept model (source recalibrated) rates the 81 matched "
    "cells not sampled: sarcomerisation 63 % (default 63 %), directionality 85 % (85 %), source 67 % (63 %); "
    "the default's expected sarcomerisation cut with hindsight rates those 81 cells 79.0 % right (all 175: "
    "74.9 %), short of the default's 63 % + 20 points"))
def test_fine_tuning_beats_the_default_on_the_cells_not_sampled(facility):
    root, rest = facility["root"], facility["rest"]
    before, after = _accuracy(root / "default.csv", rest), _accuracy(root / "tuned.csv", rest)
    print(f"\nnot sampled, n = {before['n']}: default {before}, kept ({facility['report'].selection['winner']}) {after}")
    ceiling = _hindsight_ceiling(root / "default.csv", rest)
    print(f"the default's expected sarcomerisation cut with hindsight: {ceiling:.3f}")
    assert before["n"] >= 50
    assert after["sarcomerisation"] >= before["sarcomerisation"] + 0.20
    assert after["sarcomerisation"] >= 0.75 and after["directionality"] >= 0.85 and after["source"] >= 0.90


@pytest.mark.slow
def test_cells_of_the_trained_look_are_seldom_flagged(default_with_ood, tmp_path):
    from ames_batch.pipeline import run_plate

    demo = write_demo_plate(tmp_path / "a.zarr", n_wells=8, n_fields=2, cells_per_field=3, seed=11)
    run_plate(demo.plate, model=default_with_ood, explain=(), out_csv=tmp_path / "a.csv")
    run = pd.read_csv(tmp_path / "a.csv")
    run = run[run["status"] == "ok"]
    print(f"\nlook a: {run['ood'].mean():.1%} of {len(run)} cells flagged")
    assert len(run) >= 40 and run["ood"].mean() <= 0.10


@pytest.mark.slow
def test_flagged_cells_of_another_look_are_rated_less_accurately(facility):
    """Measured 2026-12-05 with the default 2.1 on look d: 6 of 175 matched cells flagged (3.4 %;
    look a 4.3 %), rated right 39 % of the time against 74 % for the rest. (On look c, a's cells
    behind b's camera, 2 of 139 were flagged: too few to compare.)"""
    root, demo = facility["root"], facility["demo"]
    truth = _truth_of_run_cells(demo.plate, demo.truth_csv)  # the generator's own rules: the default's
    run = pd.read_csv(root / "default.csv", dtype={"field": str, "sarcomerisation": str, "directionality": str})
    merged = truth.astype({"sarcomerisation": str, "directionality": str}).merge(run, on=KEY, suffixes=("", "_run"))
    hits = np.mean([merged[t] == merged[f"{t}_run"] for t in TASK_CLASSES], axis=0)
    flagged = merged["ood"].astype(bool).to_numpy()
    print(f"\nlook {OTHER_LOOK}: {flagged.mean():.1%} of {len(merged)} matched cells flagged")
    assert 5 <= flagged.sum() <= len(merged) - 5
    print(f"mean accuracy flagged {hits[flagged].mean():.3f}, unflagged {hits[~flagged].mean():.3f}")
    assert hits[flagged].mean() < hits[~flagged].mean()
