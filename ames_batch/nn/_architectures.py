"""The three AMES architectures (Keras 3 Functional API): 2D singular, 2D one-vs-all ensemble, 3D.

Published block structure (reference code, parameters counted at its input sizes): three blocks of
``Conv(stride 2, valid, ReLU) -> BatchNorm -> MaxPool -> SpatialDropout (0.6, 0.4, 0.2)``, then
``Flatten -> Dense 100 (ReLU) -> Dropout 0.1 -> Dense 20 (ReLU) -> Dense K``. We keep it, with:

- no unused class 0: a head has exactly one unit per class name;
- a linear ``<task>_logits`` Dense followed by an ``Activation`` named ``<task>`` (softmax, or
  sigmoid for ensemble members), so Grad-CAM / IG can use the pre-activation output;
- the third convolution is named ``last_conv`` (its ReLU output is the Grad-CAM feature map);
- several tasks share one trunk with one head each (3x cheaper inference); pass one task to get
  one model per task;
- every layer initialiser and dropout is seeded from `seed`: same seed, same weights.

Scaled to a physical pixel size (``um_per_px`` given, as every trained bundle does): the
reference ran on ~0.1 µm pixels, where a stride-2 convolution and a 2x max-pool still leave
the 1.6-2.2 µm z-disc period resolved. At our 0.3-0.4 µm/px the first published block would
subsample it to about one pixel, and measured on synthetic cells such a trunk learns
sarcomerisation and directionality no better than chance. So the trunk then starts with a
fixed (not trained) **striation filter bank**: even/odd Gabor pairs at 1.7 and 2.1 µm periods
in 8 orientations, rectified to local striation amplitude and averaged to a ~1.6 µm grid; the
three blocks follow with stride 1 ``same`` convolutions (Conv -> BN -> MaxPool ->
SpatialDropout), so the network sees "how much striation, in which direction, where".
"""

import numpy as np

from .._logging import import_tensorflow_quietly
from ._combiner import check_combiner, combine

__all__ = ["ARCHS", "Ensemble", "build_model", "min_input_size", "striation_bank"]

ARCHS = ("2d", "2d-ensemble", "3d")
_FILTERS = {"2d": (64, 64, 64), "2d-ensemble": (64, 32, 32), "3d": (64, 64, 64)}
_DROPOUT = (0.6, 0.4, 0.2)
LAST_CONV = "last_conv"
#: Striation filter bank: z-disc periods (µm) and orientations; see the module docstring.
STRIATION_PERIODS_UM = (1.7, 2.1)
STRIATION_ORIENTATIONS = 8
#: Tuned trunks; ensemble members are smaller, as the published ones are (64/32/32 vs 64/64/64)
_STRIATION_FILTERS = {"2d": (32, 64, 64), "2d-ensemble": (16, 32, 32), "3d": (32, 64, 64)}
_STRIATION_DROPOUT = (0.1, 0.1, 0.1)
_ENERGY_GRID_UM = 1.6
#: Input values above 1/gain count as cell (preprocessing sets the surround to exactly 0)
_SUPPORT_GAIN = 1000.0
#: BatchNorm moving-average momentum. Keras' 0.99 needs ~1000 updates before the moving variance
#: (initialised at 1) nears the ~1e-5-1e-4 activation variance of [0, 1] inputs; until then
#: inference-mode outputs are near constant, so with a few hundred rated cells the validation
#: loss never improves and early stopping keeps an epoch-1 model. 0.9 settles in ~100 updates.
_BN_MOMENTUM = 0.9


def _keras():
    """Keras, imported on first use (with TensorFlow's start-up lines kept off stderr).

    Nothing in ``ames_batch.nn`` imports TensorFlow at import time: a metrics model, a rerun
    with nothing to do and ``ames-batch convert`` never pay its start-up.
    """
    import_tensorflow_quietly()
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - keras is a hard dependency
        raise ImportError("ames_batch.nn needs keras >= 3 with the TensorFlow backend") from exc
    return keras


