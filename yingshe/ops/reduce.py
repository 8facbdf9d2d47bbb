"""Reductions, scans and sorts over dims (PyTorch's ``dim``/``keepdim`` signatures).

Every public function normalizes its arguments (dims become a sorted tuple of
non-negative ints) and dispatches one registered op. Multi-output ops
(``max(dim)``, ``sort``, ``topk``, ``median(dim)``) return ``(values, indices)``
named tuples like ``torch.return_types``; their int64 indices carry no gradient
and the gradient of the values is scattered back to the selected positions.

Conventions shared with PyTorch:
- full-reduction ``max()``/``amax``/``amin``/``median()`` share the gradient evenly among
  ties; ``max(dim)``/``sort``/``topk``/``median(dim)`` send it to the returned index;
- ``prod``'s gradient is exact when the input holds zeros (products of the other
  elements, never ``out / x``);
- ``logsumexp`` is shift-stable and returns -inf when all inputs are -inf;
- ``norm``'s 2-norm gradient at the zero vector is 0.

Private helper ops (``_scatter_along_dim`` ...) are registered like any other so
graphs and the compiler see the VJPs as ordinary ops.
"""

from __future__ import annotations

import builtins
import math
import types
from typing import Any, NamedTuple

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor, _wrap
from yingshe.errors import DTypeError, IndexError, ShapeError, UnsupportedError
from yingshe.errors import no_out as _no_out
from yingshe.ops._registry import apply, register_op, tensor_method
from yingshe.ops._shapes import Meta, normalize_dim, normalize_dims, reduced_shape, shape_str
from yingshe.ops.shape import expand, reshape

__all__ = ["sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "all",
           "any", "count_nonzero", "var", "std", "var_mean", "std_mean", "logsumexp", "norm",
           "cumsum", "cumprod", "sort", "argsort", "topk", "median", "nansum", "nanmean"]


# ---- named tuples like torch.return_types --------------------------------------------------

def _values_indices(name: str):
    cls = NamedTuple(name, [("values", Any), ("indices", Any)])
    cls.__module__ = "yingshe.return_types"
    cls.__qualname__ = name
    cls.__repr__ = lambda self: (f"yingshe.return_types.{name}(\nvalues={self.values!r},\n"
                                 f"indices={self.indices!r})")
    return cls


return_types = types.SimpleNamespace(**{n: _values_indices(n) for n in
                                        ("max", "min", "sort", "topk", "median")})


# ---- helpers ---------------------------------------------------------------------------------

