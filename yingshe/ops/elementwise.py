"""Elementwise ops: arithmetic with broadcasting and PyTorch type promotion, casts.

Binary public functions (``add``, ``mul`` ...) take tensors or Python scalars;
``_binary`` applies PyTorch's promotion (``yingshe._dtype.result_type``) before
dispatch, so the registered ops only ever see operands of one dtype (or a
Python scalar NumPy treats as weak, which keeps the tensor's dtype).
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor, _wrap
from yingshe.errors import DTypeError, no_out as _no_out
from yingshe.ops._registry import OpDef, apply, register_op, tensor_method
from yingshe.ops._shapes import Meta, broadcast_shapes

__all__ = ["add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "neg",
           "negative", "to_dtype"]


# ---- the elementwise op table ------------------------------------------------------------------
#
# An elementwise op is declared once, as one row: its name, its NumPy forward (the name of
# one NumPy function and the floating-point errors it silences, or a ``forward`` of its
# own), its scalar formula (``scalar``: the per-element maths, from which numba kernels
# and the compiler's fused kernels are made), its dtype rule (``infer``) and its VJP.
# ``elementwise_op`` turns the row into a registered op; JAX's ``standard_unop`` plus one
# ``defjvp`` line is the model. ``UFUNCS`` records the forwards that are one NumPy call,
# so generated code calls NumPy there directly instead of going through ``forward``.

UFUNCS: dict[str, tuple[str, tuple]] = {}


def ufunc_forward(name: str, ufunc: str, errstate: dict | None = None):
    """The ``forward`` of an op that is the NumPy function ``ufunc`` applied to its
    inputs, silencing the floating-point ``errstate`` categories (``{"divide": "ignore"}``)
    that the op produces by design (log(0) = -inf)."""
    if errstate:
        silenced = dict(errstate)

        def forward(xp, *xs):
            with xp.errstate(**silenced):
                return getattr(xp, ufunc)(*xs)
    else:
        def forward(xp, *xs):
            return getattr(xp, ufunc)(*xs)
    forward.__name__ = forward.__qualname__ = f"{name}_forward"
    forward.__doc__ = f"``xp.{ufunc}`` of the inputs."
    return forward


def elementwise_op(name: str, *, ufunc: str | None = None, errstate: dict | None = None,
                   infer=None, saves: str = "both", **flags):
    """Class decorator: register one row of the elementwise op table.

    The class holds ``scalar`` (the per-element formula, a plain function of the inputs
    then the attributes), ``vjp`` and, when ``ufunc`` is not given, ``forward``;
    ``infer`` may be given here (a shared dtype rule) instead of in the class. The
    decorated name is bound to the ``OpDef``, as with ``register_op``.
    """
    def deco(cls) -> OpDef:
        if ufunc is not None:
            if "forward" in cls.__dict__:
                raise TypeError(f"elementwise op {name!r}: give a ufunc or a forward, not both")
            cls.forward = ufunc_forward(name, ufunc, errstate)
        if infer is not None:
            cls.infer = infer
        if "scalar" not in cls.__dict__:
            raise TypeError(f"elementwise op {name!r} has no scalar formula")
        op = register_op(name, saves=saves, **flags)(cls)
        if ufunc is not None:
            UFUNCS[name] = (ufunc, tuple(sorted((errstate or {}).items())))
        return op

    return deco


# ---- promotion helpers -----------------------------------------------------------------------

def _as_operand(x):
    """Tensors and Python numbers pass; NumPy scalars become Python numbers (PyTorch treats
    them as weak scalars; NumPy would treat np.float64 as a strong float64); arrays
    become tensors."""
    if isinstance(x, np.generic):  # before the float check: np.float64 subclasses float
        return x.item()
    if isinstance(x, (Tensor, bool, int, float)):
        return x
    if isinstance(x, np.ndarray):
        return _wrap(x)
    raise TypeError(f"expected a tensor or a number, got {type(x).__name__}")


def _cast_to(x, dt: _dtype.dtype):
    if isinstance(x, Tensor):
        data = x._data
        # a graph symbol has no data: its meta knows the dtype (no cast node to same dtype)
        current = data.dtype if data is not None else x._meta.dtype.np
        if current == dt.np:
            return x
        return apply(cast, x, dtype=dt)
    return x


def elementwise_meta(opname: str, *args) -> Meta:
    """Output meta of an elementwise op: broadcast shape, PyTorch's result dtype."""
    metas = [a for a in args if isinstance(a, Meta)]
    shape = broadcast_shapes(opname, *(m.shape for m in metas))
    dt = _dtype.result_type(*(_MetaOperand(a) if isinstance(a, Meta) else a for a in args))
    return Meta(shape, dt)


