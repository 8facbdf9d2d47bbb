"""cross_entropy's numba kernels (``yingshe.ops._loss_kernels``) against its NumPy code.

The kernels serve (N, C) logits with class-index targets, no class weights, no label
smoothing and a reduced loss; the NumPy code (``set_default_backend("numpy")``) is the
oracle, which tests/nn checks against PyTorch. Drawn: sizes, dtypes, ignored targets,
non-finite logits (a NaN or inf makes its row NaN in both), the reduction and the
upstream gradient; an out-of-range target keeps PyTorch's IndexError.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import yingshe as Y
from yingshe.backend import jit
from yingshe.ops import _loss_kernels
from yingshe.testing.tolerances import tol


def require_numba():
    if not jit.available():
        if jit.required():
            pytest.fail("YINGSHE_REQUIRE_NUMBA=1 but numba cannot be imported")
        pytest.skip("numba is not installed (the jit extra)")


def _loss_and_grad(backend, x, t, g, **kw):
    jit.set_default_backend(backend)
    try:
        xt = Y.tensor(x, requires_grad=True)
        loss = Y.nn.functional.cross_entropy(xt, Y.tensor(t), **kw)
        (loss * g).sum().backward()
        return loss.detach().numpy(), xt.grad.numpy()
    finally:
        jit.set_default_backend(None)


@pytest.fixture
def spy(monkeypatch):
    """Counts the calls of each kernel, so a test knows the kernels served it."""
    require_numba()
    calls = {}
    real = _loss_kernels.kernels

    def counted():
        ks = real()
        if ks is None:
            return None
        def wrap(name):
            def f(*a):
                calls[name] = calls.get(name, 0) + 1
                return ks[name](*a)
            return f
        return {name: wrap(name) for name in ks}

    monkeypatch.setattr(_loss_kernels, "kernels", counted)
    return calls


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 9), c=st.integers(1, 7), dtype=st.sampled_from(["float32", "float64"]),
       reduction=st.sampled_from(["mean", "sum"]), ignored=st.integers(0, 9),
       ignore_index=st.sampled_from([-100, 0, 2]), special=st.sampled_from(
           [None, np.nan, np.inf, -np.inf]), g=st.sampled_from([1.0, -0.5, 3.0]),
       seed=st.integers(0, 2 ** 16))
def test_kernel_matches_numpy_code(n, c, dtype, reduction, ignored, ignore_index, special,
                                   g, seed):
    require_numba()
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    t = rng.integers(0, c, n)
    t[rng.random(n) < ignored / 10] = ignore_index
    t[(t < 0) | (t >= c)] = ignore_index if ignore_index < 0 or ignore_index >= c else 0
    row = rng.integers(n)
    if special is not None:
        x[row, rng.integers(c)] = special
    kw = dict(reduction=reduction, ignore_index=ignore_index)
    with np.errstate(all="ignore"):
        want = _loss_and_grad("numpy", x, t, g, **kw)
        got = _loss_and_grad("numba", x, t, g, **kw)
        if special is not None and t[row] == ignore_index:
            # an ignored row does not count (PyTorch's loss stays finite; the NumPy code
            # multiplies its NaN by 0): the loss of the same targets with finite logits
            # there, the gradient as drawn (NaN on that row in both, as PyTorch)
            x[row] = 0
            want = (_loss_and_grad("numpy", x, t, g, **kw)[0], want[1])
    # two implementations, each rounding its own way (the kernel's log-sum-exp in float64):
    # the tolerance between libraries, the gradient's atol scaled by |g| (g (p - 1) cancels)
    rtol, atol = tol("reference", dtype)
    atol *= max(1.0, abs(g))
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)   # NaN where NaN


def test_kernels_serve_the_common_case_and_only_it(spy):
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    t = np.array([0, 3, 1, 2, 2, 0])
    _loss_and_grad("numba", x, t, 1.0)
    assert spy == {"ce_shift": 1, "ce_finish": 1, "ce_backward": 1}
    spy.clear()
    _loss_and_grad("numba", x, t, 1.0, label_smoothing=0.1)   # NumPy's code
    _loss_and_grad("numba", x, t, 1.0, reduction="none")
    _loss_and_grad("numba", x, t, 1.0, weight=Y.tensor(np.ones(4, np.float32)))
    assert spy == {}
    _loss_and_grad("numpy", x, t, 1.0)
    assert spy == {}


@pytest.mark.parametrize("bad", [4, -1, 7])
def test_out_of_range_target_keeps_the_index_error(spy, bad):
    x = np.zeros((3, 4), np.float32)
    t = Y.tensor(np.array([1, bad, 2]))
    jit.set_default_backend("numba")
    try:
        with pytest.raises(IndexError, match=f"cross_entropy: Target {bad} is out of bounds "
                                             "for 4 classes"):
            Y.nn.functional.cross_entropy(Y.tensor(x), t)
    finally:
        jit.set_default_backend(None)
    assert spy.get("ce_finish") == 1      # the kernel saw it and handed over to NumPy
