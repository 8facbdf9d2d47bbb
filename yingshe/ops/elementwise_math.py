"""Elementwise maths: powers, division with rounding, exp/log, trigonometry,
activations, clamping, selection, comparisons, logical and bitwise ops.

Every op here follows PyTorch's semantics:

* binary ops promote with ``yingshe.ops.elementwise.promote`` (PyTorch's
  categories; Python scalars and 0-d tensors do not widen), so a registered op
  only ever sees operands of one dtype or a weak Python scalar;
* "float" unary ops (``exp``, ``sqrt``, ``sigmoid`` ...) compute integer and bool
  inputs in the default float dtype, as ``torch.exp(int_tensor)`` does;
* derivatives at kinks follow PyTorch's conventions (``relu'(0) = 0``,
  ``abs'(0) = 0``, clamp passes the gradient where ``min <= x <= max``,
  ``maximum``/``minimum`` split the gradient equally on ties);
* comparisons, logical, bitwise and ``is*`` ops return bool (or integer)
  tensors and are registered without a VJP (not differentiable); rounding ops
  (``floor``, ``sign``, ``div(..., rounding_mode=)``) have zero gradients.

Forwards that produce inf/nan by design (``log(0)``, ``1/0``) silence NumPy's
warnings themselves; ``sigmoid``, ``softplus`` and ``elu`` are written so that
no intermediate overflows (``|x| = 1000`` gives exact results, no warnings).
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor, _wrap
from yingshe.errors import DTypeError, UnsupportedError, format_site, user_site
from yingshe.ops._registry import apply, register_op, tensor_method
from yingshe.ops._shapes import Meta, broadcast_shapes
from yingshe.ops.elementwise import (
    _TensorOperand,
    _as_operand,
    _binary,
    _cast_to,
    _no_out,
    elementwise_meta,
    elementwise_op,
    neg,
    promote,
    to_dtype,
)

__all__ = ["isclose", "allclose", 
    # powers and division
    "pow", "float_power", "floor_divide", "div_rounded", "remainder", "fmod",
    # unary maths
    "abs", "absolute", "exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt",
    "square", "reciprocal", "sin", "cos", "tan", "tanh", "erf", "atan2", "arctan2",
    # activations
    "sigmoid", "relu", "leaky_relu", "elu", "softplus", "silu",
    # rounding
    "sign", "floor", "ceil", "round", "trunc", "fix", "frac",
    # selection
    "clamp", "clip", "clamp_min", "clamp_max", "where", "maximum", "minimum", "lerp",
    "addcmul", "addcdiv",
    # comparisons
    "eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater",
    "greater_equal",
    # logical and bitwise
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_not",
    # classification
    "isnan", "isinf", "isfinite",
    # closeness, and the names of issue 14
    "equal", "hypot", "nan_to_num", "ldexp",
]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


# ---- helpers -----------------------------------------------------------------------------------

def _tensor_arg(opname: str, x) -> Tensor:
    """The tensor argument of a unary op (NumPy arrays are wrapped; numbers refused)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, np.generic)):
        return _wrap(np.asarray(x))
    raise TypeError(f"{opname}(): argument 'input' must be a Tensor, not {type(x).__name__}")


def _dtype_of(x: Tensor) -> _dtype.dtype:
    d = x._data
    if d is not None:
        return _dtype.from_numpy_dtype(d.dtype)
    return x.dtype  # a graph symbol


def _is_float(x: Tensor) -> bool:
    d = x._data
    if d is not None:
        return d.dtype.kind == "f"
    return x.dtype.is_floating_point


def _float_unary(op, input, **attrs):
    """Apply a floating-point op; integer and bool tensors compute in the default float
    dtype (``torch.exp(torch.tensor([1]))`` is float32)."""
    x = _tensor_arg(op.name, input)
    if not _is_float(x):
        x = to_dtype(x, _dtype.get_default_dtype())
    return apply(op, x, **attrs)


def _float_only(op, input, **attrs):
    """Apply an op PyTorch implements for floating dtypes only (activations, frac)."""
    x = _tensor_arg(op.name, input)
    if not _is_float(x):
        raise DTypeError(f"{op.name}: expected a floating-point tensor, got {_dtype_of(x)} "
                         f"(convert it with .float())")
    return apply(op, x, **attrs)


def _float_meta(opname: str, x: Meta) -> Meta:
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{opname}: expected a floating-point tensor, got {x.dtype}")
    return Meta(tuple(x.shape), x.dtype)


def _bool_meta(opname: str, *args) -> Meta:
    shape = broadcast_shapes(opname, *(a.shape for a in args if isinstance(a, Meta)))
    return Meta(shape, _dtype.bool)


def _binary_attrs(op, a, b, **attrs):
    """``_binary`` for ops with attributes: promote, then apply."""
    a, b, _ = promote(a, b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op.name}: expected at least one tensor operand")
    return apply(op, a, b, **attrs)


def _float_binary(op, a, b):
    """Promote like ``_binary``; integer results compute in the default float dtype."""
    a, b, dt = promote(a, b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op.name}: expected at least one tensor operand")
    if np.dtype(dt).kind != "f":
        f = _dtype.get_default_dtype()
        a = _cast_to(a, f) if isinstance(a, Tensor) else builtins.float(a)
        b = _cast_to(b, f) if isinstance(b, Tensor) else builtins.float(b)
    return apply(op, a, b)


def _kind(*arrays) -> str:
    """The dtype kind of the first array operand (the others share it after promotion)."""
    for a in arrays:
        if isinstance(a, np.ndarray):
            return a.dtype.kind
    return "f"


def _no_bool(opname: str, kind: str, what: str = "bool tensors") -> None:
    """Eager-time dtype check (``infer`` makes the same check when a graph is built)."""
    if kind == "b":
        raise DTypeError(f"{opname}: not implemented for {what}")


def _zeros_like(g: Tensor) -> Tensor:
    """Zeros shaped like ``g`` built with a differentiable op (so it also works with
    ``create_graph`` and in graphs); unlike ``g * 0`` it is 0 where ``g`` is inf/nan."""
    return apply(Where, False, g, 0.0)


def _masked(cond, g):
    """``g`` where ``cond``, else 0 (no nan leaks from the masked-out entries)."""
    return where(cond, g, 0.0)


def _check_int_divisor(a, b) -> None:
    """PyTorch raises on an integer division by zero (NumPy would warn and give 0): a
    RuntimeError, as PyTorch's (not Python's ZeroDivisionError), that ``apply`` reports
    naming the op, the shapes and the user's line. An empty result divides nothing: no
    error, as in PyTorch (``zeros(0, 1, dtype=int64) % tensor([0])``)."""
    if 0 in np.broadcast_shapes(np.shape(a), np.shape(b)):
        return
    if isinstance(b, np.ndarray):
        if not b.all():
            raise RuntimeError("ZeroDivisionError: integer division by zero")
    elif b == 0:
        raise RuntimeError("ZeroDivisionError: integer division by zero")


# ---- powers ----------------------------------------------------------------------------------

def _int_pow(xp, a, b):
    """Integer powers with PyTorch's rule for negative exponents inside a tensor:
    1 ** -n = 1, (-1) ** -n = +-1, anything else ** -n = 0 (no error)."""
    neg_exp = xp.less(b, 0)
    if not xp.any(neg_exp):
        return xp.power(a, b)
    out = xp.power(a, xp.where(neg_exp, 0, b))
    one = xp.ones_like(out)
    odd = xp.not_equal(xp.remainder(b, 2), 0)
    at_neg = xp.where(xp.equal(a, 1), one,
                      xp.where(xp.equal(a, -1), xp.where(odd, -one, one), xp.zeros_like(out)))
    return xp.where(neg_exp, at_neg, out).astype(out.dtype, copy=False)


