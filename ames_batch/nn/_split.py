"""Leakage-free train/validation/test split of rated cells (by cell, and by group when known).

The split is made on cell identities, BEFORE any augmentation: augmented copies are only ever
made on the fly from the training part (see ``_augment.py`` and ``_dataset.py``). Stratified on
the rating classes so every split sees every class, seeded so it is reproducible.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = ["CellSplit", "split_cells"]

_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class CellSplit:
    """Indices of the cells in each split (into the arrays given to :func:`split_cells`).

    Attributes
    ----------
    train, val, test : (N_split,) ndarray of int64
        Sorted, disjoint row indices.
    cell_ids : (N,) ndarray of str
        The cell identities the indices refer to.
    groups : (N,) ndarray of str or None
        The group (culture, plate, donor) of each cell, when known.
    seed : int
        Seed the split was drawn with.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    cell_ids: np.ndarray
    groups: np.ndarray | None
    seed: int

    def indices(self, name: str) -> np.ndarray:
        """Row indices of split `name` ("train", "val" or "test")."""
        if name not in _SPLITS:
            raise ValueError(f"`name` must be one of {_SPLITS}; got {name!r}")
        return getattr(self, name)

    def summary(self, strata: dict[str, np.ndarray] | None = None) -> dict:
        """JSON-ready summary: cell counts, groups and class counts per split.

        Parameters
        ----------
        strata : dict of str to (N,) ndarray, optional
            Class labels per task; their counts per split are added under ``"classes"``.
        """
        out: dict = {"seed": int(self.seed), "by_group": self.groups is not None}
        for name in _SPLITS:
            idx = self.indices(name)
            entry: dict = {"n_cells": int(idx.size)}
            if self.groups is not None:
                entry["groups"] = sorted({str(g) for g in self.groups[idx]})
            if strata:
                entry["classes"] = {
                    task: {str(k): int(v) for k, v in sorted(Counter(np.asarray(y)[idx].tolist()).items())}
                    for task, y in strata.items()
                }
            out[name] = entry
        return out


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"`{name}` must be in (0, 1); got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"`val_fraction + test_fraction` must be < 1 to leave training cells; "
            f"got {val_fraction} + {test_fraction}"
        )


def _strata_key(strata: dict[str, np.ndarray], n: int, smallest_split: int) -> np.ndarray:
    """One stratification label per cell: the joint class of all tasks, coarsened if too rare.

    A joint class must have at least 3 members (one per split) and there may be no more
    classes than cells in the smallest split (scikit-learn's condition); otherwise fewer
    tasks are combined, down to the first task alone, then no stratification at all.
    """
    if not strata:
        return np.zeros(n, dtype=np.int64)
    tasks = list(strata)
    for k in range(len(tasks), 0, -1):
        joint = np.array(["|".join(str(strata[t][i]) for t in tasks[:k]) for i in range(n)])
        counts = Counter(joint.tolist())
        if min(counts.values()) >= 3 and len(counts) <= smallest_split:
            return joint
    return np.zeros(n, dtype=np.int64)


def _split_plain(key: np.ndarray, val_fraction: float, test_fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    idx = np.arange(key.size)
    stratify = key if min(Counter(key.tolist()).values()) >= 2 else None
    rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=stratify)
    rel_val = val_fraction / (1.0 - test_fraction)
    key_rest = key[rest]
    stratify = key_rest if min(Counter(key_rest.tolist()).values()) >= 2 else None
    train, val = train_test_split(rest, test_size=rel_val, random_state=seed + 1, stratify=stratify)
    return train, val, test


