"""The in-place methods and method aliases added for issue 14 (``x.relu_()``,
``x.eq_(y)``, ``x.t_()``, ``x.divide(y)`` ...) against PyTorch: the value written into
``x``, that the method returns ``x`` itself, and the gradients that flow through the
update to the tensors it read (on a non-leaf ``x``, as autograd allows)."""

import numpy as np
import pytest

import yingshe
import yingshe.nn.functional as F
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

RTOL, ATOL = tol("reference", np.float64)
_RNG_SEED = 7


def _pos(*shape):
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def _sym(*shape):
    return lambda rng: rng.uniform(-2.0, 2.0, shape)


def _ties(*shape):
    return lambda rng: rng.integers(-2, 3, shape).astype(np.float64)


# name: (self maker, [other float makers], call(x, *others), grad): ``grad`` says whether
# PyTorch differentiates the update (False: values only; floor_divide has no derivative)
_CASES = {
    # unary, positive inputs so that every log/rsqrt is defined
    **{f"{n}_": (_pos(2, 3), [], (lambda n: lambda x: getattr(x, n + "_")())(n), True)
       for n in ("abs", "absolute", "ceil", "cos", "erf", "expm1", "fix", "floor", "frac",
                 "log", "log10", "log1p", "log2", "reciprocal", "round", "rsqrt", "sign",
                 "sin", "square", "tan", "trunc", "relu", "sigmoid", "tanh", "negative",
                 "nan_to_num")},
    "relu_-negative-values": (_sym(2, 3), [], lambda x: x.relu_(), True),
    "nan_to_num_-args": (_sym(2, 3), [], lambda x: x.nan_to_num_(nan=1.0, posinf=2.0), True),
    # binary with a float tensor (broadcast) operand
    **{f"{n}_": (_pos(2, 3), [_pos(3)], (lambda n: lambda x, y: getattr(x, n + "_")(y))(n),
                 True)
       for n in ("atan2", "arctan2", "hypot", "fmod", "remainder", "subtract", "multiply",
                 "divide", "true_divide")},
    "floor_divide_": (_pos(2, 3), [_pos(3)], lambda x, y: x.floor_divide_(y), False),
    # comparisons write 1/0 in x's dtype; the old history gets a zero gradient
    **{f"{n}_": (_ties(2, 3), [_ties(3)], (lambda n: lambda x, y: getattr(x, n + "_")(y))(n),
                 True)
       for n in ("eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal",
                 "greater", "greater_equal")},
    "eq_-scalar": (_ties(2, 3), [], lambda x: x.eq_(1.0), True),
    "lerp_": (_sym(2, 3), [_sym(2, 3)], lambda x, y: x.lerp_(y, 0.25), True),
    "lerp_-tensor-weight": (_sym(2, 3), [_sym(2, 3), _pos(3)], lambda x, y, w: x.lerp_(y, w),
                            True),
    "addmm_": (_sym(2, 3), [_sym(2, 4), _sym(4, 3)], lambda x, a, b: x.addmm_(a, b), True),
    "addmm_-beta-alpha": (_sym(2, 3), [_sym(2, 4), _sym(4, 3)],
                          lambda x, a, b: x.addmm_(a, b, beta=0.5, alpha=2.0), True),
    "cumsum_": (_sym(2, 3), [], lambda x: x.cumsum_(1), True),
    "cumprod_": (_sym(2, 3), [], lambda x: x.cumprod_(0), True),
    "tril_": (_sym(3, 3), [], lambda x: x.tril_(), True),
    "triu_": (_sym(3, 4), [], lambda x: x.triu_(1), True),
    "float_power_": (_pos(2, 3), [_pos(3)], lambda x, y: x.float_power_(y), True),
    # shape changes in place
    "t_": (_sym(2, 3), [], lambda x: x.t_(), True),
    "transpose_": (_sym(2, 3, 4), [], lambda x: x.transpose_(0, 2), True),
    "swapaxes_": (_sym(2, 3), [], lambda x: x.swapaxes_(0, 1), True),
    "swapdims_": (_sym(2, 3), [], lambda x: x.swapdims_(1, 0), True),
    "squeeze_": (_sym(2, 1, 3), [], lambda x: x.squeeze_(), True),
    "squeeze_-dim": (_sym(2, 1, 3), [], lambda x: x.squeeze_(1), True),
    "unsqueeze_": (_sym(2, 3), [], lambda x: x.unsqueeze_(-1), True),
}


