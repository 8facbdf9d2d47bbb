"""The convolution, pooling and ReLU-gradient kernels of yingshe/ops/nn.py against PyTorch.

conv2d and its gradients have two column layouts: stride 1 uses "wide" columns (one
contiguous run per kernel position, wrap-around columns dropped or met with zeros) and
falls back to exact windows when the input (weight grad) or the weight (input grad) is not
finite; other strides copy the windows as they are. max_pool2d takes a reshape for
non-overlapping windows and sliding windows otherwise. ReLU's gradient is one fused op
(``threshold_backward``) with PyTorch's NaN rule. Each path is compared with PyTorch in
float64 (forward, first and second order), on shapes drawn by hypothesis.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import yingshe as Y
from yingshe.backend import jit
from yingshe.ops import _pool
from yingshe.ops._registry import apply
from yingshe.ops.elementwise_math import ThresholdBackward, _threshold_backward_numba
from yingshe.testing.reference import torch as import_torch

RTOL, ATOL = 1e-10, 1e-12     # float64 vs PyTorch (docs: tolerances)
F = Y.nn.functional


def _pair(rng, shape):
    return rng.standard_normal(shape), rng.standard_normal(shape)


def _run_conv(m, x, w, b, g, kw):
    """Forward, then the gradients of sum(out * g) w.r.t. x, w and b, then a second-order
    term (the gradient of sum(dx * dw-ish) built with create_graph)."""
    xs = [m.tensor(a, requires_grad=True) if m is not Y else Y.tensor(a, requires_grad=True)
          for a in (x, w, b)]
    out = m.nn.functional.conv2d(xs[0], xs[1], xs[2], **kw)
    gx, gw, gb = (m.autograd.grad((out * m.from_numpy(g)).sum(), xs, create_graph=True))
    second = m.autograd.grad((gx * gx).sum() + (gw * gw).sum(), xs[:2], allow_unused=True)
    second = [np.zeros(a.shape) if s is None else s.detach().numpy()   # empty batch: unused
              for s, a in zip(second, (x, w))]
    return [t.detach().numpy() for t in (out, gx, gw, gb)] + second


@pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")
@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3), g=st.sampled_from([1, 2]), cg=st.integers(1, 3),
       og=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       k=st.sampled_from([(1, 1), (3, 3), (2, 3), (5, 1)]),
       stride=st.sampled_from([1, (1, 1), 2, (2, 1), (1, 3)]),
       padding=st.sampled_from([0, 1, (2, 0), "same"]),
       dilation=st.sampled_from([1, 2, (1, 2)]), seed=st.integers(0, 2**16))
def test_conv2d_paths_match_torch(n, g, cg, og, h, w, k, stride, padding, dilation, seed):
    torch = import_torch()
    st_ = (stride, stride) if isinstance(stride, int) else stride
    if padding == "same" and st_ != (1, 1):
        padding = 1
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=g)
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    p = (0, 0) if padding == "same" else ((padding, padding) if isinstance(padding, int)
                                          else padding)
    if padding != "same" and any(sz + 2 * pp < dd * (kk - 1) + 1
                                 for sz, pp, dd, kk in zip((h, w), p, d, k)):
        return   # kernel larger than the padded input: an error in both
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, g * cg, h, w))
    wt = rng.standard_normal((g * og, cg, *k))
    b = rng.standard_normal(g * og)
    ref_out = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(wt),
                                         torch.from_numpy(b), **kw)
    grad_out = rng.standard_normal(tuple(ref_out.shape))
    ours = _run_conv(Y, x, wt, b, grad_out, kw)
    ref = _run_conv(torch, x, wt, b, grad_out, kw)
    for name, a, r in zip(("out", "gx", "gw", "gb", "ggx", "ggw"), ours, ref):
        assert a.shape == r.shape, name
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), g=st.sampled_from([1, 2]), cg=st.integers(1, 3),
       og=st.integers(1, 2), h=st.integers(1, 6), w=st.integers(1, 6),
       k=st.sampled_from([(1, 1), (3, 3), (2, 4)]), stride=st.sampled_from([1, 2, (1, 2)]),
       padding=st.sampled_from([0, 1]), out_pad=st.sampled_from([0, 1]),
       dilation=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
def test_conv_transpose2d_paths_match_torch(n, g, cg, og, h, w, k, stride, padding, out_pad,
                                            dilation, seed):
    torch = import_torch()
    s = (stride, stride) if isinstance(stride, int) else stride
    op = tuple(out_pad if out_pad < max(si, dilation) else 0 for si in s)
    kw = dict(stride=stride, padding=padding, output_padding=op, groups=g, dilation=dilation)
    outs = [(n_ - 1) * si - 2 * padding + dilation * (kk - 1) + o + 1
            for n_, si, kk, o in zip((h, w), s, k, op)]
    if min(outs) <= 0:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, g * cg, h, w))
    wt = rng.standard_normal((g * cg, og, *k))
    b = rng.standard_normal(g * og)

    def run(m, wrap):
        ts = [wrap(a) for a in (x, wt, b)]
        out = m.nn.functional.conv_transpose2d(*ts, **kw)
        gout = m.from_numpy(np.cos(np.arange(out.numel())).reshape(tuple(out.shape)))
        grads = m.autograd.grad((out * gout).sum(), ts)
        return [t.detach().numpy() for t in (out, *grads)]

    ours = run(Y, lambda a: Y.tensor(a, requires_grad=True))
    ref = run(torch, lambda a: torch.tensor(a, requires_grad=True))
    for name, a, r in zip(("out", "gx", "gw", "gb"), ours, ref):
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("where", ["input", "weight"])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_conv2d_non_finite_values_match_torch(where, value):
    """Wide columns meet wrap-around garbage with zeros (0 * inf = NaN): a non-finite input
    (weight grad) or weight (input grad) must take the exact path."""
    torch = import_torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 6, 7))
    w = rng.standard_normal((3, 2, 3, 3))
    if where == "input":
        x[1, 0, 2, 0] = value        # first and last columns: read by wrap-around columns
        x[0, 1, 4, 6] = value
    else:
        w[1, 0, 0, 2] = value
    g = rng.standard_normal((2, 3, 6, 7))

    def run(m):
        xt, wt = m.tensor(x, requires_grad=True), m.tensor(w, requires_grad=True)
        out = m.nn.functional.conv2d(xt, wt, padding=1)
        gx, gw = m.autograd.grad(out, (xt, wt), grad_outputs=m.from_numpy(g))
        return [t.detach().numpy() for t in (out, gx, gw)]

    with warnings.catch_warnings():   # NumPy's "invalid value in matmul" (0 * inf), as in
        warnings.simplefilter("ignore", RuntimeWarning)   # yingshe's matmul op
        ours = run(Y)
    for name, a, r in zip(("out", "gx", "gw"), ours, run(torch)):
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=name)


def test_compiled_lenet_step_matches_eager():
    """A compiled LeNet-style step (conv, relu, pool twice; backward) equals the eager one,
    loss and gradients (the graph runs the same kernels through infer'd shapes)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 1, 12, 12))
    params = [Y.nn.Parameter(Y.from_numpy(rng.standard_normal((3, 1, 5, 5)))),
              Y.nn.Parameter(Y.from_numpy(rng.standard_normal((4, 3, 3, 3))))]

    def step(xx):
        h = F.max_pool2d(F.relu(F.conv2d(xx, params[0], padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, params[1])), 2)
        loss = (h * h).sum()
        loss.backward()
        return loss

    results = []
    for fn in (step, Y.compile(step)):
        for p in params:
            p.grad = None
        loss = fn(Y.from_numpy(x))
        results.append([loss.detach().numpy()] + [p.grad.numpy().copy() for p in params])
    for e, c in zip(*results):
        np.testing.assert_allclose(c, e, rtol=1e-12, atol=1e-14)


# ---- max pooling ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(2, 9), w=st.integers(2, 9),
       kernel=st.sampled_from([(2, 2), (3, 3), (2, 3), (1, 2)]),
       overlap=st.booleans(), padding=st.sampled_from([0, 1]), ceil_mode=st.booleans(),
       nan=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pool2d_fast_and_window_paths_match_torch(n, c, h, w, kernel, overlap, padding,
                                                      ceil_mode, nan, seed):
    """Values, indices and gradients (ties: first maximum; NaN: the last NaN) on both the
    reshape path (kernel == stride, no padding) and the sliding-window path."""
    torch = import_torch()
    if h < kernel[0] or w < kernel[1] or 2 * padding > min(kernel):
        return
    stride = (1, 1) if overlap else kernel
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (n, c, h, w)).astype(np.float64)   # few values: many ties
    if nan:
        x[rng.random(x.shape) < 0.15] = np.nan
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
              return_indices=True)
    xt = Y.tensor(x, requires_grad=True)
    val, idx = F.max_pool2d(xt, **kw)
    rx = torch.tensor(x, requires_grad=True)
    rv, ri = torch.nn.functional.max_pool2d(rx, **kw)
    np.testing.assert_array_equal(val.detach().numpy(), rv.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), ri.numpy())
    g = rng.standard_normal(tuple(rv.shape))
    (gx,) = Y.autograd.grad((val * Y.from_numpy(g)).sum(), (xt,))
    (rgx,) = torch.autograd.grad((rv * torch.from_numpy(g)).sum(), (rx,))
    np.testing.assert_allclose(gx.numpy(), rgx.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_max_pool_reshape_path_equals_window_path(dtype, monkeypatch):
    """Tiling windows (a reshape of the input) against the strided window views of the
    same geometry (forced), on ties, -0.0, NaN and remainder rows/columns that are in no
    window: values, window positions, and both backward kernels."""
    rng = np.random.default_rng(3)
    x = rng.integers(-1, 2, (3, 2, 9, 7)).astype(dtype)
    if dtype == np.float32:
        x[x == 0] = -0.0
        x[0, 0, 2:4, 2:4] = np.nan
        x[1, 1, 0, 1] = np.nan
    geom = ((2, 2), (2, 2), (0, 0), (1, 1), False)
    g = rng.standard_normal((3, 2, 4, 3)).astype(np.float32)
    h = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        val, arg = _pool.max_pool(x, *geom)
        return (val, arg, _pool.max_pool_backward(g, arg, x.shape, *geom),
                _pool.max_pool_gather(h, arg, *geom))

    fast = run()
    monkeypatch.setattr(_pool, "_tiling", lambda *a: False)
    for a, b in zip(fast, run()):
        np.testing.assert_array_equal(a, b)


# ---- ReLU's gradient -----------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_threshold_backward_special_values_match_torch_bitwise(dtype, backend):
    """Bitwise PyTorch's under both backends: NumPy's bit mask, and numba's one-pass loop
    (contiguous float32/float64; a strided pair takes the mask)."""
    if backend == "numba" and not jit.available():
        if jit.required():
            pytest.fail("numba is required (the jit extra) but cannot be imported")
        pytest.skip("numba is not installed")
    torch = import_torch()
    vals = np.array([1.0, 0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 2.5], dtype=dtype)
    g, out = np.meshgrid(vals, vals)
    bits = f"u{np.dtype(dtype).itemsize}"
    jit.set_default_backend(backend)
    try:
        taken = _threshold_backward_numba(g, out) is not None
        assert taken == (backend == "numba" and dtype != np.float16)
        for gg, oo in ((g, out), (g.T, out.T)):
            ours = apply(ThresholdBackward, Y.from_numpy(gg), Y.from_numpy(oo)).numpy()
            ref = torch.ops.aten.threshold_backward(torch.from_numpy(gg), torch.from_numpy(oo),
                                                    0).numpy()
            np.testing.assert_array_equal(ours.view(bits), ref.view(bits))
    finally:
        jit.set_default_backend(None)


def test_relu_gradients_match_torch_to_second_order():
    torch = import_torch()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 6))
    x[0, :3] = 0.0
    x[1, 1] = np.nan
    g = rng.standard_normal((5, 6))
    h = rng.standard_normal((5, 6))

    def run(m):
        xt = m.tensor(x, requires_grad=True)
        gt = m.tensor(g, requires_grad=True)
        (gx,) = m.autograd.grad((m.relu(xt) * m.relu(xt) * gt).sum(), (xt,),
                                create_graph=True)
        ggx, ggt = m.autograd.grad(gx, (xt, gt), grad_outputs=m.from_numpy(h))
        return [t.detach().numpy() for t in (gx, ggx, ggt)]

    for a, r in zip(run(Y), run(torch)):
        np.testing.assert_allclose(a, r, rtol=RTOL, atol=ATOL, equal_nan=True)
