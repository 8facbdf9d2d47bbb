"""TensorFlow's eager op names over yingshe's core ops (adapters only: TF argument
names and dtype rules on the way in, TF's face on the way out)."""

from __future__ import annotations

import builtins

import numpy as np

import yingshe
from yingshe import _dtype
from yingshe._tensor import Tensor
from yingshe.graph.ir import Symbol
from yingshe.tf import _core, errors
from yingshe.tf._core import (binary, convert_to_tensor, core_dtype, match, require_float,
                              run, to_tensor, truediv, unary)

__all__ = ["constant", "convert_to_tensor", "add", "subtract", "multiply", "divide",
           "truediv", "negative", "abs", "maximum", "minimum", "pow", "matmul",
           "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "square", "sqrt",
           "exp", "log", "sigmoid", "tanh", "argmax", "argmin", "equal", "not_equal",
           "less", "greater", "less_equal", "greater_equal", "cast", "round", "reshape",
           "transpose", "concat", "stack", "one_hot", "range", "zeros", "ones",
           "zeros_like", "ones_like", "fill", "identity", "stop_gradient", "shape",
           "expand_dims", "squeeze", "where", "add_n", "is_tensor", "clip_by_value",
           "linspace", "newaxis"]

newaxis = None   # x[..., tf.newaxis]

is_tensor = _core.is_tensor


def _graph():
    from yingshe import graph
    return graph


# ---- creation ------------------------------------------------------------------------------

def constant(value, dtype=None, shape=None, name="Const"):
    """``tf.constant``: Python floats -> float32, ints -> int32, NumPy keeps its dtype;
    ``shape`` fills a scalar or reshapes a value of the same size."""
    if isinstance(value, Symbol):
        raise TypeError("tf.constant: expected a concrete value, got a graph tensor")
    t = convert_to_tensor(value.numpy() if isinstance(value, Tensor) else value, dtype)
    arr = np.array(t._data, copy=True)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if arr.size == 1:
            arr = np.full(shape, arr.reshape(()), dtype=arr.dtype)
        elif arr.size == int(np.prod(shape, dtype=np.int64)):
            arr = arr.reshape(shape)
        else:
            raise TypeError(f"Eager execution of tf.constant with unsupported shape. Tensor "
                            f"{value!r} (converted from {value!r}) has {arr.size} elements, "
                            f"but got `shape` {shape} with {int(np.prod(shape))} elements).")
    if _core.GRAPH_MODE[0]:
        return _graph().constant(arr, name=name)
    return _core.wrap(yingshe.tensor(arr))


def _shape_list(shape) -> tuple:
    if isinstance(shape, Tensor):
        shape = shape.numpy().tolist()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def zeros(shape, dtype=None, name=None):
    dt = core_dtype(dtype or _core.float32)
    return _core.wrap(yingshe.zeros(_shape_list(shape), dtype=dt))


def ones(shape, dtype=None, name=None):
    dt = core_dtype(dtype or _core.float32)
    return _core.wrap(yingshe.ones(_shape_list(shape), dtype=dt))


def fill(dims, value, name=None):
    t = convert_to_tensor(value)
    return _core.wrap(yingshe.full(_shape_list(dims), t._data[()], dtype=core_dtype(t.dtype)))


def zeros_like(input, dtype=None, name=None):
    t = to_tensor(input)
    return run(lambda: yingshe.zeros_like(t, dtype=None if dtype is None else core_dtype(dtype)))


def ones_like(input, dtype=None, name=None):
    t = to_tensor(input)
    return run(lambda: yingshe.ones_like(t, dtype=None if dtype is None else core_dtype(dtype)))


def range(start, limit=None, delta=1, dtype=None, name="range"):
    """``tf.range``: int32 for integer arguments, float32 when any is a float."""
    if limit is None:
        start, limit = 0, start
    vals = [_core._plain(v) for v in (start, limit, delta)]
    vals = [v.item() if isinstance(v, np.ndarray) else v for v in vals]
    if dtype is None:
        dt = _dtype.float32 if any(isinstance(v, (float, np.floating)) for v in vals) \
            else _dtype.int32
    else:
        dt = core_dtype(dtype)
    return _core.wrap(yingshe.arange(vals[0], vals[1], vals[2], dtype=dt))


