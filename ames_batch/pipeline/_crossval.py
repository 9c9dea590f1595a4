"""Grouped k-fold cross-validation of candidate raters on a facility's few hundred rated cells.

With ~100 rated cells one held-out split is a handful of cells per class: its accuracy swings
by tens of points with the luck of the draw. Here every cell is scored once, by a rater that
never saw it nor its culture: the cells are cut into k folds of whole groups (the CSV's
``group``, else the well); for each fold, each candidate is fitted on the other folds (with a
validation part of whole groups for early stopping) and predicts the fold. The accuracy of
the pooled out-of-fold predictions gets a 95 % interval from a bootstrap over groups (cells of
one culture are not independent), and the differences between candidates are bootstrapped
on the same draws (paired).
"""

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Candidate", "CrossValidation", "cross_validate", "fold_splits"]

log = logging.getLogger("ames_batch")

#: Bootstrap draws of the intervals (their Monte-Carlo error is ~0.5 point at n = 2000).
N_BOOTSTRAP = 2000


@dataclass
class Candidate:
    """One rater competing for the bundle.

    Attributes
    ----------
    name : str
        How the report calls it ("fine-tuned", "metrics", "initial").
    prepared : list
        Its input per cell (the same cells, in the same order, for every candidate).
    trainer : Trainer or None
        Fitted anew on each fold; None for a rater taken as it is (`rater`).
    rater : Rater or None
        The unchanged rater (when `trainer` is None).
    tasks : tuple of str
        Tasks its bundle would rate (a candidate that rates fewer than the initial model's
        cannot win).
    """

    name: str
    prepared: list
    trainer: object | None = None
    rater: object | None = None
    tasks: tuple[str, ...] = ()


@dataclass
class CrossValidation:
    """Out-of-fold scores of each candidate.

    Attributes
    ----------
    folds : int
    grouped_by : {"group", "well", "cell"}
    n_groups : int
    scores : dict
        ``{candidate: {task: {"accuracy", "ci95": [lo, hi], "n_cells"}}}``.
    differences : dict
        ``{candidate: {task: {"difference", "ci95"}}}``: its accuracy minus the reference's.
    reference : str
        The candidate the differences are taken against (the initial model).
    predictions : dict
        ``{candidate: {task: (N,) ndarray of class index}}``, out of fold.
    winner : str
    seconds : dict
        Fitting and predicting time per candidate, all folds.
    """

    folds: int
    grouped_by: str
    n_groups: int
    scores: dict
    differences: dict
    reference: str
    predictions: dict
    winner: str = ""
    seconds: dict = field(default_factory=dict)

    def mean_accuracy(self, name: str) -> float:
        return float(np.mean([s["accuracy"] for s in self.scores[name].values()]))

    def to_dict(self) -> dict:
        """JSON-ready, without the per-cell predictions (the card's and metrics.json's ``selection``)."""
        return {"winner": self.winner, "initial": self.reference, "folds": self.folds, "grouped_by": self.grouped_by,
                "n_groups": self.n_groups,
                "candidates": {name: {"tasks": scores, "mean_accuracy": self.mean_accuracy(name),
                                      "difference_to_initial": self.differences.get(name, {}),
                                      "seconds": round(self.seconds.get(name, 0.0), 1)}
                               for name, scores in self.scores.items()}}

    def markdown(self) -> str:
        """The report a facility reads: per task and candidate, accuracy with its 95 % interval."""
        tasks = list(next(iter(self.scores.values())))
        lines = [f"Out-of-fold accuracy, {self.folds}-fold cross-validation by {self.grouped_by} "
                 f"({self.n_groups} {self.grouped_by}s; every cell scored once by a rater that never saw its "
                 f"{self.grouped_by}). In brackets: 95 % bootstrap interval over {self.grouped_by}s.", "",
                 "| candidate | " + " | ".join(tasks) + " | mean |", "|---|" + "---|" * (len(tasks) + 1)]
        for name, scores in self.scores.items():
            cells = [f"{100 * s['accuracy']:.0f} % [{100 * s['ci95'][0]:.0f}–{100 * s['ci95'][1]:.0f}]"
                     for s in scores.values()]
            mark = " **(kept)**" if name == self.winner else ""
            lines.append(f"| {name}{mark} | " + " | ".join(cells) + f" | {100 * self.mean_accuracy(name):.0f} % |")
        lines += ["", f"Difference to the {self.reference} model (percentage points, paired bootstrap):", "",
                  "| candidate | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
        for name, diffs in self.differences.items():
            cells = [f"{100 * d['difference']:+.0f} [{100 * d['ci95'][0]:+.0f} to {100 * d['ci95'][1]:+.0f}]"
                     for d in diffs.values()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        n = next(iter(self.scores.values()))[tasks[0]]["n_cells"]
        lines += ["", f"{n} rated cells. An interval that spans zero says the data cannot tell the two apart."]
        return "\n".join(lines) + "\n"


def _group_folds(n_splits: int, strata: np.ndarray, groups: np.ndarray, seed: int):
    """``StratifiedGroupKFold`` folds of whole groups; stratified only when every class can be
    (it needs at least `n_splits` cells of each)."""
    from sklearn.model_selection import StratifiedGroupKFold

    if min(Counter(strata.tolist()).values()) < n_splits:
        strata = np.zeros_like(strata)
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(groups)), strata, groups))


