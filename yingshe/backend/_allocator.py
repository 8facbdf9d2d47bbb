"""Keep freed array memory in the process for the next training step (glibc only).

A training step allocates the same few-megabyte temporaries on every iteration (gate
activations, im2col columns, gradients). glibc serves a block over its mmap threshold
with a fresh ``mmap`` and unmaps it on ``free``, and gives the top of the heap back to
the system beyond its trim threshold, so every step then faults in every 4 KiB page of
those temporaries again. Measured on the LSTM benchmark (``benchmarks/profile_step.py
lstm``): 17-19 ms per step with glibc's defaults, 11 ms with blocks up to 32 MiB kept
on the heap and up to 256 MiB of free heap kept mapped. PyTorch's performance guide
gives the same advice for its CPU runs (preload jemalloc or tcmalloc); this is the
equivalent that needs no preload.

The cost is memory the process holds after freeing it: at most ``TRIM_THRESHOLD`` of
free heap top (plus fragmentation). Blocks over ``MMAP_THRESHOLD`` (32 MiB, glibc's
maximum for this setting) still come from ``mmap`` and go back on ``free``.

Set ``YINGSHE_MALLOC_TUNING=0`` before importing yingshe to leave malloc as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 256 * 1024 * 1024

tuned = False   # whether tune() changed glibc's settings in this process


def tune() -> bool:
    """Apply the thresholds above once; True when glibc accepted them. A no-op off
    Linux/glibc, or with ``YINGSHE_MALLOC_TUNING=0``."""
    global tuned
    if tuned:
        return True
    if os.environ.get("YINGSHE_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith(
            "linux"):
        return False
    try:
        # the process's own symbols, libc's among them: ctypes.util.find_library("c")
        # would run `ldconfig -p` in a subprocess, a tenth of a second of every import
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):   # musl and other libcs have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; fixing the mmap threshold also turns off glibc's
    # dynamic threshold, which is what lets the trim threshold keep the pages.
    tuned = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return tuned
