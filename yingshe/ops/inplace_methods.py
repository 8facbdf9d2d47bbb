"""In-place tensor methods: ``x.add_(y)``, ``x.copy_(src)``, ``x += y`` ... (PyTorch's).

Each method computes its result with the ordinary out-of-place op and writes it
into ``x`` with ``yingshe.ops._inplace.commit``, which enforces PyTorch's autograd
rules (a leaf that requires grad is refused; a tensor with history takes over the
result's history; a value saved for backward that is later overwritten raises at
backward) and bumps the version counter.

Two details keep gradients right:

* when the update is recorded, the op reads a *snapshot* of ``x`` (a copy with the
  same history), so a VJP that needs the old value of ``x`` (``mul_``, ``div_``,
  ``pow_``...) still sees it after ``x`` is overwritten;
* updates whose new value does not depend on the old one (``fill_``, ``zero_``,
  ``copy_``, ``uniform_``, ``normal_``...) go through ``_Overwrite``, whose gradient
  for the old value is zero (as PyTorch's ``FillBackward``/``CopyBackwards``).

When nothing needs a gradient (grad mode off or no input requires grad) and no
tracer is active, simple cases take a NumPy ``out=`` fast path that gives
bit-identical results to the out-of-place op: same dtypes, the other operand
broadcasting to ``x``'s shape, and ``x`` writeable.
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe._tensor import MODE, Tensor, _wrap
from yingshe.autograd.function import Function
from yingshe.ops._inplace import check_inplace, check_target, commit, needs_autograd
from yingshe.ops._registry import apply, tensor_method
from yingshe.ops.elementwise import check_sub_operands

__all__: list[str] = []  # methods only (x.add_(y)); nothing is added to the yingshe namespace

_PY_NUMBERS = (bool, int, float)


def _ys():
    import yingshe
    return yingshe


def _fast_ok(t: Tensor, *others) -> bool:
    """The no-autograd NumPy path applies."""
    if MODE.tracer is not None or t._data is None or not t._data.flags.writeable:
        return False
    if needs_autograd(t, *others):
        return False
    return all(not isinstance(o, Tensor) or o._data is not None for o in others)


def _snapshot(t: Tensor) -> Tensor:
    """A copy of ``t``'s current value carrying ``t``'s history (see module docstring)."""
    if t._data is None:
        return t
    return _wrap(t._data.copy(), t.requires_grad_flag, t._node, t._out_index)


def _guard(t: Tensor, opname: str, *others, reads_self: bool = True) -> Tensor:
    """Autograd pre-checks; returns the tensor the out-of-place op should read (a
    snapshot when the update is recorded and the op's VJP reads ``t``'s value)."""
    check_target(t, opname)
    if MODE.tracer is not None:
        return MODE.tracer.alias(t) if reads_self else t
    if not needs_autograd(t, *others):
        return t
    check_inplace(t, opname)
    return _snapshot(t) if reads_self else t


def _same_dtype_operand(t: Tensor, other):
    """``other`` as a NumPy operand of ``t``'s dtype for the fast path, or None when the
    PyTorch result dtype of ``t op other`` differs from ``t``'s (the general path then
    casts back or raises, as PyTorch does)."""
    dt = t._data.dtype
    if isinstance(other, _PY_NUMBERS):
        cat = _dtype.scalar_category(other)
        return other if cat <= _dtype.from_numpy_dtype(dt).category else None
    if isinstance(other, Tensor):
        od = other._data
        res = _dtype.result_type(t._data, od)
        if res.np != dt:
            return None
        try:
            if np.broadcast_shapes(od.shape, t._data.shape) != t._data.shape:
                return None
        except ValueError:     # shapes that do not broadcast: the general path's error
            return None
        return od if od.dtype == dt else od.astype(dt)
    return None


def _binary_inplace(t, other, opname, ufunc, out_of_place, reads_self):
    if _fast_ok(t, other):
        rhs = _same_dtype_operand(t, other)
        if rhs is not None:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                ufunc(t._data, rhs, out=t._data)
            t._vc[0] += 1
            return t
    src = _guard(t, opname, other, reads_self=reads_self)
    return commit(t, out_of_place(src, other), opname)


# ---- arithmetic --------------------------------------------------------------------------------

@tensor_method
def add_(self, other, *, alpha=1):
    """``self += alpha * other`` in place."""
    if alpha != 1:
        other = other * alpha
    return _binary_inplace(self, other, "add_", np.add, lambda s, o: _ys().add(s, o), False)


@tensor_method
def sub_(self, other, *, alpha=1):
    """``self -= alpha * other`` in place."""
    check_sub_operands("sub_", self, other)
    if alpha != 1:
        other = other * alpha
    return _binary_inplace(self, other, "sub_", np.subtract, lambda s, o: _ys().sub(s, o), False)


@tensor_method
def mul_(self, other):
    """``self *= other`` in place."""
    return _binary_inplace(self, other, "mul_", np.multiply, lambda s, o: _ys().mul(s, o), True)


@tensor_method
def div_(self, other, *, rounding_mode=None):
    """``self /= other`` in place (``rounding_mode`` "trunc"/"floor" as ``div``)."""
    if rounding_mode is not None or self._data is None or self._data.dtype.kind != "f":
        src = _guard(self, "div_", other)
        return commit(self, _ys().div(src, other, rounding_mode=rounding_mode), "div_")
    return _binary_inplace(self, other, "div_", np.true_divide,
                           lambda s, o: _ys().div(s, o), True)


def _unary_general(self, opname, fn, *others):
    """Out of place with the op of another module, then commit (no fast path: the
    result must be bit-identical to that op's, whatever it computes)."""
    src = _guard(self, opname, *others)
    return commit(self, fn(src), opname)


@tensor_method
def pow_(self, exponent):
    return _unary_general(self, "pow_", lambda s: _ys().pow(s, exponent), exponent)


@tensor_method
def neg_(self):
    if _fast_ok(self) and self._data.dtype != np.bool_:
        np.negative(self._data, out=self._data)
        self._vc[0] += 1
        return self
    return _unary_general(self, "neg_", lambda s: _ys().neg(s))


@tensor_method
def exp_(self):
    return _unary_general(self, "exp_", lambda s: _ys().exp(s))


@tensor_method
def sqrt_(self):
    return _unary_general(self, "sqrt_", lambda s: _ys().sqrt(s))


@tensor_method
def addcmul_(self, tensor1, tensor2, *, value=1):
    """In place: self + value * tensor1 * tensor2 (cast back to self's dtype where PyTorch
    allows it)."""
    return _unary_general(self, "addcmul_",
                          lambda s: _ys().addcmul(s, tensor1, tensor2, value=value),
                          tensor1, tensor2)


@tensor_method
def addcdiv_(self, tensor1, tensor2, *, value=1):
    """In place: self + value * tensor1 / tensor2."""
    return _unary_general(self, "addcdiv_",
                          lambda s: _ys().addcdiv(s, tensor1, tensor2, value=value),
                          tensor1, tensor2)


@tensor_method
def clamp_(self, min=None, max=None):
    return _unary_general(self, "clamp_", lambda s: _ys().clamp(s, min, max), min, max)


clip_ = tensor_method("clip_")(clamp_)


@tensor_method
def clamp_min_(self, min):
    return _unary_general(self, "clamp_min_", lambda s: _ys().clamp(s, min=min), min)


@tensor_method
def clamp_max_(self, max):
    return _unary_general(self, "clamp_max_", lambda s: _ys().clamp(s, max=max), max)


@tensor_method
def masked_fill_(self, mask, value):
    """Set the elements where ``mask`` is true to ``value`` (mask broadcasts to self)."""
    return _unary_general(self, "masked_fill_", lambda s: _ys().masked_fill(s, mask, value),
                          value)


# ---- Python's augmented assignment: in place, as in PyTorch ----------------------------------

@tensor_method("__iadd__")
def _iadd(self, other):
    return add_(self, other)


@tensor_method("__isub__")
def _isub(self, other):
    return sub_(self, other)


@tensor_method("__imul__")
def _imul(self, other):
    return mul_(self, other)


@tensor_method("__itruediv__")
def _itruediv(self, other):
    return div_(self, other)


# ---- overwriting updates ---------------------------------------------------------------------

class _Overwrite(Function):
    """``self`` takes ``new``'s value: the gradient reaches ``new`` unchanged and the old
    value of ``self`` gets zero (it no longer influences anything)."""

    @staticmethod
    def forward(ctx, old, new):
        return _wrap(new._data)

    @staticmethod
    def backward(ctx, g):
        zeros = _ys().zeros_like(g) if ctx.needs_input_grad[0] else None
        return zeros, (g if ctx.needs_input_grad[1] else None)


def _overwrite(t: Tensor, new: Tensor, opname: str) -> Tensor:
    """Write ``new`` (already of ``t``'s dtype, broadcastable to its shape) into ``t``."""
    if MODE.tracer is None and needs_autograd(t, new):
        check_inplace(t, opname)
        if tuple(new.shape) != tuple(t.shape):
            new = _ys().expand(new, tuple(t.shape))
        new = _Overwrite.apply(t, new)
    elif (MODE.tracer is not None and MODE.grad_enabled and t._data is None
          and t.dtype.is_floating_point):
        # a traced temporary: the written value (fill_'s constant) need not read ``t``, yet
        # eagerly the result requires grad when ``t`` did (with a zero gradient, as above);
        # where(False, t, new) keeps ``t`` an input of it, with where's zero gradient
        new = _ys().where(False, t, new)
    return commit(t, new, opname)


@tensor_method
def copy_(self, src, non_blocking=False):
    """Copy ``src``'s values into ``self`` (broadcast to self's shape, cast to its dtype);
    differentiable with respect to ``src``."""
    check_target(self, "copy_")
    if not isinstance(src, Tensor):
        src = _wrap(np.asarray(src))
    if _fast_ok(self, src) and src._data.shape == self._data.shape:
        np.copyto(self._data, src._data, casting="unsafe")
        self._vc[0] += 1
        return self
    if src.dtype != self.dtype:     # (a traced temporary has a dtype but no data)
        src = _ys().to_dtype(src, self.dtype)
    return _overwrite(self, src, "copy_")


@tensor_method
def fill_(self, value):
    """Set every element to ``value`` (a number or a 0-d tensor)."""
    check_target(self, "fill_")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_: only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions")
        if needs_autograd(self, value) and MODE.tracer is None:
            return _overwrite(self, _ys().to_dtype(value, self.dtype), "fill_")
        value = value.item()
    if _fast_ok(self):
        self._data.fill(value)
        self._vc[0] += 1
        return self
    return _overwrite(self, _wrap(np.asarray(value, dtype=self.dtype.np)), "fill_")


@tensor_method
def zero_(self):
    """Set every element to zero."""
    return fill_(self, 0)


def _require_float(t: Tensor, opname: str) -> None:
    if t._data is not None and t._data.dtype.kind != "f":
        from yingshe.errors import DTypeError
        raise DTypeError(f"{opname}: expected a floating-point tensor, got {t.dtype}")


@tensor_method
def uniform_(self, a=0.0, b=1.0, *, generator=None, **kwargs):
    """Fill with samples uniform in [a, b) from ``generator`` (``from``/``to`` accepted
    as keywords too)."""
    a = kwargs.pop("from", a)
    b = kwargs.pop("to", b)
    if kwargs:
        raise TypeError(f"uniform_: unexpected arguments {sorted(kwargs)}")
    _require_float(self, "uniform_")
    if not a <= b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={a} > to={b}")
    from yingshe.ops.random_ops import Uniform
    new = apply(Uniform, shape=tuple(self.shape), dtype=self.dtype, low=float(a), high=float(b),
                generator=generator)
    return _overwrite(self, new, "uniform_")


@tensor_method
def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with normal samples of the given mean and standard deviation."""
    _require_float(self, "normal_")
    if not std >= 0:
        raise RuntimeError(f"normal_ expects std >= 0.0, but found std {std}")
    from yingshe.ops.random_ops import Normal
    new = apply(Normal, float(mean), float(std), shape=tuple(self.shape), dtype=self.dtype,
                generator=generator)
    return _overwrite(self, new, "normal_")


@tensor_method
def bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 1 (probability ``p``, a number or a tensor broadcast to self) or 0."""
    from yingshe.ops.random_ops import Bernoulli
    if isinstance(p, Tensor):
        probs = _wrap(np.broadcast_to(p.detach()._data.astype(np.float64), self.shape))
        drawn = apply(Bernoulli, probs, p=None, generator=generator)
    else:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        drawn = apply(Bernoulli, _wrap(np.zeros(self.shape)), p=float(p), generator=generator)
    return _overwrite(self, _wrap(drawn._data.astype(self._data.dtype)), "bernoulli_")


# ---- in-place forms of out-of-place functions (PyTorch's x.<name>_) ---------------------------

def _inplace_result(self, opname: str, fn, args, kwargs) -> Tensor:
    """``fn(self, *args, **kwargs)`` written into ``self``. A result without a gradient
    (a comparison, a non-differentiable op) overwrites the value and cuts the old
    history, which then gets a zero gradient (PyTorch's ``EqBackward`` ...); rebasing onto
    no history would keep the old one and give a wrong gradient."""
    others = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
    src = _guard(self, opname, *others)
    result = fn(src, *args, **kwargs)
    if (MODE.tracer is None and not result.requires_grad_flag and needs_autograd(self, *others)
            and self._data.dtype.kind == "f"):
        return _overwrite(self, _ys().to_dtype(result, self.dtype), opname)
    return commit(self, result, opname)


def _define_inplace(name: str) -> None:
    """``Tensor.<name>_``: ``yingshe.<name>`` computed out of place, written in place."""
    opname = name + "_"

    def method(self, *args, **kwargs):
        return _inplace_result(self, opname, getattr(_ys(), name), args, kwargs)

    method.__name__ = method.__qualname__ = opname
    method.__doc__ = (f"``{name}`` in place: ``x.{opname}(...)`` writes ``x.{name}(...)`` "
                      f"into ``x`` (PyTorch's autograd rules for in-place updates).")
    tensor_method(opname)(method)


# elementwise and shape-preserving functions whose in-place form PyTorch has as a method
for _name in (
        "abs", "absolute", "ceil", "cos", "erf", "expm1", "fix", "floor", "frac", "log",
        "log10", "log1p", "log2", "reciprocal", "round", "rsqrt", "sign", "sin", "square",
        "tan", "trunc", "logical_not", "bitwise_not", "nan_to_num",
        "relu", "sigmoid", "tanh",                        # the in-place activations
        "atan2", "arctan2", "bitwise_and", "bitwise_or", "bitwise_xor", "eq", "ne", "lt", "le",
        "gt", "ge", "not_equal", "less", "less_equal", "greater", "greater_equal",
        "logical_and", "logical_or", "logical_xor", "floor_divide", "fmod", "remainder",
        "hypot", "ldexp", "lerp", "addmm", "cumsum", "cumprod", "tril", "triu"):
    _define_inplace(_name)

# PyTorch's aliases of existing in-place methods
tensor_method("subtract_")(sub_)
tensor_method("multiply_")(mul_)
tensor_method("divide_")(div_)
tensor_method("true_divide_")(div_)
tensor_method("negative_")(neg_)


@tensor_method
def float_power_(self, exponent):
    """``float_power`` in place; the result is float64, so ``self`` must be float64 (as in
    PyTorch, which refuses to round it into another dtype)."""
    if self._data is not None and self._data.dtype != np.float64:
        from yingshe.errors import DTypeError
        raise DTypeError(f"float_power_: the base given to float_power_ has dtype "
                         f"{self.dtype} but the operation's result requires dtype float64")
    return _inplace_result(self, "float_power_", _ys().float_power, (exponent,), {})


def _define_restride(name: str) -> None:
    """``Tensor.<name>_``: the shape change of the view op ``<name>`` made to the tensor
    itself (same memory and values; the tensor takes the view's history)."""
    opname = name + "_"

    def method(self, *args, **kwargs):
        if MODE.tracer is not None or self._data is None:
            from yingshe.errors import UnsupportedError
            raise UnsupportedError(f"{opname}: changing a tensor's shape in place is not "
                                   f"supported in graphs or yingshe.compile; use "
                                   f"x = x.{name}(...)")
        if needs_autograd(self):
            check_inplace(self, opname)
        view = getattr(_ys(), name)(self, *args, **kwargs)
        self._data = view._data
        if view._node is not None:
            self._node, self._out_index = view._node, view._out_index
        if self._view is not None and view._view is not None:
            self._view = view._view  # replayed from the base, it now ends with this op
        return self

    method.__name__ = method.__qualname__ = opname
    method.__doc__ = f"``x.{opname}(...)`` makes ``x`` itself ``x.{name}(...)`` (a view)."
    tensor_method(opname)(method)


for _name in ("squeeze", "unsqueeze", "t", "transpose", "swapaxes", "swapdims"):
    _define_restride(_name)
del _name