def min_input_size(arch: str) -> tuple[int, ...]:
    """Smallest input (without channel) for which the three valid stride-2 blocks leave >= 1 pixel.

    Returns ``(85, 85)`` for the 2D models and ``(8, 85, 85)`` for the 3D model.
    """
    if arch not in ARCHS:
        raise ValueError(f"`arch` must be one of {ARCHS}; got {arch!r}")
    return (8, 85, 85) if arch == "3d" else (85, 85)


def _blocks_out(n: int, kernel: int, pool: int) -> int:
    for _ in range(3):
        n = (n - kernel) // 2 + 1
        n = n // pool
    return n


def _check(arch, input_shape, tasks, seed) -> tuple[tuple[int, ...], dict[str, list[str]]]:
    if arch not in ARCHS:
        raise ValueError(f"`arch` must be one of {ARCHS}; got {arch!r}")
    shape = tuple(int(n) for n in input_shape)
    ndim = 3 if arch == "3d" else 2
    if len(shape) == ndim + 1 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != ndim:
        raise ValueError(
            f"`input_shape` for {arch!r} must be {'(D, H, W)' if ndim == 3 else '(H, W)'} "
            f"(optionally with a trailing 1); got {tuple(input_shape)}"
        )
    dims = [(n, 2, 1) for n in shape[:1]] if ndim == 3 else []
    dims += [(n, 3, 2) for n in shape[-2:]]
    if any(_blocks_out(n, k, p) < 1 for n, k, p in dims):
        raise ValueError(
            f"`input_shape` {shape} is too small for three valid stride-2 blocks; "
            f"need at least {min_input_size(arch)}"
        )
    if not isinstance(tasks, dict) or not tasks:
        raise TypeError(f"`tasks` must be a non-empty dict task -> list of class names; got {tasks!r}")
    clean = {}
    for task, classes in tasks.items():
        if not isinstance(task, str) or not task.isidentifier():
            raise ValueError(f"task names must be identifiers (layer names); got {task!r}")
        classes = [str(c) for c in classes]
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"task {task!r} needs >= 2 distinct class names; got {classes}")
        clean[task] = classes
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"`seed` must be an int; got {seed!r}")
    return shape, clean


class _Seeds:
    """Deterministic per-layer seeds drawn from one seed."""

    def __init__(self, seed: int):
        self._rng = np.random.default_rng(seed)

    def __call__(self) -> int:
        return int(self._rng.integers(0, 2**31 - 1))


def striation_bank(um_per_px: float) -> np.ndarray:
    """Even/odd Gabor filter pairs tuned to z-disc periods, ``(k, k, 1, F)`` float32.

    Parameters
    ----------
    um_per_px : float
        Pixel size of the model input in µm, > 0.

    Returns
    -------
    kernels : (k, k, 1, F) ndarray of float32
        ``F = 2 * len(STRIATION_PERIODS_UM) * STRIATION_ORIENTATIONS``; Gaussian envelope
        sigma = 0.6 period, zero-mean, unit L1 norm; orientation i lies at ``i * 180° / 8``.
    """
    if not (np.isfinite(um_per_px) and um_per_px > 0):
        raise ValueError(f"`um_per_px` must be > 0; got {um_per_px}")
    sigma_max = 0.6 * max(STRIATION_PERIODS_UM) / um_per_px
    r = np.arange(-int(np.ceil(2 * sigma_max)), int(np.ceil(2 * sigma_max)) + 1)
    yy, xx = np.meshgrid(r, r, indexing="ij")
    kernels = []
    for period_um in STRIATION_PERIODS_UM:
        period = period_um / um_per_px
        envelope = np.exp(-(xx**2 + yy**2) / (2 * (0.6 * period) ** 2))
        for i in range(STRIATION_ORIENTATIONS):
            theta = np.pi * i / STRIATION_ORIENTATIONS
            phase = 2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period
            for wave in (np.cos(phase), np.sin(phase)):
                k = envelope * wave
                k -= envelope * (k.sum() / envelope.sum())  # zero mean: flat stain gives no energy
                kernels.append(k / np.abs(k).sum())
    return np.stack(kernels, axis=-1)[:, :, np.newaxis, :].astype(np.float32)


