"""Train a rating model on preprocessed cell inputs: split first, augment training cells only.

Order of work (the reference code did it the other way round and leaked):
1. split the cells (by group when known), stratified and seeded (``_split.split_cells``);
2. serve the training cells through ``CellSequence`` with fresh random augmentations each
   epoch and per-task class-balancing sample weights; validation cells are served unchanged;
3. stop early on the validation loss, keep the best weights, checkpoint every epoch
   (``checkpoint_dir/last.keras`` + ``state.json``), resume from there; an ensemble's
   members then get their calibrated vote, fitted on the validation cells (``_combiner``);
4. score the held-out test cells once, at the end.
"""

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ._architectures import _keras
from ._augment import AugmentSettings
from ._dataset import CellSequence, class_weights
from ._combiner import fit_combiner
from ._evaluate import encode_ratings, evaluate_ratings
from ._split import CellSplit, split_cells

__all__ = ["TrainSettings", "TrainResult", "adapt_batchnorm", "fine_tune_model", "fit_model", "train_model", "predict_probs"]

log = logging.getLogger("ames_batch")


@dataclass(frozen=True)
class TrainSettings:
    """How to train (recorded in the model card).

    Attributes
    ----------
    arch : str
        Architecture name passed to ``build_model`` ("2d", "2d-ensemble", "3d").
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Cells per batch.
    learning_rate : float
        Adam learning rate.
    patience : int
        Epochs without a better validation loss before stopping.
    val_fraction, test_fraction : float
        Fractions of cells held out for validation and test.
    seed : int
        Seed of the split, the weights' initialisation, shuffling and augmentation.
    augment : AugmentSettings or None
        On-the-fly augmentation of training cells (None: none).
    balance : bool
        Weight samples by inverse class frequency, task by task.
    steps_per_epoch : int or None
        Cap on training batches per epoch (None: all training cells once).
    max_seconds : float or None
        Wall-clock budget of one fit: training stops after the epoch that passes it (best
        weights kept, like early stopping). None: no limit.
    um_per_px : float or None
        Input pixel size in µm, passed to ``build_model``: tunes its striation filter bank
        (``PreprocessSettings.target_um_per_px``). None: the published trunk unchanged.
    """

    arch: str = "2d"
    epochs: int = 60
    batch_size: int = 16
    learning_rate: float = 1e-3
    patience: int = 10
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    augment: AugmentSettings | None = field(default_factory=AugmentSettings)
    balance: bool = True
    steps_per_epoch: int | None = None
    max_seconds: float | None = None
    um_per_px: float | None = None
    loss_weights: dict | None = None

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"`{name}` must be >= 1; got {getattr(self, name)}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"`learning_rate` must be > 0; got {self.learning_rate}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"`steps_per_epoch` must be >= 1 or None; got {self.steps_per_epoch}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"`max_seconds` must be > 0 or None; got {self.max_seconds}")

    def to_dict(self) -> dict:
        """JSON-ready copy (for the model card)."""
        d = asdict(self)
        d["augment"] = None if self.augment is None else self.augment.to_dict()
        return d


@dataclass
class TrainResult:
    """What :func:`train_model` hands back.

    Attributes
    ----------
    model : keras.Model
        Trained model with the best validation weights.
    split : CellSplit
        The cell split used.
    classes : dict of str to list of str
        Class names per task, in output order.
    history : dict of str to list of float
        Per-epoch training and validation losses/accuracies (all epochs, resumed ones too).
    val_metrics, test_metrics : dict
        :func:`evaluate_ratings` on the validation and the held-out test cells.
    epochs_run : int
        Epochs completed in total.
    best_epoch : int
        1-based epoch whose weights were kept.
    """

    model: object
    split: CellSplit
    classes: dict
    history: dict
    val_metrics: dict
    test_metrics: dict
    epochs_run: int
    best_epoch: int


