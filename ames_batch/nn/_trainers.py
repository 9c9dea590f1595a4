"""The trainer face: fit any kind of rater from prepared cells and their ratings.

A trainer prepares cells exactly as its rater will (``prepare(cell, field)``) and fits on a
split made by the caller, so every kind is trained, scored and saved by the same code
(``ames_batch.pipeline.train_plate``) with no special path. Every fitted rater also learns what
its training cells looked like (``ood``, see ``_ood.py``): the density on the training split,
the threshold on the validation split.

Fine-tuning (``make_trainer(..., init=rater)``) starts from a trained singular CNN instead of
random weights: first only the heads of the rated tasks learn (trunk frozen), then the trunk
joins at a lower learning rate. Heads of tasks the ratings leave out are never trained.
"""

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ._architectures import ARCHS
from ._cnn_rater import FEATURE_LAYER, CNNRater, cnn_input
from ._metrics_rater import MetricsRater, metrics_input
from ._ood import OOD_QUANTILE, OODStatistics, fit_ood
from ._preprocess import PreprocessSettings
from ._rater import Prepares
from ._split import CellSplit

__all__ = ["FineTuneSettings", "FitResult", "Trainer", "add_ood_statistics", "fit_rater_ood", "make_trainer",
           "tuning_candidates"]

#: Every kind `make_trainer` builds.
TRAINABLE = (*ARCHS, "metrics", "hybrid")
#: Kinds `make_trainer(..., init=rater)` fine-tunes.
FINE_TUNABLE = ("2d", "3d", "hybrid")


@dataclass
class FitResult:
    """A fitted, unsaved rater and how its fit went.

    Attributes
    ----------
    rater : Rater
        Implements the rater protocol and ``save(path, name=, version=, training=, metrics=)``.
    history : dict
        Per-epoch losses (empty for a closed-form fit).
    epochs_run, best_epoch : int
        0 for a closed-form fit.
    settings : dict
        How it was trained, for the card (JSON-ready).
    """

    rater: object
    history: dict = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int = 0
    settings: dict = field(default_factory=dict)


class Trainer(Protocol):
    """Fits one kind of rater. ``needs_stack``, ``preparer`` and ``prepare`` as in :class:`~ames_batch.nn.Rater`."""

    arch: str
    needs_stack: bool
    preparer: Callable[[Any, Any], Any]

    def prepare(self, cell, field): ...

    def fit(self, prepared: Sequence, ratings: Mapping[str, np.ndarray], cell_ids: Sequence[str],
            split: CellSplit, *, classes: Mapping[str, Sequence[str]], checkpoint_dir: Path | None = None,
            resume: bool = False) -> FitResult: ...


@dataclass(frozen=True)
class FineTuneSettings:
    """How a trained CNN is adapted to new rated cells (recorded in the card).

    Attributes
    ----------
    head_epochs : int
        Most epochs of the first phase (and at most the trainer's `epochs`): only the rated
        tasks' heads learn, at the trainer's learning rate, the trunk (and its BatchNorm
        statistics) frozen.
    trunk_lr_factor : float
        Second phase: the whole network (but the fixed striation filters) learns at the
        learning rate times this, for at most the trainer's `epochs`.
    train_batchnorm : bool
        Let BatchNorm layers renew their statistics in the second phase (they see the new
        images' contrast); False keeps them.
    adapt_batchnorm : bool
        Before the first phase, set the BatchNorm statistics to those of the training cells
        (``ames_batch.nn.adapt_batchnorm``: no labels needed).
    """

    head_epochs: int = 20
    trunk_lr_factor: float = 0.1
    train_batchnorm: bool = True
    adapt_batchnorm: bool = True

    def __post_init__(self):
        if int(self.head_epochs) < 1:
            raise ValueError(f"`head_epochs` must be >= 1; got {self.head_epochs}")
        if not 0 < self.trunk_lr_factor <= 1:
            raise ValueError(f"`trunk_lr_factor` must be in (0, 1]; got {self.trunk_lr_factor}")


