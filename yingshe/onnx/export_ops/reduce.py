"""ONNX mappings of reductions, scans, sorting and selection along a dimension."""

from __future__ import annotations

import math

import numpy as np

from yingshe import _dtype
from yingshe.onnx._export import Call, exports
from yingshe.onnx._common import to_onnx_dtype


def _axes(c: Call):
    dim = c.attrs["dim"]
    if dim is None:
        return None
    return tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)


def _reduce(onnx_op: str, *, cast_input: bool = True):
    def emit(c: Call):
        dt = c.out_dtype()
        x = c.val(0, dt) if cast_input else c.x()
        return c.b.reduce(onnx_op, x, _axes(c), c.attrs.get("keepdim", False))
    emit.__doc__ = onnx_op
    return emit


exports("sum")(_reduce("ReduceSum"))


@exports("mean")
def mean(c: Call):
    """ReduceMean (NaN for the mean of nothing, as the eager op)"""
    axes, keep = _axes(c), c.attrs["keepdim"]
    n, count = _count(c, axes, c.out_dtype())
    if n == 0:
        return _nan_of(c, c.b.reduce("ReduceSum", c.x(), axes, keep))
    if n is None:    # a dynamic count: sum / count is NaN for nothing, as the eager mean
        return c.b.op("Div", [c.b.reduce("ReduceSum", c.x(), axes, keep), count])
    return c.b.reduce("ReduceMean", c.x(), axes, keep)


def _nan_of(c: Call, zeros: str) -> str:
    """NaN in the shape of ``zeros``, a sum over nothing (the statistics of no elements)."""
    return c.b.op("Mul", [zeros, c.b.scalar(np.nan, c.out_dtype())])


exports("prod")(_reduce("ReduceProd"))
exports("amax")(_reduce("ReduceMax"))
exports("amin")(_reduce("ReduceMin"))


@exports("nansum")
def nansum(c: Call):
    """ReduceSum of Where(IsNaN(x), 0, x)"""
    b, dt = c.b, c.out_dtype()
    x = c.val(0, dt)
    if dt.is_floating_point:
        x = b.op("Where", [b.op("IsNaN", [x]), b.scalar(0, dt), x])
    return b.reduce("ReduceSum", x, _axes(c), c.attrs["keepdim"])


def _truth(b, x: str, src) -> str:
    """x != 0 as bool (NaN counts as true, as in NumPy)."""
    if src is _dtype.bool:
        return x
    return b.op("Not", [b.op("Equal", [x, b.scalar(0, src)])])


def _all_any(onnx_op: str):
    def emit(c: Call):
        b = c.b
        t = b.op("Cast", [_truth(b, c.x(), c.dtype(0))], to=to_onnx_dtype(_dtype.int32))
        r = b.reduce(onnx_op, t, _axes(c), c.attrs["keepdim"])
        return b.op("Cast", [r], to=to_onnx_dtype(c.out_dtype()))
    emit.__doc__ = f"{onnx_op} of the truth values (as int32), Cast"
    return emit


exports("all")(_all_any("ReduceMin"))
exports("any")(_all_any("ReduceMax"))


@exports("count_nonzero")
def count_nonzero(c: Call):
    """ReduceSum of Cast(x != 0)"""
    b = c.b
    t = b.op("Cast", [_truth(b, c.x(), c.dtype(0))], to=to_onnx_dtype(_dtype.int64))
    return b.reduce("ReduceSum", t, _axes(c), False)


def _count(c: Call, axes, dt):
    """The number of elements reduced over ``axes``, as a scalar of dtype ``dt``."""
    dims = c.dims(0)
    n = c.b.prod([dims[a] for a in (axes if axes is not None else range(len(dims)))])
    if isinstance(n, int):
        return n, c.b.scalar(n, dt)
    t = c.b.op("Squeeze", [c.b.dim_tensor(n), c.b.ints([0])])
    return None, c.b.cast(t, _dtype.int64, dt)


def _variance(c: Call):
    b, dt = c.b, c.out_dtype()
    x = c.x()
    axes = _axes(c)
    mean = b.reduce("ReduceMean", x, axes, True)
    d = b.op("Sub", [x, mean])
    ss = b.reduce("ReduceSum", b.op("Mul", [d, d]), axes, c.attrs["keepdim"])
    n, n_t = _count(c, axes, dt)
    corr = c.attrs["correction"]
    if n is not None:
        return b.op("Div", [ss, b.scalar(max(n - corr, 0), dt)])
    denom = b.op("Max", [b.op("Sub", [n_t, b.scalar(corr, dt)]), b.scalar(0, dt)])
    return b.op("Div", [ss, denom])


@exports("var")
def var(c: Call):
    """ReduceMean, Sub, ReduceSum of squares, Div by (n - correction)"""
    return _variance(c)


@exports("std")
def std(c: Call):
    """Sqrt of the variance (as var)"""
    return c.b.op("Sqrt", [_variance(c)])


@exports("logsumexp")
def logsumexp(c: Call):
    """ReduceMax, Exp, ReduceSum, Log: log-sum-exp shifted by the finite maximum"""
    b, dt = c.b, c.out_dtype()
    x = c.x()
    axes = _axes(c)
    m = b.reduce("ReduceMax", x, axes, True)
    finite = b.op("Not", [b.op("Or", [b.op("IsInf", [m]), b.op("IsNaN", [m])])])
    m = b.op("Where", [finite, m, b.scalar(0, dt)])
    s = b.reduce("ReduceSum", b.op("Exp", [b.op("Sub", [x, m])]), axes, True)
    out = b.op("Add", [b.op("Log", [s]), m])
    if c.attrs["keepdim"] or axes == ():
        return out
    axes = axes if axes is not None else tuple(range(c.ndim(0)))
    return b.op("Squeeze", [out, b.ints(axes)])


