"""Linear algebra beyond the op table: einsum against NumPy and PyTorch on random
equations, linear's gradients against PyTorch, and the checked spellings' errors."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import yingshe
import yingshe.nn.functional as F
from yingshe.testing import check_vjp
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

EQUATIONS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,ij->", [(3, 4), (3, 4)]),
    ("ij,kj", [(3, 4), (2, 4)]),            # implicit: ik
    ("i,i", [(4,), (4,)]),                  # implicit: scalar
    ("...ij->...ji", [(2, 3, 4)]),
    ("b...,b...->...b", [(2, 3, 4), (2, 1, 4)]),  # broadcast ellipsis
    ("ijk,jl,k->li", [(2, 3, 4), (3, 5), (4,)]),
    ("ij->j", [(3, 4)]),
    ("ba", [(3, 4)]),                       # implicit: ab, a transpose
]


@pytest.mark.parametrize("eq,shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_einsum_matches_numpy_torch_and_fd(eq, shapes):
    torch = import_torch()
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    got = yingshe.einsum(eq, *[yingshe.tensor(a) for a in arrays]).numpy()
    rtol, atol = tol("reference", np.float64)
    np.testing.assert_allclose(got, np.einsum(eq, *arrays), rtol=rtol, atol=atol)
    # gradients vs torch
    ys_in = [yingshe.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = yingshe.einsum(eq, *ys_in)
    t = torch.einsum(eq, *t_in)
    assert tuple(y.shape) == tuple(t.shape)
    u = rng.standard_normal(tuple(t.shape))
    gy = yingshe.autograd.grad((y * yingshe.tensor(u)).sum(), ys_in)
    gt = torch.autograd.grad((t * torch.tensor(u)).sum(), t_in)
    for a, b in zip(gy, gt):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=atol)
    check_vjp(lambda *xs: yingshe.einsum(eq, *xs), arrays, tuple(range(len(arrays))))


def test_einsum_accepts_a_list_of_operands_and_spaces():
    a = np.arange(6.0).reshape(2, 3)
    got = yingshe.einsum("i j -> j i", [yingshe.tensor(a)])
    np.testing.assert_array_equal(got.numpy(), a.T)


def test_einsum_errors():
    a = yingshe.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="2 operand"):
        yingshe.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="output subscript 'z'"):
        yingshe.einsum("ij->z", a)
    with pytest.raises(TypeError, match="same dtype"):
        yingshe.einsum("ij,ij->", a, a.float())
    x = _unknown_size_placeholder()
    with pytest.raises(NotImplementedError, match="repeated subscript.*needs its shape"):
        yingshe.graph.gradients(yingshe.einsum("ii,i->i", x, x[0]).sum(), [x])


def test_einsum_diagonal_of_an_unknown_size_differentiates_in_a_graph():
    # one operand summing nothing is diagonal() and permute() views: no shape-sized mask
    import yingshe.graph as G
    x = _unknown_size_placeholder()
    grad, = G.gradients(yingshe.einsum("ii->i", x).sum(), [x])
    with G.Session() as sess:
        got, = sess.run([grad], feed_dict={x: np.arange(9.0).reshape(3, 3)})
    np.testing.assert_array_equal(got, np.eye(3))


def _unknown_size_placeholder():
    """A graph input whose size is known only at run time (a diagonal's gradient needs
    it: its 0/1 mask is a constant of the operand's shape)."""
    import yingshe.graph as G
    G.reset_default_graph()
    return G.placeholder(yingshe.float64, [None, None])


@settings(max_examples=20, deadline=None)
@given(lead=st.lists(st.integers(0, 3), max_size=2), n_in=st.integers(1, 4),
       n_out=st.integers(1, 4), bias=st.booleans())
def test_linear_matches_torch_values_and_gradients(lead, n_in, n_out, bias):
    torch = import_torch()
    rng = np.random.default_rng(1)
    x = rng.standard_normal(tuple(lead) + (n_in,))
    w = rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out)
    ys_in = [yingshe.tensor(a, requires_grad=True) for a in (x, w, b)]
    t_in = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.linear(*(ys_in if bias else ys_in[:2]))
    t = torch.nn.functional.linear(*(t_in if bias else t_in[:2]))
    rtol, atol = tol("reference", np.float64)
    np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
    u = rng.standard_normal(tuple(t.shape))
    k = 3 if bias else 2
    gy = yingshe.autograd.grad((y * yingshe.tensor(u)).sum(), ys_in[:k])
    gt = torch.autograd.grad((t * torch.tensor(u)).sum(), t_in[:k])
    for a, c in zip(gy, gt):
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=rtol, atol=atol)


