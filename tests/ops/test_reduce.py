"""Reductions, scans and sorts: hypothesis sweeps vs NumPy, PyTorch's tie and edge-case
conventions, numerical stability. The per-op generic checks (finite differences, second
order, PyTorch parity on fixed cases) live in the op table (yingshe/testing/op_db/reduce.py).
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import yingshe
from yingshe.ops import REGISTRY
from yingshe.ops._shapes import Meta
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = tol("reference", np.float64)


@pytest.fixture(autouse=True)
def _no_numpy_warnings():
    """Every op here must silence its own expected inf/nan arithmetic."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


@st.composite
def array_and_dim(draw, min_side=1, max_dims=4):
    """A float64 array (0-d .. 4-d, sides 1..4) without ties and a valid dim (maybe negative)."""
    ndim = draw(st.integers(0, max_dims))
    shape = tuple(draw(st.lists(st.integers(min_side, 4), min_size=ndim, max_size=ndim)))
    seed = draw(st.integers(0, 2**31 - 1))
    a = np.random.default_rng(seed).standard_normal(shape)
    n = max(ndim, 1)
    dim = draw(st.integers(-n, n - 1))
    if draw(st.booleans()) and ndim >= 2:
        a = np.asfortranarray(a)  # a non-C-contiguous layout
    return a, dim


@st.composite
def array_and_dims(draw):
    """An array and a tuple of distinct dims (possibly negative, possibly empty => all)."""
    a, _ = draw(array_and_dim())
    ndim = a.ndim
    if ndim == 0:
        return a, None
    dims = draw(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim))
    dims = tuple(d - ndim if draw(st.booleans()) else d for d in dims)
    return a, dims


def _axis(a, dim):
    return dim % a.ndim if a.ndim else None


def _close(got, want, rtol=RTOL, atol=ATOL):
    got = got.detach().numpy() if isinstance(got, yingshe.Tensor) else np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def _pos(d, ndim):
    return tuple(x % ndim for x in d) if d is not None else None


# ---- hypothesis sweeps against NumPy ---------------------------------------------------------

@SETTINGS
@given(array_and_dims(), st.booleans())
def test_dim_tuple_reductions_match_numpy(ad, keepdim):
    a, dims = ad
    x = yingshe.tensor(a)
    ax = _pos(dims, a.ndim) if a.ndim else None
    m = np.max(a, axis=ax, keepdims=True) if a.size else None
    lse = np.log(np.exp(a - m).sum(axis=ax, keepdims=True)) + m
    if not keepdim:
        lse = lse.reshape(np.sum(a, axis=ax).shape)
    cases = {
        "sum": (x.sum(dims, keepdim), np.sum(a, axis=ax, keepdims=keepdim)),
        "mean": (x.mean(dims, keepdim), np.mean(a, axis=ax, keepdims=keepdim)),
        "amax": (x.amax(dims if dims else (), keepdim), np.max(a, axis=ax, keepdims=keepdim)),
        "amin": (x.amin(dims if dims else (), keepdim), np.min(a, axis=ax, keepdims=keepdim)),
        "logsumexp": (x.logsumexp(dims, keepdim), lse),
        "norm2": (x.norm(2, dims, keepdim), np.sqrt((a * a).sum(axis=ax, keepdims=keepdim))),
        "norm1": (x.norm(1, dims, keepdim), np.abs(a).sum(axis=ax, keepdims=keepdim)),
        "norm3": (x.norm(3, dims, keepdim),
                  (np.abs(a) ** 3).sum(axis=ax, keepdims=keepdim) ** (1 / 3)),
        "norminf": (x.norm(math.inf, dims, keepdim), np.abs(a).max(axis=ax, keepdims=keepdim)),
        "all": (yingshe.tensor(a > 0).all(dims, keepdim),
                np.all(a > 0, axis=ax, keepdims=keepdim)),
        "count_nonzero": (yingshe.tensor(a > 0).count_nonzero(dims),
                          np.count_nonzero(a > 0, axis=ax)),
    }
    cases["any"] = (yingshe.tensor(a > 0).any(dims, keepdim),
                    np.any(a > 0, axis=ax, keepdims=keepdim))
    n = np.prod([a.shape[d] for d in (ax if ax is not None else range(a.ndim))], dtype=int)
    for c in (0, 1):
        if n - c > 0:
            cases[f"var{c}"] = (x.var(dims, keepdim=keepdim, correction=c),
                                np.var(a, axis=ax, ddof=c, keepdims=keepdim))
            cases[f"std{c}"] = (x.std(dims, keepdim=keepdim, correction=c),
                                np.std(a, axis=ax, ddof=c, keepdims=keepdim))
    for name, (got, want) in cases.items():
        try:
            _close(got, want)
        except AssertionError as err:
            raise AssertionError(f"{name} over {dims} keepdim={keepdim}: {err}") from None