def predict_probs(model, inputs: np.ndarray, tasks, *, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Class probabilities per task for stored inputs (no augmentation), as float64."""
    if len(inputs) == 0:
        raise ValueError("`inputs` is empty: nothing to predict")
    raw = model.predict(inputs, batch_size=batch_size, verbose=0)
    if not isinstance(raw, dict):
        names = list(getattr(model, "output_names", tasks))
        raw = dict(zip(names, raw if isinstance(raw, (list, tuple)) else [raw]))
    return {t: np.asarray(raw[t], dtype=np.float64) for t in tasks}


def _new_state(settings, split) -> dict:
    """Training state of one model before its first epoch (saved as ``state.json``)."""
    return {"epoch": 0, "best_epoch": 0, "best_val_loss": float("inf"), "wait": 0, "history": {},
            "split": {k: split.indices(k).tolist() for k in ("train", "val", "test")},
            "settings": settings.to_dict()}


def _load_checkpoint(keras, folder, state):
    """(state, model or None, best weights or None) from a checkpoint folder, if it holds one.

    Raises ValueError when the stored split is not `state`'s (other data, ratings or seed).
    """
    if folder is None or not (folder / "last.keras").is_file() or not (folder / "state.json").is_file():
        return state, None, None
    stored = json.loads((folder / "state.json").read_text())
    if stored["split"] != state["split"]:
        raise ValueError(f"cannot resume from {folder}: the stored split differs (other data, ratings or seed)")
    best = keras.models.load_model(folder / "best.keras").get_weights() if (folder / "best.keras").is_file() else None
    model = keras.models.load_model(folder / "last.keras")
    log.info("%s: resuming after epoch %d", model.name, stored["epoch"])
    return stored, model, best


def _record_epoch(model, state: dict, val_loss: float, epoch: int, folder) -> bool:
    """Update best / patience after `epoch` (0-based) and checkpoint; True if the model improved."""
    state["epoch"] = epoch + 1
    improved = val_loss < state["best_val_loss"]
    if improved:
        state.update(best_val_loss=val_loss, best_epoch=epoch + 1, wait=0)
    else:
        state["wait"] += 1
    if folder is not None:
        if improved:
            model.save(folder / "best.keras")
        model.save(folder / "last.keras")
        tmp = folder / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(folder / "state.json")
    return improved


def _make_callback(keras, checkpoint_dir, patience, state, max_seconds=None):
    """Early stopping on val_loss with best-weight restore, checkpointing and resumable state."""

    class _Checkpointer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.state = state
            self.best_weights = None
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            for k, v in logs.items():
                self.state["history"].setdefault(k, []).append(float(v))
            val = float(logs.get("val_loss", np.inf))
            if _record_epoch(self.model, self.state, val, epoch, checkpoint_dir):
                self.best_weights = self.model.get_weights()
            # per epoch: -v (a fine-tuning's cross-validation fits dozens of models)
            log.debug("epoch %d: loss %.4f val_loss %.4f (best %.4f at epoch %d)", epoch + 1,
                      logs.get("loss", np.nan), val, self.state["best_val_loss"], self.state["best_epoch"])
            if self.state["wait"] >= patience:
                log.debug("early stop: no better val_loss for %d epochs", patience)
                self.model.stop_training = True
            elif max_seconds is not None and time.monotonic() - self.started > max_seconds:
                log.info("time budget of %.0f s used up after epoch %d", max_seconds, epoch + 1)
                self.state["stopped_by_time"] = True
                self.model.stop_training = True

    return _Checkpointer()


def _compile(model, losses: dict[str, str], learning_rate, loss_weights=None):
    keras = _keras()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=dict(losses),
        loss_weights=None if not loss_weights else {t: float(loss_weights.get(t, 1.0)) for t in losses},
        metrics={t: ["accuracy"] for t in losses},
    )


def _fit_one(model, inputs, y, split, settings, *, losses, n_classes, checkpoint_dir, resume, spatial_axes):
    """Fit one Keras model (a singular net, or one ensemble member) with resumable early stopping.

    Returns the model (best weights) and its training state (history, epochs, best epoch).
    """
    keras = _keras()
    weights = ({t: class_weights(y[t][split.train], n_classes[t]) for t in y} if settings.balance else None)
    train_seq = CellSequence(inputs, y, split.train, batch_size=settings.batch_size, augment=settings.augment,
                             weights=weights, shuffle=True, seed=settings.seed, spatial_axes=spatial_axes)
    val_seq = CellSequence(inputs, y, split.val, batch_size=settings.batch_size, augment=None)
    state, loaded, best_weights = _new_state(settings, split), None, None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        state, loaded, best_weights = _load_checkpoint(keras, checkpoint_dir, state)
    if loaded is not None:
        model = loaded  # compiled, with its optimiser state
    else:
        _compile(model, losses, settings.learning_rate, settings.loss_weights)

    callback = _make_callback(keras, checkpoint_dir, settings.patience, state, settings.max_seconds)
    callback.best_weights = best_weights
    train_seq.epoch = state["epoch"]
    train_seq._order = train_seq._make_order()
    if state["epoch"] < settings.epochs and state["wait"] < settings.patience:
        steps = None if settings.steps_per_epoch is None else min(settings.steps_per_epoch, len(train_seq))
        # shuffle=False: CellSequence shuffles itself, seeded; Keras would reorder its batches
        # with Python's global `random`, so two runs with one seed would differ
        model.fit(train_seq, validation_data=val_seq, epochs=settings.epochs, initial_epoch=state["epoch"],
                  steps_per_epoch=steps, callbacks=[callback], verbose=0, shuffle=False)
    if callback.best_weights is not None:
        model.set_weights(callback.best_weights)
    log.info("%s: %d epochs, best val_loss %.4f at epoch %d%s", model.name, state["epoch"], state["best_val_loss"],
             state["best_epoch"], " (time budget used up)" if state.get("stopped_by_time") else "")
    return model, state


def _copy_weights(source, target) -> None:
    """Weights of every layer of `source` into the layer of the same name in `target`."""
    for layer in source.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())


def adapt_batchnorm(model, inputs: np.ndarray, *, batch_size: int = 32) -> None:
    """Set every BatchNorm layer's moving statistics to those of `inputs` (in place).

    Layer by layer in graph order, each layer's input is computed in inference mode with the
    statistics already adapted before it, and its moving mean and variance become the mean and
    variance of that input over cells and positions (Li et al. 2018, "Adaptive batch
    normalization for practical domain adaptation"). Learned weights are untouched.
    """
    keras = _keras()
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        feed = keras.Model(model.inputs[0], layer.input)
        x = np.concatenate([np.asarray(feed(inputs[i:i + batch_size], training=False), np.float64)
                            for i in range(0, len(inputs), batch_size)])
        axes = tuple(range(x.ndim - 1))
        layer.set_weights([*layer.get_weights()[:-2], x.mean(axis=axes), x.var(axis=axes)])


def fine_tune_model(init, inputs: np.ndarray, y: dict[str, np.ndarray], split: CellSplit, settings: TrainSettings,
                    fine_tune, *, checkpoint_dir: Path | None = None, resume: bool = False):
    """Adapt a trained singular CNN to new rated cells: heads first, then the whole network.

    Parameters
    ----------
    init : keras.Model
        The trained model (left unchanged: a copy is tuned).
    inputs : (N, ...) ndarray of float32
        Preprocessed inputs of all rated cells, with the initial model's preprocessing.
    y : dict of str to (N,) ndarray of int
        Class index per cell of each rated task (a subset of the model's tasks).
    split : CellSplit
        Train and validation cells (early stopping on the validation loss in both phases).
    settings : TrainSettings
        Augmentation, balance, batch size, seed, patience; `learning_rate` for the heads and
        `epochs` for each phase (the first one also at most ``fine_tune.head_epochs``).
    fine_tune : FineTuneSettings
        Phase lengths and the trunk's learning rate.
    checkpoint_dir : Path, optional
        Phase checkpoints go to ``heads/`` and ``trunk/`` under it (resumable).
    resume : bool
        Continue from those checkpoints.

    Returns
    -------
    model : keras.Model
        All of `init`'s outputs; the heads of tasks not in `y` keep their weights.
    history : dict of str to list of float
        Both phases, one entry per epoch.
    epochs_run, best_epoch : int
        Over both phases (1-based; the phase-2 epochs follow the phase-1 ones).

    Notes
    -----
    With ``fine_tune.adapt_batchnorm`` the BatchNorm statistics are first set to those of the
    training cells (:func:`adapt_batchnorm`): another microscope's contrast no longer reads as
    another structure. Phase 1 trains the rated tasks' heads with the trunk and its BatchNorm
    statistics frozen (a frozen Keras BatchNorm runs in inference mode); phase 2 unfreezes the
    trunk (but the fixed striation filters) at ``learning_rate * trunk_lr_factor``. An unrated
    head never learns (its weights stay the initial ones), but it reads the trunk: in phase 2 the
    trunk also learns to keep the initial model's own classes of the unrated tasks on these cells
    (learning without forgetting, Li & Hoiem 2016, with hard targets), else tuning the trunk to
    one task drags the others away (measured on striped test cells, one task rated: the unrated
    task fell from 92 % to 69-80 %); phase 2's ``loss`` in the history counts those terms too.
    If phase 2 ends with a worse validation loss of the rated tasks than phase 1, phase 1's
    weights are kept.
    """
    keras = _keras()
    model = keras.models.clone_model(init)
    model.set_weights(init.get_weights())
    fixed = {layer.name for layer in model.layers if not layer.trainable}
    tasks = list(y)
    unrated = [t for t in model.output_names if t not in y]
    heads = {f"{t}_{part}" for t in tasks for part in ("dense20", "logits")}
    unrated_heads = {f"{t}_{part}" for t in unrated for part in ("dense20", "logits")}
    spatial_axes = (0, 1) if inputs.ndim == 4 else (1, 2)
    keras.utils.set_random_seed(settings.seed)
    # what the initial model says of the unrated tasks, before anything changes (see Notes)
    kept = _predicted_classes(init, inputs, unrated, settings.batch_size)
    if fine_tune.adapt_batchnorm:
        adapt_batchnorm(model, inputs[split.train], batch_size=settings.batch_size)

    def phase(name: str, outputs, trainable, phase_settings):
        for layer in model.layers:
            layer.trainable = layer.name not in fixed and trainable(layer)
        sub = keras.Model(model.inputs, {t: model.get_layer(t).output for t in outputs}, name=f"{model.name}_{name}")
        targets = {t: y[t] if t in y else kept[t] for t in outputs}
        folder = None if checkpoint_dir is None else Path(checkpoint_dir) / name
        fitted, state = _fit_one(sub, inputs, targets, split, phase_settings,
                                 losses={t: "sparse_categorical_crossentropy" for t in outputs},
                                 n_classes={t: int(model.get_layer(f"{t}_logits").units) for t in outputs},
                                 checkpoint_dir=folder, resume=resume, spatial_axes=spatial_axes)
        if fitted is not sub:  # resumed: a model loaded from the checkpoint, not sharing layers
            _copy_weights(fitted, model)
        return state

    batchnorm = keras.layers.BatchNormalization
    first = phase("heads", tasks, lambda layer: layer.name in heads,
                  replace(settings, epochs=min(int(fine_tune.head_epochs), settings.epochs)))
    after_heads, heads_loss = model.get_weights(), _rated_val_loss(model, inputs, y, split.val, settings.batch_size)
    second = phase("trunk", tasks + unrated,
                   lambda layer: layer.name not in unrated_heads and (fine_tune.train_batchnorm
                                                                      or not isinstance(layer, batchnorm)),
                   replace(settings, learning_rate=settings.learning_rate * fine_tune.trunk_lr_factor))
    for layer in model.layers:
        layer.trainable = layer.name not in fixed
    e1, e2 = int(first["epoch"]), int(second["epoch"])
    best = e1 + int(second["best_epoch"])
    trunk_loss = _rated_val_loss(model, inputs, y, split.val, settings.batch_size)
    if trunk_loss > heads_loss:
        log.info("fine-tuning the trunk did not lower the rated tasks' validation loss (%.4f > %.4f): "
                 "heads-only weights kept", trunk_loss, heads_loss)
        model.set_weights(after_heads)
        best = int(first["best_epoch"])
    history = {k: first["history"].get(k, []) + second["history"].get(k, [])
               for k in {*first["history"], *second["history"]}}
    return model, history, e1 + e2, best


def _predicted_classes(model, inputs: np.ndarray, tasks: list[str], batch_size: int) -> dict[str, np.ndarray]:
    """Each task's most probable class index per cell under `model`."""
    from ..xai import forward_pass

    probs = forward_pass(model, inputs, outputs=tasks, batch_size=batch_size)[0] if tasks else {}
    return {t: np.argmax(p, axis=1) for t, p in probs.items()}


def _rated_val_loss(model, inputs: np.ndarray, y: dict[str, np.ndarray], val: np.ndarray, batch_size: int) -> float:
    """Summed mean cross-entropy of the rated tasks `y` on the validation cells (Keras' clipping)."""
    from ..xai import forward_pass

    probs = forward_pass(model, inputs[val], outputs=list(y), batch_size=batch_size)[0]
    return sum(float(np.mean(-np.log(np.clip(p[np.arange(len(val)), y[t][val]], 1e-7, 1.0)))) for t, p in probs.items())


#: Layers that end the fixed, weight-free front of a tuned member (see ``_architectures``)
_FRONT_OUTPUTS = ("striation_pool", "support_pool")


def _member_tail(keras, member):
    """The member from the outputs of its fixed striation front on (its own layers), or None."""
    names = {layer.name for layer in member.layers}
    if not set(_FRONT_OUTPUTS) <= names:
        return None
    front = [member.get_layer(name).output for name in _FRONT_OUTPUTS]
    return keras.Model(front, member.outputs[0], name=f"{member.name}_tail")


def _side_by_side(keras, members: dict, input_shape):
    """One Keras model whose output ``name`` is member ``name``'s probability (its own layers).

    `members` maps member name -> (task, model). When every member starts with the fixed
    striation front (no trainable weights, the same bank in each), it is computed once.
    """
    cell = keras.Input(shape=tuple(input_shape), name="cell")
    tails = {name: _member_tail(keras, m) for name, (_, m) in members.items()}
    if all(t is not None for t in tails.values()):
        first = next(iter(members.values()))[1]
        front = keras.Model(first.input, [first.get_layer(n).output for n in _FRONT_OUTPUTS], name="shared_front")
        shared = front(cell)
        outputs = {name: tail(shared) for name, tail in tails.items()}
    else:
        outputs = {name: m(cell)[task] for name, (task, m) in members.items()}
    return keras.Model(cell, outputs, name="ensemble_members")


def _binary_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p.astype(np.float64).ravel(), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _fit_ensemble(ensemble, inputs, y, split, settings, *, classes, checkpoint_dir, resume, spatial_axes):
    """Fit every one-vs-all member with its own early stopping, side by side on the same batches.

    Members stay separate models (own weights, own loss, own best epoch); one joint Keras graph
    only runs them together, and when they start with the fixed striation front (no trainable
    weights, identical in every member) it is computed once per batch for all of them. Each
    member checkpoints to ``checkpoint_dir/<member>/`` (``last.keras``, ``best.keras``,
    ``state.json``); a resumed run reloads them (the optimiser state starts afresh). Training
    stops when every member has run out of patience, at ``settings.epochs`` or after
    ``settings.max_seconds``.

    Returns
    -------
    Ensemble, dict of str to dict
        The members with their best validation weights, and each member's training state.
    """
    keras = _keras()
    from ._architectures import Ensemble

    members = {m.name: (task, cls, m) for task, cls, m in ensemble}
    targets = {name: (y[task] == classes[task].index(cls)).astype(np.int64)
               for name, (task, cls, _) in members.items()}
    states, best, folders = {}, {}, {}
    for name, (task, cls, member) in members.items():
        folders[name] = None if checkpoint_dir is None else Path(checkpoint_dir) / name
        if folders[name] is not None:
            folders[name].mkdir(parents=True, exist_ok=True)
        states[name] = _new_state(settings, split)
        if resume:
            states[name], loaded, weights = _load_checkpoint(keras, folders[name], states[name])
            members[name] = (task, cls, loaded or member)
            if weights is not None:
                best[name] = weights

    joint = _side_by_side(keras, {name: (task, m) for name, (task, _, m) in members.items()}, inputs.shape[1:])
    joint.compile(optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
                  loss={name: "binary_crossentropy" for name in members})

    weights = ({name: class_weights(t[split.train], 2) for name, t in targets.items()}
               if settings.balance else None)
    train_seq = CellSequence(inputs, targets, split.train, batch_size=settings.batch_size,
                             augment=settings.augment, weights=weights, shuffle=True, seed=settings.seed,
                             spatial_axes=spatial_axes)
    start = min(int(st["epoch"]) for st in states.values())
    train_seq.epoch = start
    train_seq._order = train_seq._make_order()
    started = time.monotonic()

    def end_epoch(epoch, logs):
        probs = joint.predict(inputs[split.val], batch_size=settings.batch_size, verbose=0)
        for name, (_, _, member) in members.items():
            st = states[name]
            if st["wait"] >= settings.patience:
                continue  # this member has stopped: its best weights are kept, later epochs ignored
            p, t = np.asarray(probs[name]).ravel(), targets[name][split.val]
            val = _binary_loss(p, t)
            for key, value in (("loss", logs.get(f"{name}_loss", np.nan)), ("val_loss", val),
                               ("val_accuracy", np.mean((p > 0.5) == t))):
                st["history"].setdefault(key, []).append(float(value))
            if _record_epoch(member, st, val, epoch, folders[name]):
                best[name] = member.get_weights()
        active = sum(st["wait"] < settings.patience for st in states.values())
        log.debug("epoch %d: loss %.4f; %d of %d members still improving", epoch + 1,
                  logs.get("loss", np.nan), active, len(members))
        if active == 0:
            joint.stop_training = True
        elif settings.max_seconds is not None and time.monotonic() - started > settings.max_seconds:
            log.info("time budget of %.0f s used up after epoch %d", settings.max_seconds, epoch + 1)
            for st in states.values():
                st["stopped_by_time"] = True
            joint.stop_training = True

    if start < settings.epochs and any(st["wait"] < settings.patience for st in states.values()):
        steps = None if settings.steps_per_epoch is None else min(settings.steps_per_epoch, len(train_seq))
        joint.fit(train_seq, epochs=settings.epochs, initial_epoch=start, steps_per_epoch=steps, verbose=0,
                  shuffle=False, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=end_epoch)])
    log.info("%d one-vs-all members: best val_loss at epochs %d-%d of %d", len(members),
             min(st["best_epoch"] for st in states.values()), max(st["best_epoch"] for st in states.values()),
             max(st["epoch"] for st in states.values()))
    grouped = {}
    for name, (task, cls, member) in members.items():
        if name in best:
            member.set_weights(best[name])
        grouped.setdefault(task, {})[cls] = member
    return Ensemble(grouped), states


def fit_model(
    inputs: np.ndarray,
    ratings: dict[str, np.ndarray],
    cell_ids,
    *,
    classes: dict[str, list[str]],
    groups=None,
    split: CellSplit | None = None,
    settings: TrainSettings | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    build=None,
) -> TrainResult:
    """Split (unless given), train with on-the-fly augmentation and early stopping; no scoring.

    Parameters and returns as :func:`train_model`, which calls this and then scores the
    validation and test cells; here `val_metrics` and `test_metrics` are left empty.

    Parameters
    ----------
    split : CellSplit, optional
        The split to use (e.g. one made for several kinds of rater at once); default
        ``split_cells(cell_ids, ratings, groups=groups, ...)`` with the settings' fractions and seed.
    """
    keras = _keras()
    settings = TrainSettings() if settings is None else settings
    if not isinstance(inputs, np.ndarray) or inputs.dtype != np.float32:
        raise TypeError(f"`inputs` must be a float32 ndarray; got {type(inputs).__name__} "
                        f"{getattr(inputs, 'dtype', '')}")
    if inputs.ndim not in (4, 5):
        raise ValueError(f"`inputs` must be (N, Y, X, C) or (N, Z, Y, X, C); got shape {inputs.shape}")
    if not ratings:
        raise ValueError("`ratings` holds no task to train")
    tasks = list(ratings)
    y = encode_ratings(ratings, classes)
    for task, v in y.items():
        if v.shape != (len(inputs),):
            raise ValueError(f"`ratings[{task!r}]` has {v.size} cells; `inputs` has {len(inputs)}")
    if resume and checkpoint_dir is None:
        raise ValueError("`resume=True` needs a `checkpoint_dir`")

    keras.utils.set_random_seed(settings.seed)
    if split is None:
        split = split_cells(cell_ids, y, groups=groups, val_fraction=settings.val_fraction,
                            test_fraction=settings.test_fraction, seed=settings.seed)
    log.info("split: %d train, %d val, %d test cells", split.train.size, split.val.size, split.test.size)
    if build is None:
        from ._architectures import build_model as build
    task_classes = classes_subset(classes, tasks)
    tuned = {} if settings.um_per_px is None else {"um_per_px": settings.um_per_px}
    model = build(settings.arch, input_shape=tuple(inputs.shape[1:]), tasks=task_classes, seed=settings.seed, **tuned)
    spatial_axes = (0, 1) if inputs.ndim == 4 else (1, 2)
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)

    from ._architectures import Ensemble

    if isinstance(model, Ensemble):
        model, states = _fit_ensemble(model, inputs, y, split, settings, classes=task_classes,
                                      checkpoint_dir=ckpt, resume=resume, spatial_axes=spatial_axes)
        # the members' vote is calibrated on the validation split (never on test cells), so
        # the validation scores are optimistic for the ensemble; the test scores are not
        member_probs = model.predict(inputs[split.val])
        combiner = {t: fit_combiner(member_probs[t], y[t][split.val]) for t in tasks}
        model = Ensemble(model.members, combiner={t: c for t, c in combiner.items() if c is not None})
        for task in sorted(t for t, c in combiner.items() if c is None):
            log.warning("ensemble %s: a class has no validation cell; its members vote by argmax", task)
        history = {name: st["history"] for name, st in states.items()}
        epochs_run = max(int(st["epoch"]) for st in states.values())
        best_epoch = max(int(st["best_epoch"]) for st in states.values())
    else:
        model, state = _fit_one(model, inputs, y, split, settings,
                                losses={t: "sparse_categorical_crossentropy" for t in tasks},
                                n_classes={t: len(task_classes[t]) for t in tasks}, checkpoint_dir=ckpt,
                                resume=resume, spatial_axes=spatial_axes)
        history, epochs_run, best_epoch = state["history"], int(state["epoch"]), int(state["best_epoch"])
    return TrainResult(model=model, split=split, classes=task_classes, history=history, val_metrics={},
                       test_metrics={}, epochs_run=epochs_run, best_epoch=best_epoch)