def test_linear_is_one_op_and_bias_dtype_checked():
    x = yingshe.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    w = yingshe.tensor(np.ones((4, 3), np.float32))
    y = F.linear(x, w, yingshe.tensor(np.ones(4, np.float32)))
    assert y.grad_fn.name() == "LinearBackward"
    with pytest.raises(TypeError, match="yingshe.float32 and yingshe.float64"):
        F.linear(x, w, yingshe.tensor(np.ones(4)))


@pytest.mark.parametrize("fn,shapes", [
    ("mm", [(2, 3), (3, 4)]), ("bmm", [(2, 2, 3), (2, 3, 4)]), ("mv", [(2, 3), (3,)]),
    ("dot", [(3,), (3,)]), ("outer", [(3,), (4,)]),
])
def test_mixed_float_dtypes_raise_naming_both(fn, shapes):
    torch = import_torch()
    a, b = (np.ones(s) for s in shapes)
    ya, yb = yingshe.tensor(a, dtype=yingshe.float32), yingshe.tensor(b)
    if fn == "outer":  # outer promotes like mul, as PyTorch's does
        assert yingshe.outer(ya, yb).dtype is yingshe.float64
        assert torch.outer(torch.ones(3, dtype=torch.float32), torch.ones(4, dtype=torch.float64)).dtype \
            is torch.float64
        return
    with pytest.raises(RuntimeError) as info:
        getattr(yingshe, fn)(ya, yb)
    assert isinstance(info.value, TypeError)
    assert "float32" in str(info.value) and "float64" in str(info.value)
    with pytest.raises(RuntimeError):
        getattr(torch, fn)(torch.tensor(a, dtype=torch.float32), torch.tensor(b))


def test_tensor_methods_exist():
    a = yingshe.tensor(np.ones((2, 3)))
    b = yingshe.tensor(np.ones((3, 4)))
    np.testing.assert_array_equal(a.mm(b).numpy(), np.full((2, 4), 3.0))
    np.testing.assert_array_equal(a.softmax(1).numpy(), np.full((2, 3), 1 / 3))
    np.testing.assert_allclose(a.log_softmax(-1).numpy(), np.full((2, 3), -np.log(3)))


def test_addmm_beta_zero_ignores_nan_input():
    inp = yingshe.tensor(np.full((2, 2), np.nan))
    a = yingshe.tensor(np.eye(2))
    out = yingshe.addmm(inp, a, a, beta=0)
    np.testing.assert_array_equal(out.numpy(), np.eye(2))


# ---- found by the fuzz suite (tests/fuzz) ---------------------------------------------------

@pytest.mark.parametrize("eq,shape", [("aa->", (5, 1)), ("...aa->...", (0, 1, 2)),
                                      ("aac->", (5, 1, 4))])
def test_einsum_repeated_subscript_of_unequal_sizes_is_refused_like_torch(eq, shape):
    torch = import_torch()
    with pytest.raises(RuntimeError, match="repeated"):
        torch.einsum(eq, torch.ones(shape))
    with pytest.raises(yingshe.ShapeError, match="subscript 'a' is repeated for operand 0"):
        yingshe.einsum(eq, yingshe.ones(*shape))


@pytest.mark.parametrize("eq,shape", [("ab->ba", (2, 3)), ("a->a", (4,)), ("ii->i", (3, 3)),
                                      ("iij->ji", (2, 2, 3))])