@exports("vector_norm")
def vector_norm(c: Call):
    """ReduceL2 / ReduceL1 / ReduceMax(Abs) / ReduceSum(Pow) by ord"""
    b, dt = c.b, c.out_dtype()
    x, axes, keep = c.x(), _axes(c), c.attrs["keepdim"]
    p = c.attrs["ord"]
    if p == 2:
        return b.reduce("ReduceL2", x, axes, keep)
    if p == 1:
        return b.reduce("ReduceL1", x, axes, keep)
    if p == math.inf:
        return b.reduce("ReduceMax", b.op("Abs", [x]), axes, keep)
    if p == -math.inf:
        return b.reduce("ReduceMin", b.op("Abs", [x]), axes, keep)
    if p == 0:
        nz = b.op("Cast", [_truth(b, x, dt)], to=to_onnx_dtype(dt))
        return b.reduce("ReduceSum", nz, axes, keep)
    s = b.reduce("ReduceSum", b.op("Pow", [b.op("Abs", [x]), b.scalar(p, dt)]), axes, keep)
    return b.op("Pow", [s, b.scalar(1.0 / p, dt)])


@exports("cumsum")
def cumsum(c: Call):
    """CumSum (reverse=1 for suffix sums)"""
    b, dt = c.b, c.out_dtype()
    x = c.val(0, dt)
    if c.ndim(0) == 0:
        return b.op("Identity", [x])
    return b.op("CumSum", [x, b.const(np.asarray(c.attrs["dim"], np.int64))],
                reverse=int(bool(c.attrs["reverse"])))


# ---- arg-extremes, max/min along a dim ----------------------------------------------------------

def _arg(onnx_op: str):
    def emit(c: Call):
        b = c.b
        x, dim, keep = c.x(), c.attrs["dim"], c.attrs["keepdim"]
        if c.ndim(0) == 0:
            return b.const(np.asarray(0, np.int64))
        if dim is None:
            flat = b.op("Reshape", [x, b.ints([-1])])
            i = b.op(onnx_op, [flat], axis=0, keepdims=0)
            return b.op("Reshape", [i, b.ints([1] * c.ndim(0))]) if keep else i
        return b.op(onnx_op, [x], axis=dim, keepdims=int(keep))
    emit.__doc__ = f"{onnx_op} (first occurrence)"
    return emit


exports("argmax")(_arg("ArgMax"))
exports("argmin")(_arg("ArgMin"))


def _extreme_dim(reduce_op: str, arg_op: str):
    def emit(c: Call):
        b = c.b
        x, dim, keep = c.x(), c.attrs["dim"], c.attrs["keepdim"]
        if c.ndim(0) == 0:
            return b.op("Identity", [x]), b.const(np.asarray(0, np.int64))
        return (b.reduce(reduce_op, x, (dim,), keep),
                b.op(arg_op, [x], axis=dim, keepdims=int(keep)))
    emit.__doc__ = f"{reduce_op}, {arg_op}"
    return emit


exports("max_dim")(_extreme_dim("ReduceMax", "ArgMax"))
exports("min_dim")(_extreme_dim("ReduceMin", "ArgMin"))


# ---- sorting ------------------------------------------------------------------------------------

def _topk(c: Call, x: str, k, dim: int, largest: bool):
    b = c.b
    return b.op("TopK", [x, b.shape_tensor([k])], outputs=2, axis=dim, largest=int(largest),
                sorted=1)


@exports("topk", dynamic=("k",))
def topk(c: Call):
    """TopK (sorted)"""
    if c.ndim(0) == 0:
        return c.b.op("Identity", [c.x()]), c.b.const(np.asarray(0, np.int64))
    return _topk(c, c.x(), c.attrs["k"], c.attrs["dim"], c.attrs["largest"])


@exports("sort")
def sort(c: Call):
    """TopK over the whole dim (ties: ONNX does not promise a stable order)"""
    if c.ndim(0) == 0:
        return c.b.op("Identity", [c.x()]), c.b.const(np.asarray(0, np.int64))
    dim = c.attrs["dim"]
    return _topk(c, c.x(), c.dims(0)[dim], dim, c.attrs["descending"])


@exports("median")
def median(c: Call):
    """TopK of the smallest (n - 1) // 2 + 1, Gather of the last (no NaN handling)"""
    b = c.b
    x, dim = c.x(), c.attrs["dim"]
    if c.ndim(0) == 0:
        return b.op("Identity", [x]), b.const(np.asarray(0, np.int64))
    if dim is None:
        x, dim, keep = b.op("Reshape", [x, b.ints([-1])]), 0, False
        n = c.b.prod(c.dims(0))
    else:
        keep, n = c.attrs["keepdim"], c.dims(0)[dim]
    if not isinstance(n, int):
        raise c.error("the size of the reduced dimension must be fixed")
    if n == 0:
        zeros = b.reduce("ReduceSum", x, (dim,), keep)
        return _nan_of(c, zeros), b.op("Cast", [zeros], to=to_onnx_dtype(_dtype.int64))
    k = (n - 1) // 2
    vals, idx = b.op("TopK", [x, b.ints([k + 1])], outputs=2, axis=dim, largest=0, sorted=1)
    pick = b.ints([k]) if keep else b.const(np.asarray(k, np.int64))
    return b.op("Gather", [vals, pick], axis=dim), b.op("Gather", [idx, pick], axis=dim)
