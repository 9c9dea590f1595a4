"""The flag for the unfamiliar: planted Gaussians, an independent Mahalanobis reference, the card round
trip and the rater's ``ood`` columns from its predicting pass."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import mahalanobis

from ames_batch.metrics import METRIC_NAMES
from ames_batch.nn import (CNNInput, CNNRater, MetricsRater, MetricsRatingModel, OODStatistics, PreprocessSettings,
                           RatingModel, build_model, fit_ood, fit_rater_ood, load_rater, read_card)

TASKS = {"sarcomerisation": ["1", "2", "3", "4"], "source": ["adult", "neonatal", "ipsc"]}


def _correlated(rng, n, shift=0.0, f=12):
    """Gaussian cells with a planted correlation (features 0 and 1 nearly equal)."""
    x = rng.normal(size=(n, f))
    x[:, 1] = x[:, 0] + 0.1 * x[:, 1]
    return x + shift


def test_held_out_cells_of_the_training_distribution_are_rarely_flagged(rng):
    stats = fit_ood(_correlated(rng, 2000), _correlated(rng, 1000), features="toy", quantile=0.99)
    fresh = stats.columns(_correlated(rng, 5000))
    share = np.mean([c["ood"] for c in fresh])
    assert share == pytest.approx(0.01, abs=0.008)  # binomial sd of a 1 % share over 5000 cells: 0.14 %
    shifted = stats.columns(_correlated(rng, 500, shift=3.0))
    assert np.mean([c["ood"] for c in shifted]) > 0.99


def test_breaking_a_planted_correlation_is_flagged_though_each_value_is_ordinary(rng):
    stats = fit_ood(_correlated(rng, 2000), _correlated(rng, 500), features="toy")
    odd = np.zeros((1, 12))
    odd[0, 0], odd[0, 1] = 1.5, -1.5  # each within 1.5 sd of its own mean
    assert stats.columns(odd)[0]["ood"] and not stats.columns(np.zeros((1, 12)))[0]["ood"]


def test_distance_is_the_mahalanobis_distance_under_the_stored_covariance(rng):
    stats = fit_ood(_correlated(rng, 300), _correlated(rng, 100), features="toy")
    x = _correlated(rng, 5, shift=0.5)
    inverse = np.linalg.inv(stats.covariance)
    reference = [mahalanobis(v, stats.mean, inverse) for v in x]
    np.testing.assert_allclose(stats.distance(x), reference, rtol=1e-9)
    np.testing.assert_allclose(stats.score(x), np.asarray(reference) / stats.threshold, rtol=1e-9)


def test_threshold_is_the_quantile_of_the_held_out_distances(rng):
    held = _correlated(rng, 401)
    stats = fit_ood(_correlated(rng, 1000), held, features="toy", quantile=0.9)
    d = stats.distance(held)
    assert np.mean(d <= stats.threshold) == pytest.approx(0.9, abs=1 / 401 + 1e-9)
    assert stats.n_fit == 1000 and stats.n_held_out == 401


def test_more_features_than_cells_still_give_a_full_rank_covariance(rng):
    stats = fit_ood(rng.normal(size=(30, 100)), rng.normal(size=(10, 100)), features="dense100")
    assert 0 < stats.shrinkage <= 1
    assert np.linalg.eigvalsh(stats.covariance).min() > 0
    assert np.isfinite(stats.score(rng.normal(size=(3, 100)))).all()


def test_card_round_trip_flags_the_same_cells(rng):
    stats = fit_ood(_correlated(rng, 200), _correlated(rng, 100), features="toy")
    back = OODStatistics.from_dict(json.loads(json.dumps(stats.to_dict())))
    x = _correlated(rng, 50, shift=1.0)
    np.testing.assert_array_equal(back.score(x), stats.score(x))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"fit_features": np.zeros((1, 3))}, "2 fit cells"),
    ({"held_out_features": np.zeros((4, 2))}, "3 features"),
    ({"fit_features": np.full((5, 3), np.nan)}, "finite"),
    ({"quantile": 1.5}, "quantile"),
])
def test_bad_input_is_refused(rng, kwargs, match):
    args = {"fit_features": rng.normal(size=(20, 3)), "held_out_features": rng.normal(size=(5, 3)), **kwargs}
    with pytest.raises(ValueError, match=match):
        fit_ood(args.pop("fit_features"), args.pop("held_out_features"), features="toy", **args)


@pytest.fixture
def cnn(tmp_path):
    settings = PreprocessSettings(input_shape=(88, 88), target_um_per_px=0.8)
    model = build_model("2d", input_shape=settings.input_shape, tasks=TASKS, seed=1, um_per_px=0.8)
    return CNNRater(RatingModel(model, tasks=TASKS, settings=settings))


def _stripes(rng, n, period):
    yy = np.arange(88)[:, None]
    x = np.zeros((n, 88, 88, 1), np.float32)
    x[:, 20:68, 10:78, 0] = 0.5 + 0.5 * np.cos(2 * np.pi * yy[20:68] / period)
    return x + rng.normal(0, 0.02, x.shape).astype(np.float32)


def test_cnn_rater_writes_ood_from_its_predicting_pass_and_keeps_it_in_its_card(rng, cnn, tmp_path):
    cells = [CNNInput(x, None) for x in _stripes(rng, 40, period=3.0)]
    stats = fit_rater_ood(cnn, cells[:30], cells[30:])
    assert stats.features == "dense100" and stats.mean.shape == (100,)
    odd = [CNNInput(x, None) for x in rng.random((6, 88, 88, 1), dtype=np.float32)]  # noise, no stripes
    batch = cells[30:] + odd
    rating = cnn.rate(batch)
    np.testing.assert_array_equal(rating.probabilities["source"], cnn.predict_proba(batch)["source"])
    assert [c["ood"] for c in rating.columns] == [c["ood"] for c in stats.columns(cnn.features(batch))]
    assert all(c["ood"] for c in rating.columns[10:])
    assert np.mean([c["ood"] for c in rating.columns[:10]]) <= 0.1
    with_cam = cnn.rate(batch, ("gradcam",))
    np.testing.assert_allclose([c["ood_score"] for c in with_cam.columns], [c["ood_score"] for c in rating.columns],
                               rtol=1e-5)

    cnn.save(tmp_path / "b", name="ood", version="0", training={"data_fingerprint": "x", "split": {}})
    card = read_card(tmp_path / "b")  # validated against the schema
    assert card["ood"]["features"] == "dense100" and len(card["ood"]["covariance"]) == 100
    loaded = load_rater(tmp_path / "b")
    np.testing.assert_allclose([c["ood_score"] for c in loaded.rate(batch).columns],
                               [c["ood_score"] for c in rating.columns], rtol=1e-5)


def test_a_rater_without_statistics_writes_no_ood_columns(rng, cnn):
    assert cnn.rate([CNNInput(x, None) for x in _stripes(rng, 3, 3.0)]).columns == [{}, {}, {}]


def test_metrics_rater_flags_cells_unlike_its_training_metrics(rng, tmp_path):
    def rows(n, area):
        return [{**{m: float(rng.normal()) for m in METRIC_NAMES}, "area_um2": float(a)}
                for a in rng.normal(area, 50, n)]

    train, held = rows(120, 1000), rows(60, 1000)
    model = MetricsRatingModel(tasks=["source"]).fit(pd.DataFrame(train), {"source": ["adult", "ipsc"] * 60})
    rater = MetricsRater(model)
    fit_rater_ood(rater, train, held)
    huge = rows(10, 5000)
    assert all(c["ood"] for c in rater.rate(huge).columns)
    undefined = [{**r, "sarcomere_length_um": float("nan")} for r in rows(5, 1000)]
    assert all(np.isfinite(c["ood_score"]) for c in rater.rate(undefined).columns)  # NaN -> training median
    rater.save(tmp_path / "m", name="m", version="0", training={"data_fingerprint": "x", "split": {}})
    loaded = load_rater(tmp_path / "m")
    assert [c["ood"] for c in loaded.rate(huge + held).columns] == [c["ood"] for c in rater.rate(huge + held).columns]
