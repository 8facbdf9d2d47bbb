"""Op-table records for the elementwise maths ops (yingshe/ops/elementwise_math.py).

References are plain NumPy (or Python's ``math``) on the same inputs; PyTorch parity,
``infer`` and finite differences come from tests/ops/test_op_db.py. Records whose
inputs are all integer or bool use ``dtypes=("float64",)`` (the dtype only names the
run) and ``fd=False``; non-differentiable ops use ``grad=()``.
"""

import math

import numpy as np

from yingshe.errors import DTypeError, ShapeError
from yingshe.testing.op_db import (
    ErrorCase, OpCase, away_from, const, gen, ints, noncontig, normal, positive, uniform,
)

INT = dict(dtypes=("float64",), fd=False)      # integer/bool inputs only
F32_FROM_INT = dict(dtypes=("float32",), fd=False)   # integer inputs, float32 result
NO_GRAD = dict(grad=(), fd=False)


def bools(*shape):
    return lambda rng: np.asarray(rng.random(shape) > 0.5)


def small_floats(*shape):
    """Floats from {-2, ..., 2}: ties for comparisons, zeros for logical ops."""
    return lambda rng: np.asarray(rng.integers(-2, 3, shape)).astype(np.float64)


def _threshold_backward(m, g, out):
    """ReLU's gradient op (internal in yingshe; ``aten.threshold_backward`` in PyTorch)."""
    if m.__name__ == "yingshe":
        from yingshe.ops._registry import apply
        from yingshe.ops.elementwise_math import ThresholdBackward
        return apply(ThresholdBackward, g, out)
    return m.ops.aten.threshold_backward(g, out, 0)


def with_zero(*shape):
    """Normal samples with exact zeros mixed in (sign, abs conventions)."""
    def make(rng):
        a = rng.standard_normal(shape)
        a[rng.random(shape) < 0.3] = 0.0
        return np.asarray(a)
    return make


def special():
    return const(np.array([0.0, -1.5, np.nan, np.inf, -np.inf, 2.0]))


def _int_pow_ref(a, b):
    # Python's a ** b for b < 0 is a float; truncation gives PyTorch's integer result
    # (1 ** -n = 1, (-1) ** -n = +-1, anything else 0); 0 ** -n is 0 in PyTorch.
    f = np.vectorize(lambda x, y: 0 if (x == 0 and y < 0) else int(x ** y), otypes=[np.int64])
    return f(a, b)


def _trunc_div_ref(a, b):
    f = np.vectorize(lambda x, y: int(x / y) if abs(x) < 2 ** 52 else 0, otypes=[np.int64])
    return f(a, b)


def _round_ref(a, decimals):
    # Python's round() on each element: half to even, exact decimal arithmetic.
    return np.vectorize(lambda x: round(float(x), decimals))(a)


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _softplus(a, beta=1.0, threshold=20.0):
    return np.where(a * beta > threshold, a, np.log1p(np.exp(a * beta)) / beta)


def _clamp(a, lo, hi):
    out = a
    if lo is not None:
        out = np.maximum(out, lo)
    if hi is not None:
        out = np.minimum(out, hi)
    return out


_erf = np.vectorize(math.erf)

