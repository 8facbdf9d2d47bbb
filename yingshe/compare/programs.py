"""The tutorial's own programs, run on the real libraries and on yingshe's front-ends.

The speed and tutorial workloads compare engines from shared initial weights. This part
compares *programs*: each program in ``examples/tutorial`` (written for PyTorch) and
``examples/tutorial_tf`` (written for TensorFlow) runs twice, in two processes: as
written, on the real library, and with only its import lines renamed, on
``yingshe.torch`` / ``yingshe.tf``. The numbers both runs print (``RESULT`` lines,
protocol in ``yingshe.torch._runner``) are compared: exactly (float32 parity) where they
do not depend on random initial weights, by DESIGN's convergence tolerance where they do.
A yingshe run that imported the real library is refused, never counted as a pass.

    run_programs(["torch", "tf"]) -> list of records (one per program)
"""

from __future__ import annotations

import glob
import os
import re
import sys
import time
from typing import Callable, Iterable

from yingshe.testing.hang import HANG_GUARD_S
from yingshe.torch._runner import Report, judge, run_pair, run_program

__all__ = ["FRONT_ENDS", "programs", "run_programs", "run_tf_program", "rename_tf_imports"]

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# front-end -> (folder of programs, the real library's module, how to install it)
FRONT_ENDS = {
    "torch": ("examples/tutorial", "torch", "pip install torch==2.13.0"),
    "tf": ("examples/tutorial_tf", "tensorflow", "pip install tensorflow-cpu"),
}

_TF_IMPORT = re.compile(r"^(\s*)import tensorflow(\.compat\.v1)? as (\w+)[ \t]*$", re.M)

# The yingshe side of a TensorFlow program: refuse any import of the real tensorflow,
# run the renamed program, and report what was imported (a program that catches the
# ImportError and goes on is still refused: the status says it tried).
_TF_CHILD = """
import json, runpy, sys
attempts = []
class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == 'tensorflow' or name.startswith('tensorflow.'):
            attempts.append(name)
            raise ImportError('real tensorflow imported on the yingshe side: ' + name)
sys.meta_path.insert(0, _Refuse())
def _status():
    with open(sys.argv[2], 'w') as fh:
        json.dump({'attempts': attempts,
                   'modules': sorted(m for m in sys.modules
                                        if m == 'tensorflow' or m.startswith('tensorflow.')),
                   'used_frontend': 'yingshe.tf' in sys.modules}, fh)
try:
    runpy.run_path(sys.argv[1], run_name='__main__')
finally:
    _status()
"""


def rename_tf_imports(source: str) -> str:
    """``import tensorflow as tf`` -> ``import yingshe.tf as tf`` and
    ``import tensorflow.compat.v1 as tf`` -> ``import yingshe.tf.compat.v1 as tf``: the
    two spellings the front-end promises; nothing else changes."""
    return _TF_IMPORT.sub(lambda m: f"{m.group(1)}import yingshe.tf{m.group(2) or ''} as "
                                    f"{m.group(3)}", source)


def run_tf_program(path: str, *, timeout: float = HANG_GUARD_S,
                   python: str | None = None) -> Report:
    """Run a TensorFlow program on real TensorFlow and, renamed, on ``yingshe.tf`` (two
    processes, started together); compare their ``RESULT`` lines."""
    path = os.path.abspath(path)
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    renamed = rename_tf_imports(source)
    if renamed == source:
        return Report(program=path, ok=False,
                      reason="no `import tensorflow as tf` line to rename")
    rep, status = run_pair(path, renamed,
                           lambda renamed_path, status_path: ["-c", _TF_CHILD, renamed_path,
                                                              status_path],
                           timeout=timeout, python=python or sys.executable)
    return judge(rep, status, "tensorflow", "yingshe.tf")


def programs(front_end: str) -> list[str]:
    """The programs of a front-end (empty when the examples are not shipped here)."""
    folder = os.path.join(_REPO, FRONT_ENDS[front_end][0])
    return sorted(glob.glob(os.path.join(folder, "[!_]*.py")))


def _record(front_end: str, path: str, rep: Report, seconds: float) -> dict:
    status = "pass" if rep.ok else ("refused" if rep.refused else "fail")
    rec = {"workload": os.path.basename(path), "engine": f"yingshe.{front_end}",
           "front_end": front_end, "program": os.path.relpath(path, _REPO), "status": status,
           "reason": rep.reason, "seconds": round(seconds, 2),
           "checks": [{"name": c.name, "mode": c.mode, "ok": c.ok, "detail": c.detail}
                      for c in rep.comparisons]}
    if not rep.ok:
        sides = (("reference", rep.torch), ("yingshe", rep.yingshe))
        rec["stderr"] = {k: s.stderr[-2000:] for k, s in sides if s is not None and s.stderr}
    return rec


def run_programs(front_ends: Iterable[str] = ("torch", "tf"), timeout: float = HANG_GUARD_S,
                 on_start: Callable[[str, str], None] | None = None,
                 on_result: Callable[[dict], None] | None = None,
                 jobs: int | None = None) -> list[dict]:
    """Run every program of each front-end on the real library and on yingshe; one record
    per program, in order (``status``: pass, fail, refused, or skipped with the install
    command). ``jobs`` programs run at once (default: one per CPU, at most 4): only what
    they print is compared, so they may share the machine, and the real library's side
    (an import of seconds) leaves the other core idle when a pair runs alone.
    ``timeout`` is a hang guard per program."""
    from concurrent.futures import ThreadPoolExecutor
    from yingshe.compare.harness import installed
    records: list[dict | None] = []
    work = []
    for fe in front_ends:
        _folder, module, install = FRONT_ENDS[fe]
        if not installed(module):
            records.append({"workload": f"{_folder}/*.py", "engine": f"yingshe.{fe}",
                            "front_end": fe, "status": "skipped",
                            "reason": f"{module} is not installed: {install}"})
            if on_result:
                on_result(records[-1])
            continue
        for path in programs(fe):
            work.append((len(records), fe, path))
            records.append(None)

    def one(item):
        index, fe, path = item
        if on_start:
            on_start(os.path.basename(path), f"yingshe.{fe}")
        t0 = time.perf_counter()
        rep = (run_program(path, timeout=timeout) if fe == "torch"
               else run_tf_program(path, timeout=timeout))
        records[index] = _record(fe, path, rep, time.perf_counter() - t0)
        if on_result:
            on_result(records[index])

    jobs = jobs or min(os.cpu_count() or 1, 4)
    # the TensorFlow programs first: the longest, so the last ones to start are short
    work.sort(key=lambda item: item[1] != "tf")
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        list(pool.map(one, work))
    return records
