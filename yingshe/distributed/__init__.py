"""``yingshe.distributed``: process groups and collectives on MPI, with the names and
semantics of ``torch.distributed`` (the optional extra ``pip install "yingshe[distributed]"``:
mpi4py and the Open MPI wheel, which brings ``mpirun``).

Launch a program on N processes with ``yingshe run -n N train.py`` (or ``mpirun -n N
python train.py``); in it::

    import yingshe.distributed as dist
    dist.init_process_group("mpi")              # ranks and world size come from MPI
    t = yingshe.ones(4) * dist.get_rank()
    dist.all_reduce(t)                          # in place: the sum over the ranks
    work = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
    work.wait()
    dist.destroy_process_group()

Collectives act in place on eager tensors (on their own buffers, without a copy when
they are contiguous); on graph values (a ``yingshe.compile`` trace, a TF1-style graph)
they add registered ops (``dist.all_reduce`` ...) to the program, flagged stateful so the
compiler keeps them in program order and never folds, merges or moves them.
``yingshe.distributed.functional`` has the differentiable forms (a new tensor, and a
gradient that is itself a collective). Every rank must issue the same collectives in the
same order; mismatched shapes or dtypes raise a clear error (checked cheaply, or on every
call with ``set_debug_level(DebugLevel.DETAIL)``), and a collective that waits longer than
the group's ``timeout`` aborts the job naming the ranks that did not arrive. An exception
that escapes on one rank ends every rank, with a message naming it.
"""

from __future__ import annotations

import atexit
import os

import numpy as np

from yingshe._tensor import MODE, Tensor
from yingshe.distributed._group import (  # noqa: F401
    CONFIG, Future, ProcessGroup, ReduceOp, RedOpType, Work, as_redop,
)
from yingshe.distributed import _failure
from yingshe.distributed._mpi import EXTRA_HINT, available, mpi
from yingshe.errors import DTypeError, ShapeError, UnsupportedError
from yingshe.ops._registry import is_graph_value

__all__ = [
    "init_process_group", "destroy_process_group", "is_initialized", "is_available",
    "is_mpi_available", "is_gloo_available", "is_nccl_available", "is_torchelastic_launched",
    "get_rank", "get_world_size", "get_backend", "new_group", "get_global_rank",
    "get_group_rank", "get_process_group_ranks", "barrier", "all_reduce", "broadcast",
    "all_gather", "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor",
    "reduce", "gather", "scatter", "send", "recv", "isend", "irecv", "ReduceOp", "Work",
    "Future", "ProcessGroup", "Backend", "GroupMember", "group", "DebugLevel",
    "get_debug_level", "set_debug_level", "set_debug_level_from_env", "functional",
]

DEFAULT_TIMEOUT = 1800.0   # seconds: PyTorch's default for CPU backends (30 minutes)


class Backend(str):
    """Backend names (``Backend.MPI`` is the only one yingshe runs)."""

    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"
    UNDEFINED = "undefined"

    def __new__(cls, name: str):
        return str.__new__(cls, str(name).lower())


class DebugLevel:
    """``OFF``/``INFO``: shapes and dtypes checked on calls 1-4 and every power of two;
    ``DETAIL``: on every collective (as ``TORCH_DISTRIBUTED_DEBUG=DETAIL``)."""

    OFF = "OFF"
    INFO = "INFO"
    DETAIL = "DETAIL"


_level = [DebugLevel.OFF]


def set_debug_level(level) -> None:
    """Choose how often collectives are checked across ranks (see ``DebugLevel``)."""
    name = str(getattr(level, "name", level)).upper()
    if name not in ("OFF", "INFO", "DETAIL"):
        raise ValueError(f"set_debug_level: expected OFF, INFO or DETAIL, got {level!r}")
    _level[0] = name
    CONFIG.every = name == "DETAIL"


def get_debug_level() -> str:
    return _level[0]


def set_debug_level_from_env() -> None:
    """Read ``YINGSHE_DISTRIBUTED_DEBUG`` (or PyTorch's ``TORCH_DISTRIBUTED_DEBUG``)."""
    value = os.environ.get("YINGSHE_DISTRIBUTED_DEBUG") or \
        os.environ.get("TORCH_DISTRIBUTED_DEBUG")
    if value:
        set_debug_level(value)


class _NonMember:
    def __repr__(self) -> str:
        return "GroupMember.NON_GROUP_MEMBER"


class _GroupMeta(type):
    @property
    def WORLD(cls):   # noqa: N802 - PyTorch's name
        return _STATE.default


