"""The ops the fuzzer composes, by category: each entry draws one step for the current
tensor (its shape and dtype, known from running the chain so far in PyTorch).

Most draws are valid calls; a few per op are deliberately not (a dim out of range, shapes
that do not broadcast, a dtype the op refuses), so both libraries' errors are compared too.
Names that PyTorch users reach for and yingshe lacks are drawn as well: they are listed in
``unsupported.py`` (written before the suite ran) and counted apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


from hypothesis import strategies as st

from .program import FLOAT_DTYPES, INT_DTYPES, LAYOUTS, InputSpec, Step

CATEGORIES = ("elementwise", "broadcasting", "reduction", "matmul/einsum", "indexing",
              "views", "in-place", "cat/stack", "softmax/norm", "conv/pool", "losses")

OPS: dict = {c: [] for c in CATEGORIES}


def op(category: str):
    def deco(fn):
        OPS[category].append(fn)
        return fn
    return deco


@dataclass(frozen=True)
class Meta:
    """What a drawer knows of the current tensor."""

    shape: tuple
    dtype: str
    leaf_grad: bool = False     # a leaf that requires grad (in-place on it is refused)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES


_MASK = 2**64 - 1


def _mix(state: int, value: int) -> int:
    """splitmix64 of ``state`` and ``value``: a well-spread 64-bit number."""
    z = (state ^ (value * 0x9E3779B97F4A7C15)) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class D:
    """The drawing helpers a step drawer gets.

    Sizes, dims and offsets come from hypothesis (which favours the edges: 0, 1, the last
    dim). Which op, which form and every yes/no come from a stream mixed from one
    hypothesis seed and every hypothesis draw made so far: hypothesis' bias towards the
    first choice, and its habit of replaying one seed with other sizes, would otherwise
    starve the ops late in each list."""

    def __init__(self, draw, program_dtypes: tuple, salt: int = 0):
        self.draw = draw
        self.dtypes = program_dtypes
        self.extras: list = []
        self._state = _mix(draw(st.integers(0, _MASK)), salt)

    def _uniform(self) -> float:
        self._state = _mix(self._state, 1)
        return (self._state >> 11) / 2.0**53

    # ---- plain choices
    def int(self, lo: int, hi: int) -> int:
        v = self.draw(st.integers(lo, hi))
        self._state = _mix(self._state, v & _MASK)
        return v

    def perm(self, n: int) -> list:
        p = self.draw(st.permutations(range(n)))
        for v in p:
            self._state = _mix(self._state, v)
        return p

    def chance(self, p: float) -> bool:
        return self._uniform() < p

    def pick(self, seq):
        seq = tuple(seq)
        return seq[min(int(self._uniform() * len(seq)), len(seq) - 1)]

    def real(self, lo: float = -3.0, hi: float = 3.0) -> float:
        """A float literal, often a round one (ties with integer-valued inputs)."""
        if self.chance(0.5):
            return float(self.int(int(lo * 2), int(hi * 2))) / 2
        return round(self.draw(st.floats(lo, hi, allow_nan=False)), 3)

    # ---- dims and shapes
    def dim(self, ndim: int, bad: float = 0.04) -> int:
        """A dim of a tensor with ``ndim`` dims (0-d tensors take -1 and 0, as PyTorch's
        do); now and then one out of range."""
        n = max(ndim, 1)
        if self.chance(bad):
            return self.pick((n, -n - 1, n + 2))
        return self.int(-n, n - 1)

    def dims(self, ndim: int) -> tuple:
        """Distinct dims (a tuple of 1 to ndim of them)."""
        n = max(ndim, 1)
        k = self.int(1, n)
        perm = self.perm(n)[:k]
        return tuple(d - n if self.chance(0.3) else d for d in perm)

    def bshape(self, shape: tuple, bad: float = 0.06) -> tuple:
        """A shape that broadcasts with ``shape`` (a suffix with some dims set to 1, maybe
        with leading 1s); now and then one that does not."""
        if self.chance(bad):
            return tuple(self.int(0, 4) for _ in range(self.int(0, 3)))
        k = self.int(0, len(shape))
        out = [1 if self.chance(0.3) else s for s in shape[len(shape) - k:]]
        if self.chance(0.15):
            out = [1] * self.int(1, 2) + out
        return tuple(out)

    def factor(self, numel: int, k: int) -> tuple:
        """``k`` dims whose product is ``numel`` (0 allowed: one dim is 0)."""
        if numel == 0:
            dims = [self.int(1, 3) for _ in range(k)]
            dims[self.int(0, k - 1)] = 0
            return tuple(dims)
        dims = [1] * k
        rest = numel
        for i in range(k - 1):
            divs = [d for d in range(1, min(rest, 8) + 1) if rest % d == 0]
            dims[i] = self.pick(divs)
            rest //= dims[i]
        dims[k - 1] = rest
        order = self.perm(k)
        return tuple(dims[i] for i in order)

    def small_shape(self, ndim_lo: int = 0, ndim_hi: int = 3, zero: float = 0.05) -> tuple:
        return tuple(0 if self.chance(zero) else self.int(1, 4)
                     for _ in range(self.int(ndim_lo, ndim_hi)))

    # ---- extra inputs
    def dtype_like(self, dtype: str, other: float = 0.2) -> str:
        """``dtype`` mostly; now and then another of the program's dtypes (promotion)."""
        if self.chance(other):
            return self.pick(self.dtypes + ("int64", "bool"))
        return dtype

    def spec(self, shape, dtype: str, profile=None, grad: bool = True,
             layout: str | None = None) -> InputSpec:
        shape = tuple(int(s) for s in shape)
        if profile is None:
            if dtype in FLOAT_DTYPES:
                profile = self.pick(("normal", "normal", "ints", "positive", "special"))
            elif dtype == "bool":
                profile = "bool"
            else:
                profile = self.pick(("small", "nonneg"))
        if layout is None:
            layout = "contiguous"
            if shape and self.chance(0.3):
                options = [lay for lay in LAYOUTS[1:]
                           if (lay != "transposed" or len(shape) >= 2)
                           and (lay != "expanded" or shape[0] == 1 or self.chance(0.5))]
                layout = self.pick(options)
        return InputSpec(shape, dtype, profile, self.int(0, 2**31 - 1), layout, grad)

    def extra(self, shape, dtype: str, profile=None, grad: bool = True,
              layout: str | None = None) -> str:
        """A new input for this step; returns its name in the step's text."""
        self.extras.append(self.spec(shape, dtype, profile, grad, layout))
        return f"e{len(self.extras) - 1}"

    def index(self, shape, size: int, bad: float = 0.04) -> str:
        """An int64 index tensor of ``shape`` with values in [0, size) (now and then
        negative or past the end)."""
        lo, hi = 0, size - 1
        if self.chance(bad) or size == 0:
            lo, hi = self.pick(((-size - 1, size), (size, size + 2), (-1, -1)))
        elif self.chance(0.15):
            lo = -size
        return self.extra(shape, "int64", ("range", lo, max(lo, hi)), grad=False,
                          layout="contiguous")

    def operand(self, x: Meta, shape=None) -> str:
        """The other operand of a binary op: a tensor of a broadcastable shape (mostly of
        x's dtype), a 0-d tensor or a Python scalar."""
        r = self.int(0, 99)
        if r < 12:
            return repr(self.pick((0, 1, 2, -1, 3, True, False, 0.5, -1.5, 2.0,
                                   self.real())))
        shape = self.bshape(x.shape) if shape is None else shape
        if r < 20:
            shape = ()
        return self.extra(shape, self.dtype_like(x.dtype))

    def step(self, category: str, text: str) -> Step:
        extras, self.extras = tuple(self.extras), []
        return Step(text, category, extras)

    def as_rank(self, x: Meta, rank: int, batch_optional: bool = True) -> tuple:
        """Source for ``x`` seen with ``rank`` dims (itself when it has them, or
        ``rank - 1`` for an unbatched call; otherwise reshaped) and the shape."""
        if x.ndim == rank or (batch_optional and x.ndim == rank - 1 and x.ndim > 1
                              and self.chance(0.5)):
            return "x", x.shape
        shape = self.factor(x.numel, rank)
        return f"x.reshape{shape}", shape


