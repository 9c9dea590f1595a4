"""MetricsRatingModel: fit, predict, JSON round trip, NaN handling, checks; sklearn as reference."""

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest

from ames_batch.errors import ModelBundleError
from ames_batch.metrics import METRIC_NAMES, METRICS_VERSION
from ames_batch.nn._metrics_model import (
    METRICS_MODEL_FEATURES,
    METRICS_MODEL_FILE,
    MetricsRatingModel,
)


@pytest.fixture
def rng():
    return np.random.default_rng(8)


def _table(rng, n=120):
    """Metrics whose ratings follow planted rules (+ noise features), as cell_metrics would give."""
    org = rng.uniform(0, 1, n)
    angle = rng.uniform(0, 90, n)
    length = rng.uniform(15, 140, n)
    cols = {name: rng.normal(0, 1, n) for name in METRIC_NAMES}
    cols["organised_fraction"] = org
    cols["zdisc_angle_deg"] = angle
    cols["length_um"] = length
    cols["aspect_ratio"] = 1.2 + length / 30 + rng.normal(0, 0.2, n)
    table = pd.DataFrame(cols)
    ratings = {
        "sarcomerisation": [str(int(v)) for v in np.digitize(org, [0.25, 0.5, 0.75]) + 1],
        "directionality": [str(int(v)) for v in np.digitize(angle, [22.5, 45, 67.5]) + 1],
        "source": np.where(length > 100, "adult", np.where(length > 55, "neonatal", "ipsc")).tolist(),
    }
    return table, ratings


def test_learns_planted_rules_on_held_out_cells(rng):
    table, ratings = _table(rng, 400)
    train = slice(0, 300)
    test = slice(300, 400)
    model = MetricsRatingModel(c=100.0).fit(table.iloc[train], {t: v[train] for t, v in ratings.items()})
    probs = model.predict_proba(table.iloc[test])
    assert set(probs) == {"sarcomerisation", "directionality", "source"}
    for task, p in probs.items():
        assert p.shape == (100, len(model.classes[task])) and p.dtype == np.float64
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
        predicted = np.array(model.classes[task])[p.argmax(axis=1)]
        accuracy = np.mean(predicted == np.array(ratings[task][test]))
        # ordinal bins of one planted feature are linearly separable up to the bin edges
        assert accuracy > 0.85, (task, accuracy)
    assert model.classes == {"sarcomerisation": ["1", "2", "3", "4"],
                             "directionality": ["1", "2", "3", "4"],
                             "source": ["adult", "neonatal", "ipsc"]}


