import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jsonschema  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ames_batch.errors import ModelBundleError  # noqa: E402
from ames_batch.nn import (  # noqa: E402
    Ensemble,
    PreprocessSettings,
    RatingModel,
    build_model,
    load_bundle,
    make_card,
    model_card_schema,
    save_bundle,
)
from ames_batch.nn._bundle import _card_digest, _sha256  # noqa: E402

TASKS = {"sarcomerisation": ["1", "2", "3", "4"], "source": ["adult", "neonatal", "ipsc"]}
SETTINGS_2D = PreprocessSettings(input_shape=(96, 96))
SETTINGS_3D = PreprocessSettings(input_shape=(8, 96, 96), target_um_per_px=0.5, z_step_um=0.5)
TRAINING = {"data_fingerprint": "sha256:" + "0" * 64, "split": {"train": 10, "val": 2, "test": 3, "by": "cell"}}
REPO = Path(__file__).resolve().parents[2]


def card_for(tasks, settings, **extra):
    return make_card(name="test-model", version="0.1", tasks=tasks, settings=settings, training=TRAINING,
                     metrics={"source": {"accuracy": 0.5}}, **extra)


@pytest.fixture(scope="module")
def inputs_2d():
    return np.random.default_rng(3).random((5, 96, 96, 1), dtype=np.float32)


@pytest.fixture(scope="module")
def bundle_2d(tmp_path_factory, inputs_2d):
    """A saved 2D bundle and the predictions of the model that was saved."""
    model = build_model("2d", input_shape=(96, 96), tasks=TASKS, seed=4)
    # move weights away from initialisation so BatchNorm statistics matter
    model.compile(optimizer="adam", loss={t: "categorical_crossentropy" for t in TASKS})
    y = {t: keras.utils.to_categorical(np.arange(5) % len(c), len(c)) for t, c in TASKS.items()}
    model.train_on_batch(inputs_2d, y)
    path = tmp_path_factory.mktemp("bundles") / "ames-2d"
    save_bundle(model, card_for(TASKS, SETTINGS_2D), path)
    expected = RatingModel(model, tasks=TASKS, settings=SETTINGS_2D).predict(inputs_2d)
    return path, expected