def _run(m, case, rng_seed=_RNG_SEED):
    """(value of x after the update, gradients of x's source and of the other operands),
    with x a non-leaf (x0 * 1) so that autograd records the update."""
    make_x, make_others, call, grad = case
    rng = np.random.default_rng(rng_seed)
    x0 = m.tensor(make_x(rng), dtype=m.float64, requires_grad=grad)
    others = [m.tensor(f(rng), dtype=m.float64, requires_grad=grad) for f in make_others]
    x = x0 * 1
    out = call(x, *others)
    assert out is x
    value = x.detach().numpy().copy()
    if not grad:
        return value, []
    w = m.tensor(np.random.default_rng(1).standard_normal(tuple(x.shape)), dtype=m.float64)
    (x * w).sum().backward()
    return value, [t.grad.numpy() if t.grad is not None else None for t in [x0] + others]


@pytest.mark.parametrize("name", sorted(_CASES))
def test_inplace_method_matches_torch(name):
    torch = import_torch()
    ours, theirs = _run(yingshe, _CASES[name]), _run(torch, _CASES[name])
    assert ours[0].shape == theirs[0].shape
    np.testing.assert_allclose(ours[0], theirs[0], rtol=RTOL, atol=ATOL)
    assert len(ours[1]) == len(theirs[1])
    for a, b in zip(ours[1], theirs[1]):
        # no gradient (None) and a zero gradient are the same answer
        a = np.zeros_like(b) if a is None and b is not None else a
        b = np.zeros_like(a) if b is None and a is not None else b
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["logical_and_", "logical_or_", "logical_xor_",
                                  "logical_not_"])
def test_logical_inplace_methods_cut_the_history(name):
    # Values as PyTorch's. Gradients deliberately not: PyTorch records no node for these
    # and leaves x's old history in place, so x's source gets the gradient as if x had
    # kept its value (x0.grad == w); the written value does not depend on x smoothly,
    # and yingshe gives it zero, as PyTorch does for eq_ and the other comparisons.
    torch = import_torch()
    call = (lambda x, y: getattr(x, name)()) if name == "logical_not_" else \
        (lambda x, y: getattr(x, name)(y))
    case = (_ties(2, 3), [_ties(3)], call, True)
    ours, theirs = _run(yingshe, case), _run(torch, case)
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert not np.any(ours[1][0])


@pytest.mark.parametrize("name,dtype", [("bitwise_and_", "int64"), ("bitwise_or_", "bool"),
                                        ("bitwise_xor_", "int64"), ("bitwise_not_", "bool"),
                                        ("logical_and_", "bool"), ("eq_", "int64"),
                                        ("abs_", "int64"), ("cumsum_", "int64")])
def test_inplace_methods_on_integer_and_bool_tensors_match_torch(name, dtype):
    torch = import_torch()
    rng = np.random.default_rng(3)
    a, b = rng.integers(-3, 4, (2, 3)), rng.integers(-3, 4, (3,))
    if dtype == "bool":
        a, b = a > 0, b > 0
    results = []
    for m in (yingshe, torch):
        x, y = m.tensor(a), m.tensor(b)
        args = () if name in ("bitwise_not_", "abs_") else (1,) if name == "cumsum_" else (y,)
        assert getattr(x, name)(*args) is x
        results.append(x.numpy())
    np.testing.assert_array_equal(results[0], results[1])
    assert results[0].dtype == results[1].dtype


