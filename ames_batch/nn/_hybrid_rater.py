"""The hybrid kind of rater: a cell's metrics beside a CNN's shared features, into per-task linear heads.

A CNN learns what its training images show, including how their microscope renders a
z-disc; measured metrics (organised fraction, z-disc angle, ...) are defined by physics and
carry over to other images better, but miss the texture a network sees. The hybrid rates
each task with a logistic regression (``MetricsRatingModel``: median imputation,
standardisation, balanced multinomial fit, plain-JSON heads) on both: the cell's metrics
and the CNN's ``dense100`` activations, from the same compiled pass as its probabilities.
Each task's L2 strength, and the weight of the few metrics beside the many features, are chosen
on the validation split.

Bundle::

    bundle/
      model.json                          card (arch "hybrid", the CNN's preprocessing)
      model.keras                         the CNN (loaded with safe_mode=True)
      hybrid.json                         the CNN's own tasks, the feature layer, the head tasks
      heads/<task>/metrics_model.json     one head per task (plain JSON, no pickle)
"""

import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import ModelBundleError
from ._cnn_rater import FEATURE_LAYER, CNNInput, CNNRater, cnn_input
from ._metrics_model import METRICS_MODEL_FEATURES, MetricsRatingModel, _table_to_array
from ._ood import OODStatistics, fit_ood
from ._rater import BundleRater, CellExplanation, Prepares, Rating, _columns, register_rater_kind

__all__ = ["HYBRID_ARCH", "HybridInput", "HybridRater", "HybridTrainer", "hybrid_input"]

HYBRID_ARCH = "hybrid"
#: L2 strengths tried per task (inverse, as scikit-learn's ``C``); the best validation log-loss wins.
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Weights of the standardised metrics beside the CNN features tried per task (1 = same penalty).
METRICS_WEIGHTS = (1.0, 3.0, 10.0, 30.0)
_FILE = "hybrid.json"
_FORMAT = "ames-batch-hybrid"
_VERSION = 1


@dataclass(frozen=True, eq=False)
class HybridInput:
    """One cell as the hybrid sees it: the CNN's window and the cell's metrics."""

    cnn: CNNInput
    metrics: Mapping[str, float]


def hybrid_input(settings, cell, field) -> HybridInput:
    """The hybrid's input of one cell record of `field`: its CNN window under `settings`
    (``PreprocessSettings``) and its metrics."""
    return HybridInput(cnn_input(settings, cell, field), dict(cell.metrics))


def _refuse_lambdas(model) -> None:
    """Lambda layers would not load with ``safe_mode=True``: refuse them before saving."""
    from ._architectures import _keras

    lambdas = [layer.name for layer in model.layers if isinstance(layer, _keras().layers.Lambda)]
    if lambdas:
        raise ValueError(f"model {model.name!r} has Lambda layers {lambdas}; bundles are loaded with "
                         "safe_mode=True, which refuses them: use built-in layers")


def _feature_names(n: int) -> list[str]:
    return [f"{FEATURE_LAYER}_{j:03d}" for j in range(n)]


def _columns_of(metrics: Sequence[Mapping[str, float]], features: np.ndarray) -> dict[str, np.ndarray]:
    """The heads' input table: one column per metric and per CNN feature."""
    table = {n: np.array([float(m[n]) for m in metrics]) for n in METRICS_MODEL_FEATURES}
    table.update(zip(_feature_names(features.shape[1]), features.T.astype(np.float64)))
    return table