@SETTINGS
@given(array_and_dim(), st.booleans())
def test_single_dim_ops_match_numpy(ad, keepdim):
    a, dim = ad
    x = yingshe.tensor(a)
    axis = _axis(a, dim)
    flat = a.reshape(1) if a.ndim == 0 else a
    ax = 0 if a.ndim == 0 else axis

    def shaped(r):
        r = np.asarray(r)
        return r.reshape(()) if a.ndim == 0 else r

    def kd(r):
        return r if keepdim or a.ndim == 0 else np.squeeze(r, ax)

    for name, (vals, idx), fn in (("max", x.max(dim, keepdim), np.argmax),
                                  ("min", x.min(dim, keepdim), np.argmin)):
        i = fn(flat, axis=ax, keepdims=True)
        _close(vals, shaped(kd(np.take_along_axis(flat, i, ax))))
        _close(idx, shaped(kd(i)))
        assert idx.dtype is yingshe.int64, name
    _close(x.argmax(dim, keepdim), shaped(kd(np.argmax(flat, axis=ax, keepdims=True))))
    _close(x.argmin(dim, keepdim), shaped(kd(np.argmin(flat, axis=ax, keepdims=True))))
    _close(x.argmax(), np.argmax(a))
    _close(x.prod(dim, keepdim), shaped(np.prod(flat, axis=ax, keepdims=keepdim or a.ndim == 0)))
    _close(x.cumsum(dim), shaped(np.cumsum(flat, axis=ax)))
    _close(x.cumprod(dim), shaped(np.cumprod(flat, axis=ax)))
    for desc in (False, True):
        vals, idx = x.sort(dim, desc)
        order = np.argsort(-flat if desc else flat, axis=ax, kind="stable")
        _close(idx, shaped(order))
        _close(vals, shaped(np.take_along_axis(flat, order, ax)))
    k = flat.shape[ax] // 2 + 1
    for largest in (True, False):
        vals, idx = x.topk(k, dim, largest)
        order = np.argsort(-flat if largest else flat, axis=ax, kind="stable")
        order = np.take(order, range(k), axis=ax)
        _close(idx, shaped(order))
        _close(vals, shaped(np.take_along_axis(flat, order, ax)))
    vals, idx = x.median(dim, keepdim)
    n = flat.shape[ax]
    order = np.argsort(flat, axis=ax, kind="stable")
    mi = np.take(order, [(n - 1) // 2], axis=ax)
    _close(idx, shaped(kd(mi)))
    _close(vals, shaped(kd(np.take_along_axis(flat, mi, ax))))


@SETTINGS
@given(array_and_dim(), st.booleans())
def test_gradients_of_selecting_ops_scatter_to_the_selected_positions(ad, keepdim):
    """max(dim)/sort/topk/median(dim): d/dx <u, values> is u placed at the indices."""
    a, dim = ad
    for name, fn in (("max", lambda x: x.max(dim, keepdim)),
                     ("min", lambda x: x.min(dim, keepdim)),
                     ("sort", lambda x: x.sort(dim, descending=True)),
                     ("topk", lambda x: x.topk(1, dim)),
                     ("median", lambda x: x.median(dim, keepdim))):
        x = yingshe.tensor(a, requires_grad=True)
        vals, idx = fn(x)
        u = np.random.default_rng(0).standard_normal(vals.shape)
        (vals * yingshe.tensor(u)).sum().backward()
        want = np.zeros_like(a)
        if a.ndim == 0:
            want = np.asarray(u, dtype=float).reshape(())
        else:
            axis = dim % a.ndim
            ii, uu = idx.numpy(), u
            if ii.ndim < a.ndim:
                ii, uu = np.expand_dims(ii, axis), np.expand_dims(uu, axis)
            np.put_along_axis(want, ii, uu, axis)
        _close(x.grad, want)


# ---- ties: PyTorch's gradient conventions ----------------------------------------------------

TIES = np.array([[1.0, 3.0, 3.0, 0.0],
                 [2.0, 2.0, 2.0, 2.0],
                 [-1.0, 5.0, 4.0, 5.0]])


def _grads_vs_torch(fn, a, seed=0):
    torch = import_torch()
    x = yingshe.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    out, tout = fn(yingshe, x), fn(torch, tx)
    outs = out if isinstance(out, tuple) else (out,)
    touts = tout if isinstance(tout, tuple) else (tout,)
    for o, t in zip(outs, touts):
        _close(o, t.detach().numpy())
    u = np.random.default_rng(seed).standard_normal(tuple(touts[0].shape))
    (outs[0] * yingshe.tensor(u)).sum().backward()
    (touts[0] * torch.tensor(u)).sum().backward()
    _close(x.grad, tx.grad.numpy())
    return x.grad.numpy()


@pytest.mark.parametrize("name,fn", [
    ("max()", lambda m, x: x.max()),
    ("min()", lambda m, x: m.min(x)),
    ("amax-dim", lambda m, x: x.amax(1)),
    ("amax-dims-keepdim", lambda m, x: m.amax(x, (0, 1), keepdim=True)),
    ("amin-dim0", lambda m, x: x.amin(0)),
    ("max-dim", lambda m, x: x.max(1)),
    ("min-dim-keepdim", lambda m, x: x.min(0, keepdim=True)),
    ("norm-inf", lambda m, x: x.norm(float("inf"), 1)),
    ("norm-inf-full", lambda m, x: m.norm(x, float("inf"))),
])
def test_tie_gradients_match_torch(name, fn):
    _grads_vs_torch(fn, TIES)


def test_full_max_shares_gradient_evenly_and_max_dim_picks_first_index():
    x = yingshe.tensor(TIES, requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (TIES == 5.0) / 2.0)
    x = yingshe.tensor(TIES, requires_grad=True)
    vals, idx = x.max(1)
    np.testing.assert_array_equal(idx.numpy(), [1, 0, 1])      # first maximal index
    vals.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().sum(1), [1.0, 1.0, 1.0])


def test_stable_sort_with_ties_matches_torch():
    torch = import_torch()
    a = np.random.default_rng(3).integers(0, 3, (4, 9)).astype(np.float64)
    a[0, 2] = np.nan
    for desc in (False, True):
        for dim in (0, 1):
            v, i = yingshe.tensor(a).sort(dim, desc, stable=True)
            tv, ti = torch.sort(torch.tensor(a), dim=dim, descending=desc, stable=True)
            np.testing.assert_array_equal(i.numpy(), ti.numpy())
            np.testing.assert_array_equal(v.numpy(), tv.numpy())  # NaN sorts as largest
            np.testing.assert_array_equal(
                yingshe.tensor(a).argsort(dim, desc, stable=True).numpy(),
                torch.argsort(torch.tensor(a), dim=dim, descending=desc, stable=True).numpy())


def test_median_lower_median_with_ties_and_nan_matches_torch():
    torch = import_torch()
    a = np.array([[3.0, 1.0, 2.0, 2.0], [4.0, 1.0, 1.0, 0.0], [1.0, np.nan, 0.0, 2.0]])
    _close(yingshe.tensor(a[:2]).median(), torch.tensor(a[:2]).median().numpy())
    v, _ = yingshe.tensor(a).median(1)
    tv, _ = torch.tensor(a).median(1)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    assert np.isnan(yingshe.tensor(a).median().item())


def test_argmax_nan_and_ties_match_torch():
    torch = import_torch()
    a = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 2.0, 1.0, 2.0]])
    for dim in (None, 1):
        np.testing.assert_array_equal(yingshe.tensor(a).argmax(dim).numpy(),
                                      torch.tensor(a).argmax(dim).numpy())
        np.testing.assert_array_equal(yingshe.tensor(a).argmin(dim).numpy(),
                                      torch.tensor(a).argmin(dim).numpy())
    np.testing.assert_array_equal(yingshe.tensor(a).amax(1).numpy(),
                                  torch.tensor(a).amax(1).numpy())


