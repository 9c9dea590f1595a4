"""One-vs-all members fitted side by side stay separate models: no member learns from another's task."""

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from ames_batch.nn import build_model  # noqa: E402
from ames_batch.nn._architectures import Ensemble, member_name  # noqa: E402
from ames_batch.nn._augment import AugmentSettings  # noqa: E402
from ames_batch.nn._split import split_cells  # noqa: E402
from ames_batch.nn._train import TrainSettings, _fit_ensemble, _side_by_side, encode_ratings  # noqa: E402

CLASSES = {"source": ["adult", "neonatal", "ipsc"], "directionality": ["1", "2", "3", "4"]}
SHAPE = (96, 96)


def _data():
    rng = np.random.default_rng(5)
    n = 36
    x = rng.random((n, *SHAPE, 1), dtype=np.float32)
    y = encode_ratings({"source": np.array(CLASSES["source"])[np.arange(n) % 3],
                        "directionality": np.array(CLASSES["directionality"])[(np.arange(n) // 3) % 4]}, CLASSES)
    return x, y, split_cells([f"p/A/1/0/{i}" for i in range(n)], y, seed=0), rng


def test_a_member_gets_no_gradient_from_the_other_members_targets():
    """The summed loss of the side-by-side graph: other members' targets leave a member's gradient alone."""
    import tensorflow as tf

    ensemble = build_model("2d-ensemble", input_shape=SHAPE, tasks=CLASSES, seed=0, um_per_px=0.4)
    members = {m.name: (task, m) for task, _, m in ensemble}
    joint = _side_by_side(keras, members, (*SHAPE, 1))
    x, y, _, rng = _data()
    bce = keras.losses.BinaryCrossentropy()

    def gradients(targets):
        with tf.GradientTape() as tape:
            out = joint(x[:8], training=False)
            loss = sum(bce(targets[name][:8, None], out[name]) for name in members)
        return dict(zip(members, tape.gradient(loss, [members[n][1].trainable_weights for n in members])))

    targets = {name: (y[task] == CLASSES[task].index(name.split("__")[1])).astype("float32")
               for name, (task, _) in members.items()}
    other = {name: (rng.permutation(t) if name.startswith("directionality") else t) for name, t in targets.items()}
    g, g_other = gradients(targets), gradients(other)
    for name in members:
        same = all(np.array_equal(a, b) for a, b in zip(g[name], g_other[name]))
        assert same == name.startswith("source"), name
        assert any(np.abs(np.asarray(a)).max() > 0 for a in g[name])


def test_side_by_side_members_share_the_fixed_front_and_predict_as_alone():
    ensemble = build_model("2d-ensemble", input_shape=SHAPE, tasks=CLASSES, seed=0, um_per_px=0.4)
    members = {m.name: (task, m) for task, _, m in ensemble}
    joint = _side_by_side(keras, members, (*SHAPE, 1))
    assert "shared_front" in {layer.name for layer in joint.layers}
    trainable = sum(int(np.prod(w.shape)) for w in joint.trainable_weights)
    assert trainable == sum(int(np.prod(w.shape)) for _, _, m in ensemble for w in m.trainable_weights)
    x = np.random.default_rng(1).random((3, *SHAPE, 1), dtype=np.float32)
    together = joint.predict(x, verbose=0)
    for name, (task, model) in members.items():
        np.testing.assert_allclose(together[name], model.predict(x, verbose=0)[task], rtol=1e-5, atol=1e-6)


def test_fitting_side_by_side_trains_every_tuned_member(tmp_path):
    x, y, split, _ = _data()
    settings = TrainSettings(arch="2d-ensemble", epochs=1, batch_size=4, steps_per_epoch=2,
                             augment=AugmentSettings(rot90=False), um_per_px=0.4)
    ensemble = build_model("2d-ensemble", input_shape=SHAPE, tasks=CLASSES, seed=0, um_per_px=0.4)
    start = {m.name: m.get_layer("conv3").get_weights()[0].copy() for _, _, m in ensemble}
    fitted, states = _fit_ensemble(ensemble, x, y, split, settings, classes=CLASSES, checkpoint_dir=tmp_path,
                                   resume=False, spatial_axes=(0, 1))
    for _, _, m in fitted:
        assert not np.array_equal(m.get_layer("conv3").get_weights()[0], start[m.name]), m.name
        assert {p.name for p in (tmp_path / m.name).iterdir()} >= {"last.keras", "best.keras", "state.json"}
    assert all(st["epoch"] == 1 for st in states.values())


def _logistic_members():
    """One-layer members: small enough that a fit on a multi-core CPU is bit-reproducible."""
    members = {}
    for i, (task, classes) in enumerate(CLASSES.items()):
        for j, cls in enumerate(classes):
            cell = keras.Input((*SHAPE, 1), name="cell")
            x = keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(cell))
            init = keras.initializers.GlorotUniform(seed=10 * i + j)
            out = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init, name=f"{task}_logits")(x)
            members.setdefault(task, {})[cls] = keras.Model(cell, {task: out}, name=member_name(task, cls))
    return Ensemble(members)


def test_fitting_side_by_side_a_member_ignores_the_other_members_targets(tmp_path):
    """Same members and source ratings, shuffled directionality ratings: source members bit-identical."""
    x, y, split, rng = _data()
    settings = TrainSettings(arch="2d-ensemble", epochs=3, batch_size=4, patience=5, learning_rate=1e-2,
                             augment=AugmentSettings(rot90=False))
    y_other = dict(y, directionality=rng.permutation(y["directionality"]))
    start = {m.name: m.get_weights() for _, _, m in _logistic_members()}
    runs = []
    for targets, folder in ((y, tmp_path / "a"), (y_other, tmp_path / "b")):
        fitted, states = _fit_ensemble(_logistic_members(), x, targets, split, settings, classes=CLASSES,
                                       checkpoint_dir=folder, resume=False, spatial_axes=(0, 1))
        runs.append({m.name: m.get_weights() for _, _, m in fitted})
    for name in runs[0]:
        assert any(not np.array_equal(a, b) for a, b in zip(start[name], runs[0][name])), f"{name} did not train"
        same = all(np.array_equal(a, b) for a, b in zip(runs[0][name], runs[1][name]))
        assert same == name.startswith("source"), name
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(runs[0])
    assert all(len(st["history"]["val_loss"]) == st["epoch"] == 3 for st in states.values())