def fit_rater_ood(rater, fit_batch: Sequence, held_out_batch: Sequence, *,
                  quantile: float = OOD_QUANTILE) -> OODStatistics | None:
    """Give `rater` (a singular CNN or a metrics model) the statistics of its training cells.

    Parameters
    ----------
    rater : CNNRater or MetricsRater
        Fitted; its ``ood`` is set here.
    fit_batch : sequence
        Prepared inputs of the cells it was fitted on (``rater.prepare``; for a CNN also an
        (N, ...) float32 array of inputs).
    held_out_batch : sequence
        Prepared inputs of in-distribution cells it never trained on (its validation cells).
    quantile : float
        Share of the held-out cells left unflagged.

    Returns
    -------
    OODStatistics or None
        None (and ``rater.ood`` None) for an ensemble, which has no shared feature layer.
    """
    if isinstance(rater, CNNRater) and rater.model.members is not None:
        rater.ood = None
        return None
    name = FEATURE_LAYER if isinstance(rater, CNNRater) else "metrics"
    rater.ood = fit_ood(rater.features(fit_batch), rater.features(held_out_batch), features=name,
                        quantile=quantile)
    return rater.ood


def add_ood_statistics(path: str | os.PathLike, fit_inputs, held_out_inputs, *,
                       quantile: float = OOD_QUANTILE) -> OODStatistics:
    """Add ``ood`` statistics to a saved bundle (e.g. the bundled default) and save it in place.

    Parameters
    ----------
    path : path-like
        Bundle folder (its card and files are rewritten; name, version, training, metrics and
        description kept; the identity changes, so `run` re-rates fields it rated before).
    fit_inputs, held_out_inputs
        As for :func:`fit_rater_ood`: the bundle's training cells (or a fresh draw from the same
        distribution) and held-out cells of that distribution.
    quantile : float
        Share of the held-out cells left unflagged.

    Returns
    -------
    OODStatistics
    """
    from ._rater import load_rater

    rater = load_rater(path)
    stats = fit_rater_ood(rater, fit_inputs, held_out_inputs, quantile=quantile)
    if stats is None:
        raise ValueError(f"{path}: an ensemble has no shared feature layer for ood statistics")
    card = rater.card
    rater.save(path, name=card["name"], version=card["version"], training=card["training"],
               metrics=card.get("metrics"), description=card.get("description", ""))
    return stats


class _CNNTrainer(Prepares):
    """A CNN ("2d", "2d-ensemble", "3d") from preprocessed windows (``ames_batch.nn.fit_model``)."""

    def __init__(self, arch: str, preprocess: PreprocessSettings, settings):
        self.arch = arch
        self.preprocess = preprocess
        self.preparer = partial(cnn_input, preprocess)
        self.settings = settings
        self.needs_stack = preprocess.ndim == 3

    def fit(self, prepared, ratings, cell_ids, split, *, classes, checkpoint_dir=None, resume=False) -> FitResult:
        from ._predict import RatingModel
        from ._train import fit_model

        inputs = np.stack([p.x for p in prepared]).astype(np.float32)
        result = fit_model(inputs, dict(ratings), list(cell_ids), classes={t: list(c) for t, c in classes.items()},
                           split=split, settings=self.settings, checkpoint_dir=checkpoint_dir, resume=resume)
        rater = CNNRater(RatingModel(result.model, tasks=result.classes, settings=self.preprocess))
        fit_rater_ood(rater, inputs[split.train], inputs[split.val])
        return FitResult(rater=rater, history=result.history, epochs_run=result.epochs_run,
                         best_epoch=result.best_epoch, settings=self.settings.to_dict())


