"""The ONNX -> yingshe table of ``yingshe.onnx.load``: one function per ONNX op, written
with yingshe ops (public functions, or a registered op through ``apply`` where ONNX's
form is the op's own, such as asymmetric convolution pads).

An importer receives its ``Ctx`` (attributes, the node's name for errors) and the input
values: a ``Tensor`` (computed, or a weight) or a NumPy array (a constant, or a value
computed only from constants and shapes), or None for an omitted optional input. It
returns a value or a tuple of values. ``T`` makes a tensor of a value; ``ints`` reads a
constant such as a reshape's target (an error naming the node when it is computed from
data, which ONNX allows and yingshe cannot trace).
"""

from __future__ import annotations

import math

import numpy as np

import yingshe
from yingshe._tensor import Tensor, _wrap
from yingshe.nn import functional as F
from yingshe.onnx._common import from_onnx_dtype
from yingshe.onnx._load import MAX_ELEMENTS, Ctx, imports
from yingshe.ops import apply
from yingshe.ops._registry import REGISTRY

# ---- helpers ------------------------------------------------------------------------------------


def T(v) -> Tensor:
    """A value as a Tensor (a NumPy constant becomes a constant tensor)."""
    if isinstance(v, Tensor):
        return v
    return _wrap(np.array(v, copy=True))


def values(ctx: Ctx, v, what: str) -> np.ndarray:
    """A constant input (a constant, or a weight's current value) as a NumPy array."""
    if isinstance(v, Tensor):
        if v._data is None or v._symbolic_read:
            raise ctx.error(f"{what} is computed from the data; yingshe needs it constant (a "
                            "tensor shape cannot depend on tensor values)")
        v = v._data
    return np.asarray(v)


def ints(ctx: Ctx, v, what: str) -> list:
    """A constant integer input as Python ints."""
    if v is None:
        return None
    a = values(ctx, v, what)
    if a.dtype.kind not in "iu":
        raise ctx.error(f"{what} must be an integer tensor, got {a.dtype}")
    return [int(x) for x in a.reshape(-1)]


def scalar(ctx: Ctx, v, what: str):
    a = values(ctx, v, what)
    if a.size != 1:
        raise ctx.error(f"{what} must hold one value, got shape {a.shape}")
    return a.reshape(()).item()


def _check_size(ctx: Ctx, shape, what: str) -> None:
    n = math.prod(shape)
    if any(s < 0 for s in shape) or n > MAX_ELEMENTS:
        raise ctx.error(f"{what} of shape {tuple(shape)} refused ({n} elements; the limit "
                        f"is {MAX_ELEMENTS})")