def fold_splits(cell_ids, strata: np.ndarray, groups: np.ndarray, *, folds: int, val_fraction: float, seed: int):
    """k folds of whole groups, each with a train/validation split of the other groups.

    Returns
    -------
    list of ames_batch.nn.CellSplit
        ``test`` = the fold; ``train`` and ``val`` = the other cells, split by group (stratified
        on `strata`), ``val`` ~ `val_fraction` of them.
    """
    from ..nn import CellSplit

    ids = np.asarray(cell_ids)
    splits = []
    for k, (rest, test) in enumerate(_group_folds(folds, strata, groups, seed)):
        n_inner = max(2, min(len(set(groups[rest])), round(1 / val_fraction)))
        train, val = min(_group_folds(n_inner, strata[rest], groups[rest], seed + 1 + k),
                         key=lambda f: abs(f[1].size - val_fraction * rest.size))
        splits.append(CellSplit(train=np.sort(rest[train]), val=np.sort(rest[val]), test=np.sort(test),
                                cell_ids=ids, groups=groups, seed=seed))
    return splits


def _bootstrap(correct: dict, groups: np.ndarray, seed: int) -> dict:
    """Accuracy per bootstrap draw over groups, for each key of `correct` ((N,) bool arrays)."""
    names, index = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, names.size, size=(N_BOOTSTRAP, names.size))
    counts = np.stack([np.bincount(d, minlength=names.size) for d in draws])  # (B, G) times drawn
    n_per_group = np.bincount(index, minlength=names.size)
    out = {}
    for key, hits in correct.items():
        per_group = np.bincount(index, weights=hits.astype(float), minlength=names.size)
        out[key] = (counts @ per_group) / (counts @ n_per_group)
    return out


def _ci(values: np.ndarray) -> list[float]:
    return [float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))]


def cross_validate(candidates: list[Candidate], ratings: dict[str, np.ndarray], cell_ids, groups, *,
                   classes: dict[str, list[str]], grouped_by: str, folds: int = 5, val_fraction: float = 0.15,
                   seed: int = 0, required_tasks: tuple[str, ...] = ()) -> CrossValidation:
    """Score every candidate out of fold and pick the winner.

    Parameters
    ----------
    candidates : list of Candidate
        The first one without a trainer is the reference of the differences (the initial model).
    ratings : dict of str to (N,) ndarray of str
        The expert's classes per task (the tasks scored).
    cell_ids : (N,) sequence of str
    groups : (N,) ndarray of str
        Culture (or well) per cell; folds hold whole groups.
    classes : dict of str to list of str
    grouped_by : str
        What `groups` are, for the report.
    folds : int
        k, >= 2 (lowered to the number of groups when there are fewer).
    val_fraction : float
        Share of a fold's training cells kept for early stopping.
    seed : int
    required_tasks : tuple of str
        A candidate whose `tasks` lack one of these cannot win (its bundle would rate less).

    Returns
    -------
    CrossValidation
        `winner`: the eligible candidate with the highest mean accuracy over the tasks scored
        (on a tie, the earlier in `candidates`).

    Raises
    ------
    ValueError
        If there are fewer than 2 groups.
    """
    import time

    from ..nn import encode_ratings

    groups = np.asarray(groups, dtype=str)
    n_groups = len(set(groups.tolist()))
    if n_groups < 2:
        raise ValueError(f"cross-validation needs cells of >= 2 {grouped_by}s; got {n_groups}")
    folds = int(min(folds, n_groups))
    y = encode_ratings(ratings, classes)
    tasks = list(ratings)
    splits = fold_splits(cell_ids, y[tasks[0]], groups, folds=folds, val_fraction=val_fraction, seed=seed)
    predictions, seconds = {}, {}
    for cand in candidates:
        started = time.monotonic()
        pred = {t: np.full(len(groups), -1, np.int64) for t in tasks}
        if cand.trainer is None:
            probs = cand.rater.predict_proba(cand.prepared)
            for t in tasks:
                pred[t] = np.argmax(probs[t], axis=1)
        else:
            for k, split in enumerate(splits, start=1):
                log.debug("cross-validation: %s, fold %d of %d (%d train, %d val, %d test cells)", cand.name, k,
                          folds, split.train.size, split.val.size, split.test.size)
                fit = cand.trainer.fit(cand.prepared, ratings, cell_ids, split, classes=classes)
                probs = fit.rater.predict_proba([cand.prepared[i] for i in split.test])
                for t in tasks:
                    pred[t][split.test] = np.argmax(probs[t], axis=1)
        predictions[cand.name] = pred
        seconds[cand.name] = time.monotonic() - started
        log.info("cross-validation: %s, out-of-fold accuracy %s (%.0f s)", cand.name,
                 ", ".join(f"{t} {np.mean(pred[t] == y[t]):.0%}" for t in tasks), seconds[cand.name])

    correct = {(c, t): predictions[c][t] == y[t] for c in predictions for t in tasks}
    boot = _bootstrap(correct, groups, seed)
    scores = {c: {t: {"accuracy": float(correct[(c, t)].mean()), "ci95": _ci(boot[(c, t)]),
                      "n_cells": int(len(groups))} for t in tasks} for c in predictions}
    reference = next(c.name for c in candidates if c.trainer is None)
    differences = {c: {t: {"difference": scores[c][t]["accuracy"] - scores[reference][t]["accuracy"],
                           "ci95": _ci(boot[(c, t)] - boot[(reference, t)])} for t in tasks}
                   for c in predictions if c != reference}
    result = CrossValidation(folds=folds, grouped_by=grouped_by, n_groups=n_groups, scores=scores,
                             differences=differences, reference=reference, predictions=predictions, seconds=seconds)
    eligible = [c.name for c in candidates if set(required_tasks) <= set(c.tasks)]
    order = [c.name for c in candidates]
    result.winner = max(eligible, key=lambda name: (round(result.mean_accuracy(name), 12), -order.index(name)))
    return result
