"""``torch.distributed`` on yingshe: the core's process groups and collectives
(``yingshe.distributed``, on MPI) under PyTorch's names.

``init_process_group("gloo")`` or ``("nccl")`` runs on MPI, yingshe's one backend, and
rank 0 prints a one-line notice saying so; ranks and world size come from the MPI
launcher (``yingshe run -n N program.py``, ``mpirun -n N python program.py``, or
``torch.multiprocessing.spawn``, which relaunches the program under ``mpirun``). The
``MASTER_ADDR``/``MASTER_PORT`` variables of PyTorch's rendezvous are not needed (and not
read): MPI's launcher forms the group.
"""

from __future__ import annotations

import sys as _sys

import yingshe.distributed as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

_OWN = ("init_process_group", "is_gloo_available", "functional", "is_torchelastic_launched",
        "Future")   # Future is torch.futures.Future in PyTorch
__all__ = _reexport(globals(), _core, [n for n in _core.__all__ if n not in _OWN])

_MAPPED = ("gloo", "nccl", "mpi")


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """``torch.distributed.init_process_group``: "gloo" and "nccl" (also in PyTorch's
    "cpu:gloo,cuda:nccl" form) run on MPI, with a one-line notice from rank 0."""
    named = None
    if backend is not None:
        parts = [p.split(":")[-1].strip().lower() for p in str(backend).split(",")]
        unknown = [p for p in parts if p not in _MAPPED]
        if unknown:
            raise ValueError(f"init_process_group: unknown backend {backend!r} (yingshe.torch "
                             "runs 'gloo', 'nccl' and 'mpi' on MPI)")
        named = [p for p in parts if p != "mpi"]
    _core.init_process_group("mpi", init_method=init_method, timeout=timeout,
                             world_size=world_size, rank=rank, store=store,
                             group_name=group_name, pg_options=pg_options, device_id=device_id)
    if named and _core.get_rank() == 0:
        print(f"yingshe.torch.distributed: backend {backend!r} runs on MPI (yingshe's "
              "backend)", file=_sys.stderr, flush=True)


def is_gloo_available() -> bool:
    """True: ``init_process_group("gloo")`` works (on MPI) wherever MPI is installed."""
    return _core.is_available()


def is_torchelastic_launched() -> bool:
    return False


__all__ = sorted(set(__all__) | {"init_process_group", "is_gloo_available",
                                 "is_torchelastic_launched"})
__getattr__ = unsupported_getattr(__name__)
