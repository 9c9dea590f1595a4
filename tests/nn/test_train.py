"""Training: split before augmentation, checkpoints, resume, ensemble members, learnable truth."""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ames_batch.nn import build_model  # noqa: E402
from ames_batch.nn._architectures import Ensemble  # noqa: E402
from ames_batch.nn._augment import AugmentSettings  # noqa: E402
from ames_batch.nn._train import TrainSettings, train_model  # noqa: E402

SIZE = 88  # smallest convenient size for three valid stride-2 blocks (min 85)
CLASSES = {"source": ["adult", "neonatal", "ipsc"], "sarcomerisation": ["1", "2", "3", "4"]}


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def _cells(rng, n=24):
    """Cells whose class is planted as stripe period (sarcomerisation) and brightness (source)."""
    src = np.array(CLASSES["source"])[np.arange(n) % 3]
    sarc = np.array(CLASSES["sarcomerisation"])[(np.arange(n) // 3) % 4]
    yy = np.arange(SIZE)[:, None]
    x = np.zeros((n, SIZE, SIZE, 1), np.float32)
    for i in range(n):
        period = 4 + 2 * int(sarc[i])
        level = 0.3 + 0.3 * CLASSES["source"].index(src[i])
        x[i, 20:68, 10:78, 0] = level * (0.5 + 0.5 * np.cos(2 * np.pi * yy[20:68] / period))
    x += rng.normal(0, 0.01, x.shape).astype(np.float32)
    ids = [f"plate/A/1/0/{i + 1}" for i in range(n)]
    return x, {"source": src, "sarcomerisation": sarc}, ids


def _tiny(**kw):
    base = dict(epochs=1, batch_size=4, steps_per_epoch=2, patience=5, seed=0,
                augment=AugmentSettings(rot90=False))
    base.update(kw)
    return TrainSettings(**base)


def test_train_writes_checkpoints_and_scores_held_out_cells(rng, tmp_path):
    x, ratings, ids = _cells(rng)
    res = train_model(x, ratings, ids, classes=CLASSES, settings=_tiny(epochs=2), checkpoint_dir=tmp_path)
    parts = [set(np.asarray(ids)[res.split.indices(k)]) for k in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert {p.name for p in tmp_path.iterdir()} >= {"last.keras", "best.keras", "state.json"}
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["val_loss"]) == 2
    assert res.test_metrics["source"]["n_cells"] == res.split.test.size
    assert sum(map(sum, res.test_metrics["sarcomerisation"]["confusion_matrix"])) == res.split.test.size
    assert set(res.model.output_names) == set(CLASSES) or set(res.model.output) == set(CLASSES)


def test_resume_continues_from_last_epoch(rng, tmp_path):
    x, ratings, ids = _cells(rng)
    train_model(x, ratings, ids, classes=CLASSES, settings=_tiny(epochs=1), checkpoint_dir=tmp_path)
    res = train_model(x, ratings, ids, classes=CLASSES, settings=_tiny(epochs=2), checkpoint_dir=tmp_path,
                      resume=True)
    assert res.epochs_run == 2 and len(res.history["loss"]) == 2  # one old epoch + one new


def test_resume_refuses_another_split(rng, tmp_path):
    x, ratings, ids = _cells(rng)
    train_model(x, ratings, ids, classes=CLASSES, settings=_tiny(), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="split differs"):
        train_model(x, ratings, ids, classes=CLASSES, settings=_tiny(seed=1, epochs=2),
                    checkpoint_dir=tmp_path, resume=True)


def test_ensemble_trains_separate_members(rng, tmp_path):
    x, ratings, ids = _cells(rng)
    res = train_model(x, {"source": ratings["source"]}, ids, classes=CLASSES,
                      settings=_tiny(arch="2d-ensemble", steps_per_epoch=1), checkpoint_dir=tmp_path)
    assert isinstance(res.model, Ensemble) and len(res.model) == 3
    weights = [m.get_weights()[0] for _, _, m in res.model]
    assert not np.allclose(weights[0], weights[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(m.name for _, _, m in res.model)
    assert res.test_metrics["source"]["n_cells"] == res.split.test.size
    # the members' vote is calibrated on the validation cells: a distribution per cell
    assert set(res.model.combiner) == {"source"}
    probs = res.model.predict(x[res.split.test])["source"]
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # the members' vote is calibrated on the validation cells: a distribution per cell
    assert set(res.model.combiner) == {"source"}
    probs = res.model.predict(x[res.split.test])["source"]
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_shapes_and_classes_are_checked(rng):
    x, ratings, ids = _cells(rng)
    with pytest.raises(ValueError, match="not among"):
        train_model(x, {"source": ["horse"] * len(ids)}, ids, classes=CLASSES, settings=_tiny())
    with pytest.raises(TypeError, match="float32"):
        train_model(x.astype(np.float64), ratings, ids, classes=CLASSES, settings=_tiny())
    with pytest.raises(ValueError, match="unique"):
        train_model(x, ratings, ids[:-1] + ids[:1], classes=CLASSES, settings=_tiny())


@pytest.mark.slow
@pytest.mark.parametrize("um_per_px", [None, 0.3], ids=["published-trunk", "striation-trunk"])
def test_planted_classes_are_learned(rng, um_per_px):
    """A planted brightness cue is learned from 66 training cells, scored in inference mode.

    Nine batches an epoch is the regime of a lab training on its own few hundred rated cells:
    BatchNorm's moving statistics must settle within early stopping's patience, or the
    validation loss never improves and the epoch-1 model is kept (chance accuracy). 0.3 µm/px
    is what ``ames-batch train`` builds (striation trunk); None is the published trunk.
    """
    x, ratings, ids = _cells(rng, n=96)
    res = train_model(x, {"source": ratings["source"]}, ids, classes=CLASSES,
                      settings=TrainSettings(epochs=40, batch_size=8, patience=10, learning_rate=1e-3,
                                             um_per_px=um_per_px,
                                             augment=AugmentSettings(rot90=False, gain=0.0, offset=0.0)))
    assert res.test_metrics["source"]["accuracy"] >= 0.9


def test_training_augments_training_cells_only(rng, monkeypatch):
    """Every image handed to the augmenter during fit is a training cell, never val/test."""
    import ames_batch.nn._dataset as dataset

    x, ratings, ids = _cells(rng)
    x = rng.random(x.shape, dtype=np.float32)  # every cell unique, so a copy names its row
    seen = []
    real = dataset.augment_cell

    def spy(image, *args, **kwargs):
        seen.append(np.array(image, copy=True))
        return real(image, *args, **kwargs)

    monkeypatch.setattr(dataset, "augment_cell", spy)
    res = train_model(x, ratings, ids, classes=CLASSES, settings=_tiny(epochs=2, steps_per_epoch=None))
    rows = [int(np.flatnonzero((x == s).all(axis=(1, 2, 3)))[0]) for s in seen]
    # each training cell at least once per epoch (Keras may fetch a batch more than once)
    assert len(seen) >= 2 * res.split.train.size
    assert set(rows) == set(res.split.train.tolist())
    assert not set(rows) & (set(res.split.val.tolist()) | set(res.split.test.tolist()))


def test_same_seed_same_training(rng):
    """Batches come from the seeded CellSequence alone (Keras must not reorder them)."""
    x, ratings, ids = _cells(rng)
    weights = [train_model(x, ratings, ids, classes=CLASSES, settings=_tiny(epochs=2, steps_per_epoch=None))
               .model.get_weights() for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
