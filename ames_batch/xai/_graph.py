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


def _gradcam_step(sub, to_logits, x, cls):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        acts, h = sub(x, training=False)
        score, chosen = _pick(to_logits(h), cls)
    grads = tape.gradient(score, acts)
    axes = list(range(1, len(acts.shape) - 1))
    weights = tf.reduce_mean(grads, axis=axes, keepdims=True)
    return tf.nn.relu(tf.reduce_sum(acts * weights, axis=-1)), chosen


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
