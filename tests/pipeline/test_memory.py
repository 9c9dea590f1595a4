"""The C heap hands freed arrays back to the system between field groups (glibc)."""

import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not Path("/proc/self/statm").is_file(),
                                reason="malloc_trim is glibc's; the resident set is read from /proc")

# In a fresh interpreter: the test process's own heap, shaped by every test before, could place
# the arrays in old holes (measured: part of them then went back to the system on their own).
_FRAGMENT_AND_RELEASE = """
import os
import numpy as np
from ames_batch.pipeline._memory import release_free_memory

def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

big = np.ones(20_000_000 // 8)
del big  # freeing a 20 MB mapping makes glibc serve arrays up to 20 MB from its heap from now on
arrays = [np.ones(1_000_000 // 8) for _ in range(150)]
last = arrays[-1]  # alive above the others: the heap cannot shrink from its top
del arrays
held = resident()
released = release_free_memory()
print(released, held - resident())
del last
"""


def test_freed_arrays_held_by_malloc_are_returned():
    out = subprocess.run([sys.executable, "-c", _FRAGMENT_AND_RELEASE], check=True, capture_output=True, text=True)
    released, freed_bytes = out.stdout.split()
    assert released == "True"
    assert int(freed_bytes) > 100e6  # most of the 149 freed megabytes
