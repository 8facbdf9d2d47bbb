"""``torch.multiprocessing`` on yingshe: ``spawn`` of data-parallel programs over MPI.

``spawn(fn, args=(world_size,), nprocs=N)`` outside an MPI launcher relaunches the program
under ``mpirun -n N`` and calls ``fn(rank, *args)`` on every rank (the program's
``if __name__ == "__main__":`` block does not run there, as with PyTorch's spawn start
method; ``args`` travel as JSON, since yingshe never pickles); inside a launcher
(``yingshe run -n N``, ``mpirun``) it calls ``fn(rank, *args)`` in the current rank. See
``yingshe.distributed.launch``.
"""

from __future__ import annotations

from yingshe.distributed.launch import (  # noqa: F401
    ProcessException, ProcessExitedException, ProcessRaisedException, SpawnContext, spawn,
)
from yingshe.torch._errors import unsupported_getattr

ProcessContext = SpawnContext


def start_processes(fn, args=(), nprocs: int = 1, join: bool = True, daemon: bool = False,
                    start_method: str = "spawn"):
    """``torch.multiprocessing.start_processes``: ``spawn`` (every start method relaunches
    under MPI)."""
    return spawn(fn, args, nprocs, join, daemon, start_method)


def get_start_method(allow_none: bool = False) -> str:
    return "spawn"


def set_start_method(method, force: bool = False) -> None:
    """Accepted for PyTorch programs; yingshe's ranks are always MPI processes."""


def get_all_start_methods() -> list[str]:
    return ["spawn"]


__all__ = ["spawn", "start_processes", "ProcessContext",
           "ProcessExitedException", "ProcessRaisedException", "get_start_method",
           "set_start_method", "get_all_start_methods"]
__getattr__ = unsupported_getattr(__name__)