def _striation_energy(keras, inputs, arch: str, um_per_px: float):
    """Fixed filter bank -> rectified response -> mean over ~1.6 µm cells (per z-slice in 3D).

    Returns the normalised amplitude maps and the cell's support on the same grid (0..1).

    The bank is applied with both signs and a ReLU, so each even/odd pair yields the four
    half-wave amplitudes: a local striation amplitude that grows linearly with contrast (a
    squared energy spans orders of magnitude and made BatchNorm's statistics unstable).
    """
    layers = keras.layers
    bank = striation_bank(um_per_px)
    pool = max(1, round(_ENERGY_GRID_UM / um_per_px))
    if arch == "3d":
        conv = layers.Conv3D(bank.shape[-1], (1, *bank.shape[:2]), padding="same", use_bias=False,
                             trainable=False, name="striation_filters")
        weights, pooling = bank[np.newaxis], layers.AveragePooling3D((1, pool, pool), name="striation_pool")
    else:
        conv = layers.Conv2D(bank.shape[-1], bank.shape[:2], padding="same", use_bias=False,
                             trainable=False, name="striation_filters")
        weights, pooling = bank, layers.AveragePooling2D(pool, name="striation_pool")
    response = conv(inputs)
    conv.set_weights([weights])
    # ReLU(r) and ReLU(-r) of one convolution: the same maps as a +/- bank at half the cost
    positive = layers.ReLU(name="striation_pos")(response)
    negative = layers.ReLU(name="striation_neg")(layers.Rescaling(-1.0, name="striation_flip")(response))
    amplitude = layers.Concatenate(name="striation_amplitude")([positive, negative])
    features = layers.BatchNormalization(momentum=_BN_MOMENTUM, name="striation_bn")(pooling(amplitude))
    # share of each grid cell that the cell covers: preprocessing leaves exactly 0 outside it
    inside = layers.ReLU(max_value=1.0, name="support_clip")(layers.Rescaling(_SUPPORT_GAIN, name="support_gain")(inputs))
    pooled = layers.AveragePooling3D((1, pool, pool), name="support_pool") if arch == "3d" else \
        layers.AveragePooling2D(pool, name="support_pool")
    return features, pooled(inside)


def _trunk(keras, inputs, arch: str, filters, seeds: _Seeds, um_per_px: float | None = None):
    layers = keras.layers
    if um_per_px is not None:
        filters, rates, strides, padding = _STRIATION_FILTERS[arch], _STRIATION_DROPOUT, 1, "same"
    else:
        rates, strides, padding = _DROPOUT, 2, "valid"
    if arch == "3d":
        conv, pool, drop, avg_pool = layers.Conv3D, layers.MaxPooling3D, layers.SpatialDropout3D, layers.AveragePooling3D
        kernel, pool_size = (2, 3, 3), (1, 2, 2)
    else:
        conv, pool, drop, avg_pool = layers.Conv2D, layers.MaxPooling2D, layers.SpatialDropout2D, layers.AveragePooling2D
        kernel, pool_size = (3, 3), (2, 2)
    x, support = inputs, None
    if um_per_px is not None:
        x, support = _striation_energy(keras, inputs, arch, um_per_px)
    for i, (n_filters, rate) in enumerate(zip(filters, rates), start=1):
        last = i == len(filters)
        x = conv(
            n_filters, kernel, strides=strides, padding=padding, activation="relu",
            name=LAST_CONV if last and support is None else f"conv{i}",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seeds()),
        )(x)
        if support is not None:
            # features count only where the cell is, so the empty surround carries no evidence
            x = layers.Multiply(name=LAST_CONV if last else f"gate{i}")([x, support])
            if not last:
                support = avg_pool(pool_size, name=f"support_pool{i}")(support)
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"bn{i}")(x)
        x = pool(pool_size, name=f"pool{i}")(x)
        x = drop(rate, seed=seeds(), name=f"spatial_dropout{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(100, activation="relu", name="dense100",
                     kernel_initializer=keras.initializers.GlorotUniform(seed=seeds()))(x)
    return layers.Dropout(0.1, seed=seeds(), name="dropout")(x)