class _FineTuneTrainer(Prepares):
    """A singular CNN ("2d", "3d") fine-tuned from a trained one (``ames_batch.nn.fine_tune_model``)."""

    def __init__(self, init: CNNRater, settings, fine_tune: FineTuneSettings):
        self.init = init
        self.arch = init.model.arch
        self.preprocess = init.settings
        self.preparer = init.preparer
        self.settings = settings
        self.fine_tune = fine_tune
        self.needs_stack = init.needs_stack

    def fit(self, prepared, ratings, cell_ids, split, *, classes, checkpoint_dir=None, resume=False) -> FitResult:
        from ._evaluate import encode_ratings
        from ._predict import RatingModel
        from ._train import fine_tune_model

        for task in ratings:
            if task not in self.init.tasks or list(classes[task]) != list(self.init.tasks[task]):
                raise ValueError(f"{self.init.name} rates {dict(self.init.tasks)}; cannot fine-tune task {task!r} "
                                 f"with classes {list(classes.get(task, []))}")
        inputs = np.stack([p.x for p in prepared]).astype(np.float32)
        y = encode_ratings(dict(ratings), {t: list(classes[t]) for t in ratings})
        model, history, epochs_run, best_epoch = fine_tune_model(
            self.init.model.keras_model, inputs, y, split, self.settings, self.fine_tune,
            checkpoint_dir=checkpoint_dir, resume=resume)
        tasks = {t: list(c) for t, c in self.init.tasks.items()}
        rater = CNNRater(RatingModel(model, tasks=tasks, settings=self.preprocess))
        fit_rater_ood(rater, inputs[split.train], inputs[split.val])
        return FitResult(rater=rater, history=history, epochs_run=epochs_run, best_epoch=best_epoch,
                         settings={**self.settings.to_dict(), "fine_tune": asdict(self.fine_tune),
                                   "init": self.init.identity, "tuned_tasks": list(ratings)})


class _MetricsTrainer(Prepares):
    """The metrics model: one logistic regression per task on the training cells' metrics."""

    arch = "metrics"
    needs_stack = False
    preparer = staticmethod(metrics_input)

    def fit(self, prepared, ratings, cell_ids, split, *, classes, checkpoint_dir=None, resume=False) -> FitResult:
        from ._metrics_model import MetricsRatingModel

        model = MetricsRatingModel(tasks=list(ratings))
        model.fit([prepared[i] for i in split.train], {t: np.asarray(v)[split.train] for t, v in ratings.items()})
        rater = MetricsRater(model)
        fit_rater_ood(rater, [prepared[i] for i in split.train], [prepared[i] for i in split.val])
        return FitResult(rater=rater, settings={"arch": "metrics", "features": list(model.features),
                                                              "c": model.c, "class_weight": model.class_weight})