# saves the inputs only: like PyTorch's, the gradient survives an in-place change of the
# output ((x ** 2).abs_()); the exponent's gradient recomputes a ** b instead
@register_op("pow", saves="inputs")
class Pow:
    """a ** b with broadcasting (either operand may be a Python scalar)."""

    def forward(xp, a, b):
        kind = _kind(a, b)
        if kind == "b" and isinstance(b, bool):  # PyTorch allows x ** True / x ** False
            return a.copy() if b else xp.ones_like(a)
        _no_bool("pow", kind, "bool tensors (convert to int or float)")
        if kind in "iu":
            if isinstance(b, np.ndarray):
                return _int_pow(xp, a, b)
            if b < 0:
                raise DTypeError("pow: integers to negative integer powers are not allowed")
            return xp.power(a, b)
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # PyTorch computes a Python exponent of 0.5 as sqrt and -0.5 as rsqrt: NaN for
            # every negative base (-inf included, where C's pow gives inf or 0) and -0.0
            # kept; the gradient 0.5 * a ** -0.5 follows (-inf at -0.0, NaN at -inf)
            if isinstance(b, float) and b == 0.5:
                return xp.sqrt(a)
            if isinstance(b, float) and b == -0.5:
                return xp.divide(1, xp.sqrt(a), dtype=a.dtype)
            return xp.power(a, b)

    def infer(a, b):
        m = elementwise_meta("pow", a, b)
        if m.dtype is _dtype.bool and not isinstance(b, bool):
            _no_bool("pow", "b", "bool tensors (convert to int or float)")
        return m

    def vjp(g, out, a, b, needs):
        ga = gb = None
        # The masked-out entries are computed from safe stand-ins (exponent 1, base 1,
        # output 1) so that no 0 * inf is ever evaluated, even where it is discarded.
        if needs[0]:
            # d/da a**b = b * a**(b-1); PyTorch returns 0 where b == 0 (even at a == 0).
            if isinstance(b, Tensor):
                b_zero = eq(b, 0)
                b_safe = where(b_zero, 1.0, b)
                ga = where(b_zero, 0.0, g * (b * pow(a, b_safe - 1)))
            elif b == 0:
                ga = _zeros_like(g)
            else:
                ga = g * (b * pow(a, b - 1))
        if needs[1]:
            # d/db a**b = a**b * log(a); 0 where a == 0 and b >= 0 (PyTorch's convention).
            out = pow(a, b)
            if isinstance(a, Tensor):
                masked = logical_and(eq(a, 0), ge(b, 0))
                gb = where(masked, 0.0, g * (out * log(where(masked, 1.0, a))))
            elif a == 0:
                masked = ge(b, 0)
                gb = where(masked, 0.0, g * (where(masked, 1.0, out) * -math.inf))
            else:
                with np.errstate(invalid="ignore"):
                    log_a = builtins.float(np.log(builtins.float(a)))
                gb = g * (out * log_a)
        return ga, gb


@tensor_method("__pow__")
@tensor_method
def pow(input, exponent, *, out=None):
    """``input ** exponent`` elementwise; either may be a Python number.

    Promotion follows PyTorch: an integer tensor to a float scalar power is float32,
    to an integer power stays integer (a negative Python integer exponent is an error).

    Example:
        >>> yingshe.pow(yingshe.tensor([1, 2, 3]), 2)
        tensor([1, 4, 9])
    """
    _no_out(out, "pow")
    return _binary(Pow, input, exponent)


@tensor_method("__rpow__")
def _rpow(self, other):
    return _binary(Pow, other, self)


@tensor_method
def float_power(input, exponent):
    """``input ** exponent`` computed in float64 (``torch.float_power``)."""
    if isinstance(input, Tensor):
        input = to_dtype(input, _dtype.float64)
    else:
        input = builtins.float(input)
    if isinstance(exponent, Tensor):
        exponent = to_dtype(exponent, _dtype.float64)
    else:
        exponent = builtins.float(exponent)
    return _binary(Pow, input, exponent)


# ---- division with rounding, remainders --------------------------------------------------------

@register_op("div_rounded", saves="none")
class DivRounded:
    """a / b rounded toward -inf (``"floor"``) or toward zero (``"trunc"``); integer
    operands stay integer. The result is piecewise constant: zero gradients."""

    def forward(xp, a, b, *, rounding_mode):
        kind = _kind(a, b)
        _no_bool("div_rounded", kind, f"bool tensors (rounding_mode={rounding_mode!r})")
        if kind in "iu":
            _check_int_divisor(a, b)
            q = xp.floor_divide(a, b)
            if rounding_mode == "trunc":
                # floor -> trunc: add one where the quotient is negative and inexact
                inexact = xp.not_equal(xp.multiply(q, b), a)
                q = q + (inexact & xp.not_equal(xp.less(a, 0), xp.less(b, 0)))
            return q
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if rounding_mode == "floor":
                return xp.floor_divide(a, b)  # Python's (= PyTorch's) float floor division
            return xp.trunc(xp.true_divide(a, b))

    def infer(a, b, *, rounding_mode):
        m = elementwise_meta("div_rounded", a, b)
        if m.dtype is _dtype.bool:
            _no_bool("div_rounded", "b", f"bool tensors (rounding_mode={rounding_mode!r})")
        return m

    def vjp(g, out, a, b, *, rounding_mode):
        return _zeros_like(g), _zeros_like(g)


def div_rounded(input, other, rounding_mode: str) -> Tensor:
    """``input / other`` rounded with ``rounding_mode`` ("floor" or "trunc"); what
    ``yingshe.div(input, other, rounding_mode=...)`` calls. Integer inputs stay integer
    (an integer division by zero raises); floats divide by zero to +-inf/nan."""
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', "
                         f"got {rounding_mode!r}")
    return _binary_attrs(DivRounded, input, other, rounding_mode=rounding_mode)


@tensor_method("__floordiv__")
@tensor_method
def floor_divide(input, other, *, out=None):
    """``input // other``: division rounded toward -inf (``div(..., rounding_mode="floor")``).

    Unlike PyTorch, whose ``floor_divide`` has no derivative, the gradient is zero.
    """
    _no_out(out, "floor_divide")
    return div_rounded(input, other, "floor")


@tensor_method("__rfloordiv__")
def _rfloordiv(self, other):
    return div_rounded(other, self, "floor")


@register_op("remainder", saves="inputs")
class Remainder:
    """Python's modulus: ``a - floor(a / b) * b``, with the sign of the divisor."""

    def forward(xp, a, b):
        kind = _kind(a, b)
        _no_bool("remainder", kind)
        if kind in "iu":
            _check_int_divisor(a, b)
            return xp.remainder(a, b)
        with xp.errstate(divide="ignore", invalid="ignore"):
            return xp.remainder(a, b)

    def infer(a, b):
        m = elementwise_meta("remainder", a, b)
        if m.dtype is _dtype.bool:
            _no_bool("remainder", "b")
        return m

    def vjp(g, out, a, b, needs):
        gb = neg(g * div_rounded(a, b, "floor")) if needs[1] else None
        return g, gb


@tensor_method("__mod__")
@tensor_method
def remainder(input, other, *, out=None):
    """Python-style modulus (the result has the sign of ``other``); either may be a number.

    Example:
        >>> yingshe.remainder(yingshe.tensor([-3, 3]), 2)
        tensor([1, 1])
    """
    _no_out(out, "remainder")
    return _binary(Remainder, input, other)


@tensor_method("__rmod__")
def _rmod(self, other):
    return _binary(Remainder, other, self)


@register_op("fmod", saves="inputs")
class Fmod:
    """C's modulus: ``a - trunc(a / b) * b``, with the sign of the dividend."""

    def forward(xp, a, b):
        kind = _kind(a, b)
        _no_bool("fmod", kind)
        if kind in "iu":
            _check_int_divisor(a, b)
            return xp.fmod(a, b)
        with xp.errstate(divide="ignore", invalid="ignore"):
            return xp.fmod(a, b)

    def infer(a, b):
        m = elementwise_meta("fmod", a, b)
        if m.dtype is _dtype.bool:
            _no_bool("fmod", "b")
        return m

    def vjp(g, out, a, b, needs):
        gb = neg(g * div_rounded(a, b, "trunc")) if needs[1] else None
        return g, gb


@tensor_method
def fmod(input, other, *, out=None):
    """C-style modulus (the result has the sign of ``input``)."""
    _no_out(out, "fmod")
    return _binary(Fmod, input, other)


# ---- unary maths -----------------------------------------------------------------------------