def _standardised(head: MetricsRatingModel, table: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N, F) inputs of a fitted `head` as it sees them: NaN -> its medians, then its mean and scale."""
    x = _table_to_array(table, head.features, allow_empty=True)
    return (np.where(np.isnan(x), head.medians_[None, :], x) - head.mean_) / head.scale_


class HybridRater(BundleRater):
    """A singular CNN and per-task logistic-regression heads on [metrics, CNN features].

    Parameters
    ----------
    cnn : CNNRater
        A singular 2D or 3D CNN (its own heads are not used for rating).
    heads : dict of str to MetricsRatingModel
        Task -> a fitted one-task model over ``METRICS_MODEL_FEATURES`` and the CNN's
        ``dense100_000`` ... features.
    card : dict, optional
        Its model card (None for a rater not saved yet).

    Attributes
    ----------
    ood : OODStatistics or None
        Its training cells in the heads' standardised feature space (``"metrics+dense100"``).
    """

    explanations = ("gradcam",)
    default_explanations = ("gradcam",)

    def __init__(self, cnn: CNNRater, heads: Mapping[str, MetricsRatingModel], card: dict | None = None):
        if cnn.model.members is not None:
            raise ValueError(f"{cnn.name}: a hybrid needs a singular CNN (an ensemble has no shared features)")
        self.cnn = cnn
        self.heads = dict(heads)
        self.card = card or {}
        self.tasks = {t: tuple(h.classes[t]) for t, h in self.heads.items()}
        self.settings = cnn.settings
        self.preparer = partial(hybrid_input, cnn.settings)
        self.needs_stack = cnn.needs_stack
        self.batch_size = cnn.batch_size
        self.ood = OODStatistics.from_dict(self.card["ood"]) if "ood" in self.card else None

    @classmethod
    def from_bundle(cls, path: Path, card: dict) -> "HybridRater":
        from ._architectures import _keras
        from ._predict import RatingModel
        from ._preprocess import PreprocessSettings

        def fail(what: str):
            raise ModelBundleError(f"{path}: {what}; re-save the hybrid rater")

        try:
            meta = json.loads((path / _FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            fail(f"{_FILE} is unreadable ({exc})")
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
            fail(f"{_FILE} is not a version-{_VERSION} {_FORMAT} file")
        try:
            model = _keras().saving.load_model(path / "model.keras", compile=False, safe_mode=True)
        except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:  # keras: many types
            fail(f"cannot load model.keras safely ({type(exc).__name__}: {exc})".replace("\n", " "))
        try:
            settings = PreprocessSettings.from_dict(card["preprocessing"])
            # the CNN goes by its hybrid's identity (a refit or fine-tune records where it came from)
            cnn = CNNRater(RatingModel(model, tasks=meta["cnn_tasks"], settings=settings),
                           card={k: card[k] for k in ("name", "version", "card_sha256") if k in card})
        except (KeyError, TypeError, ValueError) as exc:
            fail(f"model.keras does not match {_FILE} and the card ({exc})")
        if sorted(meta.get("heads", [])) != sorted(card["tasks"]):
            fail(f"{_FILE} lists heads {meta.get('heads')} but the card rates {sorted(card['tasks'])}")
        heads = {t: MetricsRatingModel.load(path / "heads" / t) for t in meta["heads"]}
        if any(h.classes.get(t) != list(card["tasks"][t]) for t, h in heads.items()):
            fail("a head's classes differ from the card's")
        return cls(cnn, heads, card)

    @staticmethod
    def needs_stack_for(card: dict) -> bool:
        return len(card["preprocessing"]["input_shape"]) == 3

    def _table(self, batch: Sequence[HybridInput]) -> dict[str, np.ndarray]:
        features = (self.cnn.features([b.cnn for b in batch]) if len(batch)
                    else np.zeros((0, self.n_features), np.float32))
        return _columns_of([b.metrics for b in batch], features)

    @property
    def n_features(self) -> int:
        return sum(n.startswith(f"{FEATURE_LAYER}_") for n in next(iter(self.heads.values())).features)

    def _probabilities(self, table) -> dict[str, np.ndarray]:
        return {t: h.predict_proba(table)[t] for t, h in self.heads.items()}

    def predict_proba(self, batch: Sequence[HybridInput]) -> dict[str, np.ndarray]:
        return self._probabilities(self._table(batch))

    def features(self, batch: Sequence[HybridInput] | Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, F) standardised [metrics, CNN features] as the heads see them (NaN -> training median)."""
        table = batch if isinstance(batch, Mapping) else self._table(batch)
        return _standardised(next(iter(self.heads.values())), table)

    def rate(self, batch: Sequence[HybridInput], explain: Sequence[str] = ()) -> Rating:
        """Probabilities, the heatmaps of `explain`, and ``ood`` columns, from one CNN pass (with
        Grad-CAM, its maps of every class, the heads' predicted ones kept)."""
        unknown = sorted(set(explain) - set(self.explanations))
        if unknown:
            raise ValueError(f"{self.name}: no {unknown[0]!r} heatmap; a hybrid offers {list(self.explanations)}")
        if "gradcam" in explain and len(batch):
            table, probabilities, maps = self._rated_with_maps(batch)
            explanations = {"gradcam": self._explanations(batch, maps)}
        else:
            table = self._table(batch)
            probabilities = self._probabilities(table)
            explanations = {m: self.explain(m, batch, probabilities) for m in explain}
        columns = _columns(len(batch), explanations)
        if self.ood is not None and len(batch):
            for column, ood in zip(columns, self.ood.columns(self.features(table))):
                column.update(ood)
        return Rating(probabilities, explanations, columns)

    def _explain_model(self):
        """The CNN up to `FEATURE_LAYER`, then per task Dense logits = the heads' weights on its
        features (the metrics' part of a logit does not depend on the image)."""
        from ._architectures import _keras

        keras = _keras()
        net = self.cnn.model.keras_model
        names = _feature_names(self.n_features)
        outputs = {}
        for task, head in self.heads.items():
            idx = [head.features.index(n) for n in names]
            coef = head.coefficients()[task]
            kernel = np.zeros((len(names), len(self.tasks[task])), np.float32)
            for cls, weights in coef.items():
                kernel[:, self.tasks[task].index(cls)] = [weights[n] / head.scale_[i] for n, i in zip(names, idx)]
            dense = keras.layers.Dense(kernel.shape[1], name=f"{task}_logits")
            logits = dense(net.get_layer(FEATURE_LAYER).output)
            dense.set_weights([kernel, np.zeros(kernel.shape[1], np.float32)])
            outputs[task] = keras.layers.Activation("softmax", name=task)(logits)
        return keras.Model(net.inputs, outputs, name="hybrid_explain")

    def _explainer_model(self):
        if not hasattr(self, "_explainer"):
            self._explainer = self._explain_model()
        return self._explainer

    def _rated_with_maps(self, batch: Sequence[HybridInput]) -> tuple[dict, dict, dict]:
        """The heads' table, their probabilities, and each task's Grad-CAM of the heads' predicted
        class, from one pass."""
        from ..xai import grad_cam_pass
        from ._architectures import LAST_CONV

        metrics, probabilities = [b.metrics for b in batch], {}

        def heads_choose(_, extras):  # the heads' classes, from the pass's own features
            probabilities.update(self._probabilities(_columns_of(metrics, extras[FEATURE_LAYER])))
            return {t: np.argmax(p, axis=1) for t, p in probabilities.items()}

        _, maps, extras = grad_cam_pass(self._explainer_model(), np.stack([b.cnn.x for b in batch]),
                                        outputs=list(self.tasks), layer=LAST_CONV, extra_layers=[FEATURE_LAYER],
                                        class_index=heads_choose, batch_size=self.batch_size)
        return _columns_of(metrics, extras[FEATURE_LAYER]), probabilities, maps

    def _explanations(self, batch: Sequence[HybridInput], maps: Mapping[str, np.ndarray]) -> list[CellExplanation]:
        from ..xai import GRAD_CAM_RANGE

        return [CellExplanation(maps={t: maps[t][i] for t in self.tasks}, placement=b.cnn.geometry,
                                value_range=GRAD_CAM_RANGE) for i, b in enumerate(batch)]

    def explain(self, method: str, batch: Sequence[HybridInput], probabilities: Mapping[str, np.ndarray]
                ) -> list[CellExplanation]:
        """Grad-CAM of each cell's predicted class on the CNN part of the hybrid's logit.

        The hybrid's logit is linear in the standardised CNN features; the heatmap shows where
        in the cell the image part of that score comes from (its metrics part is a constant for
        the gradient).
        """
        from ..xai import grad_cam_pass
        from ._architectures import LAST_CONV

        if method not in self.explanations:
            raise ValueError(f"{self.name}: no {method!r} heatmap; a hybrid offers {list(self.explanations)}")
        x = np.stack([b.cnn.x for b in batch])
        # one compiled pass for every task, each map of the hybrid's own predicted class
        _, maps, _ = grad_cam_pass(self._explainer_model(), x, outputs=list(self.tasks), layer=LAST_CONV,
                                   class_index={t: np.argmax(probabilities[t], axis=1) for t in self.tasks},
                                   batch_size=self.batch_size)
        return self._explanations(batch, maps)

    def save(self, path, *, name: str, version: str, training: dict, metrics: dict | None = None,
             description: str = "") -> Path:
        """Write this rater as a bundle folder (see the module docstring)."""
        from ._bundle import make_card, write_bundle

        _refuse_lambdas(self.cnn.model.keras_model)
        card = make_card(name=name, version=version, tasks={t: list(c) for t, c in self.tasks.items()},
                         settings=self.settings, training=training, metrics=metrics, description=description)
        card["arch"] = HYBRID_ARCH
        card["input_shape"] = [*self.settings.input_shape, 1]
        if self.ood is not None:
            card["ood"] = self.ood.to_dict()
        meta = {"format": _FORMAT, "version": _VERSION, "feature_layer": FEATURE_LAYER,
                "cnn_tasks": {t: list(c) for t, c in self.cnn.tasks.items()}, "heads": list(self.heads)}

        def write_files(folder: Path) -> list[str]:
            self.cnn.model.keras_model.save(folder / "model.keras")
            (folder / _FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
            heads = [self.heads[t].save(folder / "heads" / t).relative_to(folder).as_posix() for t in self.heads]
            return ["model.keras", _FILE, *heads]

        return write_bundle(path, card, write_files, overwrite=True, packages=("keras", "tensorflow", "scikit-learn"))


def _head(features: list[str], prep: tuple, task: str, fitted: list[str], coef: np.ndarray,
          intercept: np.ndarray, c: float | None = None) -> MetricsRatingModel:
    """A fitted one-task :class:`MetricsRatingModel` on plain standardised inputs (`prep`: the
    medians, means and scales), logits ``x @ coef.T + intercept`` over the `fitted` classes."""
    from ..vocabulary import TASK_CLASSES

    head = MetricsRatingModel(features=features, tasks=[task], **({} if c is None else {"c": c}))
    head.medians_, head.mean_, head.scale_ = prep
    head._heads = {task: {"fitted_classes": fitted, "coef": np.asarray(coef).tolist(),
                          "intercept": np.asarray(intercept).tolist()}}
    head.classes = {task: list(TASK_CLASSES[task])}
    return head


def _head_of(features: list[str], prep: tuple, task: str, clf, weights: np.ndarray, c: float) -> MetricsRatingModel:
    """`_head` with `clf`'s coefficients on the weighted standardised inputs, the weights folded in."""
    coef, intercept = clf.coef_ * weights[None, :], clf.intercept_
    fitted = [str(k) for k in clf.classes_]
    if len(fitted) == 2:  # binary: scikit-learn keeps one row, for the second class
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return _head(features, prep, task, fitted, coef, intercept, c)


def _validation_loss(clf, x: np.ndarray, y: np.ndarray) -> float:
    """Mean log-loss of a fitted classifier `clf` on inputs `x`, labels `y` (a class it never
    saw in training counts as probability 1e-7)."""
    p = clf.predict_proba(x)
    known = [list(clf.classes_).index(v) if v in clf.classes_ else -1 for v in y]
    return float(-np.mean(np.log(np.clip([p[i, k] if k >= 0 else 0.0 for i, k in enumerate(known)], 1e-7, 1))))


def fit_heads(metrics: Sequence[Mapping[str, float]], features: np.ndarray, ratings: Mapping[str, np.ndarray],
              train: np.ndarray, val: np.ndarray, *, c_grid: Sequence[float] = C_GRID,
              metrics_weights: Sequence[float] = METRICS_WEIGHTS) -> tuple[dict[str, MetricsRatingModel], dict]:
    """One balanced multinomial logistic regression per task on [metrics, features] of the `train`
    cells; its L2 strength and the weight of the metrics block are the pair of `c_grid` x
    `metrics_weights` with the lowest log-loss on the `val` cells.

    The metrics (``METRICS_MODEL_FEATURES``) sit beside 100 CNN features; with one L2 penalty
    for all, the many features would crowd out the few metrics that carry over best (measured
    in ``benchmarks/bench_carryover.py``). Multiplying the standardised metrics by ``w`` lowers
    their penalty ``w**2``-fold.

    Returns
    -------
    heads : dict of str to MetricsRatingModel
        One-task models on plain standardised inputs (the weights folded into the coefficients).
    chosen : dict of str to dict
        Per task the chosen ``c`` and ``metrics_weight``.
    """
    from sklearn.linear_model import LogisticRegression

    names = [*METRICS_MODEL_FEATURES, *_feature_names(features.shape[1])]
    x = _table_to_array(_columns_of(metrics, features), names)
    with np.errstate(all="ignore"):
        medians = np.array([np.nanmedian(col) if np.isfinite(col).any() else 0.0 for col in x[train].T])
    x = np.where(np.isnan(x), medians[None, :], x)
    mean, scale = x[train].mean(axis=0), x[train].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    xs = (x - mean) / scale
    is_metric = np.arange(len(names)) < len(METRICS_MODEL_FEATURES)
    heads, chosen = {}, {}
    for task, values in ratings.items():
        y = np.asarray(values, dtype=object)
        fit_rows = train[[v not in (None, "") for v in y[train]]]
        val_rows = val[[v not in (None, "") for v in y[val]]]
        seen = sorted(set(y[fit_rows].astype(str)))
        if len(seen) == 1:  # every training cell in one class: rate that class, as the metrics model does
            heads[task] = _head(names, (medians, mean, scale), task, seen, np.zeros((1, len(names))), np.zeros(1))
            chosen[task] = {"single_class": seen[0]}
            continue
        best = None
        for w in metrics_weights:
            weights = np.where(is_metric, float(w), 1.0)
            for c in c_grid:
                clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
                clf.fit(xs[fit_rows] * weights, y[fit_rows].astype(str))
                loss = _validation_loss(clf, xs[val_rows] * weights, y[val_rows].astype(str))
                if best is None or loss < best[0]:
                    best = (loss, c, float(w), clf, weights)
        _, c, w, clf, weights = best
        heads[task] = _head_of(names, (medians, mean, scale), task, clf, weights, c)
        chosen[task] = {"c": c, "metrics_weight": w}
    return heads, chosen


class HybridTrainer(Prepares):
    """Fits a :class:`HybridRater`: the CNN (or a given trained one), then the heads.

    Parameters
    ----------
    cnn_trainer : trainer, optional
        A singular CNN trainer (``make_trainer("2d" | "3d", ...)``) to train the CNN on the same
        split first.
    cnn : CNNRater, optional
        A trained singular CNN whose features are used as they are (only the heads are fitted).
    c_grid : sequence of float
        Inverse L2 strengths tried per task.
    metrics_weights : sequence of float
        Weights of the metrics block tried per task (see :func:`fit_heads`).
    keep : HybridRater, optional
        With `cnn` (its CNN): the heads of the tasks the ratings leave out are taken from it
        unchanged (they read the same features), so the fitted rater rates all its tasks.
    """

    arch = HYBRID_ARCH

    def __init__(self, *, cnn_trainer=None, cnn: CNNRater | None = None, c_grid: Sequence[float] = C_GRID,
                 metrics_weights: Sequence[float] = METRICS_WEIGHTS, keep: "HybridRater | None" = None):
        if (cnn_trainer is None) == (cnn is None):
            raise ValueError("pass exactly one of `cnn_trainer` (train a CNN) and `cnn` (use a trained one)")
        if keep is not None and keep.cnn is not cnn:
            raise ValueError("`keep` heads read the features of their own CNN: pass `cnn=keep.cnn`")
        self.keep = keep
        if cnn_trainer is not None and cnn_trainer.arch not in ("2d", "3d"):
            raise ValueError(f"a hybrid needs a singular CNN ('2d' or '3d'); got a {cnn_trainer.arch!r} trainer")
        self.cnn_trainer, self.cnn, self.c_grid = cnn_trainer, cnn, tuple(c_grid)
        self.metrics_weights = tuple(metrics_weights)
        self.preprocess = cnn.settings if cnn is not None else cnn_trainer.preprocess
        self.preparer = partial(hybrid_input, self.preprocess)
        self.needs_stack = self.preprocess.ndim == 3

    def fit(self, prepared, ratings, cell_ids, split, *, classes, checkpoint_dir=None, resume=False):
        from ._trainers import FitResult

        fitted = None
        cnn = self.cnn
        if cnn is None:
            fitted = self.cnn_trainer.fit([p.cnn for p in prepared], ratings, cell_ids, split, classes=classes,
                                          checkpoint_dir=checkpoint_dir, resume=resume)
            cnn = fitted.rater
        for task in ratings:
            if list(classes[task]) != list(cnn.tasks.get(task, classes[task])):
                raise ValueError(f"task {task!r}: classes {list(classes[task])} differ from the CNN's "
                                 f"{list(cnn.tasks[task])}")
        features = cnn.features([p.cnn for p in prepared])
        metrics = [p.metrics for p in prepared]
        heads, chosen = fit_heads(metrics, features, {t: np.asarray(v, dtype=object) for t, v in ratings.items()},
                                  split.train, split.val, c_grid=self.c_grid,
                                  metrics_weights=self.metrics_weights)
        if self.keep is not None:
            heads = {t: heads.get(t, self.keep.heads.get(t)) for t in (*self.keep.heads, *heads)}
        rater = HybridRater(cnn, heads)
        table = _columns_of(metrics, features)
        standardised = rater.features(table)
        rater.ood = fit_ood(standardised[split.train], standardised[split.val], features=f"metrics+{FEATURE_LAYER}")
        settings = {"arch": HYBRID_ARCH, "heads": chosen, "c_grid": list(self.c_grid),
                    "metrics_weights": list(self.metrics_weights),
                    "metrics": list(METRICS_MODEL_FEATURES), "feature_layer": FEATURE_LAYER,
                    "cnn": fitted.settings if fitted is not None else {"init": cnn.identity},
                    **({"kept_heads": sorted(set(self.keep.heads) - set(ratings))} if self.keep is not None else {})}
        if fitted is None:
            return FitResult(rater=rater, settings=settings)
        return FitResult(rater=rater, history=fitted.history, epochs_run=fitted.epochs_run,
                         best_epoch=fitted.best_epoch, settings=settings)


register_rater_kind(HYBRID_ARCH, HybridRater)
