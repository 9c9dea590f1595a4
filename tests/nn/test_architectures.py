import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ames_batch.nn import Ensemble, build_model, min_input_size  # noqa: E402

TASKS = {
    "sarcomerisation": ["1", "2", "3", "4"],
    "directionality": ["1", "2", "3", "4"],
    "source": ["adult", "neonatal", "ipsc"],
}


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def block_layers(model):
    """(type name, config) of the layers between input and Flatten."""
    out = []
    for layer in model.layers[1:]:
        if isinstance(layer, keras.layers.Flatten):
            break
        out.append((type(layer).__name__, layer.get_config()))
    return out


@pytest.mark.parametrize(
    ("arch", "input_shape", "classes", "published"),
    [
        # paper / reference code: 2D 1024x1024 ~1.52 M, 3D 512x512x32 ~1.41 M (20 outputs there;
        # the 20-unit dense layer is kept, the head is 5 classes here), ensemble 3.0-3.8 M
        ("2d", (1024, 1024), 5, 1.52e6),
        ("3d", (32, 512, 512), 5, 1.41e6),
    ],
)
def test_published_parameter_counts(arch, input_shape, classes, published):
    model = build_model(arch, input_shape=input_shape, tasks={"source": [str(i) for i in range(classes)]})
    assert model.count_params() == pytest.approx(published, rel=0.01)
    dense = model.get_layer("dense100")
    assert dense.count_params() / model.count_params() > 0.85  # "95 % in the first dense layer"


def test_published_ensemble_size():
    ensemble = build_model("2d-ensemble", input_shape=(1024, 1024), tasks={"source": list("abcd")})
    assert 3.0e6 <= ensemble.count_params() <= 3.8e6
    ensemble5 = build_model("2d-ensemble", input_shape=(1024, 1024), tasks={"source": list("abcde")})
    assert 3.0e6 <= ensemble5.count_params() <= 3.8e6


@pytest.mark.parametrize(
    ("arch", "shape", "conv", "kernel", "pool"),
    [("2d", (96, 96), "Conv2D", (3, 3), (2, 2)), ("3d", (8, 96, 96), "Conv3D", (2, 3, 3), (1, 2, 2))],
)
def test_published_block_structure(arch, shape, conv, kernel, pool):
    model = build_model(arch, input_shape=shape, tasks=TASKS)
    layers = block_layers(model)
    types = [t for t, _ in layers]
    assert types == [conv, "BatchNormalization", f"MaxPooling{conv[-2:]}", f"SpatialDropout{conv[-2:]}"] * 3
    convs = [c for t, c in layers if t == conv]
    assert [c["filters"] for c in convs] == [64, 64, 64]
    assert all(tuple(c["strides"]) == (2,) * len(kernel) and c["padding"] == "valid" for c in convs)
    assert all(tuple(c["kernel_size"]) == kernel for c in convs)
    assert [tuple(c["pool_size"]) for t, c in layers if t.startswith("MaxPooling")] == [pool] * 3
    assert [c["rate"] for t, c in layers if t.startswith("SpatialDropout")] == [0.6, 0.4, 0.2]
    assert model.get_layer("last_conv") is model.layers[9]
    assert model.get_layer("dense100").units == 100
    assert model.get_layer("dropout").rate == 0.1


def test_heads_have_no_class_zero_and_linear_logits(rng):
    model = build_model("2d", input_shape=(96, 96), tasks=TASKS, seed=3)
    assert model.input_shape == (None, 96, 96, 1)
    for task, classes in TASKS.items():
        logits = model.get_layer(f"{task}_logits")
        assert logits.units == len(classes)
        assert logits.get_config()["activation"] == "linear"
        assert model.get_layer(task).get_config()["activation"] == "softmax"
    x = rng.random((2, 96, 96, 1), dtype=np.float32)
    out = model.predict(x, verbose=0)
    assert set(out) == set(TASKS)
    for task, classes in TASKS.items():
        assert out[task].shape == (2, len(classes))
        np.testing.assert_allclose(out[task].sum(axis=1), 1.0, rtol=1e-5)
    # softmax of the logits layer is the output (Grad-CAM / IG can use the linear output)
    probe = keras.Model(model.inputs, model.get_layer("source_logits").output)
    logits = np.asarray(probe.predict(x, verbose=0))
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out["source"], expected, rtol=1e-5)


def test_one_task_gives_a_model_per_task():
    model = build_model("2d", input_shape=(96, 96), tasks={"directionality": TASKS["directionality"]})
    assert model.output_names == ["directionality"]
    assert model.name == "ames_2d_directionality"


