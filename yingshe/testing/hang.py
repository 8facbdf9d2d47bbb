"""Hang guards: the only wall-clock limits the tests may set.

A test that starts a process (``yingshe compare``, an example script, a program on a
front-end) must not wait forever if the process hangs, but it must never fail because a
shared machine was slow. So every such wait uses ``HANG_GUARD_S``, set far above the
slowest plausible run (the slowest, ``yingshe compare`` in ``tests/compare``, takes
minutes on a busy 2-core machine), and a guard that fires says that it is a hang guard,
so nobody reads it as a performance regression.

    proc = run_guarded([sys.executable, "-m", "yingshe", "compare", ...],
                       capture_output=True, text=True)
"""

from __future__ import annotations

import subprocess
from typing import Sequence

__all__ = ["HANG_GUARD_S", "HangGuardError", "hang_guard_message", "run_guarded"]

# 30 minutes: about ten times the slowest process the suite starts, measured on a busy
# 2-core machine (a loaded machine stretched a 2-minute run past 5 minutes).
HANG_GUARD_S = 1800.0


class HangGuardError(AssertionError):
    """A process ran past its hang guard (a hang, or a machine too starved to test on)."""


def hang_guard_message(what: str, seconds: float) -> str:
    """The words every hang guard uses when it fires."""
    return (f"hang guard: {what} was still running after {seconds:.0f} s and was stopped. "
            "The guard is set far above the slowest plausible run, so this is a hang (or a "
            "machine too starved to run tests), not a timing check that a slow machine failed")


def run_guarded(cmd: Sequence[str], *, guard_s: float = HANG_GUARD_S, what: str | None = None,
                **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, **kwargs)`` with a hang guard of ``guard_s`` seconds; raises
    ``HangGuardError`` (with the output captured so far) when the guard fires."""
    try:
        return subprocess.run(cmd, timeout=guard_s, **kwargs)
    except subprocess.TimeoutExpired as err:
        tail = ""
        for name, data in (("stdout", err.stdout), ("stderr", err.stderr)):
            if data:
                text = data.decode(errors="replace") if isinstance(data, bytes) else data
                tail += f"\n--- {name} so far (tail):\n{text[-3000:]}"
        label = what or " ".join(str(c) for c in cmd)[:200]
        raise HangGuardError(hang_guard_message(label, guard_s) + tail) from None