def fmt_tuple(t) -> str:
    t = tuple(t)
    return f"({t[0]},)" if len(t) == 1 else str(t)


# =============================================================================================
# elementwise (unary, activations, casts)
# =============================================================================================

_UNARY = ("abs", "neg", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt",
          "sin", "cos", "tan", "tanh", "sigmoid", "relu", "floor", "ceil", "round", "trunc",
          "frac", "sign", "reciprocal", "square", "erf", "isnan", "isinf", "isfinite",
          "logical_not", "bitwise_not", "nan_to_num", "clone", "positive", "fix")
# common PyTorch names yingshe may lack (see unsupported.py)
_UNARY_MORE = ("sinh", "cosh", "asin", "acos", "atan", "asinh", "exp2", "logit", "erfc",
               "sgn", "signbit", "deg2rad", "lgamma")
_ACTIVATIONS = ("relu", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus",
                "softsign", "tanhshrink", "logsigmoid", "hardtanh", "hardsigmoid",
                "hardswish", "leaky_relu", "threshold", "sigmoid", "tanh", "hardshrink",
                "softshrink", "glu")


@op("elementwise")
def unary(d: D, x: Meta) -> Step:
    name = d.pick(_UNARY) if not d.chance(0.12) else d.pick(_UNARY_MORE)
    form = d.int(0, 2)
    if form == 0 or name in ("positive",):
        text = f"x = m.{name}(x)"
    elif form == 1:
        text = f"x = x.{name}()"
    else:
        text = f"x = m.{name}(x)" if name in ("clone", "fix") else f"x = x.{name}()"
    return d.step("elementwise", text)


@op("elementwise")
def activation(d: D, x: Meta) -> Step:
    name = d.pick(_ACTIVATIONS)
    kw = ""
    if name in ("elu", "celu"):
        kw = f", alpha={d.pick((1.0, 0.5, 2.0, -1.0))}"
    elif name == "gelu":
        kw = f", approximate={d.pick(('none', 'tanh'))!r}"
    elif name == "softplus":
        kw = f", beta={d.pick((1.0, 2.0, 0.5))}, threshold={d.pick((20.0, 1.0, 0.5))}"
    elif name == "leaky_relu":
        kw = f", negative_slope={d.pick((0.01, 0.2, -0.5, 1.0))}"
    elif name == "hardtanh":
        lo = d.real(-2, 0)
        kw = f", min_val={lo}, max_val={d.pick((lo + 1.0, 1.0, lo - 0.5))}"
    elif name == "threshold":
        kw = f", {d.real()}, {d.real()}"
    elif name in ("hardshrink", "softshrink"):
        kw = f", lambd={d.pick((0.5, 1.0))}"
    elif name == "glu":
        kw = f", dim={d.dim(x.ndim)}"
    return d.step("elementwise", f"x = F.{name}(x{kw})")


@op("elementwise")
def clamp(d: D, x: Meta) -> Step:
    lo, hi = d.real(), d.real()
    form = d.int(0, 5)
    if form == 0:
        text = f"x = m.clamp(x, min={lo}, max={hi})"
    elif form == 1:
        text = f"x = x.clamp(min={lo})"
    elif form == 2:
        text = f"x = x.clamp(max={hi})"
    elif form == 3:
        text = f"x = m.clamp_min(x, {lo})" if d.chance(0.5) else f"x = m.clamp_max(x, {hi})"
    elif form == 4:   # tensor bounds
        a = d.extra(d.bshape(x.shape, bad=0.02), x.dtype)
        b = d.extra(d.bshape(x.shape, bad=0.02), x.dtype)
        text = f"x = m.clamp(x, {a}, {b})"
    else:
        text = f"x = m.clip(x, {lo}, {hi})"
    return d.step("elementwise", text)


@op("elementwise")
def cast(d: D, x: Meta) -> Step:
    form = d.int(0, 2)
    if form == 0:
        meth = d.pick(("float", "double", "long", "int", "bool"))
        return d.step("elementwise", f"x = x.{meth}()")
    dt = d.pick(FLOAT_DTYPES + INT_DTYPES + ("bool",))
    if form == 1:
        return d.step("elementwise", f"x = x.to(m.{dt})")
    return d.step("elementwise", f"x = x.type(m.{dt})")


@op("elementwise")
def scalar_pow_round(d: D, x: Meta) -> Step:
    form = d.int(0, 5)
    if form == 0:
        e = d.pick((2, 3, 0.5, -1, -2, 0, 1.5, -0.5))
        return d.step("elementwise", f"x = x ** {e}")
    if form == 1:
        b = d.pick((2, 0.5, -2, 2.5, 0))
        return d.step("elementwise", f"x = {b} ** x")
    if form == 2:
        return d.step("elementwise", f"x = m.round(x, decimals={d.int(-1, 3)})")
    if form == 3:
        return d.step("elementwise", f"x = m.nan_to_num(x, nan={d.real()}, posinf={d.real()})")
    if form == 4:
        p = d.pick((0.0, 0.0, 1.0))
        return d.step("elementwise", f"x = F.dropout(x, p={p}, training={p == 1.0})")
    return d.step("elementwise", f"x = m.where(x > {d.real()}, x, {d.real()})")


# =============================================================================================
# broadcasting (binary and ternary elementwise)
# =============================================================================================

_BINARY = ("add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod",
           "pow", "atan2", "hypot", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
           "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
           "bitwise_xor", "float_power", "subtract", "multiply", "divide")
_BINARY_MORE = ("fmax", "fmin", "copysign", "xlogy", "logaddexp", "nextafter", "ldexp")
_OPERATORS = ("+", "-", "*", "/", "//", "%", "**", "&", "|", "^", "<", "<=", ">", ">=", "==",
              "!=")


