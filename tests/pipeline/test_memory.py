"""The C heap hands freed arrays back to the system between field groups (glibc)."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not Path("/proc/self/statm").is_file(),
                                reason="malloc_trim is glibc's; the resident set is read from /proc")

# In a fresh interpreter whose malloc serves arrays up to 32 MB from its heap and never trims it
# on its own (glibc's tunables): what it holds after the arrays are freed goes back only by
# release_free_memory. (The suite's own heap, shaped by every test before, placed the arrays in
# old holes, and glibc's dynamic thresholds let part of them go back unasked: 81 MB, once 0.2 MB.)
_FRAGMENT_AND_RELEASE = """
import os
import numpy as np
from ames_batch.pipeline._memory import release_free_memory

def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

arrays = [np.ones(1_000_000 // 8) for _ in range(150)]
last = arrays[-1]  # alive above the others: the heap cannot shrink from its top
del arrays
held = resident()
released = release_free_memory()
print(released, held - resident())
del last
"""


def test_freed_arrays_held_by_malloc_are_returned():
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}
    out = subprocess.run([sys.executable, "-c", _FRAGMENT_AND_RELEASE], check=True, capture_output=True, text=True,
                         env=env)
    released, freed_bytes = out.stdout.split()
    assert released == "True"
    assert int(freed_bytes) > 100e6  # most of the 149 freed megabytes
