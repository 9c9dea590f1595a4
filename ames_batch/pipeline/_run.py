"""`ames-batch run`: rate every field of a plate into cell labels, heatmaps and a CSV."""

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._logging import progress
from ..errors import AmesError, ModelBundleError
from ..io import (FieldKey, field_attributes, list_fields, list_labels, list_tables, plate_lock, write_csv_atomic,
                  write_plate_table)
from ..nn import load_rater, rater_info
from ._memory import release_free_memory
from ._rate import (CELL_LABELS, FieldResult, RunSettings, predict_group, prepare_group, rate_fields, rows_from_labels,
                    write_group)
from ._report import ReportFiles, report_path, wells_csv_path, write_plate_report

__all__ = ["RunReport", "default_model_path", "ratings_csv_path", "run_plate"]

log = logging.getLogger("ames_batch")

_MODELS = Path(__file__).resolve().parents[1] / "models"
#: Fields handled together: their cells share prediction batches.
FIELDS_PER_GROUP = 4
#: Fields of a group prepared at once by the threads of a run under `PROCESSES_FROM_FIELDS`
#: fields (one per core, at most the group; a 3D one prepares one field at a time).
PREPARE_THREADS = min(FIELDS_PER_GROUP, os.cpu_count() or 1)
#: Worker processes that prepare the fields of a larger run: one per core, at most 8 (each
#: holds 0.3-0.4 GB); as many fields are in their hands at once, across groups.
PREPARE_PROCESSES = max(1, min(8, os.cpu_count() or 1))
#: A run of at least this many fields prepares them in worker processes: on 2 cores they cost
#: a run ~0.9 s to start (each imports the libraries) and save 0.08-0.09 s per field in 2D and
#: 0.13 s in 3D (threads share the GIL), measured at demo and SIM scale, 2026-12-07.
PROCESSES_FROM_FIELDS = 16
#: Thread counts of the BLAS and OpenMP builds NumPy and SciPy may load, 1 in each preparing
#: worker (the variables joblib sets for its own workers).
_THREAD_COUNT_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                           "VECLIB_MAXIMUM_THREADS")
#: Loaded raters of this process by identity (a content digest: a model replaced in place is
#: another entry); workers of a cluster load each rater once.
_RATERS: dict[str, object] = {}


@dataclass(frozen=True)
class RunReport:
    """Outcome of :func:`run_plate`."""

    plate: Path
    csv: Path
    results: list[FieldResult]
    report: ReportFiles | None = None

    @property
    def failed(self) -> list[FieldResult]:
        return [r for r in self.results if r.failed]

    @property
    def n_cells(self) -> int:
        return sum(1 for r in self.results for row in r.rows if row.get("status") == "ok")

    @property
    def n_empty(self) -> int:
        """Fields read without error in which segmentation found no cell (CSV status ``no cells``)."""
        return sum(1 for r in self.results if not r.failed and not r.rows)

    @property
    def n_ood(self) -> int | None:
        """Rated cells flagged unlike the model's training cells; None when the model has no ood statistics."""
        flags = [row["ood"] for r in self.results for row in r.rows if row.get("status") == "ok" and "ood" in row]
        return sum(str(v).lower() in ("true", "1") for v in flags) if flags else None

    @property
    def n_saturated(self) -> int:
        """Rated cells the detector clipped (``saturated``: ratings not to be trusted)."""
        return sum(str(row.get("saturated")).lower() in ("true", "1")
                   for r in self.results for row in r.rows if row.get("status") == "ok")


def default_model_path(mode: str = "2d") -> Path:
    """The bundled default model for `mode` ("2d" or "3d")."""
    path = _MODELS / ("default" if mode == "2d" else f"default-{mode}")
    if not path.is_dir():
        raise ModelBundleError(f"{path}: no bundled default {mode} model in this installation; "
                               f"pass --model with a bundle made by `ames-batch train`")
    return path


def ratings_csv_path(plate: Path) -> Path:
    """Default CSV beside the plate: ``plate.zarr`` → ``plate-ratings.csv``."""
    return plate.with_name(plate.name.removesuffix(".zarr") + "-ratings.csv")


