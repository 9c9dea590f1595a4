"""A loaded rating model: settings + tasks + Keras model(s), with batch prediction and xai hooks."""

from dataclasses import dataclass

import numpy as np

from ._architectures import LAST_CONV, Ensemble, _keras
from ._preprocess import PreprocessSettings

__all__ = ["ExplainTarget", "RatingModel"]


@dataclass(frozen=True)
class ExplainTarget:
    """What an explanation method needs for one task.

    Attributes
    ----------
    task : str
    class_names : tuple of str
    models : tuple of keras.Model
        One model (singular: all classes are units of its ``<task>_logits``) or one per class
        (ensemble: unit 0 of each member's ``<task>_logits``).
    logits_layer : str
        Name of the linear Dense before the softmax/sigmoid (``"<task>_logits"``).
    conv_layer : str
        Name of the last convolution (``"last_conv"``, ReLU output) for Grad-CAM.
    """

    task: str
    class_names: tuple[str, ...]
    models: tuple
    logits_layer: str
    conv_layer: str = LAST_CONV

    def for_class(self, class_name_or_index: str | int) -> tuple[object, int]:
        """``(model, unit)`` whose ``logits_layer`` output ``[:, unit]`` scores that class.

        Raises
        ------
        ValueError
            For an unknown class name or index.
        """
        if isinstance(class_name_or_index, str):
            if class_name_or_index not in self.class_names:
                raise ValueError(f"class {class_name_or_index!r} is not one of {list(self.class_names)}")
            k = self.class_names.index(class_name_or_index)
        else:
            k = int(class_name_or_index)
            if not 0 <= k < len(self.class_names):
                raise ValueError(f"class index must be in [0, {len(self.class_names)}); got {k}")
        if len(self.models) == 1:
            return self.models[0], k
        return self.models[k], 0


def _check_model(model, tasks: dict[str, list[str]]) -> str:
    """Checks outputs against tasks; returns the arch."""
    keras = _keras()
    if isinstance(model, Ensemble):
        if model.tasks != tasks:
            raise ValueError(f"ensemble members {model.tasks} do not match `tasks` {tasks}")
        for task, cls, member in model:
            units = member.get_layer(f"{task}_logits").units
            if units != 1:
                raise ValueError(f"member {task}/{cls} must have 1 output unit; has {units}")
        return "2d-ensemble"
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model or Ensemble; got {type(model).__name__}")
    names = set(model.output_names)
    if names != set(tasks):
        raise ValueError(f"model outputs {sorted(names)} do not match tasks {sorted(tasks)}")
    for task, classes in tasks.items():
        units = model.get_layer(f"{task}_logits").units
        if units != len(classes):
            raise ValueError(f"task {task!r}: model has {units} output units but {len(classes)} class names {classes}")
    rank = len(model.input_shape)
    if rank not in (4, 5):
        raise ValueError(f"model input must be (N, H, W, 1) or (N, D, H, W, 1); got {model.input_shape}")
    return "2d" if rank == 4 else "3d"


