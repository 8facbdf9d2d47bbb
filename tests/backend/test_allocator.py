"""The malloc tuning done at import (yingshe/backend/_allocator.py): freed temporaries
stay mapped, so a training step's repeated allocations stop faulting pages in."""

import os
import platform
import subprocess
import sys

import pytest

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Minor page faults over 20 cycles that allocate and fill eight 2 MiB arrays (the size of
# the LSTM benchmark's gate activations), then free them, as a training step does: the
# oracle is the kernel's own count, not a time.
PROBE = """
import resource, numpy as np, yingshe
from yingshe.backend import _allocator
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():
    live = [np.ones(1 << 19, np.float32) for _ in range(8)]
    del live
step()
f0 = faults()
for _ in range(20):
    step()
print(_allocator.tuned, faults() - f0)
"""


def _probe(**env):
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env},
                         capture_output=True, text=True, check=True)
    tuned, faults = out.stdout.split()
    return tuned == "True", int(faults)


@pytest.mark.skipif(not GLIBC, reason="mallopt thresholds are glibc's")
def test_import_keeps_freed_arrays_mapped():
    tuned, faults = _probe()
    untuned, faults_default = _probe(YINGSHE_MALLOC_TUNING="0")
    assert tuned and not untuned
    # with glibc's defaults the freed heap top is trimmed and faulted in again each
    # cycle (up to 8 x 512 pages); tuned, the pages stay
    assert faults_default > 20 * 1000, faults_default
    assert faults < 20 * 10, faults


def test_opt_out_and_non_glibc_leave_malloc_alone():
    tuned, _ = _probe(YINGSHE_MALLOC_TUNING="0")
    assert not tuned
    if not GLIBC:
        assert not _probe()[0]