CASES = [
    # ---- pow ------------------------------------------------------------------------------
    OpCase("pow", lambda m, a: a ** 2.5, gen(positive(3, 4)), lambda a: a ** 2.5),
    OpCase("pow", lambda m, a: m.pow(a, 3), gen(normal(2, 3)), lambda a: a ** 3, name="int-exp"),
    OpCase("pow", lambda m, a: a ** 0, gen(normal(3)), lambda a: a ** 0, name="zero-exp"),
    OpCase("pow", lambda m, a: 2.0 ** a, gen(normal(2, 3)), lambda a: 2.0 ** a,
           name="rscalar"),
    OpCase("pow", lambda m, a, b: a ** b, gen(positive(3, 4), normal(4)), np.power,
           name="broadcast"),
    OpCase("pow", lambda m, a, b: m.pow(a, b), gen(positive(), normal(2, 3)), np.power,
           name="0d-base"),
    OpCase("pow", lambda m, a: a ** 2.0, gen(noncontig(3, 4)), lambda a: a ** 2.0,
           name="noncontig"),
    OpCase("pow", lambda m, a, b: a ** b, gen(positive(0, 3), normal(3)), np.power,
           name="empty"),
    # PyTorch's conventions at a zero base (d/db = 0 there); finite differences would
    # straddle the branch point of (-eps) ** b.
    OpCase("pow", lambda m, a, b: a ** b,
           gen(const(np.array([0.0, 1.0, 2.0])), positive(3, low=1.5, high=3.0)), np.power,
           name="zero-base", fd=False, second_order=False),
    OpCase("pow", lambda m, a: a ** 2.5, gen(ints(1, 5, 4)), lambda a: a ** 2.5,
           name="int-float-exp", **F32_FROM_INT),
    OpCase("pow", lambda m, a: a ** 2, gen(ints(-3, 4, 5)), lambda a: a ** 2, name="int",
           **INT),
    OpCase("pow", lambda m, a, b: a ** b, gen(ints(-3, 4, 6), ints(-2, 3, 6)), _int_pow_ref,
           name="int-neg-exp", **INT),
    OpCase("pow", lambda m, a: m.float_power(a, 2), gen(normal(3)),
           lambda a: a.astype(np.float64) ** 2, name="float_power"),

    # ---- division with rounding, remainders -----------------------------------------------
    OpCase("div_rounded", lambda m, a, b: m.div(a, b, rounding_mode="floor"),
           gen(normal(3, 4), away_from((0,), 4, margin=0.3)),
           lambda a, b: np.floor(a / b), name="floor"),
    OpCase("div_rounded", lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
           gen(uniform(-5, 5, 3, 4), away_from((0,), 3, 1, margin=0.3)),
           lambda a, b: np.trunc(a / b), name="trunc"),
    OpCase("div_rounded", lambda m, a: m.div(a, 0.7, rounding_mode="trunc"), gen(normal()),
           lambda a: np.trunc(a / 0.7), name="0d"),
    OpCase("div_rounded", lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
           gen(ints(-9, 10, 6), const(np.array([3, -3, 2, -2, 4, -4]))), _trunc_div_ref,
           name="int-trunc", **INT),
    OpCase("div_rounded", lambda m, a, b: a // b,
           gen(uniform(-5, 5, 2, 3), away_from((0,), 3, margin=0.3)),
           lambda a, b: np.floor(a / b), name="floordiv-op",
           torch_call=lambda t, a, b: t.div(a, b, rounding_mode="floor")),
    OpCase("div_rounded", lambda m, a: m.floor_divide(a, 2), gen(ints(-9, 10, 7)),
           lambda a: np.floor(a / 2).astype(np.int64), name="floor_divide-int", **INT),
    OpCase("div_rounded", lambda m, a: 7 // a, gen(const(np.array([3, -3, 2, -5]))),
           lambda a: 7 // a, name="rfloordiv-int", **INT),
    OpCase("div_rounded", lambda m, a: a // 2.5, gen(ints(-9, 10, 7)),
           lambda a: np.floor(a / 2.5), name="int-float", **F32_FROM_INT),
    OpCase("remainder", lambda m, a, b: a % b, gen(normal(3, 4), positive(4)),
           lambda a, b: a - np.floor(a / b) * b),
    OpCase("remainder", lambda m, a, b: m.remainder(a, b),
           gen(uniform(-5, 5, 2, 3), away_from((0,), 2, 1, margin=0.3)),
           lambda a, b: a - np.floor(a / b) * b, name="neg-divisor"),
    OpCase("remainder", lambda m, a: a % 1.5, gen(noncontig(3, 4)),
           lambda a: a - np.floor(a / 1.5) * 1.5, name="scalar"),
    OpCase("remainder", lambda m, a: 5.0 % a, gen(positive(3)),
           lambda a: 5.0 - np.floor(5.0 / a) * a, name="rscalar",
           # PyTorch has no derivative for remainder(Scalar, Tensor): a constant tensor
           torch_call=lambda t, a: t.remainder(t.full_like(a, 5.0), a)),
    OpCase("remainder", lambda m, a, b: a % b,
           gen(ints(-9, 10, 6), const(np.array([3, -3, 2, -2, 4, -4]))),
           lambda a, b: np.array([x % y for x, y in zip(a, b)]), name="int", **INT),
    OpCase("fmod", lambda m, a, b: m.fmod(a, b),
           gen(uniform(-5, 5, 2, 3), away_from((0,), 3, margin=0.3)),
           lambda a, b: np.array([[math.fmod(x, y) for x, y in zip(r, b)] for r in a])),
    OpCase("fmod", lambda m, a: m.fmod(a, 1.5), gen(normal()), lambda a: np.fmod(a, 1.5),
           name="0d-scalar"),
    OpCase("fmod", lambda m, a: m.fmod(a, -3), gen(ints(-9, 10, 6)),
           lambda a: np.array([int(math.fmod(x, -3)) for x in a]), name="int", **INT),

    # ---- unary maths ----------------------------------------------------------------------
    OpCase("abs", lambda m, a: m.abs(a), gen(away_from((0,), 3, 4)), np.abs),
    OpCase("abs", lambda m, a: abs(a), gen(noncontig(2, 3)), np.abs, name="dunder",
           fd=False),
    OpCase("abs", lambda m, a: a.abs(), gen(with_zero(8)), np.abs, name="zeros",
           fd=False),
    OpCase("abs", lambda m, a: m.abs(a), gen(ints(-5, 5, 6)), np.abs, name="int", **INT),
    OpCase("exp", lambda m, a: m.exp(a), gen(normal(3, 4)), np.exp),
    OpCase("exp", lambda m, a: a.exp(), gen(normal()), np.exp, name="0d"),
    OpCase("exp", lambda m, a: m.exp(a), gen(normal(0, 2)), np.exp, name="empty"),
    OpCase("exp", lambda m, a: m.exp(a), gen(ints(-3, 4, 5)), np.exp, name="int",
           **F32_FROM_INT),
    OpCase("log", lambda m, a: m.log(a), gen(positive(3, 4)), np.log),
    OpCase("log", lambda m, a: m.log(a.abs()), gen(noncontig(3, 2)),
           lambda a: np.log(np.abs(a)), name="noncontig"),
    OpCase("log", lambda m, a: m.log(a), gen(ints(1, 9, 5)), np.log, name="int",
           **F32_FROM_INT),
    OpCase("log2", lambda m, a: m.log2(a), gen(positive(3, 4)), np.log2),
    OpCase("log2", lambda m, a: a.log2(), gen(positive()), np.log2, name="0d"),
    OpCase("log10", lambda m, a: m.log10(a), gen(positive(3, 4)), np.log10),
    OpCase("log10", lambda m, a: m.log10(a), gen(ints(1, 9, 5)), np.log10, name="int",
           **F32_FROM_INT),
    OpCase("log1p", lambda m, a: m.log1p(a), gen(uniform(-0.5, 2.0, 3, 4)), np.log1p),
    OpCase("log1p", lambda m, a: a.log1p(), gen(uniform(-1e-4, 1e-4, 5)), np.log1p,
           name="tiny"),
    OpCase("expm1", lambda m, a: m.expm1(a), gen(normal(3, 4)), np.expm1),
    OpCase("expm1", lambda m, a: a.expm1(), gen(uniform(-1e-4, 1e-4, 5)), np.expm1,
           name="tiny"),
    OpCase("sqrt", lambda m, a: m.sqrt(a), gen(positive(3, 4)), np.sqrt),
    OpCase("sqrt", lambda m, a: a.sqrt(), gen(positive()), np.sqrt, name="0d"),
    OpCase("sqrt", lambda m, a: m.sqrt(a), gen(ints(0, 9, 5)), np.sqrt, name="int",
           **F32_FROM_INT),
    OpCase("rsqrt", lambda m, a: m.rsqrt(a), gen(positive(3, 4)), lambda a: 1 / np.sqrt(a)),
    OpCase("rsqrt", lambda m, a: a.rsqrt(), gen(positive(0, 4)), lambda a: 1 / np.sqrt(a),
           name="empty"),
    OpCase("square", lambda m, a: m.square(a), gen(normal(3, 4)), np.square),
    OpCase("square", lambda m, a: a.square(), gen(noncontig(2, 3)), np.square,
           name="noncontig"),
    OpCase("square", lambda m, a: m.square(a), gen(ints(-5, 5, 6)), np.square, name="int",
           **INT),
    OpCase("square", lambda m, a: m.square(a), gen(bools(5)), lambda a: a.astype(np.int64),
           name="bool", **INT),
    OpCase("reciprocal", lambda m, a: m.reciprocal(a), gen(away_from((0,), 3, 4, margin=0.3)),
           np.reciprocal),
    OpCase("reciprocal", lambda m, a: a.reciprocal(), gen(ints(1, 5, 4)),
           lambda a: 1 / a, name="int", **F32_FROM_INT),
    OpCase("sin", lambda m, a: m.sin(a), gen(normal(3, 4)), np.sin),
    OpCase("sin", lambda m, a: a.sin(), gen(noncontig(2, 3)), np.sin, name="noncontig"),
    OpCase("cos", lambda m, a: m.cos(a), gen(normal(3, 4)), np.cos),
    OpCase("cos", lambda m, a: a.cos(), gen(normal()), np.cos, name="0d"),
    OpCase("tan", lambda m, a: m.tan(a), gen(uniform(-1.2, 1.2, 3, 4)), np.tan),
    OpCase("tanh", lambda m, a: m.tanh(a), gen(normal(3, 4)), np.tanh),
    OpCase("tanh", lambda m, a: a.tanh(), gen(noncontig(2, 3)), np.tanh, name="noncontig"),
    OpCase("tanh", lambda m, a: m.tanh(a), gen(ints(-2, 3, 4)), np.tanh, name="int",
           **F32_FROM_INT),
    OpCase("erf", lambda m, a: m.erf(a), gen(normal(3, 4)), _erf),
    OpCase("erf", lambda m, a: a.erf(), gen(normal()), _erf, name="0d"),
    OpCase("atan2", lambda m, a, b: m.atan2(a, b), gen(normal(3, 4), normal(4)), np.arctan2),
    OpCase("atan2", lambda m, a, b: a.atan2(b), gen(normal(), normal(2, 3)), np.arctan2,
           name="0d"),
    OpCase("atan2", lambda m, a, b: m.atan2(a, b), gen(ints(-3, 4, 5), ints(1, 4, 5)),
           np.arctan2, name="int", **F32_FROM_INT),

    # ---- activations ----------------------------------------------------------------------
    OpCase("sigmoid", lambda m, a: m.sigmoid(a), gen(normal(3, 4)), _sigmoid),
    OpCase("sigmoid", lambda m, a: a.sigmoid(), gen(uniform(-30, 30, 2, 5)), _sigmoid,
           name="wide"),
    OpCase("sigmoid", lambda m, a: m.sigmoid(a), gen(normal()), _sigmoid, name="0d"),
    OpCase("sigmoid", lambda m, a: m.sigmoid(a), gen(ints(-3, 4, 5)), _sigmoid, name="int",
           **F32_FROM_INT),
    OpCase("relu", lambda m, a: m.relu(a), gen(away_from((0,), 3, 4)),
           lambda a: np.maximum(a, 0)),
    OpCase("relu", lambda m, a: a.relu(), gen(with_zero(10)), lambda a: np.maximum(a, 0),
           name="zeros", fd=False),
    OpCase("relu", lambda m, a: m.relu(a), gen(noncontig(2, 3)), lambda a: np.maximum(a, 0),
           name="noncontig", fd=False),
    OpCase("relu", lambda m, a: m.relu(a), gen(ints(-3, 4, 5)), lambda a: np.maximum(a, 0),
           name="int", **INT),
    OpCase("threshold_backward", lambda m, g, out: _threshold_backward(m, g, out),
           gen(normal(3, 4), with_zero(3, 4)), lambda g, out: np.where(out <= 0, 0.0, g),
           grad=(0,)),
    OpCase("threshold_backward", lambda m, g, out: _threshold_backward(m, g, out),
           gen(noncontig(2, 3), with_zero(2, 3)), lambda g, out: np.where(out <= 0, 0.0, g),
           name="noncontig", grad=(0,)),
    OpCase("threshold_backward", lambda m, g, out: _threshold_backward(m, g, out),
           gen(normal(3, 1), with_zero(4)), lambda g, out: np.where(out <= 0, 0.0, g),
           name="broadcast", grad=(0,)),
    OpCase("leaky_relu", lambda m, a: m.leaky_relu(a), gen(away_from((0,), 3, 4)),
           lambda a: np.where(a > 0, a, 0.01 * a),
           torch_call=lambda t, a: t.nn.functional.leaky_relu(a)),
    OpCase("leaky_relu", lambda m, a: m.leaky_relu(a, 0.2), gen(with_zero(10)),
           lambda a: np.where(a > 0, a, 0.2 * a), name="slope-zeros", fd=False,
           torch_call=lambda t, a: t.nn.functional.leaky_relu(a, 0.2)),
    OpCase("elu", lambda m, a: m.elu(a), gen(away_from((0,), 3, 4)),
           lambda a: np.where(a > 0, a, np.expm1(a)),
           torch_call=lambda t, a: t.nn.functional.elu(a)),
    OpCase("elu", lambda m, a: m.elu(a, alpha=0.5), gen(with_zero(10)),
           lambda a: np.where(a > 0, a, 0.5 * np.expm1(a)), name="alpha-zeros", fd=False,
           torch_call=lambda t, a: t.nn.functional.elu(a, alpha=0.5)),
    OpCase("softplus", lambda m, a: m.softplus(a), gen(normal(3, 4)), _softplus,
           torch_call=lambda t, a: t.nn.functional.softplus(a)),
    OpCase("softplus", lambda m, a: m.softplus(a, beta=2.0, threshold=1.0),
           gen(away_from((0.5,), 3, 4)), lambda a: _softplus(a, 2.0, 1.0), name="threshold",
           torch_call=lambda t, a: t.nn.functional.softplus(a, beta=2.0, threshold=1.0)),
    OpCase("softplus", lambda m, a: m.softplus(a), gen(uniform(-40, 40, 8)), _softplus,
           name="wide", torch_call=lambda t, a: t.nn.functional.softplus(a)),
    OpCase("silu", lambda m, a: m.silu(a), gen(normal(3, 4)), lambda a: a * _sigmoid(a),
           torch_call=lambda t, a: t.nn.functional.silu(a)),
    OpCase("silu", lambda m, a: m.silu(a), gen(normal()), lambda a: a * _sigmoid(a),
           name="0d", torch_call=lambda t, a: t.nn.functional.silu(a)),

    # ---- rounding -------------------------------------------------------------------------
    OpCase("sign", lambda m, a: m.sign(a), gen(normal(3, 4)), np.sign),
    OpCase("sign", lambda m, a: m.sign(a), gen(with_zero(3, 4)), np.sign, name="zeros",
           fd=False),
    OpCase("sign", lambda m, a: a.sign(), gen(special()),
           lambda a: np.where(np.isnan(a), 0.0, np.sign(a)), name="special", fd=False),
    OpCase("sign", lambda m, a: m.sign(a), gen(ints(-3, 4, 5)), np.sign, name="int", **INT),
    OpCase("sign", lambda m, a: m.sign(a), gen(bools(5)), lambda a: a, name="bool", **INT),
    OpCase("floor", lambda m, a: m.floor(a), gen(uniform(-3, 3, 3, 4)), np.floor),
    OpCase("floor", lambda m, a: a.floor(), gen(ints(-3, 4, 5)), np.floor, name="int",
           **INT),
    OpCase("ceil", lambda m, a: m.ceil(a), gen(uniform(-3, 3, 3, 4)), np.ceil),
    OpCase("ceil", lambda m, a: a.ceil(), gen(normal()), np.ceil, name="0d"),
    OpCase("trunc", lambda m, a: m.trunc(a), gen(uniform(-3, 3, 3, 4)), np.trunc),
    OpCase("trunc", lambda m, a: m.fix(a), gen(noncontig(2, 3)), np.trunc, name="fix"),
    OpCase("round", lambda m, a: m.round(a), gen(uniform(-3, 3, 3, 4)), np.round),
    OpCase("round", lambda m, a: a.round(),
           gen(const(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 3.49]))), np.round,
           name="half-even", fd=False),
    OpCase("round", lambda m, a: m.round(a, decimals=2), gen(uniform(-3, 3, 6)),
           lambda a: _round_ref(a, 2), name="decimals"),
    OpCase("round", lambda m, a: m.round(a, decimals=-1), gen(uniform(-300, 300, 6)),
           lambda a: _round_ref(a, -1), name="neg-decimals"),
    OpCase("round", lambda m, a: m.round(a), gen(ints(-3, 4, 5)), lambda a: a, name="int",
           **INT),
    OpCase("frac", lambda m, a: m.frac(a), gen(uniform(-3, 3, 3, 4)),
           lambda a: np.fmod(a, 1.0)),
    OpCase("frac", lambda m, a: a.frac(), gen(normal()), lambda a: np.fmod(a, 1.0),
           name="0d"),

    # ---- clamp, where, maximum/minimum, lerp ----------------------------------------------
    OpCase("clamp", lambda m, a: m.clamp(a, -0.5, 0.5), gen(away_from((-0.5, 0.5), 3, 4)),
           lambda a: np.clip(a, -0.5, 0.5)),
    OpCase("clamp", lambda m, a: a.clamp(min=0.2), gen(away_from((0.2,), 3, 4)),
           lambda a: np.maximum(a, 0.2), name="min"),
    OpCase("clamp", lambda m, a: a.clamp(max=-0.1), gen(away_from((-0.1,), 5)),
           lambda a: np.minimum(a, -0.1), name="max"),
    OpCase("clamp", lambda m, a: m.clip(a, -1, 1),
           gen(const(np.array([-2.0, -1.0, -0.5, 0.0, 1.0, 1.5]))),
           lambda a: np.clip(a, -1, 1), name="boundary", fd=False),
    OpCase("clamp", lambda m, a, lo, hi: m.clamp(a, lo, hi),
           gen(normal(3, 4), uniform(-1, -0.2, 4), uniform(0.2, 1, 3, 1)), _clamp,
           name="tensor-bounds"),
    OpCase("clamp", lambda m, a, lo: m.clamp(a, min=lo),
           gen(normal(3, 4), normal(4)), lambda a, lo: _clamp(a, lo, None),
           name="tensor-min"),
    OpCase("clamp", lambda m, a, hi: m.clamp(a, max=hi),
           gen(noncontig(3, 4), normal()), lambda a, hi: _clamp(a, None, hi),
           name="tensor-max-0d"),
    OpCase("clamp", lambda m, a, lo, hi: m.clamp(a, lo, hi),
           gen(normal(3, 4), uniform(0.2, 1, 4), uniform(-1, -0.2, 4)), _clamp,
           name="min-gt-max"),
    OpCase("clamp", lambda m, a: m.clamp(a, 0.5, 2.5), gen(ints(-3, 5, 6)),
           lambda a: np.clip(a, 0.5, 2.5), name="int-float-bound", **F32_FROM_INT),
    OpCase("clamp", lambda m, a: m.clamp(a, min=0, max=2), gen(ints(-3, 5, 6)),
           lambda a: np.clip(a, 0, 2), name="int", **INT),
    OpCase("clamp", lambda m, a: m.clamp(a, -1.0, 1.0), gen(normal(0, 3)),
           lambda a: np.clip(a, -1, 1), name="empty"),
    OpCase("where", lambda m, c, a, b: m.where(c, a, b), gen(bools(3, 4), normal(3, 4),
                                                            normal(4)), np.where),
    OpCase("where", lambda m, c, a: m.where(c, a, 0.5), gen(bools(2, 3), normal(3)),
           lambda c, a: np.where(c, a, 0.5), name="scalar-other"),
    OpCase("where", lambda m, c, b: m.where(c, -1.0, b), gen(bools(4), normal(3, 1)),
           lambda c, b: np.where(c, -1.0, b), name="scalar-input"),
    OpCase("where", lambda m, c, a, b: a.where(c, b), gen(bools(), normal(2, 3), normal()),
           np.where, name="method-0d"),
    OpCase("where", lambda m, c: m.where(c, 1.0, 0.0), gen(bools(5)),
           lambda c: np.where(c, 1.0, 0.0), name="two-scalars", dtypes=("float32",), fd=False),
    OpCase("where", lambda m, c, a: m.where(c, a, 2), gen(bools(5), ints(-3, 3, 5)),
           lambda c, a: np.where(c, a, 2), name="int", **INT),
    OpCase("where", lambda m, c, a: m.where(c, a, 2.5), gen(bools(5), ints(-3, 3, 5)),
           lambda c, a: np.where(c, a, 2.5), name="int-float", **F32_FROM_INT),
    OpCase("maximum", lambda m, a, b: m.maximum(a, b), gen(normal(3, 4), normal(4)),
           np.maximum),
    OpCase("maximum", lambda m, a, b: a.maximum(b), gen(normal(), noncontig(2, 3)),
           np.maximum, name="0d"),
    OpCase("maximum", lambda m, a, b: m.maximum(a, b), gen(small_floats(4, 3), small_floats(3)),
           np.maximum, name="ties", fd=False, second_order=False),
    OpCase("maximum", lambda m, a, b: m.maximum(a, b), gen(ints(-3, 3, 5), ints(-3, 3, 5)),
           np.maximum, name="int", **INT),
    OpCase("minimum", lambda m, a, b: m.minimum(a, b), gen(normal(3, 4), normal(3, 1)),
           np.minimum),
    OpCase("minimum", lambda m, a, b: m.minimum(a, b), gen(small_floats(4, 3), small_floats(3)),
           np.minimum, name="ties", fd=False, second_order=False),
    OpCase("minimum", lambda m, a, b: m.minimum(a, b), gen(normal(0, 3), normal(3)),
           np.minimum, name="empty"),
    OpCase("lerp", lambda m, a, b: m.lerp(a, b, 0.3), gen(normal(3, 4), normal(4)),
           lambda a, b: a + 0.3 * (b - a)),
    OpCase("lerp", lambda m, a, b, w: a.lerp(b, w),
           gen(normal(3, 4), normal(3, 4), uniform(-0.5, 1.5, 4)),
           lambda a, b, w: a + w * (b - a), name="tensor-weight"),

    # ---- comparisons (no gradient) --------------------------------------------------------
    OpCase("eq", lambda m, a, b: m.eq(a, b), gen(small_floats(3, 4), small_floats(4)),
           np.equal, **NO_GRAD),
    OpCase("eq", lambda m, a, b: a == b, gen(ints(-2, 3, 6), small_floats(6)), np.equal,
           name="int-float", **NO_GRAD),
    OpCase("eq", lambda m, a: a == 2.5, gen(ints(0, 4, 6)), lambda a: a == 2.5,
           name="int-scalar", **INT, grad=()),
    OpCase("ne", lambda m, a, b: a != b, gen(small_floats(3, 4), small_floats(3, 1)),
           np.not_equal, **NO_GRAD),
    OpCase("ne", lambda m, a: m.not_equal(a, 0.0), gen(small_floats()),
           lambda a: a != 0.0, name="0d", **NO_GRAD),
    OpCase("lt", lambda m, a, b: a < b, gen(small_floats(3, 4), small_floats(4)), np.less,
           **NO_GRAD),
    OpCase("gt", lambda m, a: 0.5 < a, gen(normal(5)), lambda a: 0.5 < a, name="reflected",
           **NO_GRAD),
    OpCase("le", lambda m, a, b: a <= b, gen(small_floats(3, 4), small_floats(4)),
           np.less_equal, **NO_GRAD),
    OpCase("le", lambda m, a, b: m.le(a, b), gen(normal(0, 4), normal(4)), np.less_equal,
           name="empty", **NO_GRAD),
    OpCase("gt", lambda m, a, b: a > b, gen(small_floats(3, 4), small_floats(4)), np.greater,
           **NO_GRAD),
    OpCase("gt", lambda m, a: m.greater(a, 1), gen(ints(-3, 3, 5)), lambda a: a > 1,
           name="int", **INT, grad=()),
    OpCase("ge", lambda m, a, b: a >= b, gen(noncontig(3, 4), small_floats(4)),
           np.greater_equal, **NO_GRAD),
    OpCase("ge", lambda m, a, b: m.ge(a, b), gen(small_floats(), small_floats(2, 3)),
           np.greater_equal, name="0d", **NO_GRAD),

    # ---- logical and bitwise (no gradient) ------------------------------------------------
    OpCase("logical_and", lambda m, a, b: m.logical_and(a, b),
           gen(small_floats(3, 4), small_floats(4)), np.logical_and, **NO_GRAD),
    OpCase("logical_and", lambda m, a, b: a.logical_and(b), gen(bools(3), ints(-1, 2, 3)),
           np.logical_and, name="bool-int", **INT, grad=()),
    OpCase("logical_or", lambda m, a, b: m.logical_or(a, b),
           gen(small_floats(3, 4), small_floats(3, 1)), np.logical_or, **NO_GRAD),
    OpCase("logical_xor", lambda m, a, b: m.logical_xor(a, b), gen(bools(3, 4), bools(4)),
           np.logical_xor, **INT, grad=()),
    OpCase("logical_not", lambda m, a: m.logical_not(a), gen(small_floats(3, 4)),
           np.logical_not, **NO_GRAD),
    OpCase("logical_not", lambda m, a: a.logical_not(), gen(ints(-1, 2, 5)),
           np.logical_not, name="int", **INT, grad=()),
    OpCase("bitwise_and", lambda m, a, b: a & b, gen(bools(3, 4), bools(4)),
           np.bitwise_and, **INT),
    OpCase("bitwise_and", lambda m, a, b: m.bitwise_and(a, b), gen(ints(-8, 8, 6), ints(0, 8, 6)),
           np.bitwise_and, name="int", **INT),
    OpCase("bitwise_and", lambda m, a: 6 & a, gen(ints(0, 8, 6)), lambda a: 6 & a,
           name="rscalar", **INT),
    OpCase("bitwise_or", lambda m, a, b: a | b, gen(bools(3, 4), bools(3, 1)), np.bitwise_or,
           **INT),
    OpCase("bitwise_or", lambda m, a, b: m.bitwise_or(a, b), gen(ints(-8, 8, 6), bools(6)),
           np.bitwise_or, name="int-bool", **INT),
    OpCase("bitwise_xor", lambda m, a, b: a ^ b, gen(bools(3, 4), bools(4)), np.bitwise_xor,
           **INT),
    OpCase("bitwise_xor", lambda m, a: a ^ 5, gen(ints(-8, 8, 6)), lambda a: a ^ 5,
           name="scalar", **INT),
    OpCase("bitwise_not", lambda m, a: ~a, gen(bools(3, 4)), np.invert, **INT),
    OpCase("bitwise_not", lambda m, a: m.bitwise_not(a), gen(ints(-8, 8, 6)), np.invert,
           name="int", **INT),
    OpCase("isnan", lambda m, a: m.isnan(a), gen(special()), np.isnan, **NO_GRAD),
    OpCase("isnan", lambda m, a: a.isnan(), gen(ints(0, 3, 4)), np.isnan, name="int", **INT,
           grad=()),
    OpCase("isinf", lambda m, a: m.isinf(a), gen(special()), np.isinf, **NO_GRAD),
    OpCase("isfinite", lambda m, a: m.isfinite(a), gen(special()), np.isfinite, **NO_GRAD),
    OpCase("isfinite", lambda m, a: a.isfinite(), gen(bools(4)), np.isfinite, name="bool",
           **INT, grad=()),
]