def test_einsum_of_one_operand_that_sums_nothing_is_a_view_like_torch(eq, shape):
    """PyTorch returns a view there: a write into the result reaches the operand (NumPy's
    einsum returned an unregistered view, so the write bypassed autograd's checks)."""
    torch = import_torch()
    a = np.arange(float(np.prod(shape))).reshape(shape)
    results = []
    for m in (yingshe, torch):
        x = m.tensor(a.copy())
        m.einsum(eq, x).mul_(-1)
        results.append(x.numpy())
    np.testing.assert_array_equal(results[0], results[1])
    # the gradient through the view, and PyTorch's refusal of a write into a leaf's view
    xs = [m.tensor(a.copy(), requires_grad=True) for m in (yingshe, torch)]
    g = np.random.default_rng(0).standard_normal(torch.einsum(eq, xs[1]).shape)
    grads = [m.autograd.grad(m.einsum(eq, x), x, m.tensor(g))[0].numpy()
             for m, x in zip((yingshe, torch), xs)]
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)
    with pytest.raises(RuntimeError):
        torch.einsum(eq, xs[1]).mul_(2)
    with pytest.raises(RuntimeError):
        yingshe.einsum(eq, xs[0]).mul_(2)


@pytest.mark.parametrize("eq,n_ops", [("ab->a", 1), ("ab->", 1), ("ab,b->a", 2),
                                      ("ab,cd->", 2), ("ab->ba", 1)])
@pytest.mark.parametrize("dtype", ["int8", "int32", "uint8"])
def test_integer_einsum_sums_to_int64_where_torch_does(eq, n_ops, dtype):
    """PyTorch sums a letter found in one operand only with sum(), which gives int64."""
    torch = import_torch()
    shapes = [(2, 3), (3,) if eq.startswith("ab,b") else (2, 3)][:n_ops]
    arrays = [np.arange(np.prod(s), dtype=dtype).reshape(s) for s in shapes]
    t = torch.einsum(eq, *[torch.tensor(a) for a in arrays])
    y = yingshe.einsum(eq, *[yingshe.tensor(a) for a in arrays])
    assert str(y.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(y.numpy(), t.numpy())


def test_integer_einsum_that_torch_cannot_contract_is_refused_too():
    torch = import_torch()
    a, b = np.ones((2, 3), np.int8), np.ones(3, np.int8)
    with pytest.raises(RuntimeError):
        torch.einsum("ab,b->", torch.tensor(a), torch.tensor(b))
    with pytest.raises(yingshe.DTypeError, match="summed to int64 first"):
        yingshe.einsum("ab,b->", yingshe.tensor(a), yingshe.tensor(b))


def test_einsum_of_non_finite_operands_warns_nothing_and_matches_torch():
    torch = import_torch()
    a = np.array([[np.inf, 1.0], [np.nan, -np.inf]])
    b = np.array([[0.0, 2.0], [np.inf, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = yingshe.einsum("ab,bc,cd->ad", *(yingshe.tensor(v) for v in (a, b, b))).numpy()
    t = torch.einsum("ab,bc,cd->ad", *(torch.tensor(v) for v in (a, b, b))).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(t))
    np.testing.assert_array_equal(y[~np.isnan(y)], t[~np.isnan(t)])


@pytest.mark.parametrize("call", [lambda m, x, y: m.matmul(x, y),
                                  lambda m, x, y: m.mm(x, y[:, None]),
                                  lambda m, x, y: m.matmul(x[None], y)])
def test_products_of_infinities_and_zeros_are_nan_without_numpy_warnings_like_torch(call):
    """Found by the fuzz suite: inf * 0 inside a product leaked NumPy's RuntimeWarning."""
    torch = import_torch()
    a = np.array([[np.inf, 0.0], [1.0, 2.0]], dtype=np.float32)
    b = np.array([0.0, np.inf], dtype=np.float32)
    out = []
    for m in (yingshe, torch):
        x, y = m.tensor(a, requires_grad=True), m.tensor(b, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            z = call(m, x, y)
            z.sum().backward()
        out.append((z.detach().numpy(), x.grad.numpy(), y.grad.numpy()))
    for got, want in zip(out[0], out[1]):
        np.testing.assert_array_equal(got, want)
