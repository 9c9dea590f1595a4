"""Batches of preprocessed cell inputs for Keras, augmented on the fly for training only.

Inputs are preprocessed once per cell and held as one float32 array; a training epoch draws
fresh random augmented copies batch by batch (never stored). Validation and test sequences
return the stored inputs unchanged. Class balance comes from per-task sample weights
(inverse class frequency in the training split), since Keras' ``class_weight`` does not
apply to several outputs.
"""

import numpy as np

from ._architectures import _keras
from ._augment import AugmentSettings, augment_cell

__all__ = ["CellSequence", "class_weights"]


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced class weights ``n / (k * count)``; classes absent from `labels` get 0.

    Parameters
    ----------
    labels : (N,) ndarray of int
        Class indices in ``[0, n_classes)``.
    n_classes : int
        Number of classes k of the task.

    Returns
    -------
    (n_classes,) ndarray of float32
        Weight per class; the weighted class totals are equal.

    Raises
    ------
    ValueError
        If a label is outside ``[0, n_classes)``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"`labels` must lie in [0, {n_classes}); got range [{labels.min()}, {labels.max()}]")
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes, dtype=np.float64)
    weights[present] = labels.size / (present.sum() * counts[present])
    return weights.astype(np.float32)


class CellSequence(_keras().utils.PyDataset):
    """Keras dataset over stored cell inputs: ``(x, {task: y}, {task: weight})`` batches.

    Parameters
    ----------
    inputs : (N, ...) ndarray of float32
        Preprocessed inputs of ALL cells (one array, shared, never copied per split).
    targets : dict of str to (N,) ndarray of int
        Class index per task per cell.
    indices : (M,) ndarray of int
        The rows of `inputs` this sequence serves (one split).
    batch_size : int
        Cells per batch.
    augment : AugmentSettings or None
        Random changes for each served copy; None serves the stored inputs unchanged
        (validation and test).
    weights : dict of str to (n_classes,) ndarray, optional
        Class weights per task; when given, batches carry per-sample weights.
    shuffle : bool
        Reshuffle the order every epoch (training).
    seed : int
        Seed of the shuffling and augmentation; epoch ``e`` uses ``(seed, e)``.
    spatial_axes : (int, int)
        y and x axes of one input (``(0, 1)`` 2D, ``(1, 2)`` 3D).
    """

    def __init__(self, inputs, targets, indices, *, batch_size=16, augment=None, weights=None,
                 shuffle=False, seed=0, spatial_axes=(0, 1)):
        super().__init__(workers=1, use_multiprocessing=False)
        if not isinstance(inputs, np.ndarray):
            raise TypeError(f"`inputs` must be a numpy ndarray; got {type(inputs).__name__}")
        if augment is not None and not isinstance(augment, AugmentSettings):
            raise TypeError(f"`augment` must be AugmentSettings or None; got {type(augment).__name__}")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1; got {batch_size}")
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            raise ValueError("`indices` is empty: a split holds no cells")
        if indices.min() < 0 or indices.max() >= len(inputs):
            raise ValueError(f"`indices` must lie in [0, {len(inputs)}); got [{indices.min()}, {indices.max()}]")
        for task, y in targets.items():
            if len(y) != len(inputs):
                raise ValueError(f"`targets[{task!r}]` has {len(y)} rows; `inputs` has {len(inputs)}")
        self.inputs = inputs
        self.targets = {t: np.asarray(y, dtype=np.int64) for t, y in targets.items()}
        self.indices = indices
        self.batch_size = int(batch_size)
        self.augment = augment
        self.weights = None if weights is None else {t: np.asarray(w, np.float32) for t, w in weights.items()}
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.spatial_axes = tuple(spatial_axes)
        self.epoch = 0
        self._order = self._make_order()

    def _make_order(self) -> np.ndarray:
        if not self.shuffle:
            return self.indices
        return np.random.default_rng((self.seed, self.epoch, 0)).permutation(self.indices)

    def __len__(self) -> int:
        return int(np.ceil(self.indices.size / self.batch_size))

    def batch_indices(self, idx: int) -> np.ndarray:
        """Rows of `inputs` in batch `idx` of the current epoch."""
        return self._order[idx * self.batch_size:(idx + 1) * self.batch_size]

    def __getitem__(self, idx: int):
        rows = self.batch_indices(idx)
        if self.augment is None:
            x = self.inputs[rows]
        else:
            rng = np.random.default_rng((self.seed, self.epoch, 1, idx))
            x = np.stack([augment_cell(self.inputs[r], rng, self.augment, spatial_axes=self.spatial_axes)
                          for r in rows])
        y = {t: v[rows] for t, v in self.targets.items()}
        if self.weights is None:
            return x, y
        w = {t: self.weights[t][y[t]] for t in y}
        return x, y, w

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._make_order()