ERRORS = [
    ErrorCase("where", lambda m, c, a, b: m.where(c, a, b),
              gen(normal(3), normal(3), normal(3)), DTypeError,
              "where: expected condition to be a boolean tensor", torch_exc=RuntimeError),
    ErrorCase("where", lambda m, c, a, b: m.where(c > 0, a, b),
              gen(normal(3), normal(4), normal(3)), ShapeError, "where: cannot broadcast",
              name="broadcast", torch_exc=RuntimeError),
    ErrorCase("pow", lambda m, a: a ** -1, gen(ints(1, 4, 3)), DTypeError,
              "integers to negative integer powers are not allowed", torch_exc=RuntimeError),
    ErrorCase("div_rounded", lambda m, a: a // 0, gen(ints(1, 4, 3)), RuntimeError,
              "ZeroDivisionError", name="int-zero", torch_exc=RuntimeError),
    ErrorCase("remainder", lambda m, a, b: a % b, gen(ints(1, 4, 3), const(np.array([1, 0, 2]))),
              RuntimeError, "remainder: ZeroDivisionError", torch_exc=RuntimeError),
    ErrorCase("maximum", lambda m, a, b: m.maximum(a, b), gen(normal(3, 4), normal(5)),
              ShapeError, "maximum: cannot broadcast shapes (3, 4) and (5,)",
              torch_exc=RuntimeError),
    ErrorCase("eq", lambda m, a, b: a == b, gen(normal(2, 3), normal(3, 2)), ShapeError,
              "eq: cannot broadcast", torch_exc=RuntimeError),
    ErrorCase("bitwise_not", lambda m, a: ~a, gen(normal(3)), DTypeError,
              "bitwise_not: only integer and bool tensors", torch_exc=TypeError),
    ErrorCase("bitwise_and", lambda m, a: a & 1, gen(normal(3)), DTypeError,
              "bitwise_and: only integer and bool tensors"),
    ErrorCase("relu", lambda m, a: m.relu(a > 0), gen(normal(3)), DTypeError,
              "relu: not implemented for bool tensors", torch_exc=RuntimeError),
    ErrorCase("abs", lambda m, a: m.abs(a > 0), gen(normal(3)), DTypeError,
              "abs: not implemented for bool"),
    ErrorCase("frac", lambda m, a: m.frac(a), gen(ints(0, 3, 3)), DTypeError,
              "frac: expected a floating-point tensor"),
    ErrorCase("clamp", lambda m, a: m.clamp(a), gen(normal(3)), RuntimeError,
              "clamp: at least one of 'min' or 'max' must not be None", torch_exc=RuntimeError),
    ErrorCase("lerp", lambda m, a, b: m.lerp(a, b.double(), 0.5), gen(normal(3), normal(3)),
              DTypeError, "lerp: expected dtype float32 for `end` but got dtype float64",
              torch_exc=RuntimeError),
]


