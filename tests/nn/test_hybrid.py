"""The hybrid kind of rater: metrics beside a CNN's features; fit, save, load, rate, explain."""

import copy
import json

import numpy as np
import pytest

from ames_batch.errors import ModelBundleError
from ames_batch.metrics import METRIC_NAMES
from ames_batch.nn import (CNNInput, CNNRater, MetricsRatingModel, PreprocessSettings, RatingModel, build_model,
                           load_rater, rater_info, read_card, split_cells)
from ames_batch.nn import _bundle
from ames_batch.nn._hybrid_rater import HYBRID_ARCH, HybridInput, HybridRater, HybridTrainer, _refuse_lambdas

SIZE = 88
TASKS = {"sarcomerisation": ["1", "2", "3", "4"], "source": ["adult", "neonatal", "ipsc"]}
SETTINGS = PreprocessSettings(input_shape=(SIZE, SIZE), target_um_per_px=0.8)


@pytest.fixture(autouse=True)
def card_schema_knows_hybrid(monkeypatch):
    """Until the model-card schema lists the "hybrid" arch (the lead's file), check cards against
    the shipped schema with that one value added, exactly where the CNN archs are listed."""
    schema = _bundle.model_card_schema()
    if HYBRID_ARCH in schema["properties"]["arch"]["enum"]:
        return
    extended = copy.deepcopy(schema)
    extended["properties"]["arch"]["enum"].append(HYBRID_ARCH)
    for rule in extended["allOf"]:
        if "input_shape" in rule["then"].get("required", []):
            rule["if"]["properties"]["arch"]["enum"].append(HYBRID_ARCH)
    monkeypatch.setattr(_bundle, "model_card_schema", lambda: extended)


def _cells(rng, n):
    """Planted truth: sarcomerisation in the metrics only (organised fraction), source in the image
    only (stripe brightness 0.3 / 0.6 / 0.9); every other metric is noise."""
    sarc = rng.integers(0, 4, n)
    src = rng.integers(0, 3, n)
    yy = np.arange(SIZE)[:, None]
    prepared = []
    for i in range(n):
        x = np.zeros((SIZE, SIZE, 1), np.float32)
        x[20:68, 10:78, 0] = (0.3 + 0.3 * src[i]) * (0.5 + 0.5 * np.cos(2 * np.pi * (yy[20:68] + rng.uniform(0, 8)) / 8))
        x += rng.normal(0, 0.02, x.shape).astype(np.float32)
        metrics = {name: float(rng.normal()) for name in METRIC_NAMES}
        metrics["organised_fraction"] = float((sarc[i] + rng.uniform(0.1, 0.9)) / 4)
        prepared.append(HybridInput(CNNInput(x, None), metrics))
    return prepared, {"sarcomerisation": np.asarray(TASKS["sarcomerisation"])[sarc],
                      "source": np.asarray(TASKS["source"])[src]}


@pytest.fixture(scope="module")
def cnn():
    """A real, untrained Keras CNN (its random features still carry the stripes' brightness)."""
    return CNNRater(RatingModel(build_model("2d", input_shape=(SIZE, SIZE), tasks=TASKS, seed=3), tasks=TASKS,
                                settings=SETTINGS))


@pytest.fixture(scope="module")
def fitted(cnn):
    rng = np.random.default_rng(5)
    prepared, ratings = _cells(rng, 400)
    ids = [f"p/A/1/0/{i + 1}" for i in range(len(prepared))]
    split = split_cells(ids, ratings, seed=0)
    fit = HybridTrainer(cnn=cnn).fit(prepared, ratings, ids, split, classes=TASKS)
    return fit, prepared, ratings, split


def _accuracy(probs, truth, task):
    return float(np.mean(np.asarray(TASKS[task])[np.argmax(probs[task], axis=1)] == truth[task]))


def test_hybrid_rates_from_metrics_and_image_both(fitted):
    fit, prepared, ratings, split = fitted
    fresh, truth = _cells(np.random.default_rng(6), 200)
    probs = fit.rater.predict_proba(fresh)
    assert {t: p.shape for t, p in probs.items()} == {"sarcomerisation": (200, 4), "source": (200, 3)}
    for p in probs.values():
        np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-9)
    print(f"\naccuracy on fresh cells: {_accuracy(probs, truth, 'sarcomerisation')} sarcomerisation, "
          f"{_accuracy(probs, truth, 'source')} source")
    assert _accuracy(probs, truth, "sarcomerisation") >= 0.9  # only the metrics know it
    assert _accuracy(probs, truth, "source") >= 0.9  # only the image knows it
    # a metrics model on the same cells cannot find the source: the CNN features are what the hybrid adds
    metrics_only = MetricsRatingModel(tasks=["source"]).fit([prepared[i].metrics for i in split.train],
                                                            {"source": ratings["source"][split.train]})
    assert _accuracy(metrics_only.predict_proba([p.metrics for p in fresh]), truth, "source") < 0.5
    assert set(fit.settings["heads"]) == set(TASKS) and fit.rater.ood is not None


