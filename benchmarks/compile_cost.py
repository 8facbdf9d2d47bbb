"""What numba compilation costs a test run: a pytest plugin.

    YINGSHE_CACHE_DIR=$(mktemp -d) PYTHONPATH=.:benchmarks \\
        .venv/bin/python -m pytest tests/graph -q -p no:cacheprovider -p compile_cost

(a fresh ``YINGSHE_CACHE_DIR`` is a cold kernel cache, as on a fresh clone; leave it out
to measure a warm run). At the end of the session it prints the seconds spent in numba's
top-level compilations (``numba:compile`` events, nested ones not counted twice), how
many there were, how many generated kernel modules were imported and how many of those
were new files, and the tests that paid the most. Under pytest-xdist every worker
prints its own totals.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

_state = {"compile_s": 0.0, "compiles": 0, "loads": 0, "new_files": 0, "test": None,
          "per_test": {}, "parallel": 0}
_depth = threading.local()


def _install() -> None:
    from numba.core import event

    class Timer(event.Listener):
        def on_start(self, ev):
            d = getattr(_depth, "d", 0)
            if d == 0:
                _depth.t0 = time.perf_counter()
            _depth.d = d + 1

        def on_end(self, ev):
            _depth.d -= 1
            if _depth.d == 0:
                dt = time.perf_counter() - _depth.t0
                _state["compile_s"] += dt
                _state["compiles"] += 1
                t = _state["test"]
                _state["per_test"][t] = _state["per_test"].get(t, 0.0) + dt
                disp = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
                if disp is not None and disp.targetoptions.get("parallel"):
                    _state["parallel"] += 1

    event.register("numba:compile", Timer())

    from yingshe.backend import jit
    original = jit.load_source

    def load_source(source, hint="kernel"):
        import hashlib
        digest = hashlib.sha256(source.encode()).hexdigest()[:20]
        name = f"yingshe_{''.join(c if c.isalnum() else '_' for c in hint)}_{digest}"
        if name not in jit._modules:
            _state["loads"] += 1
            if not os.path.exists(os.path.join(jit.cache_dir(), name + ".py")):
                _state["new_files"] += 1
        return original(source, hint)

    jit.load_source = load_source


def pytest_configure(config):
    try:
        _install()
    except ImportError:   # no numba: nothing to measure
        pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _state["test"] = item.nodeid
    yield
    _state["test"] = None


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    s = _state
    tr.write_line(
        f"numba compile cost: {s['compile_s']:.1f} s in {s['compiles']} top-level "
        f"compilations ({s['parallel']} parallel=True); {s['loads']} kernel modules "
        f"imported, {s['new_files']} of them new files in "
        f"{os.environ.get('YINGSHE_CACHE_DIR') or 'the default cache'}")
    top = sorted(s["per_test"].items(), key=lambda kv: -kv[1])[:15]
    for name, secs in top:
        tr.write_line(f"  {secs:7.2f} s  {name}")