# ---- hypot, nan_to_num (issue 14) --------------------------------------------------------------

CASES += [
    OpCase("hypot", lambda m, a, b: m.hypot(a, b), gen(normal(3, 4), normal(4)), np.hypot),
    OpCase("hypot", lambda m, a, b: a.hypot(b), gen(noncontig(3, 2), normal()), np.hypot,
           name="method-noncontig-0d"),
    OpCase("hypot", lambda m, a, b: m.hypot(a, b), gen(normal(0, 3), normal(3)), np.hypot,
           name="empty"),
    # huge values: squaring would overflow, hypot does not
    OpCase("hypot", lambda m, a, b: m.hypot(a, b),
           gen(const(np.array([3e200, -4e30, 1e-300])), const(np.array([4e200, 3e30, 0.0]))),
           np.hypot, name="no-overflow", dtypes=("float64",), fd=False, second_order=False),
    OpCase("nan_to_num", lambda m, a: m.nan_to_num(a), gen(normal(3, 4)), np.nan_to_num),
    OpCase("nan_to_num", lambda m, a: a.nan_to_num(), gen(special()), np.nan_to_num,
           name="special", fd=False),
    OpCase("nan_to_num", lambda m, a: m.nan_to_num(a, nan=1.0, posinf=2.0, neginf=-3.0),
           gen(special()), lambda a: np.nan_to_num(a, nan=1.0, posinf=2.0, neginf=-3.0),
           name="values", fd=False),
    OpCase("nan_to_num", lambda m, a: a.nan_to_num(), gen(noncontig(2, 3)), np.nan_to_num,
           name="noncontig"),
    OpCase("nan_to_num", lambda m, a: m.nan_to_num(a), gen(ints(-3, 3, 4)), np.nan_to_num,
           name="int", **INT),
]