# ---- prod with zeros -------------------------------------------------------------------------

@pytest.mark.parametrize("zeros", [[], [4], [1, 4], [0, 1, 5]])
@pytest.mark.parametrize("dim", [None, 1])
def test_prod_gradient_and_second_order_with_zeros_match_torch(zeros, dim):
    torch = import_torch()
    a = np.random.default_rng(1).uniform(0.5, 2.0, (2, 3))
    a.reshape(-1)[zeros] = 0.0
    x = yingshe.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y = x.prod() if dim is None else x.prod(dim)
    ty = tx.prod() if dim is None else tx.prod(dim)
    _close(y, ty.detach().numpy())
    (g,) = yingshe.autograd.grad(y.sum(), [x], create_graph=True)
    (tg,) = torch.autograd.grad(ty.sum(), [tx], create_graph=True)
    _close(g, tg.detach().numpy())
    w = np.random.default_rng(2).standard_normal(a.shape)
    (h,) = yingshe.autograd.grad((g * yingshe.tensor(w)).sum(), [x])
    (th,) = torch.autograd.grad((tg * torch.tensor(w)).sum(), [tx])
    _close(h, th.numpy())


def test_cumprod_gradient_with_zeros_matches_torch():
    a = np.array([[2.0, 0.0, 3.0, 0.0, 1.5], [0.0, 1.0, -2.0, 0.5, 3.0]])
    _grads_vs_torch(lambda m, x: x.cumprod(1), a)
    _grads_vs_torch(lambda m, x: x.cumprod(0), a)