class GroupMember(metaclass=_GroupMeta):
    """``GroupMember.WORLD`` (the default group) and ``NON_GROUP_MEMBER`` (what
    ``new_group`` returns on ranks outside the group)."""

    NON_GROUP_MEMBER = _NonMember()


group = GroupMember


class _State:
    default: ProcessGroup | None = None
    groups: list = []
    exit_hook = False


_STATE = _State()


# ---- the process group ------------------------------------------------------------------------

def is_available() -> bool:
    """Whether the ``distributed`` extra (mpi4py) is installed."""
    return available()


def is_mpi_available() -> bool:
    return available()


def is_gloo_available() -> bool:
    return False


def is_nccl_available() -> bool:
    return False


def is_torchelastic_launched() -> bool:
    return False


def is_initialized() -> bool:
    """Whether ``init_process_group`` has run (and no ``destroy_process_group`` since)."""
    return _STATE.default is not None


def _not_initialized(kind: str) -> ValueError:
    return ValueError("Default process group has not been initialized, please make sure to "
                      f"call init_process_group ({kind}; launch with `yingshe run -n N "
                      "script.py` or `mpirun -n N python script.py`).")


def _default(kind: str) -> ProcessGroup:
    g = _STATE.default
    if g is None:
        raise _not_initialized(kind)
    return g


def _timeout_seconds(timeout) -> float:
    if timeout is None:
        return DEFAULT_TIMEOUT
    seconds = float(timeout.total_seconds()) if hasattr(timeout, "total_seconds") \
        else float(timeout)
    if not seconds > 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {timeout!r}")
    return seconds


def init_process_group(backend=None, init_method=None, timeout=None, world_size: int = -1,
                       rank: int = -1, store=None, group_name: str = "", pg_options=None,
                       device_id=None) -> None:
    """Form the default process group from MPI's ranks (``torch.distributed``'s name).

    The MPI launcher (``yingshe run -n N``, ``mpirun -n N``) decides ranks and world size;
    ``rank``/``world_size`` arguments and PyTorch launchers' ``RANK``/``WORLD_SIZE``
    variables, when given, must agree with it (a mismatch is an error, never a second
    way to form a group). ``init_method`` is accepted and not used (MPI's launcher did
    the rendezvous). ``timeout`` (seconds or a ``timedelta``; default 30 minutes) bounds
    how long a rank waits in one collective before the job is aborted with a message
    naming the ranks that did not arrive.

    Args:
        backend: ``"mpi"`` or None (``yingshe.torch.distributed`` maps "gloo"/"nccl").
        init_method: ignored (see above).
        timeout: the group's collective timeout.
        world_size: -1, or MPI's world size.
        rank: -1, or this process's MPI rank.
        store: must be None (stores are not used).
        group_name, pg_options, device_id: accepted for PyTorch's signature.

    Raises:
        ValueError: a second initialisation, another backend, or a rank/world size that
            disagrees with MPI's.
        ImportError: the ``distributed`` extra is not installed.
    """
    if _STATE.default is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = "mpi" if backend is None else str(backend).lower()
    if name != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not available: "
                         "yingshe.distributed runs on MPI (backend='mpi'); "
                         "yingshe.torch.distributed maps 'gloo' and 'nccl' to it")
    if store is not None:
        raise UnsupportedError("init_process_group: store= is not supported: MPI's launcher "
                               "(yingshe run -n N, mpirun -n N) forms the group")
    seconds = _timeout_seconds(timeout)
    MPI = mpi()
    world = MPI.COMM_WORLD
    r, n = world.Get_rank(), world.Get_size()
    how = ("start the program with `yingshe run -n N script.py` or `mpirun -n N python "
           "script.py`; MPI decides ranks")
    for what, given, actual in (("rank", rank, r), ("world_size", world_size, n)):
        if given is not None and int(given) >= 0 and int(given) != actual:
            raise ValueError(f"init_process_group: {what}={given}, but MPI started this "
                             f"process as rank {r} of {n}: {how}")
    for var, actual in (("RANK", r), ("WORLD_SIZE", n)):
        value = os.environ.get(var, "")
        if value.strip() and value.strip() != str(actual):
            raise ValueError(f"init_process_group: the environment sets {var}={value}, but "
                             f"MPI started this process as rank {r} of {n}: {how} (unset "
                             f"{var}, or set it to MPI's value)")
    set_debug_level_from_env()
    _STATE.default = ProcessGroup(world.Dup(), seconds, list(range(n)),
                                  group_name or "default")
    _STATE.groups = [_STATE.default]
    _failure.install_excepthook()
    if not _STATE.exit_hook:
        # before mpi4py's MPI_Finalize (atexit runs in reverse order): stop the watchdogs
        atexit.register(_close_all)
        _STATE.exit_hook = True


