"""The CNN kind of rater: a Keras bundle ("2d", "2d-ensemble", "3d") behind the rater protocol."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ._architectures import ARCHS, LAST_CONV
from ._ood import OODStatistics
from ._preprocess import CellGeometry, PreprocessSettings, cell_input_2d, cell_input_3d
from ._rater import BundleRater, CellExplanation, Rating, _columns, register_rater_kind

__all__ = ["FEATURE_LAYER", "CNNInput", "CNNRater", "cnn_input"]

#: Cells per forward/gradient pass; a 3D input is ~16x larger and its activations dominate memory.
BATCH_SIZE = {2: 32, 3: 4}
#: Integration steps of Integrated Gradients (Gauss-Legendre); completeness is reported per cell.
IG_STEPS = 32
#: A singular CNN's shared features before the heads: where its cells are compared for `ood`.
FEATURE_LAYER = "dense100"


@dataclass(frozen=True, eq=False)
class CNNInput:
    """One cell as a CNN sees it: the normalised window and where it lies in the field."""

    x: np.ndarray  # (H, W, 1) or (D, H, W, 1) float32
    geometry: CellGeometry


def cnn_input(settings: PreprocessSettings, cell, field) -> CNNInput:
    """The model input of one cell record of `field` under `settings` (2D: the MIP, 3D: the stack)."""
    mask = cell.field_mask(field.mip.shape)
    if settings.ndim == 3:
        x, geometry = cell_input_3d(field.stack, mask, field.scale_um, settings)
    else:
        x, geometry = cell_input_2d(field.mip, mask, float(field.scale_um["x"]), settings)
    return CNNInput(x.astype(np.float32, copy=False), geometry)


class CNNRater(BundleRater):
    """A loaded CNN (``RatingModel``) as a :class:`~ames_batch.nn.Rater`.

    Parameters
    ----------
    model : RatingModel
        The network(s), tasks and preprocessing settings.
    card : dict, optional
        Its model card (None for a model not saved yet).

    Attributes
    ----------
    ood : OODStatistics or None
        Its training cells in `FEATURE_LAYER` space (the card's ``ood``); with it, :meth:`rate`
        adds ``ood_score`` and ``ood`` per cell, from the same forward pass as the probabilities.
    """

    explanations = ("gradcam", "ig")
    default_explanations = ("gradcam",)

    def __init__(self, model, card: dict | None = None):
        self.model = model
        self.card = card if card is not None else (model.card or {})
        self.tasks = {t: tuple(c) for t, c in model.tasks.items()}
        self.settings = model.settings
        self.preparer = partial(cnn_input, model.settings)
        self.needs_stack = model.settings.ndim == 3
        self.batch_size = BATCH_SIZE[model.settings.ndim]
        self.ood = OODStatistics.from_dict(self.card["ood"]) if "ood" in self.card else None

    @classmethod
    def from_bundle(cls, path: Path, card: dict) -> "CNNRater":
        from ._bundle import load_bundle

        return cls(load_bundle(path), card)

    @staticmethod
    def needs_stack_for(card: dict) -> bool:
        return len(card["preprocessing"]["input_shape"]) == 3

    def predict_proba(self, batch: Sequence[CNNInput]) -> dict[str, np.ndarray]:
        x = np.stack([b.x for b in batch]) if len(batch) else np.zeros((0, *self.model.input_shape), np.float32)
        return self.model.predict(x, batch_size=self.batch_size)

    def features(self, batch: Sequence[CNNInput] | np.ndarray) -> np.ndarray:
        """(N, 100) activations of `FEATURE_LAYER` (inference mode) of a singular CNN's cells
        (prepared cells, or their stacked (N, ...) float32 inputs)."""
        from ..xai import forward_pass

        if self.model.members is not None:
            raise ValueError(f"{self.name}: an ensemble has no shared feature layer")
        x = batch if isinstance(batch, np.ndarray) else np.stack([b.x for b in batch])
        _, extras = forward_pass(self.model.keras_model, x.astype(np.float32, copy=False), outputs=list(self.tasks),
                                 extra_layers=[FEATURE_LAYER], batch_size=self.batch_size)
        return extras[FEATURE_LAYER]

    def rate(self, batch: Sequence[CNNInput], explain: Sequence[str] = ()) -> Rating:
        """As :meth:`BundleRater.rate`; a singular CNN's Grad-CAM and ``ood`` columns come from its
        predicting pass."""
        from ..xai import GRAD_CAM_RANGE, forward_pass, grad_cam_pass

        singular = self.model.members is None
        cam = singular and "gradcam" in explain
        extra = [self.ood.features] if singular and self.ood is not None else []
        if not batch or not (cam or extra):
            return super().rate(batch, explain)
        x = np.stack([b.x for b in batch])
        if cam:
            probs, maps, extras = grad_cam_pass(self.model.keras_model, x, outputs=list(self.tasks), layer=LAST_CONV,
                                                extra_layers=extra, batch_size=self.batch_size)
        else:
            probs, extras = forward_pass(self.model.keras_model, x, outputs=list(self.tasks), extra_layers=extra,
                                         batch_size=self.batch_size)
        explanations = {m: self.explain(m, batch, probs) for m in explain if not (cam and m == "gradcam")}
        if cam:
            explanations["gradcam"] = [CellExplanation(maps={t: maps[t][i] for t in self.tasks}, placement=b.geometry,
                                                       value_range=GRAD_CAM_RANGE) for i, b in enumerate(batch)]
        columns = _columns(len(batch), explanations)
        if extra:
            for column, ood in zip(columns, self.ood.columns(extras[extra[0]])):
                column.update(ood)
        return Rating(probs, explanations, columns)

    def explain(self, method: str, batch: Sequence[CNNInput], probabilities: Mapping[str, np.ndarray]
                ) -> list[CellExplanation]:
        """Grad-CAM or Integrated Gradients (black baseline, logits) of each cell's predicted class.

        IG reports ``ig_completeness_<task>`` per cell: ``|sum(IG) - (f(x) - f(0))| / |f(x) - f(0)|``.
        """
        from ..xai import GRAD_CAM_RANGE, grad_cam, ig_completeness_error, integrated_gradients

        if method not in self.explanations:
            raise ValueError(f"{self.name}: no {method!r} heatmap; this CNN offers {list(self.explanations)}")
        x = np.stack([b.x for b in batch])
        maps = {t: np.zeros(x.shape[:-1], np.float32) for t in self.tasks}
        columns = [{} for _ in batch]
        for task in self.tasks:
            target = self.model.explain_target(task)
            predicted = np.argmax(probabilities[task], axis=1)
            for k in np.unique(predicted):
                member, unit = target.for_class(int(k))
                which = np.flatnonzero(predicted == k)
                if method == "gradcam":
                    maps[task][which] = grad_cam(member, x[which], output=task, class_index=unit,
                                                 layer=target.conv_layer, batch_size=self.batch_size)
                    continue
                ig = integrated_gradients(member, x[which], output=task, class_index=unit, steps=IG_STEPS,
                                          batch_size=self.batch_size)
                maps[task][which] = ig[..., 0]
                error = ig_completeness_error(member, x[which], ig, output=task, class_index=unit,
                                              batch_size=self.batch_size)
                for i, e in zip(which, error):
                    columns[i][f"ig_completeness_{task}"] = float(e)
        bounds = GRAD_CAM_RANGE if method == "gradcam" else None  # IG is unbounded
        return [CellExplanation(maps={t: maps[t][i] for t in self.tasks}, placement=b.geometry, columns=columns[i],
                                value_range=bounds) for i, b in enumerate(batch)]

    def save(self, path, *, name: str, version: str, training: dict, metrics: dict | None = None,
             description: str = "") -> Path:
        """Write this rater as a bundle folder (see :func:`ames_batch.nn.save_bundle`)."""
        from ._bundle import make_card, save_bundle

        card = make_card(name=name, version=version, tasks={t: list(c) for t, c in self.tasks.items()},
                         settings=self.settings, training=training, metrics=metrics, description=description)
        if self.ood is not None:
            card["ood"] = self.ood.to_dict()
        return save_bundle(self.model.model, card, path, overwrite=True)


for _arch in ARCHS:
    register_rater_kind(_arch, CNNRater)
