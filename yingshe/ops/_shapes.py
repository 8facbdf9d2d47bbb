"""Shape and dtype helpers shared by the ops' ``infer`` rules and the autograd engine.

Shapes here may contain ``None`` for a dimension unknown until run time (a graph
placeholder declared with ``shape=[None, 3]``); every helper accepts that.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from yingshe import _dtype
from yingshe.errors import DTypeError, IndexError, ShapeError

__all__ = ["Meta", "broadcast_shapes", "normalize_dim", "normalize_dims", "reduced_shape",
           "shape_str", "check_float", "sum_to_axes", "check_index_range"]

Dim = int | None
Shape = tuple[Dim, ...]


class Meta(NamedTuple):
    """What ``infer`` knows about a value: its shape (ints or None) and dtype."""

    shape: Shape
    dtype: _dtype.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int | None:
        n = 1
        for d in self.shape:
            if d is None:
                return None
            n *= d
        return n


def shape_str(shape: Sequence[Dim]) -> str:
    """(3, None) -> '(3, ?)': how shapes appear in error messages."""
    inner = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def broadcast_shapes(opname: str, *shapes: Sequence[Dim]) -> Shape:
    """NumPy/PyTorch broadcasting with unknown dimensions; ShapeError naming the op."""
    ndim = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for i in range(-ndim, 0):
        dim: Dim = 1
        for s in shapes:
            if len(s) < -i:
                continue
            d = s[i]
            if d == 1:
                continue
            if dim == 1:
                dim = d
            elif d is None:
                continue
            elif dim is None:
                dim = d
            elif d != dim:
                raise ShapeError(
                    f"{opname}: cannot broadcast shapes "
                    + " and ".join(shape_str(s) for s in shapes)
                    + f" (dimension {i + ndim}: {dim} vs {d})"
                )
        out.append(dim)
    return tuple(out)


def normalize_dim(opname: str, dim: int, ndim: int) -> int:
    """A dimension index in [0, ndim); IndexError like PyTorch's when out of range.

    0-d tensors accept dims -1 and 0, as in PyTorch.
    """
    n = max(ndim, 1)
    if not isinstance(dim, int):
        raise TypeError(f"{opname}: dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise IndexError(
            f"{opname}: dimension out of range (expected to be in range of "
            f"[{-n}, {n - 1}], but got {dim})"
        )
    return dim % n


def normalize_dims(opname: str, dims, ndim: int) -> tuple[int, ...]:
    """None -> all dims; an int or a sequence -> a sorted tuple; duplicates rejected."""
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, int):
        dims = (dims,)
    out = tuple(sorted(normalize_dim(opname, d, ndim) for d in dims))
    if len(set(out)) != len(out):
        raise ValueError(f"{opname}: dim {tuple(dims)} appears multiple times in the list of dims")
    if ndim == 0:
        return ()
    return out


def reduced_shape(shape: Shape, dims: tuple[int, ...], keepdim: bool) -> Shape:
    if keepdim:
        return tuple(1 if i in dims else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in dims)


def sum_to_axes(from_shape: Sequence[int], to_shape: Sequence[int]) -> tuple[tuple[int, ...], bool]:
    """The axes to sum so that ``from_shape`` reduces to ``to_shape`` under broadcasting.

    Returns (axes, needs_reshape): sum over ``axes`` with keepdims, then reshape
    to ``to_shape`` when leading dims must be dropped.
    """
    lead = len(from_shape) - len(to_shape)
    if lead < 0:
        raise ShapeError(f"sum_to_size: cannot reduce {shape_str(from_shape)} to "
                         f"{shape_str(to_shape)}")
    axes = list(range(lead))
    for i, d in enumerate(to_shape):
        f = from_shape[lead + i]
        if d == 1 and f != 1:
            axes.append(lead + i)
        elif d != f and f is not None and d is not None:
            raise ShapeError(f"sum_to_size: cannot reduce {shape_str(from_shape)} to "
                             f"{shape_str(to_shape)}")
    return tuple(axes), lead > 0


def check_index_range(opname: str, index, dim: int, size: int, negative: bool = True) -> None:
    """IndexError naming the first index of the array ``index`` outside ``[0, size)``
    (``[-size, size)`` with ``negative``, NumPy's wrap-around, where PyTorch allows it)."""
    if index.size == 0:
        return
    lo = -size if negative else 0
    bad = (index < lo) | (index >= size)
    if bad.any():
        v = int(index[bad].reshape(-1)[0])
        raise IndexError(f"{opname}: index {v} is out of bounds for dimension {dim} with size "
                         f"{size}")


def check_float(opname: str, *metas: Meta) -> None:
    for m in metas:
        if not m.dtype.is_floating_point:
            raise DTypeError(f"{opname}: expected a floating-point tensor, got {m.dtype}")