@op("broadcasting")
def binary(d: D, x: Meta) -> Step:
    y = d.operand(x)
    if d.chance(0.35):
        o = d.pick(_OPERATORS)
        text = f"x = x {o} {y}" if d.chance(0.8) or not y[0].isdigit() else f"x = {y} {o} x"
        if not y.startswith("e") and d.chance(0.3):
            text = f"x = {y} {o} x"
        return d.step("broadcasting", text)
    name = d.pick(_BINARY) if not d.chance(0.1) else d.pick(_BINARY_MORE)
    kw = ""
    if name in ("add", "sub") and d.chance(0.25):
        kw = f", alpha={d.pick((2, -1, 0.5))}"
    if name == "div" and d.chance(0.35):
        kw = f", rounding_mode={d.pick(('floor', 'trunc', None))!r}"
    text = f"x = m.{name}(x, {y}{kw})" if d.chance(0.6) else f"x = x.{name}({y}{kw})"
    return d.step("broadcasting", text)


@op("broadcasting")
def ternary(d: D, x: Meta) -> Step:
    form = d.int(0, 5)
    if form == 0:
        c = d.extra(d.bshape(x.shape), "bool")
        y = d.operand(x)
        return d.step("broadcasting", f"x = m.where({c}, x, {y})")
    if form == 1:
        mask = d.extra(d.bshape(x.shape), "bool")
        v = d.pick((0.0, -1.5, 2, "float('inf')"))
        if d.chance(0.3):
            return d.step("broadcasting", f"x = x.masked_fill({mask}, m.tensor({v}))")
        return d.step("broadcasting", f"x = m.masked_fill(x, {mask}, {v})")
    if form == 2:
        y = d.extra(d.bshape(x.shape), x.dtype)
        w = d.operand(x) if d.chance(0.4) else repr(d.pick((0.25, 0.5, 1.5)))
        return d.step("broadcasting", f"x = m.lerp(x, {y}, {w})")
    if form == 3:
        y = d.extra(d.bshape(x.shape), d.dtype_like(x.dtype))
        return d.step("broadcasting",
                      f"x = m.isclose(x, {y}, rtol={d.pick((1e-5, 0.1))}, "
                      f"equal_nan={d.chance(0.5)})")
    if form == 4:
        a = d.extra(d.bshape(x.shape), x.dtype)
        b = d.extra(d.bshape(x.shape), x.dtype)
        name = d.pick(("addcmul", "addcdiv"))
        return d.step("broadcasting", f"x = m.{name}(x, {a}, {b}, value={d.pick((1, 0.5))})")
    shapes = [d.bshape(x.shape) for _ in range(d.int(1, 2))]
    names = [d.extra(s, x.dtype) for s in shapes]
    return d.step("broadcasting", f"x = m.broadcast_tensors(x, {', '.join(names)})[0]")


# =============================================================================================
# reductions
# =============================================================================================

@op("reduction")
def reduce_dims(d: D, x: Meta) -> Step:
    name = d.pick(("sum", "mean", "amax", "amin", "std", "var", "logsumexp", "nansum",
                   "nanmean", "prod", "all", "any", "count_nonzero", "norm"))
    form = d.int(0, 3)
    if name in ("prod",):
        dim = str(d.dim(x.ndim))
    elif form == 0 and name not in ("logsumexp",):
        dim = None
    elif form == 1:
        dim = str(d.dim(x.ndim))
    else:
        dim = fmt_tuple(d.dims(x.ndim))
    kw = []
    if dim is not None:
        kw.append(f"dim={dim}")
        if name != "count_nonzero":
            kw.append(f"keepdim={d.chance(0.5)}")
    if name in ("std", "var") and d.chance(0.5):
        kw.append(f"correction={d.pick((0, 1, 2))}")
    if name == "norm" and d.chance(0.6):
        kw.insert(0, "p=" + str(d.pick((1, 2, 3, "float('inf')", 0.5))))
    if name in ("sum", "mean", "prod") and d.chance(0.1):
        kw.append(f"dtype=m.{d.pick(('float64', 'float32', 'int64'))}")
    text = f"x = x.{name}({', '.join(kw)})" if d.chance(0.5) else \
        f"x = m.{name}(x{''.join(', ' + k for k in kw)})"
    return d.step("reduction", text)


@op("reduction")
def reduce_indexed(d: D, x: Meta) -> Step:
    name = d.pick(("max", "min", "median", "argmax", "argmin", "sort", "argsort", "topk",
                   "cumsum", "cumprod", "std_mean", "var_mean", "kthvalue", "mode",
                   "cummax", "logcumsumexp", "aminmax", "quantile"))
    dim = d.dim(x.ndim)
    keep = d.chance(0.5)
    if name in ("max", "min", "median"):
        if d.chance(0.35):
            return d.step("reduction", f"x = x.{name}()")
        part = d.pick(("[0]", "[1]", ".values", ".indices"))
        return d.step("reduction", f"x = m.{name}(x, {dim}, keepdim={keep}){part}")
    if name in ("argmax", "argmin"):
        if d.chance(0.3):
            return d.step("reduction", f"x = x.{name}()")
        return d.step("reduction", f"x = m.{name}(x, dim={dim}, keepdim={keep})")
    if name == "sort":
        return d.step("reduction", f"x = m.sort(x, dim={dim}, descending={d.chance(0.5)})"
                      f"{d.pick(('[0]', '[1]'))}")
    if name == "argsort":
        return d.step("reduction", f"x = x.argsort(dim={dim}, descending={d.chance(0.5)})")
    if name == "topk":
        size = x.shape[dim] if x.ndim and -x.ndim <= dim < x.ndim else 1
        k = d.int(0, size + (1 if d.chance(0.05) else 0))
        return d.step("reduction", f"x = x.topk({k}, dim={dim}, largest={d.chance(0.5)})"
                      f"{d.pick(('[0]', '[1]'))}")
    if name in ("cumsum", "cumprod", "logcumsumexp"):
        return d.step("reduction", f"x = m.{name}(x, dim={dim})")
    if name in ("std_mean", "var_mean"):
        return d.step("reduction", f"x = m.{name}(x, dim={dim}, keepdim={keep})"
                      f"{d.pick(('[0]', '[1]'))}")
    if name in ("kthvalue",):
        return d.step("reduction", f"x = x.kthvalue(1, dim={dim})[0]")
    if name in ("mode", "cummax"):
        return d.step("reduction", f"x = m.{name}(x, {dim})[0]")
    if name == "aminmax":
        return d.step("reduction", "x = m.aminmax(x)[0]")
    return d.step("reduction", f"x = m.quantile(x, {d.pick((0.5, 0.25))}, dim={dim})")


# =============================================================================================
# matmul / einsum
# =============================================================================================