# ---- elementwise ---------------------------------------------------------------------------

def add(x, y, name=None):
    return binary("AddV2", yingshe.add, x, y)


def subtract(x, y, name=None):
    return binary("Sub", yingshe.sub, x, y)


def multiply(x, y, name=None):
    return binary("Mul", yingshe.mul, x, y)


def divide(x, y, name=None):
    """``x / y`` (TF's truediv: integer tensors give float64)."""
    return truediv(x, y)


def maximum(x, y, name=None):
    return binary("Maximum", yingshe.maximum, x, y)


def minimum(x, y, name=None):
    return binary("Minimum", yingshe.minimum, x, y)


def pow(x, y, name=None):
    return binary("Pow", yingshe.pow, x, y)


def negative(x, name=None):
    return unary(yingshe.neg, x)


def abs(x, name=None):
    return unary(yingshe.abs, x)


def square(x, name=None):
    return unary(yingshe.square, x)


def _float_unary(name: str, fn):
    def f(x, name=None):
        t = to_tensor(x)
        require_float(tf_name, t)
        return run(lambda: fn(t))
    tf_name = name
    f.__name__ = name.lower()
    f.__doc__ = f"``tf.{name.lower()}`` (floating-point inputs, as TensorFlow)."
    return f


sqrt = _float_unary("Sqrt", yingshe.sqrt)
exp = _float_unary("Exp", yingshe.exp)
log = _float_unary("Log", yingshe.log)
sigmoid = _float_unary("Sigmoid", yingshe.sigmoid)
tanh = _float_unary("Tanh", yingshe.tanh)


def round(x, name=None):
    """Half to even, as TensorFlow (integers pass unchanged)."""
    t = to_tensor(x)
    if t.dtype.is_floating_point:
        return run(lambda: yingshe.round(t))
    return t


def equal(x, y, name=None):
    return binary("Equal", yingshe.eq, x, y)


def not_equal(x, y, name=None):
    return binary("NotEqual", yingshe.ne, x, y)


def less(x, y, name=None):
    return binary("Less", yingshe.lt, x, y)


def greater(x, y, name=None):
    return binary("Greater", yingshe.gt, x, y)


def less_equal(x, y, name=None):
    return binary("LessEqual", yingshe.le, x, y)


def greater_equal(x, y, name=None):
    return binary("GreaterEqual", yingshe.ge, x, y)


def cast(x, dtype, name=None):
    """``tf.cast``: float to integer truncates toward zero (differentiable between
    floating dtypes)."""
    t = to_tensor(x)
    return run(lambda: t.to(core_dtype(dtype)))


def identity(input, name=None):
    t = to_tensor(input)
    return run(lambda: yingshe.clone(t))


def stop_gradient(input, name=None):
    t = to_tensor(input)
    if isinstance(t, Symbol) or getattr(t, "_symbolic_read", False):
        return _graph().stop_gradient(t)
    return run(lambda: t.detach())


def add_n(inputs, name=None):
    ts, _ = match("AddN", *inputs)
    def f():
        out = ts[0]
        for t in ts[1:]:
            out = yingshe.add(out, t)
        return out
    return run(f)


def where(condition, x=None, y=None, name=None):
    c = to_tensor(condition)
    if x is None and y is None:   # the coordinates of the true entries: (n, rank) int64
        return run(lambda: yingshe.argwhere(c))
    (a, b), _ = match("SelectV2", x, y)
    return run(lambda: yingshe.where(c, a, b))


def _unsupported(what):
    from yingshe.tf._unsupported import UnsupportedError
    return UnsupportedError(f"{what} is not supported by yingshe.tf yet")


# ---- matmul --------------------------------------------------------------------------------

def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, name=None):
    """``tf.matmul`` of tensors of rank >= 2 (batched over leading dims)."""
    (x, y), _ = match("MatMul", a, b)
    for t in (x, y):
        if len(t.shape) < 2 and not isinstance(t, Symbol):
            raise errors.InvalidArgumentError(
                None, None, f"In[0] and In[1] must have rank >= 2 for MatMul, got shapes "
                f"{list(x.shape)} and {list(y.shape)} [Op:MatMul]")

    def f():
        xa = x.transpose(-1, -2) if (transpose_a or adjoint_a) else x
        yb = y.transpose(-1, -2) if (transpose_b or adjoint_b) else y
        return yingshe.matmul(xa, yb)
    return run(f)