def _rater(identity: str, model_path: str):
    """The loaded rater of `identity` (its bundle at `model_path`), once per process."""
    if identity not in _RATERS:
        rater = load_rater(model_path)
        if rater.identity != identity:  # replaced between reading its card and loading it
            raise ModelBundleError(f"{model_path}: the model changed while the run started; run again")
        if len(_RATERS) >= 2:
            _RATERS.pop(next(iter(_RATERS)))
        _RATERS[identity] = rater
    return _RATERS[identity]


def _already_rated(plate: Path, key: FieldKey, settings: RunSettings) -> FieldResult | None:
    record = field_attributes(plate, key).get("run")
    if not record or {k: record.get(k) for k in settings.signature} != settings.signature:
        return None
    if record.get("status") == "no cells":
        return FieldResult(key, "skipped", [])
    if "cells" not in list_labels(plate, key):
        return None
    return FieldResult(key, "skipped", rows_from_labels(plate, key))


def _rate_group(plate: str, keys: list[tuple[str, str]], model_path: str, settings: RunSettings):
    """One unit of work (picklable arguments, for dask.distributed workers)."""
    results = rate_fields(Path(plate), [FieldKey(*k) for k in keys], _rater(settings.model_id, model_path), settings)
    release_free_memory()
    return results


def run_plate(
    plate: Path,
    *,
    model: Path | None = None,
    mode: str | None = None,
    explain: tuple[str, ...] | None = None,
    out_csv: Path | None = None,
    wells: list[str] | None = None,
    channel: str | int | None = None,
    force: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    report: bool = True,
) -> RunReport:
    """Rate every (selected) field of a plate; write labels, heatmaps and a CSV of ratings.

    Parameters
    ----------
    plate : Path
        An NGFF 0.5 HCS plate (from ``ames-batch convert`` or ``demo``).
    model : Path, optional
        Model bundle (from ``ames-batch train``, any ``--arch``, including ``metrics``); default
        the bundled default model for `mode`.
    mode : {"2d", "3d"}, optional
        Which kind of model to use when `model` is None (default "2d"); with a `model`, it must
        agree with the bundle (a metrics model is 2D: it measures the MIP).
    explain : tuple of str, optional
        Heatmaps to write (empty: none): what the rater offers (a CNN: "gradcam", "ig") and
        "organised", the metrics' organised map (1 where a cell's z-discs repeat at a
        sarcomeric spacing; any rater). Default: the rater's own default (Grad-CAM for a CNN,
        the organised map for a metrics model).
    out_csv : Path, optional
        Ratings CSV; default ``<plate>-ratings.csv`` beside the plate.
    wells : list of str, optional
        Only these wells ("A/1"); default all.
    channel : str or int, optional
        Stain channel as the user wrote it (a name first, then an index); default the one
        recorded at conversion, else the first.
    force : bool
        Redo fields already rated with the same model and settings.
    scheduler : str, optional
        Address of a dask.distributed scheduler; the plate must be on storage its workers see.
    workers : int, optional
        Start a local dask.distributed cluster with this many worker processes.
    report : bool
        Also write the HTML plate report (``<plate>-report.html``) and the per-well summary
        (``<csv without -ratings>-wells.csv``) from the CSV (``write_plate_report``).

    Returns
    -------
    RunReport
        Per-field results; the CSV holds one row per cell of every selected field (including
        fields skipped as already rated) and one status row per field without cells or failed.

    Raises
    ------
    NotAPlateError, ModelBundleError, LockedError, ValueError
        Setup errors (nothing is rated).
    """
    plate = Path(plate)
    list_fields(plate)  # not a plate: a setup error before anything else (a full NGFF validation of a
    # large plate costs seconds, and each field is checked as it is read)
    model_path = Path(model) if model is not None else default_model_path(mode or "2d")
    info = rater_info(model_path)  # the card only: deciding what to skip needs no TensorFlow
    model_mode = "3d" if info.needs_stack else "2d"
    if mode is not None and mode != model_mode:
        raise ValueError(f"--mode {mode} does not match the {model_mode} model {model_path}")
    settings = RunSettings.for_rater(info, explain=explain, channel=channel)
    out_csv = Path(out_csv) if out_csv else ratings_csv_path(plate)

    with plate_lock(plate, purpose="run", create=False):
        keys = list_fields(plate)
        if wells:
            missing = sorted(set(wells) - {k.well for k in keys})
            if missing:
                raise ValueError(f"{plate}: no wells {missing}; the plate has {sorted({k.well for k in keys})}")
            keys = [k for k in keys if k.well in set(wells)]
        done = {} if force else {k: r for k in keys if (r := _already_rated(plate, k, settings))}
        todo = [k for k in keys if k not in done]
        log.info("%s: %d fields, %d already rated, %d to rate with %s", plate, len(keys), len(done),
                 len(todo), settings.model_id)
        if todo and scheduler is None and workers is None:
            _rater(settings.model_id, str(model_path.resolve()))  # load errors are setup errors, before any field
        groups = [todo[i:i + FIELDS_PER_GROUP] for i in range(0, len(todo), FIELDS_PER_GROUP)]
        results = dict(done)
        for group_results in progress(_run_groups(plate, groups, model_path, settings, scheduler, workers),
                                      total=len(groups), desc="field groups"):
            results.update({r.key: r for r in group_results})
        ordered = [results[k] for k in keys]
        table = _table(plate, ordered)
        write_csv_atomic(out_csv, table)
        # the plate's own table holds every cell of the plate; rating any field drops it
        if not wells and (todo or CELL_LABELS not in list_tables(plate)):
            cells = table[table["status"] == "ok"].drop(columns=["plate", "status"])
            write_plate_table(plate, cells.astype({"label": np.int64}) if "label" in cells else cells)
        files = None
        if report:
            existing = ReportFiles(report_path(plate), wells_csv_path(out_csv))
            # nothing rated anew: the report beside the plate still holds (a no-op rerun stays cheap)
            files = existing if not todo and existing.html.is_file() and existing.wells_csv.is_file() \
                else _report(plate, out_csv)
    result = RunReport(plate, out_csv, ordered, files)
    log.info("%s: %d cells rated, %d fields without cells, %d fields failed; CSV %s", plate, result.n_cells,
             result.n_empty, len(result.failed), out_csv)
    return result