def _head(keras, x, task: str, units: int, activation: str, seeds: _Seeds):
    layers = keras.layers
    x = layers.Dense(20, activation="relu", name=f"{task}_dense20",
                     kernel_initializer=keras.initializers.GlorotUniform(seed=seeds()))(x)
    x = layers.Dense(units, name=f"{task}_logits",
                     kernel_initializer=keras.initializers.GlorotUniform(seed=seeds()))(x)
    return layers.Activation(activation, name=task)(x)


def _singular(keras, arch, shape, tasks, seed, *, name=None, um_per_px=None):
    seeds = _Seeds(seed)
    inputs = keras.Input(shape=(*shape, 1), name="cell")
    x = _trunk(keras, inputs, arch, _FILTERS[arch], seeds, um_per_px)
    outputs = {task: _head(keras, x, task, len(classes), "softmax", seeds) for task, classes in tasks.items()}
    default = f"ames_{arch}_" + "_".join(tasks) if len(tasks) == 1 else f"ames_{arch}"
    return keras.Model(inputs, outputs, name=name or default)


def _member(keras, shape, task: str, class_name: str, seed: int, um_per_px=None):
    seeds = _Seeds(seed)
    inputs = keras.Input(shape=(*shape, 1), name="cell")
    x = _trunk(keras, inputs, "2d-ensemble", _FILTERS["2d-ensemble"], seeds, um_per_px)
    out = _head(keras, x, task, 1, "sigmoid", seeds)
    return keras.Model(inputs, {task: out}, name=member_name(task, class_name))


def member_name(task: str, class_name: str) -> str:
    """Model (and file) name of one one-vs-all member: ``<task>__<class>``."""
    safe = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in class_name)
    return f"{task}__{safe}"


class Ensemble:
    """One-vs-all ensemble: one separate binary network per (task, class).

    Attributes
    ----------
    tasks : dict[str, list[str]]
        Class names per task, in output order.
    members : dict[str, dict[str, keras.Model]]
        ``members[task][class_name]``: its own model with its own weights; output
        ``{task: (N, 1) sigmoid}``, logits layer ``<task>_logits``, conv layer ``last_conv``.
    input_shape : tuple of int
        Input shape without batch axis, channel included.
    combiner : dict[str, dict]
        Per task (possibly none), the calibrated vote of its members fitted on held-out
        cells (:func:`ames_batch.nn._combiner.fit_combiner`).

    Notes
    -----
    Prediction for a task with a combiner is its distribution over the classes (rows sum to 1):
    a multinomial logistic regression on the members' logits. Without one, the members' sigmoid
    outputs stacked in class order, ``(N, K)``; the predicted class is the argmax and rows do
    not sum to 1 (each member answers "this class or not" on its own).
    """

    arch = "2d-ensemble"

    def __init__(self, members: dict[str, dict[str, object]], combiner: dict[str, dict] | None = None):
        keras = _keras()
        if not isinstance(members, dict) or not members:
            raise TypeError("`members` must be a non-empty dict task -> {class name: keras.Model}")
        seen: set[int] = set()
        shapes = set()
        for task, by_class in members.items():
            if not isinstance(by_class, dict) or len(by_class) < 2:
                raise ValueError(f"task {task!r} needs >= 2 members; got {by_class!r}")
            for cls, model in by_class.items():
                if not isinstance(model, keras.Model):
                    raise TypeError(f"member {task}/{cls} must be a keras.Model; got {type(model).__name__}")
                if id(model) in seen:
                    raise ValueError(f"member {task}/{cls} is the same object as another member; "
                                     "each one-vs-all member must be its own model")
                seen.add(id(model))
                shapes.add(tuple(model.input_shape[1:]))
        if len(shapes) != 1:
            raise ValueError(f"all members must share one input shape; got {sorted(shapes)}")
        self.members = {t: dict(m) for t, m in members.items()}
        self.tasks = {t: list(m) for t, m in members.items()}
        self.input_shape = shapes.pop()
        combiner = {} if combiner is None else combiner
        unknown = set(combiner) - set(self.tasks)
        if unknown:
            raise ValueError(f"combiner for unknown tasks {sorted(unknown)}; tasks are {list(self.tasks)}")
        self.combiner = {t: check_combiner(c, len(self.tasks[t]), t) for t, c in combiner.items()}

    def __iter__(self):
        """Yield ``(task, class_name, model)`` for every member."""
        for task, by_class in self.members.items():
            for cls, model in by_class.items():
                yield task, cls, model

    def __len__(self) -> int:
        return sum(len(m) for m in self.members.values())

    def count_params(self) -> int:
        """Total parameters over all members."""
        return sum(model.count_params() for _, _, model in self)

    def predict(self, x: np.ndarray, *, batch_size: int = 32, verbose: int = 0) -> dict[str, np.ndarray]:
        """Class probabilities per task, ``{task: (N, K) float32}`` (see Notes of the class)."""
        out = {}
        for task, by_class in self.members.items():
            cols = [np.asarray(m.predict(x, batch_size=batch_size, verbose=verbose)[task]).reshape(-1)
                    for m in by_class.values()]
            out[task] = np.stack(cols, axis=1).astype(np.float32)
            if task in self.combiner:
                out[task] = combine(out[task], self.combiner[task])
        return out