@register_op("abs", saves="inputs")
class Abs:
    """|x|; the gradient is ``g * sign(x)`` (0 at x = 0, as in PyTorch)."""

    def forward(xp, x):
        _no_bool("abs", x.dtype.kind)
        return xp.abs(x)

    def scalar(x):
        return math.fabs(x)  # the module's own ``abs`` shadows the builtin

    def infer(x):
        if x.dtype is _dtype.bool:
            _no_bool("abs", "b")
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x):
        return g * sign(x)


@tensor_method("__abs__")
@tensor_method
def abs(input, *, out=None):
    """Absolute value (integer tensors stay integer)."""
    _no_out(out, "abs")
    return apply(Abs, _tensor_arg("abs", input))


absolute = abs
tensor_method("absolute")(abs)


# The floating-point unary ops, one table row each: name, NumPy function and the errors it
# silences by design, what the VJP reads, the scalar formula and the VJP. Integer and bool
# inputs compute in the default float dtype (``torch.exp(int_tensor)`` is float32).

def _float_unary_op(name: str, ufunc: str, errstate: dict | None = None, *, saves: str):
    """``elementwise_op`` for a floating-point unary op (``_float_meta`` is its dtype rule)."""
    def infer(x):
        return _float_meta(name, x)
    infer.__name__ = f"{name}_infer"
    return elementwise_op(name, ufunc=ufunc, errstate=errstate, infer=infer, saves=saves)


def _float_unary_function(op, doc: str):
    """The public function ``name(input, *, out=None)`` of a floating-point unary op (also
    a Tensor method)."""
    name = op.name

    def fn(input, *, out=None):
        _no_out(out, name)
        return _float_unary(op, input)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__module__ = __name__
    return tensor_method(fn)


_OVER = {"over": "ignore"}
_INVALID = {"invalid": "ignore"}
_LOG_DOMAIN = {"divide": "ignore", "invalid": "ignore"}


@_float_unary_op("exp", "exp", _OVER, saves="output")
class Exp:
    """e ** x."""

    def scalar(x):
        return math.exp(x)

    def vjp(g, out, x):
        return g * out


@_float_unary_op("log", "log", _LOG_DOMAIN, saves="inputs")
class Log:
    """Natural logarithm; log(0) = -inf and log(x < 0) = nan, without warnings."""

    def scalar(x):
        return math.log(x)

    def vjp(g, out, x):
        return g / x


@_float_unary_op("log2", "log2", _LOG_DOMAIN, saves="inputs")
class Log2:
    """Base-2 logarithm."""

    def scalar(x):
        return math.log2(x)

    def vjp(g, out, x):
        return g / (x * _LN2)


@_float_unary_op("log10", "log10", _LOG_DOMAIN, saves="inputs")
class Log10:
    """Base-10 logarithm."""

    def scalar(x):
        return math.log10(x)

    def vjp(g, out, x):
        return g / (x * _LN10)


@_float_unary_op("log1p", "log1p", _LOG_DOMAIN, saves="inputs")
class Log1p:
    """log(1 + x), accurate for small |x|."""

    def scalar(x):
        return math.log1p(x)

    def vjp(g, out, x):
        return g / (x + 1)


@_float_unary_op("expm1", "expm1", _OVER, saves="output")
class Expm1:
    """exp(x) - 1, accurate for small |x|."""

    def scalar(x):
        return math.expm1(x)

    def vjp(g, out, x):
        return g * (out + 1)


@_float_unary_op("sqrt", "sqrt", _INVALID, saves="output")
class Sqrt:
    """Square root (nan for negative inputs, without warnings)."""

    def scalar(x):
        return math.sqrt(x)

    def vjp(g, out, x):
        return g / (out * 2)


@_float_unary_op("reciprocal", "reciprocal", {"divide": "ignore"}, saves="output")
class Reciprocal:
    """1 / x (1/0 = inf without warnings)."""

    def scalar(x):
        return 1.0 / x

    def vjp(g, out, x):
        return neg(g * (out * out))


@_float_unary_op("sin", "sin", _INVALID, saves="inputs")
class Sin:
    """Sine."""

    def scalar(x):
        return math.sin(x)

    def vjp(g, out, x):
        return g * cos(x)


@_float_unary_op("cos", "cos", _INVALID, saves="inputs")
class Cos:
    """Cosine."""

    def scalar(x):
        return math.cos(x)

    def vjp(g, out, x):
        return neg(g * sin(x))


@_float_unary_op("tan", "tan", _INVALID, saves="output")
class Tan:
    """Tangent; d tan = 1 + tan**2."""

    def scalar(x):
        return math.tan(x)

    def vjp(g, out, x):
        return g * (out * out + 1)


@_float_unary_op("tanh", "tanh", saves="output")
class Tanh:
    """Hyperbolic tangent; d tanh = 1 - tanh**2."""

    def scalar(x):
        return math.tanh(x)

    def vjp(g, out, x):
        return g * (1 - out * out)


@_float_unary_op("erf", "erf", saves="inputs")
class Erf:
    """The error function (the backend's double-precision ``erf``)."""

    def scalar(x):
        return math.erf(x)

    def vjp(g, out, x):
        return g * (exp(neg(x * x)) * _TWO_OVER_SQRT_PI)


exp = _float_unary_function(Exp, "e ** input (integer inputs give the default float dtype).")
log = _float_unary_function(Log, "Natural logarithm.")
log2 = _float_unary_function(Log2, "Base-2 logarithm.")
log10 = _float_unary_function(Log10, "Base-10 logarithm.")
log1p = _float_unary_function(Log1p, "log(1 + input), accurate for small values.")
expm1 = _float_unary_function(Expm1, "exp(input) - 1, accurate for small values.")
sqrt = _float_unary_function(Sqrt, "Square root.")
reciprocal = _float_unary_function(
    Reciprocal, "1 / input (integer inputs give the default float dtype).")
sin = _float_unary_function(Sin, "Sine (radians).")
cos = _float_unary_function(Cos, "Cosine (radians).")
tan = _float_unary_function(Tan, "Tangent (radians).")
tanh = _float_unary_function(Tanh, "Hyperbolic tangent.")
erf = _float_unary_function(Erf, "The error function 2/sqrt(pi) * integral_0^x exp(-t**2) dt.")


@register_op("rsqrt", saves="output")
class Rsqrt:
    """1 / sqrt(x)."""

    def forward(xp, x):
        with xp.errstate(divide="ignore", invalid="ignore"):
            return xp.reciprocal(xp.sqrt(x))

    def scalar(x):
        return 1.0 / math.sqrt(x)

    def infer(x):
        return _float_meta("rsqrt", x)

    def vjp(g, out, x):
        return g * (out * out * out) * -0.5


rsqrt = _float_unary_function(Rsqrt, "1 / sqrt(input).")


@register_op("square", saves="inputs")
class Square:
    """x * x (integer tensors stay integer)."""

    def forward(xp, x):
        with xp.errstate(over="ignore"):
            return xp.multiply(x, x)

    def scalar(x):
        return x * x

    def infer(x):
        if x.dtype is _dtype.bool:
            raise DTypeError("square: not implemented for bool tensors")
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x):
        return g * (x * 2)


@tensor_method
def square(input, *, out=None):
    """input * input; bool tensors square as int64 (``torch.square`` is ``pow(x, 2)``)."""
    _no_out(out, "square")
    x = _tensor_arg("square", input)
    if _dtype_of(x) is _dtype.bool:
        x = to_dtype(x, _dtype.int64)
    return apply(Square, x)


@register_op("atan2", saves="inputs")
class Atan2:
    """atan(a / b) in the quadrant of (b, a)."""

    def forward(xp, a, b):
        return xp.arctan2(a, b)

    def scalar(a, b):
        return math.atan2(a, b)

    def infer(a, b):
        m = elementwise_meta("atan2", a, b)
        return _float_meta("atan2", m)

    def vjp(g, out, a, b, needs):
        # d atan2(a, b) = (b da - a db) / (a^2 + b^2); 0 at the origin (as PyTorch), where
        # the quotient would be 0/0.
        denom = a * a + b * b
        origin = eq(denom, 0)
        denom = where(origin, 1.0, denom)
        ga = where(origin, 0.0, g * b / denom) if needs[0] else None
        gb = where(origin, 0.0, neg(g * a) / denom) if needs[1] else None
        return ga, gb