def _close_all() -> None:
    for g in reversed(_STATE.groups):
        g.close()
    _STATE.groups = []
    _STATE.default = None


def destroy_process_group(group=None) -> None:
    """Free ``group`` (default: every group, after which ``init_process_group`` may run
    again)."""
    if group is None or group is _STATE.default:
        if _STATE.default is None:
            raise _not_initialized("destroy_process_group")
        _close_all()
        _failure.uninstall_excepthook()
        return
    if isinstance(group, ProcessGroup):
        group.close()
        if group in _STATE.groups:
            _STATE.groups.remove(group)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None,
              use_local_synchronization: bool = False, group_desc=None):
    """A group of some of the ranks. Every rank of the default group must call it, in
    the same order; ranks outside it get ``GroupMember.NON_GROUP_MEMBER``."""
    default = _default("new_group")
    if ranks is None:
        members = list(range(default.size))
    else:
        members = sorted({int(r) for r in ranks})
        bad = [r for r in members if not 0 <= r < default.size]
        if bad:
            raise ValueError(f"new_group: ranks {bad} are outside the world of size "
                             f"{default.size}")
    MPI = mpi()
    color = 0 if default.rank in members else MPI.UNDEFINED
    comm = default.comm.Split(color, key=default.rank)
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    g = ProcessGroup(comm, default.timeout if timeout is None else _timeout_seconds(timeout),
                     members, name=group_desc or f"group{len(_STATE.groups)}")
    _STATE.groups.append(g)
    return g


