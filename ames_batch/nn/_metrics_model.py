"""Interpretable baseline: per-task logistic regression from a cell's metrics to its ratings.

One small scikit-learn model per task (median imputation, standardisation, multinomial
logistic regression) over the numbers of :func:`ames_batch.metrics.cell_metrics`. It is
evaluated like the CNNs: `predict_proba` returns ``{task: (N, K) array}`` with columns in
``classes[task]`` order, as :func:`ames_batch.nn.evaluate_ratings` expects. Saved as plain
JSON (medians, scaler, coefficients): no pickle, no joblib.
"""

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelBundleError
from ..metrics import METRIC_NAMES, METRICS_VERSION
from ..vocabulary import TASK_CLASSES
from ._combiner import softmax

__all__ = ["METRICS_MODEL_FILE", "METRICS_MODEL_FEATURES", "MetricsRatingModel"]
#: Default features: every metric except the two absolute angles in the field, which change
#: when the cell is turned (the angle between z-discs and the long axis is kept).
METRICS_MODEL_FEATURES: tuple[str, ...] = tuple(
    n for n in METRIC_NAMES if n not in ("long_axis_deg", "zdisc_orientation_deg"))
#: File name inside the model directory.
METRICS_MODEL_FILE = "metrics_model.json"
_FORMAT = "ames-batch-metrics-model"
_VERSION = 1
log = logging.getLogger("ames_batch")


