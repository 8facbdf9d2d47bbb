"""Elementwise maths beyond the op table: PyTorch's promotion over a grid of dtypes and
operand kinds, numerical stability without warnings, PyTorch's gradient conventions at
kinks and ties, broadcasting (hypothesis) against NumPy, and error behaviour."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import yingshe
from yingshe.errors import DTypeError
from yingshe.ops import REGISTRY
from yingshe.ops._shapes import Meta
from yingshe.testing.reference import torch as import_torch

DTYPES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]


def _np(t):
    return t.detach().numpy() if isinstance(t, yingshe.Tensor) else np.asarray(t)


def _tensor(lib, values, dtype, zero_d):
    arr = np.asarray(values[:1] if zero_d else values).astype(dtype)
    if zero_d:
        arr = arr.reshape(())
    if lib is yingshe:
        return yingshe.tensor(arr)
    return lib.tensor(arr)


def _run(fn, lib, args):
    try:
        return fn(lib, *args), None
    except Exception as err:  # noqa: BLE001 - compared with the other library's outcome
        return None, err


def _compare_outcomes(torch, label, ys, t_out, t_err, y_err):
    if t_err is not None:
        if isinstance(t_err, TypeError) and ("must be Tensor" in str(t_err)
                                           or "invalid combination" in str(t_err)):
            return  # PyTorch's signature refuses a number where yingshe accepts one
        assert y_err is not None, f"{label}: torch raised {t_err!r}, yingshe returned {ys}"
        return
    assert y_err is None, f"{label}: yingshe raised {y_err!r}, torch gave {t_out}"
    assert str(ys.dtype).split(".")[-1] == str(t_out.dtype).split(".")[-1], \
        f"{label}: dtype {ys.dtype} vs torch {t_out.dtype}"
    assert tuple(ys.shape) == tuple(t_out.shape), label
    want = t_out.numpy()
    got = _np(ys)
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=2e-3 if want.dtype == np.float16 else 1e-6,
                                   err_msg=label)
    else:
        np.testing.assert_array_equal(got, want, err_msg=label)


# ---- promotion: dtypes x (tensor, 0-d tensor, python scalar) against PyTorch --------------------

BINARY = {
    "pow": lambda m, a, b: m.pow(a, b),
    "pow-op": lambda m, a, b: a ** b,
    "floor_divide": lambda m, a, b: m.div(a, b, rounding_mode="floor"),
    "trunc_divide": lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
    "remainder": lambda m, a, b: m.remainder(a, b),
    "fmod": lambda m, a, b: m.fmod(a, b),
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: m.minimum(a, b),
    "atan2": lambda m, a, b: m.atan2(a, b),
    "eq": lambda m, a, b: a == b,
    "lt": lambda m, a, b: m.lt(a, b),
    "ge": lambda m, a, b: a >= b,
    "bitwise_and": lambda m, a, b: a & b,
    "bitwise_xor": lambda m, a, b: m.bitwise_xor(a, b),
    "where": lambda m, a, b: m.where(_cond(m), a, b),
    "clamp": lambda m, a, b: m.clamp(a, min=b),
    "logical_or": lambda m, a, b: m.logical_or(a, b),
}

_A = [1, 2, 3]
_B = [1, 2, 1]
_SCALARS = [True, 2, 2.5]


def _cond(m):
    c = np.array([True, False, True])
    return yingshe.tensor(c) if m is yingshe else m.tensor(c)


def _kinds():
    out = [(dt, zero_d) for dt in DTYPES for zero_d in (False, True)]
    return out + [("scalar", s) for s in _SCALARS]


def _make(lib, kind, values):
    dt, extra = kind
    if dt == "scalar":
        return extra
    return _tensor(lib, values, dt, extra)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_promotion_matches_torch(name):
    """Result dtype and values (or an error) equal PyTorch's for every pair of operands."""
    torch = import_torch()
    fn = BINARY[name]
    for ka in _kinds():
        for kb in _kinds():
            if ka[0] == "scalar" and kb[0] == "scalar":
                continue
            if name == "clamp" and ka[0] == "scalar":
                continue
            label = f"{name}({ka}, {kb})"
            t_out, t_err = _run(fn, torch, (_make(torch, ka, _A), _make(torch, kb, _B)))
            ys, y_err = _run(fn, yingshe, (_make(yingshe, ka, _A), _make(yingshe, kb, _B)))
            _compare_outcomes(torch, label, ys, t_out, t_err, y_err)


