"""Recalibrate a hybrid rater's heads on a facility's few rated cells: new class boundaries, same evidence.

An expert whose classes sit elsewhere on the scale (stricter about "well organised") or cells
whose look shifts the heads' scores need the boundaries moved, not the features relearned.
With ~100 cells, refitting a head on 115 inputs overfits (docs/facility-guide.md); a
multinomial logistic regression on the initial head's K logits fits K x (K + 1) numbers. It is
linear in those logits, which are linear in the head's standardised inputs, so the result is
again a plain head on the same inputs (no new kind of bundle).
"""

from collections.abc import Sequence

import numpy as np

from ._hybrid_rater import C_GRID, HybridRater, _head, _standardised, _validation_loss
from ._rater import Prepares

__all__ = ["HeadRecalibrator"]


class HeadRecalibrator(Prepares):
    """Trainer of a hybrid whose heads of `tasks` are recalibrated on the rated cells.

    Parameters
    ----------
    init : HybridRater
        The initial hybrid; its CNN, standardisation, ood statistics and the heads of the
        other tasks are kept.
    tasks : sequence of str, optional
        Heads to recalibrate (default: every rated task).
    c_grid : sequence of float
        Inverse L2 strengths tried per task; the lowest validation log-loss wins.
    """

    arch = "hybrid"

    def __init__(self, init: HybridRater, tasks: Sequence[str] | None = None, c_grid: Sequence[float] = C_GRID):
        self.init, self.tasks, self.c_grid = init, None if tasks is None else tuple(tasks), tuple(c_grid)
        self.preprocess = init.settings
        self.preparer = init.preparer
        self.needs_stack = init.needs_stack

    def fit(self, prepared, ratings, cell_ids, split, *, classes, checkpoint_dir=None, resume=False):
        """Per task, a balanced logistic regression on the initial head's logits of the `split.train`
        cells, its L2 strength chosen on `split.val`; folded back into a head on the same inputs."""
        from sklearn.linear_model import LogisticRegression

        from ._trainers import FitResult

        table = self.init._table(prepared)  # one CNN pass for every head
        heads, chosen = dict(self.init.heads), {}
        for task in self.tasks or tuple(ratings):
            head = self.init.heads[task]
            spec = head._heads[task]
            w, b = np.asarray(spec["coef"]), np.asarray(spec["intercept"])
            z = _standardised(head, table) @ w.T + b
            y = np.asarray(ratings[task], dtype=object)
            train = split.train[[v not in (None, "") for v in y[split.train]]]
            val = split.val[[v not in (None, "") for v in y[split.val]]]
            if len(set(y[train].astype(str))) < 2:  # nothing to recalibrate against: keep the head
                continue
            best = None
            for c in self.c_grid:
                clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(z[train], y[train].astype(str))
                loss = _validation_loss(clf, z[val], y[val].astype(str)) if val.size else 0.0
                if best is None or loss < best[0]:
                    best = (loss, c, clf)
            _, c, clf = best
            coef, intercept, fitted = clf.coef_ @ w, clf.coef_ @ b + clf.intercept_, [str(k) for k in clf.classes_]
            if len(fitted) == 2:  # binary: scikit-learn keeps one row, for the second class
                coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
            heads[task] = _head(head.features, (head.medians_, head.mean_, head.scale_), task, fitted, coef,
                                intercept, c)
            chosen[task] = {"c": c}
        rater = HybridRater(self.init.cnn, heads)
        rater.ood = self.init.ood  # same features, same standardisation: its training cells still describe it
        settings = {"arch": self.arch, "recalibrated": chosen, "c_grid": list(self.c_grid),
                    "init": self.init.identity, "kept_heads": sorted(set(heads) - set(chosen))}
        return FitResult(rater=rater, settings=settings)
