"""Differentiable collectives: each returns a new tensor and has a gradient that is itself
a collective (``torch.distributed.nn.functional``'s semantics).

They are registered ops (``dist.all_reduce``, ``dist.broadcast``, ``dist.all_gather``,
``dist.reduce_scatter``), so one definition serves eager code, the eager tape (the VJP
runs on every rank during ``backward()``), TF1-style graphs and ``yingshe.compile``. They
are ``stateful``: the compiler keeps them in program order and never folds, merges or
moves them, which keeps every rank's sequence of collectives the same.

A TF1-style graph averages its gradients across ranks with them::

    grads = G.gradients(loss, params)
    avg = [dist.functional.all_reduce(g, dist.ReduceOp.AVG) for g in grads]
    train_op = opt.apply_gradients(zip(avg, params))

Every rank must run the same collectives in the same order (in a ``Session``: run the
same fetches on every rank).
"""

from __future__ import annotations

import numpy as np

from yingshe.distributed._group import ReduceOp, as_redop
from yingshe.errors import ShapeError
from yingshe.ops._registry import apply, register_op
from yingshe.ops._shapes import Meta

__all__ = ["all_reduce", "broadcast", "all_gather", "all_gather_tensor",
           "reduce_scatter_tensor"]


def _group(group, kind: str):
    from yingshe.distributed import _group_of
    g = _group_of(group, kind)
    if g is None:
        raise RuntimeError(f"{kind}: this rank is not a member of the group")
    return g


def _op(name: str):
    return getattr(ReduceOp, name)


def _gathered(shape, n: int, kind: str) -> tuple:
    if len(shape) == 0:
        raise ShapeError(f"{kind}: needs a tensor with at least one dimension (gathered "
                         "along dim 0), got a 0-d tensor")
    d0 = shape[0]
    return (None if d0 is None else d0 * n,) + tuple(shape[1:])


@register_op("dist.all_reduce", saves="none", stateful=True)
class AllReduce:
    """The reduction of ``x`` over the ranks of ``group`` (a new array)."""

    def forward(xp, x, *, reduce_op, group):
        x = np.asarray(x)
        out = np.empty(x.shape, x.dtype)
        group.all_reduce(x, _op(reduce_op), out=out)
        return out

    def infer(x, *, reduce_op, group):
        return Meta(x.shape, x.dtype)

    def vjp(g, out, x, *, reduce_op, group):
        # d/dx_r of sum_k x_k (seen on every rank) is the sum over the ranks of their g
        if reduce_op not in ("SUM", "AVG"):
            raise RuntimeError(f"dist.all_reduce: the gradient of a {reduce_op} reduction is not "
                               "defined here (only SUM and AVG are differentiable)")
        return apply(AllReduce, g, reduce_op=reduce_op, group=group)


@register_op("dist.broadcast", saves="none", stateful=True)
class Broadcast:
    """Rank ``src``'s ``x`` (``src`` a group rank) on every rank."""

    def forward(xp, x, *, src, group):
        out = np.array(x, order="C", copy=True)
        group.broadcast(out, src)
        return out

    def infer(x, *, src, group):
        return Meta(x.shape, x.dtype)

    def vjp(g, out, x, *, src, group):
        # every rank's output came from src's input: src gets the sum of the gradients,
        # the others none (an all-reduce on every rank keeps the collectives in step)
        total = apply(AllReduce, g, reduce_op="SUM", group=group)
        return total if group.rank == src else total * 0


@register_op("dist.all_gather", saves="none", stateful=True)
class AllGather:
    """Every rank's ``x`` concatenated along dim 0, in rank order."""

    def forward(xp, x, *, group):
        x = np.asarray(x)
        out = np.empty((x.shape[0] * group.size,) + x.shape[1:], x.dtype)
        group.all_gather(x, out)
        return out

    def infer(x, *, group):
        return Meta(_gathered(tuple(x.shape), group.size, "dist.all_gather"), x.dtype)

    def vjp(g, out, x, *, group):
        return apply(ReduceScatter, g, reduce_op="SUM", group=group)


@register_op("dist.reduce_scatter", saves="none", stateful=True)
class ReduceScatter:
    """The reduction over the ranks of ``x`` (``size`` blocks along dim 0); each rank
    keeps its block."""

    def forward(xp, x, *, reduce_op, group):
        x = np.asarray(x)
        out = np.empty((x.shape[0] // group.size,) + x.shape[1:], x.dtype)
        group.reduce_scatter(x, out, _op(reduce_op))
        return out

    def infer(x, *, reduce_op, group):
        shape = tuple(x.shape)
        if len(shape) == 0 or (shape[0] is not None and shape[0] % group.size):
            raise ShapeError(f"dist.reduce_scatter: dim 0 of the input (shape {shape}) must "
                             f"be a multiple of the group size {group.size}")
        return Meta((None if shape[0] is None else shape[0] // group.size,) + shape[1:],
                    x.dtype)

    def vjp(g, out, x, *, reduce_op, group):
        if reduce_op not in ("SUM", "AVG"):
            raise RuntimeError(f"dist.reduce_scatter: the gradient of a {reduce_op} reduction is "
                               "not defined here (only SUM and AVG are differentiable)")
        full = apply(AllGather, g, group=group)
        return full if reduce_op == "SUM" else full / group.size


def all_reduce(tensor, op=ReduceOp.SUM, group=None):
    """The reduction of ``tensor`` over the ranks, as a new (differentiable) tensor."""
    redop = as_redop(op, "all_reduce")
    return apply(AllReduce, tensor, reduce_op=redop.name, group=_group(group, "all_reduce"))


def broadcast(tensor, src: int, group=None):
    """Rank ``src``'s (global rank) ``tensor`` on every rank, as a new tensor."""
    g = _group(group, "broadcast")
    return apply(Broadcast, tensor, src=g.group_rank(src, "src", "broadcast"), group=g)


def all_gather_tensor(tensor, group=None):
    """Every rank's ``tensor`` concatenated along dim 0 (a new tensor)."""
    return apply(AllGather, tensor, group=_group(group, "all_gather"))


def all_gather(tensor, group=None) -> tuple:
    """Every rank's ``tensor``, one per rank (``torch.distributed.nn.functional``)."""
    g = _group(group, "all_gather")
    if tensor.ndim == 0:
        return tuple(apply(AllGather, tensor.reshape(1), group=g).unbind(0))
    return tuple(apply(AllGather, tensor, group=g).chunk(g.size, 0))


def reduce_scatter_tensor(tensor, op=ReduceOp.SUM, group=None):
    """The reduction of ``tensor`` (``world`` blocks along dim 0); this rank's block."""
    redop = as_redop(op, "reduce_scatter_tensor")
    return apply(ReduceScatter, tensor, reduce_op=redop.name,
                 group=_group(group, "reduce_scatter_tensor"))

# tape node names as PyTorch spells its collectives' backward functions
for _opdef, _name in ((AllReduce, "AllReduceBackward"), (Broadcast, "BroadcastBackward"),
                      (AllGather, "AllGatherBackward"),
                      (ReduceScatter, "ReduceScatterBackward")):
    _opdef.backward_name = _name
del _opdef, _name