def test_hybrid_round_trip_through_its_bundle(fitted, tmp_path):
    fit, prepared, ratings, split = fitted
    path = fit.rater.save(tmp_path / "hybrid", name="toy-hybrid", version="1", metrics={},
                          training={"data_fingerprint": "toy", "split": split.summary()})
    card = read_card(path)
    assert card["arch"] == HYBRID_ARCH and card["input_shape"] == [SIZE, SIZE, 1]
    assert set(card["files"]) == {"model.keras", "hybrid.json", "heads/sarcomerisation/metrics_model.json",
                                  "heads/source/metrics_model.json"}
    info = rater_info(path)
    assert info.needs_stack is False and info.tasks == {t: tuple(c) for t, c in TASKS.items()}
    loaded = load_rater(path)
    assert isinstance(loaded, HybridRater) and loaded.identity == info.identity
    batch = prepared[:37]
    before, after = fit.rater.predict_proba(batch), loaded.predict_proba(batch)
    for task in TASKS:
        np.testing.assert_allclose(after[task], before[task], rtol=0, atol=1e-6)
    rating = loaded.rate(batch)
    assert all({"ood", "ood_score"} <= set(c) for c in rating.columns)
    assert np.mean([c["ood"] for c in rating.columns]) < 0.1  # cells like its training cells


def test_an_edited_head_or_an_unsafe_network_is_refused(fitted, tmp_path):
    fit, _, _, split = fitted
    training = {"data_fingerprint": "toy", "split": split.summary()}
    path = fit.rater.save(tmp_path / "h", name="toy-hybrid", version="1", training=training)
    head = path / "heads" / "source" / "metrics_model.json"
    data = json.loads(head.read_text())
    data["tasks"]["source"]["intercept"][0] += 1.0
    head.write_text(json.dumps(data))
    with pytest.raises(ModelBundleError, match="does not match its sha256"):
        load_rater(path)

    import keras

    net = fit.rater.cnn.model.keras_model
    cell = keras.Input((SIZE, SIZE, 1))
    unsafe = keras.Model(cell, net(keras.layers.Lambda(lambda t: t * 1.0, name="sneaky")(cell)))
    with pytest.raises(ValueError, match="Lambda"):
        _refuse_lambdas(unsafe)
    good = fit.rater.save(tmp_path / "g", name="toy-hybrid", version="1", training=training)
    unsafe.save(good / "model.keras")  # swap in a network with a Lambda layer, card re-hashed
    card = json.loads((good / "model.json").read_text())
    card["files"]["model.keras"] = _bundle._sha256(good / "model.keras")
    card["card_sha256"] = _bundle._card_digest(card)
    (good / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelBundleError, match="safely"):
        load_rater(good)


def test_gradcam_explains_the_hybrid_logit(fitted):
    """The explainer's logits differ from the hybrid's by a per-cell constant that depends on the
    metrics only: cells with equal metrics have equal differences."""
    fit, prepared, _, _ = fitted
    rater = fit.rater
    same = [HybridInput(p.cnn, prepared[0].metrics) for p in prepared[:12]]
    probs = rater.predict_proba(same)
    explainer = rater._explain_model()
    import keras

    logits = keras.Model(explainer.inputs, {t: explainer.get_layer(f"{t}_logits").output for t in TASKS})
    z = logits.predict(np.stack([p.cnn.x for p in same]), verbose=0)
    for task in TASKS:
        gap = np.log(probs[task]) - z[task]  # log-softmax = logits - logsumexp: per-cell shift only
        gap -= gap[:, :1]
        np.testing.assert_allclose(gap, np.broadcast_to(gap[:1], gap.shape), atol=1e-4)
    maps = rater.explain("gradcam", same[:3], {t: p[:3] for t, p in probs.items()})
    assert maps[0].maps["source"].shape == (SIZE, SIZE)
    assert all(0 <= m.maps[t].min() and m.maps[t].max() <= 1 for m in maps for t in TASKS)