def build_model(arch: str, *, input_shape: tuple[int, ...], tasks: dict[str, list[str]], seed: int = 0,
                um_per_px: float | None = None):
    """Build one of the three AMES architectures, untrained and seeded.

    Parameters
    ----------
    arch : {"2d", "2d-ensemble", "3d"}
        2D singular CNN, 2D one-vs-all ensemble, or 3D singular CNN.
    input_shape : tuple of int
        ``(H, W)`` (2D) or ``(D, H, W)`` (3D), optionally with a trailing channel 1; at least
        :func:`min_input_size`. Use ``PreprocessSettings.input_shape``.
    tasks : dict[str, list[str]]
        Task name -> class names, e.g. ``{"sarcomerisation": ["1", "2", "3", "4"]}``. Several
        tasks share one trunk (one head each); pass one task for one model per task.
    seed : int
        Seeds every initialiser and dropout; same seed, same weights. Ensemble members get
        distinct seeds derived from it.
    um_per_px : float, optional
        Pixel size of the input in µm (``PreprocessSettings.target_um_per_px``). Given, the trunk
        starts with the fixed striation filter bank tuned to it and uses stride-1 blocks (see
        the module docstring); None builds the published stride-2 trunk unchanged.

    Returns
    -------
    model : keras.Model or Ensemble
        Singular: a Functional model, input ``"cell"`` ``(N, *input_shape, 1)``, outputs a dict
        ``{task: (N, K) softmax}``. Ensemble: an :class:`Ensemble` of separate Functional models.
        Neither is compiled.

    Raises
    ------
    TypeError
        If `tasks` is not a dict or `seed` not an int.
    ValueError
        For an unknown `arch`, a wrong or too small `input_shape`, or bad task/class names.

    Examples
    --------
    >>> model = build_model("2d", input_shape=(96, 96), tasks={"source": ["adult", "ipsc"]})
    >>> model.output_shape  # one task: Keras reports the single output's shape
    (None, 2)
    """
    shape, tasks = _check(arch, input_shape, tasks, seed)
    keras = _keras()
    if arch == "2d-ensemble":
        seeds = _Seeds(seed)
        return Ensemble({
            task: {cls: _member(keras, shape, task, cls, seeds(), um_per_px) for cls in classes}
            for task, classes in tasks.items()
        })
    return _singular(keras, arch, shape, tasks, seed, um_per_px=um_per_px)
