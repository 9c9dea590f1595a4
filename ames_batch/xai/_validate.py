"""Shared argument checks and model plumbing for the explanation functions.

Everything here runs before any gradient is taken: it checks the model, the input batch and
the options, and finds the *linear* (pre-softmax / pre-sigmoid) score to explain.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__: list[str] = []

_LINEAR_NAMES = ("linear", None)
_SQUASH_NAMES = ("softmax", "sigmoid")


def _keras():
    """Import keras lazily, naming the dependency when it is missing."""
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - keras is a core dependency
        raise ImportError("ames_batch.xai needs keras>=3 with the tensorflow backend") from exc
    return keras


def _check_model(model) -> None:
    """Check that `model` is a built, single-input Keras model."""
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}")
    try:
        inputs = model.inputs
    except (AttributeError, ValueError) as exc:
        raise ValueError("`model` must be built (give it a keras.Input) before explaining it") from exc
    if not inputs or len(inputs) != 1:
        n = 0 if not inputs else len(inputs)
        raise ValueError(f"`model` must have exactly one input; got {n}")


def _check_inputs(model, inputs) -> np.ndarray:
    """Return `inputs` as a float32 batch that matches the model's input shape.

    Accepted layouts are (N, Y, X, C) for 2D models and (N, Z, Y, X, C) for 3D models,
    channels last, as Keras takes them.
    """
    if isinstance(inputs, str | bytes) or (
        not isinstance(inputs, np.ndarray | Sequence) and not hasattr(inputs, "__array__")
    ):
        raise TypeError(f"`inputs` must be an array; got {type(inputs).__name__}")
    arr = np.asarray(inputs)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"`inputs` must hold real numbers; got dtype {arr.dtype}")
    expected = tuple(model.inputs[0].shape)
    if arr.ndim != len(expected):
        raise ValueError(
            f"`inputs` must have {len(expected)} axes to match the model input {expected} "
            f"(batch axis first, channels last); got shape {arr.shape}"
        )
    if arr.ndim not in (4, 5):
        raise ValueError(
            "`inputs` must be (N, Y, X, C) for a 2D model or (N, Z, Y, X, C) for a 3D model; "
            f"got shape {arr.shape}"
        )
    for got, want in zip(arr.shape[1:], expected[1:], strict=True):
        if want is not None and got != want:
            raise ValueError(f"`inputs` shape {arr.shape} does not fit the model input {expected}")
    if arr.shape[0] == 0:
        raise ValueError("`inputs` must hold at least one sample; got an empty batch")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError("`inputs` must be finite; found NaN or inf")
    return arr


def _check_positive_int(name: str, value) -> int:
    """Return `value` as int after checking it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"`{name}` must be >= 1; got {value}")
    return int(value)


def _get_layer(model, name: str, what: str):
    """Return the layer called `name`, or raise a ValueError listing the names there are."""
    if not isinstance(name, str):
        raise TypeError(f"`{what}` must be a layer name (str); got {type(name).__name__}")
    names = [layer.name for layer in model.layers]
    if name not in names:
        raise ValueError(f"`{what}`: the model has no layer {name!r}; layers are {names}")
    return model.get_layer(name)


def _activation_name(layer) -> str | None:
    """Name of a layer's built-in activation ('linear', 'softmax', ...), or None if it has none."""
    act = getattr(layer, "activation", None)
    return None if act is None else getattr(act, "__name__", str(act))


@dataclass(frozen=True)
class _Head:
    """Where to read the linear score: a symbolic tensor plus a function giving the logits.

    ``tensor`` is a symbolic Keras tensor of the model graph; ``to_logits`` maps its value
    (a TF tensor) to the logits, which is the identity unless the score sits inside a Dense
    layer whose own activation squashes it (then the Dense's affine map is re-applied).
    ``n_classes`` is the logit count; 1 means a binary (sigmoid) output.
    """

    tensor: object
    to_logits: Callable
    n_classes: int
    name: str


def _identity(t):
    return t


def _dense_affine(layer) -> Callable:
    """The pre-activation (affine) part of a Dense layer, reading its live weights."""
    import tensorflow as tf

    def affine(h):
        z = tf.matmul(h, layer.kernel)
        return z + layer.bias if layer.use_bias else z

    return affine


def _resolve_head(model, output: str) -> _Head:
    """Find the linear (pre-softmax/pre-sigmoid) score for task or layer `output`.

    Order: a layer ``f"{output}_logits"`` (the ames_batch.nn convention: Dense logits then an
    Activation layer named after the task); else the layer `output` itself, which may be a
    linear layer, an Activation('softmax'|'sigmoid') layer (its input is used) or a Dense with a
    squashing activation (its affine part is re-applied to its input).
    """
    if not isinstance(output, str):
        raise TypeError(f"`output` must be a task or layer name (str); got {type(output).__name__}")
    names = {layer.name for layer in model.layers}
    name = f"{output}_logits" if f"{output}_logits" in names else output
    layer = _get_layer(model, name, "output")
    act = _activation_name(layer)
    kind = type(layer).__name__
    if kind == "Activation":
        if act not in _SQUASH_NAMES:
            raise ValueError(
                f"`output` {name!r} is an Activation({act!r}) layer; only softmax or sigmoid "
                "outputs can be undone. Pass the name of the linear logits layer instead"
            )
        tensor, to_logits = layer.input, _identity
    elif act in _LINEAR_NAMES:
        tensor, to_logits = layer.output, _identity
    elif kind == "Dense" and act in _SQUASH_NAMES:
        tensor, to_logits = layer.input, _dense_affine(layer)
    else:
        raise ValueError(
            f"`output` {name!r} ({kind} with activation {act!r}) is not a linear score, and the "
            "linear score cannot be recovered from it. Pass the name of the logits layer"
        )
    shape = tuple(layer.output.shape)
    if len(shape) != 2 or shape[1] is None:
        raise ValueError(f"`output` {name!r} must give (N, classes) scores; its shape is {shape}")
    return _Head(tensor=tensor, to_logits=to_logits, n_classes=int(shape[1]), name=name)


def _class_indices(class_index, n: int, k: int) -> np.ndarray:
    """Per-sample class to explain as int32 (N,); -1 means "the predicted class".

    The predicted class is the argmax of the logits, worked out in the graph. For a
    single-logit (sigmoid) head the only score is index 0, the positive class.
    """
    if class_index is None:
        return np.full(n, -1, np.int32)
    if isinstance(class_index, bool):
        raise TypeError("`class_index` must be an int, a sequence of ints or None; got bool")
    idx = np.asarray(class_index)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"`class_index` must be an int, ints or None; got dtype {idx.dtype}")
    if idx.ndim == 0:
        idx = np.full(n, int(idx))
    if idx.shape != (n,):
        raise ValueError(
            f"`class_index` must be one int or {n} ints (one per sample); got shape {idx.shape}"
        )
    if idx.min() < 0 or idx.max() >= k:
        raise ValueError(
            f"`class_index` must lie in [0, {k - 1}] for an output with {k} logits; got {idx.tolist()}"
        )
    return idx.astype(np.int32)


def _batches(n: int, batch_size: int):
    """Yield slices covering range(n) in steps of `batch_size`."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