def _group_of(group, kind: str):
    """The ProcessGroup to use (None on ranks outside it)."""
    if group is None or group is GroupMember.WORLD:
        return _default(kind)
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"{kind}: group must be a process group from new_group(), got "
                        f"{type(group).__name__}")
    if group.closed:
        raise RuntimeError(f"{kind}: the process group was destroyed")
    return group


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (-1 outside it)."""
    g = _group_of(group, "get_rank")
    return -1 if g is None else g.rank


def get_world_size(group=None) -> int:
    """The number of ranks in ``group`` (-1 outside it)."""
    g = _group_of(group, "get_world_size")
    return -1 if g is None else g.size


def get_backend(group=None) -> str:
    _group_of(group, "get_backend")
    return Backend.MPI


def get_process_group_ranks(group) -> list[int]:
    g = _group_of(group, "get_process_group_ranks")
    return list(g.ranks)


def get_global_rank(group, group_rank: int) -> int:
    g = _group_of(group, "get_global_rank")
    if not 0 <= group_rank < g.size:
        raise ValueError(f"get_global_rank: group rank {group_rank} is not part of the group")
    return g.ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    g = _group_of(group, "get_group_rank")
    return g.group_rank(global_rank, "rank", "get_group_rank")


# ---- argument checks ---------------------------------------------------------------------------

def _tensor_arg(t, kind: str, name: str = "tensor") -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{kind}: expected a Tensor for `{name}`, got {type(t).__name__}")


def _tensor_list(ts, kind: str, name: str, n: int, like: Tensor) -> None:
    if not isinstance(ts, (list, tuple)) or not all(isinstance(t, Tensor) for t in ts):
        raise TypeError(f"{kind}: `{name}` must be a list of {n} tensors")
    if len(ts) != n:
        raise ValueError(f"{kind}: `{name}` has {len(ts)} tensors; the group has {n} ranks")
    for i, t in enumerate(ts):
        if t.dtype != like.dtype:
            raise DTypeError(f"{kind}: {name}[{i}] is {t.dtype.name}, the tensor is "
                             f"{like.dtype.name}")
        if tuple(t.shape) != tuple(like.shape):
            raise ShapeError(f"{kind}: {name}[{i}] has shape {tuple(t.shape)}, the tensor "
                             f"{tuple(like.shape)}")


def _root(g: ProcessGroup, kind: str, what: str, global_rank, group_rank) -> int:
    if global_rank is not None and group_rank is not None:
        raise ValueError(f"{kind}: give {what} or group_{what}, not both")
    if group_rank is not None:
        if not 0 <= int(group_rank) < g.size:
            raise ValueError(f"{kind}: invalid group_{what} {group_rank} (the group has "
                             f"{g.size} ranks)")
        return int(group_rank)
    if global_rank is None:
        raise ValueError(f"{kind}: {what} is required")
    if g is _STATE.default and not 0 <= int(global_rank) < g.size:
        raise ValueError(f"{kind}: invalid {what} {global_rank} (world size {g.size})")
    return g.group_rank(global_rank, what, kind)


def _rooted(kind: str, group, tensor, what: str, global_rank, group_rank):
    """(group, root as a group rank) of a rooted collective, or (None, None) on a rank
    outside the group."""
    g = _group_of(group, kind)
    if g is None:
        return None, None
    _tensor_arg(tensor, kind)
    return g, _root(g, kind, what, global_rank, group_rank)


def _bump(*tensors):
    """An in-place write: bump the version counters (a saved copy of the old value is then
    detected at backward instead of giving a wrong gradient)."""
    def done():
        for t in tensors:
            t._vc[0] += 1
    return done


def _outputs(work, *tensors):
    """A ``Work`` (or None) whose ``result()`` is ``tensors``."""
    if work is not None:
        work._outputs = list(tensors)
    return work


def _traced(t: Tensor) -> bool:
    return MODE.tracer is not None or is_graph_value(t)


def _graph_inplace(kind: str, t: Tensor, result, async_op: bool):
    """``t`` takes the value of the graph op ``result`` (in a trace: an ordered assign or a
    rebinding; in a static graph the symbol is rebound)."""
    if MODE.tracer is not None:
        from yingshe.ops._inplace import commit
        commit(t, result, kind)
    elif t._data is None:
        from yingshe.graph.trace import rebind
        rebind(t, result)
    else:
        raise RuntimeError(f"{kind}: in-place collectives on a graph Variable are not "
                           f"supported; use v.assign(yingshe.distributed.functional."
                           f"{kind}(v))")
    return _completed(t) if async_op else None


def _completed(*outputs) -> Work:
    return Work(None, 0, "graph", (), None, outputs)


def _graph_refused(kind: str, alternative: str) -> RuntimeError:
    return RuntimeError(f"{kind} on graph values (yingshe.compile, a TF1-style graph) is not "
                        f"supported; use {alternative}")


# ---- collectives -----------------------------------------------------------------------------

def barrier(group=None, async_op: bool = False, device_ids=None):
    """Wait until every rank of ``group`` has reached this call."""
    g = _group_of(group, "barrier")
    if g is None:
        return None
    return g.barrier(async_op)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over the ranks, in place, on every rank.

    Args:
        tensor: the input and output.
        op: a ``ReduceOp`` (SUM, AVG, PRODUCT, MIN, MAX, BAND, BOR, BXOR).
        group: the process group (default: every rank).
        async_op: return a ``Work`` instead of waiting.

    Example:
        >>> t = yingshe.ones(3) * (dist.get_rank() + 1)
        >>> dist.all_reduce(t)          # on 2 ranks: tensor([3., 3., 3.])
    """
    kind = "all_reduce"
    g = _group_of(group, kind)
    if g is None:
        return None
    _tensor_arg(tensor, kind)
    redop = as_redop(op, kind)
    if _traced(tensor):
        from yingshe.distributed import functional
        return _graph_inplace(kind, tensor, functional.all_reduce(tensor, redop, g), async_op)
    return _outputs(g.all_reduce(tensor._data, redop, async_op, done=_bump(tensor)),
                    tensor)


def broadcast(tensor, src=None, group=None, async_op: bool = False, group_src=None):
    """Copy ``tensor`` of rank ``src`` (a global rank) into ``tensor`` on every rank."""
    kind = "broadcast"
    g, root = _rooted(kind, group, tensor, "src", src, group_src)
    if g is None:
        return None
    if _traced(tensor):
        from yingshe.distributed import functional
        return _graph_inplace(kind, tensor, functional.broadcast(tensor, g.ranks[root], g),
                              async_op)
    return _outputs(g.broadcast(tensor._data, root, async_op, done=_bump(tensor)), tensor)


def all_gather(tensor_list, tensor, group=None, async_op: bool = False):
    """Every rank's ``tensor`` into ``tensor_list`` (one tensor per rank, rank order)."""
    kind = "all_gather"
    g = _group_of(group, kind)
    if g is None:
        return None
    _tensor_arg(tensor, kind)
    _tensor_list(tensor_list, kind, "tensor_list", g.size, tensor)
    if _traced(tensor):
        raise _graph_refused(kind, "all_gather_into_tensor or "
                             "yingshe.distributed.functional.all_gather")
    arr = tensor._data
    out = np.empty((g.size,) + arr.shape, arr.dtype)
    return _outputs(g.all_gather(arr, out, async_op, done=_unstack_into(tensor_list, out)),
                    *tensor_list)