# ---- logsumexp stability ---------------------------------------------------------------------

def test_logsumexp_is_shift_stable_for_large_magnitudes():
    torch = import_torch()
    a = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1000.5]])
    for dt in ("float32", "float64"):
        x = yingshe.tensor(a.astype(dt), requires_grad=True)
        tx = torch.tensor(a.astype(dt), requires_grad=True)
        y, ty = x.logsumexp(1), tx.logsumexp(1)
        assert np.isfinite(y.detach().numpy()).all()
        rtol, atol = tol("reference", dt)
        _close(y, ty.detach().numpy(), rtol, atol)
        y.sum().backward()
        ty.sum().backward()
        _close(x.grad, tx.grad.numpy(), rtol, atol)
        # float32 ulp(1000) ~ 6e-5 limits the shifted weights (as in PyTorch)
        np.testing.assert_allclose(x.grad.numpy().sum(1), 1.0, rtol=1e-4 if dt == "float32"
                                   else 1e-12)


def test_logsumexp_infinities_match_torch():
    torch = import_torch()
    inf = np.inf
    a = np.array([[-inf, -inf, -inf], [-inf, 0.0, -inf], [inf, 1.0, -inf], [np.nan, 1.0, 2.0]])
    y = yingshe.tensor(a).logsumexp(1)
    np.testing.assert_array_equal(y.numpy(), torch.tensor(a).logsumexp(1).numpy())
    assert y.numpy()[0] == -inf
    np.testing.assert_array_equal(yingshe.tensor(np.full((2, 0), 1.0)).logsumexp(1).numpy(),
                                  [-inf, -inf])
    # the gradient where one entry is finite among -inf is exact (one-hot)
    x = yingshe.tensor(a[1:2], requires_grad=True)
    x.logsumexp(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 0.0]])


