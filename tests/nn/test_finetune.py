"""Fine-tuning a trained CNN: heads first, then the trunk; unrated heads and the initial model untouched."""

import json
import warnings

import numpy as np
import pytest

from ames_batch.nn import (CNNInput, CNNRater, FineTuneSettings, PreprocessSettings, RatingModel, TrainSettings,
                           build_model, encode_ratings, evaluate_ratings, make_trainer, split_cells)

SIZE = 88
TASKS = {"sarcomerisation": ["1", "2", "3", "4"], "source": ["adult", "neonatal", "ipsc"]}
SETTINGS = PreprocessSettings(input_shape=(SIZE, SIZE), target_um_per_px=0.8)


#: Sarcomerisation of each of five stripe periods (6, 8, ... 14 px): as the model's trainer rated them,
#: and as a stricter facility expert does (other class boundaries on the same structure)
FIRST_RULE, FACILITY_RULE = ("1", "2", "3", "4", "4"), ("1", "1", "2", "3", "4")


def _cells(rng, n, rule=FIRST_RULE):
    """Stripes: the period level (0-4) rated by `rule` into sarcomerisation, brightness (0.3, 0.6,
    0.9) the source."""
    levels = rng.integers(0, 5, n)
    sarc = np.asarray(rule)[levels]
    src = np.asarray(TASKS["source"])[rng.integers(0, 3, n)]
    yy = np.arange(SIZE)[:, None]
    x = np.zeros((n, SIZE, SIZE, 1), np.float32)
    for i in range(n):
        period = 6 + 2 * levels[i]
        brightness = 0.3 + 0.3 * TASKS["source"].index(src[i])
        x[i, 20:68, 10:78, 0] = brightness * (0.5 + 0.5 * np.cos(2 * np.pi * (yy[20:68] + rng.uniform(0, period))
                                                                 / period))
    x += rng.normal(0, 0.02, x.shape).astype(np.float32)
    return [CNNInput(v, None) for v in x], {"sarcomerisation": sarc, "source": src}


def _untrained(seed=4):
    model = build_model("2d", input_shape=(SIZE, SIZE), tasks=TASKS, seed=seed)
    return CNNRater(RatingModel(model, tasks=TASKS, settings=SETTINGS))


@pytest.fixture(scope="module")
def initial():
    """A real CNN trained on 128 cells rated by `FIRST_RULE` (as the default was on its own data)."""
    from ames_batch.nn import AugmentSettings, train_model

    rng = np.random.default_rng(11)
    prepared, ratings = _cells(rng, 128)
    x = np.stack([p.x for p in prepared])
    result = train_model(x, ratings, [f"c{i}" for i in range(128)], classes={t: list(c) for t, c in TASKS.items()},
                         settings=TrainSettings(epochs=30, batch_size=8, patience=8, learning_rate=1e-3,
                                                augment=AugmentSettings(rot90=False, gain=0.0, offset=0.0)))
    return CNNRater(RatingModel(result.model, tasks=TASKS, settings=SETTINGS))


def _weights(rater, layer):
    return [w.copy() for w in rater.model.keras_model.get_layer(layer).get_weights()]


def _fit(initial, prepared, ratings, tmp_path, **fine):
    ids = [f"p/A/{i % 6 + 1}/0/{i + 1}" for i in range(len(prepared))]
    classes = {t: list(c) for t, c in TASKS.items()}
    split = split_cells(ids, encode_ratings(ratings, classes), seed=0)
    trainer = make_trainer("2d", init=initial, epochs=12, patience=4, batch_size=16, learning_rate=3e-3,
                           max_rotation_deg=0.0, fine_tune=FineTuneSettings(**{"head_epochs": 12, **fine}))
    fit = trainer.fit(prepared, ratings, ids, split, classes=classes, checkpoint_dir=tmp_path / "ckpt")
    return fit, split


