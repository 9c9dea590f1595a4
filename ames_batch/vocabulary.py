"""The rating vocabulary, in one place: tasks, their classes in output order, and display colours.

Every room reads the tasks and classes from here (CSV columns, model heads, the synthetic
raters, the label colour tables, reports). A rating is always a class *name* (str): "1".."4"
for the ordinal ratings, "adult" / "neonatal" / "ipsc" for the cell source.
"""

from types import MappingProxyType

__all__ = ["ORDINAL_TASKS", "RATING_COLOURS", "SOURCES", "TASKS", "TASK_CLASSES", "expected_rating"]

#: Cell sources, in model output order.
SOURCES: tuple[str, ...] = ("adult", "neonatal", "ipsc")
#: Class names per task, in model output order (the CSV's ``p_<task>_<class>`` columns too).
TASK_CLASSES: MappingProxyType = MappingProxyType({
    "sarcomerisation": ("1", "2", "3", "4"),
    "directionality": ("1", "2", "3", "4"),
    "source": SOURCES,
})
#: Task names, in CSV column order.
TASKS: tuple[str, ...] = tuple(TASK_CLASSES)
#: Tasks whose classes are ordered ratings 1..4 (an expected rating is defined for them).
ORDINAL_TASKS: tuple[str, ...] = ("sarcomerisation", "directionality")

#: RGBA colours per class and task: ordinal ratings red (1) -> green (4), sources distinct hues
#: (ColorBrewer RdYlGn and Set2, colour-blind safe).
RATING_COLOURS: MappingProxyType = MappingProxyType({
    "sarcomerisation": {"1": (215, 48, 39, 255), "2": (252, 141, 89, 255), "3": (166, 217, 106, 255),
                        "4": (26, 152, 80, 255)},
    "directionality": {"1": (215, 48, 39, 255), "2": (252, 141, 89, 255), "3": (166, 217, 106, 255),
                       "4": (26, 152, 80, 255)},
    "source": {"adult": (102, 194, 165, 255), "neonatal": (252, 141, 98, 255), "ipsc": (141, 160, 203, 255)},
})


def expected_rating(probabilities, task: str):
    """Expected ordinal rating ``sum_k k * p_k`` of (N, 4) class probabilities (classes "1".."4").

    Parameters
    ----------
    probabilities : (N, 4) array-like of float
        Rows of class probabilities in `TASK_CLASSES[task]` order.
    task : str
        One of `ORDINAL_TASKS`.

    Returns
    -------
    (N,) ndarray of float64
        In [1, 4] for rows that sum to 1.

    Raises
    ------
    ValueError
        If `task` is not ordinal or the array has another number of columns.

    Examples
    --------
    >>> expected_rating([[0.0, 0.5, 0.5, 0.0]], "sarcomerisation").tolist()
    [2.5]
    """
    import numpy as np

    if task not in ORDINAL_TASKS:
        raise ValueError(f"`task` must be one of {ORDINAL_TASKS} (ordered ratings); got {task!r}")
    p = np.asarray(probabilities, dtype=np.float64)
    values = np.array([float(c) for c in TASK_CLASSES[task]])
    if p.ndim != 2 or p.shape[1] != values.size:
        raise ValueError(f"`probabilities` must be (N, {values.size}); got shape {p.shape}")
    return p @ values
