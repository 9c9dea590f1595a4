"""The trainer face: fit any kind of rater from prepared cells and their ratings.

A trainer prepares cells exactly as its rater will (``prepare(cell, field)``) and fits on a
split made by the caller, so every kind is trained, scored and saved by the same code
(``ames_batch.pipeline.train_plate``) with no special path.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ._architectures import ARCHS
from ._cnn_rater import CNNRater, cnn_input
from ._metrics_rater import MetricsRater
from ._preprocess import PreprocessSettings
from ._split import CellSplit

__all__ = ["FitResult", "Trainer", "make_trainer"]

#: Every kind `make_trainer` builds.
TRAINABLE = (*ARCHS, "metrics")


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
    """Fits one kind of rater. ``needs_stack`` and ``prepare`` as in :class:`~ames_batch.nn.Rater`."""

    arch: str
    needs_stack: bool

    def prepare(self, cell, field): ...

    def fit(self, prepared: Sequence, ratings: Mapping[str, np.ndarray], cell_ids: Sequence[str],
            split: CellSplit, *, classes: Mapping[str, Sequence[str]], checkpoint_dir: Path | None = None,
            resume: bool = False) -> FitResult: ...


class _CNNTrainer:
    """A CNN ("2d", "2d-ensemble", "3d") from preprocessed windows (``ames_batch.nn.fit_model``)."""

    def __init__(self, arch: str, preprocess: PreprocessSettings, settings):
        self.arch = arch
        self.preprocess = preprocess
        self.settings = settings
        self.needs_stack = preprocess.ndim == 3

    def prepare(self, cell, field):
        return cnn_input(self.preprocess, cell, field)

    def fit(self, prepared, ratings, cell_ids, split, *, classes, checkpoint_dir=None, resume=False) -> FitResult:
        from ._predict import RatingModel
        from ._train import fit_model

        inputs = np.stack([p.x for p in prepared]).astype(np.float32)
        result = fit_model(inputs, dict(ratings), list(cell_ids), classes={t: list(c) for t, c in classes.items()},
                           split=split, settings=self.settings, checkpoint_dir=checkpoint_dir, resume=resume)
        rater = CNNRater(RatingModel(result.model, tasks=result.classes, settings=self.preprocess))
        return FitResult(rater=rater, history=result.history, epochs_run=result.epochs_run,
                         best_epoch=result.best_epoch, settings=self.settings.to_dict())


class _MetricsTrainer:
    """The metrics model: one logistic regression per task on the training cells' metrics."""

    arch = "metrics"
    needs_stack = False

    def prepare(self, cell, field):
        return dict(cell.metrics)

    def fit(self, prepared, ratings, cell_ids, split, *, classes, checkpoint_dir=None, resume=False) -> FitResult:
        from ._metrics_model import MetricsRatingModel

        model = MetricsRatingModel(tasks=list(ratings))
        model.fit([prepared[i] for i in split.train], {t: np.asarray(v)[split.train] for t, v in ratings.items()})
        return FitResult(rater=MetricsRater(model), settings={"arch": "metrics", "features": list(model.features),
                                                              "c": model.c, "class_weight": model.class_weight})


def make_trainer(arch: str, *, preprocess: PreprocessSettings | None = None, max_rotation_deg: float = 5.0,
                 **options) -> Trainer:
    """A trainer for `arch`.

    Parameters
    ----------
    arch : {"2d", "2d-ensemble", "3d", "metrics"}
    preprocess : PreprocessSettings, optional
        CNN input (default ``default_3d()`` for "3d", else ``default_2d()``); ignored by "metrics".
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
    return _CNNTrainer(arch, preprocess, settings)