def _unstack_into(tensors: list, stacked: np.ndarray):
    """A ``done`` that copies ``stacked[i]`` into ``tensors[i]`` (list outputs)."""
    def done():
        for t, part in zip(tensors, stacked):
            np.copyto(t._data, part)
            t._vc[0] += 1
    return done


def _rooted_list(kind, group, tensor, lst, name, what, global_rank, group_rank, alternative):
    """``_rooted`` for gather/scatter, whose root alone passes the list ``lst``."""
    g, root = _rooted(kind, group, tensor, what, global_rank, group_rank)
    if g is None:
        return None, None
    if g.rank == root:
        _tensor_list(lst, kind, name, g.size, tensor)
    elif lst:
        side = "destination" if what == "dst" else "source"
        raise ValueError(f"{kind}: argument {name} must NOT be specified on non-{side} ranks")
    if _traced(tensor):
        raise _graph_refused(kind, alternative)
    return g, root


def _blocks_args(kind: str, n: int, whole, whole_name: str, part, part_name: str) -> None:
    """``whole`` holds ``n`` blocks shaped like ``part``: concatenated along dim 0
    (``(n * d0, ...)``) or stacked (``(n, *shape)``), of the same dtype."""
    _tensor_arg(whole, kind, whole_name)
    _tensor_arg(part, kind, part_name)
    if whole.dtype != part.dtype:
        raise DTypeError(f"{kind}: {whole_name} is {whole.dtype.name}, {part_name} "
                         f"{part.dtype.name}")
    s_whole, s_part = tuple(whole.shape), tuple(part.shape)
    if not (whole.numel() == n * part.numel() and (
            s_whole == (n,) + s_part or
            (len(s_part) >= 1 and s_whole == (n * s_part[0],) + s_part[1:]))):
        raise ShapeError(f"{kind}: {whole_name} of shape {s_whole} is not {n} blocks of the "
                         f"{part_name} shape {s_part} (expected ({n} * d0, ...) or ({n}, ...))")


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op: bool = False):
    """Every rank's ``input_tensor`` into ``output_tensor``, concatenated along dim 0
    (shape ``(world * n, ...)``) or stacked (``(world, *shape)``)."""
    kind = "all_gather_into_tensor"
    g = _group_of(group, kind)
    if g is None:
        return None
    _blocks_args(kind, g.size, output_tensor, "output_tensor", input_tensor, "input_tensor")
    if _traced(input_tensor) or _traced(output_tensor):
        from yingshe.distributed import functional
        res = functional.all_gather_tensor(input_tensor.reshape(-1), g)
        res = res.reshape(tuple(output_tensor.shape))
        return _graph_inplace(kind, output_tensor, res, async_op)
    return _outputs(g.all_gather(input_tensor._data, output_tensor._data, async_op,
                                 done=_bump(output_tensor), kind=kind), output_tensor)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``input_list`` (one tensor per rank) over the ranks; rank i keeps the
    reduction of the i-th tensors in ``output``."""
    kind = "reduce_scatter"
    g = _group_of(group, kind)
    if g is None:
        return None
    _tensor_arg(output, kind, "output")
    _tensor_list(input_list, kind, "input_list", g.size, output)
    redop = as_redop(op, kind)
    if _traced(output):
        raise _graph_refused(kind, "reduce_scatter_tensor or "
                             "yingshe.distributed.functional.reduce_scatter_tensor")
    packed = np.stack([t._data for t in input_list])
    return _outputs(g.reduce_scatter(packed, output._data, redop, async_op,
                                     done=_bump(output)), output)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None,  # noqa: A002
                          async_op: bool = False):
    """Reduce ``input`` (``world`` equal blocks along dim 0, or stacked) over the ranks;
    rank i keeps block i in ``output``."""
    kind = "reduce_scatter_tensor"
    g = _group_of(group, kind)
    if g is None:
        return None
    _blocks_args(kind, g.size, input, "input", output, "output")
    redop = as_redop(op, kind)
    if _traced(input) or _traced(output):
        from yingshe.distributed import functional
        # either layout holds the ranks' blocks one after the other: work on them flat
        res = functional.reduce_scatter_tensor(input.reshape(-1), redop, g)
        res = res.reshape(tuple(output.shape))
        return _graph_inplace(kind, output, res, async_op)
    return _outputs(g.reduce_scatter(input._data, output._data, redop, async_op,
                                     done=_bump(output), kind=kind), output)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op: bool = False,
           group_dst=None):
    """Reduce ``tensor`` over the ranks into ``tensor`` on rank ``dst`` only."""
    kind = "reduce"
    g, root = _rooted(kind, group, tensor, "dst", dst, group_dst)
    if g is None:
        return None
    redop = as_redop(op, kind)
    if _traced(tensor):
        raise _graph_refused(kind, "yingshe.distributed.functional.all_reduce")
    return _outputs(g.reduce(tensor._data, root, redop, async_op,
                             done=_bump(tensor) if g.rank == root else None), tensor)


def gather(tensor, gather_list=None, dst=None, group=None, async_op: bool = False,
           group_dst=None):
    """Every rank's ``tensor`` into ``gather_list`` on rank ``dst`` (which alone passes
    a list)."""
    kind = "gather"
    g, root = _rooted_list(kind, group, tensor, gather_list, "gather_list", "dst", dst,
                           group_dst, "yingshe.distributed.functional.all_gather")
    if g is None:
        return None
    arr = tensor._data
    out = np.empty((g.size,) + arr.shape, arr.dtype) if g.rank == root else None
    done = _unstack_into(gather_list, out) if out is not None else None
    return _outputs(g.gather(arr, out, root, async_op, done=done), *(gather_list or ()))


def scatter(tensor, scatter_list=None, src=None, group=None, async_op: bool = False,
            group_src=None):
    """Rank ``src``'s ``scatter_list[i]`` into ``tensor`` on rank i."""
    kind = "scatter"
    g, root = _rooted_list(kind, group, tensor, scatter_list, "scatter_list", "src", src,
                           group_src, "yingshe.distributed.functional.broadcast")
    if g is None:
        return None
    packed = np.stack([t._data for t in scatter_list]) if g.rank == root else None
    return _outputs(g.scatter(packed, tensor._data, root, async_op, done=_bump(tensor)),
                    tensor)