@pytest.fixture
def copy_2d(bundle_2d, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(bundle_2d[0], path)
    return path


def test_2d_bundle_round_trip_is_bit_identical(bundle_2d, inputs_2d):
    path, expected = bundle_2d
    assert sorted(p.name for p in path.iterdir()) == ["model.json", "model.keras"]
    rating = load_bundle(path)
    assert rating.arch == "2d" and rating.tasks == TASKS and rating.settings == SETTINGS_2D
    got = rating.predict(inputs_2d)  # same batch size as `expected`: same kernels, same bits
    small_batches = rating.predict(inputs_2d, batch_size=2)
    for task in TASKS:
        assert got[task].dtype == np.float32
        np.testing.assert_array_equal(got[task], expected[task])
        # another batch size may pick another oneDNN kernel: equal to float32 round-off only
        np.testing.assert_allclose(small_batches[task], expected[task], rtol=1e-5)
    classes = rating.predict_classes(inputs_2d)
    assert classes["source"] == [TASKS["source"][k] for k in expected["source"].argmax(1)]


def test_card_validates_and_records_provenance(bundle_2d):
    card = json.loads((bundle_2d[0] / "model.json").read_text())
    jsonschema.Draft202012Validator(model_card_schema()).validate(card)
    assert card["format_version"] == 1 and card["arch"] == "2d"
    assert card["input_shape"] == [96, 96, 1]
    assert card["preprocessing"]["target_um_per_px"] == 0.4
    assert card["training"] == TRAINING
    assert card["files"]["model.keras"] == _sha256(bundle_2d[0] / "model.keras")
    assert card["package_versions"]["keras"] == keras.__version__
    assert card["card_sha256"] == _card_digest(card)


def test_schema_is_valid_and_shipped_with_the_package():
    schema = model_card_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    canonical = REPO / "schemas" / "model-card.schema.json"
    if canonical.is_file():  # source tree: the package copy is the top-level file
        assert json.loads(canonical.read_text()) == schema
    import ames_batch

    assert (Path(ames_batch.__file__).parent / "schemas" / "model-card.schema.json").is_file()


def _edit_card(path: Path, edit, *, redigest: bool) -> None:
    card = json.loads((path / "model.json").read_text())
    edit(card)
    if redigest:
        card["card_sha256"] = _card_digest(card)
    (path / "model.json").write_text(json.dumps(card))


@pytest.mark.parametrize(
    ("edit", "redigest", "match"),
    [
        (lambda c: c["tasks"]["source"].reverse(), False, "edited after saving"),
        (lambda c: c["tasks"].update(source=["adult", "neonatal", "ipsc", "other"]), True, "does not match its card"),
        (lambda c: c["tasks"].update(source=["a", "b", "c"]), False, "edited after saving"),
        (lambda c: c.pop("preprocessing"), True, "invalid model card: .*preprocessing"),
        (lambda c: c["preprocessing"].update(target_um_per_px=-1), True, "invalid model card"),
        (lambda c: c.update(format_version=2), True, "unknown bundle format version 2"),
        (lambda c: c.pop("format_version"), True, "unknown bundle format version None"),
        (lambda c: c.update(arch="3d"), True, "card says '3d'"),
        (lambda c: c["preprocessing"].update(input_shape=[128, 128]), True, "does not match"),
        (lambda c: c.update(extra_key=1), True, "invalid model card"),
    ],
)
def test_tampered_card_is_refused(copy_2d, edit, redigest, match):
    _edit_card(copy_2d, edit, redigest=redigest)
    with pytest.raises(ModelBundleError, match=match) as info:
        load_bundle(copy_2d)
    message = str(info.value)
    assert "\n" not in message and str(copy_2d) in message


def test_missing_and_corrupt_files_are_refused(copy_2d, tmp_path):
    with pytest.raises(ModelBundleError, match="no such bundle folder"):
        load_bundle(tmp_path / "nowhere")
    (copy_2d / "model.keras").write_bytes((copy_2d / "model.keras").read_bytes()[:-10])
    with pytest.raises(ModelBundleError, match="sha256"):
        load_bundle(copy_2d)
    (copy_2d / "model.keras").unlink()
    with pytest.raises(ModelBundleError, match="model.keras is missing"):
        load_bundle(copy_2d)
    (copy_2d / "model.json").write_text("{not json")
    with pytest.raises(ModelBundleError, match="not valid JSON"):
        load_bundle(copy_2d)
    (copy_2d / "model.json").unlink()
    with pytest.raises(ModelBundleError, match="model.json is missing"):
        load_bundle(copy_2d)


def test_lambda_layer_is_refused_by_safe_mode(copy_2d):
    # a bundle whose model.keras holds a Lambda layer, with a card that is otherwise perfect
    inputs = keras.Input((96, 96, 1), name="cell")
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = {}
    for task, classes in TASKS.items():
        logits = keras.layers.Dense(len(classes), name=f"{task}_logits")(x)
        outputs[task] = keras.layers.Activation("softmax", name=task)(logits)
    evil = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="Lambda"):
        save_bundle(evil, card_for(TASKS, SETTINGS_2D), copy_2d.parent / "evil")
    evil.save(copy_2d / "model.keras")
    _edit_card(copy_2d, lambda c: c["files"].update({"model.keras": _sha256(copy_2d / "model.keras")}),
               redigest=True)
    with pytest.raises(ModelBundleError, match="cannot load model.keras safely"):
        load_bundle(copy_2d)


def test_save_refuses_existing_folder_and_mismatched_card(bundle_2d, tmp_path):
    model = build_model("2d", input_shape=(96, 96), tasks=TASKS)
    with pytest.raises(ModelBundleError, match="already exists"):
        save_bundle(model, card_for(TASKS, SETTINGS_2D), bundle_2d[0])
    wrong = {**TASKS, "source": ["adult", "ipsc"]}
    with pytest.raises(ValueError, match="2 class names"):
        save_bundle(model, card_for(wrong, SETTINGS_2D), tmp_path / "b")
    with pytest.raises(ValueError, match="input_shape"):
        save_bundle(model, card_for(TASKS, PreprocessSettings(input_shape=(128, 128))), tmp_path / "b")
    assert not (tmp_path / "b").exists()
    # overwrite replaces a bundle in place
    path = tmp_path / "again"
    save_bundle(model, card_for(TASKS, SETTINGS_2D), path)
    save_bundle(model, card_for(TASKS, SETTINGS_2D, description="second"), path, overwrite=True)
    assert load_bundle(path).card["description"] == "second"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_ensemble_bundle_round_trip(tmp_path, inputs_2d):
    tasks = {"source": ["adult", "neonatal", "ipsc"]}
    ensemble = build_model("2d-ensemble", input_shape=(96, 96), tasks=tasks, seed=9)
    expected = ensemble.predict(inputs_2d)
    path = save_bundle(ensemble, card_for(tasks, SETTINGS_2D), tmp_path / "ens")
    card = json.loads((path / "model.json").read_text())
    assert card["members"] == {"source": {c: f"members/source__{c}.keras" for c in tasks["source"]}}
    rating = load_bundle(path)
    assert rating.arch == "2d-ensemble" and rating.keras_model is None
    members = [rating.members["source"][c] for c in tasks["source"]]
    assert len({id(m) for m in members}) == 3
    np.testing.assert_array_equal(rating.predict(inputs_2d)["source"], expected["source"])
    target = rating.explain_target("source")
    assert target.for_class("ipsc") == (members[2], 0)
    assert target.logits_layer == "source_logits" and target.conv_layer == "last_conv"
    # a member file swapped for another member's is caught by its checksum
    shutil.copy(path / "members/source__adult.keras", path / "members/source__ipsc.keras")
    with pytest.raises(ModelBundleError, match="source__ipsc.keras does not match"):
        load_bundle(path)