class _MetaOperand:
    __slots__ = ("dtype", "ndim")

    def __init__(self, m: Meta) -> None:
        self.dtype = m.dtype
        self.ndim = len(m.shape)


def promote(a, b):
    """Cast ``a`` and ``b`` to their PyTorch result dtype (fast when already equal)."""
    a = _as_operand(a)
    b = _as_operand(b)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        da, db = a._data, b._data
        if da is not None and db is not None and da.dtype == db.dtype:
            return a, b, da.dtype
    dt = _dtype.result_type(
        *(_TensorOperand(x) if isinstance(x, Tensor) else x for x in (a, b))
    )
    # A Python scalar of a higher category than the tensor makes the tensor cast first
    # (int64 + 2.5 -> float32 as in PyTorch, where NumPy would give float64); after the
    # cast the scalar is weak and keeps that dtype.
    return _cast_to(a, dt), _cast_to(b, dt), dt.np


class _TensorOperand:
    __slots__ = ("dtype", "ndim")

    def __init__(self, t: Tensor) -> None:
        m = t._meta if t._data is None else None
        self.dtype = m.dtype if m is not None else _dtype.from_numpy_dtype(t._data.dtype)
        self.ndim = len(m.shape) if m is not None else t._data.ndim


def _binary(op, a, b):
    if a.__class__ is Tensor and b.__class__ is Tensor:
        da, db = a._data, b._data
        if da is not None and db is not None and da.dtype == db.dtype:
            return apply(op, a, b)
    elif a.__class__ is Tensor and b.__class__ is float:
        da = a._data
        if da is not None and da.dtype.kind == "f":
            return apply(op, a, b)
    a, b, _ = promote(a, b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op.name}: expected at least one tensor operand")
    return apply(op, a, b)


# ---- cast -------------------------------------------------------------------------------------

@register_op("cast", saves="none")
class Cast:
    """Convert to another dtype; the gradient is cast back (none for integer targets)."""

    def forward(xp, x, *, dtype):
        with xp.errstate(invalid="ignore"):   # NaN or inf to an integer: undefined, silently
            return x.astype(dtype.np)

    def infer(x, *, dtype):
        return Meta(x.shape, dtype)

    def vjp(g, out, x, *, dtype):
        if not x.dtype.is_floating_point:
            return None
        return apply(cast, g, dtype=x.dtype)


def to_dtype(input: Tensor, dtype) -> Tensor:
    """``input`` converted to ``dtype`` (differentiable between float dtypes)."""
    dt = _dtype.as_dtype(dtype)
    if input._data is not None and input._data.dtype == dt.np:
        return input
    return apply(Cast, input, dtype=dt)


cast = Cast


# ---- arithmetic ------------------------------------------------------------------------------

def _same_meta(name: str):
    def infer(*args):
        return elementwise_meta(name, *args)
    infer.__name__ = f"{name}_infer"
    return infer


@elementwise_op("add", ufunc="add", infer=_same_meta("add"), saves="none")
class Add:
    """a + b with broadcasting."""

    def scalar(a, b):
        return a + b

    def vjp(g, out, a, b):
        return g, g


@elementwise_op("sub", ufunc="subtract", infer=_same_meta("sub"), saves="none")
class Sub:
    """a - b with broadcasting."""

    def scalar(a, b):
        return a - b

    def vjp(g, out, a, b, needs):
        return g, (neg(g) if needs[1] else None)