def train_model(
    inputs: np.ndarray,
    ratings: dict[str, np.ndarray],
    cell_ids,
    *,
    classes: dict[str, list[str]],
    groups=None,
    settings: TrainSettings | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    build=None,
) -> TrainResult:
    """Split, train with on-the-fly augmentation and early stopping, score the test split.

    Parameters
    ----------
    inputs : (N, Y, X, 1) or (N, Z, Y, X, 1) ndarray of float32
        Preprocessed inputs of all rated cells (``cell_input_2d`` / ``cell_input_3d``), once each.
    ratings : dict of str to (N,) array-like of str
        Rating class name per task per cell; the keys are the tasks trained.
    cell_ids : (N,) sequence of str
        Unique cell identities (the split is made on these).
    classes : dict of str to list of str
        Class names per task in output order.
    groups : (N,) sequence of str, optional
        Culture/plate/donor per cell; groups never straddle splits.
    settings : TrainSettings, optional
        Training options; defaults to ``TrainSettings()``.
    checkpoint_dir : Path, optional
        Where ``last.keras``, ``best.keras`` and ``state.json`` are written each epoch (one
        sub-folder per member for the ensemble).
    resume : bool
        Continue from the checkpoints in `checkpoint_dir` (same data and seed required: the
        split must match the stored one); members without a checkpoint start fresh.
    build : callable, optional
        ``build(arch, input_shape=..., tasks=..., seed=...)``; defaults to
        ``ames_batch.nn.build_model`` (a ``keras.Model`` or an ``Ensemble``).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If shapes disagree, ratings are not known classes, the split is impossible, or a
        checkpoint to resume from belongs to another split.

    Notes
    -----
    Seeds ``keras.utils.set_random_seed(settings.seed)`` (Python, NumPy and TensorFlow). On a
    multi-core CPU TensorFlow may still reorder float sums, so two runs agree closely but not
    bit for bit. Ensemble members are separate models, each trained on "its class or not" with
    balanced weights and its own early stopping, side by side on the same batches
    (``_fit_ensemble``).
    """
    result = fit_model(inputs, ratings, cell_ids, classes=classes, groups=groups, settings=settings,
                       checkpoint_dir=checkpoint_dir, resume=resume, build=build)
    tasks, split, model = list(ratings), result.split, result.model
    result.val_metrics = evaluate_ratings({t: np.asarray(ratings[t])[split.val] for t in tasks},
                                          predict_probs(model, inputs[split.val], tasks), classes)
    result.test_metrics = evaluate_ratings({t: np.asarray(ratings[t])[split.test] for t in tasks},
                                           predict_probs(model, inputs[split.test], tasks), classes)
    return result


def classes_subset(classes: dict[str, list[str]], tasks) -> dict[str, list[str]]:
    """The class lists of `tasks` only, in task order."""
    return {t: list(classes[t]) for t in tasks}