@tensor_method
def atan2(input, other, *, out=None):
    """Angle of the point (other, input), in (-pi, pi]; integers compute as floats."""
    _no_out(out, "atan2")
    return _float_binary(Atan2, input, other)


arctan2 = atan2
tensor_method("arctan2")(atan2)


# ---- activations -----------------------------------------------------------------------------

@register_op("sigmoid", saves="output")
class Sigmoid:
    """1 / (1 + exp(-x)), evaluated without overflow."""

    def forward(xp, x):
        # exp(-|x|) never overflows: 1/(1+e) for x >= 0 and e/(1+e) for x < 0 are the
        # same function, each exact where the other would overflow or lose precision.
        with xp.errstate(under="ignore"):
            e = xp.exp(-xp.abs(x))
            return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    def scalar(x):
        # the forward's two branches, each exact where the other would overflow
        e = math.exp(-math.fabs(x))
        return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)

    def infer(x):
        return _float_meta("sigmoid", x)

    def vjp(g, out, x):
        return g * (out * (1 - out))


@tensor_method
def sigmoid(input, *, out=None):
    """The logistic function 1 / (1 + exp(-input)), stable for large |input|."""
    _no_out(out, "sigmoid")
    return _float_unary(Sigmoid, input)


@register_op("relu", saves="output")
class Relu:
    """max(x, 0); the gradient at 0 is 0 (PyTorch's convention)."""

    def forward(xp, x):
        _no_bool("relu", x.dtype.kind)
        return xp.maximum(x, xp.zeros((), x.dtype))

    def scalar(x):
        return 0.0 if x <= 0 else x  # nan stays nan

    def infer(x):
        if x.dtype is _dtype.bool:
            _no_bool("relu", "b")
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x):
        return apply(ThresholdBackward, g, out)


def _threshold_backward_numba(g, out):
    """numba's one-pass ReLU gradient (``yingshe.ops._numba_kernels``) for contiguous
    float32/float64 NumPy arrays under the numba backend, else None (the bit mask)."""
    if (not isinstance(g, np.ndarray) or g.dtype not in (np.float32, np.float64)
            or not (g.flags.c_contiguous and out.flags.c_contiguous)):
        return None
    from yingshe.ops._numba_kernels import kernels
    k = kernels()
    return None if k is None else k["threshold_backward"]


@register_op("threshold_backward", saves="other")
class ThresholdBackward:
    """ReLU's gradient, PyTorch's ``threshold_backward(g, out, 0)``: ``g`` where
    ``out > 0`` or ``out`` is NaN, else 0; linear in ``g`` (its VJP is itself) and
    piecewise constant in ``out`` (no gradient).

    Bit masking (``g & ~0`` or ``g & 0``, after one compare): exact for every ``g``
    (inf, NaN, -0.0), where ``g * (out > 0)`` would turn ``inf * 0`` into NaN and
    ``where`` with a data-dependent mask is ~10x slower."""

    def forward(xp, g, out):
        if (g.shape == out.shape and g.dtype == out.dtype and g.dtype.kind == "f"
                and g.ndim):
            fn = _threshold_backward_numba(g, out)
            if fn is not None:      # one pass instead of three (the jit extra)
                res = np.empty(g.shape, dtype=g.dtype)
                fn(g.reshape(-1), out.reshape(-1), res.reshape(-1))
                return res
            bits = np.dtype(f"u{g.dtype.itemsize}")
            keep = xp.subtract(xp.less_equal(out, 0), 1, dtype=bits)  # all ones: keep g
            res = xp.empty(g.shape, dtype=g.dtype)
            xp.bitwise_and(g.view(bits), keep, out=res.view(bits))
            return res
        return xp.where(xp.less_equal(out, 0), xp.zeros((), g.dtype), g)

    def scalar(g, out):
        return 0.0 if out <= 0 else g  # 0 even where g is inf or nan, as the bit mask

    def infer(g, out):
        if not g.dtype.is_floating_point:
            raise DTypeError(f"threshold_backward: expected a floating-point gradient, got "
                             f"{g.dtype}")
        return Meta(broadcast_shapes("threshold_backward", g.shape, out.shape), g.dtype)

    def vjp(h, res, g, out, needs):
        return (apply(ThresholdBackward, h, out) if needs[0] else None), None


@tensor_method
def relu(input):
    """max(input, 0) elementwise (integer tensors stay integer)."""
    return apply(Relu, _tensor_arg("relu", input))


def _inplace_result(input, result, opname):
    from yingshe.ops._inplace import commit
    return commit(input, result, opname)


@register_op("leaky_relu", saves="inputs")
class LeakyRelu:
    """x for x > 0, negative_slope * x otherwise (gradient at 0: negative_slope)."""

    def forward(xp, x, *, negative_slope):
        return xp.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)

    def scalar(x, negative_slope):
        return x if x > 0 else x * negative_slope

    def infer(x, *, negative_slope):
        return _float_meta("leaky_relu", x)

    def vjp(g, out, x, *, negative_slope):
        return where(gt(x, 0), g, g * negative_slope)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """Leaky ReLU (``torch.nn.functional.leaky_relu``)."""
    out = _float_only(LeakyRelu, input, negative_slope=builtins.float(negative_slope))
    return _inplace_result(input, out, "leaky_relu_") if inplace else out


@register_op("elu", saves="both")
class Elu:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def forward(xp, x, *, alpha):
        # expm1 of min(x, 0): the unused branch must not overflow for large x.
        with xp.errstate(under="ignore"):
            neg_part = xp.expm1(xp.minimum(x, 0)) * alpha
        return xp.where(x > 0, x, neg_part).astype(x.dtype, copy=False)

    def scalar(x, alpha):
        return x if x > 0 else math.expm1(min(x, 0.0)) * alpha

    def infer(x, *, alpha):
        return _float_meta("elu", x)

    def vjp(g, out, x, *, alpha):
        # for x <= 0, d/dx alpha*(exp(x)-1) = alpha*exp(x), of x clipped to <= 0: no exp that
        # could overflow on the unused branch (which would leak nan into 2nd order), and
        # no cancellation (out + alpha loses every digit below x = -17 in float64).
        # nan takes the exp branch, so its gradient is nan (DESIGN's rule for non-finite
        # inputs): PyTorch's own answer there depends on the CPU's vector width and the
        # tensor's length (its vectorised path gives nan, its scalar tail 1).
        pos = gt(x, 0)
        return where(pos, g, g * (exp(where(pos, 0.0, x)) * alpha))


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """ELU (``torch.nn.functional.elu``): x if x > 0 else alpha * (exp(x) - 1)."""
    out = _float_only(Elu, input, alpha=builtins.float(alpha))
    return _inplace_result(input, out, "elu_") if inplace else out


@register_op("softplus", saves="inputs")
class Softplus:
    """log(1 + exp(beta x)) / beta, linear (x) where beta x > threshold."""

    def forward(xp, x, *, beta, threshold):
        bx = x * beta
        # log1p(exp(z)) = max(z, 0) + log1p(exp(-|z|)): no overflow for any z, unlike the
        # textbook form (PyTorch's threshold keeps its own from overflowing only when
        # threshold is small); equal to it up to rounding.
        with xp.errstate(under="ignore"):
            soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta
        return xp.where(bx > threshold, x, soft).astype(x.dtype, copy=False)

    def scalar(x, beta, threshold):
        bx = x * beta
        if bx > threshold:
            return x
        return (max(bx, 0.0) + math.log1p(math.exp(-math.fabs(bx)))) / beta

    def infer(x, *, beta, threshold):
        return _float_meta("softplus", x)

    def vjp(g, out, x, *, beta, threshold):
        bx = x * beta
        return where(gt(bx, threshold), g, g * sigmoid(bx))


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """Softplus (``torch.nn.functional.softplus``): log(1 + exp(beta x)) / beta, and x
    itself where beta * x > threshold (PyTorch's linearisation)."""
    return _float_only(Softplus, input, beta=builtins.float(beta),
                       threshold=builtins.float(threshold))


