"""ONNX mappings of the elementwise ops: arithmetic, unary maths, activations,
comparisons, logical and bitwise ops, selection.

Inputs are cast to the dtype the op computes in (its output's for arithmetic; NumPy's
promotion of the inputs for comparisons, as the eager forward does), since ONNX ops
take operands of one type. Python numbers become constants of that type.
"""

from __future__ import annotations

import math

import numpy as np

from yingshe import _dtype
from yingshe.onnx._export import Call, exports
from yingshe.onnx._common import to_onnx_dtype


def compute_dtype(c: Call, *idx: int) -> _dtype.dtype:
    """The dtype NumPy computes ``forward`` in for inputs ``idx`` (all by default)."""
    idx = idx or tuple(range(len(c.inputs)))
    ops = []
    for i in idx:
        x = c.node.inputs[i]
        if c.is_tensor(i):
            ops.append(x.dtype.np)
        elif x is not None:
            ops.append(x)
    return _dtype.from_numpy_dtype(np.result_type(*ops))


def _unary(onnx_op: str):
    def emit(c: Call):
        return c.b.op(onnx_op, [c.val(0, c.out_dtype())])
    emit.__name__ = f"emit_{onnx_op.lower()}"
    emit.__doc__ = onnx_op
    return emit


def _binary(onnx_op: str):
    def emit(c: Call):
        dt = c.out_dtype()
        return c.b.op(onnx_op, [c.val(0, dt), c.val(1, dt)])
    emit.__name__ = f"emit_{onnx_op.lower()}"
    emit.__doc__ = onnx_op
    return emit


for _name, _onnx in (("add", "Add"), ("sub", "Sub"), ("mul", "Mul"), ("div", "Div"),
                     ("maximum", "Max"), ("minimum", "Min")):
    exports(_name)(_binary(_onnx))

for _name, _onnx in (("neg", "Neg"), ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"),
                     ("reciprocal", "Reciprocal"), ("sin", "Sin"), ("cos", "Cos"),
                     ("tan", "Tan"), ("tanh", "Tanh"), ("erf", "Erf"), ("sigmoid", "Sigmoid"),
                     ("abs", "Abs")):
    exports(_name)(_unary(_onnx))


@exports("sign")
def sign(c: Call):
    """Sign (NaN gives 0, as in PyTorch; bool is its own sign)"""
    dt = c.out_dtype()
    x = c.x()
    if dt is _dtype.bool:
        return x
    out = c.b.op("Sign", [x])
    if dt.is_floating_point:
        out = c.b.op("Where", [c.b.op("IsNaN", [x]), c.b.scalar(0, dt), out])
    return out


@exports("relu")
def relu(c: Call):
    """Relu (integer tensors: Max with 0)"""
    dt = c.out_dtype()
    if dt.is_floating_point:
        return c.b.op("Relu", [c.x()])
    return c.b.op("Max", [c.x(), c.b.scalar(0, dt)])


@exports("pow")
def pow_(c: Call):
    """Pow (integers to negative powers: 1, -1 or 0, as the eager op)"""
    b, dt = c.b, c.out_dtype()
    x, y = c.val(0, dt), c.val(1, dt)
    if dt.is_floating_point or dt is _dtype.bool or not c.is_tensor(1):
        return b.op("Pow", [x, y])
    one, zero = b.scalar(1, dt), b.scalar(0, dt)
    out = b.op("Pow", [x, b.op("Max", [y, zero])])
    odd = b.op("Not", [b.op("Equal", [b.op("Mod", [y, b.scalar(2, dt)], fmod=0), zero])])
    at_neg = b.op("Where", [b.op("Equal", [x, one]), one, b.op("Where", [
        b.op("Equal", [x, b.scalar(-1, dt)]),
        b.op("Where", [odd, b.scalar(-1, dt), one]), zero])])
    return b.op("Where", [b.op("Less", [y, zero]), at_neg, out])


def _log_base(base: float):
    def emit(c: Call):
        dt = c.out_dtype()
        return c.b.op("Div", [c.b.op("Log", [c.val(0, dt)]), c.b.scalar(math.log(base), dt)])
    emit.__doc__ = "Log, Div"
    return emit


exports("log2")(_log_base(2.0))
exports("log10")(_log_base(10.0))