def _table_to_array(metrics_table, features: Sequence[str], *, allow_empty: bool = False
                    ) -> np.ndarray:
    """(N, F) float64 array of `features` from a DataFrame, a column mapping or a list of rows."""
    if isinstance(metrics_table, Mapping) or hasattr(metrics_table, "columns"):
        columns = list(metrics_table.columns) if hasattr(metrics_table, "columns") else list(metrics_table)
        missing = [f for f in features if f not in columns]
        if missing:
            raise ValueError(f"`metrics_table` lacks feature column(s) {missing}; "
                             f"expected the keys of cell_metrics: {list(features)}")
        cols = [np.asarray(metrics_table[f], dtype=np.float64).reshape(-1) for f in features]
        n = {len(c) for c in cols}
        if len(n) > 1:
            raise ValueError(f"`metrics_table` columns differ in length: {sorted(n)}")
        arr = np.stack(cols, axis=1)
    elif isinstance(metrics_table, Sequence) and not isinstance(metrics_table, (str, bytes)):
        rows = list(metrics_table)
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise TypeError(f"`metrics_table` row {i} must be a dict of metrics; "
                                f"got {type(row).__name__}")
            missing = [f for f in features if f not in row]
            if missing:
                raise ValueError(f"`metrics_table` row {i} lacks metric(s) {missing}")
        arr = np.array([[float(row[f]) for f in features] for row in rows], dtype=np.float64)
        arr = arr.reshape(len(rows), len(features))
    else:
        raise TypeError("`metrics_table` must be a pandas DataFrame, a dict of columns or a list "
                        f"of cell_metrics dicts; got {type(metrics_table).__name__}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError("`metrics_table` is empty: no cells")
    if np.isinf(arr).any():
        raise ValueError("`metrics_table` holds infinite values; use NaN for undefined metrics")
    return arr


def _ratings_to_lists(ratings, tasks: Sequence[str], n: int) -> dict[str, list[str | None]]:
    """{task: list of class names or None (not rated)} for the tasks present in `ratings`."""
    if not (isinstance(ratings, Mapping) or hasattr(ratings, "columns")):
        raise TypeError("`ratings` must be a dict {task: values} or a DataFrame with task columns; "
                        f"got {type(ratings).__name__}")
    keys = list(ratings.columns) if hasattr(ratings, "columns") else list(ratings)
    present = [t for t in tasks if t in keys]
    if not present:
        raise ValueError(f"`ratings` holds none of the tasks {list(tasks)}; got {keys}")
    out = {}
    for task in present:
        values = list(np.asarray(ratings[task], dtype=object).reshape(-1))
        if len(values) != n:
            raise ValueError(f"`ratings[{task!r}]` has {len(values)} values for {n} cells")
        names = []
        for v in values:
            if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
                names.append(None)
                continue
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                v = int(v)
            names.append(str(v))
        bad = sorted({v for v in names if v is not None} - set(TASK_CLASSES[task]))
        if bad:
            raise ValueError(f"{task} ratings {bad} are not among its classes {TASK_CLASSES[task]}")
        out[task] = names
    return out


class MetricsRatingModel:
    """Logistic-regression ratings from cell metrics, one model per task.

    Parameters
    ----------
    features : sequence of str, optional
        Metric names used as inputs; default `METRICS_MODEL_FEATURES`.
    tasks : sequence of str, optional
        Tasks to model, among ``"sarcomerisation"``, ``"directionality"``, ``"source"``;
        default all three (a task absent from the ratings given to `fit` is skipped).
    c : float, optional
        Inverse L2 regularisation strength of the logistic regression, > 0.
    class_weight : {"balanced", None}, optional
        Weight classes inversely to their frequency (as the CNN training does), or not.
    max_iter : int, optional
        Iterations of the lbfgs solver.

    Attributes
    ----------
    classes : dict of str to list of str
        Output columns per fitted task (all classes of the task, also unseen ones).
    medians_ : (F,) ndarray
        Training medians used to fill NaN metrics (0 for a feature that was never defined).
    metrics_version : int
        ``ames_batch.metrics.METRICS_VERSION`` of the metrics it was fit on (a file written
        before the field existed reads as 1); loading one of another version logs a warning.

    Notes
    -----
    Per task: NaN -> training median, ``(x - mean) / scale`` (scikit-learn ``StandardScaler``),
    multinomial ``LogisticRegression(lbfgs)``. Prediction is plain numpy
    (``softmax(x_std @ coef.T + intercept)``), so a loaded model predicts exactly as the fitted
    one. Classes absent from training get probability 0; a task seen with a single class
    predicts it with probability 1. Coefficients on standardised inputs are directly
    comparable: they say which metric drives which rating.

    Examples
    --------
    >>> rows = [{"organised_fraction": f, "oop": o} for f, o in
    ...         [(0.1, 0.2), (0.3, 0.4), (0.6, 0.8), (0.9, 0.9)] * 3]
    >>> model = MetricsRatingModel(features=["organised_fraction", "oop"], tasks=["sarcomerisation"])
    >>> _ = model.fit(rows, {"sarcomerisation": ["1", "2", "3", "4"] * 3})
    >>> model.predict_proba(rows[:2])["sarcomerisation"].shape
    (2, 4)
    """

    def __init__(self, *, features: Sequence[str] | None = None,
                 tasks: Sequence[str] | None = None, c: float = 1.0,
                 class_weight: str | None = "balanced", max_iter: int = 2000):
        features = list(METRICS_MODEL_FEATURES if features is None else features)
        if not features or not all(isinstance(f, str) for f in features):
            raise ValueError(f"`features` must be a non-empty list of metric names; got {features}")
        if len(set(features)) != len(features):
            raise ValueError(f"`features` holds duplicates: {features}")
        tasks = list(TASK_CLASSES if tasks is None else tasks)
        unknown = [t for t in tasks if t not in TASK_CLASSES]
        if unknown or not tasks:
            raise ValueError(f"unknown task(s) {unknown}; choose from {list(TASK_CLASSES)}")
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 0:
            raise ValueError(f"`c` must be a number > 0; got {c!r}")
        if class_weight not in ("balanced", None):
            raise ValueError(f"`class_weight` must be 'balanced' or None; got {class_weight!r}")
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"`max_iter` must be an int >= 1; got {max_iter!r}")
        self.features = features
        self.tasks = tasks
        self.c = float(c)
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.classes: dict[str, list[str]] = {}
        self.medians_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.metrics_version = METRICS_VERSION
        self._heads: dict[str, dict] = {}

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, metrics_table, ratings) -> "MetricsRatingModel":
        """Fit one logistic regression per task present in `ratings`.

        Parameters
        ----------
        metrics_table : DataFrame, dict of columns, or list of dicts
            One row per cell with (at least) the `features` columns; NaN allowed.
        ratings : dict of str to sequence, or DataFrame
            Class name (or int rating) per cell for each task; None/NaN/"" = not rated, the
            cell is left out of that task.

        Returns
        -------
        self : MetricsRatingModel

        Raises
        ------
        ValueError
            If columns are missing, lengths differ, a rating is not a class of its task, or a
            task has no rated cell.
        TypeError
            If the inputs are not tables.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        x = _table_to_array(metrics_table, self.features)
        labels = _ratings_to_lists(ratings, self.tasks, x.shape[0])
        with np.errstate(all="ignore"):
            med = np.array([np.nanmedian(col) if np.isfinite(col).any() else 0.0 for col in x.T])
        xf = np.where(np.isnan(x), med[None, :], x)
        scaler = StandardScaler().fit(xf)
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        xs = (xf - scaler.mean_) / scale
        heads, classes = {}, {}
        for task, names in labels.items():
            rated = np.array([v is not None for v in names])
            if not rated.any():
                raise ValueError(f"task {task!r} has no rated cell in `ratings`")
            y = np.array([v for v in names if v is not None])
            seen = [k for k in TASK_CLASSES[task] if k in set(y)]
            if len(seen) == 1:
                heads[task] = {"fitted_classes": seen, "coef": [[0.0] * len(self.features)],
                               "intercept": [0.0]}
            else:
                clf = LogisticRegression(C=self.c, class_weight=self.class_weight,
                                         max_iter=self.max_iter)
                clf.fit(xs[rated], y)
                fitted = [str(k) for k in clf.classes_]
                coef, intercept = clf.coef_, clf.intercept_
                if len(fitted) == 2:  # binary: sklearn keeps one row for the second class
                    coef = np.vstack([np.zeros_like(coef), coef])
                    intercept = np.concatenate([[0.0], intercept])
                heads[task] = {"fitted_classes": fitted, "coef": coef.tolist(),
                               "intercept": np.asarray(intercept).tolist()}
            classes[task] = list(TASK_CLASSES[task])
        self.medians_, self.mean_, self.scale_ = med, scaler.mean_.astype(np.float64), scale
        self._heads, self.classes = heads, classes
        self.metrics_version = METRICS_VERSION
        return self

    # -- prediction ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.medians_ is None or not self._heads:
            raise ValueError("this MetricsRatingModel is not fitted; call fit() or load() first")

    def predict_proba(self, metrics_table) -> dict[str, np.ndarray]:
        """Class probabilities per task.

        Parameters
        ----------
        metrics_table : DataFrame, dict of columns, or list of dicts
            One row per cell with the `features` columns; NaN is filled with training medians.

        Returns
        -------
        probs : dict of str to (N, K) ndarray of float64
            Rows sum to 1; columns in ``classes[task]`` order. An empty table gives (0, K).

        Raises
        ------
        ValueError
            If the model is not fitted or a feature column is missing.
        """
        self._check_fitted()
        x = _table_to_array(metrics_table, self.features, allow_empty=True)
        xf = np.where(np.isnan(x), self.medians_[None, :], x)
        xs = (xf - self.mean_) / self.scale_
        out = {}
        for task, head in self._heads.items():
            coef = np.asarray(head["coef"], dtype=np.float64)
            intercept = np.asarray(head["intercept"], dtype=np.float64)
            p = softmax(xs @ coef.T + intercept)
            full = np.zeros((x.shape[0], len(self.classes[task])), np.float64)
            for j, name in enumerate(head["fitted_classes"]):
                full[:, self.classes[task].index(name)] = p[:, j]
            out[task] = full
        return out

    def predict(self, metrics_table) -> dict[str, np.ndarray]:
        """Most probable class name per cell and task: ``{task: (N,) array of str}``."""
        probs = self.predict_proba(metrics_table)
        return {t: np.array(self.classes[t], dtype=object)[np.argmax(p, axis=1)]
                for t, p in probs.items()}

    def coefficients(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{task: {class: {feature: weight on the standardised metric}}}`` (for reports)."""
        self._check_fitted()
        return {t: {k: dict(zip(self.features, row)) for k, row in
                    zip(h["fitted_classes"], h["coef"])} for t, h in self._heads.items()}

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Everything needed to predict, as JSON-ready built-ins."""
        self._check_fitted()
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "metrics_version": self.metrics_version,
            "features": list(self.features),
            "settings": {"c": self.c, "class_weight": self.class_weight,
                         "max_iter": self.max_iter, "tasks": list(self.tasks)},
            "medians": self.medians_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "tasks": {t: {"classes": self.classes[t], **h} for t, h in self._heads.items()},
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``metrics_model.json`` into `directory` (created if missing); returns its path.

        The file is written to a temporary name and renamed, so a reader never sees half a file.
        """
        data = self.to_dict()
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / METRICS_MODEL_FILE
        tmp = folder / (METRICS_MODEL_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "MetricsRatingModel":
        """Read a model written by `save`.

        Raises
        ------
        ModelBundleError
            If the file is missing, not JSON, of another format or version, or inconsistent.
        """
        path = Path(directory) / METRICS_MODEL_FILE
        if not path.is_file():
            raise ModelBundleError(f"no {METRICS_MODEL_FILE} in {directory}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelBundleError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ModelBundleError(f"{path} is not an ames-batch metrics model")
        if data.get("version") != _VERSION:
            raise ModelBundleError(f"{path} has format version {data.get('version')!r}; "
                                   f"this ames-batch reads version {_VERSION}")
        try:
            s = data["settings"]
            model = cls(features=data["features"], tasks=s["tasks"], c=s["c"],
                        class_weight=s["class_weight"], max_iter=s["max_iter"])
            n_f = len(model.features)
            model.medians_ = np.asarray(data["medians"], dtype=np.float64)
            model.mean_ = np.asarray(data["mean"], dtype=np.float64)
            model.scale_ = np.asarray(data["scale"], dtype=np.float64)
            heads, classes = {}, {}
            for task, h in data["tasks"].items():
                coef = np.asarray(h["coef"], dtype=np.float64)
                k = len(h["fitted_classes"])
                if task not in TASK_CLASSES or h["classes"] != list(TASK_CLASSES[task]) \
                        or coef.shape != (k, n_f) or len(h["intercept"]) != k \
                        or not set(h["fitted_classes"]) <= set(h["classes"]):
                    raise ValueError(f"task {task!r} is inconsistent")
                heads[task] = {key: h[key] for key in ("fitted_classes", "coef", "intercept")}
                classes[task] = list(h["classes"])
            if any(a.shape != (n_f,) for a in (model.medians_, model.mean_, model.scale_)):
                raise ValueError("scaler arrays do not match the features")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"{path} is inconsistent: {exc}") from exc
        model._heads, model.classes = heads, classes
        model.metrics_version = data.get("metrics_version", 1)
        if model.metrics_version != METRICS_VERSION:
            log.warning("%s was fit on metrics version %s, this ames-batch measures version %s "
                        "(docs/metrics.md, 'Versions'): its ratings read shifted inputs; refit it with "
                        "`ames-batch train`", path, model.metrics_version, METRICS_VERSION)
        return model
