"""The metrics kind of rater: the interpretable logistic regression on a cell's metrics (no TensorFlow)."""

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._metrics_model import MetricsRatingModel
from ._rater import BundleRater, CellExplanation, register_rater_kind

__all__ = ["MetricsRater"]


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
    """

    explanations = ()
    default_explanations = ("organised",)
    needs_stack = False
    batch_size = 4096

    def __init__(self, model: MetricsRatingModel, card: dict | None = None):
        self.model = model
        self.card = card or {}
        self.tasks = {t: tuple(c) for t, c in model.classes.items()}

    @classmethod
    def from_bundle(cls, path: Path, card: dict) -> "MetricsRater":
        return cls(MetricsRatingModel.load(path), card)

    @staticmethod
    def needs_stack_for(card: dict) -> bool:
        return False

    def prepare(self, cell, field) -> dict:
        return dict(cell.metrics)

    def predict_proba(self, batch: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
        return self.model.predict_proba(list(batch))

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
        return write_bundle(path, card, lambda folder: [self.model.save(folder).name], overwrite=True,
                            packages=("scikit-learn",))


register_rater_kind("metrics", MetricsRater)
