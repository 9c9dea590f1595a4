"""The rater protocol: what `run`, `train` and `evaluate` know of a rating model, and nothing more.

A rater turns cells into class probabilities per task. Each kind (a CNN bundle, the metrics
model, ...) is one class implementing :class:`Rater`; :func:`load_rater` is the only code that
knows bundle file names, and it picks the class by the card's ``arch``. Callers never ask
which kind they hold.

A *cell* handed to :meth:`Rater.prepare` is a per-cell record (``ames_batch.pipeline.CellRecord``)
with at least ``key``, ``label``, ``bbox`` (slices in the field's frame), ``mask`` (bool crop of
`bbox`), ``metrics`` (dict of ``ames_batch.metrics.METRIC_NAMES``) and ``field_mask(shape)``; a
*field* has ``mip`` (Y, X), ``stack`` (Z, Y, X) or None, and ``scale_um``.
"""

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["BundleRater", "CellExplanation", "Prepares", "Rater", "Rating", "RaterInfo", "load_rater", "rater_info", "register_rater_kind"]


@dataclass(frozen=True)
class CellExplanation:
    """One cell's heatmaps of one method.

    Attributes
    ----------
    maps : dict of str to ndarray
        Task -> map on the rater's input grid (float32; Grad-CAM in [0, 1], IG signed).
    placement : object
        Has ``to_field(array, field_shape) -> ndarray``: lays a map over the field's pixels.
    columns : dict of str to float
        Per-cell numbers to report beside the ratings (e.g. IG's completeness error per task).
    value_range : (float, float) or None
        Bounds every value of the method's maps lies in (Grad-CAM: ``xai.GRAD_CAM_RANGE``), which
        lets them be stored in 8 bits; None where the values are unbounded (IG).
    """

    maps: Mapping[str, np.ndarray]
    placement: Any
    columns: Mapping[str, float] = field(default_factory=dict)
    value_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class Rating:
    """What :meth:`Rater.rate` gives for a batch of prepared cells.

    Attributes
    ----------
    probabilities : dict of str to (N, K) ndarray
        Class probabilities per task, columns in the rater's `tasks` order.
    explanations : dict of str to list of CellExplanation
        Per heatmap method asked for, one per cell.
    columns : list of dict
        Per-cell numbers to write beside the ratings (one dict per cell; may be empty dicts).
    """

    probabilities: Mapping[str, np.ndarray]
    explanations: Mapping[str, list]
    columns: list


@runtime_checkable
class Rater(Protocol):
    """A loaded rating model of any kind.

    Attributes
    ----------
    identity : str
        ``name@version#digest``; the digest is of the bundle's content, so a model replaced in
        place is a new identity.
    name, version : str
    tasks : dict of str to tuple of str
        Class names per task, in output order.
    needs_stack : bool
        Whether `prepare` reads the field's (Z, Y, X) stack (else the MIP is enough).
    explanations : tuple of str
        Heatmap methods :meth:`explain` offers (e.g. "gradcam", "ig"); may be empty.
    default_explanations : tuple of str
        What a run writes when the user does not say ("organised" is the metrics' own map,
        which the pipeline makes for any rater).
    batch_size : int
        Cells per forward pass that keep memory bounded.
    card : dict
        The model card (provenance, metrics).
    preparer : callable
        ``preparer(cell, field) -> input``: what :meth:`prepare` does, as a picklable function of
        the rater's settings only (no model inside), so worker processes can make the inputs.
    """

    identity: str
    name: str
    version: str
    tasks: Mapping[str, tuple[str, ...]]
    needs_stack: bool
    explanations: tuple[str, ...]
    default_explanations: tuple[str, ...]
    batch_size: int
    preparer: Callable[[Any, Any], Any]

    def prepare(self, cell, field) -> Any:
        """This rater's input for one cell of `field` (pure; called once per cell): ``preparer(cell, field)``."""

    def predict_proba(self, batch: Sequence) -> dict[str, np.ndarray]:
        """``{task: (N, K) float}`` class probabilities of prepared cells, columns in `tasks` order."""

    def explain(self, method: str, batch: Sequence, probabilities: Mapping[str, np.ndarray]
                ) -> list[CellExplanation]:
        """Heatmaps of the predicted classes, one :class:`CellExplanation` per prepared cell."""

    def rate(self, batch: Sequence, explain: Sequence[str] = ()) -> Rating:
        """Probabilities, the heatmaps of `explain` and per-cell columns, sharing work where it can."""