def _pick_group_fold(idx, key, groups, fraction, seed):
    """Split `idx` into (rest, held) by whole groups, stratified, held ~ `fraction` of cells."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups[idx].tolist()))
    n_splits = max(2, min(n_groups, int(round(1.0 / fraction))))
    if n_groups < 2:
        raise ValueError(
            f"cannot split by group: need at least 3 distinct groups, got {n_groups}; "
            "drop the `group` column to split by cell only"
        )
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    # Several folds are on offer; keep the one whose size is closest to the requested fraction.
    target = fraction * idx.size
    best = min(cv.split(idx, key[idx], groups[idx]), key=lambda f: abs(f[1].size - target))
    return idx[best[0]], idx[best[1]]


def split_cells(
    cell_ids,
    strata: dict[str, np.ndarray] | None = None,
    *,
    groups=None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> CellSplit:
    """Split rated cells into train, validation and test sets, by cell and by group.

    Parameters
    ----------
    cell_ids : (N,) sequence of str
        One identity per cell (e.g. ``"plate/A/1/0/7"``); must be unique, since a cell listed
        twice could land in two splits.
    strata : dict of str to (N,) array-like, optional
        Class labels per task (e.g. ``{"source": [...], "sarcomerisation": [...]}``); the split
        is stratified on their joint class (coarsened to fewer tasks when a joint class has
        fewer than 3 cells).
    groups : (N,) sequence of str, optional
        Culture, plate or donor of each cell. When given, every group lies wholly in one split
        (``StratifiedGroupKFold``), so the test set measures generalisation to unseen groups.
    val_fraction, test_fraction : float
        Requested fractions of cells in validation and test; with groups they are approximate.
    seed : int
        Seed for the random assignment.

    Returns
    -------
    CellSplit
        Disjoint sorted index arrays ``train``, ``val``, ``test`` covering all N cells.

    Raises
    ------
    ValueError
        If ids are not unique, lengths differ, fractions are out of range, there are too few
        cells (fewer than 3) or too few groups (fewer than 3).

    Examples
    --------
    >>> s = split_cells([f"c{i}" for i in range(20)], {"source": [i % 2 for i in range(20)]})
    >>> sorted(map(int, np.concatenate([s.train, s.val, s.test]))) == list(range(20))
    True
    """
    ids = np.asarray([str(c) for c in cell_ids])
    n = ids.size
    if n < 3:
        raise ValueError(f"`cell_ids` must hold at least 3 cells to make 3 splits; got {n}")
    dup = [c for c, k in Counter(ids.tolist()).items() if k > 1]
    if dup:
        raise ValueError(f"`cell_ids` must be unique (a repeated cell would leak); repeated: {dup[:5]}")
    strata = {t: np.asarray(v) for t, v in (strata or {}).items()}
    for task, y in strata.items():
        if y.shape != (n,):
            raise ValueError(f"`strata[{task!r}]` must have shape ({n},) like `cell_ids`; got {y.shape}")
    _check_fractions(val_fraction, test_fraction)
    key = _strata_key(strata, n, int(np.floor(n * min(val_fraction, test_fraction))))

    if groups is None:
        train, val, test = _split_plain(key, val_fraction, test_fraction, seed)
        group_arr = None
    else:
        group_arr = np.asarray([str(g) for g in groups])
        if group_arr.shape != (n,):
            raise ValueError(f"`groups` must have shape ({n},) like `cell_ids`; got {group_arr.shape}")
        n_groups = len(set(group_arr.tolist()))
        if n_groups < 3:
            raise ValueError(
                f"cannot split by group: need at least 3 distinct groups, got {n_groups}; "
                "drop the `group` column to split by cell only"
            )
        rest, test = _pick_group_fold(np.arange(n), key, group_arr, test_fraction, seed)
        train, val = _pick_group_fold(rest, key, group_arr, val_fraction / (1.0 - test_fraction), seed + 1)

    return CellSplit(
        train=np.sort(np.asarray(train, dtype=np.int64)),
        val=np.sort(np.asarray(val, dtype=np.int64)),
        test=np.sort(np.asarray(test, dtype=np.int64)),
        cell_ids=ids,
        groups=group_arr,
        seed=int(seed),
    )