@exports("log1p")
def log1p(c: Call):
    """Log(1 + x) (rounds like log(1 + x), not like log1p, for |x| < 1e-7)"""
    dt = c.out_dtype()
    return c.b.op("Log", [c.b.op("Add", [c.val(0, dt), c.b.scalar(1, dt)])])


@exports("expm1")
def expm1(c: Call):
    """Exp(x) - 1"""
    dt = c.out_dtype()
    return c.b.op("Sub", [c.b.op("Exp", [c.val(0, dt)]), c.b.scalar(1, dt)])


@exports("rsqrt")
def rsqrt(c: Call):
    """Reciprocal(Sqrt)"""
    return c.b.op("Reciprocal", [c.b.op("Sqrt", [c.val(0, c.out_dtype())])])


@exports("square")
def square(c: Call):
    """Mul(x, x)"""
    x = c.val(0, c.out_dtype())
    return c.b.op("Mul", [x, x])


@exports("atan2")
def atan2(c: Call):
    """Atan(y / x) corrected by quadrant with Where"""
    dt = c.out_dtype()
    b = c.b
    y, x = c.val(0, dt), c.val(1, dt)
    zero = b.scalar(0, dt)
    base = b.op("Atan", [b.op("Div", [y, x])])
    # x < 0: add pi with the sign of y (y = +-0 keeps its sign: atan2(+-0, -1) = +-pi)
    y_neg = b.op("Or", [b.op("Less", [y, zero]),
                        b.op("And", [b.op("Equal", [y, zero]), b.op("IsInf", [
                            b.op("Div", [b.scalar(1, dt), y])], detect_positive=0)])])
    pi = b.op("Where", [y_neg, b.scalar(-math.pi, dt), b.scalar(math.pi, dt)])
    left = b.op("Add", [base, pi])
    # x = 0: +-pi/2 by the sign of y, 0 when y = 0 too (then the sign of x matters)
    half = b.op("Mul", [b.op("Sign", [y]), b.scalar(math.pi / 2, dt)])
    out = b.op("Where", [b.op("Less", [x, zero]), left, base])
    x0 = b.op("Equal", [x, zero])
    y0 = b.op("Equal", [y, zero])
    x_neg0 = b.op("IsInf", [b.op("Div", [b.scalar(1, dt), x])], detect_positive=0)
    at_origin = b.op("Where", [x_neg0, pi, b.op("Mul", [y, zero])])
    out = b.op("Where", [x0, b.op("Where", [y0, at_origin, half]), out])
    # two infinities: atan(nan) otherwise
    both_inf = b.op("And", [b.op("IsInf", [x]), b.op("IsInf", [y])])
    quarter = b.op("Mul", [b.op("Sign", [y]), b.op("Where", [
        b.op("Less", [x, zero]), b.scalar(3 * math.pi / 4, dt), b.scalar(math.pi / 4, dt)])])
    return b.op("Where", [both_inf, quarter, out])


@exports("hypot")
def hypot(c: Call):
    """Sqrt(a*a + b*b), scaled by max(|a|, |b|) against overflow"""
    dt = c.out_dtype()
    b = c.b
    x, y = b.op("Abs", [c.val(0, dt)]), b.op("Abs", [c.val(1, dt)])
    hi, lo = b.op("Max", [x, y]), b.op("Min", [x, y])
    safe = b.op("Where", [b.op("Equal", [hi, b.scalar(0, dt)]), b.scalar(1, dt), hi])
    r = b.op("Div", [lo, safe])
    out = b.op("Mul", [hi, b.op("Sqrt", [b.op("Add", [b.scalar(1, dt), b.op("Mul", [r, r])])])])
    inf = b.op("Or", [b.op("IsInf", [x]), b.op("IsInf", [y])])
    return b.op("Where", [inf, b.scalar(np.inf, dt), out])


# ---- activations --------------------------------------------------------------------------------

@exports("leaky_relu")
def leaky_relu(c: Call):
    """LeakyRelu"""
    return c.b.op("LeakyRelu", [c.x()], alpha=float(c.attrs["negative_slope"]))


@exports("elu")
def elu(c: Call):
    """Elu"""
    return c.b.op("Elu", [c.x()], alpha=float(c.attrs["alpha"]))