@op("matmul/einsum")
def matmul(d: D, x: Meta) -> Step:
    n = x.shape[-1] if x.ndim else 1
    if d.chance(0.06):
        n = d.int(0, 4)
    k = d.int(0, 4) if d.chance(0.1) else d.int(1, 4)
    dt = d.dtype_like(x.dtype, other=0.1)
    name = d.pick(("matmul", "matmul", "@", "mm", "bmm", "mv", "dot", "outer", "addmm",
                   "linear", "tensordot", "baddbmm", "kron", "inner", "vdot"))
    if name in ("matmul", "@"):
        r = d.int(0, 2)
        if r == 0 or x.ndim <= 1:
            shape = (n, k) if d.chance(0.7) else (n,)
        else:
            batch = d.bshape(x.shape[:-2], bad=0.04)
            shape = batch + (n, k)
        y = d.extra(shape, dt)
        if name == "@":
            return d.step("matmul/einsum", f"x = x @ {y}")
        return d.step("matmul/einsum", f"x = m.matmul(x, {y})")
    if name == "mm":
        return d.step("matmul/einsum", f"x = m.mm(x, {d.extra((n, k), dt)})")
    if name == "bmm":
        b = x.shape[0] if x.ndim == 3 else 1
        return d.step("matmul/einsum", f"x = x.bmm({d.extra((b, n, k), dt)})")
    if name in ("mv", "dot", "vdot", "inner"):
        return d.step("matmul/einsum", f"x = m.{name}(x, {d.extra((n,), dt)})")
    if name in ("outer", "kron"):
        return d.step("matmul/einsum", f"x = m.{name}(x, {d.extra((k,), dt)})")
    if name == "addmm":
        m0 = x.shape[0] if x.ndim else 1
        c = d.extra(d.bshape((m0, k)), dt)
        return d.step("matmul/einsum", f"x = m.addmm({c}, x, {d.extra((n, k), dt)}, "
                      f"beta={d.pick((1, 0.5, 0))}, alpha={d.pick((1, 2))})")
    if name == "linear":
        w = d.extra((k, n), dt)
        b = d.extra((k,), dt) if d.chance(0.6) else "None"
        return d.step("matmul/einsum", f"x = F.linear(x, {w}, {b})")
    if name == "tensordot":
        return d.step("matmul/einsum", f"x = m.tensordot(x, {d.extra((n, k), dt)}, dims=1)")
    b = x.shape[0] if x.ndim == 3 else 1
    return d.step("matmul/einsum", f"x = m.baddbmm(x, x, {d.extra((b, n, k), dt)})")


_LETTERS = "abcdefgh"


@op("matmul/einsum")
def einsum(d: D, x: Meta) -> Step:
    """A random equation over x and one or two more operands: shared letters are
    contracted or kept, a repeated letter takes a diagonal, ``...`` broadcasts."""
    nd = x.ndim
    ell = nd >= 1 and d.chance(0.15)
    own = nd - 1 if ell else nd
    letters = list(_LETTERS[:own])
    sizes = dict(zip(letters, x.shape[nd - own:]))
    if own >= 2 and d.chance(0.15):     # a repeated letter: the dims must be equal
        letters[1] = letters[0]
    spec_x = ("..." if ell else "") + "".join(letters)
    ops, specs = ["x"], [spec_x]
    pool = sorted(set(letters))
    for _ in range(d.int(0, 2) if nd else 1):
        chosen = [c for c in pool if d.chance(0.5)]
        new = [_LETTERS[len(sizes) + i] for i in range(d.int(0, 2))]
        for c in new:
            sizes[c] = d.int(1, 3)
        sub = chosen + new
        sub = [sub[i] for i in d.perm(len(sub))]
        shape = [sizes[c] if not (d.chance(0.08)) else 1 for c in sub]
        if d.chance(0.04):
            shape = [s + 1 for s in shape]
        ops.append(d.extra(tuple(shape), d.dtype_like(x.dtype, other=0.1)))
        specs.append("".join(sub))
        pool = sorted(set(pool) | set(new))
    keep = [c for c in pool if d.chance(0.5)]
    keep = [keep[i] for i in d.perm(len(keep))]
    out = ("..." if ell else "") + "".join(keep)
    eq = ",".join(specs) + ("->" + out if d.chance(0.85) else "")
    return d.step("matmul/einsum", f"x = m.einsum({eq!r}, {', '.join(ops)})")


# =============================================================================================
# indexing
# =============================================================================================

def _basic_index(d: D, shape: tuple, allow_adv: bool = True) -> str:
    parts = []
    nd = len(shape)
    i = 0
    while i < nd or (d.chance(0.1) and len(parts) < nd + 2):
        r = d.int(0, 99)
        size = shape[i] if i < nd else 1
        if r < 25 and i < nd + 1:
            lo = d.int(-size - 1, size)
            parts.append(str(lo))
            i += 1
        elif r < 60:
            a = d.pick((None, 0, 1, -1, -2, size))
            b = d.pick((None, size, -1, 2, 0, size + 3))
            c = d.pick((None, None, 1, 2, 3))
            parts.append(f"{'' if a is None else a}:{'' if b is None else b}"
                         f"{'' if c is None else ':' + str(c)}")
            i += 1
        elif r < 68:
            parts.append("None")
        elif r < 73 and "..." not in parts:
            parts.append("...")
            i = nd
        elif allow_adv and r < 85 and i < nd:
            parts.append(d.index((d.int(0, 3),), size))
            i += 1
        elif allow_adv and r < 92 and i < nd:
            parts.append(d.extra(shape[i:i + d.int(1, max(1, nd - i))], "bool", "bool",
                                 grad=False, layout="contiguous"))
            i = nd
        else:
            parts.append(":")
            i += 1
        if len(parts) > nd + 2:
            break
    return ", ".join(parts) if parts else "..."


@op("indexing")
def getitem(d: D, x: Meta) -> Step:
    idx = _basic_index(d, x.shape)
    return d.step("indexing", f"x = x[{idx}]")


@op("indexing")
def gather_family(d: D, x: Meta) -> Step:
    name = d.pick(("gather", "index_select", "take_along_dim", "masked_select", "nonzero",
                   "argwhere", "take", "embedding", "one_hot", "index_fill", "unique"))
    dim = d.dim(x.ndim)
    size = x.shape[dim] if x.ndim and -x.ndim <= dim < x.ndim else 1
    if name in ("gather", "take_along_dim"):
        shape = tuple(d.int(0, s) if i != (dim % max(x.ndim, 1)) else d.int(0, 4)
                      for i, s in enumerate(x.shape))
        idx = d.index(shape, size)
        if name == "gather":
            return d.step("indexing", f"x = m.gather(x, {dim}, {idx})")
        return d.step("indexing", f"x = m.take_along_dim(x, {idx}, dim={dim})")
    if name == "index_select":
        idx = d.index((d.int(0, 4),) if d.chance(0.9) else (), size)
        return d.step("indexing", f"x = m.index_select(x, {dim}, {idx})")
    if name == "masked_select":
        mask = d.extra(d.bshape(x.shape), "bool", grad=False)
        return d.step("indexing", f"x = m.masked_select(x, {mask})")
    if name in ("nonzero", "argwhere"):
        return d.step("indexing", f"x = m.{name}(x)")
    if name == "take":
        return d.step("indexing", f"x = m.take(x, {d.index((d.int(0, 3),), x.numel)})")
    if name == "embedding":
        n = x.shape[0] if x.ndim == 2 else 1
        idx = d.index(d.small_shape(1, 2), n)
        return d.step("indexing", f"x = F.embedding({idx}, x)")
    if name == "one_hot":
        c = d.pick((-1, 4, 6))
        return d.step("indexing", f"x = F.one_hot(x.long().abs(), {c})")
    if name == "unique":
        return d.step("indexing", f"x = m.unique(x, sorted=True)")
    idx = d.index((d.int(0, 3),), size)
    return d.step("indexing", f"x = x.index_fill({dim}, {idx}, {d.real()})")