def test_logsumexp_of_integers_uses_default_float():
    torch = import_torch()
    a = np.arange(6).reshape(2, 3)
    y, ty = yingshe.tensor(a).logsumexp(1), torch.tensor(a).logsumexp(1)
    assert str(y.dtype).split(".")[-1] == str(ty.dtype).split(".")[-1]
    _close(y, ty.numpy(), *tol("reference", np.float32))


# ---- norm ------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [2, "fro", 1, 3.0, float("inf")])
@pytest.mark.parametrize("dim", [None, 1])
def test_norm_gradient_at_zero_matches_torch(p, dim):
    a = np.zeros((2, 3))
    a[1] = [0.5, -1.0, 2.0]
    g = _grads_vs_torch(lambda m, x: x.norm(p, dim), a)
    assert np.isfinite(g).all()


def test_norm_second_order_at_generic_point_matches_torch():
    torch = import_torch()
    a = np.random.default_rng(5).standard_normal((3, 4))
    for p in (2, 3.0, 1.5):
        x = yingshe.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        (g,) = yingshe.autograd.grad(x.norm(p, 1).sum(), [x], create_graph=True)
        (tg,) = torch.autograd.grad(tx.norm(p, 1).sum(), [tx], create_graph=True)
        w = np.random.default_rng(6).standard_normal(a.shape)
        (h,) = yingshe.autograd.grad((g * yingshe.tensor(w)).sum(), [x])
        (th,) = torch.autograd.grad((tg * torch.tensor(w)).sum(), [tx])
        _close(h, th.numpy(), 1e-9, 1e-11)


def test_norm_rejects_nuclear():
    with pytest.raises(NotImplementedError, match="nuc"):
        yingshe.tensor(np.eye(2)).norm("nuc")


# ---- API shape: named tuples, overloads, dtypes ----------------------------------------------

def test_named_tuples_behave_like_torch_return_types():
    torch = import_torch()
    a = np.random.default_rng(0).standard_normal((3, 4))
    for call in (lambda m, x: x.max(1), lambda m, x: m.min(x, 0), lambda m, x: x.sort(),
                 lambda m, x: x.topk(2), lambda m, x: x.median(1)):
        r, tr = call(yingshe, yingshe.tensor(a)), call(torch, torch.tensor(a))
        assert type(r).__name__ == type(tr).__name__
        assert isinstance(r, tuple) and len(r) == 2 and r._fields == ("values", "indices")
        values, indices = r
        assert values is r.values and indices is r[1]
        _close(r.values, tr.values.numpy())
        np.testing.assert_array_equal(r.indices.numpy(), tr.indices.numpy())
        assert f"{type(r).__name__}(" in repr(r)


def test_binary_max_min_delegate_to_maximum_minimum():
    torch = import_torch()
    a, b = np.random.default_rng(0).standard_normal((2, 3, 4))
    _close(yingshe.max(yingshe.tensor(a), yingshe.tensor(b)),
           torch.max(torch.tensor(a), torch.tensor(b)).numpy())
    _close(yingshe.tensor(a).min(yingshe.tensor(b)), np.minimum(a, b))


def test_var_legacy_unbiased_and_correction():
    torch = import_torch()
    a = np.random.default_rng(0).standard_normal((3, 5))
    x, tx = yingshe.tensor(a), torch.tensor(a)
    calls = [lambda x: x.var(), lambda x: x.var(False), lambda x: x.var(1, False),
             lambda x: x.var(1, True, True), lambda x: x.std(0, correction=2),
             lambda x: x.var(1, unbiased=False), lambda x: x.std(True)]
    for call in calls:
        _close(call(x), call(tx).numpy())
    v, mu = yingshe.var_mean(x, 1, keepdim=True)
    tv, tmu = torch.var_mean(tx, 1, keepdim=True)
    _close(v, tv.numpy())
    _close(mu, tmu.numpy())
    s, mu = yingshe.std_mean(x, correction=0)
    ts, tmu = torch.std_mean(tx, correction=0)
    _close(s, ts.numpy())
    _close(mu, tmu.numpy())
    with pytest.raises(TypeError):
        x.var(0, unbiased=True, correction=1)