def _unreduce(g, in_shape, dims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim and dims:
        g = reshape(g, reduced_shape(in_shape, dims, True))
    return expand(g, in_shape)


def _keep(t, in_shape, dims, keepdim):
    """A reduced value reshaped to keepdim form (size-1 reduced dims)."""
    if not keepdim and dims:
        return reshape(t, reduced_shape(in_shape, dims, True))
    return t


def _dims_all(opname, dim, ndim):
    """normalize_dims, where an empty tuple/list also means "all dims" (amax's default)."""
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        dim = None
    return normalize_dims(opname, dim, ndim)


def _count(shape, dims):
    n = 1
    for d in dims:
        n *= shape[d]
    return n


def _check_nonempty(opname, shape, dims):
    """PyTorch's rule for max-like reductions: a reduced dim may not be empty."""
    for d in dims:
        if shape[d] == 0:
            raise IndexError(f"{opname}: Expected reduction dim {d} to have non-zero size "
                             f"(input shape {shape_str(shape)})")


def _check_float(opname, m, what="floating point"):
    if not m.dtype.is_floating_point:
        raise DTypeError(f"{opname}: expected a {what} tensor as input, got {m.dtype}")


def _check_float_input(opname, t, msg):
    """Eager calls skip ``infer`` when the forward succeeds, so the public functions of
    float-only ops check the dtype themselves (PyTorch raises RuntimeError)."""
    if not t.dtype.is_floating_point:
        raise DTypeError(f"{msg}, got {t.dtype} (input shape {shape_str(t.shape)})")


def _int_or_float(dt):
    """Integer and bool inputs of sum-like ops accumulate in int64, as in PyTorch."""
    return dt if dt.is_floating_point else _dtype.int64


def _flatten_dims(x, dims):
    """Move ``dims`` to the end and merge them: (..., n); returns the undo info."""
    rest = [d for d in range(x.ndim) if d not in dims]
    perm = rest + list(dims)
    y = np.transpose(x, perm)
    lead = y.shape[: len(rest)]
    # the merged size explicitly: -1 is ambiguous when a kept dim is 0
    return y.reshape(lead + (math.prod(y.shape[len(rest):]),)), (perm, y.shape)


def _unflatten_dims(y, info):
    perm, shape = info
    return np.transpose(y.reshape(shape), np.argsort(perm))


def _exclusive_prod(a, axis=-1):
    """prod of all other elements along ``axis`` (exact with zeros)."""
    n = a.shape[axis]
    if n == 0:
        return a.copy()
    ones = np.ones_like(np.take(a, [0], axis=axis))
    left = np.cumprod(np.concatenate([ones, np.take(a, range(n - 1), axis=axis)], axis), axis)
    rev = np.flip(a, axis)
    right = np.cumprod(np.concatenate([ones, np.take(rev, range(n - 1), axis=axis)], axis), axis)
    return left * np.flip(right, axis)


def _as_0d_safe(x, dim):
    """0-d arrays behave as 1-element vectors along dim 0 (PyTorch accepts dim 0/-1)."""
    return (x.reshape(1), 0, True) if x.ndim == 0 else (x, dim, False)


# ---- sum, mean (unchanged behaviour) ---------------------------------------------------------

@register_op("sum", saves="none")
class Sum:
    """Sum over ``dim`` (a tuple of normalized dims)."""

    def forward(xp, x, *, dim, keepdim, dtype):
        with xp.errstate(invalid="ignore", over="ignore"):   # inf + -inf is nan, silently
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
def sum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Sum of elements over ``dim`` (all when None); integer/bool inputs sum to int64."""
    _no_out(out, "sum")
    return _sum_like(Sum, input, dim, keepdim, dtype)


def _sum_like(op, input, dim, keepdim, dtype):
    """Apply ``sum`` or ``nansum``: integer/bool inputs accumulate in int64 unless
    ``dtype`` says otherwise."""
    dims = normalize_dims(op.name, dim, input.ndim)
    dt = _dtype.as_dtype(dtype) if dtype is not None else None
    if dt is None and not input.dtype.is_floating_point:
        dt = _dtype.int64
    return apply(op, input, dim=dims, keepdim=bool(keepdim), dtype=dt)


@register_op("nansum", saves="inputs")
class Nansum:
    """Sum over ``dim`` with NaN counted as zero."""

    def forward(xp, x, *, dim, keepdim, dtype):
        with xp.errstate(invalid="ignore", over="ignore"):
            return xp.nansum(x, axis=dim, keepdims=keepdim, dtype=dtype.np if dtype else None)

    infer = Sum.infer

    def vjp(g, out, x, *, dim, keepdim, dtype):
        if dtype is not None and dtype is not x.dtype:
            g = g.to(x.dtype)
        # PyTorch's rule, g times the mask of non-NaN elements (x == x): a non-finite g
        # (nanmean of an all-NaN slice divides by 0) gives NaN there, as in PyTorch
        from yingshe.ops.elementwise_math import masked_grad
        return masked_grad(_unreduce(g, x.shape, dim, keepdim), x == x)


@tensor_method
def nansum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """``sum`` with NaN counted as zero (integer/bool inputs sum to int64, as ``sum``)."""
    _no_out(out, "nansum")
    return _sum_like(Nansum, input, dim, keepdim, dtype)


@tensor_method
def nanmean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """The mean of the non-NaN elements over ``dim`` (NaN where all are NaN); floating
    point only. ``nansum`` over the count of non-NaN elements, as PyTorch computes it."""
    _no_out(out, "nanmean")
    input = _mean_input("nanmean", input, dtype, "nanmean(): expected input to have floating "
                        "point dtype")
    dims = normalize_dims("nanmean", dim, input.ndim)
    count = apply(Sum, input == input, dim=dims, keepdim=bool(keepdim), dtype=input.dtype)
    total = apply(Nansum, input, dim=dims, keepdim=bool(keepdim), dtype=None)
    return total / count   # 0 / 0: an all-NaN slice is NaN


@register_op("mean", saves="none")
class Mean:
    """Arithmetic mean over ``dim``."""

    def forward(xp, x, *, dim, keepdim):
        if x.size == 0:  # the mean of nothing is nan, silently, as in PyTorch
            total = xp.sum(x, axis=dim, keepdims=keepdim)
            return xp.full_like(total, xp.nan)
        with xp.errstate(invalid="ignore", over="ignore"):
            return xp.mean(x, axis=dim, keepdims=keepdim)

    def infer(x, *, dim, keepdim):
        if not x.dtype.is_floating_point:
            raise DTypeError(f"mean: could not infer output dtype; input dtype must be "
                             f"floating point, got {x.dtype} (use x.float().mean())")
        return Meta(reduced_shape(x.shape, dim, keepdim), x.dtype)

    def vjp(g, out, x, *, dim, keepdim):
        return _unreduce(g / _count(x.shape, dim), x.shape, dim, keepdim)


@tensor_method
def mean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Mean over ``dim`` (all when None); the input must be floating point."""
    _no_out(out, "mean")
    input = _mean_input("mean", input, dtype, "mean(): could not infer output dtype; input "
                        "dtype must be floating point")
    dims = normalize_dims("mean", dim, input.ndim)
    return apply(Mean, input, dim=dims, keepdim=bool(keepdim))


def _mean_input(opname, input, dtype, msg):
    """The input of a mean: cast to ``dtype`` when given, then floating point only."""
    if dtype is not None:
        input = input.to(dtype)
    _check_float_input(opname, input, msg)
    return input


# ---- gather / scatter along a dim (private; the VJPs of the index-returning ops) ----------

@register_op("_take_along_dim", saves="inputs")
class TakeAlongDim:
    """``np.take_along_axis(x, index, dim)``; ``index`` has x's shape except along dim."""

    def forward(xp, x, index, *, dim):
        if x.ndim == 0:
            return x.copy()
        return xp.take_along_axis(x, index, axis=dim)

    def infer(x, index, *, dim):
        return Meta(index.shape, x.dtype)

    def vjp(g, out, x, index, *, dim):
        size = x.shape[dim] if x.ndim else 1
        return apply(ScatterAlongDim, g, index, dim=dim, size=size), None


@register_op("_scatter_along_dim", saves="inputs")
class ScatterAlongDim:
    """Zeros of ``src``'s shape with ``size`` along ``dim``, plus ``src`` added at
    ``index`` (duplicates accumulate): the transpose of ``_take_along_dim``."""

    def forward(xp, src, index, *, dim, size):
        if src.ndim == 0:
            return src.copy()
        shape = src.shape[:dim] + (size,) + src.shape[dim + 1:]
        out = xp.zeros(shape, dtype=src.dtype)
        coords = list(xp.indices(index.shape, sparse=True))
        coords[dim] = index
        xp.add.at(out, tuple(coords), src)
        return out

    def infer(src, index, *, dim, size):
        if src.ndim == 0:
            return Meta((), src.dtype)
        return Meta(tuple(src.shape[:dim]) + (size,) + tuple(src.shape[dim + 1:]), src.dtype)

    def vjp(g, out, src, index, *, dim, size):
        return apply(TakeAlongDim, g, index, dim=dim), None


def _scatter_back(g, index, x_shape, dim, keepdim=True):
    """Gradient of values selected at ``index`` along ``dim``, placed back in x's shape."""
    if not keepdim and len(x_shape):
        shape = tuple(g.shape[:dim]) + (1,) + tuple(g.shape[dim:])
        g = reshape(g, shape)
        index = reshape(index, shape)
    return apply(ScatterAlongDim, g, index, dim=dim, size=x_shape[dim] if len(x_shape) else 1)


# ---- amax / amin and the full-reduction max() / min() ---------------------------------------

@register_op("_tie_weights")
class TieWeights:
    """1/count at the positions where ``x`` equals the reduced extreme ``out`` (NaN
    matches NaN), 0 elsewhere: how amax/amin share the gradient among ties. Piecewise
    constant, hence not differentiable."""

    def forward(xp, x, out, *, dim, keepdim):
        o = out if keepdim or not dim else xp.expand_dims(out, dim)
        mask = (x == o) | (xp.isnan(x) & xp.isnan(o))
        count = mask.sum(axis=dim, keepdims=True)
        with xp.errstate(divide="ignore", invalid="ignore"):
            w = xp.where(mask, 1.0 / xp.maximum(count, 1), 0.0)
        return w.astype(x.dtype)

    def infer(x, out, *, dim, keepdim):
        return Meta(x.shape, x.dtype)


def _make_extreme(name: str, npfn):
    @register_op(name, saves="both")
    class Extreme:
        def forward(xp, x, *, dim, keepdim):
            return npfn(x, axis=dim, keepdims=keepdim)

        def infer(x, *, dim, keepdim):
            _check_nonempty(name, x.shape, dim)
            return Meta(reduced_shape(x.shape, dim, keepdim), x.dtype)

        def vjp(g, out, x, *, dim, keepdim):
            w = apply(TieWeights, x, out, dim=dim, keepdim=keepdim)
            return _unreduce(g, x.shape, dim, keepdim) * w

    Extreme.doc = f"{name} over ``dim``; ties share the gradient evenly."
    return Extreme


Amax = _make_extreme("amax", np.amax)
Amin = _make_extreme("amin", np.amin)


@tensor_method
def amax(input, dim=(), keepdim=False, *, out=None):
    """Maximum over ``dim`` (an int or a tuple; () or None: all dims)."""
    _no_out(out, "amax")
    dims = _dims_all("amax", dim, input.ndim)
    return apply(Amax, input, dim=dims, keepdim=bool(keepdim))


@tensor_method
def amin(input, dim=(), keepdim=False, *, out=None):
    """Minimum over ``dim`` (an int or a tuple; () or None: all dims)."""
    _no_out(out, "amin")
    dims = _dims_all("amin", dim, input.ndim)
    return apply(Amin, input, dim=dims, keepdim=bool(keepdim))


# ---- max(dim) / min(dim): (values, indices) --------------------------------------------------

def _make_extreme_dim(name: str, argfn):
    @register_op(name, saves="output", num_outputs=2)
    class ExtremeDim:
        def forward(xp, x, *, dim, keepdim):
            if x.ndim == 0:
                return x.copy(), xp.zeros((), xp.int64)
            idx = argfn(x, axis=dim, keepdims=True)
            vals = xp.take_along_axis(x, idx, axis=dim)
            if not keepdim:
                idx, vals = idx.squeeze(dim), vals.squeeze(dim)
            return vals, idx.astype(xp.int64)

        def infer(x, *, dim, keepdim):
            dims = (dim,) if x.ndim else ()
            _check_nonempty(name.split("_")[0], x.shape, dims)
            shape = reduced_shape(x.shape, dims, keepdim)
            return Meta(shape, x.dtype), Meta(shape, _dtype.int64)

        def vjp(g, out, x, *, dim, keepdim):
            return _scatter_back(g[0], out[1], x.shape, dim, keepdim)

    ExtremeDim.doc = f"{name}: (values, indices) over one dim; the gradient goes to index."
    return ExtremeDim


MaxDim = _make_extreme_dim("max_dim", np.argmax)
MinDim = _make_extreme_dim("min_dim", np.argmin)


def _extreme(name, op_full, op_dim, binary, input, dim, keepdim):
    if isinstance(dim, Tensor):  # max(a, b): elementwise
        if keepdim:
            raise TypeError(f"{name}(input, other) takes no keepdim argument")
        from yingshe.ops import elementwise_math
        return getattr(elementwise_math, binary)(input, dim)
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}(): keepdim requires dim")
        if input.numel() == 0 if input._data is not None else False:
            raise ShapeError(f"{name}(): Expected reduction dim to be specified for "
                             f"input.numel() == 0 (input shape {shape_str(input.shape)})")
        return apply(op_full, input, dim=tuple(range(input.ndim)), keepdim=False)
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{name}(): dim must be an int, got {type(dim).__name__}")
    d = normalize_dim(name, dim, input.ndim)
    values, indices = apply(op_dim, input, dim=d, keepdim=bool(keepdim))
    return getattr(return_types, name)(values, indices)