def test_rating_with_gradcam_in_one_pass_gives_the_maps_of_a_second_pass(fitted, monkeypatch):
    """rate(explain=gradcam) makes the maps of the heads' predicted class in its one CNN pass: the
    probabilities and maps of predict_proba + explain (two passes), and no separate forward pass."""
    import ames_batch.xai as xai

    rater = fitted[0].rater
    batch = fitted[1][:9]
    probs = rater.predict_proba(batch)
    expected = rater.explain("gradcam", batch, probs)
    calls = []
    monkeypatch.setattr(xai, "forward_pass", lambda *a, **k: calls.append("forward") or xai._gradcam.forward_pass(*a, **k))
    rating = rater.rate(batch, explain=("gradcam",))
    assert calls == []  # the features came from the Grad-CAM pass
    for task in TASKS:
        np.testing.assert_allclose(rating.probabilities[task], probs[task], rtol=1e-5, atol=1e-6)
        for got, want in zip(rating.explanations["gradcam"], expected):
            np.testing.assert_allclose(got.maps[task], want.maps[task], rtol=1e-4, atol=1e-5)
    # the heads' classes are not the explainer's own argmax for some cells: the choice matters
    own = rater._explain_model().predict(np.stack([b.cnn.x for b in batch]), verbose=0)
    assert any((np.argmax(own[t], axis=1) != np.argmax(probs[t], axis=1)).any() for t in TASKS)
    with pytest.raises(ValueError, match="no 'ig' heatmap"):
        rater.rate(batch, explain=("ig",))


def test_hybrid_prepares_a_pipeline_record(cnn):
    from ames_batch.io import FieldKey
    from ames_batch.pipeline import FieldData, extract_cells
    from ames_batch.synth import DEMO_SCALE_UM, sample_cell_params, synthesize_field

    synth = synthesize_field(0, scale_um=DEMO_SCALE_UM, cell_params=[sample_cell_params(1, source="ipsc")])
    field = FieldData.from_arrays(FieldKey("A/1", "0"), synth.stack.max(axis=0), synth.scale_um)
    (record,) = extract_cells(field, field.labels_from_field(synth.cell_labels))
    prepared = HybridTrainer(cnn=cnn).prepare(record, field)
    assert prepared.cnn.x.shape == (SIZE, SIZE, 1) and prepared.metrics == dict(record.metrics)


def test_trainer_arguments_are_checked(cnn):
    with pytest.raises(ValueError, match="exactly one"):
        HybridTrainer()
    from ames_batch.nn import make_trainer

    with pytest.raises(ValueError, match="singular CNN"):
        HybridTrainer(cnn_trainer=make_trainer("metrics"))


def test_a_task_rated_in_one_class_only_is_that_class(cnn):
    """A facility whose cells are all of one source: the head rates that source with probability 1,
    as the metrics model does (it raised scikit-learn's "needs samples of at least 2 classes")."""
    rng = np.random.default_rng(8)
    prepared, ratings = _cells(rng, 60)
    ratings["source"] = np.full(60, "ipsc")
    ids = [f"p/A/1/0/{i + 1}" for i in range(60)]
    split = split_cells(ids, {"sarcomerisation": ratings["sarcomerisation"]}, seed=0)
    rater = HybridTrainer(cnn=cnn).fit(prepared, ratings, ids, split, classes=TASKS).rater
    probs = rater.predict_proba(prepared[:5])
    np.testing.assert_array_equal(probs["source"], np.tile([0.0, 0.0, 1.0], (5, 1)))
    assert probs["sarcomerisation"].shape == (5, 4)


def test_recalibrated_heads_follow_a_stricter_expert(fitted, tmp_path):
    """An expert who puts every sarcomerisation boundary half a class higher: on 60 of
    their cells the recalibrated head learns their scale; the unrated source head is kept."""
    from ames_batch.nn import HeadRecalibrator

    fit, _, _, _ = fitted

    def strict(cells):  # the expert's class from the planted organised fraction
        of = np.array([p.metrics["organised_fraction"] for p in cells])
        return np.asarray(TASKS["sarcomerisation"])[np.clip(np.floor(of * 4 - 0.5), 0, 3).astype(int)]

    rated, _ = _cells(np.random.default_rng(9), 60)
    ids = [f"p/B/{i // 5 + 1}/0/{i % 5 + 1}" for i in range(60)]
    ratings = {"sarcomerisation": strict(rated)}
    split = split_cells(ids, ratings, groups=np.array([i.rsplit("/", 2)[0] for i in ids]), seed=0)
    tuned = HeadRecalibrator(fit.rater).fit(rated, ratings, ids, split, classes=TASKS)
    fresh, _ = _cells(np.random.default_rng(10), 200)
    expert = {"sarcomerisation": strict(fresh)}
    before, after = fit.rater.predict_proba(fresh), tuned.rater.predict_proba(fresh)
    assert _accuracy(before, expert, "sarcomerisation") < 0.7
    assert _accuracy(after, expert, "sarcomerisation") >= 0.85
    np.testing.assert_array_equal(after["source"], before["source"])
    assert tuned.settings["kept_heads"] == ["source"] and tuned.rater.ood is fit.rater.ood
    path = tuned.rater.save(tmp_path / "tuned", name="toy-tuned", version="1", metrics={},
                            training={"data_fingerprint": "toy", "split": split.summary()})
    again = load_rater(path).predict_proba(fresh)
    np.testing.assert_allclose(again["sarcomerisation"], after["sarcomerisation"], rtol=0, atol=1e-6)
