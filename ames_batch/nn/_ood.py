"""A flag for the unfamiliar: how far a cell's features lie from those of a rater's training cells.

A rater learns from the cells it was shown; a cell unlike all of them (another microscope,
stain, cell type, a segmentation error) gets ratings with no evidence behind them. Each rater
keeps in its card what its training cells looked like in its own feature space (a CNN: the
shared layer ``dense100`` before the heads; the metrics model: its standardised metrics) as a
mean and a shrunk covariance, and a threshold on the Mahalanobis distance set on held-out
cells. A run then writes per cell

- ``ood_score``: the distance in units of that threshold (higher = less like the training
  cells; 1 = the threshold),
- ``ood``: ``ood_score > 1``.

Why this way: the Mahalanobis distance in the penultimate layer is the classic detector for a
trained network (Lee et al. 2018, NeurIPS, "A simple unified framework for detecting
out-of-distribution samples"); with a few hundred cells and 100 features the sample covariance
is singular, so it is shrunk (Ledoit & Wolf 2004, scikit-learn's ``LedoitWolf``). The
threshold is a quantile of the distances of cells that took part in neither the network's nor
the density's fit (the validation split): training cells sit closer to their own mean than new
cells from the same source would, so a threshold set on them would flag far too many.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["OOD_QUANTILE", "OODStatistics", "fit_ood"]

#: Share of held-out in-distribution cells that stay under the threshold.
OOD_QUANTILE = 0.99
_DIGITS = 6  # significant digits kept in the card (the score is a ratio: 1e-6 is far below its noise)


def _round(values: np.ndarray) -> np.ndarray:
    """`values` rounded to `_DIGITS` significant digits (as the card stores them)."""
    return np.array([float(f"{v:.{_DIGITS}g}") for v in np.asarray(values, np.float64).ravel()]
                    ).reshape(np.shape(values))


def _check_features(features, name: str, n_features: int | None = None) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be a (N, F) array; got shape {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"`{name}` must have {n_features} features per cell; got {x.shape[1]}")
    if not np.isfinite(x).all():
        raise ValueError(f"`{name}` must be finite (impute undefined metrics first)")
    return x


@dataclass(frozen=True, eq=False)
class OODStatistics:
    """What a rater's training cells looked like, and where "unlike them" begins.

    Attributes
    ----------
    features : str
        Which features: a layer name of the CNN (``"dense100"``) or ``"metrics"`` (the metrics
        model's standardised inputs).
    mean : (F,) ndarray of float64
        Mean feature vector of the training cells.
    covariance : (F, F) ndarray of float64
        Their Ledoit-Wolf shrunk covariance (full rank).
    threshold : float
        Mahalanobis distance above which a cell is flagged (> 0).
    quantile : float
        Share of the held-out cells whose distance is at most `threshold`.
    n_fit, n_held_out : int
        Cells the mean/covariance and the threshold were set on.
    shrinkage : float
        Ledoit-Wolf shrinkage in [0, 1] (0: the sample covariance).
    """

    features: str
    mean: np.ndarray
    covariance: np.ndarray
    threshold: float
    quantile: float
    n_fit: int
    n_held_out: int
    shrinkage: float

    @cached_property
    def _precision(self) -> np.ndarray:
        from scipy.linalg import pinvh

        return pinvh(self.covariance)

    def distance(self, features) -> np.ndarray:
        """Mahalanobis distance of each cell from the training mean.

        Parameters
        ----------
        features : (N, F) array-like of float
            The rater's features of N cells (finite).

        Returns
        -------
        (N,) ndarray of float64
        """
        x = _check_features(features, "features", self.mean.size) - self.mean
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, self._precision, x), 0.0))

    def score(self, features) -> np.ndarray:
        """``ood_score`` per cell: the distance in units of the threshold (> 1 = flagged)."""
        return self.distance(features) / self.threshold

    def columns(self, features) -> list[dict]:
        """Per cell ``{"ood_score": float, "ood": bool}``, the columns a run writes."""
        return [{"ood_score": float(s), "ood": bool(s > 1.0)} for s in self.score(features)]

    def to_dict(self) -> dict:
        """JSON-ready (the card's ``ood``)."""
        return {"method": "mahalanobis-ledoit-wolf", "features": self.features, "threshold": self.threshold,
                "quantile": self.quantile, "n_fit": self.n_fit, "n_held_out": self.n_held_out,
                "shrinkage": self.shrinkage, "mean": self.mean.tolist(),
                "covariance": self.covariance.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping) -> "OODStatistics":
        """The statistics of a card's ``ood`` (validated by the model-card schema)."""
        mean = np.asarray(data["mean"], np.float64)
        covariance = np.asarray(data["covariance"], np.float64)
        if covariance.shape != (mean.size, mean.size):
            raise ValueError(f"ood covariance must be {mean.size} x {mean.size}; got {covariance.shape}")
        return cls(features=str(data["features"]), mean=mean, covariance=covariance,
                   threshold=float(data["threshold"]), quantile=float(data["quantile"]), n_fit=int(data["n_fit"]),
                   n_held_out=int(data["n_held_out"]), shrinkage=float(data["shrinkage"]))


def fit_ood(fit_features, held_out_features, *, features: str, quantile: float = OOD_QUANTILE) -> OODStatistics:
    """Describe the training cells and set the flagging threshold on held-out ones.

    Parameters
    ----------
    fit_features : (N, F) array-like of float
        Features of the cells the rater was fitted on (N >= 2).
    held_out_features : (M, F) array-like of float
        Features of in-distribution cells the rater never trained on (its validation split),
        M >= 1.
    features : str
        Name of the feature space (a layer name, or ``"metrics"``), stored with the statistics.
    quantile : float
        In (0, 1]: the threshold is this quantile of the held-out distances.

    Returns
    -------
    OODStatistics
        Mean and covariance rounded as the card stores them; the threshold computed with the
        rounded values, so a loaded rater flags exactly the cells the fitted one does.

    Raises
    ------
    ValueError
        On shapes that disagree, non-finite features, too few cells or `quantile` out of range.

    Notes
    -----
    With M held-out cells the empirical quantile is only as sharp as M allows: with fewer than
    ``1 / (1 - quantile)`` cells it is close to their largest distance. The card records M.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> stats = fit_ood(rng.normal(size=(200, 3)), rng.normal(size=(100, 3)), features="toy")
    >>> bool(stats.columns([[0.0, 0.0, 0.0]])[0]["ood"]), bool(stats.columns([[9.0, 9.0, 9.0]])[0]["ood"])
    (False, True)
    """
    from sklearn.covariance import LedoitWolf

    fit = _check_features(fit_features, "fit_features")
    held = _check_features(held_out_features, "held_out_features", fit.shape[1])
    if fit.shape[0] < 2 or held.shape[0] < 1:
        raise ValueError(f"need >= 2 fit cells and >= 1 held-out cell; got {fit.shape[0]} and {held.shape[0]}")
    if not (isinstance(quantile, float | int) and 0 < quantile <= 1 and math.isfinite(quantile)):
        raise ValueError(f"`quantile` must be in (0, 1]; got {quantile!r}")
    lw = LedoitWolf().fit(fit)
    mean, covariance = _round(lw.location_), _round(lw.covariance_)
    draft = OODStatistics(features=str(features), mean=mean, covariance=covariance, threshold=1.0,
                          quantile=float(quantile), n_fit=int(fit.shape[0]), n_held_out=int(held.shape[0]),
                          shrinkage=float(lw.shrinkage_))
    threshold = float(_round(np.quantile(draft.distance(held), quantile)))
    if not threshold > 0:
        raise ValueError("the held-out cells all sit on the training mean (features constant?); no threshold")
    return OODStatistics(features=draft.features, mean=mean, covariance=covariance, threshold=threshold,
                         quantile=draft.quantile, n_fit=draft.n_fit, n_held_out=draft.n_held_out,
                         shrinkage=draft.shrinkage)