def test_ensemble_combiner_round_trip(tmp_path, inputs_2d):
    """The members' calibrated vote travels in the card and is checked on load."""
    tasks = {"source": ["adult", "neonatal", "ipsc"]}
    members = build_model("2d-ensemble", input_shape=(96, 96), tasks=tasks, seed=9).members
    combiner = {"source": {"coef": [[2.0, -1.0, 0.0], [0.0, 1.0, -1.0], [-1.0, 0.0, 3.0]],
                           "intercept": [0.1, 0.0, -0.1]}}
    ensemble = Ensemble(members, combiner=combiner)
    sigmoids = Ensemble(members).predict(inputs_2d)["source"]
    expected = ensemble.predict(inputs_2d)["source"]
    assert np.allclose(expected.sum(axis=1), 1.0, atol=1e-6) and not np.allclose(expected, sigmoids)
    path = save_bundle(ensemble, card_for(tasks, SETTINGS_2D), tmp_path / "ens")
    card = json.loads((path / "model.json").read_text())
    assert card["combiner"] == combiner
    np.testing.assert_array_equal(load_bundle(path).predict(inputs_2d)["source"], expected)
    # a combiner of the wrong size (card re-digested, so only the combiner is wrong) is refused
    card["combiner"]["source"]["intercept"] = [0.0, 0.0]
    card["card_sha256"] = _card_digest(card)
    (path / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelBundleError, match="invalid ensemble combiner.*intercept 3"):
        load_bundle(path)
    # singular models have no combiner
    card = card_for(tasks, SETTINGS_2D)
    model = build_model("2d", input_shape=(96, 96), tasks=tasks, seed=1)
    card = json.loads((save_bundle(model, card, tmp_path / "one") / "model.json").read_text())
    card["combiner"] = combiner
    card["card_sha256"] = _card_digest(card)
    (tmp_path / "one" / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelBundleError, match="invalid model card"):
        load_bundle(tmp_path / "one")


def test_3d_bundle_round_trip(tmp_path):
    tasks = {"directionality": ["1", "2", "3", "4"]}
    model = build_model("3d", input_shape=(8, 96, 96), tasks=tasks, seed=5)
    x = np.random.default_rng(8).random((2, 8, 96, 96, 1), dtype=np.float32)
    expected = RatingModel(model, tasks=tasks, settings=SETTINGS_3D).predict(x)
    rating = load_bundle(save_bundle(model, card_for(tasks, SETTINGS_3D), tmp_path / "m3d"))
    assert rating.arch == "3d" and rating.settings.z_step_um == 0.5
    np.testing.assert_array_equal(rating.predict(x)["directionality"], expected["directionality"])
    target = rating.explain_target("directionality")
    assert target.for_class("3") == (rating.keras_model, 2)


def test_predict_and_explain_reject_bad_arguments(bundle_2d, inputs_2d):
    rating = load_bundle(bundle_2d[0])
    with pytest.raises(ValueError, match="shape"):
        rating.predict(inputs_2d[:, :64])
    with pytest.raises(ValueError, match="float"):
        rating.predict((inputs_2d * 255).astype(np.uint8))
    with pytest.raises(TypeError, match="numpy"):
        rating.predict(inputs_2d.tolist())
    empty = rating.predict(inputs_2d[:0])
    assert empty["source"].shape == (0, 3)
    with pytest.raises(ValueError, match="task"):
        rating.explain_target("colour")
    with pytest.raises(ValueError, match="class"):
        rating.explain_target("source").for_class("fetal")