def preparing_processes():
    """The worker processes that read, segment, measure and prepare a run's fields (`PREPARE_PROCESSES`).

    loky's reusable executor (joblib's): started once per process and kept for later runs (a
    test session, a notebook), restarted if a worker died, and, unlike ``multiprocessing``, its
    workers never import the caller's ``__main__``: a script that calls `run_plate` needs no
    ``if __name__ == "__main__"`` guard. Each worker runs one BLAS thread and leaves when the
    process that started it is gone (`_leave_with_the_run`).
    """
    from joblib.externals.loky import get_reusable_executor

    # a worker per core already fills the cores: BLAS's own threads (segmentation's background
    # fit) only contended with the other worker (measured on 32 demo fields, 3 + 3 runs
    # alternating: 8.6-9.4 s with one thread each, 9.5-9.9 s without)
    return get_reusable_executor(max_workers=PREPARE_PROCESSES, initializer=_leave_with_the_run,
                                 initargs=(os.getpid(),), env={name: "1" for name in _THREAD_COUNT_VARIABLES})


def _leave_with_the_run(parent: int, poll_s: float = 1.0) -> None:
    """In each preparing worker: exit once `parent`, the process that started it, is gone.

    A run killed outright (``kill -9``, the OOM killer, a cron timeout) left its two workers
    behind for good, holding 0.5 GB: one blocked writing a result into a pipe nobody read,
    the other waiting for that pipe's lock (measured; a run stopped with SIGTERM let them go).
    The run's pid comes with the worker: one that was still starting when the run was killed
    already has another parent, which it would otherwise have taken for the run's (measured:
    on two busy cores both workers stayed behind).
    """

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="ames-leave-with-the-run", daemon=True).start()