def test_matches_sklearn_pipeline(rng):
    """Our numpy prediction equals scikit-learn's own predict_proba of the same fit."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    table, ratings = _table(rng, 150)
    model = MetricsRatingModel(tasks=["source"]).fit(table, ratings)
    x = table[list(METRICS_MODEL_FEATURES)].to_numpy()
    ref = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
    ref.fit(x, ratings["source"])
    want = ref.predict_proba(x)[:, [list(ref.classes_).index(k) for k in model.classes["source"]]]
    np.testing.assert_allclose(model.predict_proba(table)["source"], want, rtol=1e-6, atol=1e-9)


def test_json_round_trip_predicts_identically(rng, tmp_path):
    table, ratings = _table(rng, 80)
    model = MetricsRatingModel().fit(table, ratings)
    path = model.save(tmp_path / "model")
    assert path.name == METRICS_MODEL_FILE and path.is_file()
    data = json.loads(path.read_text())  # plain JSON, nothing pickled
    assert data["features"] == list(METRICS_MODEL_FEATURES)
    assert len(data["medians"]) == len(data["mean"]) == len(data["scale"]) == len(METRICS_MODEL_FEATURES)
    assert sorted(p.name for p in path.parent.iterdir()) == [METRICS_MODEL_FILE]
    loaded = MetricsRatingModel.load(tmp_path / "model")
    a, b = model.predict_proba(table), loaded.predict_proba(table)
    for task in a:
        np.testing.assert_array_equal(a[task], b[task])
    assert loaded.classes == model.classes
    assert loaded.coefficients() == model.coefficients()


def test_nan_metrics_are_filled_with_training_medians(rng, tmp_path):
    table, ratings = _table(rng, 60)
    table.loc[::3, "sarcomere_length_um"] = np.nan
    table["oop"] = np.nan  # never defined in training: median 0
    model = MetricsRatingModel(tasks=["sarcomerisation"]).fit(table, ratings)
    col = list(METRICS_MODEL_FEATURES).index("sarcomere_length_um")
    assert model.medians_[col] == pytest.approx(np.nanmedian(table["sarcomere_length_um"]))
    assert model.medians_[list(METRICS_MODEL_FEATURES).index("oop")] == 0.0
    row = table.iloc[[1]].copy()
    filled = row.copy()
    row["sarcomere_length_um"] = np.nan
    filled["sarcomere_length_um"] = model.medians_[col]
    np.testing.assert_array_equal(model.predict_proba(row)["sarcomerisation"],
                                  model.predict_proba(filled)["sarcomerisation"])
    model.save(tmp_path)
    loaded = MetricsRatingModel.load(tmp_path)
    np.testing.assert_array_equal(loaded.medians_, model.medians_)
    assert np.all(np.isfinite(loaded.predict_proba(row)["sarcomerisation"]))


def test_unseen_classes_get_zero_and_partial_ratings(rng):
    table, ratings = _table(rng, 60)
    sarc = ["1" if v in ("1", "2") else "4" for v in ratings["sarcomerisation"]]  # binary
    source = [None if i % 2 else "ipsc" for i in range(60)]  # one class, half unrated
    model = MetricsRatingModel(tasks=["sarcomerisation", "source"]).fit(
        table, {"sarcomerisation": sarc, "source": source})
    p = model.predict_proba(table)
    assert np.all(p["sarcomerisation"][:, [1, 2]] == 0.0)
    np.testing.assert_allclose(p["sarcomerisation"].sum(axis=1), 1.0)
    np.testing.assert_array_equal(p["source"], np.tile([0.0, 0.0, 1.0], (60, 1)))
    pred = model.predict(table)["sarcomerisation"]
    assert np.mean(pred == np.array(sarc)) > 0.9


def test_empty_table_predicts_empty_arrays(rng):
    table, ratings = _table(rng, 30)
    model = MetricsRatingModel().fit(table, ratings)
    for probs in (model.predict_proba(table.iloc[:0]), model.predict_proba([])):
        assert {t: p.shape for t, p in probs.items()} == {
            "sarcomerisation": (0, 4), "directionality": (0, 4), "source": (0, 3)}


def test_accepts_list_of_cell_metrics_dicts_and_int_ratings(rng):
    table, ratings = _table(rng, 40)
    rows = table.to_dict(orient="records")
    ints = {"directionality": [int(v) for v in ratings["directionality"]]}
    a = MetricsRatingModel(tasks=["directionality"]).fit(rows, ints).predict_proba(rows)
    b = MetricsRatingModel(tasks=["directionality"]).fit(table, ratings).predict_proba(table)
    np.testing.assert_allclose(a["directionality"], b["directionality"], rtol=1e-10)


def test_checks(rng, tmp_path):
    table, ratings = _table(rng, 20)
    with pytest.raises(ValueError, match="not fitted"):
        MetricsRatingModel().predict_proba(table)
    with pytest.raises(ValueError, match=r"lacks feature column\(s\) \['oop'\]"):
        MetricsRatingModel().fit(table.drop(columns=["oop"]), ratings)
    with pytest.raises(ValueError, match=r"sarcomerisation ratings \['5'\]"):
        MetricsRatingModel().fit(table, {"sarcomerisation": ["5"] * 20})
    with pytest.raises(ValueError, match="20 cells"):
        MetricsRatingModel().fit(table, {"source": ["ipsc"] * 19})
    with pytest.raises(ValueError, match="empty"):
        MetricsRatingModel().fit(table.iloc[:0], {"source": []})
    with pytest.raises(ValueError, match="unknown task"):
        MetricsRatingModel(tasks=["beauty"])
    with pytest.raises(ValueError, match="`c`"):
        MetricsRatingModel(c=0)
    with pytest.raises(TypeError, match="metrics_table"):
        MetricsRatingModel().fit("table.csv", ratings)
    with pytest.raises(ModelBundleError, match="no metrics_model.json"):
        MetricsRatingModel.load(tmp_path)
    model = MetricsRatingModel().fit(table, ratings)
    path = model.save(tmp_path)
    data = json.loads(path.read_text())
    data["version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ModelBundleError, match="version 99"):
        MetricsRatingModel.load(tmp_path)
    data["version"] = 1
    data["tasks"]["source"]["coef"] = [[0.0]]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelBundleError, match="inconsistent"):
        MetricsRatingModel.load(tmp_path)
    path.write_text("{not json")
    with pytest.raises(ModelBundleError, match="not valid JSON"):
        MetricsRatingModel.load(tmp_path)


@pytest.mark.slow
def test_end_to_end_on_synthetic_cells():
    """cell_metrics of synthetic cells -> model -> better than chance on held-out cells."""
    synth = pytest.importorskip("ames_batch.synth")
    from ames_batch.metrics import cell_metrics

    rows, ratings = [], {"sarcomerisation": [], "directionality": [], "source": []}
    for seed in range(48):
        rng = np.random.default_rng(500 + seed)
        params = synth.sample_cell_params(rng, sarcomerisation=seed % 4 + 1,
                                          directionality=(seed // 4) % 4 + 1)
        field = synth.synthesize_field(rng, cell_params=[params], scale_um=synth.DEMO_SCALE_UM)
        cell = field.cells[0]
        rows.append(cell_metrics(field.stack.max(axis=0), field.cell_labels == cell.label,
                                 field.scale_um["x"]))
        ratings["sarcomerisation"].append(str(cell.sarcomerisation))
        ratings["directionality"].append(str(cell.directionality))
        ratings["source"].append(cell.source)
    model = MetricsRatingModel().fit(rows[:32], {t: v[:32] for t, v in ratings.items()})
    pred = model.predict(rows[32:])
    for task, chance in (("sarcomerisation", 0.25), ("directionality", 0.25), ("source", 0.34)):
        accuracy = np.mean(pred[task] == np.array(ratings[task][32:]))
        assert accuracy > chance + 0.2, (task, accuracy)
    assert not any(math.isnan(v) for v in model.medians_)


def test_records_the_metrics_version_and_warns_on_another(rng, tmp_path, caplog):
    table, ratings = _table(rng, 40)
    path = MetricsRatingModel().fit(table, ratings).save(tmp_path / "model")
    assert json.loads(path.read_text())["metrics_version"] == METRICS_VERSION
    with caplog.at_level(logging.WARNING, logger="ames_batch"):
        assert MetricsRatingModel.load(tmp_path / "model").metrics_version == METRICS_VERSION
    assert not caplog.records
    # a file from before the version was written reads as version 1
    data = json.loads(path.read_text())
    del data["metrics_version"]
    path.write_text(json.dumps(data))
    assert MetricsRatingModel.load(tmp_path / "model").metrics_version == 1
    # one fit on other metrics: a warning naming the file; re-saved, it keeps its version
    path.write_text(json.dumps({**data, "metrics_version": METRICS_VERSION + 1}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ames_batch"):
        other = MetricsRatingModel.load(tmp_path / "model")
    assert other.metrics_version == METRICS_VERSION + 1
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert str(path) in caplog.text and f"metrics version {METRICS_VERSION + 1}" in caplog.text
    assert json.loads(other.save(tmp_path / "again").read_text())["metrics_version"] == METRICS_VERSION + 1


@pytest.mark.parametrize("mode", ["2d", "3d"])
def test_shipped_defaults_are_fit_on_todays_metrics(mode):
    from ames_batch.pipeline import default_model_path

    heads = sorted((default_model_path(mode) / "heads").glob(f"*/{METRICS_MODEL_FILE}"))
    assert len(heads) == 3
    for path in heads:
        assert json.loads(path.read_text()).get("metrics_version", 1) == METRICS_VERSION, (
            f"{path}: refit the default's heads after changing the metrics (examples/train_default_model.py)")