@op("indexing")
def scatter_family(d: D, x: Meta) -> Step:
    name = d.pick(("scatter", "scatter_add", "index_add", "index_put", "scatter_value",
                   "scatter_reduce", "index_copy"))
    dim = d.dim(x.ndim)
    nd = max(x.ndim, 1)
    size = x.shape[dim] if x.ndim and -x.ndim <= dim < x.ndim else 1
    if name in ("scatter", "scatter_add", "scatter_value", "scatter_reduce"):
        shape = tuple(d.int(0, s) for s in x.shape)
        idx = d.index(shape, size)
        if name == "scatter_value":
            return d.step("indexing", f"x = m.scatter(x, {dim}, {idx}, {d.real()})")
        src = d.extra(tuple(s + d.int(0, 1) for s in shape), d.dtype_like(x.dtype, 0.05))
        if name == "scatter_reduce":
            return d.step("indexing", f"x = x.scatter_reduce({dim}, {idx}, {src}, "
                          f"reduce={d.pick(('sum', 'amax', 'mean'))!r})")
        return d.step("indexing", f"x = m.{name}(x, {dim}, {idx}, {src})")
    if name in ("index_add", "index_copy"):
        k = d.int(0, 3)
        idx = d.index((k,), size)
        src_shape = tuple(k if i == dim % nd else s for i, s in enumerate(x.shape))
        src = d.extra(src_shape, d.dtype_like(x.dtype, 0.05))
        alpha = f", alpha={d.pick((1, 2))}" if name == "index_add" and d.chance(0.3) else ""
        return d.step("indexing", f"x = x.{name}({dim}, {idx}, {src}{alpha})")
    k = d.int(0, 3)
    idx = ", ".join(d.index((k,), s) for s in x.shape[:d.int(1, nd)]) if x.ndim else \
        d.index((k,), 1)
    rest = x.shape[len(idx.split(", ")):] if x.ndim else ()
    vals = d.extra(d.bshape((k,) + rest), x.dtype)
    return d.step("indexing", f"x = x.index_put(({idx},), {vals}, "
                  f"accumulate={d.chance(0.5)})")


# =============================================================================================
# views (and the shape ops PyTorch documents beside them)
# =============================================================================================

def _view_shape(d: D, x: Meta) -> tuple:
    if d.chance(0.08):
        return tuple(d.int(1, 4) for _ in range(d.int(1, 3)))
    shape = list(d.factor(x.numel, d.int(1, 4))) if d.chance(0.8) or not x.ndim else []
    if shape and d.chance(0.35) and x.numel:
        shape[d.int(0, len(shape) - 1)] = -1
    return tuple(shape)


def view_expr(d: D, x: Meta) -> tuple:
    """(expression over ``x`` that PyTorch documents as a view, its name)."""
    nd = x.ndim
    name = d.pick(("view", "reshape", "t", "transpose", "permute", "narrow", "select",
                   "diagonal", "expand", "squeeze", "unsqueeze", "flatten", "unflatten",
                   "movedim", "swapaxes", "split", "chunk", "unbind", "T", "mT", "getitem",
                   "view_as", "as_strided", "unfold", "tensor_split", "real"))
    dim = d.dim(nd)
    size = x.shape[dim] if nd and -nd <= dim < nd else 1
    if name in ("view", "reshape"):
        return f"x.{name}{fmt_tuple(_view_shape(d, x))}", name
    if name == "t":
        return "x.t()", name
    if name in ("transpose", "swapaxes"):
        return f"x.{name}({dim}, {d.dim(nd)})", name
    if name == "permute":
        perm = list(d.perm(nd))
        if d.chance(0.05):
            perm = perm[:-1] if perm else [0]
        return f"x.permute({', '.join(map(str, perm))}{',' if len(perm) == 1 else ''})", name
    if name == "narrow":
        start = d.int(-size, size)
        room = size - (start if start >= 0 else start + size)
        return f"x.narrow({dim}, {start}, {d.int(0, max(room, 0))})", name
    if name == "select":
        return f"x.select({dim}, {d.int(-size, size - 1) if size else 0})", name
    if name == "diagonal":
        d2 = d.dim(nd)
        return f"x.diagonal({d.int(-2, 2)}, {dim}, {d2})", name
    if name == "expand":
        shape = [d.pick((-1, s)) if s != 1 else d.pick((1, 2, 3, -1)) for s in x.shape]
        if d.chance(0.2):
            shape = [d.int(1, 3)] + shape
        return f"x.expand({', '.join(map(str, shape))}{',' if len(shape) == 1 else ''})" \
            if shape else "x.expand(())", name
    if name == "squeeze":
        return ("x.squeeze()" if d.chance(0.3) else f"x.squeeze({dim})"), name
    if name == "unsqueeze":
        return f"x.unsqueeze({d.int(-nd - 1, nd)})", name
    if name == "flatten":
        return f"x.flatten({d.dim(nd)}, {d.dim(nd)})", name
    if name == "unflatten":
        return f"x.unflatten({dim}, {fmt_tuple(d.factor(size, d.int(1, 3)))})", name
    if name == "movedim":
        return f"x.movedim({dim}, {d.dim(nd)})", name
    if name in ("split", "chunk", "tensor_split"):
        k = d.int(1, 3)
        # the first or last piece: how many there are depends on the size
        return f"x.{name}({k}, {dim})[{d.pick((0, -1))}]", name
    if name == "unbind":
        return f"x.unbind({dim})[{d.int(0, max(size - 1, 0))}]", name
    if name in ("T", "mT"):
        return f"x.{name}", f"Tensor.{name}"
    if name == "getitem":
        return f"x[{_basic_index(d, x.shape, allow_adv=False)}]", "Tensor.__getitem__"
    if name == "view_as":
        return "x.view_as(x.t())" if nd == 2 else "x.view_as(x)", name
    if name == "as_strided":
        return f"x.as_strided((1,), (1,))", name
    if name == "unfold":
        return f"x.unfold({dim}, {d.int(1, 3)}, {d.int(1, 2)})", name
    return "m.real(x)", name


@op("views")
def views(d: D, x: Meta) -> Step:
    expr, name = view_expr(d, x)
    return d.step("views", f"x = {expr}")