def _axis(ctx: Ctx, axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise ctx.error(f"axis {axis} is out of range for a {ndim}-d input")
    return axis % ndim if ndim else 0


def _axes(ctx: Ctx, v, ndim: int, attr: str = "axes"):
    """Axes from the attribute (older opsets) or the input (newer); None when absent."""
    a = ctx.attrs.get(attr)
    if a is None and v is not None:
        a = ints(ctx, v, attr)
    if a is None:
        return None
    return tuple(sorted(_axis(ctx, x, ndim) for x in a))


def _dt(ctx: Ctx, code: int):
    return from_onnx_dtype(code, ctx.node.where)


# ---- elementwise --------------------------------------------------------------------------------

def _binary(fn):
    def run(ctx, a, b):
        return fn(T(a), T(b))
    return run


def _unary(fn):
    def run(ctx, x):
        return fn(T(x))
    return run


for _op, _fn in (("Add", yingshe.add), ("Sub", yingshe.sub), ("Mul", yingshe.mul),
                 ("Pow", yingshe.pow), ("Equal", yingshe.eq), ("Less", yingshe.lt),
                 ("LessOrEqual", yingshe.le), ("Greater", yingshe.gt),
                 ("GreaterOrEqual", yingshe.ge), ("And", yingshe.logical_and),
                 ("Or", yingshe.logical_or), ("Xor", yingshe.logical_xor),
                 ("BitwiseAnd", yingshe.bitwise_and), ("BitwiseOr", yingshe.bitwise_or),
                 ("BitwiseXor", yingshe.bitwise_xor)):
    imports(_op)(_binary(_fn))

for _op, _fn in (("Neg", yingshe.neg), ("Abs", yingshe.abs), ("Exp", yingshe.exp),
                 ("Log", yingshe.log), ("Sqrt", yingshe.sqrt), ("Reciprocal", yingshe.reciprocal),
                 ("Sin", yingshe.sin), ("Cos", yingshe.cos), ("Tan", yingshe.tan),
                 ("Tanh", yingshe.tanh), ("Erf", yingshe.erf), ("Sigmoid", yingshe.sigmoid),
                 ("Relu", F.relu), ("Sign", yingshe.sign), ("Floor", yingshe.floor),
                 ("Ceil", yingshe.ceil), ("Round", yingshe.round), ("Not", yingshe.logical_not),
                 ("BitwiseNot", yingshe.bitwise_not), ("IsNaN", yingshe.isnan),
                 ("Softsign", F.softsign), ("HardSwish", F.hardswish), ("Mish", F.mish)):
    imports(_op)(_unary(_fn))


@imports("Div")
def div(ctx, a, b):
    a, b = T(a), T(b)
    if a.dtype.is_floating_point:
        return a / b
    return yingshe.div(a, b, rounding_mode="trunc")   # ONNX integer division truncates


@imports("Mod", {"fmod": "i"})
def mod(ctx, a, b):
    fn = yingshe.fmod if ctx.attrs.get("fmod", 0) else yingshe.remainder
    return fn(T(a), T(b))


@imports("Atan")
def atan(ctx, x):
    x = T(x)
    return yingshe.atan2(x, yingshe.ones_like(x))


@imports("IsInf", {"detect_positive": "i", "detect_negative": "i"})
def isinf(ctx, x):
    x = T(x)
    pos, neg = ctx.attrs.get("detect_positive", 1), ctx.attrs.get("detect_negative", 1)
    inf = yingshe.isinf(x)
    if pos and neg:
        return inf
    if not pos and not neg:
        return yingshe.zeros_like(inf)
    return yingshe.logical_and(inf, x > 0 if pos else x < 0)


@imports("LeakyRelu", {"alpha": "f"})
def leaky_relu(ctx, x):
    return F.leaky_relu(T(x), ctx.attrs.get("alpha", 0.01))


@imports("Elu", {"alpha": "f"})
def elu(ctx, x):
    return F.elu(T(x), ctx.attrs.get("alpha", 1.0))


@imports("Celu", {"alpha": "f"})
def celu(ctx, x):
    return F.celu(T(x), ctx.attrs.get("alpha", 1.0))


@imports("Selu", {"alpha": "f", "gamma": "f"})
def selu(ctx, x):
    alpha = ctx.attrs.get("alpha", 1.67326319217681884765625)
    gamma = ctx.attrs.get("gamma", 1.05070102214813232421875)
    return F.elu(T(x), alpha) * gamma


@imports("HardSigmoid", {"alpha": "f", "beta": "f"})
def hard_sigmoid(ctx, x):
    a, b = ctx.attrs.get("alpha", 0.2), ctx.attrs.get("beta", 0.5)
    return yingshe.clamp(T(x) * a + b, 0.0, 1.0)


@imports("Softplus")
def softplus(ctx, x):
    return F.softplus(T(x))


@imports("ThresholdedRelu", {"alpha": "f"})
def thresholded_relu(ctx, x):
    x = T(x)
    return yingshe.where(x > ctx.attrs.get("alpha", 1.0), x, yingshe.zeros_like(x))


@imports("PRelu")
def prelu(ctx, x, slope):
    x = T(x)
    return yingshe.where(x < 0, x * T(slope), x)


@imports("Gelu", {"approximate": "s"})
def gelu(ctx, x):
    return F.gelu(T(x), approximate=ctx.attrs.get("approximate", "none"))


@imports("Clip")
def clip(ctx, x, lo=None, hi=None):
    x = T(x)
    if lo is None and hi is None:
        return x
    return yingshe.clamp(x, None if lo is None else T(lo), None if hi is None else T(hi))


def _fold(fn):
    def run(ctx, *xs):
        xs = [T(x) for x in xs if x is not None]
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return out
    return run


imports("Max")(_fold(yingshe.maximum))
imports("Min")(_fold(yingshe.minimum))
imports("Sum")(_fold(yingshe.add))


@imports("Mean")
def mean_(ctx, *xs):
    xs = [T(x) for x in xs]
    return _fold(yingshe.add)(ctx, *xs) / len(xs)


@imports("Where")
def where(ctx, c, a, b):
    return yingshe.where(T(c), T(a), T(b))


@imports("Identity")
def identity(ctx, x):
    return x


@imports("Dropout", {"seed": "i"}, outputs=2)
def dropout(ctx, x, ratio=None, training=None):
    if training is not None and scalar(ctx, training, "training_mode"):
        raise ctx.error("training_mode=True is not supported (yingshe runs ONNX models "
                        "for inference)")
    if ctx.wants(1):
        return x, yingshe.ones(*T(x).shape, dtype=yingshe.bool)
    return x


@imports("Cast", {"to": "i", "saturate": "i"})
def cast(ctx, x):
    return T(x).to(_dt(ctx, ctx.attrs.get("to")))


@imports("CastLike", {"saturate": "i"})
def cast_like(ctx, x, like):
    return T(x).to(T(like).dtype)


# ---- shapes -------------------------------------------------------------------------------------

@imports("Shape", {"start": "i", "end": "i"})
def shape(ctx, x):
    s = tuple(T(x).shape) if not isinstance(x, np.ndarray) else x.shape
    if any(d is None for d in s):
        raise ctx.error(f"the input's shape {s} is not known")
    n = len(s)
    start, end = ctx.attrs.get("start", 0), ctx.attrs.get("end", n)
    return np.asarray(s[slice(start, end)], np.int64)


@imports("Size")
def size(ctx, x):
    return np.asarray(math.prod(T(x).shape if not isinstance(x, np.ndarray) else x.shape),
                      np.int64)


@imports("Reshape", {"allowzero": "i"})
def reshape(ctx, x, shape):
    x = T(x)
    target = ints(ctx, shape, "the target shape")
    if not ctx.attrs.get("allowzero", 0):
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return x.reshape(*target)


@imports("Flatten", {"axis": "i"})
def flatten(ctx, x):
    x = T(x)
    axis = ctx.attrs.get("axis", 1)
    axis = axis % x.ndim if axis < 0 else axis
    lead = math.prod(x.shape[:axis])
    return x.reshape(lead, math.prod(x.shape[axis:]))


@imports("Transpose", {"perm": "ints"})
def transpose(ctx, x):
    x = T(x)
    perm = ctx.attrs.get("perm", list(range(x.ndim))[::-1])
    return x.permute(*perm)


@imports("Squeeze", {"axes": "ints"})
def squeeze(ctx, x, axes=None):
    x = T(x)
    a = _axes(ctx, axes, x.ndim)
    if a is None:
        a = tuple(i for i, d in enumerate(x.shape) if d == 1)
    return yingshe.squeeze(x, a) if a else x


@imports("Unsqueeze", {"axes": "ints"})
def unsqueeze(ctx, x, axes=None):
    x = T(x)
    a = ctx.attrs.get("axes") or ints(ctx, axes, "axes")
    nd = x.ndim + len(a)
    for d in sorted(_axis(ctx, v, nd) for v in a):
        x = x.unsqueeze(d)
    return x


@imports("Concat", {"axis": "i"})
def concat(ctx, *xs):
    xs = [T(x) for x in xs if x is not None]
    return yingshe.cat(xs, _axis(ctx, ctx.attrs.get("axis"), xs[0].ndim))


@imports("Split", {"axis": "i", "split": "ints", "num_outputs": "i"}, outputs=1 << 16)
def split(ctx, x, sizes=None):
    x = T(x)
    axis = _axis(ctx, ctx.attrs.get("axis", 0), x.ndim)
    n = x.shape[axis]
    s = ctx.attrs.get("split") or ints(ctx, sizes, "split")
    if s is None:
        k = ctx.attrs.get("num_outputs", ctx.n_out)
        size = -(-n // k)
        s = [size] * (n // size) + ([n % size] if n % size else [])
    return tuple(yingshe.split(x, list(s), axis))


def _slice_key(ctx, x, starts, ends, axes, steps):
    key = [slice(None)] * x.ndim
    starts, ends = ints(ctx, starts, "starts"), ints(ctx, ends, "ends")
    axes = ints(ctx, axes, "axes") if axes is not None else list(range(len(starts)))
    steps = ints(ctx, steps, "steps") if steps is not None else [1] * len(starts)
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise ctx.error("a slice step of 0")
        key[_axis(ctx, a, x.ndim)] = slice(s, e, st)
    return tuple(key)


@imports("Slice")
def slice_(ctx, x, starts, ends, axes=None, steps=None):
    x = T(x)
    key = _slice_key(ctx, x, starts, ends, axes, steps)
    if all(k.step is None or k.step > 0 for k in key):
        return x[key]
    # negative steps: a flip of the positively stepped slice (PyTorch has no negative step)
    out = x
    for d, k in enumerate(key):
        if k.step is not None and k.step < 0:
            idx = np.arange(x.shape[d])[k]
            out = yingshe.index_select(out, d, T(idx.astype(np.int64)))
        elif k != slice(None):
            out = out[(slice(None),) * d + (k,)]
    return out


@imports("Expand")
def expand(ctx, x, shape):
    x = T(x)
    target = ints(ctx, shape, "the target shape")
    nd = max(len(target), x.ndim)
    a = [1] * (nd - x.ndim) + list(x.shape)
    b = [1] * (nd - len(target)) + target
    out = []
    for p, q in zip(a, b):
        if p != q and p != 1 and q != 1:
            raise ctx.error(f"cannot broadcast {tuple(x.shape)} to {tuple(target)}")
        out.append(max(p, q) if p != 1 and q != 1 else (q if p == 1 else p))
    _check_size(ctx, out, "Expand")
    if nd > x.ndim:
        x = x.reshape(*a)
    return x.expand(*out)


@imports("Tile")
def tile(ctx, x, reps):
    x = T(x)
    r = ints(ctx, reps, "repeats")
    _check_size(ctx, [d * k for d, k in zip(x.shape, r)], "Tile")
    return x.repeat(*r)


@imports("ConstantOfShape", {"value": "t"})
def constant_of_shape(ctx, shape):
    s = ints(ctx, shape, "the shape")
    _check_size(ctx, s, "ConstantOfShape")
    value = ctx.attrs.get("value")
    if value is None:
        value = np.zeros(1, np.float32)
    return np.full(s, value.reshape(-1)[0], value.dtype)


@imports("Range")
def range_(ctx, start, limit, delta):
    a, b, d = (scalar(ctx, v, n) for v, n in ((start, "start"), (limit, "limit"),
                                               (delta, "delta")))
    if d == 0:
        raise ctx.error("Range with delta 0")
    n = max(int(math.ceil((b - a) / d)), 0)
    _check_size(ctx, [n], "Range")
    dt = np.asarray(start).dtype if isinstance(start, np.ndarray) else T(start).dtype.np
    return (a + d * np.arange(n)).astype(dt)


@imports("Constant", {"value": "t", "value_float": "f", "value_floats": "floats",
                      "value_int": "i", "value_ints": "ints"})
def constant(ctx):
    a = ctx.attrs
    if len(a.values) != 1:
        raise ctx.error("a Constant needs exactly one value attribute")
    if "value" in a:
        return a.get("value")
    if "value_float" in a:
        return np.asarray(a.get("value_float"), np.float32)
    if "value_floats" in a:
        return np.asarray(a.get("value_floats"), np.float32)
    if "value_int" in a:
        return np.asarray(a.get("value_int"), np.int64)
    return np.asarray(a.get("value_ints"), np.int64)


# ---- indexing -----------------------------------------------------------------------------------

def _nonneg(idx: Tensor, n: int) -> Tensor:
    return yingshe.where(idx < 0, idx + n, idx)


@imports("Gather", {"axis": "i"})
def gather(ctx, x, idx):
    x = T(x)
    axis = _axis(ctx, ctx.attrs.get("axis", 0), x.ndim)
    if isinstance(idx, np.ndarray) and idx.ndim == 0:     # one position: a view
        return x[(slice(None),) * axis + (int(idx),)]
    return x[(slice(None),) * axis + (T(idx).to(yingshe.int64),)]


@imports("GatherElements", {"axis": "i"})
def gather_elements(ctx, x, idx):
    x = T(x)
    axis = _axis(ctx, ctx.attrs.get("axis", 0), x.ndim)
    return yingshe.gather(x, axis, _nonneg(T(idx).to(yingshe.int64), x.shape[axis]))


@imports("GatherND", {"batch_dims": "i"})
def gather_nd(ctx, x, idx):
    if ctx.attrs.get("batch_dims", 0):
        raise ctx.error("batch_dims != 0 is not supported")
    x, idx = T(x), T(idx).to(yingshe.int64)
    k = idx.shape[-1]
    return x[tuple(idx[..., j] for j in range(k))]


@imports("ScatterElements", {"axis": "i", "reduction": "s"})
def scatter_elements(ctx, x, idx, upd):
    x = T(x)
    axis = _axis(ctx, ctx.attrs.get("axis", 0), x.ndim)
    idx = _nonneg(T(idx).to(yingshe.int64), x.shape[axis])
    red = ctx.attrs.get("reduction", "none")
    if red == "none":
        return yingshe.scatter(x, axis, idx, T(upd))
    if red == "add":
        return yingshe.scatter_add(x, axis, idx, T(upd))
    raise ctx.error(f"reduction {red!r} is not supported (none, add)")


@imports("ScatterND", {"reduction": "s"})
def scatter_nd(ctx, x, idx, upd):
    red = ctx.attrs.get("reduction", "none")
    if red not in ("none", "add"):
        raise ctx.error(f"reduction {red!r} is not supported (none, add)")
    x, idx = T(x), T(idx).to(yingshe.int64)
    k = idx.shape[-1]
    return yingshe.index_put(x, tuple(idx[..., j] for j in range(k)), T(upd),
                             accumulate=red == "add")


@imports("Trilu", {"upper": "i"})
def trilu(ctx, x, k=None):
    d = 0 if k is None else int(scalar(ctx, k, "k"))
    return (yingshe.triu if ctx.attrs.get("upper", 1) else yingshe.tril)(T(x), d)


@imports("OneHot", {"axis": "i"})
def one_hot(ctx, idx, depth, values):
    n = int(scalar(ctx, depth, "depth"))
    idx = T(idx).to(yingshe.int64)
    _check_size(ctx, list(idx.shape) + [n], "OneHot")
    idx = yingshe.where(idx < 0, idx + n, idx)
    hot = yingshe.one_hot(idx, n)
    v = T(values)
    off, on = v[0], v[1]
    out = yingshe.where(hot == 1, on, off)
    axis = ctx.attrs.get("axis", -1)
    if axis != -1:
        out = yingshe.movedim(out, -1, _axis(ctx, axis, out.ndim))
    return out


@imports("Pad", {"mode": "s"})
def pad(ctx, x, pads, value=None, axes=None):
    x = T(x)
    p = ints(ctx, pads, "pads")
    ax = ints(ctx, axes, "axes") if axes is not None else list(range(x.ndim))
    ax = [_axis(ctx, a, x.ndim) for a in ax]
    if len(p) != 2 * len(ax):
        raise ctx.error(f"pads has {len(p)} values for {len(ax)} axes")
    begin, end = p[:len(ax)], p[len(ax):]
    full = [(0, 0)] * x.ndim
    for a, b0, e0 in zip(ax, begin, end):
        full[a] = (b0, e0)
    _check_size(ctx, [max(n + b0 + e0, 0) for n, (b0, e0) in zip(x.shape, full)], "Pad")
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
            "wrap": "circular"}.get(ctx.attrs.get("mode", "constant"))
    if mode is None:
        raise ctx.error(f"pad mode {ctx.attrs.get('mode')!r} is not supported")
    v = 0.0 if value is None else scalar(ctx, value, "the pad value")
    return apply(REGISTRY["pad"], x, pads=tuple(full), mode=mode,
                 value=float(v) if mode == "constant" else 0.0)


# ---- reductions ---------------------------------------------------------------------------------

def _reduce(fn_name: str):
    def run(ctx, x, axes=None):
        x = T(x)
        a = _axes(ctx, axes, x.ndim)
        keep = bool(ctx.attrs.get("keepdims", 1))
        if a is None or a == ():
            if ctx.attrs.get("noop_with_empty_axes", 0):
                return x
            a = tuple(range(x.ndim))
        if fn_name in _EMPTY and any(x.shape[d] == 0 for d in a):
            # ONNX reduces nothing to the reduction's identity (yingshe, as PyTorch, refuses)
            shape = [1 if d in a else n for d, n in enumerate(x.shape) if keep or d not in a]
            return np.full(shape, _EMPTY[fn_name](x.dtype.np), x.dtype.np)
        return _REDUCERS[fn_name](x, a, keep)
    return run


def _extreme_of(dt, sign):
    return sign * np.inf if dt.kind == "f" else (np.iinfo(dt).max if sign > 0 else
                                                 np.iinfo(dt).min)


_EMPTY = {"ReduceMin": lambda dt: _extreme_of(dt, 1), "ReduceMax": lambda dt: _extreme_of(dt, -1)}


_REDUCERS = {
    "ReduceSum": lambda x, a, k: yingshe.sum(x, a, keepdim=k),
    "ReduceMean": lambda x, a, k: yingshe.mean(x, a, keepdim=k),
    "ReduceMax": lambda x, a, k: yingshe.amax(x, a, keepdim=k),
    "ReduceMin": lambda x, a, k: yingshe.amin(x, a, keepdim=k),
    "ReduceProd": lambda x, a, k: yingshe.prod(x, a, keepdim=k) if len(a) == 1 else
    yingshe.prod(x.reshape(*[d for i, d in enumerate(x.shape) if i not in a], -1)
                 if not k else x, -1 if not k else a[0], keepdim=k),
    "ReduceL1": lambda x, a, k: yingshe.sum(yingshe.abs(x), a, keepdim=k),
    "ReduceL2": lambda x, a, k: yingshe.sqrt(yingshe.sum(x * x, a, keepdim=k)),
    "ReduceSumSquare": lambda x, a, k: yingshe.sum(x * x, a, keepdim=k),
    "ReduceLogSumExp": lambda x, a, k: yingshe.logsumexp(x, a, keepdim=k),
}
for _op in _REDUCERS:
    imports(_op, {"keepdims": "i", "noop_with_empty_axes": "i", "axes": "ints"})(_reduce(_op))


def _arg(fn):
    def run(ctx, x):
        if ctx.attrs.get("select_last_index", 0):
            raise ctx.error("select_last_index=1 is not supported")
        x = T(x)
        axis = _axis(ctx, ctx.attrs.get("axis", 0), x.ndim)
        return fn(x, axis, keepdim=bool(ctx.attrs.get("keepdims", 1)))
    return run


imports("ArgMax", {"axis": "i", "keepdims": "i", "select_last_index": "i"})(_arg(yingshe.argmax))
imports("ArgMin", {"axis": "i", "keepdims": "i", "select_last_index": "i"})(_arg(yingshe.argmin))


@imports("TopK", {"axis": "i", "largest": "i", "sorted": "i"}, outputs=2)
def topk(ctx, x, k):
    x = T(x)
    axis = _axis(ctx, ctx.attrs.get("axis", -1), x.ndim)
    v, i = yingshe.topk(x, int(scalar(ctx, k, "k")), axis,
                        largest=bool(ctx.attrs.get("largest", 1)))
    return v, i


@imports("CumSum", {"exclusive": "i", "reverse": "i"})
def cumsum(ctx, x, axis):
    if ctx.attrs.get("exclusive", 0):
        raise ctx.error("exclusive=1 is not supported")
    x = T(x)
    d = _axis(ctx, int(scalar(ctx, axis, "axis")), x.ndim)
    return apply(REGISTRY["cumsum"], x, dim=d, dtype=x.dtype,
                 reverse=bool(ctx.attrs.get("reverse", 0)))


@imports("Einsum", {"equation": "s"})
def einsum(ctx, *xs):
    return yingshe.einsum(ctx.attrs.get("equation"), *[T(x) for x in xs])


# ---- linear algebra and layers ------------------------------------------------------------------

@imports("MatMul")
def matmul(ctx, a, b):
    return yingshe.matmul(T(a), T(b))


@imports("Gemm", {"alpha": "f", "beta": "f", "transA": "i", "transB": "i"})
def gemm(ctx, a, b, c=None):
    a, b = T(a), T(b)
    alpha, beta = ctx.attrs.get("alpha", 1.0), ctx.attrs.get("beta", 1.0)
    if ctx.attrs.get("transA", 0):
        a = a.t()
    if ctx.attrs.get("transB", 0) and alpha == 1 and (c is None or (beta == 1 and T(c).ndim <= 1)):
        return F.linear(a, b, None if c is None else T(c))    # the layer's own op
    if ctx.attrs.get("transB", 0):
        b = b.t()
    y = yingshe.matmul(a, b)
    if alpha != 1:
        y = y * alpha
    if c is not None:
        y = y + (T(c) * beta if beta != 1 else T(c))
    return y


def _spatial(ctx, x, what: str) -> int:
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise ctx.error(f"{what} over {nd} spatial dims is not supported (1, 2 or 3)")
    return nd


def _pads(ctx, nd: int, x, kernel, strides, dilations, transposed=False):
    """((begin, end), ...) per spatial dim from ``pads`` or ``auto_pad``."""
    auto = ctx.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", "VALID"):
        p = ctx.attrs.get("pads", [0] * 2 * nd) if auto == "NOTSET" else [0] * 2 * nd
        return tuple((p[i], p[i + nd]) for i in range(nd))
    if auto not in ("SAME_UPPER", "SAME_LOWER") or transposed:
        raise ctx.error(f"auto_pad={auto!r} is not supported")
    out = []
    for i in range(nd):
        n = x.shape[2 + i]
        o = -(-n // strides[i])
        total = max((o - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - n, 0)
        lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
        out.append((lo, total - lo))
    return tuple(out)


def _as_2d(x: Tensor, nd: int):
    """1-d spatial inputs run as 2-d with a height of 1 (as yingshe's conv1d does)."""
    return x.unsqueeze(2) if nd == 1 else x


_CONV_ATTRS = {"auto_pad": "s", "dilations": "ints", "group": "i", "kernel_shape": "ints",
               "pads": "ints", "strides": "ints"}


def _conv_setup(ctx, x, w, transposed: bool):
    """(x, w, spatial dims, kernel, strides, dilations, pads) of a Conv/ConvTranspose."""
    x, w = T(x), T(w)
    nd = _spatial(ctx, x, ctx.node.op)
    k = list(w.shape[2:])
    s = ctx.attrs.get("strides", [1] * nd)
    d = ctx.attrs.get("dilations", [1] * nd)
    return x, w, nd, k, s, d, _pads(ctx, nd, x, k, s, d, transposed=transposed)


@imports("Conv", _CONV_ATTRS)
def conv(ctx, x, w, b=None):
    x, w, nd, k, s, d, pads = _conv_setup(ctx, x, w, False)
    if nd == 1:
        x, w = _as_2d(x, 1), _as_2d(w, 1)
        s, d, pads = [1] + s, [1] + d, ((0, 0),) + pads
    op = REGISTRY["conv3d" if nd == 3 else "conv2d"]
    args = (x, w) if b is None else (x, w, T(b))
    y = apply(op, *args, stride=tuple(s), padding=pads, dilation=tuple(d),
              groups=ctx.attrs.get("group", 1))
    return y.squeeze(2) if nd == 1 else y


@imports("ConvTranspose", {**_CONV_ATTRS, "output_padding": "ints", "output_shape": "ints"})
def conv_transpose(ctx, x, w, b=None):
    x, w, nd, k, s, d, pads = _conv_setup(ctx, x, w, True)
    op_ = ctx.attrs.get("output_padding", [0] * nd)
    full = [(x.shape[2 + i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 + op_[i] for i in range(nd)]
    if "output_shape" in ctx.attrs:
        want = ctx.attrs.get("output_shape")[-nd:]
        pads = []
        for i in range(nd):
            total = full[i] - want[i]
            if total < 0:
                raise ctx.error(f"output_shape {want} is larger than the full output {full}")
            pads.append((total // 2, total - total // 2))   # ONNX's default: SAME_UPPER-like
        pads = tuple(pads)
    out = [full[i] - pads[i][0] - pads[i][1] for i in range(nd)]
    _check_size(ctx, [x.shape[0], w.shape[1] * ctx.attrs.get("group", 1)] + out,
                "ConvTranspose")
    if nd == 1:
        x, w = _as_2d(x, 1), _as_2d(w, 1)
        s, d, pads, out = [1] + s, [1] + d, ((0, 0),) + pads, [1] + out
    op = REGISTRY["conv_transpose3d" if nd == 3 else "conv_transpose2d"]
    size = "out_dhw" if nd == 3 else "out_hw"
    args = (x, w) if b is None else (x, w, T(b))
    y = apply(op, *args, stride=tuple(s), padding=pads, dilation=tuple(d),
              groups=ctx.attrs.get("group", 1), **{size: tuple(out)})
    return y.squeeze(2) if nd == 1 else y


_POOL_ATTRS = {"auto_pad": "s", "ceil_mode": "i", "kernel_shape": "ints", "pads": "ints",
               "strides": "ints", "dilations": "ints", "storage_order": "i",
               "count_include_pad": "i"}


def _pool_out(n, k, s, p0, p1, d, ceil):
    span = (k - 1) * d + 1
    num = n + p0 + p1 - span
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= n + p0:     # a last window starting in the end padding
        o -= 1
    return o


def _pool_setup(ctx, x):
    nd = _spatial(ctx, x, ctx.node.op)
    k = ctx.attrs.get("kernel_shape")
    if k is None or len(k) != nd:
        raise ctx.error("kernel_shape must give one size per spatial dim")
    s = ctx.attrs.get("strides", [1] * nd)
    d = ctx.attrs.get("dilations", [1] * nd)
    pads = _pads(ctx, nd, x, k, s, d)
    ceil = bool(ctx.attrs.get("ceil_mode", 0))
    out = [_pool_out(x.shape[2 + i], k[i], s[i], *pads[i], d[i], ceil) for i in range(nd)]
    # explicit padding that makes every window fit: (begin, end) per dim
    full = tuple((pads[i][0], max((out[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1
                                  - x.shape[2 + i] - pads[i][0], 0)) for i in range(nd))
    return nd, k, s, d, full, out


def _padded(x, nd, full, value):
    if not any(a or b for a, b in full):
        return x
    pads = ((0, 0), (0, 0)) + tuple(full)
    return apply(REGISTRY["pad"], x, pads=pads, mode="constant", value=value)


@imports("MaxPool", _POOL_ATTRS, outputs=2)
def max_pool(ctx, x):
    x = T(x)
    if ctx.attrs.get("storage_order", 0):
        raise ctx.error("storage_order=1 is not supported")
    nd, k, s, d, full, out = _pool_setup(ctx, x)
    sym = all(a == b for a, b in full)
    xin = x if sym else _padded(x, nd, full, -math.inf)
    pad = tuple(a for a, _ in full) if sym else (0,) * nd
    xin, kk, ss, dd, pp = (_as_2d(xin, 1), [1] + k, [1] + s, [1] + d, (0,) + pad) \
        if nd == 1 else (xin, k, s, d, pad)
    name = ("max_pool3d" if nd == 3 else "max_pool2d") + ("_with_indices" if ctx.wants(1)
                                                           else "")
    res = apply(REGISTRY[name], xin, kernel_size=tuple(kk), stride=tuple(ss),
                padding=tuple(pp), dilation=tuple(dd), ceil_mode=False)
    vals = res[0].squeeze(2) if nd == 1 else res[0]
    if not ctx.wants(1):
        return vals
    idx = res[1].squeeze(2) if nd == 1 else res[1]
    if not sym:     # positions in the padded plane -> positions in the input's plane
        padded = [x.shape[2 + i] + full[i][0] + full[i][1] for i in range(nd)]
        flat, rest = None, idx
        for i in reversed(range(nd)):
            coord = yingshe.remainder(rest, padded[i]) - full[i][0]
            rest = yingshe.div(rest, padded[i], rounding_mode="floor")
            stride = math.prod(x.shape[3 + i:])
            flat = coord * stride if flat is None else flat + coord * stride
        idx = flat
    # ONNX counts indices over the whole tensor (N, C, spatial...), yingshe per plane
    plane = math.prod(x.shape[2:])
    base = yingshe.arange(x.shape[0] * x.shape[1], dtype=yingshe.int64) * plane
    base = base.reshape(x.shape[0], x.shape[1], *([1] * nd))
    return vals, idx + base


@imports("AveragePool", _POOL_ATTRS)
def average_pool(ctx, x):
    x = T(x)
    nd, k, s, d, full, out = _pool_setup(ctx, x)
    if any(v != 1 for v in d):
        raise ctx.error("dilated average pooling is not supported")
    include = bool(ctx.attrs.get("count_include_pad", 0))
    sym = all(a == b for a, b in full)
    op = REGISTRY["avg_pool3d" if nd == 3 else "avg_pool2d"]

    def pool(t, pad, count):
        t2, kk, ss, pp = (_as_2d(t, 1), [1] + k, [1] + s, (0,) + pad) if nd == 1 else \
            (t, k, s, pad)
        y = apply(op, t2, kernel_size=tuple(kk), stride=tuple(ss), padding=tuple(pp),
                  ceil_mode=False, count_include_pad=count, divisor_override=None)
        return y.squeeze(2) if nd == 1 else y

    if sym:
        return pool(x, tuple(a for a, _ in full), include)
    # asymmetric: sums over explicitly padded windows, divided by ONNX's count
    area = math.prod(k)
    sums = pool(_padded(x, nd, full, 0.0), (0,) * nd, True) * area
    ones = yingshe.ones(1, 1, *x.shape[2:], dtype=x.dtype)
    count = pool(_padded(ones, nd, full, 1.0 if include else 0.0), (0,) * nd, True) * area
    return sums / count


def _global(fn):
    def run(ctx, x):
        x = T(x)
        return fn(x, tuple(range(2, x.ndim)), keepdim=True)
    return run


imports("GlobalAveragePool")(_global(yingshe.mean))
imports("GlobalMaxPool")(_global(yingshe.amax))


_RESIZE_ATTRS = {"mode": "s", "coordinate_transformation_mode": "s", "nearest_mode": "s",
                 "cubic_coeff_a": "f", "exclude_outside": "i", "extrapolation_value": "f",
                 "antialias": "i", "axes": "ints", "keep_aspect_ratio_policy": "s"}


def _source_coords(ctx, n_in: int, n_out: int, scale: float) -> np.ndarray:
    """ONNX's coordinate transformation: the input position of each output position."""
    x = np.arange(n_out, dtype=np.float64)
    mode = ctx.attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if n_out > 1 else np.zeros(n_out)
    if mode == "align_corners":
        return x * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
    if mode == "asymmetric":
        return x / scale
    raise ctx.error(f"coordinate_transformation_mode={mode!r} is not supported (half_pixel, "
                    "pytorch_half_pixel, align_corners, asymmetric)")


@imports("Resize", _RESIZE_ATTRS)
def resize(ctx, x, roi=None, scales=None, sizes=None):
    a = ctx.attrs
    for name, ok in (("exclude_outside", 0), ("antialias", 0)):
        if a.get(name, 0) != ok:
            raise ctx.error(f"{name}={a.get(name)} is not supported")
    if a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise ctx.error("keep_aspect_ratio_policy other than 'stretch' is not supported")
    mode = a.get("mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise ctx.error(f"mode={mode!r} is not supported (nearest, linear)")
    x = T(x)
    axes = [_axis(ctx, v, x.ndim) for v in a.get("axes", range(x.ndim))]
    sc = values(ctx, scales, "scales").reshape(-1).tolist() if scales is not None else None
    sc = sc or None     # an empty scales input means sizes are given
    sz = ints(ctx, sizes, "sizes") if sizes is not None else None
    if (sc is None) == (sz is None):
        raise ctx.error("exactly one of scales and sizes must be given")
    out = x
    for k, d in enumerate(axes):
        n_in = x.shape[d]
        n_out = sz[k] if sz is not None else int(math.floor(n_in * sc[k]))
        scale = n_out / n_in if sz is not None else sc[k]
        if n_out == n_in and scale == 1.0:
            continue
        _check_size(ctx, [n_out, n_in], "Resize")
        src = _source_coords(ctx, n_in, n_out, scale)
        if mode == "nearest":
            nm = a.get("nearest_mode", "round_prefer_floor")
            pick = {"round_prefer_floor": lambda v: np.ceil(v - 0.5),
                    "round_prefer_ceil": lambda v: np.floor(v + 0.5),
                    "floor": np.floor, "ceil": np.ceil}.get(nm)
            if pick is None:
                raise ctx.error(f"nearest_mode={nm!r} is not supported")
            idx = np.clip(pick(src), 0, n_in - 1).astype(np.int64)
            out = yingshe.index_select(out, d, T(idx))
        else:
            src = np.clip(src, 0, n_in - 1)
            i0 = np.floor(src).astype(np.int64)
            i1 = np.minimum(i0 + 1, n_in - 1)
            w = np.zeros((n_out, n_in), np.float64)
            np.add.at(w, (np.arange(n_out), i0), 1 - (src - i0))
            np.add.at(w, (np.arange(n_out), i1), src - i0)
            moved = yingshe.movedim(out, d, -1)
            out = yingshe.movedim(yingshe.matmul(moved, T(w.T.astype(x.dtype.np))), -1, d)
    return out


def _norm(x, axes, scale, bias, eps):
    mean, var = apply(REGISTRY["norm_moments"], x, dim=tuple(axes))
    wb = tuple(t for t in (scale, bias) if t is not None)
    return apply(REGISTRY["norm_apply"], x, mean, var, *wb, eps=float(eps),
                 affine=(scale is not None, bias is not None))[0]


@imports("BatchNormalization", {"epsilon": "f", "momentum": "f", "training_mode": "i"})
def batch_norm(ctx, x, scale, bias, mean, var):
    if ctx.attrs.get("training_mode", 0) or ctx.n_out > 1:
        raise ctx.error("training_mode is not supported (inference only)")
    return F.batch_norm(T(x), T(mean), T(var), T(scale), T(bias), training=False,
                        eps=ctx.attrs.get("epsilon", 1e-5))


@imports("LayerNormalization", {"axis": "i", "epsilon": "f", "stash_type": "i"}, outputs=3)
def layer_norm(ctx, x, scale, bias=None):
    if ctx.wants(1) or ctx.wants(2):
        raise ctx.error("the mean and inverse deviation outputs are not supported")
    x = T(x)
    axis = _axis(ctx, ctx.attrs.get("axis", -1), x.ndim)
    return _norm(x, range(axis, x.ndim), T(scale), None if bias is None else T(bias),
                 ctx.attrs.get("epsilon", 1e-5))


@imports("InstanceNormalization", {"epsilon": "f"})
def instance_norm(ctx, x, scale, bias):
    x = T(x)
    shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    return _norm(x, range(2, x.ndim), T(scale).reshape(*shape), T(bias).reshape(*shape),
                 ctx.attrs.get("epsilon", 1e-5))


@imports("Softmax", {"axis": "i"})
def softmax(ctx, x):
    x = T(x)
    return yingshe.softmax(x, _axis(ctx, ctx.attrs.get("axis", -1), x.ndim))


@imports("LogSoftmax", {"axis": "i"})
def log_softmax(ctx, x):
    x = T(x)
    return yingshe.log_softmax(x, _axis(ctx, ctx.attrs.get("axis", -1), x.ndim))


@imports("NegativeLogLikelihoodLoss", {"reduction": "s", "ignore_index": "i"})
def nll_loss(ctx, x, target, weight=None):
    return F.nll_loss(T(x), T(target).to(yingshe.int64), None if weight is None else T(weight),
                      ignore_index=ctx.attrs.get("ignore_index", -100),
                      reduction=ctx.attrs.get("reduction", "mean"))


# ---- recurrent layers ---------------------------------------------------------------------------

_RNN_ATTRS = {"activations": "strings", "activation_alpha": "floats",
              "activation_beta": "floats", "clip": "f", "direction": "s", "hidden_size": "i",
              "layout": "i"}
_TO_TORCH = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}   # ONNX gate blocks


def _gates(t: Tensor, order, H: int) -> Tensor:
    """Blocks of H rows of ``t`` in PyTorch's gate order."""
    if len(order) == 1:
        return t
    return yingshe.cat([t[g * H:(g + 1) * H] for g in order], 0)


def _recurrent(ctx, kind: str, x, W, R, B, seq_lens, h0, c0=None):
    a = ctx.attrs
    if seq_lens is not None:
        lens = ints(ctx, seq_lens, "sequence_lens")
        if len(set(lens)) > 1:
            raise ctx.error("sequences of different lengths (sequence_lens) are not supported")
    if "clip" in a or a.get("activation_alpha") or a.get("activation_beta"):
        raise ctx.error("clip and activation parameters are not supported")
    default = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
               "RNN": ["Tanh"]}[kind]
    direction = a.get("direction", "forward")
    D = 2 if direction == "bidirectional" else 1
    acts = a.get("activations", default * D)
    nl = "tanh"
    if kind == "RNN" and acts and acts[0].lower() == "relu":
        nl = "relu"
    elif [s.lower() for s in acts] != [s.lower() for s in default * D]:
        raise ctx.error(f"activations {acts} are not supported (default ones only)")
    x, W, R = T(x), T(W), T(R)
    if a.get("layout", 0):
        x = x.transpose(0, 1)
    H = a.get("hidden_size") or R.shape[-1]
    G = len(_TO_TORCH[kind])
    order = _TO_TORCH[kind]
    N = x.shape[1]
    outs, hs, cs = [], [], []
    from yingshe.ops import rnn as _rnn
    for d in range(D):
        w_ih, w_hh = _gates(W[d], order, H), _gates(R[d], order, H)
        if B is not None:
            b = T(B)[d]
            b_ih, b_hh = _gates(b[:G * H], order, H), _gates(b[G * H:], order, H)
        else:
            b_ih = b_hh = None
        hd = T(h0)[d] if h0 is not None else yingshe.zeros(N, H, dtype=x.dtype)
        rev = direction == "reverse" or d == 1
        if kind == "GRU":
            if not ctx.attrs.get("linear_before_reset", 0):
                raise ctx.error("linear_before_reset=0 is not supported (PyTorch's GRU, "
                                "which yingshe runs, is linear_before_reset=1)")
            out, hn = _rnn.gru_layer(F.linear(x, w_ih, b_ih), hd, w_hh, b_hh, rev, False)
        else:
            bias = None if b_ih is None else b_ih + b_hh
            xg = F.linear(x, w_ih, bias)
            if kind == "LSTM":
                cd = T(c0)[d] if c0 is not None else yingshe.zeros(N, H, dtype=x.dtype)
                out, hn, cn = _rnn.lstm_layer(xg, hd, cd, w_hh, rev, False)
                cs.append(cn)
            else:
                out, hn = _rnn.rnn_layer(xg, hd, w_hh, nl, rev, False)
        outs.append(out.unsqueeze(1))
        hs.append(hn.unsqueeze(0))
    y = outs[0] if D == 1 else yingshe.cat(outs, 1)      # (T, D, N, H)
    yh = hs[0] if D == 1 else yingshe.cat(hs, 0)        # (D, N, H)
    yc = None if not cs else (cs[0].unsqueeze(0) if D == 1 else
                              yingshe.cat([c.unsqueeze(0) for c in cs], 0))
    if a.get("layout", 0):
        y = y.permute(2, 0, 1, 3)
        yh = yh.transpose(0, 1)
        yc = None if yc is None else yc.transpose(0, 1)
    return (y, yh) if kind != "LSTM" else (y, yh, yc)


@imports("LSTM", {**_RNN_ATTRS, "input_forget": "i"}, outputs=3)
def lstm(ctx, x, W, R, B=None, seq_lens=None, h0=None, c0=None, P=None):
    if P is not None or ctx.attrs.get("input_forget", 0):
        raise ctx.error("peepholes and input_forget are not supported")
    return _recurrent(ctx, "LSTM", x, W, R, B, seq_lens, h0, c0)


@imports("GRU", {**_RNN_ATTRS, "linear_before_reset": "i"}, outputs=2)
def gru(ctx, x, W, R, B=None, seq_lens=None, h0=None):
    return _recurrent(ctx, "GRU", x, W, R, B, seq_lens, h0)


@imports("RNN", _RNN_ATTRS, outputs=2)
def rnn(ctx, x, W, R, B=None, seq_lens=None, h0=None):
    return _recurrent(ctx, "RNN", x, W, R, B, seq_lens, h0)