@pytest.mark.slow
def test_fine_tuning_learns_the_facility_rule_and_leaves_the_rest_alone(rng, initial, tmp_path):
    prepared, truth = _cells(rng, 160, FACILITY_RULE)
    ratings = {"sarcomerisation": truth["sarcomerisation"]}  # the facility rated only this task
    before = {name: _weights(initial, name) for name in ("conv1", "source_logits", "sarcomerisation_logits")}
    fit, split = _fit(initial, prepared, ratings, tmp_path)
    fresh, fresh_truth = _cells(rng, 300, FACILITY_RULE)  # more cells than a test split: a sharper score
    scores = evaluate_ratings(fresh_truth, fit.rater.predict_proba(fresh), TASKS)
    untuned = evaluate_ratings(fresh_truth, initial.predict_proba(fresh), TASKS)
    assert scores["sarcomerisation"]["accuracy"] >= 0.75
    assert scores["sarcomerisation"]["accuracy"] >= untuned["sarcomerisation"]["accuracy"] + 0.15
    assert scores["source"]["accuracy"] >= 0.8  # the unrated task still rated through the tuned trunk
    tuned = fit.rater
    assert list(tuned.tasks) == list(TASKS)  # the unrated task is still rated
    for name, weights in before.items():  # the initial model is a copy, never changed
        for a, b in zip(weights, _weights(initial, name)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(before["source_logits"], _weights(tuned, "source_logits")):
        np.testing.assert_array_equal(a, b)  # no gradient reached the unrated head
    for a, b in zip(_weights(initial, "source_dense20"), _weights(tuned, "source_dense20")):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(before["sarcomerisation_logits"],
                                                         _weights(tuned, "sarcomerisation_logits")))
    assert fit.settings["tuned_tasks"] == ["sarcomerisation"] and fit.settings["init"] == initial.identity
    assert tuned.ood is not None and tuned.ood.n_fit == split.train.size and tuned.ood.n_held_out == split.val.size
    for phase in ("heads", "trunk"):
        state = json.loads((tmp_path / "ckpt" / phase / "state.json").read_text())
        assert state["epoch"] >= 1
    assert len(fit.history["val_loss"]) == fit.epochs_run


def test_fine_tuning_resumes_from_its_phase_checkpoints(rng, tmp_path):
    initial = _untrained()
    prepared, truth = _cells(rng, 48)
    ratings = {"sarcomerisation": truth["sarcomerisation"]}
    ids = [f"p/A/1/0/{i + 1}" for i in range(48)]
    classes = {t: list(c) for t, c in TASKS.items()}
    split = split_cells(ids, encode_ratings(ratings, classes), seed=0)

    def trainer(epochs):
        return make_trainer("2d", init=initial, epochs=epochs, patience=5, batch_size=16, steps_per_epoch=1,
                            fine_tune=FineTuneSettings(head_epochs=1))

    with warnings.catch_warnings(record=True) as caught:  # a cron mail of Keras warnings is noise
        warnings.simplefilter("always")
        trainer(1).fit(prepared, ratings, ids, split, classes=classes, checkpoint_dir=tmp_path)
    assert not [str(w.message) for w in caught if "structure of `inputs`" in str(w.message)]
    again = trainer(2).fit(prepared, ratings, ids, split, classes=classes, checkpoint_dir=tmp_path, resume=True)
    state = json.loads((tmp_path / "trunk" / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["val_loss"]) == 2  # epoch 1 kept, epoch 2 added
    assert json.loads((tmp_path / "heads" / "state.json").read_text())["epoch"] == 1
    assert again.epochs_run == 3


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"arch": "3d"}, "differs"),
    ({"preprocess": PreprocessSettings(input_shape=(96, 96), target_um_per_px=0.8)}, "initial model's own"),
])
def test_fine_tuning_refuses_settings_the_network_was_not_trained_on(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_trainer(kwargs.pop("arch", "2d"), init=_untrained(), **kwargs)


def test_fine_tuning_refuses_classes_the_model_does_not_have(rng):
    initial = _untrained()
    prepared, truth = _cells(rng, 12)
    ids = [f"c{i}" for i in range(12)]
    classes = {"sarcomerisation": ["1", "2", "3", "4", "5"]}
    ratings = {"sarcomerisation": truth["sarcomerisation"]}
    split = split_cells(ids, seed=0)
    with pytest.raises(ValueError, match="cannot fine-tune"):
        make_trainer("2d", init=initial).fit(prepared, ratings, ids, split, classes=classes)


def test_adapted_batchnorm_statistics_are_those_of_the_new_cells(rng):
    import keras

    from ames_batch.nn import adapt_batchnorm

    model = _untrained(seed=2).model.keras_model
    prepared, _ = _cells(rng, 20)
    x = np.stack([p.x for p in prepared]) * 3.0 + 0.5  # another camera: other gain and offset
    gammas = {layer.name: layer.get_weights()[0].copy() for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization)}
    adapt_batchnorm(model, x, batch_size=8)
    for name, gamma in gammas.items():
        layer = model.get_layer(name)
        # independent reference: the layer's input in inference mode, statistics over cells and positions
        seen = np.asarray(keras.Model(model.inputs[0], layer.input).predict(x, verbose=0), np.float64)
        axes = tuple(range(seen.ndim - 1))
        weights = layer.get_weights()
        np.testing.assert_allclose(weights[-2], seen.mean(axis=axes), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(weights[-1], seen.var(axis=axes), rtol=1e-3, atol=1e-8)
        np.testing.assert_array_equal(weights[0], gamma)  # learned scale untouched