@op("views")
def shape_ops(d: D, x: Meta) -> Step:
    nd = x.ndim
    name = d.pick(("flip", "roll", "repeat", "tile", "tril", "triu", "contiguous",
                   "broadcast_to", "expand_as", "fliplr", "rot90", "diag", "squeeze_dims",
                   "repeat_interleave", "diag_embed"))
    dim = d.dim(nd)
    if name == "flip":
        return d.step("views", f"x = x.flip({fmt_tuple(d.dims(nd))})")
    if name == "roll":
        return d.step("views", f"x = x.roll({d.int(-3, 3)}, {dim})" if d.chance(0.8)
                      else f"x = x.roll({d.int(-3, 3)})")
    if name in ("repeat", "tile"):
        reps = tuple(d.int(0 if d.chance(0.1) else 1, 2) for _ in range(nd + d.int(0, 1)))
        return d.step("views", f"x = x.{name}{fmt_tuple(reps) if reps else '(())'}")
    if name in ("tril", "triu"):
        return d.step("views", f"x = m.{name}(x, {d.int(-2, 2)})")
    if name == "contiguous":
        return d.step("views", "x = x.contiguous()")
    if name in ("broadcast_to", "expand_as"):
        shape = tuple(d.int(1, 2) for _ in range(d.int(0, 1))) + tuple(
            d.int(1, 3) if s == 1 else s for s in x.shape)
        if name == "broadcast_to":
            return d.step("views", f"x = m.broadcast_to(x, {fmt_tuple(shape) if shape else '()'})")
        e = d.extra(shape, x.dtype)
        return d.step("views", f"x = x.expand_as({e})")
    if name == "squeeze_dims":
        return d.step("views", f"x = x.squeeze({fmt_tuple(d.dims(nd))})")
    if name == "repeat_interleave":
        return d.step("views", f"x = x.repeat_interleave({d.int(1, 2)}, dim={dim})")
    if name == "diag":
        return d.step("views", f"x = m.diag(x, {d.int(-1, 1)})")
    if name == "diag_embed":
        return d.step("views", "x = m.diag_embed(x)")
    if name == "rot90":
        return d.step("views", "x = m.rot90(x)")
    return d.step("views", f"x = m.{name}(x)")


# =============================================================================================
# in-place writes (on the tensor itself or through a view of it)
# =============================================================================================

_INPLACE_UNARY = ("relu_", "sigmoid_", "tanh_", "exp_", "neg_", "abs_", "sqrt_", "zero_",
                  "floor_", "sin_", "reciprocal_", "square_", "clamp_", "log_", "round_",
                  "trunc_", "sign_", "nan_to_num_", "fix_", "expm1_", "rsqrt_", "erf_")
_INPLACE_BINARY = ("add_", "sub_", "mul_", "div_", "pow_", "copy_", "lerp_",
                   "masked_fill_", "fill_", "clamp_min_", "atan2_", "remainder_", "fmod_",
                   "hypot_", "floor_divide_")
_INPLACE_F = ("relu", "elu", "leaky_relu", "hardtanh", "threshold", "selu", "celu", "relu6",
              "silu", "hardswish", "hardsigmoid", "dropout")


def _inplace_call(d: D, target: Meta) -> tuple:
    """(statement applying an in-place op to ``v``, its name)."""
    r = d.int(0, 99)
    if r < 30:
        name = d.pick(_INPLACE_UNARY)
        arg = f"min={d.real()}" if name == "clamp_" else ""
        return f"v.{name}({arg})", f"Tensor.{name}"
    if r < 62:
        name = d.pick(_INPLACE_BINARY)
        if name == "fill_":
            return f"v.fill_({d.real()})", "Tensor.fill_"
        if name == "masked_fill_":
            mask = d.extra(d.bshape(target.shape), "bool", grad=False)
            return f"v.masked_fill_({mask}, {d.real()})", "Tensor.masked_fill_"
        if name == "clamp_min_":
            return f"v.clamp_min_({d.real()})", "Tensor.clamp_min_"
        if name == "lerp_":
            y = d.extra(d.bshape(target.shape), target.dtype)
            return f"v.lerp_({y}, 0.5)", "Tensor.lerp_"
        y = d.operand(target) if name != "copy_" else d.extra(
            d.bshape(target.shape), d.dtype_like(target.dtype, 0.1))
        return f"v.{name}({y})", f"Tensor.{name}"
    if r < 72:
        name = d.pick(_INPLACE_F)
        if name == "dropout":
            return "F.dropout(v, p=0.0, inplace=True)", "F.dropout"
        return f"F.{name}(v, inplace=True)" if name != "threshold" else \
            f"F.threshold(v, {d.real()}, {d.real()}, inplace=True)", f"F.{name}"
    if r < 88:
        idx = _basic_index(d, target.shape)
        val = d.operand(target, shape=None) if d.chance(0.7) else repr(d.real())
        return f"v[{idx}] = {val}", "Tensor.__setitem__"
    o = d.pick(("+=", "-=", "*=", "/="))
    return f"v {o} {d.operand(target)}", f"operator {o}"


@op("in-place")
def inplace(d: D, x: Meta) -> Step:
    lines = []
    if x.leaf_grad and d.chance(0.8):
        lines.append("x = x.clone()" if d.chance(0.7) else "x = x * 1")
    form = d.int(0, 99)
    if form < 35:           # on x itself
        lines.append("v = x")
        target = x
    else:                   # through a view of x (a chain of one or two views)
        expr, name = view_expr(d, x)
        lines.append(f"v = {expr}")
        target = Meta(x.shape, x.dtype)   # drawers only need rank/dtype roughly
        if d.chance(0.15):
            lines.append("v = v.t() if v.dim() == 2 else v.unsqueeze(0)")
    call, cname = _inplace_call(d, target)
    if form >= 90:          # a saved value made stale: PyTorch refuses the backward
        pre = d.pick(("sin", "exp", "sigmoid", "mul", "pow"))
        keep = {"sin": "m.sin(x)", "exp": "m.exp(x)", "sigmoid": "m.sigmoid(x)",
                "mul": "x * x", "pow": "x ** 2"}[pre]
        lines = lines[:1] if lines and lines[0].startswith("x =") else []
        lines += [f"y = {keep}", "v = x", call, "x = y + x"]
        return d.step("in-place", "\n".join(lines))
    lines.append(call)
    if form >= 35 and d.chance(0.3):
        lines.append("x = v")
    return d.step("in-place", "\n".join(lines))


# =============================================================================================
# cat / stack
# =============================================================================================

@op("cat/stack")
def cat(d: D, x: Meta) -> Step:
    name = d.pick(("cat", "cat", "stack", "hstack", "vstack", "concatenate", "concat",
                   "dstack", "column_stack", "split_cat", "block_diag", "cartesian_prod"))
    nd = x.ndim
    dim = d.dim(nd)
    dn = dim % nd if nd and -nd <= dim < nd else 0
    parts = ["x"]
    for _ in range(d.int(1, 2)):
        if d.chance(0.15):
            parts.append("x")
            continue
        if name in ("stack", "dstack", "column_stack", "block_diag", "cartesian_prod"):
            shape = x.shape
        else:
            shape = tuple(d.int(0, 3) if i == dn else s for i, s in enumerate(x.shape))
        if d.chance(0.06):
            shape = d.small_shape(0, 3)
        if d.chance(0.04):
            shape = (0,)
        parts.append(d.extra(shape, d.dtype_like(x.dtype, 0.15)))
    seq = f"[{', '.join(parts)}]" if d.chance(0.8) else f"({', '.join(parts)})"
    if name in ("cat", "concatenate", "concat"):
        return d.step("cat/stack", f"x = m.{name}({seq}, {'dim=' if d.chance(0.5) else ''}{dim})")
    if name == "stack":
        sdim = d.int(-nd - 1, nd)
        return d.step("cat/stack", f"x = m.stack({seq}, {sdim})")
    if name == "split_cat":
        k = d.int(1, 3)
        return d.step("cat/stack", f"x = m.cat(m.split(x, {k}, {dim})[::-1], {dim})")
    if name in ("block_diag", "cartesian_prod"):
        return d.step("cat/stack", f"x = m.{name}(*{seq})")
    return d.step("cat/stack", f"x = m.{name}({seq})")