@exports("softplus")
def softplus(c: Call):
    """Softplus of beta*x / beta, Where beta*x > threshold"""
    b, dt = c.b, c.out_dtype()
    x = c.x()
    beta, th = c.attrs["beta"], c.attrs["threshold"]
    bx = x if beta == 1 else b.op("Mul", [x, b.scalar(beta, dt)])
    # Softplus(z) = max(z, 0) + log(1 + exp(-|z|)): no overflow for large z
    soft = b.op("Add", [b.op("Relu", [bx]), b.op("Log", [b.op("Add", [
        b.scalar(1, dt), b.op("Exp", [b.op("Neg", [b.op("Abs", [bx])])])])])])
    if beta != 1:
        soft = b.op("Div", [soft, b.scalar(beta, dt)])
    return b.op("Where", [b.op("Greater", [bx, b.scalar(th, dt)]), x, soft])


@exports("silu")
def silu(c: Call):
    """Mul(x, Sigmoid(x))"""
    x = c.x()
    return c.b.op("Mul", [x, c.b.op("Sigmoid", [x])])


@exports("gelu")
def gelu(c: Call):
    """x * 0.5 * (1 + Erf(x / sqrt 2)), or the tanh form (Gelu needs opset 20)"""
    b, dt = c.b, c.out_dtype()
    x = c.x()
    half = b.op("Mul", [x, b.scalar(0.5, dt)])
    if c.attrs["approximate"] == "tanh":
        x3 = b.op("Mul", [b.op("Mul", [x, x]), x])
        inner = b.op("Mul", [b.op("Add", [x, b.op("Mul", [x3, b.scalar(0.044715, dt)])]),
                             b.scalar(math.sqrt(2 / math.pi), dt)])
        return b.op("Mul", [half, b.op("Add", [b.scalar(1, dt), b.op("Tanh", [inner])])])
    erf = b.op("Erf", [b.op("Mul", [x, b.scalar(1 / math.sqrt(2.0), dt)])])
    return b.op("Mul", [half, b.op("Add", [b.scalar(1, dt), erf])])


@exports("hardtanh")
def hardtanh(c: Call):
    """Clip"""
    dt = c.out_dtype()
    return c.b.op("Clip", [c.x(), c.b.scalar(c.attrs["min_val"], dt),
                           c.b.scalar(c.attrs["max_val"], dt)])


@exports("clamp")
def clamp(c: Call):
    """Max and Min with the bounds (tensors or numbers)"""
    dt = c.out_dtype()
    out = c.val(0, dt)
    if c.inputs[1] is not None:
        out = c.b.op("Max", [out, c.val(1, dt)])
    if c.inputs[2] is not None:
        out = c.b.op("Min", [out, c.val(2, dt)])
    return out


# ---- rounding -----------------------------------------------------------------------------------

def _rounding(onnx_op: str):
    def emit(c: Call):
        if not c.dtype(0).is_floating_point:     # integers are their own rounding
            return c.b.op("Identity", [c.x()])
        return c.b.op(onnx_op, [c.x()])
    emit.__doc__ = onnx_op
    return emit


exports("floor")(_rounding("Floor"))
exports("ceil")(_rounding("Ceil"))


def trunc_of(b, x: str, dt) -> str:
    """x rounded toward zero: Where(x < 0, Ceil, Floor)."""
    return b.op("Where", [b.op("Less", [x, b.scalar(0, dt)]), b.op("Ceil", [x]),
                          b.op("Floor", [x])])


@exports("trunc")
def trunc(c: Call):
    """Where(x < 0, Ceil(x), Floor(x))"""
    if not c.dtype(0).is_floating_point:
        return c.b.op("Identity", [c.x()])
    return trunc_of(c.b, c.x(), c.dtype(0))


@exports("frac")
def frac(c: Call):
    """x - trunc(x)"""
    x = c.x()
    return c.b.op("Sub", [x, trunc_of(c.b, x, c.dtype(0))])


@exports("round")
def round_(c: Call):
    """Round (half to even), scaled by 10**decimals"""
    b = c.b
    if not c.dtype(0).is_floating_point:
        return b.op("Identity", [c.x()])
    d, dt = c.attrs["decimals"], c.dtype(0)
    if d == 0:
        return b.op("Round", [c.x()])
    s = b.scalar(10.0 ** abs(d), dt)
    if d > 0:
        return b.op("Div", [b.op("Round", [b.op("Mul", [c.x(), s])]), s])
    return b.op("Mul", [b.op("Round", [b.op("Div", [c.x(), s])]), s])