@register_op("silu", saves="inputs")
class Silu:
    """x * sigmoid(x) (also called swish)."""

    def forward(xp, x):
        return x * Sigmoid.forward(xp, x)

    def scalar(x):
        e = math.exp(-math.fabs(x))
        return x * (1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e))

    def infer(x):
        return _float_meta("silu", x)

    def vjp(g, out, x):
        s = sigmoid(x)
        return g * (s * (1 + x * (1 - s)))


def silu(input, inplace: bool = False):
    """SiLU / swish (``torch.nn.functional.silu``): input * sigmoid(input)."""
    out = _float_only(Silu, input)
    return _inplace_result(input, out, "silu_") if inplace else out


# ---- rounding ---------------------------------------------------------------------------------

@register_op("sign", saves="none")
class Sign:
    """-1, 0 or 1 by the sign of x (0 for nan, as PyTorch); zero gradient."""

    def forward(xp, x):
        if x.dtype.kind == "b":
            return x.copy()
        if x.dtype.kind == "f":
            # NumPy's sign(nan) is nan; PyTorch's is 0 ((0 < x) - (x < 0)).
            return (xp.greater(x, 0).astype(x.dtype) - xp.less(x, 0).astype(x.dtype))
        return xp.sign(x)

    def infer(x):
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x):
        return _zeros_like(g)


@tensor_method
def sign(input, *, out=None):
    """The sign of each element (-1, 0, 1); 0 for nan."""
    _no_out(out, "sign")
    return apply(Sign, _tensor_arg("sign", input))


def _rounding_meta(opname: str, x: Meta) -> Meta:
    """floor/ceil/trunc: integer tensors come back unchanged (a copy), bool is refused."""
    _no_bool(opname, x.dtype.np.kind)
    return Meta(tuple(x.shape), x.dtype)


@register_op("floor", saves="none")
class Floor:
    """Largest integer <= x (zero gradient)."""

    def forward(xp, x):
        _no_bool("floor", x.dtype.kind)
        return xp.floor(x) if x.dtype.kind == "f" else x.copy()

    def infer(x):
        return _rounding_meta("floor", x)

    def vjp(g, out, x):
        return _zeros_like(g)


@register_op("ceil", saves="none")
class Ceil:
    """Smallest integer >= x (zero gradient)."""

    def forward(xp, x):
        _no_bool("ceil", x.dtype.kind)
        return xp.ceil(x) if x.dtype.kind == "f" else x.copy()

    def infer(x):
        return _rounding_meta("ceil", x)

    def vjp(g, out, x):
        return _zeros_like(g)


@register_op("trunc", saves="none")
class Trunc:
    """x rounded toward zero (zero gradient)."""

    def forward(xp, x):
        _no_bool("trunc", x.dtype.kind)
        return xp.trunc(x) if x.dtype.kind == "f" else x.copy()

    def infer(x):
        return _rounding_meta("trunc", x)

    def vjp(g, out, x):
        return _zeros_like(g)


@register_op("round", saves="none")
class Round:
    """x rounded half to even, to ``decimals`` decimal places (PyTorch's arithmetic:
    rint(x * 10**d) / 10**d, or rint(x / 10**-d) * 10**-d for negative d)."""

    def forward(xp, x, *, decimals):
        _no_bool("round", x.dtype.kind)
        if x.dtype.kind != "f":
            if decimals != 0:
                Round.infer(Meta(x.shape, _dtype.from_numpy_dtype(x.dtype)), decimals=decimals)
            return x.copy()
        if decimals == 0:
            return xp.rint(x)
        scale = x.dtype.type(10.0 ** builtins.abs(decimals))
        with xp.errstate(over="ignore", invalid="ignore"):
            if decimals > 0:
                return xp.rint(x * scale) / scale
            return xp.rint(x / scale) * scale

    def infer(x, *, decimals):
        _no_bool("round", x.dtype.np.kind)
        if decimals != 0 and not x.dtype.is_floating_point:
            raise DTypeError(f"round: decimals={decimals} is not implemented for {x.dtype} "
                             "tensors")
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x, *, decimals):
        return _zeros_like(g)


def _rounding(op, input, out, name):
    _no_out(out, name)
    return apply(op, _tensor_arg(name, input))


@tensor_method
def floor(input, *, out=None):
    """Largest integer <= input (integer tensors are returned as they are)."""
    return _rounding(Floor, input, out, "floor")


@tensor_method
def ceil(input, *, out=None):
    """Smallest integer >= input."""
    return _rounding(Ceil, input, out, "ceil")


@tensor_method
def trunc(input, *, out=None):
    """input rounded toward zero."""
    return _rounding(Trunc, input, out, "trunc")


fix = trunc
tensor_method("fix")(trunc)


@tensor_method
def round(input, *, decimals: int = 0, out=None):
    """input rounded half to even (to ``decimals`` decimal places)."""
    _no_out(out, "round")
    return apply(Round, _tensor_arg("round", input), decimals=builtins.int(decimals))


@register_op("frac", saves="none")
class Frac:
    """x - trunc(x) (the sign of x); gradient 1."""

    def forward(xp, x):
        return x - xp.trunc(x)

    def infer(x):
        return _float_meta("frac", x)

    def vjp(g, out, x):
        return g


@tensor_method
def frac(input, *, out=None):
    """The fractional part input - trunc(input) (floating-point tensors only)."""
    _no_out(out, "frac")
    return _float_only(Frac, input)


# ---- selection: clamp, where, maximum/minimum, lerp -------------------------------------------

@register_op("clamp", saves="inputs")
class Clamp:
    """min(max(x, lo), hi); ``lo``/``hi`` are tensors, numbers or None (not both None).
    With lo > hi every element is hi, as in PyTorch."""

    def forward(xp, x, lo, hi):
        if x.dtype.kind == "b" and not all(v is None or isinstance(v, np.ndarray)
                                           for v in (lo, hi)):
            _no_bool("clamp", "b", "bool tensors with number bounds")
        out = x
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return out if out is not x else x.copy()

    def infer(x, lo, hi):
        m = elementwise_meta("clamp", *(v for v in (x, lo, hi) if v is not None))
        if m.dtype is _dtype.bool and not all(v is None or isinstance(v, Meta)
                                              for v in (lo, hi)):
            _no_bool("clamp", "b", "bool tensors with number bounds")
        return m

    def vjp(g, out, x, lo, hi, needs):
        # PyTorch's clamp_backward(_min_max): x gets g where lo <= x <= hi; a tensor
        # bound gets g where it is the active one.
        gx = glo = ghi = None
        if needs[0]:
            if lo is not None and hi is not None:
                gx = _masked(logical_and(ge(x, lo), le(x, hi)), g)
            elif lo is not None:
                gx = _masked(ge(x, lo), g)
            else:
                gx = _masked(le(x, hi), g)
        if needs[1]:
            cond = lt(x, lo)
            if hi is not None:
                cond = logical_and(cond, lt(lo, hi))
            glo = _masked(cond, g)
        if needs[2]:
            cond = gt(x, hi)
            if lo is not None:
                cond = logical_or(cond, lt(hi, lo))
            ghi = _masked(cond, g)
        return gx, glo, ghi


def _bound(x):
    if x is None or isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, np.generic)) and np.ndim(x) > 0:
        return _wrap(np.asarray(x))
    return _as_operand(x.item() if isinstance(x, np.generic) else x)


@tensor_method
def clamp(input, min=None, max=None, *, out=None):
    """Clamp every element into [min, max]; bounds are numbers or tensors (broadcast).

    The result dtype follows PyTorch's promotion over (input, min, max)
    (``clamp(int_tensor, min=0.5)`` is float32). The gradient flows to ``input`` where
    ``min <= input <= max`` (both ends included) and to a tensor bound where it is the
    active one.

    Raises:
        RuntimeError: when both ``min`` and ``max`` are None (as PyTorch).
    """
    _no_out(out, "clamp")
    x = _tensor_arg("clamp", input)
    lo, hi = _bound(min), _bound(max)
    if lo is None and hi is None:
        site = format_site(user_site(2))
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None"
                           + (f" (at {site})" if site else ""))
    operands = [v for v in (x, lo, hi) if v is not None]
    dt = _dtype.result_type(*(_TensorOperand(v) if isinstance(v, Tensor) else v
                              for v in operands))
    x, lo, hi = (_cast_to(v, dt) if isinstance(v, Tensor) else v for v in (x, lo, hi))
    return apply(Clamp, x, lo, hi)


