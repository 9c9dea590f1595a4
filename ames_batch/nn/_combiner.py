"""Calibrated vote of one-vs-all members: a multinomial logistic regression on their logits.

Independent sigmoids are not calibrated against each other: on an ordinal scale the member of a
middle class is rarely the most confident even when its class is right (docs/models.md). The
combiner learns, on cells the members were not fitted on (the validation split), how much each
member's logit says about every class, and returns a distribution over the classes.
"""

import numpy as np

__all__ = ["combine", "fit_combiner", "softmax"]

#: Member sigmoids are clipped to this logit before the regression (float32 saturates near 17).
_MAX_LOGIT = 15.0


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` linear scores: a fitted logistic regression's predict_proba."""
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _logits(probs: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    return np.clip(np.log(p) - np.log1p(-p), -_MAX_LOGIT, _MAX_LOGIT)


def fit_combiner(probs: np.ndarray, y: np.ndarray, *, c: float = 1.0) -> dict | None:
    """Fit the combination of one task's members on held-out cells.

    Parameters
    ----------
    probs : (N, K) ndarray of float
        The K members' sigmoid outputs, in class order, for N cells the members were not
        trained on.
    y : (N,) ndarray of int
        True class index per cell, 0..K-1.
    c : float
        Inverse L2 strength of scikit-learn's ``LogisticRegression``, > 0.

    Returns
    -------
    combiner : dict or None
        ``{"coef": K x K nested list, "intercept": K list}`` (plain JSON); None when a class
        has no cell in `y` (its row could not be fitted; keep the members' argmax).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(60) % 3
    >>> probs = np.where(np.eye(3)[y] > 0, 0.8, 0.3) * [1.0, 1.0, 0.3]  # member 2 too shy
    >>> comb = fit_combiner(probs + rng.uniform(0, 0.05, probs.shape), y)
    >>> bool((combine(probs, comb).argmax(1) == y).mean() > (probs.argmax(1) == y).mean())
    True
    """
    from sklearn.linear_model import LogisticRegression

    probs = np.asarray(probs)
    y = np.asarray(y)
    if probs.ndim != 2 or probs.shape[1] < 2 or y.shape != (probs.shape[0],):
        raise ValueError(f"`probs` must be (N, K >= 2) with `y` (N,); got {probs.shape} and {y.shape}")
    k = probs.shape[1]
    if not np.array_equal(np.unique(y), np.arange(k)):
        return None
    model = LogisticRegression(C=float(c), max_iter=2000).fit(_logits(probs), y)
    return {"coef": model.coef_.tolist(), "intercept": model.intercept_.tolist()}


def combine(probs: np.ndarray, combiner: dict) -> np.ndarray:
    """Class distribution ``(N, K)`` (rows sum to 1) from the members' sigmoids and a combiner.

    Parameters
    ----------
    probs : (N, K) ndarray of float
        Member sigmoid outputs in class order.
    combiner : dict
        From :func:`fit_combiner`.

    Returns
    -------
    distribution : (N, K) ndarray of float32
        ``softmax(logit(probs) @ coef.T + intercept)``, the regression's ``predict_proba``.
    """
    coef = np.asarray(combiner["coef"], dtype=np.float64)
    scores = _logits(probs) @ coef.T + np.asarray(combiner["intercept"], dtype=np.float64)
    return softmax(scores).astype(np.float32)


def check_combiner(combiner, n_classes: int, task: str) -> dict:
    """`combiner` as plain lists after checking its shapes; ValueError naming `task` if wrong."""
    try:
        coef = np.asarray(combiner["coef"], dtype=np.float64)
        intercept = np.asarray(combiner["intercept"], dtype=np.float64)
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"combiner of task {task!r} must hold 'coef' and 'intercept' numbers ({exc})") from None
    if coef.shape != (n_classes, n_classes) or intercept.shape != (n_classes,):
        raise ValueError(f"combiner of task {task!r} must be coef {n_classes}x{n_classes} and intercept "
                         f"{n_classes}; got {coef.shape} and {intercept.shape}")
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        raise ValueError(f"combiner of task {task!r} holds non-finite numbers")
    return {"coef": coef.tolist(), "intercept": intercept.tolist()}