ERRORS += [
    ErrorCase("hypot", lambda m, a, b: m.hypot(a, b), gen(ints(0, 3, 4), ints(0, 3, 4)),
              DTypeError, "floating-point", name="int", torch_exc=RuntimeError),
    ErrorCase("hypot", lambda m, a, b: m.hypot(a, b), gen(normal(3), normal(4)), ShapeError,
              "broadcast", name="shapes", torch_exc=RuntimeError),
]

# ---- ldexp: input * 2**other ------------------------------------------------------------------

def _ldexp_ref(a, n):
    """NumPy's ldexp for an integer exponent (exact), ``a * 2**n`` for a float one."""
    return np.ldexp(a, n) if n.dtype.kind in "iu" else a * np.power(2.0, n)


CASES += [
    # PyTorch's gradient in the input for an integer exponent is 2**n computed in integer
    # arithmetic (0 for n < 0; torch 2.13): the torch comparison uses n >= 0, and the case
    # below checks negative exponents by finite differences only
    OpCase("ldexp", lambda m, a, n: m.ldexp(a, n), gen(normal(3, 4), ints(0, 5, 4)),
           _ldexp_ref, name="int-exponent"),
    OpCase("ldexp", lambda m, a, n: a.ldexp(n), gen(noncontig(3, 2), ints(-6, 6, 3, 1)),
           _ldexp_ref, name="negative-exponent-noncontig", torch=False),
    OpCase("ldexp", lambda m, a, n: m.ldexp(a, n), gen(normal(0, 3), ints(-2, 2, 3)),
           _ldexp_ref, name="empty"),
    # a float exponent: ldexp is input * pow(2, other) (the mul op), differentiable in both
    OpCase("mul", lambda m, a, b: m.ldexp(a, b), gen(normal(2, 3), normal(3)), _ldexp_ref,
           name="ldexp-float-exponent"),
]