@pytest.mark.filterwarnings("ignore:var:UserWarning")  # PyTorch warns on dof <= 0
def test_var_with_correction_at_least_n_gives_inf_or_nan_like_torch():
    torch = import_torch()
    a = np.random.default_rng(0).standard_normal((2, 1))
    np.testing.assert_array_equal(yingshe.tensor(a).var(1).numpy(),
                                  torch.tensor(a).var(1).numpy())
    np.testing.assert_array_equal(yingshe.tensor(a).var(0, correction=3).numpy(),
                                  torch.tensor(a).var(0, correction=3).numpy())


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64"])
def test_result_dtypes_of_integer_and_bool_inputs_match_torch(dtype):
    torch = import_torch()
    a = np.array([[1, 0, 2], [3, 1, 1]]).astype(dtype)
    for call in (lambda x: x.prod(), lambda x: x.prod(1), lambda x: x.cumsum(0),
                 lambda x: x.cumprod(1), lambda x: x.all(), lambda x: x.any(1),
                 lambda x: x.count_nonzero(), lambda x: x.amax(1),
                 lambda x: x.max(0).values, lambda x: x.sort(1).values) + (
                     () if dtype == "bool" else (lambda x: x.argmax(),)):
        y, t = call(yingshe.tensor(a)), call(torch.tensor(a))
        assert str(y.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_array_equal(y.numpy(), t.numpy())


# ---- shape rules with unknown dimensions -----------------------------------------------------

def test_infer_rules_accept_unknown_dims():
    f32 = yingshe.float32
    m = Meta((None, 3, None), f32)
    assert REGISTRY["amax"].infer(m, dim=(1,), keepdim=False) == Meta((None, None), f32)
    assert REGISTRY["var"].infer(m, dim=(0, 2), correction=1, keepdim=True).shape == (1, 3, 1)
    vals, idx = REGISTRY["max_dim"].infer(m, dim=2, keepdim=True)
    assert vals.shape == idx.shape == (None, 3, 1) and idx.dtype is yingshe.int64
    vals, idx = REGISTRY["topk"].infer(m, k=2, dim=2, largest=True, sorted=True)
    assert vals.shape == (None, 3, 2)
    assert REGISTRY["sort"].infer(m, dim=0, descending=False)[0].shape == (None, 3, None)
    assert REGISTRY["argmax"].infer(m, dim=None, keepdim=True).shape == (1, 1, 1)
    assert REGISTRY["logsumexp"].infer(m, dim=(0,), keepdim=False).shape == (3, None)
    assert REGISTRY["vector_norm"].infer(m, ord=2.0, dim=(0, 1, 2), keepdim=False).shape == ()
    assert REGISTRY["cumsum"].infer(m, dim=0, dtype=f32, reverse=False).shape == m.shape
    assert REGISTRY["median"].infer(m, dim=1, keepdim=False)[1].shape == (None, None)
    with pytest.raises(yingshe.ShapeError, match="k out of range"):
        REGISTRY["topk"].infer(m, k=4, dim=1, largest=True, sorted=True)


# ---- found by the fuzz suite (tests/fuzz) ---------------------------------------------------

@pytest.mark.parametrize("call", [lambda m, x: x.std(), lambda m, x: x.std(0, correction=0),
                                  lambda m, x: m.std_mean(x, 1)[0]])
def test_std_gradient_is_zero_where_there_is_no_deviation_like_torch(call):
    """d std / dx = (x - mean) / (std (n - c)) is 0/0 where all values are equal; PyTorch
    gives 0 there."""
    torch = import_torch()
    a = np.array([[2.0, 2.0], [2.0, 2.0], [2.0, 1.0]])
    grads = []
    for m in (yingshe, torch):
        x = m.tensor(a.copy(), requires_grad=True)
        out = call(m, x)
        grads.append(m.autograd.grad(out, x, m.ones_like(out))[0].numpy())
    assert not np.isnan(grads[0]).any()
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


@pytest.mark.parametrize("name", ["sum", "mean", "nansum"])
def test_sum_and_mean_of_opposite_infinities_are_nan_without_numpy_warnings_like_torch(name):
    """inf + -inf is NaN, silently, as in PyTorch (NumPy's RuntimeWarning leaked)."""
    torch = import_torch()
    a = np.array([[np.inf, -np.inf], [1.0, 3e308]])
    for dim in (None, 0, 1):
        args = () if dim is None else (dim,)
        want = getattr(torch.tensor(a), name)(*args).numpy()
        got = getattr(yingshe.tensor(a), name)(*args).numpy()   # the fixture makes warnings fail
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("values,correction", [([1.0], 2), ([1.0, 2.0], 3), ([1.0, 2.0, 4.0], 4),
                                               ([1.0, 2.0], 2), ([1.0], 1)])
def test_var_gradient_over_a_dim_with_correction_at_least_n_like_torch(values, correction):
    """Found by the fuzz suite: PyTorch's gradient over a dim is 2 (x - mean) / (n - c) with
    the degrees of freedom as they are (-0 for one value and correction 2); ours divided by
    max(n - c, 0), giving NaN and infinities. (Over all dims PyTorch gives inf instead:
    its two paths disagree; the dim one is the derivative of the formula.)"""
    torch = import_torch()
    grads = []
    for m in (yingshe, torch):
        x = m.tensor([values], dtype=m.float64, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # PyTorch's degrees-of-freedom note
            m.var(x, dim=1, correction=correction).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(np.signbit(grads[0]), np.signbit(grads[1]))


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("dim", [None, 1], ids=["all-dims", "dim"])
@pytest.mark.parametrize("values,correction", [([1.0], 2), ([1.0], 1), ([1.0, 2.0], 2),
                                               ([1.0, 2.0], 3), ([1.0, 2.0, 4.0], 4),
                                               ([2.0, 2.0], 3), ([1.0, 2.0, 4.0], 1)])
def test_var_and_std_gradients_at_no_degrees_of_freedom_follow_torch_on_both_paths(
        name, dim, values, correction):
    """Found by the fuzz suite (float32 silu then var(correction=2) of one value): PyTorch's
    var gradient with no dim given and n <= correction is g * (NaN where x is the mean, else
    inf), not the over-a-dim formula; std's is var's gradient of g / (2 std), so over a dim
    with n < correction (std inf) it is a signed 0, not NaN. NaN positions and signs of the
    non-NaN values must agree."""
    torch = import_torch()
    grads = []
    for m in (yingshe, torch):
        x = m.tensor([values], dtype=m.float64, requires_grad=True)
        kw = {"correction": correction} if dim is None else {"dim": dim, "correction": correction}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # PyTorch's degrees-of-freedom note
            getattr(m, name)(x, **kw).sum().backward()
        grads.append(x.grad.numpy())
    got, want = grads
    np.testing.assert_array_equal(got, want)     # NaN positions and values
    finite = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[finite]), np.signbit(want[finite]))


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_and_std_past_the_float32_range_are_inf_without_numpy_warnings_like_torch(name):
    """Squared deviations past float32's range are inf, as in PyTorch; NumPy's "overflow
    encountered in multiply" leaked (RuntimeWarnings fail the suite)."""
    torch = import_torch()
    a = np.array([[1e30, -1e30, 3e30], [1.0, 2.0, 4.0]], dtype=np.float32)
    for dim in (None, 0, 1):
        args = () if dim is None else (dim,)
        want = getattr(torch.tensor(a), name)(*args).numpy()
        got = getattr(yingshe.tensor(a), name)(*args).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)
