"""Grad-CAM on the last convolutional layer, explaining a linear (pre-softmax) score."""

from collections.abc import Mapping, Sequence

import numpy as np

from ._graph import forward_function, gradcam_function, pass_function
from ._validate import _batches, _check_inputs, _check_model, _check_positive_int, _class_indices

__all__ = ["GRAD_CAM_RANGE", "forward_pass", "grad_cam", "grad_cam_pass", "upsample_linear"]

#: Every Grad-CAM map is scaled to this range (its peak at 1; a map with no positive evidence is 0).
GRAD_CAM_RANGE: tuple[float, float] = (0.0, 1.0)


def upsample_linear(maps: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Resize a batch of maps to `shape` by (bi/tri)linear interpolation, pixel centres aligned.

    Parameters
    ----------
    maps : (N, *spatial) ndarray
        One map per sample on a coarse grid (for example a conv layer's grid).
    shape : sequence of int
        Target spatial shape, one entry per spatial axis of `maps`.

    Returns
    -------
    resized : (N, *shape) ndarray of float32

    Raises
    ------
    ValueError
        If `shape` has the wrong length or a non-positive entry.

    Notes
    -----
    Separable linear interpolation; output pixel ``j`` of an axis of length ``m`` samples the
    input (length ``n``) at ``(j + 0.5) n / m - 0.5`` ("half-pixel" convention, as in
    ``tf.image.resize`` bilinear), clamped at the edges. Both grids thus span the same field
    of view, which is how Grad-CAM maps are placed over the input.

    Examples
    --------
    >>> upsample_linear(np.array([[[0.0, 1.0]]]), (1, 4)).round(2).tolist()
    [[[0.0, 0.25, 0.75, 1.0]]]
    """
    maps = np.asarray(maps, dtype=np.float32)
    shape = tuple(int(s) for s in shape)
    if len(shape) != maps.ndim - 1 or min(shape, default=1) < 1:
        raise ValueError(f"`shape` must give {maps.ndim - 1} positive sizes; got {shape}")
    out = maps
    for axis, m in enumerate(shape, start=1):
        n = out.shape[axis]
        if n == m:
            continue
        pos = np.clip((np.arange(m) + 0.5) * n / m - 0.5, 0, n - 1)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, n - 1)
        frac = (pos - lo).astype(np.float32).reshape([-1 if a == axis else 1 for a in range(out.ndim)])
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return out.astype(np.float32, copy=False)


def grad_cam(
    model,
    inputs: np.ndarray,
    *,
    output: str,
    class_index: int | Sequence[int] | None = None,
    layer: str = "last_conv",
    batch_size: int = 32,
) -> np.ndarray:
    """Grad-CAM heatmaps of a 2D or 3D Keras model, in the input crop's frame.

    Parameters
    ----------
    model : keras.Model
        Built single-input Functional or Sequential model taking (N, Y, X, C) or (N, Z, Y, X, C).
    inputs : (N, Y, X, C) or (N, Z, Y, X, C) ndarray
        Preprocessed cell crops, exactly as the model takes them (cast to float32).
    output : str
        Task to explain. The linear score is the layer ``f"{output}_logits"`` when present (the
        ``ames_batch.nn`` convention: Dense logits followed by a softmax Activation named after
        the task); otherwise the layer `output` itself: a linear layer, an
        Activation('softmax'|'sigmoid') whose input is then used, or a Dense with a softmax or
        sigmoid activation whose affine part is then used. For a one-vs-all ensemble pass the
        winning member model and its output.
    class_index : int, sequence of int or None
        Class to explain, one for all samples or one per sample; None explains each sample's
        predicted class (argmax of the logits). A single-logit (sigmoid) output has only class 0.
    layer : str
        Name of the convolutional layer whose feature map is weighted, the last one by default
        (``"last_conv"`` in ``ames_batch.nn`` models).
    batch_size : int
        Samples per gradient pass (memory bound).

    Returns
    -------
    heatmap : (N, Y, X) or (N, Z, Y, X) ndarray of float32
        Input's spatial shape, values in [0, 1]: each map is divided by its own maximum; a map
        with no positive evidence is all zeros.

    Raises
    ------
    TypeError
        If `model` is not a keras.Model or an argument has the wrong type.
    ValueError
        If `inputs` does not fit the model, `output` or `layer` is unknown or unsuitable, or
        `class_index` is out of range.

    Notes
    -----
    ``L_c = ReLU(sum_k alpha_k^c A^k)`` with ``alpha_k^c`` the mean over the feature grid of
    d y^c / d A^k, where y^c is the *logit* (pre-softmax), as in Selvaraju et al. (ICCV 2017);
    taking it through the softmax, or on a pooling layer, as the published AMES code did, mixes
    in the other classes and the pooling's blind spots. The coarse map is upsampled with
    :func:`upsample_linear` (pixel-centre aligned), then scaled to [0, 1]. Layers of models
    nested inside `model` are not reachable. The graph is traced once per model and output.
    Inference mode (``training=False``): dropout off, batch norm on its moving statistics.

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((16, 16, 1))
    >>> h = keras.layers.Conv2D(4, 3, activation="relu", name="last_conv")(x)
    >>> h = keras.layers.GlobalAveragePooling2D()(h)
    >>> z = keras.layers.Dense(2, name="toy_logits")(h)
    >>> model = keras.Model(x, keras.layers.Activation("softmax", name="toy")(z))
    >>> grad_cam(model, np.ones((1, 16, 16, 1)), output="toy").shape
    (1, 16, 16)
    """
    _check_model(model)
    x = _check_inputs(model, inputs)
    batch_size = _check_positive_int("batch_size", batch_size)
    fn, n_classes = gradcam_function(model, output, layer)
    cls = _class_indices(class_index, x.shape[0], n_classes)

    coarse = []
    for sl in _batches(x.shape[0], batch_size):
        cam, _ = fn(x[sl], cls[sl])
        coarse.append(np.asarray(cam, dtype=np.float32))
    return _to_input_grid(np.concatenate(coarse), x.shape[1:-1])


def _to_input_grid(coarse: np.ndarray, shape) -> np.ndarray:
    """Conv-grid maps upsampled to the input's grid and scaled to [0, 1] map by map."""
    maps = upsample_linear(coarse, shape)
    peak = maps.reshape(maps.shape[0], -1).max(axis=1)
    scale = np.where(peak > 0, peak, 1.0).reshape((-1,) + (1,) * (maps.ndim - 1))
    return np.clip(maps / scale, *GRAD_CAM_RANGE).astype(np.float32)


def grad_cam_pass(
    model,
    inputs: np.ndarray,
    *,
    outputs: Sequence[str],
    layer: str = "last_conv",
    extra_layers: Sequence[str] = (),
    class_index: Mapping[str, int | Sequence[int]] | None = None,
    batch_size: int = 32,
) -> tuple[dict, dict, dict]:
    """Predict and explain in one pass: each output's probabilities and its Grad-CAM of the
    predicted class, plus the activations of `extra_layers`.

    Parameters
    ----------
    model : keras.Model
        Built single-input model (outputs named as in :func:`grad_cam`).
    inputs : (N, Y, X, C) or (N, Z, Y, X, C) ndarray
        Preprocessed cell crops.
    outputs : sequence of str
        Tasks (heads) to predict and explain.
    layer : str
        The convolutional layer Grad-CAM weighs.
    extra_layers : sequence of str
        Layers whose outputs are returned too (e.g. the shared features before the heads).
    class_index : dict of str to int or sequence of int, or callable, optional
        Per output, the class to explain (one for all samples or one per sample); an output not
        in it explains each sample's predicted class. A callable
        ``class_index(probabilities, extras) -> {output: (N,) ints}`` chooses after the pass,
        from its results (e.g. a rater whose classes come from heads outside the model, fed
        with `extras`): the pass then takes one gradient per class instead of one per output
        and keeps the chosen maps, which saves a second forward pass.
    batch_size : int
        Samples per pass. One graph, traced once per model for any batch size; no data pipeline
        is built per call.

    Returns
    -------
    probabilities : dict of str to (N, K) ndarray of float32
        Softmax (sigmoid for one logit) of each output's logits.
    maps : dict of str to (N, *spatial) ndarray of float32
        Grad-CAM of the chosen class (default the predicted one, argmax of the logits) on the
        input's grid, in [0, 1]: exactly :func:`grad_cam` with the same ``class_index``.
    extras : dict of str to ndarray of float32
        ``(N, ...)`` activations of each extra layer (inference mode).

    Raises
    ------
    TypeError, ValueError
        As :func:`grad_cam`, also for an unknown output or extra layer.

    Notes
    -----
    One forward pass under a persistent gradient tape; the gradients of each head's chosen
    logit run back only to `layer`, so the maps cost a small part of a forward pass.

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((16, 16, 1))
    >>> h = keras.layers.Conv2D(4, 3, activation="relu", name="last_conv")(x)
    >>> h = keras.layers.GlobalAveragePooling2D(name="features")(h)
    >>> z = keras.layers.Dense(2, name="toy_logits")(h)
    >>> model = keras.Model(x, keras.layers.Activation("softmax", name="toy")(z))
    >>> p, maps, extra = grad_cam_pass(model, np.ones((3, 16, 16, 1)), outputs=["toy"], extra_layers=["features"])
    >>> p["toy"].shape, maps["toy"].shape, extra["features"].shape
    ((3, 2), (3, 16, 16), (3, 4))
    """
    _check_model(model)
    x = _check_inputs(model, inputs)
    outputs, extra_layers = tuple(outputs), tuple(extra_layers)
    batch_size = _check_positive_int("batch_size", batch_size)
    if callable(class_index):
        return _chosen_after_pass(model, x, outputs, layer, extra_layers, class_index, batch_size)
    unknown = sorted(set(class_index or {}) - set(outputs))
    if unknown:
        raise ValueError(f"`class_index` names outputs {unknown} that are not in `outputs` {list(outputs)}")
    chosen = np.full((x.shape[0], len(outputs)), -1, np.int32)
    for j, o in enumerate(outputs):
        if class_index is not None and o in class_index:
            chosen[:, j] = np.broadcast_to(np.asarray(class_index[o], np.int32), (x.shape[0],))
    probs, cams, extras = _in_batches(pass_function(model, outputs, layer, extra_layers), x, batch_size, chosen)
    return (dict(zip(outputs, probs)), {o: _to_input_grid(c, x.shape[1:-1]) for o, c in zip(outputs, cams)},
            dict(zip(extra_layers, extras)))


def _chosen_after_pass(model, x, outputs, layer, extra_layers, choose, batch_size) -> tuple[dict, dict, dict]:
    """:func:`grad_cam_pass` with every class's map made in the pass and `choose` picking."""
    fn = pass_function(model, outputs, layer, extra_layers, every_class=True)
    probs, cams, extras = (dict(zip(names, group)) for names, group in
                           zip((outputs, outputs, extra_layers), _in_batches(fn, x, batch_size)))
    chosen = choose(probs, extras)
    missing = sorted(set(outputs) - set(chosen))
    if missing:
        raise ValueError(f"`class_index` chose no class for outputs {missing}")
    rows = np.arange(x.shape[0])
    maps = {o: _to_input_grid(cams[o][rows, _class_indices(chosen[o], x.shape[0], cams[o].shape[1])], x.shape[1:-1])
            for o in outputs}
    return probs, maps, extras


def forward_pass(model, inputs: np.ndarray, *, outputs: Sequence[str], extra_layers: Sequence[str] = (),
                 batch_size: int = 32) -> tuple[dict, dict]:
    """Probabilities of `outputs` and activations of `extra_layers` in one compiled forward pass.

    As :func:`grad_cam_pass` without the maps: a graph traced once per model for batches of
    any size, no ``tf.data`` pipeline per call (which ``keras.Model.predict`` builds and traces
    on every call).

    Returns
    -------
    probabilities : dict of str to (N, K) ndarray of float32
    extras : dict of str to ndarray of float32

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((4, 4, 1))
    >>> z = keras.layers.Dense(2, name="toy_logits")(keras.layers.Flatten(name="flat")(x))
    >>> model = keras.Model(x, keras.layers.Activation("softmax", name="toy")(z))
    >>> p, extra = forward_pass(model, np.ones((5, 4, 4, 1)), outputs=["toy"], extra_layers=["flat"], batch_size=2)
    >>> p["toy"].shape, extra["flat"].shape
    ((5, 2), (5, 16))
    """
    _check_model(model)
    x = _check_inputs(model, inputs)
    outputs, extra_layers = tuple(outputs), tuple(extra_layers)
    batch_size = _check_positive_int("batch_size", batch_size)
    probs, extras = _in_batches(forward_function(model, outputs, extra_layers), x, batch_size)
    return dict(zip(outputs, probs)), dict(zip(extra_layers, extras))


def _in_batches(function, x: np.ndarray, batch_size: int, *more: np.ndarray) -> list[list[np.ndarray]]:
    """Apply a compiled function to all of `x`, `batch_size` samples at a time.

    `function` is traced once for a batch axis of any size (``input_signature`` with ``None``):
    padding every batch to one shape instead cost a trace per shape, 0.4-0.9 s each for a
    Grad-CAM pass on the 2-core CPU (measured), against 0.02-0.2 s for a first call at a new
    size. Arrays in `more` (batch axis first) are cut alongside `x` and passed after it. The
    function returns groups (lists) of arrays with the batch axis first; so does this,
    concatenated over the batches.
    """
    batches = []
    for sl in _batches(x.shape[0], batch_size):
        batches.append([[np.asarray(v, dtype=np.float32) for v in group]
                        for group in function(x[sl], *(m[sl] for m in more))])
    return [[np.concatenate([b[g][i] for b in batches]) for i in range(len(batches[0][g]))]
            for g in range(len(batches[0]))]