ERRORS += [
    ErrorCase("ldexp", lambda m, a, b: m.ldexp(a, b), gen(normal(3), normal(4)), ShapeError,
              "broadcast", name="shapes", torch_exc=RuntimeError),
]

# ---- hardtanh: clamp with PyTorch's zero gradient at the corners ------------------------------

def _F(m):
    """``torch.nn.functional`` or yingshe's (hardtanh and relu6 live there only)."""
    if m.__name__ == "yingshe":
        import yingshe.nn.functional as F
        return F
    return m.nn.functional


CASES += [
    OpCase("hardtanh", lambda m, a: _F(m).hardtanh(a), gen(away_from((-1.0, 1.0), 3, 4)),
           lambda a: np.clip(a, -1.0, 1.0)),
    OpCase("hardtanh", lambda m, a: _F(m).hardtanh(a, -0.5, 2.0), gen(noncontig(2, 3)),
           lambda a: np.clip(a, -0.5, 2.0), name="bounds-noncontig", fd=False),
    # exactly at the corners (and NaN): the gradient is 0 at the bounds, g at NaN; checked
    # against PyTorch (finite differences straddle the kinks)
    OpCase("hardtanh", lambda m, a: _F(m).relu6(a),
           gen(const(np.array([-1.0, 0.0, 3.0, 6.0, 7.0, np.nan]))),
           lambda a: np.clip(a, 0.0, 6.0), name="relu6-corners", fd=False,
           second_order=False),
    OpCase("hardtanh", lambda m, a: _F(m).hardtanh(a), gen(ints(-3, 3, 5)),
           lambda a: np.clip(a, -1, 1), name="int", **INT),
]

ERRORS += [
    ErrorCase("hardtanh", lambda m, a: _F(m).hardtanh(a), gen(const(np.array([True]))),
              DTypeError, "bool", name="bool", torch_exc=RuntimeError),
]
