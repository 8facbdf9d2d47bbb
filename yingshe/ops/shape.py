"""Shape ops: reshape, broadcasting, permutations, joining and splitting, copies.

``expand``/``broadcast_to`` and ``sum_to_size`` are each other's VJP; the
autograd engine uses ``sum_to_size`` to sum broadcast gradients back, in one
place, so graph passes can reason about broadcasts explicitly. ``cat`` and
``split`` are each other's VJP too; ``split`` is a multi-output op whose number
of outputs is set per call by its ``sizes`` attribute.

View ops (``view=True``: reshape, expand, transpose, permute, squeeze,
unsqueeze, flatten, split) return results sharing memory and the version
counter with their input, as in PyTorch; ``flip``, ``roll``, ``repeat`` and
``cat`` copy.
"""

from __future__ import annotations

import math

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor, _wrap
from yingshe.errors import IndexError, ShapeError
from yingshe.ops._registry import apply, register_op, tensor_method
from yingshe.ops._shapes import (Meta, broadcast_shapes, normalize_dim, normalize_dims,
                                 shape_str, sum_to_axes)

__all__ = ["reshape", "view", "expand", "broadcast_to", "broadcast_tensors", "sum_to_size",
           "clone", "contiguous", "transpose", "swapaxes", "swapdims", "squeeze", "unsqueeze",
           "permute", "movedim", "moveaxis", "t", "flatten", "unflatten", "repeat", "tile",
           "flip", "fliplr", "flipud", "roll", "cat", "concat", "concatenate", "stack",
           "hstack", "vstack", "split", "chunk", "unbind", "tensor_split"]


