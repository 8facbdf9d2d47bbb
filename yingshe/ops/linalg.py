"""Linear algebra: matmul (batched, broadcasting), mm, bmm, ..."""

from __future__ import annotations

from yingshe.errors import DTypeError, ShapeError
from yingshe.ops._registry import apply, register_op, tensor_method
from yingshe.ops._shapes import Meta, broadcast_shapes, shape_str

__all__ = ["matmul"]


@register_op("matmul", saves="inputs")
class Matmul:
    """Matrix product with NumPy/PyTorch semantics for 1-d and batched operands."""

    def forward(xp, a, b):
        return xp.matmul(a, b)

    def infer(a, b):
        if a.dtype is not b.dtype:
            raise DTypeError(f"matmul: expected both operands to have the same dtype, got "
                             f"{a.dtype} and {b.dtype}")
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError("matmul: both arguments need at least 1 dimension, got shapes "
                             f"{shape_str(a.shape)} and {shape_str(b.shape)}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
        if ka is not None and kb is not None and ka != kb:
            raise ShapeError(f"matmul: shapes {shape_str(a.shape)} and {shape_str(b.shape)} "
                             f"cannot be multiplied ({ka} != {kb})")
        batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
        rows = (a.shape[-2],) if a.ndim >= 2 else ()
        cols = (b.shape[-1],) if b.ndim >= 2 else ()
        return Meta(tuple(batch) + rows + cols, a.dtype)

    def vjp(g, out, a, b, needs):
        # Promote 1-d operands to matrices, as the forward does implicitly, so one rule
        # covers every case: then each gradient is summed back over broadcast batch dims
        # and reshaped to the operand's own shape.
        from yingshe.ops.shape import reshape, sum_to_size
        a2_shape = (1,) + tuple(a.shape) if a.ndim == 1 else tuple(a.shape)
        b2_shape = tuple(b.shape) + (1,) if b.ndim == 1 else tuple(b.shape)
        batch = broadcast_shapes("matmul", a2_shape[:-2], b2_shape[:-2])
        g2 = reshape(g, tuple(batch) + (a2_shape[-2], b2_shape[-1]))
        ga = gb = None
        if needs[0]:
            b2 = reshape(b, b2_shape) if b.ndim == 1 else b
            ga = matmul(g2, b2.transpose(-1, -2))
            ga = reshape(sum_to_size(ga, a2_shape), tuple(a.shape))
        if needs[1]:
            a2 = reshape(a, a2_shape) if a.ndim == 1 else a
            gb = matmul(a2.transpose(-1, -2), g2)
            gb = reshape(sum_to_size(gb, b2_shape), tuple(b.shape))
        return ga, gb


@tensor_method("__matmul__")
@tensor_method
def matmul(input, other, *, out=None):
    """Matrix product (``@``), batched and broadcasting over leading dims."""
    from yingshe.ops.elementwise import _as_operand
    other = _as_operand(other)
    if input.dtype is not other.dtype:
        raise DTypeError(f"matmul: expected both operands to have the same dtype, got "
                         f"{input.dtype} and {other.dtype}")
    return apply(Matmul, input, other)


@tensor_method("__rmatmul__")
def _rmatmul(self, other):
    from yingshe.ops.elementwise import _as_operand
    return matmul(_as_operand(other), self)
