"""plate_lock: exclusive, non-blocking, names the holder, freed when the holder dies.

The holder is a second process; this process is refused while it lives and gets the lock
as soon as the holder is SIGKILLed (no cleanup code runs there).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ames_batch.errors import LockedError
from ames_batch.io import plate_lock

HOLDER = """
import sys, time
from pathlib import Path
from ames_batch.io import plate_lock
with plate_lock(Path(sys.argv[1]), purpose="run"):
    print("locked", flush=True)
    time.sleep(60)
"""


def _start_holder(plate):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(plate)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "locked", line
    return proc


def test_second_process_is_refused_and_lock_frees_on_kill(tmp_path):
    plate = tmp_path / "p.ome.zarr"
    proc = _start_holder(plate)
    try:
        # in this process
        with pytest.raises(LockedError, match=rf"p\.ome\.zarr: plate is locked by pid {proc.pid} .*\(run, since"):
            with plate_lock(plate, purpose="run"):
                pass
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    # the lock file is still there with the dead holder's details, but it no longer blocks
    assert json.loads((plate / ".ames.lock").read_text())["pid"] == proc.pid
    with plate_lock(plate, purpose="run") as path:
        assert json.loads(path.read_text())["purpose"] == "run"
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_lock_is_released_after_the_block_and_on_error(tmp_path):
    plate = tmp_path / "p.ome.zarr"
    with plate_lock(plate, purpose="convert"):
        with pytest.raises(LockedError):
            with plate_lock(plate, purpose="run"):
                pass
    with pytest.raises(ZeroDivisionError):
        with plate_lock(plate, purpose="run"):
            1 / 0
    t0 = time.monotonic()
    with plate_lock(plate, purpose="run"):
        pass
    assert time.monotonic() - t0 < 1.0  # non-blocking


def test_purpose_is_required(tmp_path):
    with pytest.raises(ValueError, match="purpose"):
        with plate_lock(tmp_path / "p.ome.zarr", purpose=" "):
            pass


def test_a_new_plate_can_be_written_under_its_lock(tmp_path):
    import numpy as np
    import xarray as xr

    from ames_batch.io import FieldKey, list_fields, validate_plate, write_field

    plate = tmp_path / "new.ome.zarr"
    img = xr.DataArray(np.ones((1, 1, 8, 8), np.uint8), dims=("c", "z", "y", "x"), coords={"c": ["a"]},
                       attrs={"scale_um": {"z": 0.1, "y": 0.05, "x": 0.05}})
    with plate_lock(plate, purpose="convert"):
        write_field(plate, FieldKey("A/1", "0"), img)
    assert list_fields(plate) == [FieldKey("A/1", "0")]
    validate_plate(plate)


def test_create_false_needs_an_existing_plate(tmp_path):
    from ames_batch.errors import NotAPlateError

    typo = tmp_path / "tpyo.ome.zarr"
    with pytest.raises(NotAPlateError, match="tpyo.ome.zarr: not an NGFF 0.5 HCS plate"):
        with plate_lock(typo, purpose="run", create=False):
            pass
    assert not typo.exists()
