"""``Flatten`` and ``Unflatten`` (reshapes; gradients come from ``reshape``'s VJP)."""

from __future__ import annotations

from yingshe.errors import IndexError as YIndexError
from yingshe.errors import ShapeError
from yingshe.nn.modules.module import Module
from yingshe.ops.shape import reshape

__all__ = ["Flatten", "Unflatten"]


def _norm(dim: int, ndim: int, what: str) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise YIndexError(f"{what}: dimension out of range (expected to be in range of "
                          f"[{-n}, {n - 1}], but got {dim})")
    return dim % n


class Flatten(Module):
    """Flattens dims ``start_dim..end_dim`` into one (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        shape = tuple(input.shape)
        if len(shape) == 0:
            return reshape(input, (1,))
        s = _norm(self.start_dim, len(shape), "flatten")
        e = _norm(self.end_dim, len(shape), "flatten")
        if s > e:
            raise ShapeError("flatten() has invalid args: start_dim cannot come after end_dim")
        n = 1
        for d in shape[s:e + 1]:
            n *= d
        return reshape(input, shape[:s] + (n,) + shape[e + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size`` (one entry may be -1)."""

    def __init__(self, dim, unflattened_size) -> None:
        super().__init__()
        if isinstance(dim, str):
            raise NotImplementedError("Unflatten: named dimensions (dim as a str) are not "
                                      "supported by yingshe")
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError("unflattened_size must be tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input):
        shape = tuple(input.shape)
        d = _norm(self.dim, len(shape), "unflatten")
        sizes = tuple(int(s) for s in self.unflattened_size)
        known = 1
        for s in sizes:
            if s != -1:
                known *= s
        if (-1 not in sizes and known != shape[d]) or (-1 in sizes and (
                known == 0 or shape[d] % known)):
            raise ShapeError(
                f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of "
                f"dim {self.dim} ({shape[d]}) in the input tensor")
        return reshape(input, shape[:d] + sizes + shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
