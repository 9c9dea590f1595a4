"""The C heap hands freed arrays back to the system between field groups (glibc)."""

import os
import platform
from pathlib import Path

import numpy as np
import pytest

from ames_batch.pipeline._memory import release_free_memory

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not Path("/proc/self/statm").is_file(),
                                reason="malloc_trim is glibc's; the resident set is read from /proc")


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_freed_arrays_held_by_malloc_are_returned():
    big = np.ones(20_000_000 // 8)
    del big  # freeing a 20 MB mapping makes glibc serve arrays up to 20 MB from its heap from now on
    arrays = [np.ones(1_000_000 // 8) for _ in range(150)]
    last = arrays[-1]  # alive above the others: the heap cannot shrink from its top
    del arrays
    held = _resident_bytes()
    assert release_free_memory()
    assert held - _resident_bytes() > 100e6  # most of the 149 freed megabytes
    del last
