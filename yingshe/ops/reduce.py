"""Reductions: sum, mean, ... over dims (PyTorch's ``dim``/``keepdim`` signatures)."""

from __future__ import annotations

from yingshe import _dtype
from yingshe.ops._registry import apply, register_op, tensor_method
from yingshe.ops._shapes import Meta, normalize_dims, reduced_shape
from yingshe.ops.shape import expand, reshape

__all__ = ["sum", "mean"]


def _unreduce(g, in_shape, dims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim and dims:
        g = reshape(g, reduced_shape(in_shape, dims, True))
    return expand(g, in_shape)


@register_op("sum", saves="none")
class Sum:
    """Sum over ``dim`` (a tuple of normalized dims)."""

    def forward(xp, x, *, dim, keepdim, dtype):
        return xp.sum(x, axis=dim, keepdims=keepdim, dtype=dtype.np if dtype else None)

    def infer(x, *, dim, keepdim, dtype):
        if dtype is None:
            dtype = x.dtype if x.dtype.is_floating_point else _dtype.int64
        return Meta(reduced_shape(x.shape, dim, keepdim), dtype)

    def vjp(g, out, x, *, dim, keepdim, dtype):
        if dtype is not None and dtype is not x.dtype:
            g = g.to(x.dtype)
        return _unreduce(g, x.shape, dim, keepdim)


@tensor_method
def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum of elements over ``dim`` (all when None); integer/bool inputs sum to int64."""
    dims = normalize_dims("sum", dim, input.ndim)
    dt = _dtype.as_dtype(dtype) if dtype is not None else None
    if dt is None and not input.dtype.is_floating_point:
        dt = _dtype.int64
    return apply(Sum, input, dim=dims, keepdim=bool(keepdim), dtype=dt)


@register_op("mean", saves="none")
class Mean:
    """Arithmetic mean over ``dim``."""

    def forward(xp, x, *, dim, keepdim):
        return xp.mean(x, axis=dim, keepdims=keepdim)

    def infer(x, *, dim, keepdim):
        from yingshe.errors import DTypeError
        if not x.dtype.is_floating_point:
            raise DTypeError(f"mean: could not infer output dtype; input dtype must be "
                             f"floating point, got {x.dtype} (use x.float().mean())")
        return Meta(reduced_shape(x.shape, dim, keepdim), x.dtype)

    def vjp(g, out, x, *, dim, keepdim):
        n = 1
        for d in dim:
            n *= x.shape[d]
        return _unreduce(g / n, x.shape, dim, keepdim)


@tensor_method
def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean over ``dim`` (all when None); the input must be floating point."""
    if dtype is not None:
        input = input.to(dtype)
    dims = normalize_dims("mean", dim, input.ndim)
    return apply(Mean, input, dim=dims, keepdim=bool(keepdim))