@elementwise_op("mul", ufunc="multiply", infer=_same_meta("mul"), saves="other")
class Mul:
    """a * b with broadcasting."""

    def scalar(a, b):
        return a * b

    def vjp(g, out, a, b, needs):
        return (g * b if needs[0] else None), (g * a if needs[1] else None)


@elementwise_op("div", ufunc="true_divide", errstate={"divide": "ignore", "invalid": "ignore"},
                saves="inputs")
class Div:
    """a / b (true division) with broadcasting."""

    def scalar(a, b):
        return a / b

    def infer(a, b):
        m = elementwise_meta("div", a, b)
        if not m.dtype.is_floating_point:
            m = Meta(m.shape, _dtype.get_default_dtype())
        return m

    def vjp(g, out, a, b, needs):
        # PyTorch's form (-g (a / b) / b, from the inputs): the output may be changed in
        # place before backward, as in PyTorch, where it is never saved
        ga = g / b if needs[0] else None
        gb = neg(g * (a / b) / b) if needs[1] else None
        return ga, gb


@elementwise_op("neg", ufunc="negative", saves="none")
class Neg:
    """-x."""

    def scalar(x):
        return -x

    def infer(x):
        if x.dtype is _dtype.bool:
            raise DTypeError("neg: negation of a bool tensor is not supported; use logical_not")
        return x

    def vjp(g, out, x):
        return neg(g)


@tensor_method("__add__")
@tensor_method
def add(input, other, *, alpha=1, out=None):
    """input + alpha * other, with broadcasting and type promotion."""
    _no_out(out, "add")
    return _binary(Add, input, _scaled(other, alpha))


def _scaled(other, alpha):
    """``alpha * other`` for add/sub (a Python number times a Python number stays one)."""
    if alpha == 1:
        return other
    return mul(other, alpha) if isinstance(other, Tensor) else other * alpha


@tensor_method("__radd__")
def _radd(self, other):
    return _binary(Add, other, self)


def _is_bool(x) -> bool:
    if isinstance(x, Tensor):
        return (x._data.dtype if x._data is not None else x._meta.dtype.np) == np.bool_
    return isinstance(x, (bool, np.bool_))


def check_sub_operands(opname: str, a, b) -> None:
    """PyTorch refuses a bool operand of subtraction (a bool tensor or a Python bool),
    whatever the other operand, rather than promote it: ``mask - 1`` is usually a
    mistaken ``~mask``."""
    if _is_bool(a) or _is_bool(b):
        raise DTypeError(f"{opname}: subtraction, the `-` operator, with a bool tensor is not "
                         f"supported; if you are trying to invert a mask, use the `~` or "
                         f"`logical_not()` operator instead")


@tensor_method("__sub__")
@tensor_method
def sub(input, other, *, alpha=1, out=None):
    """input - alpha * other."""
    _no_out(out, "sub")
    check_sub_operands("sub", input, other)
    return _binary(Sub, input, _scaled(other, alpha))


subtract = sub
tensor_method("subtract")(sub)


@tensor_method("__rsub__")
def _rsub(self, other):
    check_sub_operands("sub", other, self)
    return _binary(Sub, other, self)


@tensor_method("__mul__")
@tensor_method
def mul(input, other, *, out=None):
    """input * other."""
    _no_out(out, "mul")
    return _binary(Mul, input, other)


multiply = mul
tensor_method("multiply")(mul)


@tensor_method("__rmul__")
def _rmul(self, other):
    return _binary(Mul, other, self)


def _to_float(x):
    # by dtype, not by data: a graph or traced value (no data) is cast too, or its bool or
    # integer array would divide in NumPy's float64 under a float32 meta
    if isinstance(x, Tensor) and not x.dtype.is_floating_point:
        return to_dtype(x, _dtype.get_default_dtype())
    return x


