"""A run prepares its fields in worker processes (read, segment, measure, make the rater's inputs):
same results, no model (no TensorFlow) in the workers, no field lost to a dead worker, no
``__main__`` guard needed in a caller's script, no worker left behind by a killed run, one BLAS
thread per worker."""

import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import psutil

from ames_batch.io import list_fields
from ames_batch.nn import PreprocessSettings, cnn_input, load_rater
from ames_batch.pipeline._rate import RunSettings, prepare_group
from ames_batch.pipeline._run import preparing_processes


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
        np.testing.assert_array_equal(f.labels(), g.labels())
        assert (f.shape, f.scale_um, f.translation_um, f.stack_shape) == (g.shape, g.scale_um, g.translation_um,
                                                                          g.stack_shape)
        for a, b in zip(f.cells, g.cells):
            np.testing.assert_array_equal(a.prepared.x, b.prepared.x)
            np.testing.assert_array_equal(a.prepared.geometry.matrix, b.prepared.geometry.matrix)


#: A 3D rater's preparation without its model (prepare_group needs nothing else of a rater).
SMALL_3D = PreprocessSettings(input_shape=(8, 64, 64), target_um_per_px=1.2, z_step_um=1.0)


def _input_and_tensorflow(settings, cell, field):
    """A CNN input, and whether this process has imported TensorFlow by then."""
    return cnn_input(settings, cell, field), "tensorflow" in sys.modules


def test_3d_fields_prepared_in_workers_equal_those_prepared_here(demo_plate):
    rater = SimpleNamespace(preparer=partial(cnn_input, SMALL_3D), needs_stack=True)
    settings = RunSettings(model_id="none", explain=())
    here = _measured_by(None, demo_plate, rater, settings)
    assert all(f.stack_shape is not None and f.cells[0].prepared.x.shape == (8, 64, 64, 1)
               for f in here.fields.values())
    _assert_same(_measured_by(preparing_processes(), demo_plate, rater, settings), here)


def test_workers_make_inputs_without_tensorflow(demo_plate):
    """The stack stays in the worker and only the inputs cross; a worker that imported the
    model's libraries would cost the run their memory twice."""
    rater = SimpleNamespace(preparer=partial(_input_and_tensorflow, SMALL_3D), needs_stack=True)
    group = _measured_by(preparing_processes(), demo_plate, rater, RunSettings(model_id="none", explain=()))
    flags = [c.prepared[1] for f in group.fields.values() for c in f.cells]
    assert flags and not any(flags)


def test_fields_measured_in_workers_equal_those_measured_here(demo_plate, small_bundle):
    rater = load_rater(small_bundle)
    settings = RunSettings.for_rater(rater, explain=())
    here = _measured_by(None, demo_plate, rater, settings)
    assert len(here.fields) == 2 and all(len(f.cells) == 2 for f in here.fields.values())
    _assert_same(_measured_by(preparing_processes(), demo_plate, rater, settings), here)


def test_a_prepared_field_carries_its_labels_in_its_cells_alone(demo_plate, small_bundle):
    """A worker sends no field-sized array (the MIP and labels were 13.7 MB per demo field); the
    labels written are rebuilt from the cells: those of the segmentation, exactly."""
    from ames_batch.pipeline._field_input import read_field_data
    from ames_batch.segment import segment_cells

    rater = load_rater(small_bundle)
    group = _measured_by(preparing_processes(), demo_plate, rater, RunSettings.for_rater(rater, explain=()))
    for key, f in group.fields.items():
        assert not any(isinstance(v, np.ndarray) for v in vars(f).values())
        data = read_field_data(demo_plate, key)
        segmented = segment_cells(data.mip, data.pixel_size_um)
        assert segmented.max() == 2 and f.shape == data.mip.shape
        np.testing.assert_array_equal(f.labels(), segmented)


def test_a_relative_plate_path_reaches_workers_started_elsewhere(demo_plate, small_bundle, monkeypatch):
    rater = load_rater(small_bundle)
    settings = RunSettings.for_rater(rater, explain=())
    pool = preparing_processes()
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
        from ames_batch.pipeline._run import PREPARE_PROCESSES, preparing_processes

        pool = preparing_processes()
        for _ in range(PREPARE_PROCESSES):  # every worker busy
            pool.submit(time.sleep, 60)
        while len(psutil.Process().children()) < PREPARE_PROCESSES + 1:  # + loky's resource tracker
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


def test_a_worker_whose_run_died_while_it_started_leaves_too():
    """The watch took the worker's parent when it started: a worker still starting when its run
    was killed (two busy cores) had already been handed to another parent and stayed for good."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a run that is already gone: this pid is no one's parent
    worker = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from ames_batch.pipeline._run import _leave_with_the_run
        _leave_with_the_run({gone.pid}, poll_s=0.1)
        time.sleep(60)
    """)])
    try:
        assert worker.wait(timeout=20) == 1
    finally:
        worker.kill()


def _blas_threads() -> list[int]:
    import scipy.linalg  # noqa: F401  (loads SciPy's own BLAS beside NumPy's)
    import threadpoolctl

    return [p["num_threads"] for p in threadpoolctl.threadpool_info()]


def test_each_worker_runs_one_blas_thread():
    threads = preparing_processes().submit(_blas_threads).result()
    assert threads and set(threads) == {1}, threads


class _Counting:
    """The run's real worker pool, counting what is submitted to it."""

    def __init__(self, pool):
        self.pool, self.keys = pool, []

    def submit(self, fn, *args):
        self.keys.append(args[1])  # the field's key
        return self.pool.submit(fn, *args)


def test_more_workers_than_a_group_has_fields_are_kept_busy(small_bundle, tmp_path, monkeypatch):
    """On a machine with more cores than a group has fields, the workers take fields of the next
    groups too: each field is submitted once, and the run's results are those of threads."""
    import ames_batch.pipeline._run as run_module
    from ames_batch.pipeline import run_plate, write_demo_plate

    plate = write_demo_plate(tmp_path / "p.zarr", n_wells=3, n_fields=2, cells_per_field=1, seed=5).plate
    threads = run_plate(plate, model=small_bundle, explain=(), out_csv=tmp_path / "threads.csv", report=False)
    counting = _Counting(preparing_processes())
    monkeypatch.setattr(run_module, "FIELDS_PER_GROUP", 2)
    monkeypatch.setattr(run_module, "PROCESSES_FROM_FIELDS", 1)
    seen = []  # fields submitted when each group is prepared
    prepare_group = run_module.prepare_group

    def watched(plate, keys, *args, ahead=(), **kwargs):
        seen.append((list(keys), list(ahead)))
        return prepare_group(plate, keys, *args, ahead=ahead, **kwargs)

    monkeypatch.setattr(run_module, "prepare_group", watched)
    monkeypatch.setattr(run_module, "preparing_processes", lambda: counting)
    monkeypatch.setattr(run_module, "PREPARE_PROCESSES", 3)  # the window's size (the pool keeps its own)
    workers = run_plate(plate, model=small_bundle, explain=(), force=True, out_csv=tmp_path / "workers.csv",
                        report=False)
    keys = list_fields(plate)
    assert sorted(counting.keys) == sorted(keys) and len(counting.keys) == len(keys) == 6  # each once
    assert [a for _, a in seen] == [[keys[2]], [keys[4]], []]  # 3 in the workers' hands: one group + 1
    assert not workers.failed and workers.n_cells == threads.n_cells == 6
    columns = ["well", "field", "label", "sarcomerisation", "directionality", "source", "area_um2"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "workers.csv")[columns],
                                  pd.read_csv(tmp_path / "threads.csv")[columns])
