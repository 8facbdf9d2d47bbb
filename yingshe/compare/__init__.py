"""The side-by-side comparison: the same workloads on yingshe and the real frameworks.

Workloads (``workloads``) are defined once with NumPy; engines (``engines``) each
run in their own process (``runner``); the ``harness`` collects, times and
summarises. ``benchmarks/`` and the ``yingshe`` command are thin callers.
"""

from yingshe.compare.harness import format_table, machine_info, run, summarize  # noqa: F401
from yingshe.compare.workloads import SPEED, WORKLOADS  # noqa: F401