@tensor_method("__truediv__")
@tensor_method
def div(input, other, *, rounding_mode=None, out=None):
    """input / other; ``rounding_mode`` "trunc" or "floor" as in PyTorch."""
    _no_out(out, "div")
    if rounding_mode is None:
        a, b, dt = promote(input, other)
        if dt.kind != "f":
            a, b = _to_float(a), float(b) if not isinstance(b, Tensor) else _to_float(b)
            if not isinstance(a, Tensor):
                a = float(a)
        return apply(Div, a, b)
    if rounding_mode in ("floor", "trunc"):
        from yingshe.ops import elementwise_math
        return elementwise_math.div_rounded(input, other, rounding_mode)
    raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


divide = true_divide = div
tensor_method("divide")(div)
tensor_method("true_divide")(div)


@tensor_method("__rtruediv__")
def _rtruediv(self, other):
    return div(other, self)


@tensor_method("__neg__")
@tensor_method
def neg(input, *, out=None):
    _no_out(out, "neg")
    return apply(Neg, input)


negative = neg
tensor_method("negative")(neg)


@tensor_method("__pos__")
def _pos(self):
    return self


# ---- dtype conversion methods ----------------------------------------------------------------

@tensor_method
def to(input, *args, dtype=None, device=None, copy=False, non_blocking=False,
       memory_format=None):
    """``x.to(dtype)``, ``x.to("cpu")``, ``x.to(other)``, ``x.to("cpu", dtype)``."""
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, _dtype.dtype) or (isinstance(a, type) and a in (float, int, bool)):
            dtype = a
        elif isinstance(a, str) or hasattr(a, "type"):
            device = a
        else:
            dtype = a
    if device is not None:
        from yingshe.backend import get
        get(str(getattr(device, "type", device)).split(":")[0])
    out = input if dtype is None else to_dtype(input, dtype)
    if copy and out is input:
        from yingshe.ops.shape import clone
        out = clone(input)
    return out


def _dtype_method(dt):
    def method(self, memory_format=None):
        return to_dtype(self, dt)
    method.__name__ = dt.name
    method.__doc__ = f"``self.to({dt!r})``"
    return method


for _name, _dt in (("float", _dtype.float32), ("double", _dtype.float64), ("half", _dtype.float16),
                   ("long", _dtype.int64), ("int", _dtype.int32), ("short", _dtype.int16),
                   ("bool", _dtype.bool), ("byte", _dtype.uint8), ("char", _dtype.int8)):
    tensor_method(_name)(_dtype_method(_dt))


@tensor_method
def type_as(input, other):
    return to_dtype(input, other.dtype)


# PyTorch's legacy CPU tensor type names (``x.type()``), by dtype name.
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "bfloat16": "BFloat16Tensor", "uint8": "ByteTensor", "int8": "CharTensor",
               "int16": "ShortTensor", "int32": "IntTensor", "int64": "LongTensor",
               "bool": "BoolTensor", "complex64": "ComplexFloatTensor",
               "complex128": "ComplexDoubleTensor"}


@tensor_method("type")
def _type_method(input, dtype=None, non_blocking=False, **kwargs):
    """``x.type()``: PyTorch's type name (``'torch.FloatTensor'``); ``x.type(dtype)`` or
    ``x.type('torch.LongTensor')``: ``x`` cast to that dtype (``x`` itself if unchanged)."""
    if dtype is None:
        return "torch." + _TYPE_NAMES.get(input.dtype.name, input.dtype.name)
    if not isinstance(dtype, (str, _dtype.dtype)) and hasattr(dtype, "dtype"):
        # a legacy tensor type (torch.FloatTensor): its dtype, unless it lives on a GPU
        if getattr(dtype, "is_cuda", False):
            raise RuntimeError(f"type: cannot convert to {dtype!r}: yingshe has no CUDA "
                               "backend")
        dtype = dtype.dtype
    if isinstance(dtype, str):
        by_name = {f"torch.{v}": k for k, v in _TYPE_NAMES.items()}
        if dtype not in by_name:
            raise ValueError(f"type: invalid type: {dtype!r}")
        dtype = getattr(_dtype, by_name[dtype])
    return input if dtype == input.dtype else to_dtype(input, dtype)