def floor_div(b, x: str, y: str, dt) -> str:
    """Division rounded toward -inf, for floats and integers."""
    if dt.is_floating_point:
        return b.op("Floor", [b.op("Div", [x, y])])
    # ONNX integer Div truncates: subtract one where the signs differ and it is inexact
    q = b.op("Div", [x, y])
    inexact = b.op("Not", [b.op("Equal", [b.op("Mul", [q, y]), x])])
    signs = b.op("Xor", [b.op("Less", [x, b.scalar(0, dt)]), b.op("Less", [y, b.scalar(0, dt)])])
    fix = b.op("Cast", [b.op("And", [inexact, signs])], to=to_onnx_dtype(dt))
    return b.op("Sub", [q, fix])


@exports("div_rounded")
def div_rounded(c: Call):
    """Div then Floor (rounding_mode 'floor') or toward zero ('trunc'); integer forms"""
    b, dt = c.b, c.out_dtype()
    x, y = c.val(0, dt), c.val(1, dt)
    if c.attrs["rounding_mode"] == "floor":
        return floor_div(b, x, y, dt)
    if dt.is_floating_point:
        return trunc_of(b, b.op("Div", [x, y]), dt)
    return b.op("Div", [x, y])


@exports("remainder")
def remainder(c: Call):
    """Mod (integers: fmod=0); floats: x - floor(x / y) * y"""
    b, dt = c.b, c.out_dtype()
    x, y = c.val(0, dt), c.val(1, dt)
    if not dt.is_floating_point:
        return b.op("Mod", [x, y], fmod=0)
    # NumPy's float remainder: fmod, moved into the divisor's sign when they differ
    r = b.op("Mod", [x, y], fmod=1)
    zero = b.scalar(0, dt)
    differ = b.op("And", [b.op("Not", [b.op("Equal", [r, zero])]), b.op("Xor", [
        b.op("Less", [r, zero]), b.op("Less", [y, zero])])])
    return b.op("Where", [differ, b.op("Add", [r, y]), r])


@exports("fmod")
def fmod(c: Call):
    """Mod with fmod=1"""
    dt = c.out_dtype()
    return c.b.op("Mod", [c.val(0, dt), c.val(1, dt)], fmod=1)


# ---- selection ----------------------------------------------------------------------------------

@exports("where")
def where(c: Call):
    """Where"""
    dt = c.out_dtype()
    cond = c.val(0, _dtype.bool)
    return c.b.op("Where", [cond, c.val(1, dt), c.val(2, dt)])


@exports("lerp")
def lerp(c: Call):
    """start + weight * (end - start)"""
    b, dt = c.b, c.out_dtype()
    s, e, w = c.val(0, dt), c.val(1, dt), c.val(2, dt)
    return b.op("Add", [s, b.op("Mul", [w, b.op("Sub", [e, s])])])


@exports("nan_to_num")
def nan_to_num(c: Call):
    """Where(IsNaN), Where(IsInf) with the replacement values"""
    b, dt = c.b, c.out_dtype()
    x = c.x()
    if not dt.is_floating_point:
        return b.op("Identity", [x])
    info = np.finfo(dt.np)
    nan, pos, neg = c.attrs["nan"], c.attrs["posinf"], c.attrs["neginf"]
    pos = info.max if pos is None else pos
    neg = info.min if neg is None else neg
    out = b.op("Where", [b.op("IsNaN", [x]), b.scalar(nan, dt), x])
    out = b.op("Where", [b.op("IsInf", [x], detect_negative=0), b.scalar(pos, dt), out])
    return b.op("Where", [b.op("IsInf", [x], detect_positive=0), b.scalar(neg, dt), out])


# ---- comparisons, logic, bits -------------------------------------------------------------------

def _compare(onnx_op: str, negate: bool = False):
    def emit(c: Call):
        dt = compute_dtype(c)
        out = c.b.op(onnx_op, [c.val(0, dt), c.val(1, dt)])
        return c.b.op("Not", [out]) if negate else out
    emit.__doc__ = f"Not({onnx_op})" if negate else onnx_op
    return emit


for _name, _onnx, _neg in (("eq", "Equal", False), ("ne", "Equal", True), ("lt", "Less", False),
                           ("le", "LessOrEqual", False), ("gt", "Greater", False),
                           ("ge", "GreaterOrEqual", False)):
    exports(_name)(_compare(_onnx, _neg))