clip = clamp
tensor_method("clip")(clamp)


@tensor_method
def clamp_min(input, min):
    """``clamp(input, min=min)``."""
    return clamp(input, min=min)


@tensor_method
def clamp_max(input, max):
    """``clamp(input, max=max)``."""
    return clamp(input, max=max)


@register_op("where", saves="inputs")
class Where:
    """``a`` where ``cond`` else ``b``, broadcasting all three."""

    def forward(xp, cond, a, b):
        return xp.where(cond, a, b)

    def scalar(cond, a, b):
        return a if cond else b

    def infer(cond, a, b):
        if isinstance(cond, Meta) and cond.dtype is not _dtype.bool:
            raise DTypeError(f"where: expected condition to be a boolean tensor, but got a "
                             f"tensor with dtype {cond.dtype}")
        shapes = [m.shape for m in (cond, a, b) if isinstance(m, Meta)]
        shape = broadcast_shapes("where", *shapes)
        return Meta(shape, elementwise_meta("where", a, b).dtype)

    def vjp(g, out, cond, a, b, needs):
        ga = where(cond, g, 0.0) if needs[1] else None
        gb = where(cond, 0.0, g) if needs[2] else None
        return None, ga, gb


@tensor_method("where")
def _where_method(self, condition, other):
    return where(condition, self, other)


def where(condition, input=None, other=None, *, out=None):
    """``input`` where ``condition`` is True, else ``other`` (numbers allowed).

    ``condition`` must be a bool tensor; ``input`` and ``other`` promote as in any
    binary op (``where(c, 1.0, 0.0)`` is float32). The gradient of each branch is
    masked by the condition.

    Example:
        >>> c = yingshe.tensor([True, False])
        >>> yingshe.where(c, yingshe.tensor([1.0, 2.0]), 0.0)
        tensor([1., 0.])
    """
    _no_out(out, "where")
    if input is None and other is None:   # torch.where(condition): the nonzero positions
        from yingshe.ops.search import nonzero
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: expected both input and other (or neither)")
    cond = _tensor_arg("where", condition) if not isinstance(condition, bool) else condition
    if isinstance(cond, Tensor) and _dtype_of(cond) is not _dtype.bool:
        raise DTypeError(f"where: expected condition to be a boolean tensor, but got a "
                         f"tensor with dtype {_dtype_of(cond)}")
    a, b, dt = promote(input, other)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        # two numbers: make one a 0-d tensor of the promoted dtype, so NumPy keeps it
        a = _wrap(np.asarray(a, dtype=dt))
    return apply(Where, cond, a, b)


class _MaxMin:
    """Shared VJP maths of maximum/minimum: the gradient goes to the selected operand,
    split equally on ties; nan (selected by both) passes to both, as in PyTorch."""

    @staticmethod
    def grads(g, a, b, needs, a_loses):
        # a_loses(a, b): True where b is strictly selected over a.
        ga = gb = None
        if needs[0] or needs[1]:
            shared = where(eq(a, b), g / 2, g)
        if needs[0]:
            ga = where(a_loses(a, b), 0.0, shared)
        if needs[1]:
            gb = where(a_loses(b, a), 0.0, shared)
        return ga, gb


@elementwise_op("maximum", ufunc="maximum", saves="inputs")
class Maximum:
    """Elementwise max (nan if either is nan)."""

    def scalar(a, b):
        return a if a >= b or a != a else b  # nan if either is nan

    def infer(a, b):
        return elementwise_meta("maximum", a, b)

    def vjp(g, out, a, b, needs):
        return _MaxMin.grads(g, a, b, needs, lt)


@elementwise_op("minimum", ufunc="minimum", saves="inputs")
class Minimum:
    """Elementwise min (nan if either is nan)."""

    def scalar(a, b):
        return a if a <= b or a != a else b

    def infer(a, b):
        return elementwise_meta("minimum", a, b)

    def vjp(g, out, a, b, needs):
        return _MaxMin.grads(g, a, b, needs, gt)


@tensor_method
def maximum(input, other, *, out=None):
    """Elementwise maximum with broadcasting and promotion; ties split the gradient."""
    _no_out(out, "maximum")
    return _binary(Maximum, input, other)


@tensor_method
def minimum(input, other, *, out=None):
    """Elementwise minimum with broadcasting and promotion; ties split the gradient."""
    _no_out(out, "minimum")
    return _binary(Minimum, input, other)


@register_op("lerp", saves="inputs")
class Lerp:
    """start + weight * (end - start), in PyTorch's two-sided form (exact at weight 1)."""

    def forward(xp, start, end, weight):
        with xp.errstate(invalid="ignore", over="ignore"):   # non-finite inputs give NaN
            diff = end - start
            out = xp.where(xp.abs(weight) < 0.5, start + weight * diff,
                           end - diff * (1 - weight))
        return out.astype(xp.result_type(start, end), copy=False)

    def infer(start, end, weight):
        m = elementwise_meta("lerp", start, end, weight)
        return _float_meta("lerp", m)

    def vjp(g, out, start, end, weight, needs):
        gs = g * (1 - weight) if needs[0] else None
        ge_ = g * weight if needs[1] else None
        gw = g * (end - start) if needs[2] else None
        return gs, ge_, gw


@tensor_method
def lerp(input, end, weight, *, out=None):
    """Linear interpolation input + weight * (end - input); ``weight`` is a number or
    a tensor. ``input`` and ``end`` must have the same floating dtype (as in PyTorch)."""
    _no_out(out, "lerp")
    start = _tensor_arg("lerp", input)
    end = _tensor_arg("lerp", end)
    ds, de = _dtype_of(start), _dtype_of(end)
    if ds is not de:
        raise DTypeError(f"lerp: expected dtype {ds.name} for `end` but got dtype {de.name}")
    if not ds.is_floating_point:    # eagerly too, not only where infer runs (compiled)
        raise DTypeError(f"lerp: expected a floating-point tensor, got {ds}")
    if isinstance(weight, Tensor) and _dtype_of(weight) is not ds:
        raise DTypeError(f"lerp: expected dtype {ds.name} for `weight` but got dtype "
                         f"{_dtype_of(weight).name}")
    if not isinstance(weight, Tensor):
        weight = builtins.float(weight)
    return apply(Lerp, start, end, weight)


def _addc_operands(opname, input, tensor1, tensor2, value):
    """The three tensors in their common dtype (PyTorch's promotion of the tensors; the
    number ``value`` does not take part) and ``value`` in that dtype (truncated toward
    zero for integers, as PyTorch casts it)."""
    ts = [_tensor_arg(opname, t) for t in (input, tensor1, tensor2)]
    dt = _dtype.result_type(*ts)
    if dt is _dtype.bool:
        raise DTypeError(f"{opname}: not implemented for bool tensors (convert to int or "
                         "float)")
    if isinstance(value, complex) or not isinstance(value, (bool, int, float, np.number)):
        raise TypeError(f"{opname}(): argument 'value' must be a number, not "
                        f"{type(value).__name__}")
    value = builtins.int(value) if not dt.is_floating_point else builtins.float(value)
    return [t if t.dtype is dt else to_dtype(t, dt) for t in ts], value


@tensor_method
def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    """input + value * tensor1 * tensor2, broadcasting all three (PyTorch's ``addcmul``)."""
    from yingshe.ops.elementwise import add, mul
    _no_out(out, "addcmul")
    (x, a, b), value = _addc_operands("addcmul", input, tensor1, tensor2, value)
    prod = mul(a, b)
    return add(x, prod if value == 1 else mul(prod, value))