# ---- reductions ----------------------------------------------------------------------------

def _axes(t, axis):
    if axis is None:
        return tuple(builtins.range(len(t.shape)))
    if isinstance(axis, Tensor):
        axis = axis.numpy().tolist()
    if isinstance(axis, (int, np.integer)):
        return (int(axis),)
    return tuple(int(a) for a in axis)


def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    t = to_tensor(input_tensor)
    dt = core_dtype(t.dtype) if t.dtype.category != _dtype.BOOL else _dtype.int32
    return run(lambda: yingshe.sum(t, _axes(t, axis), keepdims, dtype=dt))


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """Mean; integer tensors give the truncated integer mean, as TensorFlow."""
    t = to_tensor(input_tensor)
    axes = _axes(t, axis)
    if t.dtype.is_floating_point:
        return run(lambda: yingshe.mean(t, axes, keepdims))
    n = int(np.prod([t.shape[a] for a in axes], dtype=np.int64))
    dt = core_dtype(t.dtype)
    return run(lambda: yingshe.div(yingshe.sum(t, axes, keepdims, dtype=dt), n,
                                   rounding_mode="trunc").to(dt))


def reduce_max(input_tensor, axis=None, keepdims=False, name=None):
    t = to_tensor(input_tensor)
    return run(lambda: yingshe.amax(t, _axes(t, axis), keepdims))


def reduce_min(input_tensor, axis=None, keepdims=False, name=None):
    t = to_tensor(input_tensor)
    return run(lambda: yingshe.amin(t, _axes(t, axis), keepdims))


def argmax(input, axis=None, output_type=_core.int64, name=None):
    """Index of the maximum along ``axis`` (default 0), int64 unless ``output_type``."""
    t = to_tensor(input)
    ax = 0 if axis is None else int(axis)
    return run(lambda: yingshe.argmax(t, ax).to(core_dtype(output_type)))


def argmin(input, axis=None, output_type=_core.int64, name=None):
    t = to_tensor(input)
    ax = 0 if axis is None else int(axis)
    return run(lambda: yingshe.argmin(t, ax).to(core_dtype(output_type)))


# ---- shapes --------------------------------------------------------------------------------

def reshape(tensor, shape, name=None):
    t = to_tensor(tensor)
    return run(lambda: yingshe.reshape(t, _shape_list(shape)))


def transpose(a, perm=None, conjugate=False, name="transpose"):
    t = to_tensor(a)
    p = tuple(builtins.range(len(t.shape) - 1, -1, -1)) if perm is None else _shape_list(perm)
    return run(lambda: yingshe.permute(t, p))


def concat(values, axis, name="concat"):
    ts, _ = match("ConcatV2", *values)
    return run(lambda: yingshe.cat(ts, int(axis)))


def stack(values, axis=0, name="stack"):
    ts, _ = match("Pack", *values)
    return run(lambda: yingshe.stack(ts, int(axis)))


def expand_dims(input, axis, name=None):
    t = to_tensor(input)
    return run(lambda: yingshe.unsqueeze(t, int(axis)))


def squeeze(input, axis=None, name=None):
    t = to_tensor(input)
    if axis is None:
        return run(lambda: yingshe.squeeze(t))
    axes = _axes(t, axis)
    for a in axes:
        if t.shape[a] != 1:
            raise errors.InvalidArgumentError(
                None, None, f"Can not squeeze dim[{a}], expected a dimension of 1, got "
                f"{t.shape[a]} [Op:Squeeze]")
    return run(lambda: yingshe.squeeze(t, axes))