@dataclass(frozen=True)
class RaterInfo:
    """What a bundle's card says of its rater, read without loading the model (no TensorFlow)."""

    path: Path
    card: dict
    identity: str
    tasks: dict
    needs_stack: bool
    explanations: tuple[str, ...]
    default_explanations: tuple[str, ...]

    @property
    def name(self) -> str:
        return str(self.card["name"])

    @property
    def version(self) -> str:
        return str(self.card["version"])


class Prepares:
    """`prepare` from a `preparer` (a base of the raters' and the trainers' classes)."""

    preparer: Callable[[Any, Any], Any]

    def prepare(self, cell, field) -> Any:
        """This rater's input for one cell of `field`: ``preparer(cell, field)``."""
        return self.preparer(cell, field)


class BundleRater(Prepares):
    """Name, version and identity from the card, `prepare` from its `preparer`, and `rate` from
    `predict_proba` + `explain` (a base for the kinds' classes).

    A rater not saved yet has an empty card: name "unsaved", identity ``...#unsaved``.
    """

    card: dict

    @property
    def name(self) -> str:
        return str(self.card.get("name", "unsaved"))

    @property
    def version(self) -> str:
        return str(self.card.get("version", "0"))

    @property
    def identity(self) -> str:
        return identity_of(self.card) if "card_sha256" in self.card else f"{self.name}@{self.version}#unsaved"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity!r}, tasks={list(self.tasks)})"

    def rate(self, batch: Sequence, explain: Sequence[str] = ()) -> Rating:
        """:meth:`predict_proba`, then :meth:`explain` for each method (a kind may share the work)."""
        probabilities = self.predict_proba(batch)
        explanations = {m: self.explain(m, batch, probabilities) for m in explain}
        return Rating(probabilities, explanations, _columns(len(batch), explanations))


def _columns(n: int, explanations: Mapping[str, list]) -> list[dict]:
    """The per-cell columns of all explanations, merged cell by cell."""
    columns = [{} for _ in range(n)]
    for per_cell in explanations.values():
        for col, e in zip(columns, per_cell):
            col.update(e.columns)
    return columns


#: arch -> rater class (each with ``from_bundle(path, card)`` and class-level `explanations`,
#: `default_explanations` and ``needs_stack_for(card)``); filled by the kinds' modules.
_KINDS: dict[str, type] = {}


def register_rater_kind(arch: str, cls: type) -> None:
    """Make :func:`load_rater` load bundles whose card says ``arch`` with `cls`.

    Parameters
    ----------
    arch : str
        The card's ``arch`` (it must be one the model-card schema allows).
    cls : type
        Has ``from_bundle(path, card) -> Rater``, ``needs_stack_for(card) -> bool`` and the class
        attributes ``explanations`` and ``default_explanations``.
    """
    _KINDS[arch] = cls


def _kinds() -> dict[str, type]:
    from . import _cnn_rater, _hybrid_rater, _metrics_rater  # noqa: F401  (they register themselves; no TensorFlow)

    return _KINDS


def identity_of(card: dict) -> str:
    """``name@version#digest`` of a card (its ``card_sha256`` covers every model file's sha256)."""
    return f"{card['name']}@{card['version']}#{card['card_sha256'][:12]}"


def rater_info(path: str | os.PathLike) -> RaterInfo:
    """What the bundle at `path` rates, read from its checked card only (fast, no TensorFlow).

    Raises
    ------
    ModelBundleError
        As :func:`ames_batch.nn.read_card`.
    """
    from ._bundle import read_card

    path = Path(path)
    card = read_card(path)
    cls = _kinds()[card["arch"]]
    return RaterInfo(path=path, card=card, identity=identity_of(card),
                     tasks={t: tuple(c) for t, c in card["tasks"].items()},
                     needs_stack=cls.needs_stack_for(card), explanations=tuple(cls.explanations),
                     default_explanations=tuple(cls.default_explanations))


def load_rater(path: str | os.PathLike) -> Rater:
    """Load the rater of a bundle folder, whatever its kind.

    Parameters
    ----------
    path : path-like
        A folder written by ``ames-batch train`` (any ``--arch``) or the bundled default.

    Returns
    -------
    Rater

    Raises
    ------
    ModelBundleError
        If the folder, its card or its files are missing, edited or inconsistent.
    """
    from ._bundle import read_card

    path = Path(path)
    card = read_card(path)
    return _kinds()[card["arch"]].from_bundle(path, card)