@pytest.mark.parametrize("call", [
    lambda x: x.sqrt_() if x.dtype.is_floating_point else x.log_(),   # float into int64
    lambda x: x.float_power_(2),                                      # float64 into int64
])
def test_inplace_results_that_do_not_fit_the_dtype_are_refused_like_torch(call):
    torch = import_torch()
    with pytest.raises(RuntimeError):
        call(torch.tensor([1, 2]))
    with pytest.raises(RuntimeError):
        call(yingshe.tensor([1, 2]))


def test_float_power_in_place_needs_a_float64_tensor_like_torch():
    torch = import_torch()
    with pytest.raises(RuntimeError, match="float_power_"):
        torch.ones(2).float_power_(2)
    with pytest.raises(RuntimeError, match="float_power_"):
        yingshe.ones(2).float_power_(2)


@pytest.mark.parametrize("name", ["relu_", "sigmoid_", "t_", "eq_"])
def test_inplace_methods_refuse_a_leaf_that_requires_grad_like_torch(name):
    torch = import_torch()
    args = (1.0,) if name == "eq_" else ()
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(torch.ones(2, 2, requires_grad=True), name)(*args)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(yingshe.ones(2, 2, requires_grad=True), name)(*args)


@pytest.mark.parametrize("name,args", [("relu_", ()), ("leaky_relu_", (0.2,)),
                                       ("elu_", (0.5,)), ("selu_", ()), ("celu_", (2.0,)),
                                       ("hardtanh_", (-0.5, 0.5)), ("threshold_", (0.1, -3.0))])
def test_functional_inplace_activations_match_torch(name, args):
    torch = import_torch()
    results = []
    for m, fn in ((yingshe, getattr(F, name)), (torch, getattr(torch.nn.functional, name))):
        x0 = m.tensor(np.linspace(-2, 2, 9), dtype=m.float64, requires_grad=True)
        x = x0 * 1
        assert fn(x, *args) is x
        x.sum().backward()
        results.append((x.detach().numpy(), x0.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name,args", [("negative", ()), ("subtract", (0.5,)),
                                       ("multiply", (3.0,)), ("divide", (4.0,)),
                                       ("true_divide", (4.0,))])
def test_method_aliases_match_torch(name, args):
    torch = import_torch()
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(getattr(yingshe.tensor(a), name)(*args).numpy(),
                               getattr(torch.tensor(a), name)(*args).numpy())


def test_ger_equal_bernoulli_and_multinomial_methods():
    torch = import_torch()
    a, b = np.arange(3.0), np.arange(2.0)
    np.testing.assert_array_equal(yingshe.tensor(a).ger(yingshe.tensor(b)).numpy(),
                                  torch.tensor(a).ger(torch.tensor(b)).numpy())
    for x, y in [(a, a), (a, a + 1), (a, b), (np.array([np.nan]), np.array([np.nan]))]:
        assert yingshe.tensor(x).equal(yingshe.tensor(y)) is torch.tensor(x).equal(
            torch.tensor(y))
    # random draws: the distributions' edges, where the outcome is certain
    np.testing.assert_array_equal(yingshe.tensor([0.0, 1.0]).bernoulli().numpy(), [0, 1])
    assert yingshe.tensor([[0.0, 1.0, 0.0]]).multinomial(1).numpy().tolist() == [[1]]


def test_inplace_shape_change_is_refused_when_tracing():
    from yingshe.errors import UnsupportedError

    def f(x):
        y = x * 2
        y.t_()
        return y

    with pytest.raises(UnsupportedError, match="t_"):
        yingshe.compile(f)(yingshe.ones(2, 3))
    with pytest.warns(UserWarning):
        out = yingshe.compile(f, fallback="eager")(yingshe.ones(2, 3))
    assert out.shape == (3, 2)