@tensor_method
def max(input, dim=None, keepdim=False, *, out=None):
    """``max(x)``: the largest element (ties share the gradient); ``max(x, dim,
    keepdim=False)``: named tuple ``(values, indices)``; ``max(x, other)``: elementwise
    maximum."""
    _no_out(out, "max")
    return _extreme("max", Amax, MaxDim, "maximum", input, dim, keepdim)


@tensor_method
def min(input, dim=None, keepdim=False, *, out=None):
    """``min(x)``, ``min(x, dim, keepdim=False)`` -> (values, indices), ``min(x, other)``."""
    _no_out(out, "min")
    return _extreme("min", Amin, MinDim, "minimum", input, dim, keepdim)


# ---- argmax / argmin -------------------------------------------------------------------------

def _make_arg(name: str, argfn):
    @register_op(name, saves="none")
    class Arg:
        def forward(xp, x, *, dim, keepdim):
            if dim is None:
                i = xp.asarray(argfn(x.reshape(-1)), dtype=xp.int64)
                return i.reshape((1,) * x.ndim) if keepdim else i
            if x.ndim == 0:
                return xp.zeros((), xp.int64)
            return argfn(x, axis=dim, keepdims=keepdim).astype(xp.int64)

        def infer(x, *, dim, keepdim):
            if dim is None:
                if Meta(x.shape, x.dtype).numel() == 0:
                    raise ShapeError(f"{name}(): Expected reduction dim to be specified for "
                                     f"input.numel() == 0 (input shape {shape_str(x.shape)})")
                return Meta((1,) * x.ndim if keepdim else (), _dtype.int64)
            dims = (dim,) if x.ndim else ()
            _check_nonempty(name, x.shape, dims)
            return Meta(reduced_shape(x.shape, dims, keepdim), _dtype.int64)

    Arg.doc = f"{name}: int64 index of the first extreme value (over all elements when dim " \
                  f"is None)."
    return Arg


