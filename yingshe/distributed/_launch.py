"""Each rank of ``yingshe run`` / a relaunching ``spawn`` starts here.

    python -m yingshe.distributed._launch script.py [args...]
    python -m yingshe.distributed._launch -m package.module [args...]
    python -m yingshe.distributed._launch --spawn          (spec in $YINGSHE_SPAWN)

The program runs as it would under ``python`` (``__main__``, ``sys.argv``, its folder on
``sys.path``); an exception that escapes it, or ``sys.exit`` with an error status, ends
every rank with a message naming this one (``_failure.abort_job``), instead of leaving
the other ranks waiting in a collective.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys

from yingshe.distributed import _failure
from yingshe.distributed._mpi import launched_rank


def _exit_status(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _guarded(body) -> None:
    try:
        body()
    except SystemExit as exc:
        status = _exit_status(exc)
        if status != 0:
            _failure.abort_job(f"exited with status {status}", status)
        raise
    except BaseException as exc:   # noqa: BLE001 - one failing rank ends every rank
        _failure.report_and_abort(exc)


def _resolve(namespace, qualname: str):
    obj = namespace
    for i, part in enumerate(qualname.split(".")):
        obj = obj[part] if i == 0 and isinstance(obj, dict) else getattr(obj, part)
    return obj


def _spawned() -> None:
    spec = json.loads(os.environ["YINGSHE_SPAWN"])
    sys.argv = list(spec["argv"])
    os.chdir(spec["cwd"])
    if spec["main"] is not None:
        sys.path.insert(0, os.path.dirname(spec["main"]))
        # the program as PyTorch's spawn children see it: its module code runs, its
        # `if __name__ == "__main__":` block does not
        namespace = runpy.run_path(spec["main"], run_name="__mp_main__")
    else:
        namespace = importlib.import_module(spec["module"])
    fn = _resolve(namespace, spec["qualname"])
    fn(launched_rank(), *spec["args"])


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--spawn"]:
        _guarded(_spawned)
        return
    if not argv:
        raise SystemExit("usage: python -m yingshe.distributed._launch script.py [args] | "
                         "-m module [args]")
    if argv[0] == "-m":
        if len(argv) < 2:
            raise SystemExit("yingshe run: -m needs a module name")
        module = argv[1]
        sys.argv = [module] + argv[2:]
        _guarded(lambda: runpy.run_module(module, run_name="__main__", alter_sys=True))
        return
    script = argv[0]
    sys.argv = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    _guarded(lambda: runpy.run_path(script, run_name="__main__"))


if __name__ == "__main__":
    main()