def _shape_arg(shape) -> tuple:
    """Accept f(2, 3), f((2, 3)), f([2, 3]) and 0-d/1-element tensors as sizes."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    elif len(shape) == 1 and hasattr(shape[0], "__len__") and not isinstance(shape[0], Tensor):
        shape = tuple(shape[0])
    return tuple(int(s) if not isinstance(s, int) and hasattr(s, "__index__") else s
                 for s in shape)


def _dims_arg(opname: str, dims, ndim: int) -> tuple[int, ...]:
    """Normalize an int or a sequence of dims, keeping their order; duplicates rejected."""
    if isinstance(dims, (int, np.integer)):
        dims = (int(dims),)
    out = tuple(normalize_dim(opname, int(d), ndim) for d in dims)
    if len(set(out)) != len(out):
        raise ShapeError(f"{opname}: dim {tuple(dims)} appears multiple times in the list of "
                         "dims")
    return out


def _prod(dims):
    """Product of sizes, None when any is unknown."""
    n = 1
    for d in dims:
        if d is None:
            return None
        n *= d
    return n


# ---- sum_to_size / expand ---------------------------------------------------------------------

@register_op("sum_to_size", saves="none")
class SumToSize:
    """Sum a broadcast value back to ``shape`` (the transpose of ``expand``)."""

    def forward(xp, x, *, shape):
        axes, lead = sum_to_axes(x.shape, shape)
        if not axes:
            return x.reshape(shape) if lead else x
        with xp.errstate(invalid="ignore", over="ignore"):   # inf + -inf is NaN, silently
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
        if x.size == math.prod(shape):
            # only size-1 (or size-0) dims are added or broadcast: no two elements share
            # memory, so the result is a writeable view, as PyTorch's is
            return x.reshape(shape)
        return xp.broadcast_to(x, shape)

    def infer(x, *, shape):
        out = broadcast_shapes("expand", x.shape, shape)
        if len(out) != len(shape) or any(
                o is not None and s is not None and o != s for o, s in zip(out, shape)):
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
    for i, s in enumerate(sizes[:lead]):
        if s is not None and s < 0:
            raise ShapeError(f"expand: the expanded size of the tensor ({s}) isn't allowed in "
                             f"a leading, non-existing dimension {i}")
    shape = tuple(input.shape[i - lead] if s == -1 and i >= lead else s
                  for i, s in enumerate(sizes))
    if shape == tuple(input.shape):
        return input
    return apply(Expand, input, shape=shape)


@tensor_method
def broadcast_to(input, size):
    return expand(input, tuple(size))


@tensor_method
def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_tensors(*tensors):
    """Expand every tensor to their common broadcast shape (views)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = broadcast_shapes("broadcast_tensors", *(t.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


# ---- reshape / view / flatten -----------------------------------------------------------------

def view_strides(shape, strides, new_shape, itemsize: int):
    """The strides (in bytes) under which ``new_shape`` views an array of ``shape`` and
    ``strides``, or None when no view exists (PyTorch's rule, ``computeStride``).

    The old dims fall into chunks inside which memory is contiguous (dim ``i`` and
    ``i + 1`` belong together when ``stride[i] == stride[i + 1] * shape[i + 1]``;
    size-1 dims never split a chunk). A view exists iff the new dims can be grouped,
    in order, into runs whose element counts equal the chunks' (new size-1 dims join
    any run): each run then walks its chunk with the chunk's innermost stride.
    NumPy's own no-copy reshape is a similar test; this one decides, so ``view`` and
    ``reshape`` share memory exactly where PyTorch's do.
    """
    new_shape = tuple(new_shape)
    if not shape:
        return (itemsize,) * len(new_shape)
    if math.prod(shape) == 0:
        # no element to address: strides are free; PyTorch keeps them for the same
        # shape and uses contiguous ones (size 0 counted as 1) otherwise
        if tuple(shape) == new_shape:
            return tuple(strides)
        out = []
        step = itemsize
        for n in reversed(new_shape):
            out.append(step)
            step *= max(n, 1)
        return tuple(reversed(out))
    new_strides = [0] * len(new_shape)
    v = len(new_shape) - 1          # the next new dim to place, from the innermost
    base = strides[-1]              # innermost stride of the current chunk
    chunk_numel = 1
    run_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        chunk_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != chunk_numel * base):
            # dims d.. of the chunk end here: the run of new dims must cover it exactly
            while v >= 0 and (run_numel < chunk_numel or new_shape[v] == 1):
                new_strides[v] = run_numel * base
                run_numel *= new_shape[v]
                v -= 1
            if run_numel != chunk_numel:
                return None
            if d > 0:
                base = strides[d - 1]
                chunk_numel = 1
                run_numel = 1
    if v != -1:
        return None
    return tuple(new_strides)


def _viewable(x, shape) -> bool:
    """Whether the eager tensor ``x`` can be viewed as ``shape`` without a copy."""
    a = x._data
    return a.flags.c_contiguous or view_strides(a.shape, a.strides, shape,
                                                a.itemsize) is not None


def _reshaped(xp, x, shape):
    """``x`` as ``shape``: a view whenever PyTorch's rule allows one (the eager wrappers
    make sure it does), else a copy (a compiled program may hand over any layout)."""
    if x.flags.c_contiguous:
        return x.reshape(shape)
    st = view_strides(x.shape, x.strides, shape, x.itemsize)
    if st is None:
        return x.reshape(shape)
    return _as_strided(x, shape, st)


def _as_strided(x, shape, strides):
    """A view of ``x`` with the given shape and strides (bytes), writeable if ``x`` is."""
    return np.lib.stride_tricks.as_strided(x, shape, strides, subok=False)


@register_op("reshape", saves="none", view=True)
class Reshape:
    """Same elements, new shape: a view (``reshape`` copies first where none exists)."""

    def forward(xp, x, *, shape):
        return _reshaped(xp, x, shape)

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
    for s in shape:
        if s is not None and s < -1:
            raise ShapeError(f"{opname}: invalid shape dimension {s} in {shape_str(shape)}")
    if None in in_shape or None in shape:
        return shape  # checked at run time
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
    """Same elements in ``shape`` (one dimension may be -1): a view of ``input`` where
    its strides allow one (see ``view``), else a copy, as in PyTorch."""
    shape = _resolve_shape("reshape", input.shape, _shape_arg(shape))
    if shape == tuple(input.shape):
        return input
    if input._data is not None and not _viewable(input, shape):
        return _copy_as(Reshape, input, shape=shape)
    return apply(Reshape, input, shape=shape)


def _copy_as(op, input, **attrs):
    """``op`` (a reshape) of a private copy of ``input``: the result owns its memory as
    far as anyone can tell, so it is no view (PyTorch's ``reshape`` where ``view`` fails)."""
    out = apply(op, apply(Clone, input), **attrs)
    out._view = None
    return out


@tensor_method
def view(input, *shape):
    """``input`` as ``shape``, sharing its memory; raises where the strides allow no
    view (as PyTorch does; ``reshape`` copies then). ``x.view(dtype)`` is not supported.

    Example:
        >>> x = yingshe.zeros(2, 3)
        >>> x.view(3, 2)[0, 0] = 5.0      # writes x[0, 0]
        >>> x.t().view(-1)                # doctest: +SKIP
        ShapeError: view: view size is not compatible with input tensor's size and stride ...
    """
    shape = _resolve_shape("view", input.shape, _shape_arg(shape))
    if input._data is not None and not _viewable(input, shape):
        raise ShapeError(
            f"view: view size is not compatible with input tensor's size and stride (at "
            f"least one dimension spans across two contiguous subspaces): shape "
            f"{shape_str(input.shape)} with strides {_elem_strides(input._data)} as "
            f"{shape_str(shape)}. Use .reshape(...) instead.")
    return apply(Reshape, input, shape=shape)


def _elem_strides(a) -> tuple:
    """NumPy's byte strides in elements, as PyTorch prints them."""
    return tuple(s // a.itemsize for s in a.strides)


@tensor_method
def view_as(input, other):
    return view(input, other.shape)


@tensor_method
def reshape_as(input, other):
    return reshape(input, other.shape)


@register_op("flatten", saves="none", view=True)
class Flatten:
    """Merge dims ``start_dim..end_dim`` (normalized, inclusive) into one."""

    def forward(xp, x, *, start_dim, end_dim):
        return _reshaped(xp, x, _flat_shape(x.shape, start_dim, end_dim))

    def infer(x, *, start_dim, end_dim):
        s = tuple(x.shape)
        if not s:
            return Meta((1,), x.dtype)
        return Meta(s[:start_dim] + (_prod(s[start_dim:end_dim + 1]),) + s[end_dim + 1:],
                    x.dtype)

    def vjp(g, out, x, *, start_dim, end_dim):
        return apply(Reshape, g, shape=tuple(x.shape))


@tensor_method
def flatten(input, start_dim=0, end_dim=-1):
    """Flatten dims ``start_dim`` through ``end_dim`` into one (0-d gives shape (1,))."""
    s = normalize_dim("flatten", start_dim, input.ndim)
    e = normalize_dim("flatten", end_dim, input.ndim)
    if s > e:
        raise ShapeError("flatten: start_dim cannot come after end_dim "
                         f"(got start_dim={start_dim}, end_dim={end_dim})")
    if input.ndim and s == e:
        return input
    if input._data is not None and not _viewable(input, _flat_shape(input.shape, s, e)):
        return _copy_as(Flatten, input, start_dim=s, end_dim=e)
    return apply(Flatten, input, start_dim=s, end_dim=e)


def _flat_shape(shape, start_dim, end_dim) -> tuple:
    if not shape:
        return (1,)
    return shape[:start_dim] + (math.prod(shape[start_dim:end_dim + 1]),) + shape[end_dim + 1:]


@tensor_method
def unflatten(input, dim, sizes):
    """Split dimension ``dim`` into ``sizes`` (one entry may be -1)."""
    d = normalize_dim("unflatten", dim, input.ndim)
    sizes = _shape_arg((sizes,))
    if not sizes:
        raise ShapeError("unflatten: sizes must be non-empty")
    n = input.shape[d]
    if sizes.count(-1) > 1:
        raise ShapeError(f"unflatten: only one dimension can be inferred (-1), got {sizes}")
    if n is not None:
        if -1 in sizes:
            known = math.prod(s for s in sizes if s != -1)
            if known == 0 or n % known:
                raise ShapeError(f"unflatten: provided sizes {list(sizes)} don't multiply up "
                                 f"to the size of dim {dim} ({n}) in the input tensor")
            sizes = tuple(n // known if s == -1 else s for s in sizes)
        if math.prod(sizes) != n:
            raise ShapeError(f"unflatten: provided sizes {list(sizes)} don't multiply up to "
                             f"the size of dim {dim} ({n}) in the input tensor")
    shape = tuple(input.shape)
    return apply(Reshape, input, shape=shape[:d] + tuple(sizes) + shape[d + 1:])


# ---- copies -------------------------------------------------------------------------------------

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


# ---- permutations -------------------------------------------------------------------------------

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
    d0 = normalize_dim("transpose", dim0, input.ndim)
    d1 = normalize_dim("transpose", dim1, input.ndim)
    if input.ndim < 2 or d0 == d1:
        return input
    return apply(Transpose, input, dim0=d0, dim1=d1)


swapaxes = swapdims = transpose
tensor_method("swapaxes")(transpose)
tensor_method("swapdims")(transpose)


@register_op("permute", saves="none", view=True)
class Permute:
    """Reorder dimensions: output dim i is input dim ``dims[i]`` (a view)."""

    def forward(xp, x, *, dims):
        return xp.transpose(x, dims)

    def infer(x, *, dims):
        if len(dims) != len(x.shape) or sorted(dims) != list(range(len(dims))):
            raise ShapeError(f"permute: dims {dims} is not a permutation of the "
                             f"{len(x.shape)} dims of shape {shape_str(x.shape)}")
        return Meta(tuple(x.shape[d] for d in dims), x.dtype)

    def vjp(g, out, x, *, dims):
        inv = [0] * len(dims)
        for i, d in enumerate(dims):
            inv[d] = i
        return apply(Permute, g, dims=tuple(inv))


def _permute(input, dims: tuple[int, ...]):
    if dims == tuple(range(len(dims))):
        return input
    return apply(Permute, input, dims=dims)


@tensor_method
def permute(input, *dims):
    """Reorder the dimensions (``x.permute(2, 0, 1)`` or ``permute(x, (2, 0, 1))``)."""
    dims = _shape_arg(dims)
    if len(dims) != input.ndim:
        raise ShapeError(f"permute: number of dims don't match: the tensor has {input.ndim} "
                         f"dims but {len(dims)} were given ({dims})")
    nd = tuple(normalize_dim("permute", d, input.ndim) for d in dims)
    if len(set(nd)) != len(nd):
        raise ShapeError(f"permute: duplicate dims are not allowed (got {dims})")
    return _permute(input, nd)


@tensor_method
def movedim(input, source, destination):
    """Move dims ``source`` to positions ``destination``; the others keep their order."""
    n = input.ndim
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise ShapeError(f"movedim: invalid source or destination dims: source ({list(src)} "
                         f"dims) should contain the same number of dims as destination "
                         f"({list(dst)} dims)")
    s = tuple(normalize_dim("movedim", d, n) for d in src)
    d = tuple(normalize_dim("movedim", x, n) for x in dst)
    if len(set(s)) != len(s):
        raise ShapeError(f"movedim: repeated dim in `source` ({list(src)})")
    if len(set(d)) != len(d):
        raise ShapeError(f"movedim: repeated dim in `destination` ({list(dst)})")
    if n == 0:   # a 0-d tensor: dims 0 and -1 name its single (virtual) dimension
        return _permute(input, ())
    order: list = [None] * n
    for a, b in zip(s, d):
        order[b] = a
    rest = iter(i for i in range(n) if i not in s)
    order = [o if o is not None else next(rest) for o in order]
    return _permute(input, tuple(order))


moveaxis = movedim
tensor_method("moveaxis")(movedim)


@tensor_method
def t(input):
    """Transpose a tensor of at most 2 dims (0-d and 1-d are returned as they are)."""
    if input.ndim > 2:
        raise ShapeError(f"t: expects a tensor with <= 2 dimensions, but self is "
                         f"{input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def _T(self):
    """All dims reversed (PyTorch deprecates ``.T`` for ndim other than 2)."""
    return _permute(self, tuple(range(self.ndim - 1, -1, -1)))


def _mT(self):
    """The last two dims swapped (batched matrix transpose)."""
    if self.ndim < 2:
        raise ShapeError(f"mT: tensor.mT is only supported on matrices or batches of matrices; "
                         f"got a {self.ndim}-D tensor")
    return apply(Transpose, self, dim0=self.ndim - 2, dim1=self.ndim - 1)


tensor_method("T")(property(_T))
tensor_method("mT")(property(_mT))
# yingshe has real dtypes only: the conjugate transposes equal the transposes.
tensor_method("H")(property(_T))
tensor_method("mH")(property(_mT))


# ---- squeeze / unsqueeze ----------------------------------------------------------------------

@register_op("squeeze", saves="none", view=True)
class Squeeze:
    """Remove the size-1 dims ``dim`` (a sorted tuple)."""

    def forward(xp, x, *, dim):
        return xp.squeeze(x, axis=dim)

    def infer(x, *, dim):
        for d in dim:
            if x.shape[d] not in (1, None):
                raise ShapeError(f"squeeze: dimension {d} of shape {shape_str(x.shape)} has "
                                 "size != 1")
        return Meta(tuple(s for i, s in enumerate(x.shape) if i not in dim), x.dtype)

    def vjp(g, out, x, *, dim):
        return apply(Unsqueeze, g, dim=dim)


@register_op("unsqueeze", saves="none", view=True)
class Unsqueeze:
    """Insert size-1 dims at output positions ``dim`` (a sorted tuple)."""

    def forward(xp, x, *, dim):
        return xp.expand_dims(x, dim)

    def infer(x, *, dim):
        shape = list(x.shape)
        for d in dim:
            shape.insert(d, 1)
        return Meta(tuple(shape), x.dtype)

    def vjp(g, out, x, *, dim):
        return apply(Squeeze, g, dim=dim)


@tensor_method
def unsqueeze(input, dim):
    """Insert a size-1 dimension at ``dim`` (in [-ndim-1, ndim])."""
    d = normalize_dim("unsqueeze", dim, input.ndim + 1)
    return apply(Unsqueeze, input, dim=(d,))


@tensor_method
def squeeze(input, dim=None):
    """Remove size-1 dimensions (all of them, or those of ``dim``, an int or a tuple;
    a named dim whose size is not 1 is left alone, as in PyTorch)."""
    shape = tuple(input.shape)
    dims = normalize_dims("squeeze", dim, input.ndim)
    dims = tuple(d for d in dims if shape[d] == 1)
    if not dims:
        return input
    return apply(Squeeze, input, dim=dims)


# ---- repeat / tile / flip / roll ----------------------------------------------------------------

@register_op("repeat", saves="none")
class Repeat:
    """Tile the input ``repeats`` times along each dim (leading dims added)."""

    def forward(xp, x, *, repeats):
        return xp.tile(x, repeats)

    def infer(x, *, repeats):
        shape = (1,) * (len(repeats) - len(x.shape)) + tuple(x.shape)
        return Meta(tuple(None if s is None else s * r for s, r in zip(shape, repeats)),
                    x.dtype)

    def vjp(g, out, x, *, repeats):
        from yingshe.ops.reduce import sum as _sum
        shape = (1,) * (len(repeats) - len(x.shape)) + tuple(x.shape)
        inter = tuple(v for r, s in zip(repeats, shape) for v in (r, s))
        g = reshape(g, inter)
        g = _sum(g, tuple(range(0, 2 * len(shape), 2)))
        return reshape(g, tuple(x.shape))


@tensor_method
def repeat(input, *sizes):
    """Repeat along each dim (``sizes`` may have more entries than ``input`` has dims)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise ShapeError(f"repeat: number of dimensions of repeat dims ({len(sizes)}) can not "
                         f"be smaller than number of dimensions of tensor ({input.ndim})")
    if any(s < 0 for s in sizes):
        raise ShapeError(f"repeat: repeats must be non-negative, got {sizes}")
    return apply(Repeat, input, repeats=tuple(int(s) for s in sizes))


@tensor_method
def tile(input, *dims):
    """``repeat`` with ``dims`` padded with leading 1s to the input's rank (a tuple, or
    separate ints as ``Tensor.tile`` takes them)."""
    dims = _shape_arg(dims)
    dims = (1,) * (input.ndim - len(dims)) + tuple(dims)
    return repeat(input, dims)


@register_op("flip", saves="none")
class Flip:
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch)."""

    def forward(xp, x, *, dims):
        # a C-ordered copy (ascontiguousarray would turn a 0-d array into shape (1,))
        return xp.flip(x, dims).copy()

    def infer(x, *, dims):
        return x

    def vjp(g, out, x, *, dims):
        return apply(Flip, g, dims=dims)


@tensor_method
def flip(input, *dims):
    dims = _dims_arg("flip", _shape_arg(dims), input.ndim)
    if input.ndim == 0:
        dims = ()
    return apply(Flip, input, dims=dims)


@tensor_method
def fliplr(input):
    if input.ndim < 2:
        raise ShapeError("fliplr: input must be >= 2-d")
    return flip(input, 1)


@tensor_method
def flipud(input):
    if input.ndim < 1:
        raise ShapeError("flipud: input must be >= 1-d")
    return flip(input, 0)


@register_op("roll", saves="none")
class Roll:
    """Roll elements by ``shifts`` along ``dims`` (dims None: the flattened tensor)."""

    def forward(xp, x, *, shifts, dims):
        if dims is None:
            return xp.roll(x, shifts[0])
        return xp.roll(x, shifts, axis=dims)

    def infer(x, *, shifts, dims):
        return x

    def vjp(g, out, x, *, shifts, dims):
        return apply(Roll, g, shifts=tuple(-s for s in shifts), dims=dims)


@tensor_method
def roll(input, shifts, dims=None):
    shifts = (shifts,) if isinstance(shifts, int) else tuple(int(s) for s in shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ShapeError(f"roll: shifts and dimensions must align (shifts: {len(shifts)}, "
                             "dims: 0)")
        return apply(Roll, input, shifts=shifts, dims=None)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ShapeError(f"roll: shifts and dimensions must align (shifts: {len(shifts)}, "
                         f"dims: {len(dims)})")
    dims = tuple(normalize_dim("roll", d, input.ndim) for d in dims)
    if input.ndim == 0:
        return apply(Clone, input)
    return apply(Roll, input, shifts=shifts, dims=dims)


# ---- cat / split --------------------------------------------------------------------------------

def _skipped(shape) -> bool:
    """PyTorch's legacy rule: 1-d empty tensors (shape (0,)) are ignored by ``cat``."""
    return len(shape) == 1 and shape[0] == 0


@register_op("cat", saves="none")
class Cat:
    """Concatenate the inputs (one dtype) along ``dim``; 1-d empty inputs are ignored."""

    def forward(xp, *xs, dim):
        kept = [x for x in xs if not _skipped(x.shape)]
        if not kept:
            return xp.concatenate(xs, axis=0)
        return xp.concatenate(kept, axis=dim)

    def infer(*xs, dim):
        if not xs:
            raise ShapeError("cat: expected a non-empty list of tensors")
        dt = xs[0].dtype
        for m in xs[1:]:
            dt = _dtype.promote_types(dt, m.dtype)
        kept = [(i, m) for i, m in enumerate(xs) if not _skipped(m.shape)]
        if not kept:
            return Meta((0,), dt)
        i0, first = kept[0]
        nd = len(first.shape)
        if nd == 0:
            raise ShapeError(f"cat: zero-dimensional tensor (at position {i0}) cannot be "
                             "concatenated")
        if not 0 <= dim < nd:
            raise IndexError(f"cat: dimension out of range (expected to be in range of "
                             f"[{-nd}, {nd - 1}], but got {dim})")
        shape = list(first.shape)
        for i, m in kept[1:]:
            if len(m.shape) != nd:
                raise ShapeError(f"cat: tensors must have same number of dimensions: got "
                                 f"{nd} and {len(m.shape)} (shapes {shape_str(first.shape)} "
                                 f"and {shape_str(m.shape)})")
            for d in range(nd):
                a, b = shape[d], m.shape[d]
                if d == dim:
                    shape[d] = None if a is None or b is None else a + b
                elif a is not None and b is not None and a != b:
                    raise ShapeError(f"cat: sizes of tensors must match except in dimension "
                                     f"{dim}. Expected size {a} but got size {b} for tensor "
                                     f"number {i} in the list (shapes "
                                     f"{shape_str(first.shape)} and {shape_str(m.shape)})")
                elif a is None:
                    shape[d] = b
        return Meta(tuple(shape), dt)

    def vjp(g, out, *xs, dim):
        kept = [i for i, x in enumerate(xs) if not _skipped(x.shape)]
        grads: list = [None] * len(xs)
        for i, x in enumerate(xs):
            if _skipped(x.shape):
                grads[i] = _wrap(np.zeros((0,), x.dtype.np))
        if kept:
            if len(kept) == 1:
                pieces = (g,)
            else:
                pieces = apply(Split, g, sizes=tuple(xs[i].shape[dim] for i in kept), dim=dim,
                               squeeze=False)
            for i, p in zip(kept, pieces):
                grads[i] = p
        return tuple(grads)


def _tensor_list(opname: str, tensors) -> list:
    if isinstance(tensors, Tensor):
        raise TypeError(f"{opname}: expected a sequence of tensors, got a single Tensor")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{opname}: expected a sequence of tensors, but element {i} is a "
                            f"{type(t).__name__}")
    return tensors


def cat(tensors, dim=0, *, out=None):
    """Concatenate ``tensors`` along ``dim``, promoting to their common dtype."""
    if out is not None:
        from yingshe.errors import UnsupportedError
        raise UnsupportedError("cat: the out= argument is not supported by yingshe")
    tensors = _tensor_list("cat", tensors)
    if not tensors:
        raise ShapeError("cat: expected a non-empty list of tensors")
    dt = tensors[0].dtype
    for x in tensors[1:]:
        dt = _dtype.promote_types(dt, x.dtype)
    from yingshe.ops.elementwise import to_dtype
    tensors = [to_dtype(x, dt) for x in tensors]
    ref = next((x for x in tensors if not _skipped(x.shape)), None)
    if ref is None:
        d = 0
    elif ref.ndim == 0:
        i = tensors.index(ref)
        raise ShapeError(f"cat: zero-dimensional tensor (at position {i}) cannot be "
                         "concatenated")
    else:
        d = normalize_dim("cat", dim, ref.ndim)
    if len(tensors) == 1:
        return apply(Clone, tensors[0])
    return apply(Cat, *tensors, dim=d)


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    """Join equal-shaped tensors along a new dimension ``dim``."""
    tensors = _tensor_list("stack", tensors)
    if not tensors:
        raise ShapeError("stack: expects a non-empty list of tensors")
    shape0 = tuple(tensors[0].shape)
    for i, x in enumerate(tensors[1:], 1):
        if tuple(x.shape) != shape0:
            raise ShapeError(f"stack: expects each tensor to be equal size, but got "
                             f"{list(shape0)} at entry 0 and {list(x.shape)} at entry {i}")
    d = normalize_dim("stack", dim, len(shape0) + 1)
    return cat([apply(Unsqueeze, x, dim=(d,)) for x in tensors], d, out=out)


def hstack(tensors):
    tensors = _tensor_list("hstack", tensors)
    tensors = [reshape(x, (1,)) if x.ndim == 0 else x for x in tensors]
    return cat(tensors, 0 if tensors and tensors[0].ndim == 1 else 1)


def vstack(tensors):
    tensors = _tensor_list("vstack", tensors)
    tensors = [reshape(x, (1, -1)) if x.ndim < 2 else x for x in tensors]
    return cat(tensors, 0)


def _split_count(*, sizes, dim, squeeze):
    return len(sizes)


@register_op("split", saves="none", view=True, num_outputs=_split_count)
class Split:
    """Pieces of ``sizes`` along ``dim`` (views); with ``squeeze`` every size is 1 and
    the dim is dropped (``unbind``)."""

    def forward(xp, x, *, sizes, dim, squeeze):
        lead = (slice(None),) * dim
        outs = []
        off = 0
        for s in sizes:
            outs.append(x[lead + ((off,) if squeeze else (slice(off, off + s),))])
            off += s
        return tuple(outs)

    def infer(x, *, sizes, dim, squeeze):
        n = x.shape[dim]
        if n is not None and sum(sizes) != n:
            raise ShapeError(f"split: split sizes {list(sizes)} don't sum to the size "
                             f"{n} of dimension {dim} of shape {shape_str(x.shape)}")
        shape = list(x.shape)
        out = []
        for s in sizes:
            if squeeze:
                out.append(Meta(tuple(shape[:dim] + shape[dim + 1:]), x.dtype))
            else:
                out.append(Meta(tuple(shape[:dim] + [s] + shape[dim + 1:]), x.dtype))
        return tuple(out)

    def vjp(g, out, x, *, sizes, dim, squeeze):
        pieces = []
        shape = list(x.shape)
        for s, gi in zip(sizes, g):
            if gi is None:
                pshape = shape[:dim] + ([] if squeeze else [s]) + shape[dim + 1:]
                gi = _wrap(np.zeros(tuple(pshape), x.dtype.np))
            if squeeze:
                gi = apply(Unsqueeze, gi, dim=(dim,))
            pieces.append(gi)
        if len(pieces) == 1:
            return pieces[0]
        return apply(Cat, *pieces, dim=dim)


def _split(input, sizes, d, squeeze=False):
    if len(sizes) == 1:
        # one piece: a 1-tuple of a view, as for several (a one-output Split node would
        # make graphs and compiled code hold a bare tensor where callers index a tuple)
        if squeeze:
            return (apply(Squeeze, input, dim=(d,)),)
        from yingshe.ops.indexing import Getitem
        return (apply(Getitem, input, key=()),)
    return apply(Split, input, sizes=tuple(int(s) for s in sizes), dim=d, squeeze=squeeze)


@tensor_method
def split(tensor, split_size_or_sections, dim=0):
    """Pieces of ``split_size`` (the last may be smaller), or of the given section sizes."""
    d = normalize_dim("split", dim, tensor.ndim)
    if tensor.ndim == 0:
        raise ShapeError("split: expects at least a 1-dimensional tensor")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size < 0 or (size == 0 and n != 0):
            raise ShapeError(f"split: split_size can only be 0 if dimension size is 0, but got "
                             f"dimension size of {n} (split_size={size})")
        if n == 0:
            sizes = [0]
        else:
            sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ShapeError(f"split: split_with_sizes expects split_sizes to sum exactly to "
                             f"{n} (input tensor's size at dimension {d}), but got "
                             f"split_sizes={sizes}")
    return _split(tensor, sizes, d)


@tensor_method
def chunk(input, chunks, dim=0):
    """At most ``chunks`` pieces of equal size (the last may be smaller)."""
    if chunks <= 0:
        raise ShapeError(f"chunk: expects `chunks` to be greater than 0, got: {chunks}")
    d = normalize_dim("chunk", dim, input.ndim)
    if input.ndim == 0:
        raise ShapeError("chunk: expects at least a 1-dimensional tensor")
    n = input.shape[d]
    if n == 0:
        return _split(input, [0] * chunks, d)
    size = -(-n // chunks)
    return split(input, size, d)


@tensor_method
def unbind(input, dim=0):
    """The slices along ``dim`` (that dim removed), as a tuple of views."""
    if input.ndim == 0:
        raise IndexError("unbind: dimension specified as 0 but tensor has no dimensions")
    d = normalize_dim("unbind", dim, input.ndim)
    return _split(input, [1] * input.shape[d], d, squeeze=True)


@tensor_method
def tensor_split(input, indices_or_sections, dim=0):
    """NumPy's ``array_split``: ``k`` near-equal pieces, or pieces cut at ``indices``."""
    if input.ndim == 0:
        raise ShapeError("tensor_split: expected at least a 1-dimensional tensor")
    d = normalize_dim("tensor_split", dim, input.ndim)
    n = input.shape[d]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise ShapeError(f"tensor_split: number of sections must be larger than 0, got {k}")
        sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        bounds = [0] + [int(b) for b in np.cumsum(sizes)]
    else:
        bounds = [0] + [max(0, min(n, int(i) + n if int(i) < 0 else int(i)))
                        for i in indices_or_sections] + [n]
    # each piece is a slice of its own (PyTorch's are narrow() views, so an in-place write
    # into one is allowed, unlike split's); decreasing indices give empty pieces, as in NumPy
    from yingshe.ops.indexing import narrow
    return tuple(narrow(input, d, a, max(b - a, 0)) for a, b in zip(bounds[:-1], bounds[1:]))