@tensor_method
def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    """input + value * tensor1 / tensor2, broadcasting all three; integer ``tensor1`` and
    ``tensor2`` are refused, as in PyTorch (its message says why)."""
    from yingshe.ops.elementwise import add, div, mul
    _no_out(out, "addcdiv")
    t1, t2 = _tensor_arg("addcdiv", tensor1), _tensor_arg("addcdiv", tensor2)
    if not t1.dtype.is_floating_point and not t2.dtype.is_floating_point:
        raise RuntimeError(
            "addcdiv: integer division with addcdiv is no longer supported (PyTorch's rule): "
            "for true division cast tensor1 or tensor2 to a floating dtype; for floor "
            "division use input + value * (tensor1 // tensor2)")
    (x, a, b), value = _addc_operands("addcdiv", input, t1, t2, value)
    quot = div(a, b)
    return add(x, quot if value == 1 else mul(quot, value))


# ---- comparisons (bool results, not differentiable) -------------------------------------------

def _comparison(name: str, ufunc: str, scalar):
    class Compare:
        def infer(a, b):
            elementwise_meta(name, a, b)  # broadcasting and promotion must be valid
            return _bool_meta(name, a, b)

    Compare.scalar = scalar
    Compare.__doc__ = f"a {ufunc.replace('_', ' ')} b elementwise (bool; no gradient)."
    return elementwise_op(name, ufunc=ufunc, saves="none")(Compare)


# scalar formulas of the comparisons (module level: numba imports them by name)
def _eq(a, b):
    return a == b


def _ne(a, b):
    return a != b


def _lt(a, b):
    return a < b


def _le(a, b):
    return a <= b


def _gt(a, b):
    return a > b


def _ge(a, b):
    return a >= b


Eq = _comparison("eq", "equal", _eq)
Ne = _comparison("ne", "not_equal", _ne)
Lt = _comparison("lt", "less", _lt)
Le = _comparison("le", "less_equal", _le)
Gt = _comparison("gt", "greater", _gt)
Ge = _comparison("ge", "greater_equal", _ge)


def _is_operand(x) -> bool:
    return isinstance(x, (Tensor, bool, int, float, np.ndarray, np.generic))


@tensor_method
def eq(input, other, *, out=None):
    """input == other elementwise (a bool tensor)."""
    _no_out(out, "eq")
    return _binary(Eq, input, other)


@tensor_method
def ne(input, other, *, out=None):
    """input != other elementwise."""
    _no_out(out, "ne")
    return _binary(Ne, input, other)


@tensor_method
def lt(input, other, *, out=None):
    """input < other elementwise."""
    _no_out(out, "lt")
    return _binary(Lt, input, other)


@tensor_method
def le(input, other, *, out=None):
    """input <= other elementwise."""
    _no_out(out, "le")
    return _binary(Le, input, other)


@tensor_method
def gt(input, other, *, out=None):
    """input > other elementwise."""
    _no_out(out, "gt")
    return _binary(Gt, input, other)


@tensor_method
def ge(input, other, *, out=None):
    """input >= other elementwise."""
    _no_out(out, "ge")
    return _binary(Ge, input, other)


not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge
for _alias, _fn in (("not_equal", ne), ("less", lt), ("less_equal", le), ("greater", gt),
                    ("greater_equal", ge)):
    tensor_method(_alias)(_fn)


def _operator(fn):
    """A comparison operator: NotImplemented for operands that are not numbers/tensors
    (so ``t == None`` is False and ``t < "a"`` a TypeError, as in Python)."""
    def method(self, other):
        if not _is_operand(other):
            return NotImplemented
        return fn(self, other)
    method.__name__ = fn.__name__
    return method


for _dunder, _fn in (("__eq__", eq), ("__ne__", ne), ("__lt__", lt), ("__le__", le),
                     ("__gt__", gt), ("__ge__", ge)):
    tensor_method(_dunder)(_operator(_fn))


# ---- logical ops (bool results, not differentiable) --------------------------------------------

def _logical(name: str, ufunc: str, arity: int):
    if arity == 2:
        class Logical:
            def forward(xp, a, b):
                return getattr(xp, ufunc)(a, b)

            def infer(a, b):
                return _bool_meta(name, a, b)
    else:
        class Logical:
            def forward(xp, x):
                return getattr(xp, ufunc)(x)

            def infer(x):
                return Meta(tuple(x.shape), _dtype.bool)

    Logical.__doc__ = f"Elementwise {ufunc} of the truth values (bool; no gradient)."
    return register_op(name, saves="none")(Logical)


LogicalAnd = _logical("logical_and", "logical_and", 2)
LogicalOr = _logical("logical_or", "logical_or", 2)
LogicalXor = _logical("logical_xor", "logical_xor", 2)
LogicalNot = _logical("logical_not", "logical_not", 1)


def _logical_operands(name, a, b):
    a, b = _as_operand(a), _as_operand(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{name}: expected at least one tensor operand")
    return a, b


@tensor_method
def logical_and(input, other, *, out=None):
    """Elementwise AND of truth values (nonzero is True); a bool tensor."""
    _no_out(out, "logical_and")
    return apply(LogicalAnd, *_logical_operands("logical_and", input, other))


@tensor_method
def logical_or(input, other, *, out=None):
    """Elementwise OR of truth values."""
    _no_out(out, "logical_or")
    return apply(LogicalOr, *_logical_operands("logical_or", input, other))


@tensor_method
def logical_xor(input, other, *, out=None):
    """Elementwise XOR of truth values."""
    _no_out(out, "logical_xor")
    return apply(LogicalXor, *_logical_operands("logical_xor", input, other))


@tensor_method
def logical_not(input, *, out=None):
    """Elementwise NOT of truth values."""
    _no_out(out, "logical_not")
    return apply(LogicalNot, _tensor_arg("logical_not", input))


# ---- bitwise ops on bool and integer tensors ---------------------------------------------------

def _bitwise(name: str, ufunc: str, arity: int):
    def check(opname, m):
        if m.dtype.is_floating_point:
            raise DTypeError(f"{opname}: only integer and bool tensors are supported, got "
                             f"{m.dtype}")
        return m

    if arity == 2:
        class Bitwise:
            def forward(xp, a, b):
                return getattr(xp, ufunc)(a, b)

            def infer(a, b):
                return check(name, elementwise_meta(name, a, b))
    else:
        class Bitwise:
            def forward(xp, x):
                return getattr(xp, ufunc)(x)

            def infer(x):
                return check(name, Meta(tuple(x.shape), x.dtype))

    Bitwise.__doc__ = f"Elementwise {ufunc} of bool/integer tensors (no gradient)."
    return register_op(name, saves="none")(Bitwise)


BitwiseAnd = _bitwise("bitwise_and", "bitwise_and", 2)
BitwiseOr = _bitwise("bitwise_or", "bitwise_or", 2)
BitwiseXor = _bitwise("bitwise_xor", "bitwise_xor", 2)
BitwiseNot = _bitwise("bitwise_not", "invert", 1)


def _bitwise_binary(op, a, b):
    a, b, dt = promote(a, b)
    if np.dtype(dt).kind == "f":
        raise DTypeError(f"{op.name}: only integer and bool tensors are supported, got "
                         f"{_dtype.from_numpy_dtype(dt)}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op.name}: expected at least one tensor operand")
    return apply(op, a, b)


@tensor_method("__and__")
@tensor_method
def bitwise_and(input, other, *, out=None):
    """Bitwise AND (logical AND for bool tensors)."""
    _no_out(out, "bitwise_and")
    return _bitwise_binary(BitwiseAnd, input, other)


@tensor_method("__or__")
@tensor_method
def bitwise_or(input, other, *, out=None):
    """Bitwise OR (logical OR for bool tensors)."""
    _no_out(out, "bitwise_or")
    return _bitwise_binary(BitwiseOr, input, other)


@tensor_method("__xor__")
@tensor_method
def bitwise_xor(input, other, *, out=None):
    """Bitwise XOR (logical XOR for bool tensors)."""
    _no_out(out, "bitwise_xor")
    return _bitwise_binary(BitwiseXor, input, other)


@tensor_method("__invert__")
@tensor_method
def bitwise_not(input, *, out=None):
    """Bitwise NOT (logical NOT for bool tensors); ``~x``."""
    _no_out(out, "bitwise_not")
    x = _tensor_arg("bitwise_not", input)
    if _is_float(x):
        raise DTypeError(f"bitwise_not: only integer and bool tensors are supported, got "
                         f"{_dtype_of(x)}")
    return apply(BitwiseNot, x)


@tensor_method("__rand__")
def _rand(self, other):
    return _bitwise_binary(BitwiseAnd, other, self)


@tensor_method("__ror__")
def _ror(self, other):
    return _bitwise_binary(BitwiseOr, other, self)


@tensor_method("__rxor__")
def _rxor(self, other):
    return _bitwise_binary(BitwiseXor, other, self)


# ---- classification (bool results, not differentiable) -----------------------------------------

def _classify(name: str, ufunc: str, int_value: bool):
    class Classify:
        def forward(xp, x):
            if x.dtype.kind != "f":
                return xp.full(x.shape, int_value, dtype=bool)
            return getattr(xp, ufunc)(x)

        def infer(x):
            return Meta(tuple(x.shape), _dtype.bool)

    Classify.__doc__ = f"Elementwise {ufunc} (bool; integers are always {int_value})."
    return register_op(name, saves="none")(Classify)


IsNan = _classify("isnan", "isnan", False)
IsInf = _classify("isinf", "isinf", False)
IsFinite = _classify("isfinite", "isfinite", True)


@tensor_method
def isnan(input):
    """True where input is nan."""
    return apply(IsNan, _tensor_arg("isnan", input))


@tensor_method
def isinf(input):
    """True where input is +inf or -inf."""
    return apply(IsInf, _tensor_arg("isinf", input))


@tensor_method
def isfinite(input):
    """True where input is neither inf nor nan."""
    return apply(IsFinite, _tensor_arg("isfinite", input))


# ---- closeness (compositions of the ops above) -----------------------------------------------

@tensor_method
def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False):
    """|input - other| <= atol + rtol * |other| elementwise, for finite values; infinities
    are close only to themselves, NaN only with ``equal_nan`` (PyTorch's rule)."""
    import numpy as _np
    if _dtype_of(input) is _dtype.bool and _dtype_of(other) is _dtype.bool:
        return eq(input, other)     # PyTorch's rule for bools: equality (no subtraction)
    with _np.errstate(invalid="ignore"):  # inf - inf is nan here by design
        near = le(abs(input - other), atol + rtol * abs(other))
        close = eq(input, other) | (near & isfinite(input) & isfinite(other))
        if equal_nan:
            close = close | (isnan(input) & isnan(other))
    return close


