"""How a failing rank ends the whole job: a message naming the rank, then ``MPI_Abort``.

An exception that escapes on one rank while the others wait in a collective would
otherwise leave them waiting forever (and ``MPI_Finalize`` at exit waits for them
too). ``install_excepthook`` (run by ``init_process_group``) and the ``yingshe run``
wrapper (``yingshe.distributed._launch``) print the traceback and one line naming the
failing rank, then abort every rank with a non-zero exit code.
"""

from __future__ import annotations

import os
import sys
import traceback

from yingshe.distributed._mpi import launched_rank, launched_size

__all__ = ["abort_job", "install_excepthook", "uninstall_excepthook", "rank_label"]

_previous_hook = None


def rank_label() -> str:
    """'rank R of N' for this process (from MPI when it is initialised)."""
    mod = sys.modules.get("mpi4py.MPI")
    if mod is not None and mod.Is_initialized() and not mod.Is_finalized():
        w = mod.COMM_WORLD
        return f"rank {w.Get_rank()} of {w.Get_size()}"
    r, n = launched_rank(), launched_size()
    return f"rank {r} of {n}" if r is not None else "this process"


def abort_job(reason: str, code: int = 1) -> None:
    """Print ``reason`` for this rank and end every rank of the job with ``code``."""
    code = code if isinstance(code, int) and code != 0 else 1
    sys.stderr.write(f"yingshe.distributed: {rank_label()} {reason}; ending every rank of "
                     f"the job (exit code {code})\n")
    sys.stderr.flush()
    sys.stdout.flush()
    mod = sys.modules.get("mpi4py.MPI")
    if mod is not None and mod.Is_initialized() and not mod.Is_finalized():
        mod.COMM_WORLD.Abort(code)
    # MPI never started here: a non-zero exit makes the launcher end the other ranks
    os._exit(code)


def describe_exception(exc: BaseException) -> str:
    return f"raised {type(exc).__name__}: {exc}" if str(exc) else f"raised {type(exc).__name__}"


def _hook(exc_type, exc, tb) -> None:
    (_previous_hook or sys.__excepthook__)(exc_type, exc, tb)
    abort_job(describe_exception(exc))


def install_excepthook() -> None:
    """An exception that reaches the top of this rank ends every rank."""
    global _previous_hook
    if sys.excepthook is not _hook:
        _previous_hook = sys.excepthook
        sys.excepthook = _hook


def uninstall_excepthook() -> None:
    global _previous_hook
    if sys.excepthook is _hook:
        sys.excepthook = _previous_hook or sys.__excepthook__
        _previous_hook = None


def _user_traceback(tb):
    """``tb`` without its leading frames in the launcher and runpy (the program's own
    frames start the printed traceback, as under plain ``python``)."""
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    t = tb
    while t is not None:
        name = t.tb_frame.f_code.co_filename
        if not (name.startswith(pkg) or name.startswith("<frozen runpy")):
            return t
        t = t.tb_next
    return tb


def report_and_abort(exc: BaseException) -> None:
    """Print the traceback of ``exc`` and end the job (for wrappers that catch it)."""
    traceback.print_exception(type(exc), exc, _user_traceback(exc.__traceback__))
    abort_job(describe_exception(exc))