def make_trainer(arch: str, *, preprocess: PreprocessSettings | None = None, max_rotation_deg: float = 5.0,
                 init: CNNRater | None = None, fine_tune: FineTuneSettings | None = None, **options) -> Trainer:
    """A trainer for `arch`.

    Parameters
    ----------
    arch : {"2d", "2d-ensemble", "3d", "metrics", "hybrid"}
        With `init`, the initial model's arch ("2d", "3d" or "hybrid"). "hybrid": a singular CNN
        (2D, or 3D when `preprocess` is 3D) and per-task heads on its features and the metrics.
    preprocess : PreprocessSettings, optional
        CNN input (default ``default_3d()`` for "3d", else ``default_2d()``); ignored by "metrics".
        With `init`, None or the initial model's own (the network was trained on it).
    init : CNNRater or HybridRater, optional
        A trained singular CNN (or hybrid: its CNN) to fine-tune (see :class:`FineTuneSettings`)
        instead of training from random weights; a CNN fitted keeps all its tasks, a hybrid
        rates the tasks it is fitted on.
    fine_tune : FineTuneSettings, optional
        How to fine-tune (with `init` only); default ``FineTuneSettings()``.
    max_rotation_deg : float
        CNN augmentation: largest random turn of a training input (flips, small gain changes
        and, when the input is not aligned to the cell's long axis, 90° turns come with it).
    **options
        Fields of ``ames_batch.nn.TrainSettings`` (epochs, batch_size, seed, ...) for CNNs;
        ignored by "metrics", which has no iterative fit.

    Raises
    ------
    ValueError
        For an unknown `arch`, or `preprocess` of the wrong dimensionality.
    """
    if arch not in TRAINABLE:
        raise ValueError(f"`arch` must be one of {TRAINABLE}; got {arch!r}")
    if fine_tune is not None and init is None:
        raise ValueError("`fine_tune` settings need an `init` model to fine-tune")
    if init is not None and arch not in FINE_TUNABLE:
        raise ValueError(f"fine-tuning starts from a singular CNN or a hybrid {FINE_TUNABLE}; "
                         f"{init!r} is a {arch!r} model")
    if arch == "hybrid":
        from ._hybrid_rater import HybridRater, HybridTrainer

        if init is not None and not isinstance(init, HybridRater):
            raise ValueError(f"`arch` 'hybrid' fine-tunes a hybrid rater; got {init!r}")
        cnn_init = None if init is None else init.cnn
        ndim = (preprocess or (cnn_init.settings if cnn_init is not None else PreprocessSettings.default_2d())).ndim
        cnn = make_trainer("3d" if ndim == 3 else "2d", preprocess=preprocess, max_rotation_deg=max_rotation_deg,
                           init=cnn_init, fine_tune=fine_tune, **options)
        return HybridTrainer(cnn_trainer=cnn)
    if init is not None:
        if not isinstance(init, CNNRater) or init.model.members is not None:
            raise ValueError(f"`init` must be a singular CNN rater ('2d' or '3d') or a hybrid; got {init!r}")
        if arch != init.model.arch:
            raise ValueError(f"`arch` {arch!r} differs from the initial model's {init.model.arch!r}")
        if preprocess is not None and preprocess != init.settings:
            raise ValueError("`preprocess` must be the initial model's own (its network was trained on it)")
        preprocess = init.settings
    if arch == "metrics":
        return _MetricsTrainer()
    from ._augment import AugmentSettings
    from ._train import TrainSettings

    if preprocess is None:
        preprocess = PreprocessSettings.default_3d() if arch == "3d" else PreprocessSettings.default_2d()
    if (preprocess.ndim == 3) != (arch == "3d"):
        raise ValueError(f"a {arch!r} model takes {'3D' if arch == '3d' else '2D'} inputs; "
                         f"`preprocess` is {preprocess.ndim}D")
    augment = AugmentSettings(rot90=not preprocess.align_long_axis, max_rotation_deg=max_rotation_deg,
                              gain=0.05, offset=0.0)
    settings = TrainSettings(arch=arch, augment=augment, um_per_px=preprocess.target_um_per_px, **options)
    if init is not None:
        return _FineTuneTrainer(init, settings, fine_tune or FineTuneSettings())
    return _CNNTrainer(arch, preprocess, settings)


def tuning_candidates(init, trainer, tasks: Sequence[str]) -> list[tuple[str, "Trainer", tuple[str, ...]]]:
    """The tuned forms of `init` worth cross-validating on a facility's rated cells.

    Parameters
    ----------
    init : Rater
        The initial model (a singular CNN or a hybrid).
    trainer : Trainer
        ``make_trainer(arch, init=init, ...)``.
    tasks : sequence of str
        The rated tasks.

    Returns
    -------
    list of (name, trainer, tasks its rater rates)
        ``"fine-tuned"`` (`trainer`: a CNN keeps every head, a hybrid's refitted heads rate the
        rated tasks) and, for a hybrid, ``"heads"``: the heads refitted on its own CNN's
        features, the unrated tasks' heads kept; and ``"recalibrated"``: the rated tasks' heads
        recalibrated on their own logits (``HeadRecalibrator``), with ``"recalibrated (task,
        ...)"`` for each smaller subset of the rated tasks (the others kept as they are).
    """
    every = tuple(init.tasks)
    if trainer.arch != "hybrid":
        return [("fine-tuned", trainer, every)]
    from itertools import combinations

    from ._hybrid_rater import HybridTrainer
    from ._recalibrate import HeadRecalibrator

    rated = tuple(tasks)
    # every subset: heads are independent given the CNN, so this is the per-task choice of
    # recalibrating or keeping, scored by the same cross-validation
    subsets = [s for n in range(len(rated), 0, -1) for s in combinations(rated, n)]
    recalibrated = [("recalibrated" if s == rated else f"recalibrated ({', '.join(s)})", HeadRecalibrator(init, s),
                     every) for s in subsets]
    return [("fine-tuned", trainer, rated), ("heads", HybridTrainer(cnn=init.cnn, keep=init), every), *recalibrated]