# =============================================================================================
# softmax family and normalisation
# =============================================================================================

@op("softmax/norm")
def softmax(d: D, x: Meta) -> Step:
    name = d.pick(("softmax", "log_softmax", "softmin", "F.softmax", "F.log_softmax",
                   "F.softmin", "F.gumbel_softmax_hard", "F.normalize"))
    dim = d.dim(x.ndim)
    dt = f", dtype=m.{d.pick(FLOAT_DTYPES)}" if d.chance(0.15) else ""
    if name.startswith("F.gumbel"):
        return d.step("softmax/norm", f"x = F.softmax(x, {dim}).argmax({dim})")
    if name == "F.normalize":
        return d.step("softmax/norm", f"x = F.normalize(x, p={d.pick((1, 2))}, dim={dim})")
    if name.startswith("F."):
        return d.step("softmax/norm", f"x = {name}(x, dim={dim}{dt})")
    if d.chance(0.5):
        return d.step("softmax/norm", f"x = x.{name}({dim}{dt})"
                      if name != "softmin" else f"x = F.softmin(x, {dim})")
    return d.step("softmax/norm", f"x = m.{name}(x, {dim}{dt})" if name != "softmin"
                  else f"x = F.softmin(x, {dim})")


@op("softmax/norm")
def norms(d: D, x: Meta) -> Step:
    name = d.pick(("layer_norm", "group_norm", "batch_norm", "batch_norm_eval",
                   "instance_norm", "rms_norm", "local_response_norm"))
    dt = x.dtype if x.is_float else "float32"
    if name in ("layer_norm", "rms_norm"):
        k = d.int(0, x.ndim) if x.ndim else 0
        shape = x.shape[x.ndim - k:] if d.chance(0.95) else (d.int(1, 3),)
        w = d.extra(shape, dt) if d.chance(0.5) else "None"
        b = (d.extra(shape, dt) if d.chance(0.5) else "None") if name == "layer_norm" else ""
        eps = d.pick((1e-5, 0.1))
        bias = f", {b}" if b else ""
        return d.step("softmax/norm",
                      f"x = F.{name}(x, {fmt_tuple(shape) if shape else '()'}, {w}{bias}, "
                      f"eps={eps})")
    src, shape = d.as_rank(x, d.int(2, 4), batch_optional=False)
    c = shape[1]
    if name == "group_norm":
        g = d.pick([k for k in range(1, c + 1) if c % k == 0] or [1]) if d.chance(0.95) else 3
        w = d.extra((c,), dt) if d.chance(0.5) else "None"
        return d.step("softmax/norm", f"x = F.group_norm({src}, {g}, {w})")
    w = d.extra((c,), dt) if d.chance(0.6) else "None"
    b = d.extra((c,), dt) if d.chance(0.6) else "None"
    if name == "batch_norm":
        return d.step("softmax/norm", f"x = F.batch_norm({src}, None, None, {w}, {b}, "
                      f"training=True, eps={d.pick((1e-5, 0.1))})")
    if name == "batch_norm_eval":
        rm = d.extra((c,), dt, grad=False)
        rv = d.extra((c,), dt, "positive", grad=False)
        return d.step("softmax/norm", f"x = F.batch_norm({src}, {rm}, {rv}, {w}, {b}, "
                      "training=False)")
    if name == "instance_norm":
        return d.step("softmax/norm", f"x = F.instance_norm({src}, weight={w}, bias={b})")
    return d.step("softmax/norm", f"x = F.local_response_norm({src}, 2)")


# =============================================================================================
# convolution and pooling
# =============================================================================================