def _peer(g: ProcessGroup, kind: str, what: str, global_rank, group_rank) -> int:
    r = _root(g, kind, what, global_rank, group_rank)
    if r == g.rank:
        raise ValueError(f"{kind}: invalid {what} {g.ranks[r]}: a rank cannot {kind} "
                         "to itself")
    return r


def send(tensor, dst=None, group=None, tag: int = 0, group_dst=None) -> None:
    """Send ``tensor`` to rank ``dst`` (blocks until it can be reused)."""
    g = _group_of(group, "send")
    if g is None:
        return None
    _tensor_arg(tensor, "send")
    return g.send(tensor._data, _peer(g, "send", "dst", dst, group_dst), int(tag))


def isend(tensor, dst=None, group=None, tag: int = 0, group_dst=None):
    """``send`` without waiting: returns a ``Work``."""
    g = _group_of(group, "isend")
    if g is None:
        return None
    _tensor_arg(tensor, "isend")
    return _outputs(g.send(tensor._data, _peer(g, "isend", "dst", dst, group_dst), int(tag),
                           async_op=True), tensor)


def recv(tensor, src=None, group=None, tag: int = 0, group_src=None) -> int:
    """Receive into ``tensor`` from rank ``src`` (None: any rank); returns the sender's
    rank. The sender's shape and dtype must match ``tensor``'s (checked)."""
    g = _group_of(group, "recv")
    if g is None:
        return -1
    _tensor_arg(tensor, "recv")
    root = None if src is None and group_src is None else \
        _peer(g, "recv", "src", src, group_src)
    sender = g.recv(tensor._data, root, int(tag), done=_bump(tensor))
    return g.ranks[sender]


def irecv(tensor, src=None, group=None, tag: int = 0, group_src=None):
    """``recv`` without waiting: returns a ``Work``."""
    g = _group_of(group, "irecv")
    if g is None:
        return None
    _tensor_arg(tensor, "irecv")
    root = None if src is None and group_src is None else \
        _peer(g, "irecv", "src", src, group_src)
    return _outputs(g.recv(tensor._data, root, int(tag), async_op=True, done=_bump(tensor)),
                    tensor)


from yingshe.distributed import functional  # noqa: E402  (registers the graph ops)

if not available():   # pragma: no cover - the message a user without the extra sees
    __doc__ += f"\n(MPI is not installed: {EXTRA_HINT}.)\n"
