"""The metrics kind of rater: the interpretable logistic regression on a cell's metrics (no TensorFlow)."""

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._metrics_model import MetricsRatingModel, _table_to_array
from ._ood import OODStatistics
from ._rater import BundleRater, CellExplanation, Rating, register_rater_kind

__all__ = ["MetricsRater", "metrics_input"]


def metrics_input(cell, field) -> dict:
    """The metrics model's input of one cell record: its metrics (`field` is not read)."""
    return dict(cell.metrics)


class MetricsRater(BundleRater):
    """A fitted :class:`MetricsRatingModel` as a :class:`~ames_batch.nn.Rater`.

    It rates a cell from the very metrics a run writes to the CSV; it has no network to
    explain, and its default heatmap is the metrics' own organised map.

    Parameters
    ----------
    model : MetricsRatingModel
        Fitted.
    card : dict, optional
        Its model card (None for a model not saved yet).

    Attributes
    ----------
    ood : OODStatistics or None
        Its training cells' standardised metrics (the card's ``ood``); with it, :meth:`rate`
        adds ``ood_score`` and ``ood`` per cell.
    """

    explanations = ()
    default_explanations = ("organised",)
    needs_stack = False
    batch_size = 4096
    preparer = staticmethod(metrics_input)

    def __init__(self, model: MetricsRatingModel, card: dict | None = None):
        self.model = model
        self.card = card or {}
        self.tasks = {t: tuple(c) for t, c in model.classes.items()}
        self.ood = OODStatistics.from_dict(self.card["ood"]) if "ood" in self.card else None

    @classmethod
    def from_bundle(cls, path: Path, card: dict) -> "MetricsRater":
        return cls(MetricsRatingModel.load(path), card)

    @staticmethod
    def needs_stack_for(card: dict) -> bool:
        return False

    def predict_proba(self, batch: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
        return self.model.predict_proba(list(batch))

    def features(self, batch: Sequence[Mapping[str, float]]) -> np.ndarray:
        """(N, F) metrics as the regression sees them: undefined ones set to the training median,
        then standardised with the training mean and scale."""
        m = self.model
        m._check_fitted()
        x = _table_to_array(list(batch), m.features, allow_empty=True)
        return (np.where(np.isnan(x), m.medians_[None, :], x) - m.mean_) / m.scale_

    def rate(self, batch: Sequence[Mapping[str, float]], explain=()) -> Rating:
        """As :meth:`BundleRater.rate`, with ``ood_score`` and ``ood`` per cell when the card has them."""
        rating = super().rate(batch, explain)
        if self.ood is None or not len(batch):
            return rating
        for column, ood in zip(rating.columns, self.ood.columns(self.features(batch))):
            column.update(ood)
        return rating

    def explain(self, method: str, batch, probabilities) -> list[CellExplanation]:
        raise ValueError(f"{self.name} is a metrics model: it rates from measured numbers and has no network "
                         f"to explain ({method!r})")

    def save(self, path, *, name: str, version: str, training: dict, metrics: dict | None = None,
             description: str = "") -> Path:
        """Write this rater as a bundle folder: ``model.json`` + ``metrics_model.json``."""
        from ._bundle import make_card, write_bundle

        card = make_card(name=name, version=version, tasks={t: list(c) for t, c in self.tasks.items()},
                         settings=None, training=training, metrics=metrics, description=description)
        card["arch"] = "metrics"
        if self.ood is not None:
            card["ood"] = self.ood.to_dict()
        return write_bundle(path, card, lambda folder: [self.model.save(folder).name], overwrite=True,
                            packages=("scikit-learn",))


register_rater_kind("metrics", MetricsRater)