class RatingModel:
    """A rating model ready to apply: Keras model(s), tasks, preprocessing settings, card.

    Parameters
    ----------
    model : keras.Model or Ensemble
        From :func:`build_model` (trained) or :func:`load_bundle`.
    tasks : dict[str, list[str]]
        Class names per task, in output order.
    settings : PreprocessSettings
        How inputs were made; ``settings.input_shape`` must match the model input.
    card : dict, optional
        The model card (set by :func:`load_bundle`).

    Attributes
    ----------
    arch : {"2d", "2d-ensemble", "3d"}
    keras_model : keras.Model or None
        The singular model (None for an ensemble).
    members : dict[str, dict[str, keras.Model]] or None
        Ensemble members (None for a singular model).
    input_shape : tuple of int
        Input without batch axis, channel last.
    """

    def __init__(self, model, *, tasks: dict[str, list[str]], settings: PreprocessSettings,
                 card: dict | None = None):
        if not isinstance(settings, PreprocessSettings):
            raise TypeError(f"`settings` must be a PreprocessSettings; got {type(settings).__name__}")
        if not isinstance(tasks, dict) or not tasks:
            raise TypeError(f"`tasks` must be a non-empty dict; got {tasks!r}")
        tasks = {str(t): [str(c) for c in cs] for t, cs in tasks.items()}
        self.arch = _check_model(model, tasks)
        self.model = model
        self.tasks = tasks
        self.settings = settings
        self.card = card
        self.input_shape = tuple(model.input_shape if isinstance(model, Ensemble) else model.input_shape[1:])
        if self.input_shape != (*settings.input_shape, 1):
            raise ValueError(
                f"model input {self.input_shape} does not match settings.input_shape {settings.input_shape} + channel"
            )
        self.keras_model = None if isinstance(model, Ensemble) else model
        self.members = model.members if isinstance(model, Ensemble) else None

    def __repr__(self) -> str:
        name = (self.card or {}).get("name", "unsaved")
        return f"RatingModel({name!r}, arch={self.arch!r}, tasks={list(self.tasks)}, input={self.input_shape})"

    def predict(self, inputs: np.ndarray, *, batch_size: int = 32) -> dict[str, np.ndarray]:
        """Class probabilities per task for a batch of preprocessed cells.

        Parameters
        ----------
        inputs : (N, H, W, 1) or (N, D, H, W, 1) ndarray of float32
            From :func:`cell_input_2d` / :func:`cell_input_3d` with these `settings`, stacked.
        batch_size : int
            Cells per forward pass, >= 1.

        Returns
        -------
        probabilities : dict[str, (N, K) ndarray of float32]
            Singular: softmax rows, from a forward pass compiled once for any batch size
            (``xai.forward_pass``; Keras' ``predict`` would build a ``tf.data`` pipeline per
            call). Ensemble: its members' calibrated vote (rows sum
            to 1) for tasks with a combiner, else the stacked member sigmoids (argmax =
            prediction, rows do not sum to 1). Columns follow ``tasks[task]``.

        Raises
        ------
        TypeError
            If `inputs` is not a numpy array.
        ValueError
            On a wrong shape, a non-float dtype or `batch_size` < 1.
        """
        if not isinstance(inputs, np.ndarray):
            raise TypeError(f"`inputs` must be a numpy ndarray; got {type(inputs).__name__}")
        if inputs.ndim != len(self.input_shape) + 1 or inputs.shape[1:] != self.input_shape:
            raise ValueError(f"`inputs` must have shape (N, {', '.join(map(str, self.input_shape))}); got {inputs.shape}")
        if inputs.dtype.kind != "f":
            raise ValueError(f"`inputs` must be float (preprocessed); got dtype {inputs.dtype}")
        if int(batch_size) < 1:
            raise ValueError(f"`batch_size` must be >= 1; got {batch_size}")
        x = inputs.astype(np.float32, copy=False)
        if len(x) == 0:
            return {t: np.zeros((0, len(c)), np.float32) for t, c in self.tasks.items()}
        if self.members is not None:
            return self.model.predict(x, batch_size=int(batch_size))
        from ..xai import forward_pass

        probs, _ = forward_pass(self.keras_model, x, outputs=list(self.tasks), batch_size=int(batch_size))
        return probs

    def predict_classes(self, inputs: np.ndarray, *, batch_size: int = 32) -> dict[str, list[str]]:
        """Predicted class name per cell and task (argmax of :meth:`predict`)."""
        probs = self.predict(inputs, batch_size=batch_size)
        return {t: [self.tasks[t][k] for k in p.argmax(axis=1)] for t, p in probs.items()}

    def explain_target(self, task: str) -> ExplainTarget:
        """Models and layer names an explanation method needs for `task`.

        Raises
        ------
        ValueError
            For an unknown task.
        """
        if task not in self.tasks:
            raise ValueError(f"`task` must be one of {list(self.tasks)}; got {task!r}")
        if self.members is not None:
            models = tuple(self.members[task][c] for c in self.tasks[task])
        else:
            models = (self.keras_model,)
        return ExplainTarget(task=task, class_names=tuple(self.tasks[task]), models=models,
                             logits_layer=f"{task}_logits")