def shape(input, out_type=_core.int32, name=None):
    t = to_tensor(input)
    return _core.wrap(yingshe.tensor(np.array(t.shape, dtype=core_dtype(out_type).np)))


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """``tf.one_hot``: indices outside [0, depth) give all-off rows, as TensorFlow."""
    idx = to_tensor(indices)
    if idx.dtype.is_floating_point:
        raise TypeError(f"tf.one_hot: indices must be integers, got {idx.dtype.name}")
    if axis not in (None, -1):
        raise _unsupported("tf.one_hot with axis other than -1")
    dt = core_dtype(dtype) if dtype is not None else (
        core_dtype(to_tensor(on_value).dtype) if on_value is not None else _dtype.float32)
    on = 1 if on_value is None else _core._plain(on_value)
    off = 0 if off_value is None else _core._plain(off_value)

    def f():
        hit = yingshe.eq(yingshe.unsqueeze(idx.to(_dtype.int64), -1),
                         yingshe.arange(int(depth), dtype=_dtype.int64))
        return yingshe.where(hit, yingshe.tensor(np.asarray(on, dt.np)),
                             yingshe.tensor(np.asarray(off, dt.np)))
    return run(f)


# ---- clipping and ranges -------------------------------------------------------------------

def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``t`` clipped to ``[clip_value_min, clip_value_max]``; the bounds take ``t``'s dtype
    (TensorFlow's rule) and must broadcast to ``t``'s shape without changing it. The
    gradient passes where ``t`` is inside the bounds, boundaries included."""
    x = to_tensor(t)
    if _core._tensor_dtype(x).category != _dtype.FLOAT:
        for v in (clip_value_min, clip_value_max):
            if isinstance(v, (float, np.floating)) or (isinstance(v, np.ndarray)
                                                       and v.dtype.kind == "f"):
                raise TypeError(f"Cannot convert {v!r} to EagerTensor of dtype "
                                f"{_core._tensor_dtype(x).name}")
    (x, lo, hi), dt = match("ClipByValue", x, clip_value_min, clip_value_max)
    for bound in (lo, hi):
        try:
            out = np.broadcast_shapes(tuple(x.shape), tuple(bound.shape))
        except ValueError:
            out = None
        if None not in tuple(x.shape) and out != tuple(x.shape):
            msg = (f"clip_by_value: clip_value_min and clip_value_max must broadcast to the "
                   f"shape of t {list(x.shape)}, got {list(bound.shape)}")
            if _core.is_symbolic(x, lo, hi):
                raise ValueError(msg)
            raise errors.InvalidArgumentError(None, None, msg)
    return run(lambda: yingshe.clamp(x, lo, hi))


def linspace(start, stop, num, name=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (both included), in the
    float dtype of ``start`` (Python floats: float32)."""
    start_int = isinstance(start, (int, np.integer)) or (
        isinstance(start, Tensor) and _core._tensor_dtype(start).category == _dtype.INT)
    if start_int and isinstance(stop, (float, np.floating)):
        # stop takes start's (integer) dtype, and a Python float does not convert
        name = (_core._tensor_dtype(start) if isinstance(start, Tensor)
                else _core.as_dtype(_core._infer_array(start).dtype)).name
        raise TypeError(f"Cannot convert {stop!r} to EagerTensor of dtype {name}")
    (a, b), dt = match("LinSpace", start, stop)    # stop takes start's dtype
    if dt.category == _dtype.INT:
        # integer ends give float64 values, as in TensorFlow
        a, b = a.to(_dtype.float64), b.to(_dtype.float64)
    elif dt.category != _dtype.FLOAT:
        raise errors.InvalidArgumentError(
            None, None, f"Value for attr 'T' of {dt.name} is not in the list of allowed "
            "values: bfloat16, half, float, double; NodeDef: {{node LinSpace}}")
    n = int(_core._plain(num))
    if n < 0:
        raise errors.InvalidArgumentError(None, None, f"Requires num > 0: {n}")
    if tuple(a.shape) != () or tuple(b.shape) != () or int(axis) != 0:
        raise _unsupported("tf.linspace with tensor start/stop or axis != 0")
    # TensorFlow's values: start + i * ((stop - start) / (num - 1)) in the dtype's
    # precision, the last one exactly stop
    def f():
        if n == 1:
            return yingshe.reshape(a, (1,))
        step = yingshe.div(yingshe.sub(b, a), n - 1)
        idx = yingshe.arange(n - 1, dtype=a.dtype)
        return yingshe.cat([yingshe.add(a, yingshe.mul(idx, step)), yingshe.reshape(b, (1,))])
    return run(f)