def _pipelined(plate: Path, groups: list[list[FieldKey]], rater, settings: RunSettings):
    """Yield each group's results; while one group is rated, the next is read and prepared and
    the previous one written (threads: zarr, NumPy, SciPy and TensorFlow release the GIL for
    much of it; the fields of a run of `PROCESSES_FROM_FIELDS` or more are prepared in worker
    processes, `preparing_processes`, which send the rater's inputs, never a stack).

    At most three groups are in memory: one being prepared, one being rated, one being written
    (and, with more workers than a group has fields, up to one prepared field per worker of the
    next groups); the C heap hands back what each written group freed, so the peak stays that of
    the first groups.
    """
    # In this process a field whose stack is read whole is prepared alone: measured on 32 demo
    # fields in 3D with Grad-CAM, two threads at once beside the model's pass raised the peak from
    # 1.2x to 1.3x that of 4 fields and saved no time (the GIL). Workers do save it (3D with
    # Grad-CAM, 32 demo fields: 12.7-13.1 s against 17.4-17.8 s; the run's own peak is lower,
    # 1.34 against 1.58 GB, and the two workers add 0.75 GB).
    threads = 1 if rater.needs_stack else PREPARE_THREADS
    in_processes = sum(map(len, groups)) >= PROCESSES_FROM_FIELDS
    submitted = {}  # fields in the workers' hands, by key: one per worker, across groups

    def prepare(i):
        # asked for per group: a pool whose worker died is replaced
        processes = preparing_processes() if in_processes else None
        later = [k for g in groups[i + 1:] for k in g][:max(0, PREPARE_PROCESSES - len(groups[i]))]
        return prepare_group(plate, groups[i], rater, settings, threads=threads, processes=processes,
                             ahead=later, submitted=submitted)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ames-run") as pool:
        preparing = pool.submit(prepare, 0)
        writing = None
        for i in range(len(groups)):
            group = preparing.result()
            if i + 1 < len(groups):
                preparing = pool.submit(prepare, i + 1)
            predict_group(group, rater, settings)
            if writing is not None:
                yield writing.result()
                release_free_memory()  # the written group's arrays (see _memory)
            writing = pool.submit(write_group, plate, group, rater, settings)
        yield writing.result()


def _report(plate: Path, out_csv: Path) -> ReportFiles | None:
    """The plate report; a failure to write it is logged, never fails the rated plate (the
    ratings are all written; `ames-batch report` writes it again)."""
    try:
        return write_plate_report(plate, out_csv)
    except (AmesError, OSError, ValueError, KeyError) as error:
        log.error("%s: plate report not written (%s: %s); rerun `ames-batch report %s`", plate,
                  type(error).__name__, error, plate)
        return None


def _run_groups(plate, groups, model_path, settings, scheduler, workers):
    """Yield each group's results as they finish: in-process (pipelined), or on a dask.distributed cluster."""
    if not groups:
        return
    if scheduler is None and workers is None:
        yield from _pipelined(plate, groups, _rater(settings.model_id, str(model_path.resolve())), settings)
        return
    args = [(str(plate.resolve()), [tuple(k) for k in g], str(model_path.resolve()), settings) for g in groups]
    from distributed import Client, LocalCluster, as_completed

    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
    with Client(scheduler or cluster) as client:
        futures = [client.submit(_rate_group, *a, pure=False) for a in args]
        for future in as_completed(futures):
            yield future.result()
    if cluster is not None:
        cluster.close()


def _table(plate: Path, results: list[FieldResult]) -> pd.DataFrame:
    """One row per cell; one status row per field without cells or failed."""
    plate_name = plate.name.removesuffix(".zarr")
    rows = []
    for r in results:
        where = {"plate": plate_name, "well": r.key.well, "field": r.key.field}
        if r.rows:
            rows.extend({**where, **row} for row in r.rows)
        else:
            rows.append({**where, "status": "no cells" if r.status in ("skipped", "no cells") else r.status})
    table = pd.DataFrame(rows)
    if "label" in table:  # a row without a cell leaves it empty: integers stay integers ("1", not "1.0")
        table["label"] = table["label"].astype("Int64")
    first = ["plate", "well", "field", "label", "status"]
    return table[[c for c in first if c in table] + [c for c in table if c not in first]]
