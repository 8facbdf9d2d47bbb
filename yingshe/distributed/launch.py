"""Starting N ranks: ``yingshe run -n N script.py`` and ``spawn(fn, nprocs=N)``.

Both run the ``mpirun`` of the ``distributed`` extra (the Open MPI wheel installs it next
to the Python interpreter), with ``--allow-run-as-root`` when run as root and
``--oversubscribe`` when there are more ranks than cores, and start every rank through
``yingshe.distributed._launch``, which ends the whole job with a message naming the rank
when one rank raises or exits with an error.

``spawn`` outside an MPI launcher relaunches: ``mpirun -n N`` runs the program's file on
every rank as the module ``__mp_main__`` (its ``if __name__ == "__main__":`` block does not
run, as with PyTorch's ``spawn`` start method) and calls ``fn(rank, *args)``; ``args``
travel as JSON (yingshe never pickles), so they must be JSON values. Inside a launcher
(``yingshe run``, ``mpirun``) ``spawn`` calls ``fn(rank, *args)`` in the current process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from yingshe.distributed._mpi import EXTRA_HINT, launched_rank, launched_size

__all__ = ["mpirun_command", "run", "spawn", "ProcessException", "ProcessRaisedException",
           "ProcessExitedException", "SpawnContext"]

SPAWN_ENV = "YINGSHE_SPAWN"


class ProcessException(Exception):
    """A rank of a spawned job failed (``torch.multiprocessing``'s classes)."""

    def __init__(self, msg: str, error_index: int = -1, error_pid: int = -1) -> None:
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, error_pid

    def __reduce__(self):
        return (type(self), (self.msg, self.error_index, self.pid))


class ProcessRaisedException(ProcessException):
    """A rank raised an exception."""


class ProcessExitedException(ProcessException):
    """The job ended with a non-zero exit code (a rank raised or exited with an error;
    its message is in the job's output, above)."""

    def __init__(self, msg: str, error_index: int = -1, error_pid: int = -1,
                 exit_code: int = 1, signal_name: str | None = None) -> None:
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name

    def __reduce__(self):
        return (type(self), (self.msg, self.error_index, self.pid, self.exit_code,
                             self.signal_name))


def _mpirun() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "mpirun")
    if os.path.exists(here):
        return here
    found = shutil.which("mpirun")
    if found is None:
        raise FileNotFoundError(f"yingshe: no mpirun found next to {sys.executable} or on "
                                f"PATH: {EXTRA_HINT}")
    return found


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def mpirun_command(nprocs: int, program: list[str], hostfile: str | None = None,
                   extra: list[str] = ()) -> list[str]:
    """The ``mpirun`` command line that starts ``program`` on ``nprocs`` ranks.

    Adds ``--allow-run-as-root`` when the user is root, and ``--oversubscribe`` when
    ``nprocs`` exceeds this machine's cores and no ``hostfile`` says where ranks go."""
    if not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"yingshe run: the number of ranks must be a positive integer, got "
                         f"{nprocs!r}")
    cmd = [_mpirun()]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    if hostfile is None and nprocs > _cores():
        cmd.append("--oversubscribe")
    if hostfile is not None:
        cmd += ["--hostfile", hostfile]
    cmd += list(extra)
    cmd += ["-n", str(nprocs)]
    return cmd + list(program)


def _child_env(extra: dict | None = None) -> dict:
    """The environment of the ranks: this ``yingshe`` first on the path."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in paths if p != root])
    env.update(extra or {})
    return env


def run(nprocs: int, target: list[str], hostfile: str | None = None,
        mpirun_args: list[str] = ()) -> int:
    """Run ``target`` (``["script.py", args...]`` or ``["-m", "module", args...]``) on
    ``nprocs`` ranks; returns the job's exit code."""
    if not target:
        raise ValueError("yingshe run: name a script (or -m module) to run")
    program = [sys.executable, "-m", "yingshe.distributed._launch"] + list(target)
    cmd = mpirun_command(nprocs, program, hostfile, list(mpirun_args))
    return subprocess.call(cmd, env=_child_env())


class SpawnContext:
    """What ``spawn(..., join=False)`` returns: ``join()`` waits for the job."""

    def __init__(self, proc=None) -> None:
        self.proc = proc

    def pids(self) -> list[int]:
        return [] if self.proc is None else [self.proc.pid]

    def join(self, timeout: float | None = None) -> bool:
        """True when the job has ended (raises ``ProcessExitedException`` on failure)."""
        if self.proc is None:
            return True
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        if code != 0:
            raise ProcessExitedException(
                f"the spawned job (mpirun, pid {self.proc.pid}) exited with code {code}; the "
                "failing rank's message is in the output above", -1, self.proc.pid, code)
        return True


def _json_args(args) -> list:
    try:
        text = json.dumps(list(args))
    except TypeError as err:
        raise TypeError(f"spawn: args must be JSON values (numbers, strings, lists, dicts, "
                        f"None) to reach the MPI ranks, since yingshe never pickles: {err}"
                        ) from None
    return json.loads(text)


def spawn(fn, args=(), nprocs: int = 1, join: bool = True, daemon: bool = False,
          start_method: str = "spawn"):
    """Run ``fn(rank, *args)`` on ``nprocs`` ranks (``torch.multiprocessing.spawn``).

    Inside an MPI launcher this process is one of the ranks: ``fn`` runs here (``nprocs``
    must equal the launcher's number of ranks) and ``spawn`` returns when it does. Outside
    one, the program is relaunched under ``mpirun -n nprocs`` (see the module doc) and this
    process waits for it (``join=False``: returns a ``SpawnContext``).

    Raises:
        ProcessExitedException: the relaunched job failed.
        TypeError: ``args`` that are not JSON values (relaunch only).
    """
    size = launched_size()
    if size is not None:
        if nprocs != size:
            raise ValueError(f"spawn: nprocs={nprocs}, but the MPI launcher started {size} "
                             f"ranks (run with -n {nprocs})")
        from yingshe.distributed import _failure
        try:
            fn(launched_rank(), *args)
        except SystemExit as exc:
            if exc.code not in (None, 0):
                _failure.abort_job(f"exited with status {exc.code}", exc.code
                                   if isinstance(exc.code, int) else 1)
            raise
        except BaseException as exc:   # noqa: BLE001 - one failing rank ends every rank
            _failure.report_and_abort(exc)
        return None if join else SpawnContext()
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if module is None or qualname is None or "<" in qualname:
        raise TypeError(f"spawn: fn must be a module-level function (found by name on every "
                        f"rank), got {fn!r}")
    main = None
    if module == "__main__":
        main = getattr(sys.modules["__main__"], "__file__", None)
        if main is None:
            raise RuntimeError("spawn: relaunching under mpirun needs the program's file; "
                               "this __main__ has none (an interactive session?). Run a "
                               "script, or start it with `yingshe run -n N`")
        main = os.path.abspath(main)
    spec = {"main": main, "module": module, "qualname": qualname, "args": _json_args(args),
            "argv": list(sys.argv), "cwd": os.getcwd()}
    cmd = mpirun_command(nprocs, [sys.executable, "-m", "yingshe.distributed._launch",
                                  "--spawn"])
    sys.stdout.flush()
    sys.stderr.flush()
    proc = subprocess.Popen(cmd, env=_child_env({SPAWN_ENV: json.dumps(spec)}))
    ctx = SpawnContext(proc)
    if not join:
        return ctx
    try:
        ctx.join()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        raise
    return None