def test_same_seed_same_weights_other_seed_other_weights():
    a = build_model("2d", input_shape=(96, 96), tasks=TASKS, seed=7)
    b = build_model("2d", input_shape=(96, 96), tasks=TASKS, seed=7)
    c = build_model("2d", input_shape=(96, 96), tasks=TASKS, seed=8)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_layer("conv1").get_weights()[0], c.get_layer("conv1").get_weights()[0])


def _train_step(model, x, y):
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss={t: "categorical_crossentropy" for t in y})
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    after = model.get_weights()
    return float(np.ravel(loss)[0]), before, after


@pytest.mark.parametrize("arch,shape", [("2d", (96, 96)), ("3d", (8, 96, 96))])
def test_trains_one_step_on_tiny_inputs(arch, shape, rng):
    model = build_model(arch, input_shape=shape, tasks=TASKS, seed=1)
    x = rng.random((4, *shape, 1), dtype=np.float32)
    y = {t: keras.utils.to_categorical(rng.integers(0, len(c), 4), len(c)) for t, c in TASKS.items()}
    loss, before, after = _train_step(model, x, y)
    assert np.isfinite(loss) and loss > 0
    conv_kernel = model.get_layer("last_conv").get_weights()[0]
    changed = [not np.array_equal(b, a) for b, a in zip(before, after)]
    assert any(changed) and conv_kernel.shape[-1] == 64


def test_ensemble_members_are_separate_models(rng):
    ensemble = build_model("2d-ensemble", input_shape=(96, 96), tasks={"source": TASKS["source"]}, seed=2)
    assert isinstance(ensemble, Ensemble) and len(ensemble) == 3
    members = [m for _, _, m in ensemble]
    assert len({id(m) for m in members}) == 3
    assert len({id(v) for m in members for v in m.weights}) == sum(len(m.weights) for m in members)
    kernels = [m.get_layer("conv1").get_weights()[0] for m in members]
    assert not np.array_equal(kernels[0], kernels[1]) and not np.array_equal(kernels[1], kernels[2])
    for _, _, m in ensemble:
        assert [layer.filters for layer in m.layers if isinstance(layer, keras.layers.Conv2D)] == [64, 32, 32]
        assert m.get_layer("source_logits").units == 1
        assert m.get_layer("source").get_config()["activation"] == "sigmoid"
    # training one member leaves the others untouched
    adult = ensemble.members["source"]["adult"]
    others = {c: [w.copy() for w in m.get_weights()] for c, m in ensemble.members["source"].items() if c != "adult"}
    adult.compile(optimizer=keras.optimizers.Adam(1e-3), loss={"source": "binary_crossentropy"})
    x = rng.random((4, 96, 96, 1), dtype=np.float32)
    adult.train_on_batch(x, {"source": np.array([[1], [0], [1], [0]], np.float32)})
    for c, weights in others.items():
        for w0, w1 in zip(weights, ensemble.members["source"][c].get_weights()):
            np.testing.assert_array_equal(w0, w1)
    # prediction stacks the members in class order; argmax is the rating
    probs = ensemble.predict(x)["source"]
    assert probs.shape == (4, 3) and probs.dtype == np.float32
    direct = np.concatenate([ensemble.members["source"][c].predict(x, verbose=0)["source"] for c in TASKS["source"]], 1)
    np.testing.assert_allclose(probs, direct, rtol=1e-6)


def test_ensemble_refuses_aliased_members():
    model = build_model("2d", input_shape=(96, 96), tasks={"source": ["a", "b"]})
    with pytest.raises(ValueError, match="same object"):
        Ensemble({"source": {"a": model, "b": model}})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(arch="4d"), ValueError, "arch"),
        (dict(input_shape=(64, 64)), ValueError, "too small"),
        (dict(input_shape=(96, 96, 3)), ValueError, "input_shape"),
        (dict(arch="3d", input_shape=(4, 96, 96)), ValueError, "too small"),
        (dict(tasks={"source": ["a"]}), ValueError, "distinct"),
        (dict(tasks={"bad name": ["a", "b"]}), ValueError, "identifiers"),
        (dict(tasks=["a", "b"]), TypeError, "tasks"),
        (dict(seed=1.5), TypeError, "seed"),
    ],
)
def test_build_model_rejects_bad_arguments(kwargs, error, match):
    args = dict(arch="2d", input_shape=(96, 96), tasks=TASKS) | kwargs
    arch = args.pop("arch")
    with pytest.raises(error, match=match):
        build_model(arch, **args)


def test_min_input_size_is_the_real_minimum():
    assert min_input_size("2d") == (85, 85)
    build_model("2d", input_shape=(85, 85), tasks=TASKS)
    with pytest.raises(ValueError, match="too small"):
        build_model("2d", input_shape=(84, 85), tasks=TASKS)
    build_model("3d", input_shape=min_input_size("3d"), tasks=TASKS)