def _logical(onnx_op: str):
    def emit(c: Call):
        return c.b.op(onnx_op, [c.val(i, _dtype.bool) for i in range(len(c.inputs))])
    emit.__doc__ = f"{onnx_op} (inputs cast to bool)"
    return emit


for _name, _onnx in (("logical_and", "And"), ("logical_or", "Or"), ("logical_xor", "Xor"),
                     ("logical_not", "Not")):
    exports(_name)(_logical(_onnx))


def _bitwise(onnx_op: str, bool_op: str):
    def emit(c: Call):
        dt = c.out_dtype()
        ins = [c.val(i, dt) for i in range(len(c.inputs))]
        if dt is _dtype.bool:
            return c.b.op(bool_op, ins)
        if c.b.opset < 18:
            raise c.error(f"{onnx_op} on integers needs opset 18 or later "
                          f"(exporting opset {c.b.opset})")
        return c.b.op(onnx_op, ins)
    emit.__doc__ = f"{onnx_op} (opset 18+; {bool_op} on bool)"
    return emit


for _name, _onnx, _bool in (("bitwise_and", "BitwiseAnd", "And"),
                            ("bitwise_or", "BitwiseOr", "Or"),
                            ("bitwise_xor", "BitwiseXor", "Xor"),
                            ("bitwise_not", "BitwiseNot", "Not")):
    exports(_name)(_bitwise(_onnx, _bool))


def _classify(kind: str):
    def emit(c: Call):
        b = c.b
        x = c.x()
        if not c.dtype(0).is_floating_point:   # integers: never NaN or inf, always finite
            value = kind == "isfinite"
            return b.op("Expand", [b.const(np.asarray(value)), b.shape(x)])
        if kind == "isnan":
            return b.op("IsNaN", [x])
        if kind == "isinf":
            return b.op("IsInf", [x])
        return b.op("Not", [b.op("Or", [b.op("IsNaN", [x]), b.op("IsInf", [x])])])
    emit.__doc__ = {"isnan": "IsNaN", "isinf": "IsInf",
                    "isfinite": "Not(Or(IsNaN, IsInf))"}[kind]
    return emit


for _name in ("isnan", "isinf", "isfinite"):
    exports(_name)(_classify(_name))


@exports("cast")
def cast(c: Call):
    """Cast (to bool: x != 0, as NumPy)"""
    dst, src = c.attrs["dtype"], c.dtype(0)
    if dst is src:
        return c.x()
    return c.b.op("Cast", [c.x()], to=to_onnx_dtype(dst))


@exports("clone")
def clone(c: Call):
    """(no node: the input's value)"""
    return c.x()


# ---- the graph-only helper ops (yingshe.graph.ir.GRAPH_OPS) -----------------------------------

@exports("stop_gradient")
def stop_gradient(c: Call):
    """(no node: the input's value)"""
    return c.x()


def _fill(value: int):
    def emit(c: Call):
        return c.b.op("Expand", [c.b.scalar(value, c.attrs["dtype"]), c.b.shape(c.x())])
    emit.__doc__ = "Expand of a constant to the input's shape"
    return emit


exports("ones_like")(_fill(1))
exports("zeros_like")(_fill(0))


@exports("ldexp")
def ldexp(c: Call):
    """x * 2**a * 2**b * 2**c, the exponent clamped and split in three powers that are finite"""
    # ONNX has no ldexp: 2**n alone overflows (0 * 2**200 would be NaN in float32, not 0);
    # split, each power of two is finite and non-zero, and a clamped exponent already
    # takes every finite input to 0 or inf. Exact except where two roundings into the
    # subnormal range differ from one.
    dt = c.out_dtype()
    b = c.b
    emax = int(np.finfo(dt.np).maxexp) - 1
    n = b.op("Clip", [c.val(1, _dtype.int64), b.scalar(-3 * emax, _dtype.int64),
                      b.scalar(3 * emax, _dtype.int64)])
    first = b.op("Div", [n, b.scalar(3, _dtype.int64)])          # truncated toward zero
    rest = b.op("Sub", [n, first])
    second = b.op("Div", [rest, b.scalar(2, _dtype.int64)])
    third = b.op("Sub", [rest, second])
    out = c.val(0, dt)
    for part in (first, second, third):
        power = b.op("Pow", [b.scalar(2.0, dt), b.cast(part, _dtype.int64, dt)])
        out = b.op("Mul", [out, power])
    return out