UNARY = ["exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "square",
         "reciprocal", "sin", "cos", "tan", "tanh", "sigmoid", "erf", "abs", "sign", "floor",
         "ceil", "round", "trunc", "frac", "relu", "isnan", "isinf", "isfinite",
         "logical_not", "bitwise_not"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_dtypes_match_torch(name):
    """Integer and bool inputs: the same result dtype (e.g. exp(int) is float32) or error."""
    torch = import_torch()
    for dt in DTYPES:
        for zero_d in (False, True):
            label = f"{name}({dt}, 0d={zero_d})"
            t_out, t_err = _run(lambda m, x: getattr(m, name)(x), torch,
                                (_tensor(torch, _A, dt, zero_d),))
            ys, y_err = _run(lambda m, x: getattr(m, name)(x), yingshe,
                             (_tensor(yingshe, _A, dt, zero_d),))
            _compare_outcomes(torch, label, ys, t_out, t_err, y_err)


def test_int_tensor_float_scalar_pow_is_float32():
    x = yingshe.tensor([1, 2, 3])
    assert (x ** 2.5).dtype is yingshe.float32
    assert (x ** 2).dtype is yingshe.int64
    assert (2.5 ** x).dtype is yingshe.float32
    yingshe.set_default_dtype(yingshe.float64)
    try:
        assert (x ** 2.5).dtype is yingshe.float64
        assert yingshe.exp(x).dtype is yingshe.float64
    finally:
        yingshe.set_default_dtype(yingshe.float32)


def test_integer_pow_with_negative_tensor_exponents_matches_torch():
    torch = import_torch()
    a = np.array([-3, -2, -1, 0, 1, 2, 3] * 3)
    b = np.repeat([-3, -2, -1], 7)
    for dt in ("int32", "int64"):
        want = torch.tensor(a.astype(dt)) ** torch.tensor(b.astype(dt))
        got = yingshe.tensor(a.astype(dt)) ** yingshe.tensor(b.astype(dt))
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.dtype.name == dt


def test_rounding_division_matches_torch_on_signs_and_zeros():
    torch = import_torch()
    a = np.array([-7, -6, -1, 0, 1, 6, 7], dtype=np.int64)
    for b in (2, -2, 3, -3):
        for mode in ("floor", "trunc"):
            want = torch.div(torch.tensor(a), b, rounding_mode=mode).numpy()
            got = yingshe.div(yingshe.tensor(a), b, rounding_mode=mode)
            assert got.dtype is yingshe.int64
            np.testing.assert_array_equal(got.numpy(), want)
        np.testing.assert_array_equal((yingshe.tensor(a) % b).numpy(),
                                      torch.remainder(torch.tensor(a), b).numpy())
        np.testing.assert_array_equal(yingshe.fmod(yingshe.tensor(a), b).numpy(),
                                      torch.fmod(torch.tensor(a), b).numpy())
    f = np.array([-7.5, -1.0, -0.0, 0.0, 2.5, np.inf, np.nan], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for b in (2.0, -2.0, 0.0):
            for mode in ("floor", "trunc"):
                want = torch.div(torch.tensor(f), b, rounding_mode=mode).numpy()
                got = yingshe.div(yingshe.tensor(f), b, rounding_mode=mode).numpy()
                np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(
                yingshe.remainder(yingshe.tensor(f), b).numpy(),
                torch.remainder(torch.tensor(f), b).numpy())


def test_integer_division_by_zero_raises_naming_the_op():
    x = yingshe.tensor([1, 2, 3])
    for fn, op in ((lambda: x // 0, "div_rounded"), (lambda: x % 0, "remainder"),
                   (lambda: yingshe.fmod(x, yingshe.tensor([1, 0, 1])), "fmod")):
        with pytest.raises(RuntimeError, match="ZeroDivisionError") as info:
            fn()
        assert op in str(info.value)
        assert "test_elementwise_math.py" in str(info.value)
        # (found by the fuzz suite) PyTorch's class, RuntimeError, not Python's
        # ZeroDivisionError wrapped in one
        chain = [info.value, info.value.__cause__, info.value.__context__]
        assert not any(isinstance(e, ZeroDivisionError) for e in chain)


# ---- numerical stability: |x| = 1000, no warnings, exact values --------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stable_at_large_magnitudes_without_warnings(dtype):
    x = yingshe.tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype),
                       requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(yingshe.sigmoid(x).detach().numpy()[[0, 2, 4]],
                                      np.array([0.0, 0.5, 1.0], dtype=dtype))
        sp = yingshe.softplus(x).detach().numpy()
        assert sp[0] == 0.0 and sp[4] == 1000.0 and sp[3] == 50.0
        assert sp[2] == np.asarray(math.log(2.0), dtype=dtype)
        sp_wide = yingshe.softplus(x, threshold=1e6).detach().numpy()  # no linearisation
        assert sp_wide[4] == 1000.0 and np.isfinite(sp_wide).all()
        assert yingshe.silu(x).detach().numpy()[0] == 0.0
        el = yingshe.elu(x).detach().numpy()
        assert el[0] == -1.0 and el[4] == 1000.0
        th = yingshe.tanh(x).detach().numpy()
        assert th[0] == -1.0 and th[4] == 1.0
        assert yingshe.exp(x).detach().numpy()[4] == np.inf
        assert yingshe.expm1(x).detach().numpy()[0] == -1.0
        # gradients: the saturated ends are exactly 0 or 1, never nan
        for fn, want in ((yingshe.sigmoid, [0.0, 0.25, 0.0]),
                         (yingshe.softplus, [0.0, 0.5, 1.0]),
                         (lambda t: yingshe.elu(t), [0.0, 1.0, 1.0]),
                         (yingshe.tanh, [0.0, 1.0, 0.0])):
            (g,) = yingshe.autograd.grad(fn(x).sum(), [x])
            np.testing.assert_array_equal(g.numpy()[[0, 2, 4]], np.array(want, dtype=dtype))
        # second order through elu's unused branch stays finite
        (g,) = yingshe.autograd.grad(yingshe.elu(x).sum(), [x], create_graph=True)
        (gg,) = yingshe.autograd.grad(g.sum(), [x])
        assert np.isfinite(gg.numpy()).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inf_and_nan_by_design_without_warnings(dtype):
    z = yingshe.tensor(np.array([0.0, -1.0, 1.0], dtype=dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(yingshe.log(z).numpy()[:1], [-np.inf])
        assert np.isnan(yingshe.log(z).numpy()[1])
        assert yingshe.log1p(z - 1).numpy()[0] == -np.inf
        assert yingshe.log2(z).numpy()[0] == -np.inf
        assert yingshe.log10(z).numpy()[0] == -np.inf
        assert yingshe.reciprocal(z).numpy()[0] == np.inf
        assert yingshe.rsqrt(z).numpy()[0] == np.inf
        assert np.isnan(yingshe.sqrt(z).numpy()[1])
        assert (z ** -1.0).numpy()[0] == np.inf
        assert np.isnan((z ** 0.5).numpy()[1])
        assert np.isnan(yingshe.remainder(z, 0.0).numpy()).all()
        # PyTorch's conventions at a zero base: d/da 0**b (b>=1) and d/db 0**b are 0
        a = yingshe.tensor(np.array([0.0, 0.0, 2.0], dtype=dtype), requires_grad=True)
        b = yingshe.tensor(np.array([2.0, 0.0, 0.0], dtype=dtype), requires_grad=True)
        ga, gb = yingshe.autograd.grad((a ** b).sum(), [a, b])
        np.testing.assert_array_equal(ga.numpy(), [0.0, 0.0, 0.0])
        np.testing.assert_allclose(gb.numpy(), [0.0, 0.0, math.log(2.0)], rtol=1e-6)


def test_sigmoid_matches_torch_far_out():
    torch = import_torch()
    x = np.linspace(-120, 120, 97).astype(np.float32)
    # atol: far left yingshe keeps float32 denormals (e ** -100 ~ 4e-44) where PyTorch's
    # 1 / (1 + inf) flushes to 0; both are within 1e-38 of the true value
    np.testing.assert_allclose(yingshe.sigmoid(yingshe.tensor(x)).numpy(),
                               torch.sigmoid(torch.tensor(x)).numpy(), rtol=1e-6, atol=1e-38)


# ---- gradient conventions at kinks and ties, against PyTorch -----------------------------------

KINKS = {
    "relu": lambda m, x: m.relu(x),
    "abs": lambda m, x: m.abs(x),
    "leaky_relu": lambda m, x: (m.nn.functional if hasattr(m, "nn") and m is not yingshe
                                else m).leaky_relu(x, 0.1),
    "elu": lambda m, x: (m.nn.functional if m is not yingshe else m).elu(x, 0.7),
    "clamp": lambda m, x: m.clamp(x, -1.0, 1.0),
    "clamp-min": lambda m, x: m.clamp(x, min=0.0),
    "clamp-max": lambda m, x: m.clamp(x, max=0.0),
    "clamp-int-bounds": lambda m, x: m.clamp(x, -1, 1),
    "sign": lambda m, x: m.sign(x),
    "round": lambda m, x: m.round(x),
    "floor": lambda m, x: m.floor(x),
    "frac": lambda m, x: m.frac(x),
    "pow0": lambda m, x: x ** 0,
}


# Where PyTorch's vectorised loop and its scalar tail disagree at NaN, the answer depends on
# the CPU's vector width and on where the NaN sits in the tensor (ELU's gradient at NaN is
# NaN in a vectorised block, 1 in the tail: an 8-element float64 tensor is one AVX2 block
# but an AVX-512 tail). DESIGN's rule there is NaN value and NaN gradient, and these ops
# are tested against the rule; `test_nan_rule_covers_exactly_where_torch_disagrees` keeps
# the list honest on any CPU.
NAN_RULE = {"elu"}
_KINK_VALUES = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
# lengths on both sides of every vector block (AVX2 and AVX-512, float32 and float64:
# PyTorch's loop takes two vectors at a time), so each path of PyTorch's kernels is hit
_LENGTHS = (1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40)


def _with_nan(n, pos):
    x = np.resize(_KINK_VALUES, n)
    x[pos] = np.nan
    return x


def _value_and_grad(m, name, x):
    xt = m.tensor(x, requires_grad=True)
    y = KINKS[name](m, xt)
    (g,) = m.autograd.grad(y.sum(), [xt])
    return y.detach().numpy(), g.detach().numpy()


@pytest.mark.parametrize("name", sorted(KINKS))
def test_gradient_at_kinks_matches_torch(name):
    """Values and gradients at kinks match PyTorch for every length and NaN position;
    at NaN, PyTorch's answer where it is the same on every path, else DESIGN's rule."""
    torch = import_torch()
    for n in _LENGTHS:
        for pos in sorted({0, n // 2, n - 1}):
            x = _with_nan(n, pos)
            vy, gy = _value_and_grad(yingshe, name, x)
            vt, gt = _value_and_grad(torch, name, x)
            finite = ~np.isnan(x)
            msg = f"{name}, length {n}, NaN at {pos}"
            np.testing.assert_allclose(vy[finite], vt[finite], rtol=1e-15, atol=0, err_msg=msg)
            np.testing.assert_allclose(gy[finite], gt[finite], rtol=1e-15, atol=0, err_msg=msg)
            if name in NAN_RULE:
                assert np.isnan(vy[pos]) and np.isnan(gy[pos]), \
                    f"{msg}: the rule is NaN value and NaN gradient, got {vy[pos]}, {gy[pos]}"
            else:
                np.testing.assert_allclose([vy[pos], gy[pos]], [vt[pos], gt[pos]], rtol=1e-15,
                                           atol=0, err_msg=msg)  # nan == nan


@pytest.mark.parametrize("name", sorted(KINKS))
def test_nan_rule_covers_exactly_where_torch_disagrees(name):
    """An op is on NAN_RULE exactly when PyTorch's value or gradient at NaN differs
    between lengths or positions (its vectorised and scalar paths); the lengths cover
    both paths on any vector width up to AVX-512, so this holds on every CPU."""
    torch = import_torch()
    answers = {}
    for dtype in (np.float32, np.float64):
        for n in _LENGTHS:
            for pos in sorted({0, n - 1}):
                v, g = _value_and_grad(torch, name, _with_nan(n, pos).astype(dtype))
                answers.setdefault(dtype.__name__, set()).add((repr(float(v[pos])),
                                                               repr(float(g[pos]))))
    disagree = any(len(a) > 1 for a in answers.values())
    assert disagree == (name in NAN_RULE), (name, answers)


BINARY_GRADS = {
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: m.minimum(a, b),
    "clamp-tensor-bounds": lambda m, a, b: m.clamp(a, b, b + 1),
    "clamp-inverted-bounds": lambda m, a, b: m.clamp(a, b + 1, b),
    "where": lambda m, a, b: m.where(a > b, a, b),
    "remainder": lambda m, a, b: m.remainder(a, b),
    "fmod": lambda m, a, b: m.fmod(a, b),
    "pow": lambda m, a, b: m.pow(m.relu(a), b),  # zero bases, nan
    "atan2": lambda m, a, b: m.atan2(a, b),
}


@pytest.mark.parametrize("name", sorted(BINARY_GRADS))
def test_binary_gradients_with_ties_match_torch(name):
    """Ties (a == b, x on a clamp bound) and nan take PyTorch's gradient convention."""
    torch = import_torch()
    a = np.array([[-1.0, 0.0, 1.0, 2.0, np.nan, 3.0]] * 2)
    b = np.array([[-1.0, 0.5, 1.0, 2.5, 1.0, np.nan], [1.0, 0.0, -1.0, 2.0, -2.0, 3.0]])
    ay, by = (yingshe.tensor(v, requires_grad=True) for v in (a, b))
    at, bt = (torch.tensor(v, requires_grad=True) for v in (a, b))
    u = np.linspace(0.5, 1.7, a.size).reshape(a.shape)
    gy = yingshe.autograd.grad((BINARY_GRADS[name](yingshe, ay, by) * yingshe.tensor(u)).sum(),
                               [ay, by], allow_unused=True)
    gt = torch.autograd.grad((BINARY_GRADS[name](torch, at, bt) * torch.tensor(u)).sum(),
                             [at, bt], allow_unused=True)
    for y, t in zip(gy, gt):
        if t is None:
            assert y is None or not np.any(y.numpy())
            continue
        np.testing.assert_allclose(y.numpy(), t.numpy(), rtol=1e-12, atol=0)


def test_maximum_tie_splits_the_gradient_equally():
    a = yingshe.tensor([1.0, 2.0], requires_grad=True)
    b = yingshe.tensor([1.0, 1.0], requires_grad=True)
    ga, gb = yingshe.autograd.grad(yingshe.maximum(a, b).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [0.5, 1.0])
    np.testing.assert_array_equal(gb.numpy(), [0.5, 0.0])


def test_comparisons_are_not_differentiable():
    x = yingshe.tensor([1.0, 2.0], requires_grad=True)
    for out in (x > 1, x == 1, yingshe.isnan(x), yingshe.logical_not(x), x.lt(2.0)):
        assert out.dtype is yingshe.bool
        assert not out.requires_grad and out.grad_fn is None
    for name in ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "isnan", "bitwise_and"):
        assert not REGISTRY[name].differentiable


# ---- broadcasting against NumPy (hypothesis) -----------------------------------------------------

BROADCAST = {
    "pow": (lambda m, a, b: m.pow(m.abs(a) + 0.5, b), lambda a, b: (np.abs(a) + 0.5) ** b),
    "maximum": (lambda m, a, b: m.maximum(a, b), np.maximum),
    "minimum": (lambda m, a, b: m.minimum(a, b), np.minimum),
    "remainder": (lambda m, a, b: a % (m.abs(b) + 0.5), lambda a, b: np.mod(a, np.abs(b) + 0.5)),
    "fmod": (lambda m, a, b: m.fmod(a, m.abs(b) + 0.5), lambda a, b: np.fmod(a, np.abs(b) + 0.5)),
    "atan2": (lambda m, a, b: m.atan2(a, b), np.arctan2),
    "div_floor": (lambda m, a, b: m.div(a, m.abs(b) + 0.5, rounding_mode="floor"),
                  lambda a, b: np.floor_divide(a, np.abs(b) + 0.5)),
    "lerp": (lambda m, a, b: m.lerp(a, b, 0.25), lambda a, b: a + 0.25 * (b - a)),
    "lt": (lambda m, a, b: a < b, np.less),
    "eq": (lambda m, a, b: a == m.round(b), lambda a, b: a == np.round(b)),
    "logical_xor": (lambda m, a, b: m.logical_xor(a > 0, b > 0),
                    lambda a, b: np.logical_xor(a > 0, b > 0)),
    "where": (lambda m, a, b: m.where(a > b, a, b), lambda a, b: np.where(a > b, a, b)),
    "clamp": (lambda m, a, b: m.clamp(a, min=b), np.maximum),
}


@settings(max_examples=30)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
       name=st.sampled_from(sorted(BROADCAST)), seed=st.integers(0, 2 ** 16))
def test_binary_broadcasting_matches_numpy(shapes, name, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shapes.input_shapes[0])
    b = rng.standard_normal(shapes.input_shapes[1])
    fn, ref = BROADCAST[name]
    ay = yingshe.tensor(a, requires_grad=True)
    by = yingshe.tensor(b, requires_grad=True)
    out = fn(yingshe, ay, by)
    want = np.asarray(ref(a, b))
    assert tuple(out.shape) == want.shape == shapes.result_shape
    np.testing.assert_allclose(_np(out), want, rtol=1e-12, atol=0)
    if out.dtype.is_floating_point and out.requires_grad:
        ga, gb = yingshe.autograd.grad(out.sum(), [ay, by], allow_unused=True)
        for g, x in ((ga, a), (gb, b)):
            assert g is None or tuple(g.shape) == x.shape


# ---- API details -------------------------------------------------------------------------------

def test_operators_and_methods():
    x = yingshe.tensor([-1.5, 0.0, 2.0])
    i = yingshe.tensor([1, 2, 3])
    np.testing.assert_array_equal((abs(x)).numpy(), [1.5, 0.0, 2.0])
    np.testing.assert_array_equal((~(x > 0)).numpy(), [True, True, False])
    np.testing.assert_array_equal((True & (x > 0)).numpy(), [False, False, True])
    np.testing.assert_array_equal((6 | i).numpy(), [7, 6, 7])
    np.testing.assert_array_equal((5 ^ i).numpy(), [4, 7, 6])
    np.testing.assert_array_equal((7 // i).numpy(), [7, 3, 2])
    np.testing.assert_array_equal((7 % i).numpy(), [0, 1, 1])
    np.testing.assert_array_equal((2 ** i).numpy(), [2, 4, 8])
    np.testing.assert_array_equal((1 < i).numpy(), [False, True, True])
    np.testing.assert_array_equal(x.clip(-1, 1).numpy(), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(x.where(x > 0, 9.0).numpy(), [9.0, 9.0, 2.0])
    np.testing.assert_array_equal(x.clamp_min(0).numpy(), [0.0, 0.0, 2.0])
    assert (x == None) is False and (x != None) is True  # noqa: E711 - Python semantics
    with pytest.raises(TypeError):
        x < "a"  # noqa: B015
    # identity hashing survives the elementwise __eq__
    assert x in [x] and {x: 1}[x] == 1


def test_where_errors_and_scalar_branches():
    c = yingshe.tensor([True, False])
    assert yingshe.where(c, 1.0, 0.0).dtype is yingshe.float32
    assert yingshe.where(c, 1, 0).dtype is yingshe.int64
    with pytest.raises(DTypeError, match="boolean"):
        yingshe.where(yingshe.tensor([1, 0]), 1.0, 0.0)
    (idx,) = yingshe.where(c)   # one argument: the positions (tests/ops/test_search.py)
    np.testing.assert_array_equal(idx.numpy(), [0])


def test_infer_rules_reject_bad_dtypes_for_graphs():
    """The shape/dtype rules raise when a graph is built, before any compute."""
    ints = Meta((3,), yingshe.int64)
    bools = Meta((3,), yingshe.bool)
    floats = Meta((3,), yingshe.float32)
    with pytest.raises(DTypeError, match="exp"):
        REGISTRY["exp"].infer(ints)
    with pytest.raises(DTypeError, match="bitwise_and"):
        REGISTRY["bitwise_and"].infer(floats, floats)
    with pytest.raises(DTypeError, match="where"):
        REGISTRY["where"].infer(floats, floats, floats)
    with pytest.raises(DTypeError, match="pow"):
        REGISTRY["pow"].infer(bools, bools)
    assert REGISTRY["eq"].infer(ints, 2.5) == Meta((3,), yingshe.bool)
    assert REGISTRY["clamp"].infer(floats, None, Meta((2, 1), yingshe.float32)) == \
        Meta((2, 3), yingshe.float32)


def test_round_decimals_matches_torch():
    torch = import_torch()
    x = np.array([1.2345, -1.2355, 1234.5, 1250.0, -0.05, 0.15], dtype=np.float32)
    for d in (-2, -1, 0, 1, 2, 3):
        np.testing.assert_array_equal(
            yingshe.round(yingshe.tensor(x), decimals=d).numpy(),
            torch.round(torch.tensor(x), decimals=d).numpy())


# ---- found by the fuzz suite (tests/fuzz) ---------------------------------------------------

@pytest.mark.parametrize("call", [lambda m, x: m.sub(x, -1, alpha=0.5),
                                  lambda m, x: m.add(x, 2, alpha=-3),
                                  lambda m, x: x.add(1.5, alpha=2)])
def test_add_and_sub_of_a_python_number_scaled_by_alpha_like_torch(call):
    torch = import_torch()
    a = np.array([1.0, -2.5, 4.0])
    np.testing.assert_array_equal(call(yingshe, yingshe.tensor(a)).numpy(),
                                  call(torch, torch.tensor(a)).numpy())


@pytest.mark.parametrize("fn", [lambda x: x ** 2, lambda x: x ** -2, lambda x: x / 3,
                                lambda x: 2.0 / x, lambda x: x / (x.detach() + 5)])
@pytest.mark.parametrize("inplace", ["abs_", "trunc_", "mul_"])
def test_changing_the_output_of_pow_or_div_in_place_keeps_the_gradient_like_torch(fn, inplace):
    """PyTorch saves only the inputs of pow (Python exponent) and div; their output may be
    changed in place before backward."""
    torch = import_torch()
    a = np.array([1.5, -2.0, 0.25])
    grads = []
    for m in (yingshe, torch):
        x = m.tensor(a.copy(), requires_grad=True)
        y = fn(x)
        getattr(y, inplace)(*([2.0] if inplace == "mul_" else []))
        grads.append(m.autograd.grad(y.sum(), x)[0].numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


NONFINITE = np.array([[np.inf, 0.5, -2.0], [np.nan, -np.inf, 1.0], [1e308, -1e308, 0.0]])


@pytest.mark.parametrize("call", [
    lambda m, x: m.softmax(x, 1), lambda m, x: m.log_softmax(x, 0),
    lambda m, x: m.nn.functional.mse_loss(x, x.flip(0), reduction="sum"),
    lambda m, x: m.nn.functional.mse_loss(x, x.flip(1), reduction="none"),
    lambda m, x: m.nn.functional.binary_cross_entropy_with_logits(x, m.ones(3, 3).double()),
    lambda m, x: m.lerp(x, x.flip(1), 0.75),
    lambda m, x: m.nn.functional.layer_norm(x[:2], (3,)),   # (1e308: overflow garbage)
    lambda m, x: x.long().double() * 0,
], ids=["softmax", "log_softmax", "mse_sum", "mse_none", "bce_logits", "lerp", "layer_norm",
        "cast"])
def test_non_finite_inputs_give_torch_values_without_numpy_warnings(call):
    torch = import_torch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = call(yingshe, yingshe.tensor(NONFINITE.copy())).numpy()
    t = call(torch, torch.tensor(NONFINITE.copy())).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(t))
    np.testing.assert_allclose(y[~np.isnan(y)], t[~np.isnan(t)], rtol=1e-12)