ArgMax = _make_arg("argmax", np.argmax)
ArgMin = _make_arg("argmin", np.argmin)


@tensor_method
def argmax(input, dim=None, keepdim=False):
    """Index of the (first) maximum; ``dim=None`` indexes the flattened tensor."""
    d = None if dim is None else normalize_dim("argmax", dim, input.ndim)
    return apply(ArgMax, input, dim=d, keepdim=bool(keepdim))


@tensor_method
def argmin(input, dim=None, keepdim=False):
    """Index of the (first) minimum; ``dim=None`` indexes the flattened tensor."""
    d = None if dim is None else normalize_dim("argmin", dim, input.ndim)
    return apply(ArgMin, input, dim=d, keepdim=bool(keepdim))


# ---- all / any / count_nonzero ---------------------------------------------------------------

def _make_logical(name: str, npfn):
    @register_op(name, saves="none")
    class Logical:
        def forward(xp, x, *, dim, keepdim):
            r = npfn(x, axis=dim, keepdims=keepdim)
            return xp.asarray(r, dtype=xp.uint8 if x.dtype == xp.uint8 else xp.bool_)

        def infer(x, *, dim, keepdim):
            dt = _dtype.uint8 if x.dtype is _dtype.uint8 else _dtype.bool
            return Meta(reduced_shape(x.shape, dim, keepdim), dt)

    Logical.doc = f"{name} over ``dim`` (bool result; uint8 for uint8 input, as PyTorch)."
    return Logical


All = _make_logical("all", np.all)
Any_ = _make_logical("any", np.any)


@tensor_method
def all(input, dim=None, keepdim=False):
    """True where every element over ``dim`` is nonzero."""
    return apply(All, input, dim=normalize_dims("all", dim, input.ndim), keepdim=bool(keepdim))


@tensor_method
def any(input, dim=None, keepdim=False):
    """True where some element over ``dim`` is nonzero."""
    return apply(Any_, input, dim=normalize_dims("any", dim, input.ndim), keepdim=bool(keepdim))


@register_op("count_nonzero", saves="none")
class CountNonzero:
    """Number of nonzero elements over ``dim`` (int64)."""

    def forward(xp, x, *, dim):
        return xp.asarray(xp.count_nonzero(x, axis=dim), dtype=xp.int64)

    def infer(x, *, dim):
        return Meta(reduced_shape(x.shape, dim, False), _dtype.int64)


@tensor_method
def count_nonzero(input, dim=None):
    return apply(CountNonzero, input, dim=normalize_dims("count_nonzero", dim, input.ndim))


# ---- prod ------------------------------------------------------------------------------------

@register_op("_prod_others")
class ProdOthers:
    """For each element, the product of the *other* elements of its group over ``dim``
    (the gradient of prod, exact with zeros)."""

    def forward(xp, x, *, dim):
        if not dim:
            return xp.ones_like(x)
        y, info = _flatten_dims(x, dim)
        return _unflatten_dims(_exclusive_prod(y), info)

    def infer(x, *, dim):
        return x

    def vjp(h, out, x, *, dim):
        return apply(ProdOthersVjp, h, x, dim=dim)


@register_op("_prod_others_vjp", saves="none")
class ProdOthersVjp:
    """grad_k = sum_{i != k} h_i prod_{j not in {i, k}} x_j over each group (O(n^2) per
    group; only second derivatives of prod need it)."""

    def forward(xp, h, x, *, dim):
        if not dim:
            return xp.zeros_like(x)
        y, info = _flatten_dims(x, dim)
        hy, _ = _flatten_dims(h, dim)
        n = y.shape[-1]
        m = xp.repeat(y[..., None, :], n, axis=-2)       # [..., k, i]
        eye = xp.eye(n, dtype=bool)
        m = xp.where(eye, 1, m)
        e = _exclusive_prod(m, axis=-1)
        e = xp.where(eye, 0, e)
        g = (e * hy[..., None, :]).sum(-1)
        return _unflatten_dims(g, info)

    def infer(h, x, *, dim):
        return Meta(x.shape, x.dtype)


@register_op("prod", saves="inputs")
class Prod:
    """Product over ``dim``."""

    def forward(xp, x, *, dim, keepdim, dtype):
        with xp.errstate(over="ignore", invalid="ignore"):  # IEEE, silently (NumPy's Python
            return xp.prod(x, axis=dim, keepdims=keepdim, dtype=dtype.np)  # wrapper warns)

    def infer(x, *, dim, keepdim, dtype):
        return Meta(reduced_shape(x.shape, dim, keepdim), dtype)

    def vjp(g, out, x, *, dim, keepdim, dtype):
        if dtype is not x.dtype:
            g = g.to(x.dtype)
        return _unreduce(g, x.shape, dim, keepdim) * apply(ProdOthers, x, dim=dim)


