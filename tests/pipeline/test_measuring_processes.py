"""A 2D run measures its fields in worker processes: same results, no field lost to a dead worker,
no ``__main__`` guard needed in a caller's script, no worker left behind by a killed run, one BLAS
thread per worker."""

import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from ames_batch.io import list_fields
from ames_batch.nn import load_rater
from ames_batch.pipeline._rate import RunSettings, prepare_group
from ames_batch.pipeline._run import measuring_processes


def _die_soon(seconds: float) -> None:
    time.sleep(seconds)
    os._exit(1)


def _metrics(group) -> list[dict]:
    return [c.metrics for f in group.fields.values() for c in f.cells]


def _measured_by(processes, plate, rater, settings):
    group = prepare_group(plate, list_fields(plate), rater, settings, processes=processes)
    assert not group.results, group.results  # no field failed
    return group


def _assert_same(group, here):
    assert list(group.fields) == list(here.fields)
    pd.testing.assert_frame_equal(pd.DataFrame(_metrics(group)), pd.DataFrame(_metrics(here)))
    for f, g in zip(group.fields.values(), here.fields.values()):
        np.testing.assert_array_equal(f.labels, g.labels)
        np.testing.assert_array_equal(f.data.mip, g.data.mip)


def test_fields_measured_in_workers_equal_those_measured_here(demo_plate, small_bundle):
    rater = load_rater(small_bundle)
    settings = RunSettings.for_rater(rater, explain=())
    here = _measured_by(None, demo_plate, rater, settings)
    assert len(here.fields) == 2 and all(len(f.cells) == 2 for f in here.fields.values())
    _assert_same(_measured_by(measuring_processes(), demo_plate, rater, settings), here)


def test_a_relative_plate_path_reaches_workers_started_elsewhere(demo_plate, small_bundle, monkeypatch):
    rater = load_rater(small_bundle)
    settings = RunSettings.for_rater(rater, explain=())
    pool = measuring_processes()
    pool.submit(int, 0).result()  # the workers exist, in this directory
    monkeypatch.chdir(demo_plate.parent)
    group = _measured_by(pool, Path(demo_plate.name), rater, settings)
    assert sum(len(f.cells) for f in group.fields.values()) == 4


def test_a_worker_that_dies_costs_no_field(demo_plate, small_bundle):
    rater = load_rater(small_bundle)
    settings = RunSettings.for_rater(rater, explain=())
    here = _measured_by(None, demo_plate, rater, settings)
    # the worker dies while the group's fields wait in its queue: their futures fail
    dying = ProcessPoolExecutor(max_workers=1, mp_context=get_context("forkserver"))
    killer = dying.submit(_die_soon, 2.0)
    queued = _measured_by(dying, demo_plate, rater, settings)
    assert killer.exception() is not None
    # the pool is broken before the group is submitted
    broken = _measured_by(dying, demo_plate, rater, settings)
    for group in (queued, broken):
        _assert_same(group, here)


def test_a_script_without_a_main_guard_runs_once(demo_plate, small_bundle, tmp_path):
    """multiprocessing's spawn and forkserver import the caller's ``__main__`` in every worker:
    a script without the guard would run again in each one. loky's workers do not."""
    runs = tmp_path / "runs.txt"
    script = tmp_path / "rate.py"
    script.write_text(textwrap.dedent(f"""
        from pathlib import Path
        import psutil
        import ames_batch.pipeline._run
        from ames_batch.pipeline import run_plate

        ames_batch.pipeline._run.PROCESSES_FROM_FIELDS = 1  # a 2-field plate measured in workers too

        with open({str(runs)!r}, "a") as f:
            f.write("ran\\n")
        report = run_plate(Path({str(demo_plate)!r}), model=Path({str(small_bundle)!r}), explain=(),
                           out_csv=Path({str(tmp_path / "r.csv")!r}), report=False)
        assert report.n_cells == 4 and not report.failed  # 2 fields of 2 cells
        assert len(psutil.Process().children()) >= 2  # the measuring workers (reused, still there)
    """))
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=300)
    assert runs.read_text() == "ran\n"
    assert len(pd.read_csv(tmp_path / "r.csv")) == 4


def test_workers_leave_when_their_run_is_killed(tmp_path):
    """A run killed outright (kill -9, the OOM killer) must not leave its workers behind: before,
    one blocked for good writing a result nobody read, the other waiting on that pipe's lock."""
    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent("""
        import time
        import psutil
        from ames_batch.pipeline._run import PREPARE_THREADS, measuring_processes

        pool = measuring_processes()
        for _ in range(PREPARE_THREADS):  # every worker busy
            pool.submit(time.sleep, 60)
        while len(psutil.Process().children()) < PREPARE_THREADS + 1:  # + loky's resource tracker
            time.sleep(0.1)
        print(" ".join(str(p.pid) for p in psutil.Process().children()), flush=True)
        time.sleep(120)
    """))
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [psutil.Process(int(pid)) for pid in run.stdout.readline().split()]
    assert len(workers) >= 2
    time.sleep(1.0)  # the workers have taken their tasks
    run.kill()
    run.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    for p in alive:  # leave the machine clean whatever the outcome
        p.kill()
    assert not [p.pid for p in alive]


def _blas_threads() -> list[int]:
    import scipy.linalg  # noqa: F401  (loads SciPy's own BLAS beside NumPy's)
    import threadpoolctl

    return [p["num_threads"] for p in threadpoolctl.threadpool_info()]


def test_each_worker_runs_one_blas_thread():
    threads = measuring_processes().submit(_blas_threads).result()
    assert threads and set(threads) == {1}, threads