@tensor_method
def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether every element of ``input`` is close to ``other`` (``isclose(...).all()``)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


@tensor_method
def equal(input, other) -> bool:
    """Whether ``input`` and ``other`` have the same shape and the same elements (a Python
    bool, as ``torch.equal``; NaN equals nothing)."""
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(eq(input, other).all())


# ---- hypot, nan_to_num (issue 14's missing names; plain registered elementwise ops) ---------

@register_op("hypot", saves="both")
class Hypot:
    """sqrt(a^2 + b^2), without the overflow of squaring (NumPy's ``hypot``)."""

    def forward(xp, a, b):
        return xp.hypot(a, b)

    def infer(a, b):
        return _float_meta("hypot", elementwise_meta("hypot", a, b))

    def vjp(g, out, a, b, needs):
        # d hypot = (a da + b db) / hypot; at the origin 0/0 = NaN, as in PyTorch
        scale = g / out
        return (scale * a if needs[0] else None), (scale * b if needs[1] else None)


@tensor_method
def hypot(input, other, *, out=None):
    """The hypotenuse sqrt(input^2 + other^2) elementwise, with broadcasting and type
    promotion; floating-point only, as in PyTorch."""
    _no_out(out, "hypot")
    a, b, dt = promote(input, other)
    if dt.kind != "f":
        raise DTypeError(f"hypot: expected floating-point inputs, got "
                         f"{_dtype.from_numpy_dtype(dt)} (convert them with .float())")
    return apply(Hypot, a, b)


@register_op("nan_to_num", saves="inputs")
class NanToNum:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (None: the
    largest and the lowest finite value of the dtype); other elements unchanged."""

    def forward(xp, x, *, nan, posinf, neginf):
        return xp.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)

    def infer(x, *, nan, posinf, neginf):
        return x

    def vjp(g, out, x, *, nan, posinf, neginf):
        # the replaced elements are constants: PyTorch's g * isfinite(x)
        return masked_grad(g, isfinite(x))


def masked_grad(g, keep):
    """``g * keep`` for a bool mask, as PyTorch computes such gradients (a non-finite
    ``g`` times 0 is NaN), without NumPy's "invalid value" warning: selections only."""
    return where(keep, g, where(isfinite(g), 0.0, math.nan))


@tensor_method
def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """Replace NaN with ``nan`` and infinities with ``posinf``/``neginf`` (by default the
    dtype's largest and lowest finite values); integer and bool tensors are copied."""
    _no_out(out, "nan_to_num")
    return apply(NanToNum, _tensor_arg("nan_to_num", input), nan=float(nan),
                 posinf=None if posinf is None else float(posinf),
                 neginf=None if neginf is None else float(neginf))


# ---- ldexp: input * 2**other ------------------------------------------------------------------

@register_op("ldexp", saves="inputs")
class Ldexp:
    """``a * 2**n`` for a floating ``a`` and an integer ``n``, exact (the exponent is added:
    no overflow of ``2**n`` on the way, ``0 * 2**2000`` is 0), in ``a``'s dtype."""

    def forward(xp, a, n):
        with xp.errstate(over="ignore", under="ignore"):
            return xp.ldexp(a, n).astype(a.dtype, copy=False)

    def infer(a, n):
        m = elementwise_meta("ldexp", a, n)
        return Meta(tuple(m.shape), a.dtype)

    def vjp(g, out, a, n, needs):
        # linear in a: d/da = 2**n, applied exactly as for the value; n is an integer
        return (apply(Ldexp, g, n) if needs[0] else None), None


@tensor_method
def ldexp(input, other, *, out=None):
    """``input * 2**other`` elementwise, with broadcasting, as ``torch.ldexp``: a
    floating-point ``input`` and an integer ``other`` give ``input``'s dtype, computed
    exactly; otherwise ``input * pow(2., other)`` with type promotion (integer operands
    give the default float dtype). Both operands must be tensors."""
    _no_out(out, "ldexp")
    for name, t in (("input", input), ("other", other)):
        if not hasattr(t, "dtype") or not hasattr(t, "shape"):
            raise TypeError(f"ldexp(): argument {name!r} must be a Tensor, not "
                            f"{type(t).__name__}")
    if input.dtype.is_floating_point and not other.dtype.is_floating_point:
        if other.dtype is _dtype.bool:
            raise DTypeError("ldexp: a bool exponent is not supported with a floating-point "
                             "input, as in PyTorch (convert it with .long())")
        return apply(Ldexp, input, other)
    from yingshe.ops.elementwise import mul
    with np.errstate(over="ignore", invalid="ignore"):   # 2**2000 = inf and 0 * inf = NaN
        return mul(input, pow(2.0, other))


# ---- hardtanh: clamp with PyTorch's gradient at the corners ----------------------------------

@register_op("hardtanh", saves="inputs")
class Hardtanh:
    """``clamp(x, min_val, max_val)``, whose gradient is PyTorch's: ``g`` strictly between
    the bounds (and at NaN), 0 at and beyond them (``clamp`` passes it at the bounds)."""

    def forward(xp, x, *, min_val, max_val):
        _no_bool("hardtanh", x.dtype.kind)
        return xp.clip(x, min_val, max_val).astype(x.dtype, copy=False)

    def infer(x, *, min_val, max_val):
        if x.dtype is _dtype.bool:
            _no_bool("hardtanh", "b")
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x, *, min_val, max_val):
        return where(logical_or(le(x, min_val), ge(x, max_val)), 0.0, g)


def hardtanh(input, min_val=-1.0, max_val=1.0):
    """``min(max(x, min_val), max_val)`` (``torch.nn.functional.hardtanh``)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return apply(Hardtanh, _tensor_arg("hardtanh", input), min_val=float(min_val),
                 max_val=float(max_val))


def relu6(input):
    """``hardtanh(x, 0, 6)``: its gradient is 0 at 0 and at 6, as in PyTorch."""
    return hardtanh(input, 0.0, 6.0)