@op("conv/pool")
def conv(d: D, x: Meta) -> Step:
    r = d.int(1, 3)
    transposed = d.chance(0.3)
    src, shape = d.as_rank(x, r + 2)
    batched = len(shape) == r + 2
    cin = shape[1] if batched else shape[0]
    groups = d.pick([g for g in (1, 2, 3) if cin % g == 0] or [1])
    if d.chance(0.04):
        groups = 2
    cout = groups * d.int(0 if d.chance(0.03) else 1, 2)
    k = tuple(d.int(1, 3) for _ in range(r))
    dt = x.dtype if d.chance(0.95) else d.pick(FLOAT_DTYPES)
    if transposed:
        w = d.extra((cin, cout // max(groups, 1)) + k, dt)
    else:
        w = d.extra((cout, cin // max(groups, 1)) + k, dt)
    b = d.extra((cout if not transposed else cout,), dt) if d.chance(0.5) else "None"
    stride = d.int(1, 3)
    dil = d.int(1, 2)
    if transposed:
        pad = d.int(0, 1)
        op_ = d.int(0, max(0, max(stride, dil) - 1))
        name = f"F.conv_transpose{r}d"
        return d.step("conv/pool", f"x = {name}({src}, {w}, {b}, stride={stride}, padding={pad}, "
                      f"output_padding={op_}, groups={groups}, dilation={dil})")
    pad = d.pick((0, 1, 2, "'same'", "'valid'"))
    name = f"F.conv{r}d"
    return d.step("conv/pool", f"x = {name}({src}, {w}, {b}, stride={stride}, padding={pad}, "
                  f"dilation={dil}, groups={groups})")


@op("conv/pool")
def pool(d: D, x: Meta) -> Step:
    r = d.int(1, 3)
    src, shape = d.as_rank(x, r + 2)
    kind = d.pick(("max", "avg", "adaptive_avg", "adaptive_max", "lp"))
    k = d.int(1, 3)
    stride = d.pick((None, 1, 2, 3))
    pad = d.int(0, k // 2 + (1 if d.chance(0.05) else 0))
    ceil = d.chance(0.3)
    if kind == "max":
        name = f"F.max_pool{r}d"
        ret = d.chance(0.2)
        return d.step("conv/pool", f"x = {name}({src}, {k}, stride={stride}, padding={pad}, "
                      f"dilation={d.int(1, 2)}, ceil_mode={ceil}, return_indices={ret})"
                      f"{d.pick(('[0]', '[1]')) if ret else ''}")
    if kind == "avg":
        name = f"F.avg_pool{r}d"
        extra = f", divisor_override={d.pick((None, 2))}" if r > 1 else ""
        return d.step("conv/pool", f"x = {name}({src}, {k}, stride={stride}, padding={pad}, "
                      f"ceil_mode={ceil}, count_include_pad={d.chance(0.5)}{extra})")
    if kind == "lp":
        name = f"F.lp_pool{min(r, 2)}d"
        return d.step("conv/pool", f"x = {name}({src}, 2, {k})")
    name = f"F.{kind}_pool{r}d"
    out = tuple(d.pick((1, 2, 3, None)) if r > 1 else d.int(1, 3) for _ in range(r))
    if r == 1:
        out = out[0]
    return d.step("conv/pool", f"x = {name}({src}, {out})")


@op("conv/pool")
def resample(d: D, x: Meta) -> Step:
    kind = d.pick(("interpolate", "pad", "pixel_shuffle", "unfold"))
    if kind == "pad":
        k = d.int(1, min(3, max(x.ndim, 1)))
        pads = tuple(d.int(-1 if d.chance(0.1) else 0, 2) for _ in range(2 * k))
        mode = d.pick(("constant", "constant", "reflect", "replicate", "circular"))
        val = f", value={d.real()}" if mode == "constant" and d.chance(0.5) else ""
        return d.step("conv/pool", f"x = F.pad(x, {pads}, mode={mode!r}{val})")
    if kind == "pixel_shuffle":
        src, shape = d.as_rank(x, 4)
        return d.step("conv/pool", f"x = F.pixel_shuffle({src}, 2)")
    if kind == "unfold":
        src, shape = d.as_rank(x, 4)
        return d.step("conv/pool", f"x = F.unfold({src}, 2)")
    mode = d.pick(("nearest", "nearest", "linear", "bilinear", "trilinear", "bicubic",
                   "area", "nearest-exact"))
    # volumetric (5-d) inputs only with the mode made for them: yingshe resizes 1 and 2
    # spatial dims (the unsupported list names trilinear)
    r = 3 if mode == "trilinear" else d.int(1, 2)
    src, shape = d.as_rank(x, r + 2, batch_optional=False)
    if d.chance(0.5):
        size = tuple(d.int(1, 5) for _ in range(r))
        arg = f"size={size[0] if r == 1 else size}"
    else:
        arg = f"scale_factor={d.pick((2, 0.5, 1.5, 3))}"
    ac = ""
    if mode in ("linear", "bilinear", "trilinear", "bicubic") and d.chance(0.5):
        ac = f", align_corners={d.chance(0.5)}"
    return d.step("conv/pool", f"x = F.interpolate({src}, {arg}, mode={mode!r}{ac})")


# =============================================================================================
# losses
# =============================================================================================

_RED = ("mean", "sum", "none")


@op("losses")
def regression_loss(d: D, x: Meta) -> Step:
    name = d.pick(("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div",
                   "binary_cross_entropy", "binary_cross_entropy_with_logits",
                   "poisson_nll_loss", "soft_margin_loss", "gaussian_nll_loss",
                   "cosine_similarity", "pairwise_distance", "margin_ranking_loss"))
    shape = x.shape if d.chance(0.9) else d.bshape(x.shape)
    dt = x.dtype if x.is_float or d.chance(0.3) else "float32"
    red = d.pick(_RED)
    if name in ("binary_cross_entropy",):
        t = d.extra(shape, dt, ("range", 0, 1) if d.chance(0.5) else "positive")
        w = f", weight={d.extra(d.bshape(shape), dt)}" if d.chance(0.2) else ""
        return d.step("losses", f"x = F.binary_cross_entropy(m.sigmoid(x), "
                      f"{t}.clamp(0, 1){w}, reduction={red!r})")
    if name == "binary_cross_entropy_with_logits":
        t = d.extra(shape, dt, "positive")
        pw = f", pos_weight={d.extra(d.bshape(shape), dt)}" if d.chance(0.3) else ""
        return d.step("losses", f"x = F.{name}(x, {t}.clamp(0, 1){pw}, reduction={red!r})")
    if name == "kl_div":
        t = d.extra(shape, dt, "positive")
        red = d.pick(("batchmean", "sum", "mean", "none"))
        lt = d.chance(0.3)
        return d.step("losses", f"x = F.kl_div(x, {t}{'.log()' if lt else ''}, "
                      f"reduction={red!r}, log_target={lt})")
    if name in ("cosine_similarity", "pairwise_distance"):
        t = d.extra(shape, dt)
        return d.step("losses", f"x = F.{name}(x, {t})")
    if name == "margin_ranking_loss":
        t = d.extra(shape, dt)
        y = d.extra(shape, dt, "ints")
        return d.step("losses", f"x = F.margin_ranking_loss(x, {t}, {y}.sign())")
    if name == "gaussian_nll_loss":
        t = d.extra(shape, dt)
        v = d.extra(shape, dt, "positive")
        return d.step("losses", f"x = F.gaussian_nll_loss(x, {t}, {v})")
    t = d.extra(shape, dt)
    kw = ""
    if name == "smooth_l1_loss" and d.chance(0.5):
        kw = f", beta={d.pick((0.5, 1.0, 2.0, 0.0))}"
    if name == "huber_loss" and d.chance(0.5):
        kw = f", delta={d.pick((0.5, 1.0, 2.0))}"
    return d.step("losses", f"x = F.{name}(x, {t}, reduction={red!r}{kw})")


@op("losses")
def class_loss(d: D, x: Meta) -> Step:
    name = d.pick(("cross_entropy", "cross_entropy", "nll_loss", "cross_entropy_probs",
                   "multi_margin_loss", "multilabel_soft_margin_loss"))
    r = d.pick((1, 2, 2, 3))
    src, shape = d.as_rank(x, r, batch_optional=False)
    if not x.is_float:
        src = f"{src}.float()"
    c = shape[1] if r >= 2 else shape[0]
    tshape = (shape[0],) + shape[2:] if r >= 2 else ()
    red = d.pick(_RED)
    dt = x.dtype if x.is_float else "float32"
    w = f", weight={d.extra((c,) if d.chance(0.95) else (c + 1,), dt, 'positive')}" \
        if d.chance(0.3) else ""
    if name == "cross_entropy_probs":
        t = d.extra(shape, dt, "positive")
        ls = f", label_smoothing={d.pick((0.0, 0.1))}" if d.chance(0.3) else ""
        return d.step("losses", f"x = F.cross_entropy({src}, {t}.softmax({1 if r >= 2 else 0})"
                      f"{w}, reduction={red!r}{ls})")
    ignore = d.pick((-100, 0, 1)) if d.chance(0.3) else None
    lo, hi = 0, c - 1
    if ignore == -100 and d.chance(0.5):
        lo = -100 if d.chance(0.5) else 0
    if d.chance(0.04):
        hi = c
    t = d.extra(tshape, "int64", ("range", lo, max(lo, hi)) if lo != -100 else
                ("range", -1, max(0, c - 1)), grad=False, layout="contiguous")
    if lo == -100:
        t = f"{t}.clamp(min=-1).masked_fill({t} < 0, -100)"
    ig = f", ignore_index={ignore}" if ignore is not None else ""
    if name == "nll_loss":
        return d.step("losses", f"x = F.nll_loss(F.log_softmax({src}, {1 if r >= 2 else 0}), "
                      f"{t}{w}, reduction={red!r}{ig})")
    if name in ("multi_margin_loss", "multilabel_soft_margin_loss"):
        return d.step("losses", f"x = F.{name}({src}, {t})")
    ls = f", label_smoothing={d.pick((0.0, 0.2))}" if d.chance(0.3) else ""
    return d.step("losses", f"x = F.cross_entropy({src}, {t}{w}, reduction={red!r}{ig}{ls})")