@tensor_method
def prod(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Product of elements (over ``dim`` when given); integer/bool inputs give int64."""
    _no_out(out, "prod")
    dims = normalize_dims("prod", dim, input.ndim)
    dt = _dtype.as_dtype(dtype) if dtype is not None else _int_or_float(input.dtype)
    return apply(Prod, input, dim=dims, keepdim=bool(keepdim), dtype=dt)


# ---- var / std -------------------------------------------------------------------------------

def _var_np(xp, x, dim, correction, keepdim, sqrt=False):
    """The variance (its square root with ``sqrt``) by two passes. Narrower floats are
    accumulated in float64 and rounded once at the end, as PyTorch's CPU kernels do: the
    float32 std of values near 1e30 is finite although their squares are not."""
    n = _count(x.shape, dim)
    out_dtype = x.dtype
    if x.dtype.itemsize < 8:
        x = x.astype(np.float64)
    with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mu = x.sum(axis=dim, keepdims=True) / n
        d = x - mu
        ss = (d * d).sum(axis=dim, keepdims=keepdim)
        v = ss / builtins.max(n - correction, 0)
        if sqrt:
            v = xp.sqrt(v)
        return xp.asarray(v).astype(out_dtype, copy=False)


def _var_infer(name, x, dim, keepdim):
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{name}: std and var only support floating point dtypes, got "
                         f"{x.dtype}")
    return Meta(reduced_shape(x.shape, dim, keepdim), x.dtype)


def _var_vjp(g, x, dim, correction, keepdim, all_dims):
    """PyTorch's var_backward, both of its paths. Over a dim it is 2 (x - mean) / (n - c)
    with the degrees of freedom as they are (-0 for one value and correction 2; inf where
    n equals c), though the value divides by max(n - c, 0). Over the whole tensor (no dim
    given) with n - c <= 0 it is g * (NaN where x equals the mean, else inf): the two
    paths disagree, and users compare against PyTorch, so each is kept."""
    from yingshe.ops.elementwise_math import eq, where
    n = _count(x.shape, dim)
    mu = mean(x, dim, keepdim=True)
    g = _unreduce(g, x.shape, dim, keepdim)
    if all_dims and n - correction <= 0:
        return g * where(eq(x, mu), math.nan, math.inf)
    scale = 2.0 / (n - correction) if n != correction else math.inf
    return g * (x - mu) * scale


@register_op("var", saves="inputs")
class Var:
    """Variance over ``dim`` with ``correction`` (Bessel's by default). ``all_dims``: no dim
    was given (only the gradient at n <= correction tells the two apart, as in PyTorch)."""

    def forward(xp, x, *, dim, correction, keepdim, all_dims=False):
        return _var_np(xp, x, dim, correction, keepdim)

    def infer(x, *, dim, correction, keepdim, all_dims=False):
        return _var_infer("var", x, dim, keepdim)

    def vjp(g, out, x, *, dim, correction, keepdim, all_dims=False):
        return _var_vjp(g, x, dim, correction, keepdim, all_dims)


@register_op("std", saves="both")
class Std:
    """Standard deviation over ``dim`` with ``correction`` (``all_dims`` as for var)."""

    def forward(xp, x, *, dim, correction, keepdim, all_dims=False):
        return _var_np(xp, x, dim, correction, keepdim, sqrt=True)

    def infer(x, *, dim, correction, keepdim, all_dims=False):
        return _var_infer("std", x, dim, keepdim)

    def vjp(g, out, x, *, dim, correction, keepdim, all_dims=False):
        from yingshe.ops.elementwise_math import eq, where
        # PyTorch's std_backward: var's gradient of g / (2 std), 0 where the std is 0 (no
        # deviation: the gradient is 0, not 0/0)
        zero = eq(out, 0)
        g_var = where(zero, 0.0, g / (where(zero, 1.0, out) * 2.0))
        return _var_vjp(g_var, x, dim, correction, keepdim, all_dims)


def _correction(name, dim, unbiased, correction):
    if isinstance(dim, bool):  # var(x, True): the legacy "unbiased" overload
        if unbiased is not None:
            raise TypeError(f"{name}(): unbiased given twice")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}(): pass either unbiased or correction, not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction


@tensor_method
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """Variance over ``dim``: sum((x - mean)^2) / (N - correction); ``unbiased=False``
    is ``correction=0``."""
    _no_out(out, "var")
    dim, c = _correction("var", dim, unbiased, correction)
    _check_float_input("var", input, "var: std and var only support floating point dtypes")
    return apply(Var, input, dim=normalize_dims("var", dim, input.ndim), correction=c,
                 keepdim=bool(keepdim), all_dims=dim is None or input.ndim == 0)


@tensor_method
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """Standard deviation, the square root of ``var`` with the same arguments."""
    _no_out(out, "std")
    dim, c = _correction("std", dim, unbiased, correction)
    _check_float_input("std", input, "std: std and var only support floating point dtypes")
    return apply(Std, input, dim=normalize_dims("std", dim, input.ndim), correction=c,
                 keepdim=bool(keepdim), all_dims=dim is None or input.ndim == 0)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over ``dim``."""
    v = var(input, dim, unbiased, keepdim, correction=correction)
    dim, _ = _correction("var_mean", dim, unbiased, correction)
    return v, mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over ``dim``."""
    s = std(input, dim, unbiased, keepdim, correction=correction)
    dim, _ = _correction("std_mean", dim, unbiased, correction)
    return s, mean(input, dim, keepdim)


# ---- logsumexp -------------------------------------------------------------------------------

@register_op("_exp_diff", saves="output")
class ExpDiff:
    """exp(a - b) with broadcasting (logsumexp's softmax weights; NaN for -inf - -inf,
    as PyTorch's gradient)."""

    def forward(xp, a, b):
        with xp.errstate(invalid="ignore", over="ignore"):
            return xp.exp(a - b)

    def infer(a, b):
        from yingshe.ops._shapes import broadcast_shapes
        return Meta(broadcast_shapes("_exp_diff", a.shape, b.shape), a.dtype)

    def vjp(h, out, a, b, needs):
        hw = h * out
        return hw, (-hw if needs[1] else None)


@register_op("logsumexp", saves="both")
class LogSumExp:
    """log(sum(exp(x))) over ``dim``, shifted by the (finite) maximum."""

    def forward(xp, x, *, dim, keepdim):
        if x.size == 0:
            m = xp.zeros(reduced_shape(x.shape, dim, True), x.dtype)
        else:
            m = xp.amax(x, axis=dim, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0).astype(x.dtype)
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = xp.log(xp.sum(xp.exp(x - m), axis=dim, keepdims=True)) + m
        return out if keepdim else out.reshape(reduced_shape(x.shape, dim, False))

    def infer(x, *, dim, keepdim):
        return Meta(reduced_shape(x.shape, dim, keepdim), x.dtype)

    def vjp(g, out, x, *, dim, keepdim):
        w = apply(ExpDiff, x, _keep(out, x.shape, dim, keepdim))
        return _unreduce(g, x.shape, dim, keepdim) * w


@tensor_method
def logsumexp(input, dim=None, keepdim=False):
    """log(sum(exp(input), dim)) computed stably; integer inputs use the default float."""
    if not input.dtype.is_floating_point:
        input = input.to(_dtype.get_default_dtype())
    dims = _dims_all("logsumexp", dim, input.ndim)
    return apply(LogSumExp, input, dim=dims, keepdim=bool(keepdim))


# ---- norm ------------------------------------------------------------------------------------

@np.errstate(over="ignore", invalid="ignore")   # IEEE, silently: NumPy's reduce wrappers warn
def _vector_norm_np(xp, x, ord, dim, keepdim):
    a = xp.abs(x)
    if ord == math.inf:
        return xp.amax(a, axis=dim, keepdims=keepdim)
    if ord == -math.inf:
        return xp.amin(a, axis=dim, keepdims=keepdim)
    if ord == 0:
        return (a != 0).sum(axis=dim, keepdims=keepdim).astype(x.dtype)
    if ord == 1:
        return a.sum(axis=dim, keepdims=keepdim)
    if ord == 2:
        return xp.sqrt((a * a).sum(axis=dim, keepdims=keepdim))
    with xp.errstate(divide="ignore", over="ignore"):
        return (a ** ord).sum(axis=dim, keepdims=keepdim) ** (1.0 / ord)


@register_op("_norm_weight")
class NormWeight:
    """d norm / d x: sign(x) |x|^(p-1) / norm^(p-1) (0 where the norm is 0); for p = +-inf,
    sign(x) shared evenly among the ties of the extreme |x|."""

    def forward(xp, x, out, *, ord, dim):
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if ord in (math.inf, -math.inf):
                a = xp.abs(x)
                mask = a == out
                count = mask.sum(axis=dim, keepdims=True)
                return xp.where(mask, xp.sign(x) / xp.maximum(count, 1), 0).astype(x.dtype)
            if ord == 1:
                return xp.sign(x)
            if ord == 2:
                w = x / out
            else:
                w = xp.sign(x) * (xp.abs(x) / out) ** (ord - 1)
            return xp.where(out == 0, 0, w).astype(x.dtype)

    def infer(x, out, *, ord, dim):
        return Meta(x.shape, x.dtype)

    def vjp(h, w, x, out, *, ord, dim, needs):
        if ord in (math.inf, -math.inf, 1):
            return None, None
        gx = h * apply(NormWeightGrad, x, out, ord=ord, wrt="x") if needs[0] else None
        go = h * apply(NormWeightGrad, x, out, ord=ord, wrt="out") if needs[1] else None
        return gx, go


@register_op("_norm_weight_grad", saves="none")
class NormWeightGrad:
    """Partial derivatives of ``_norm_weight`` (finite p): wrt x, (p-1)|x|^(p-2)/n^(p-1);
    wrt the norm n, (1-p) w / n (both 0 where n is 0). Used by second derivatives only."""

    def forward(xp, x, out, *, ord, wrt):
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            a = xp.abs(x)
            if wrt == "x":
                r = (ord - 1) * a ** (ord - 2) / out ** (ord - 1) if ord != 2 else \
                    xp.broadcast_to(1.0 / out, x.shape)
            else:
                w = x / out if ord == 2 else xp.sign(x) * (a / out) ** (ord - 1)
                r = (1 - ord) * w / out
            return xp.where(out == 0, 0, r).astype(x.dtype)

    def infer(x, out, *, ord, wrt):
        return Meta(x.shape, x.dtype)


@register_op("vector_norm", saves="both")
class VectorNorm:
    """The vector ``ord``-norm over ``dim`` (torch.linalg.vector_norm)."""

    def forward(xp, x, *, ord, dim, keepdim):
        return _vector_norm_np(xp, x, ord, dim, keepdim)

    def infer(x, *, ord, dim, keepdim):
        if not x.dtype.is_floating_point:
            raise DTypeError(f"linalg.vector_norm: Expected a floating point tensor as input, "
                             f"got {x.dtype}")
        if ord in (math.inf, -math.inf):
            _check_nonempty("linalg.vector_norm", x.shape, dim)
        return Meta(reduced_shape(x.shape, dim, keepdim), x.dtype)

    def vjp(g, out, x, *, ord, dim, keepdim):
        gu = _unreduce(g, x.shape, dim, keepdim)
        if ord == 0:
            return gu * 0.0
        return gu * apply(NormWeight, x, _keep(out, x.shape, dim, keepdim), ord=ord, dim=dim)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """``torch.linalg.vector_norm``: the ``ord``-norm of ``x`` flattened over ``dim``."""
    if dtype is not None:
        x = x.to(dtype)
    if isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise TypeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    _check_float_input("linalg.vector_norm", x, "linalg.vector_norm: Expected a floating "
                       "point tensor as input")
    dims = normalize_dims("linalg.vector_norm", dim, x.ndim)
    return apply(VectorNorm, x, ord=float(ord), dim=dims, keepdim=bool(keepdim))


@tensor_method
def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """``torch.norm``: vector p-norms over ``dim`` (all dims when None); 'fro' is the 2-norm
    ('nuc' is not supported)."""
    if out is not None:
        raise UnsupportedError("norm: the out= argument is not supported by yingshe")
    if p == "fro":
        p = 2
    elif isinstance(p, str):
        raise UnsupportedError(f"norm: p={p!r} is not supported (use 'fro' or a number)")
    if p is None:
        p = 2
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


# ---- cumsum / cumprod ------------------------------------------------------------------------

@register_op("cumsum", saves="none")
class Cumsum:
    """Inclusive prefix sums along ``dim`` (suffix sums when ``reverse``, its VJP)."""

    def forward(xp, x, *, dim, dtype, reverse):
        x0, d, was0 = _as_0d_safe(x, dim)
        with xp.errstate(over="ignore", invalid="ignore"):  # inf + -inf: NaN, silently
            if reverse:
                r = xp.flip(xp.cumsum(xp.flip(x0, d), axis=d, dtype=dtype.np), d)
            else:
                r = xp.cumsum(x0, axis=d, dtype=dtype.np)
        return r.reshape(()) if was0 else r

    def infer(x, *, dim, dtype, reverse):
        return Meta(x.shape, dtype)

    def vjp(g, out, x, *, dim, dtype, reverse):
        if dtype is not x.dtype:
            g = g.to(x.dtype)
        return apply(Cumsum, g, dim=dim, dtype=x.dtype, reverse=not reverse)


@tensor_method
def cumsum(input, dim, *, dtype=None, out=None):
    """Cumulative sum along ``dim``; integer/bool inputs accumulate in int64."""
    _no_out(out, "cumsum")
    d = normalize_dim("cumsum", dim, input.ndim)
    dt = _dtype.as_dtype(dtype) if dtype is not None else _int_or_float(input.dtype)
    return apply(Cumsum, input, dim=d, dtype=dt, reverse=False)


@register_op("_cumprod_vjp", saves="inputs")
class CumprodVjp:
    """grad_k = sum_{i >= k} g_i prod_{j <= i, j != k} x_j (exact with zeros; O(n^2) per
    line)."""

    def forward(xp, g, x, *, dim):
        x0, d, was0 = _as_0d_safe(x, dim)
        g0 = g.reshape(x0.shape)
        y = xp.moveaxis(x0, d, -1)
        gy = xp.moveaxis(g0, d, -1)
        n = y.shape[-1]
        eye = xp.eye(n, dtype=bool)
        m = xp.where(eye, 1, xp.repeat(y[..., None, :], n, axis=-2))   # [..., k, i]
        upper = xp.triu(xp.ones((n, n), dtype=bool))                   # i >= k
        with xp.errstate(invalid="ignore", over="ignore"):   # non-finite inputs: IEEE
            c = xp.cumprod(m, axis=-1)
            r = (xp.where(upper, c, 0) * gy[..., None, :]).sum(-1)
        r = xp.moveaxis(r, -1, d)
        return r.reshape(()) if was0 else r

    def infer(g, x, *, dim):
        return Meta(x.shape, x.dtype)

    def vjp(h, out, g, x, *, dim, needs):
        # differentiate the same formula written with differentiable ops (its cumprod's
        # VJP is this op again, one dimension up), so every order is exact
        from yingshe import autograd
        from yingshe._tensor import MODE
        differentiable = MODE.grad_enabled      # under create_graph: keep the history
        with autograd.enable_grad():
            ins = [t if differentiable and t.requires_grad else
                   t.detach().requires_grad_(bool(n)) for t, n in zip((g, x), needs)]
            wrt = [t for t, n in zip(ins, needs) if n]
            got = autograd.grad(_cumprod_vjp_composed(ins[0], ins[1], dim), wrt,
                                grad_outputs=h, create_graph=differentiable,
                                allow_unused=True, materialize_grads=True)
        got = iter(got)
        return tuple(next(got) if n else None for n in needs)


def _cumprod_vjp_composed(g, x, dim):
    """``CumprodVjp`` with yingshe ops: r_k = sum_{i >= k} g_i prod_{j <= i, j != k} x_j."""
    from yingshe.ops.elementwise_math import where
    from yingshe.ops.shape import movedim
    if x.ndim == 0:
        return _cumprod_vjp_composed(g.reshape(1), x.reshape(1), 0).reshape(())
    y, gy = movedim(x, dim, -1), movedim(g, dim, -1)
    n = y.shape[-1]
    eye = _wrap(np.eye(n, dtype=bool))
    m = where(eye, 1.0, y.unsqueeze(-2).expand(*y.shape[:-1], n, n))       # [..., k, i]
    upper = _wrap(np.triu(np.ones((n, n), dtype=bool)))                   # i >= k
    c = apply(Cumprod, m, dim=m.ndim - 1, dtype=m.dtype)
    r = (where(upper, c, 0.0) * gy.unsqueeze(-2)).sum(-1)
    return movedim(r, -1, dim)


@register_op("cumprod", saves="inputs")
class Cumprod:
    """Inclusive prefix products along ``dim``."""

    def forward(xp, x, *, dim, dtype):
        x0, d, was0 = _as_0d_safe(x, dim)
        with xp.errstate(invalid="ignore", over="ignore"):   # inf * 0 is NaN, as PyTorch's
            r = xp.cumprod(x0, axis=d, dtype=dtype.np)
        return r.reshape(()) if was0 else r

    def infer(x, *, dim, dtype):
        return Meta(x.shape, dtype)

    def vjp(g, out, x, *, dim, dtype):
        if dtype is not x.dtype:
            g = g.to(x.dtype)
        return apply(CumprodVjp, g, x, dim=dim)


@tensor_method
def cumprod(input, dim, *, dtype=None):
    """Cumulative product along ``dim`` (gradients of any order, exact with zeros)."""
    d = normalize_dim("cumprod", dim, input.ndim)
    dt = _dtype.as_dtype(dtype) if dtype is not None else _int_or_float(input.dtype)
    return apply(Cumprod, input, dim=d, dtype=dt)


# ---- sort / argsort / topk -------------------------------------------------------------------

def _argsort_np(xp, x, dim, descending):
    """Stable argsort; descending keeps equal elements in their original order and puts
    NaN first (PyTorch treats NaN as the largest value)."""
    if not descending:
        return xp.argsort(x, axis=dim, kind="stable")
    n = x.shape[dim]
    idx = xp.argsort(xp.flip(x, dim), axis=dim, kind="stable")
    return (n - 1) - xp.flip(idx, dim)


@register_op("sort", saves="output", num_outputs=2)
class Sort:
    """(values, indices) sorted along ``dim`` (always stable here)."""

    def forward(xp, x, *, dim, descending):
        x0, d, was0 = _as_0d_safe(x, dim)
        idx = _argsort_np(xp, x0, d, descending).astype(xp.int64)
        vals = xp.take_along_axis(x0, idx, axis=d)
        if was0:
            return vals.reshape(()), idx.reshape(())
        return vals, idx

    def infer(x, *, dim, descending):
        return Meta(x.shape, x.dtype), Meta(x.shape, _dtype.int64)

    def vjp(g, out, x, *, dim, descending):
        return _scatter_back(g[0], out[1], x.shape, dim)


@tensor_method
def sort(input, dim=-1, descending=False, stable=False):
    """Sort along ``dim``: named tuple (values, indices). yingshe's sort is always stable
    (equal elements keep their order; NaN sorts as the largest value)."""
    d = normalize_dim("sort", dim, input.ndim)
    values, indices = apply(Sort, input, dim=d, descending=bool(descending))
    return return_types.sort(values, indices)


@tensor_method
def argsort(input, dim=-1, descending=False, stable=False):
    """Indices that sort ``input`` along ``dim`` (stable)."""
    return sort(input, dim, descending, stable).indices


def _check_k(shape, k, dim) -> None:
    size = shape[dim] if len(shape) else 1
    if k < 0 or (size is not None and k > size):
        raise ShapeError(f"topk: selected index k out of range (k={k}, dim {dim} of "
                         f"shape {shape_str(shape)})")


@register_op("topk", saves="output", num_outputs=2)
class Topk:
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices."""

    def forward(xp, x, *, k, dim, largest, sorted):
        _check_k(x.shape, k, dim)   # a negative k would take no elements, silently
        x0, d, was0 = _as_0d_safe(x, dim)
        if was0:    # a 0-d input gives its element for k 0 or 1 (PyTorch's 0-d rule)
            k = 1
        idx = _argsort_np(xp, x0, d, largest)
        idx = xp.take(idx, xp.arange(k), axis=d).astype(xp.int64)
        vals = xp.take_along_axis(x0, idx, axis=d)
        if was0:
            return vals.reshape(()), idx.reshape(())
        return vals, idx

    def infer(x, *, k, dim, largest, sorted):
        _check_k(x.shape, k, dim)
        shape = tuple(k if i == dim else s for i, s in enumerate(x.shape))
        return Meta(shape, x.dtype), Meta(shape, _dtype.int64)

    def vjp(g, out, x, *, k, dim, largest, sorted):
        return _scatter_back(g[0], out[1], x.shape, dim)


@tensor_method
def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim``: named tuple
    (values, indices), in sorted order."""
    d = normalize_dim("topk", dim, input.ndim)
    values, indices = apply(Topk, input, k=int(k), dim=d, largest=bool(largest),
                            sorted=bool(sorted))
    return return_types.topk(values, indices)


# ---- median ----------------------------------------------------------------------------------

@register_op("median", saves="both", num_outputs=2)
class Median:
    """The lower median along ``dim`` (of the flattened input when ``dim`` is None) and its
    index; NaN propagates (its first occurrence is returned). The gradient goes to the
    returned index along ``dim``; without ``dim`` it is shared evenly among the elements
    equal to the median (PyTorch's rule; NaN matches NaN), and is empty for an empty input."""

    def forward(xp, x, *, dim, keepdim):
        if dim is None:
            flat = x.reshape(-1)
            if flat.size == 0:
                return xp.asarray(xp.nan, x.dtype), xp.zeros((), xp.int64)
            v, i = Median.forward(xp, flat, dim=0, keepdim=False)
            return v, i
        x0, d, was0 = _as_0d_safe(x, dim)
        n = x0.shape[d]
        order = xp.argsort(x0, axis=d, kind="stable")
        nans = xp.isnan(x0).sum(axis=d, keepdims=True)
        pos = xp.where(nans > 0, n - nans, (n - 1) // 2)
        idx = xp.take_along_axis(order, pos, axis=d).astype(xp.int64)
        vals = xp.take_along_axis(x0, idx, axis=d)
        if was0:
            return vals.reshape(()), idx.reshape(())
        if not keepdim:
            vals, idx = vals.squeeze(d), idx.squeeze(d)
        return vals, idx

    def infer(x, *, dim, keepdim):
        if dim is None:
            return Meta((), x.dtype), Meta((), _dtype.int64)
        dims = (dim,) if x.ndim else ()
        _check_nonempty("median", x.shape, dims)
        shape = reduced_shape(x.shape, dims, keepdim)
        return Meta(shape, x.dtype), Meta(shape, _dtype.int64)

    def vjp(g, out, x, *, dim, keepdim):
        if dim is None:
            w = apply(TieWeights, x, out[0], dim=tuple(range(x.ndim)), keepdim=False)
            return g[0] * w
        return _scatter_back(g[0], out[1], x.shape, dim, keepdim)


@tensor_method
def median(input, dim=None, keepdim=False):
    """``median(x)``: the lower median of all elements; ``median(x, dim, keepdim=False)``:
    named tuple (values, indices)."""
    if dim is None:
        return apply(Median, input, dim=None, keepdim=False)[0]
    d = normalize_dim("median", dim, input.ndim)
    values, indices = apply(Median, input, dim=d, keepdim=bool(keepdim))
    return return_types.median(values, indices)

