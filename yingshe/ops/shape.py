"""Shape ops: reshape, broadcasting, summing back to a shape, copies.

``expand``/``broadcast_to`` and ``sum_to_size`` are each other's VJP; the
autograd engine uses ``sum_to_size`` to sum broadcast gradients back, in one
place, so graph passes can reason about broadcasts explicitly.
"""

from __future__ import annotations

import math

from yingshe._tensor import Tensor
from yingshe.errors import ShapeError
from yingshe.ops._registry import apply, register_op, tensor_method
from yingshe.ops._shapes import Meta, broadcast_shapes, shape_str, sum_to_axes

__all__ = ["reshape", "view", "expand", "broadcast_to", "sum_to_size", "clone", "contiguous",
           "transpose", "swapaxes", "swapdims", "squeeze", "unsqueeze"]


def _shape_arg(shape) -> tuple:
    """Accept f(2, 3), f((2, 3)), f([2, 3]) and 0-d/1-element tensors as sizes."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    elif len(shape) == 1 and hasattr(shape[0], "__len__") and not isinstance(shape[0], Tensor):
        shape = tuple(shape[0])
    return tuple(int(s) if not isinstance(s, int) and hasattr(s, "__index__") else s
                 for s in shape)


@register_op("sum_to_size", saves="none")
class SumToSize:
    """Sum a broadcast value back to ``shape`` (the transpose of ``expand``)."""

    def forward(xp, x, *, shape):
        axes, lead = sum_to_axes(x.shape, shape)
        if not axes:
            return x.reshape(shape) if lead else x
        return xp.sum(x, axis=axes, keepdims=True).reshape(shape)

    def infer(x, *, shape):
        sum_to_axes(x.shape, shape)
        return Meta(tuple(shape), x.dtype)

    def vjp(g, out, x, *, shape):
        return expand(g, x.shape)


@tensor_method
def sum_to_size(input, *size):
    shape = _shape_arg(size)
    if tuple(input.shape) == shape:
        return input
    return apply(SumToSize, input, shape=shape)


@register_op("expand", saves="none", view=True)
class Expand:
    """Broadcast to ``shape`` without copying (a read-only view)."""

    def forward(xp, x, *, shape):
        return xp.broadcast_to(x, shape)

    def infer(x, *, shape):
        out = broadcast_shapes("expand", x.shape, shape)
        if tuple(out) != tuple(shape):
            raise ShapeError(f"expand: cannot expand shape {shape_str(x.shape)} to "
                             f"{shape_str(shape)}")
        return Meta(tuple(shape), x.dtype)

    def vjp(g, out, x, *, shape):
        return sum_to_size(g, x.shape)


@tensor_method
def expand(input, *sizes):
    """Broadcast to ``sizes``; -1 keeps a dimension (PyTorch's ``expand``)."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ShapeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                         f"or equal to the number of dimensions in the tensor ({input.ndim})")
    shape = tuple(input.shape[i - lead] if s == -1 and i >= lead else s
                  for i, s in enumerate(sizes))
    if shape == tuple(input.shape):
        return input
    return apply(Expand, input, shape=shape)


def broadcast_to(input, size):
    return expand(input, tuple(size))


@tensor_method
def expand_as(input, other):
    return expand(input, other.shape)


@register_op("reshape", saves="none", view=True)
class Reshape:
    """Same elements, new shape (a view when the layout allows)."""

    def forward(xp, x, *, shape):
        return x.reshape(shape)

    def infer(x, *, shape):
        n = Meta(x.shape, x.dtype).numel()
        m = Meta(shape, x.dtype).numel()
        if n is not None and m is not None and n != m:
            raise ShapeError(f"reshape: shape {shape_str(shape)} is invalid for input of "
                             f"shape {shape_str(x.shape)} ({n} elements)")
        return Meta(tuple(shape), x.dtype)

    def vjp(g, out, x, *, shape):
        return reshape(g, x.shape)


def _resolve_shape(opname: str, in_shape, shape) -> tuple:
    shape = tuple(shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"{opname}: only one dimension can be inferred (-1), got "
                         f"{shape_str(shape)}")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        total = math.prod(in_shape)
        if known == 0 or total % known:
            raise ShapeError(f"{opname}: shape {shape_str(shape)} is invalid for input of "
                             f"shape {shape_str(in_shape)}")
        shape = tuple(total // known if s == -1 else s for s in shape)
    if math.prod(shape) != math.prod(in_shape):
        raise ShapeError(f"{opname}: shape {shape_str(shape)} is invalid for input of shape "
                         f"{shape_str(in_shape)} ({math.prod(in_shape)} elements)")
    return shape


@tensor_method
def reshape(input, *shape):
    """Same elements in ``shape`` (one dimension may be -1)."""
    shape = _resolve_shape("reshape", input.shape, _shape_arg(shape))
    if shape == tuple(input.shape):
        return input
    return apply(Reshape, input, shape=shape)


@tensor_method
def view(input, *shape):
    """``reshape`` for layouts that allow a view (as in PyTorch; ``x.view(dtype)`` is not
    supported)."""
    shape = _resolve_shape("view", input.shape, _shape_arg(shape))
    if shape == tuple(input.shape):
        return apply(Reshape, input, shape=shape)
    return apply(Reshape, input, shape=shape)


@tensor_method
def view_as(input, other):
    return view(input, other.shape)


@register_op("clone", saves="none")
class Clone:
    """A copy with its own memory."""

    def forward(xp, x):
        return x.copy()

    def infer(x):
        return x

    def vjp(g, out, x):
        return g


@tensor_method
def clone(input, *, memory_format=None):
    return apply(Clone, input)


@tensor_method
def contiguous(input, memory_format=None):
    if input._data is not None and input._data.flags.c_contiguous:
        return input
    return apply(Clone, input)


@register_op("transpose", saves="none", view=True)
class Transpose:
    """Swap two dimensions (a view)."""

    def forward(xp, x, *, dim0, dim1):
        return xp.swapaxes(x, dim0, dim1)

    def infer(x, *, dim0, dim1):
        shape = list(x.shape)
        shape[dim0], shape[dim1] = shape[dim1], shape[dim0]
        return Meta(tuple(shape), x.dtype)

    def vjp(g, out, x, *, dim0, dim1):
        return apply(Transpose, g, dim0=dim0, dim1=dim1)


@tensor_method
def transpose(input, dim0, dim1):
    """Swap dimensions ``dim0`` and ``dim1``."""
    from yingshe.ops._shapes import normalize_dim
    d0 = normalize_dim("transpose", dim0, input.ndim)
    d1 = normalize_dim("transpose", dim1, input.ndim)
    if input.ndim < 2 or d0 == d1:
        return input
    return apply(Transpose, input, dim0=d0, dim1=d1)


swapaxes = swapdims = transpose


@tensor_method
def unsqueeze(input, dim):
    """Insert a size-1 dimension at ``dim``."""
    from yingshe.ops._shapes import normalize_dim
    d = normalize_dim("unsqueeze", dim, input.ndim + 1)
    shape = tuple(input.shape)
    return reshape(input, shape[:d] + (1,) + shape[d:])


@tensor_method
def squeeze(input, dim=None):
    """Remove size-1 dimensions (all of them, or those in ``dim``)."""
    from yingshe.ops._shapes import normalize_dims
    shape = tuple(input.shape)
    dims = normalize_dims("squeeze", dim, input.ndim)
    new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    if new == shape:
        return input
    return reshape(input, new)
