"""Integrated Gradients (Sundararajan et al. 2017): a path integral of gradients from a baseline."""

from collections.abc import Sequence

import numpy as np

from ._graph import score_functions
from ._validate import _batches, _check_inputs, _check_model, _check_positive_int, _class_indices

__all__ = ["ig_completeness_error", "integrated_gradients", "path_nodes"]

_METHODS = ("gausslegendre", "trapezoid")
_BASELINES = ("black", "blurred")


def path_nodes(steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Nodes alpha in [0, 1] and weights of a quadrature rule for the integral over the path.

    Parameters
    ----------
    steps : int
        Number of intervals (``"trapezoid"``: ``steps + 1`` nodes including both ends) or of
        nodes (``"gausslegendre"``), >= 1.
    method : {"gausslegendre", "trapezoid"}
        Gauss-Legendre nodes on [0, 1], or the composite trapezoid rule on a uniform grid.

    Returns
    -------
    alphas, weights : (M,) ndarray of float64
        Weights sum to 1, so the rule integrates constants exactly.

    Raises
    ------
    ValueError
        If `method` is unknown or `steps` < 1.

    Examples
    --------
    >>> path_nodes(2, "trapezoid")
    (array([0. , 0.5, 1. ]), array([0.25, 0.5 , 0.25]))
    """
    steps = _check_positive_int("steps", steps)
    if method == "trapezoid":
        alphas = np.linspace(0.0, 1.0, steps + 1)
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] /= 2
    elif method == "gausslegendre":
        t, w = np.polynomial.legendre.leggauss(steps)
        alphas, weights = (t + 1) / 2, w / 2
    else:
        raise ValueError(f"`method` must be one of {_METHODS}; got {method!r}")
    return alphas, weights


def _make_baseline(x: np.ndarray, baseline, blur_sigma_px) -> np.ndarray:
    """Baseline batch of `x`'s shape: zeros, a gaussian blur of each sample, or a given array."""
    if isinstance(baseline, str):
        if baseline == "black":
            return np.zeros_like(x)
        if baseline != "blurred":
            raise ValueError(f"`baseline` must be one of {_BASELINES} or an array; got {baseline!r}")
        n_spatial = x.ndim - 2
        if blur_sigma_px is None:
            raise ValueError(
                "`blur_sigma_px` is required with baseline='blurred': give the gaussian sigma in "
                "input pixels (about half the sarcomere period or more erases the z-disc stripes)"
            )
        sigma = np.atleast_1d(np.asarray(blur_sigma_px, dtype=float))
        if sigma.ndim != 1 or sigma.size not in (1, n_spatial) or not np.all(sigma > 0):
            raise ValueError(
                f"`blur_sigma_px` must be one positive number or {n_spatial} (one per spatial "
                f"axis); got {blur_sigma_px!r}"
            )
        sigma = np.broadcast_to(sigma, (n_spatial,))
        from scipy import ndimage as ndi

        return ndi.gaussian_filter(x, sigma=(0, *sigma, 0), mode="reflect").astype(np.float32)
    if isinstance(baseline, np.ndarray | Sequence) or hasattr(baseline, "__array__"):
        b = np.asarray(baseline, dtype=np.float32)
        if b.shape == x.shape[1:]:
            b = np.broadcast_to(b, x.shape)
        if b.shape != x.shape:
            raise ValueError(
                f"`baseline` array must have the input shape {x.shape} or one sample's shape "
                f"{x.shape[1:]}; got {b.shape}"
            )
        if not np.all(np.isfinite(b)):
            raise ValueError("`baseline` must be finite; found NaN or inf")
        return np.ascontiguousarray(b)
    raise TypeError(f"`baseline` must be 'black', 'blurred' or an array; got {type(baseline).__name__}")


def _check_ig_args(model, inputs, baseline, blur_sigma_px, batch_size):
    _check_model(model)
    x = _check_inputs(model, inputs)
    batch_size = _check_positive_int("batch_size", batch_size)
    return x, _make_baseline(x, baseline, blur_sigma_px), batch_size


def _scores(score_fn, x, cls, batch_size):
    """f_c(x) per sample (float64) and the class actually explained."""
    vals, chosen = [], []
    for sl in _batches(x.shape[0], batch_size):
        v, c = score_fn(x[sl], cls[sl])
        vals.append(np.asarray(v, dtype=np.float64))
        chosen.append(np.asarray(c, dtype=np.int32))
    return np.concatenate(vals), np.concatenate(chosen)


def integrated_gradients(
    model,
    inputs: np.ndarray,
    *,
    output: str,
    class_index: int | Sequence[int] | None = None,
    baseline: str | np.ndarray = "black",
    steps: int = 64,
    method: str = "gausslegendre",
    target: str = "logit",
    blur_sigma_px: float | Sequence[float] | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Integrated Gradients attributions of a 2D or 3D Keras model, signed, input-shaped.

    Parameters
    ----------
    model : keras.Model
        Built single-input model taking (N, Y, X, C) or (N, Z, Y, X, C).
    inputs : (N, Y, X, C) or (N, Z, Y, X, C) ndarray
        Preprocessed cell crops, exactly as the model takes them (cast to float32).
    output : str
        Task or layer to explain; resolved to a linear score as in :func:`grad_cam`.
    class_index : int, sequence of int or None
        Class to explain (one for all or one per sample); None = each sample's predicted class.
    baseline : {"black", "blurred"} or ndarray
        ``"black"``: zeros. ``"blurred"``: each sample gaussian-blurred over its spatial axes by
        `blur_sigma_px` (keeps the cell's shape and brightness, removes the stripes). An array of
        the input's shape, or of one sample's shape (used for every sample).
    steps : int
        Quadrature size (see :func:`path_nodes`); gradient passes per sample are `steps`
        (Gauss-Legendre) or ``steps + 1`` (trapezoid).
    method : {"gausslegendre", "trapezoid"}
        Quadrature rule along the straight path from baseline to input.
    target : {"logit", "probability"}
        Function explained: the class's pre-softmax logit (default; additive evidence, does not
        saturate) or its softmax (sigmoid for one logit) probability.
    blur_sigma_px : float or sequence of float, optional
        Gaussian sigma in input pixels per spatial axis (or one for all); required for "blurred".
    batch_size : int
        Interpolated points per gradient pass; memory is about `batch_size` inputs plus their
        activations.

    Returns
    -------
    attributions : ndarray of float32, shape of `inputs`
        Signed; their sum over a sample approximates f(x) - f(baseline) (completeness), see
        :func:`ig_completeness_error`.

    Raises
    ------
    TypeError, ValueError
        For a wrong model, inputs that do not fit it, an unknown output, method, target or
        baseline, a baseline of the wrong shape or `class_index` out of range.

    Notes
    -----
    ``IG_i(x) = (x_i - x'_i) * integral_0^1 d f(x' + a (x - x')) / d x_i da``, with the
    integral taken by the chosen rule; each gradient is a ``tf.GradientTape`` pass over a batch
    of interpolated inputs (several samples' paths share batches). Gradients are accumulated in
    float64. Inference mode. Reference: Sundararajan, Taly, Yan, "Axiomatic Attribution for
    Deep Networks", ICML 2017.

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((4, 4, 1))
    >>> z = keras.layers.Dense(2, name="toy_logits")(keras.layers.Flatten()(x))
    >>> model = keras.Model(x, keras.layers.Activation("softmax", name="toy")(z))
    >>> integrated_gradients(model, np.ones((3, 4, 4, 1)), output="toy").shape
    (3, 4, 4, 1)
    """
    x, base, batch_size = _check_ig_args(model, inputs, baseline, blur_sigma_px, batch_size)
    alphas, weights = path_nodes(steps, method)
    grad_fn, score_fn, n_classes = score_functions(model, output, target)
    cls = _class_indices(class_index, x.shape[0], n_classes)
    _, cls = _scores(score_fn, x, cls, batch_size)  # fix the predicted class once, at x

    n, m = x.shape[0], alphas.size
    sample_of = np.repeat(np.arange(n), m)
    node_of = np.tile(np.arange(m), n)
    total = np.zeros(x.shape, dtype=np.float64)
    for sl in _batches(n * m, batch_size):
        rows, nodes = sample_of[sl], node_of[sl]
        grads = np.asarray(
            grad_fn(x[rows], base[rows], alphas[nodes].astype(np.float32), cls[rows]), dtype=np.float64
        )
        grads *= weights[nodes].reshape((-1,) + (1,) * (x.ndim - 1))
        for i in np.unique(rows):
            total[i] += grads[rows == i].sum(axis=0)
    return ((x.astype(np.float64) - base) * total).astype(np.float32)


def ig_completeness_error(
    model,
    inputs: np.ndarray,
    attributions: np.ndarray,
    *,
    output: str,
    class_index: int | Sequence[int] | None = None,
    baseline: str | np.ndarray = "black",
    target: str = "logit",
    blur_sigma_px: float | Sequence[float] | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Relative completeness error of IG attributions, per sample.

    Parameters
    ----------
    model, inputs, output, class_index, baseline, target, blur_sigma_px, batch_size
        Exactly as given to :func:`integrated_gradients` for `attributions`.
    attributions : ndarray, shape of `inputs`
        Output of :func:`integrated_gradients`.

    Returns
    -------
    error : (N,) ndarray of float64
        ``|sum(attributions) - (f(x) - f(x'))| / |f(x) - f(x')|``; inf when the difference is
        exactly 0 and the sum is not, 0 when both are.

    Raises
    ------
    TypeError, ValueError
        As :func:`integrated_gradients`; also if `attributions` does not have the inputs' shape.

    Notes
    -----
    f is the same function IG integrated (logit or probability of the same class). The error
    shrinks as `steps` grows; about 1e-2 or less is the usual bar. A large error means too few
    steps, or a model whose gradient is not the derivative of its output (for example custom
    gradients or non-differentiable layers).

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((4, 4, 1))
    >>> z = keras.layers.Dense(2, name="toy_logits")(keras.layers.Flatten()(x))
    >>> model = keras.Model(x, keras.layers.Activation("softmax", name="toy")(z))
    >>> a = integrated_gradients(model, np.ones((1, 4, 4, 1)), output="toy")
    >>> float(ig_completeness_error(model, np.ones((1, 4, 4, 1)), a, output="toy")[0]) < 1e-4
    True
    """
    x, base, batch_size = _check_ig_args(model, inputs, baseline, blur_sigma_px, batch_size)
    attr = np.asarray(attributions, dtype=np.float64)
    if attr.shape != x.shape:
        raise ValueError(f"`attributions` must have the inputs' shape {x.shape}; got {attr.shape}")
    _, score_fn, n_classes = score_functions(model, output, target)
    cls = _class_indices(class_index, x.shape[0], n_classes)
    f_x, cls = _scores(score_fn, x, cls, batch_size)
    f_b, _ = _scores(score_fn, base, cls, batch_size)
    delta = f_x - f_b
    gap = np.abs(attr.reshape(x.shape[0], -1).sum(axis=1) - delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = gap / np.abs(delta)
    return np.where((gap == 0) & (delta == 0), 0.0, err)
