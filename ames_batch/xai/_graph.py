"""Compiled gradient functions (``tf.GradientTape`` inside ``tf.function``), cached per model.

A model gets one traced function per (kind, output, layer, target); the cache holds the model
weakly, so it does not keep a model alive. Traced functions read the model's variables by
reference, so later weight changes (training, ``set_weights``) are seen without retracing.
The step functions are module-level and bound to a model with ``functools.partial``, so that
TensorFlow counts traces per model (a new model is not a "retrace" of the previous one).
"""

import functools
import weakref

from ._validate import _get_layer, _keras, _resolve_head

__all__: list[str] = []

_TARGETS = ("logit", "probability")
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _cached(model, key, build):
    """Return the cached function for (`model`, `key`), building it on first use."""
    try:
        per_model = _CACHE.setdefault(model, {})
    except TypeError:  # not weak-referenceable: build every time
        return build()
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


def _compile(step, *bound):
    import tensorflow as tf

    return tf.function(functools.partial(step, *bound), reduce_retracing=True)


def _pick(scores, cls):
    """Score of class ``cls[i]`` for each sample i; ``cls < 0`` picks the predicted class."""
    import tensorflow as tf

    predicted = tf.argmax(scores, axis=1, output_type=tf.int32)
    cls = tf.where(cls < 0, predicted, cls)
    return tf.gather(scores, cls, axis=1, batch_dims=1), cls


def _to_target(logits, target: str):
    """The explained function of the logits: themselves, or softmax/sigmoid probabilities."""
    import tensorflow as tf

    if target == "logit":
        return logits
    return tf.nn.sigmoid(logits) if logits.shape[-1] == 1 else tf.nn.softmax(logits, axis=-1)


def _cam(acts, grads):
    """Grad-CAM on the conv grid: ReLU of the channels weighted by their mean gradient."""
    import tensorflow as tf

    axes = list(range(1, len(acts.shape) - 1))
    weights = tf.reduce_mean(grads, axis=axes, keepdims=True)
    return tf.nn.relu(tf.reduce_sum(acts * weights, axis=-1))


def _gradcam_step(sub, to_logits, x, cls):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        acts, h = sub(x, training=False)
        score, chosen = _pick(to_logits(h), cls)
    return _cam(acts, tape.gradient(score, acts)), chosen


def _pass_step(sub, to_logits, x, cls):
    """One forward pass: every head's probabilities, the extra layers, and each head's Grad-CAM
    of class ``cls[:, head]`` (< 0: its predicted class; the gradients run back only from the
    logits to the conv layer)."""
    import tensorflow as tf

    with tf.GradientTape(persistent=True) as tape:
        acts, heads, extras = sub(x, training=False)
        logits = [f(h) for f, h in zip(to_logits, heads)]
        scores = [_pick(z, cls[:, j])[0] for j, z in enumerate(logits)]
    cams = [_cam(acts, tape.gradient(score, acts)) for score in scores]
    del tape
    return [_to_target(z, "probability") for z in logits], cams, extras


def _every_class_step(sub, to_logits, x):
    """As :func:`_pass_step`, with each head's Grad-CAM of every class, (N, K, *grid): one
    gradient per class, each run back only from the logits to the conv layer."""
    import tensorflow as tf

    with tf.GradientTape(persistent=True) as tape:
        acts, heads, extras = sub(x, training=False)
        logits = [f(h) for f, h in zip(to_logits, heads)]
        scores = [[tf.reduce_sum(z[:, k]) for k in range(z.shape[-1])] for z in logits]  # samples are independent
    cams = [tf.stack([_cam(acts, tape.gradient(score, acts)) for score in head], axis=1) for head in scores]
    del tape
    return [_to_target(z, "probability") for z in logits], cams, extras


def _ig_grad_step(sub, to_logits, target, x, base, alpha, cls):
    import tensorflow as tf

    a = tf.reshape(alpha, [-1] + [1] * (len(x.shape) - 1))
    points = base + a * (x - base)
    with tf.GradientTape() as tape:
        tape.watch(points)
        f = _to_target(to_logits(sub(points, training=False)), target)
        score, _ = _pick(f, cls)
    return tape.gradient(score, points)


