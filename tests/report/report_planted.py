"""Hand-built cells tables with planted ratings (test helper)."""

import pandas as pd

from ames_batch.vocabulary import TASK_CLASSES, TASKS


def planted_cells(rows) -> pd.DataFrame:
    """A run's cells table from short rows ``(well, field, label, status, sarc, dir, source, extra)``.

    Ratings are one-hot probabilities of the given class (so the expected rating is the class),
    unless `extra` sets ``p_<task>_<class>`` columns itself.
    """
    records = []
    for well, field, label, status, sarc, direction, source, extra in rows:
        record = {"plate": "P1", "well": well, "field": field, "label": label, "status": status}
        if status == "ok":
            for task, value in zip(TASKS, (sarc, direction, source)):
                record[task] = value
                for cls in TASK_CLASSES[task]:
                    record[f"p_{task}_{cls}"] = float(cls == value)
        record.update(extra)
        records.append(record)
    return pd.DataFrame(records)