def _score_step(sub, to_logits, target, x, cls):
    import tensorflow as tf

    logits = to_logits(sub(x, training=False))
    _, chosen = _pick(logits, cls)  # predicted class = argmax of the logits
    return tf.gather(_to_target(logits, target), chosen, axis=1, batch_dims=1), chosen


def gradcam_function(model, output: str, layer: str):
    """Return ``(fn, n_classes)``; ``fn(x, cls) -> (cam, cls)`` on the conv grid, un-normalised.

    ``cam[i] = ReLU(sum_k alpha_ik A_ik)`` with ``alpha_ik`` the mean over the conv grid of
    d logit_c / d A_ik (Selvaraju et al. 2017), A the output of `layer`.
    """
    head = _resolve_head(model, output)
    conv = _get_layer(model, layer, "layer")
    in_rank = len(model.inputs[0].shape)
    out_shape = tuple(conv.output.shape)
    if len(out_shape) != in_rank:
        raise ValueError(
            f"`layer` {layer!r} must give a feature map (N, *spatial, channels) of rank {in_rank} like "
            f"the input; its output shape is {out_shape}. Name the last convolutional layer"
        )

    def build():
        sub = _keras().Model(model.inputs, [conv.output, head.tensor])
        return _compile(_gradcam_step, sub, head.to_logits)

    return _cached(model, ("gradcam", output, layer), build), head.n_classes


def pass_function(model, outputs: tuple[str, ...], layer: str, extra_layers: tuple[str, ...], *,
                  every_class: bool = False):
    """``fn(x, cls) -> (probabilities, cams, extras)`` for batches of any size, traced once.

    ``cls`` (batch, n_outputs) int32: the class each cam explains (< 0: the predicted one).
    Lists in `outputs` / `extra_layers` order; cams on `layer`'s grid, un-normalised. With
    `every_class`, ``fn(x)`` instead, and each output's cams hold every class: (batch, K, *grid).
    """
    heads = [_resolve_head(model, o) for o in outputs]
    conv = _get_layer(model, layer, "layer")
    extras = [_get_layer(model, name, "extra_layers").output for name in extra_layers]

    def build():
        import tensorflow as tf

        sub = _keras().Model(model.inputs, [conv.output, [h.tensor for h in heads], extras])
        spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
        to_logits = [h.to_logits for h in heads]
        if every_class:
            return tf.function(functools.partial(_every_class_step, sub, to_logits), input_signature=[spec])
        classes = tf.TensorSpec((None, len(outputs)), tf.int32)
        return tf.function(functools.partial(_pass_step, sub, to_logits), input_signature=[spec, classes])

    return _cached(model, ("pass", outputs, layer, extra_layers, every_class), build)


def forward_function(model, outputs: tuple[str, ...], extra_layers: tuple[str, ...]):
    """``fn(x) -> (probabilities, extras)`` for batches of any size, traced once."""
    heads = [_resolve_head(model, o) for o in outputs]
    extras = [_get_layer(model, name, "extra_layers").output for name in extra_layers]

    def build():
        import tensorflow as tf

        sub = _keras().Model(model.inputs, [[h.tensor for h in heads], extras])
        spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
        return tf.function(functools.partial(_forward_step, sub, [h.to_logits for h in heads]),
                           input_signature=[spec])

    return _cached(model, ("forward", outputs, extra_layers), build)


def _forward_step(sub, to_logits, x):
    heads, extras = sub(x, training=False)
    return [_to_target(f(h), "probability") for f, h in zip(to_logits, heads)], extras


def score_functions(model, output: str, target: str):
    """Return ``(grad_fn, score_fn, n_classes)`` for Integrated Gradients.

    ``grad_fn(x, base, alpha, cls)`` gives d f_c / d input at ``base + alpha (x - base)`` (per
    row); ``score_fn(x, cls) -> (f_c(x), cls)``; f is the logit or the probability (`target`).
    """
    if target not in _TARGETS:
        raise ValueError(f"`target` must be one of {_TARGETS}; got {target!r}")
    head = _resolve_head(model, output)

    def build():
        sub = _keras().Model(model.inputs, head.tensor)
        return (_compile(_ig_grad_step, sub, head.to_logits, target),
                _compile(_score_step, sub, head.to_logits, target))

    grad_fn, score_fn = _cached(model, ("ig", output, target), build)
    return grad_fn, score_fn, head.n_classes
