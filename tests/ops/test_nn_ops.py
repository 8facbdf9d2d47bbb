"""Neural-network ops beyond the op table: PyTorch parity over hypothesis-chosen conv and
pooling geometries, batch-norm running statistics, dropout's statistics and mask/gradient
consistency, second derivatives of convolution, attention masks."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import yingshe
from yingshe.ops import nn as F
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import summation_atol, tol

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _t(torch, a, grad=True):
    return torch.tensor(a, requires_grad=grad)


def _y(a, grad=True):
    return yingshe.tensor(a, requires_grad=grad)


def _grads_match(y_out, t_out, y_in, t_in, dtype, rng, atol_floor=0.0):
    torch = import_torch()
    rtol, atol = tol("reference", dtype)
    atol = max(atol, atol_floor)
    np.testing.assert_allclose(y_out.detach().numpy(), t_out.detach().numpy(), rtol=rtol,
                               atol=atol)
    u = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    yg = yingshe.autograd.grad((y_out * yingshe.tensor(u)).sum(), y_in)
    tg = torch.autograd.grad((t_out * torch.tensor(u)).sum(), t_in)
    for a, b in zip(yg, tg):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=atol * 10)


@st.composite
def conv_geometry(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 8))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 8))
    n = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    dtype = draw(st.sampled_from(["float32", "float64"]))
    return dict(n=n, cin=cin, cout=cout, k=(kh, kw), s=(sh, sw), d=(dh, dw), p=(ph, pw),
                hw=(h, w), groups=groups, bias=bias, dtype=dtype)


@SETTINGS
@given(conv_geometry(), st.integers(0, 2 ** 31 - 1))
def test_conv2d_matches_torch(g, seed):
    torch = import_torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((g["n"], g["cin"], *g["hw"])).astype(g["dtype"])
    w = rng.standard_normal((g["cout"], g["cin"] // g["groups"], *g["k"])).astype(g["dtype"])
    b = rng.standard_normal(g["cout"]).astype(g["dtype"]) if g["bias"] else None
    kw = dict(stride=g["s"], padding=g["p"], dilation=g["d"], groups=g["groups"])
    arrays = [x, w] + ([b] if b is not None else [])
    yi = [_y(a) for a in arrays]
    ti = [_t(torch, a) for a in arrays]
    yo = F.conv2d(yi[0], yi[1], yi[2] if b is not None else None, **kw)
    to = torch.nn.functional.conv2d(ti[0], ti[1], ti[2] if b is not None else None, **kw)
    _grads_match(yo, to, yi, ti, g["dtype"], rng)


@SETTINGS
@given(conv_geometry(), st.integers(0, 2 ** 31 - 1), st.integers(0, 2), st.integers(0, 2))
def test_conv_transpose2d_matches_torch(g, seed, oph, opw):
    torch = import_torch()
    rng = np.random.default_rng(seed)
    # output_padding must be smaller than stride or dilation (PyTorch's rule)
    op = tuple(min(o, max(s, d) - 1) for o, s, d in zip((oph, opw), g["s"], g["d"]))
    p = tuple(min(pp, (d * (k - 1)) // 2) for pp, d, k in zip(g["p"], g["d"], g["k"]))
    x = rng.standard_normal((g["n"], g["cin"], *(max(2, v // 2) for v in g["hw"])))
    x = x.astype(g["dtype"])
    w = rng.standard_normal((g["cin"], g["cout"] // g["groups"], *g["k"])).astype(g["dtype"])
    b = rng.standard_normal(g["cout"]).astype(g["dtype"])
    kw = dict(stride=g["s"], padding=p, output_padding=op, dilation=g["d"],
              groups=g["groups"])
    yi, ti = [_y(a) for a in (x, w, b)], [_t(torch, a) for a in (x, w, b)]
    try:
        to = torch.nn.functional.conv_transpose2d(*ti, **kw)
    except RuntimeError:   # an impossible geometry (output size <= 0)
        with pytest.raises((RuntimeError, ValueError)):
            F.conv_transpose2d(*yi, **kw)
        return
    yo = F.conv_transpose2d(*yi, **kw)
    _grads_match(yo, to, yi, ti, g["dtype"], rng)


@pytest.mark.parametrize("groups,stride,padding,dilation",
                         [(1, 1, 0, 1), (2, 2, 1, 1), (1, (2, 1), (1, 0), 2)])
def test_conv2d_double_backward_matches_torch(groups, stride, padding, dilation):
    """Second order: gradients of a function of the first gradients (create_graph)."""
    torch = import_torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 4 // groups, 3, 2))
    u = rng.standard_normal((2, 4, 6, 5))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    results = []
    for lib, fn, mk in ((yingshe, F.conv2d, _y),
                        (torch, torch.nn.functional.conv2d, lambda a: _t(torch, a))):
        xi, wi = mk(x), mk(w)
        out = fn(xi, wi, **kw)
        gx, gw = lib.autograd.grad((out * out).sum(), [xi, wi], create_graph=True)
        loss = (gx * lib.tensor(u)).sum() + (gw * gw).sum()
        results.append([t.detach().numpy() for t in lib.autograd.grad(loss, [xi, wi])])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.integers(1, 2),
       st.booleans(), st.integers(3, 9), st.integers(3, 9), st.integers(0, 2 ** 31 - 1))
def test_max_pool2d_indices_and_grad_match_torch(k, s, p, d, ceil, h, w, seed):
    torch = import_torch()
    if 2 * p > k or d * (k - 1) + 1 > min(h, w) + 2 * p:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, h, w))
    xi, ti = _y(x), _t(torch, x)
    yv, yidx = F.max_pool2d(xi, k, s, p, d, ceil_mode=ceil, return_indices=True)
    tv, tidx = torch.nn.functional.max_pool2d(ti, k, s, p, d, ceil_mode=ceil,
                                              return_indices=True)
    np.testing.assert_array_equal(yidx.numpy(), tidx.numpy())
    assert yidx.dtype == yingshe.int64
    _grads_match(yv, tv, [xi], [ti], "float64", rng)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.booleans(), st.booleans(),
       st.integers(3, 9), st.integers(3, 9), st.integers(0, 2 ** 31 - 1))
def test_avg_pool2d_matches_torch(k, s, p, ceil, cip, h, w, seed):
    torch = import_torch()
    if 2 * p > k:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2, h, w))
    xi, ti = _y(x), _t(torch, x)
    yo = F.avg_pool2d(xi, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    to = torch.nn.functional.avg_pool2d(ti, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    _grads_match(yo, to, [xi], [ti], "float64", rng)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.booleans(), st.booleans(),
       st.sampled_from([None, 2, -3]), st.integers(1, 3), st.integers(0, 2 ** 31 - 1))
def test_avg_pool_of_int64_truncates_as_torch(k, s, p, ceil, cip, divisor, nd, seed):
    # PyTorch averages int64 in integer arithmetic, rounding toward zero (-7 / 2 is -3);
    # found by the fuzz suite (yingshe refused integer input)
    torch = import_torch()
    if 2 * p > k:
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 50, size=(2, 3) + (5,) * nd)
    ys_f = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: yingshe.nn.functional.avg_pool3d}[nd]
    t_f = getattr(torch.nn.functional, f"avg_pool{nd}d")
    kw = dict(ceil_mode=ceil, count_include_pad=cip)
    if nd > 1:
        kw["divisor_override"] = divisor
    out = ys_f(yingshe.tensor(x), k, s, p, **kw)
    expected = t_f(torch.tensor(x), k, s, p, **kw)
    assert out.dtype == yingshe.int64
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


@pytest.mark.parametrize("dtype", ["int32", "int8", "uint8", "bool"])
def test_avg_pool_of_other_integers_is_refused_as_torch(dtype):
    torch = import_torch()
    x = np.ones((1, 1, 4, 4), dtype=dtype)
    with pytest.raises(NotImplementedError):
        torch.nn.functional.avg_pool2d(torch.tensor(x), 2)
    with pytest.raises(yingshe.DTypeError, match="avg_pool2d: expected a floating-point or "
                                                 "int64 input"):
        F.avg_pool2d(yingshe.tensor(x), 2)


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 12), st.integers(1, 12),
       st.sampled_from(["nearest", "bilinear-false", "bilinear-true", "adaptive"]),
       st.sampled_from(["float32", "float64"]))
def test_resampling_matches_torch(h, w, oh, ow, mode, dtype):
    torch = import_torch()
    rng = np.random.default_rng(h * 100 + w)
    x = rng.standard_normal((2, 2, h, w)).astype(dtype)
    xi, ti = _y(x), _t(torch, x)
    if mode == "adaptive":
        yo = F.adaptive_avg_pool2d(xi, (oh, ow))
        to = torch.nn.functional.adaptive_avg_pool2d(ti, (oh, ow))
    else:
        m = mode.split("-")[0]
        ac = None if m == "nearest" else mode.endswith("true")
        yo = F.interpolate(xi, size=(oh, ow), mode=m, align_corners=ac)
        to = torch.nn.functional.interpolate(ti, size=(oh, ow), mode=m, align_corners=ac)
    # bilinear outputs are 4-tap sums that may cancel: the roundoff bound, not a fixed atol
    floor = summation_atol(dtype, np.abs(x).max(), 4) if mode.startswith("bilinear") else 0.0
    _grads_match(yo, to, [xi], [ti], dtype, rng, floor)


@pytest.mark.parametrize("scale,mode", [(1.5, "nearest"), (0.7, "nearest"), (2.3, "bilinear"),
                                        (0.45, "bilinear"), ((1.25, 3.0), "nearest")])
def test_interpolate_scale_factor_matches_torch(scale, mode):
    torch = import_torch()
    x = np.random.default_rng(1).standard_normal((1, 2, 7, 5)).astype(np.float32)
    for recompute in (None, True):
        yo = F.interpolate(_y(x, False), scale_factor=scale, mode=mode,
                           recompute_scale_factor=recompute)
        to = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=scale, mode=mode,
                                             recompute_scale_factor=recompute)
        np.testing.assert_allclose(yo.numpy(), to.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5, 2), (3, 2, 7)])
def test_batch_norm_running_stats_match_torch(shape):
    torch = import_torch()
    rng = np.random.default_rng(0)
    C = shape[1]
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    ys_rm, ys_rv = yingshe.tensor(np.zeros(C)), yingshe.tensor(np.ones(C))
    t_rm, t_rv = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    for step, momentum in enumerate((0.1, 0.3, 0.1, 0.5)):
        x = rng.standard_normal(shape) * (step + 1) + step
        yo = F.batch_norm(_y(x, False), ys_rm, ys_rv, _y(w, False), _y(b, False),
                          training=True, momentum=momentum)
        to = torch.nn.functional.batch_norm(torch.tensor(x), t_rm, t_rv, torch.tensor(w),
                                            torch.tensor(b), training=True, momentum=momentum)
        np.testing.assert_allclose(yo.numpy(), to.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ys_rm.numpy(), t_rm.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ys_rv.numpy(), t_rv.numpy(), rtol=1e-10, atol=1e-12)
    x = rng.standard_normal(shape)
    yo = F.batch_norm(_y(x, False), ys_rm, ys_rv, _y(w, False), _y(b, False), training=False)
    to = torch.nn.functional.batch_norm(torch.tensor(x), t_rm, t_rv, torch.tensor(w),
                                        torch.tensor(b), training=False)
    np.testing.assert_allclose(yo.numpy(), to.numpy(), rtol=1e-10, atol=1e-12)


def test_batch_norm_running_update_is_outside_autograd_and_bumps_version():
    x = yingshe.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    rm, rv = yingshe.tensor(np.zeros(3)), yingshe.tensor(np.ones(3))
    v0 = rm._vc[0]
    y = F.batch_norm(x, rm, rv, training=True)
    assert not rm.requires_grad and not rv.requires_grad and rm._vc[0] == v0 + 1
    (y * y).sum().backward()
    assert x.grad is not None
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(yingshe.tensor(np.ones((1, 3))), rm, rv, training=True)


def test_instance_norm_running_stats_match_torch():
    torch = import_torch()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 5))
    ys_rm, ys_rv = yingshe.tensor(np.zeros(2)), yingshe.tensor(np.ones(2))
    t_rm, t_rv = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    yo = F.instance_norm(_y(x, False), ys_rm, ys_rv, momentum=0.2)
    to = torch.nn.functional.instance_norm(torch.tensor(x), t_rm, t_rv, momentum=0.2)
    np.testing.assert_allclose(yo.numpy(), to.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ys_rm.numpy(), t_rm.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ys_rv.numpy(), t_rv.numpy(), rtol=1e-10, atol=1e-12)


# ---- dropout ---------------------------------------------------------------------------------

def test_dropout_same_seed_same_mask_and_gradient_is_mask_over_keep():
    p = 0.3
    x_np = np.random.default_rng(0).standard_normal((50, 40))
    outs = []
    for _ in range(2):
        yingshe.random.manual_seed(7)
        x = yingshe.tensor(x_np, requires_grad=True)
        y = F.dropout(x, p)
        y.sum().backward()
        outs.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    y, g = outs[0]
    kept = y != 0
    np.testing.assert_allclose(y[kept], x_np[kept] / (1 - p), rtol=1e-15)
    np.testing.assert_allclose(g, kept / (1 - p), rtol=1e-15)
    yingshe.random.manual_seed(8)
    assert not np.array_equal(F.dropout(yingshe.tensor(x_np), p).numpy(), y)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_statistics(p, dtype):
    yingshe.random.manual_seed(0)
    n = 200_000
    x = yingshe.tensor(np.full(n, 2.0, dtype=dtype))
    y = F.dropout(x, p).numpy()
    assert y.dtype == np.dtype(dtype)
    keep = (y != 0).mean()
    # binomial standard deviation of the kept fraction: sqrt(p(1-p)/n) ~ 1e-3; allow 5 sigma
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(keep - (1 - p)) < 5 * sigma
    assert abs(y.mean() - 2.0) < 5 * 2.0 / (1 - p) * sigma
    np.testing.assert_allclose(np.unique(y), [0.0, dtype == "float32" and np.float32(2.0)
                                              * np.float32(1 / (1 - p)) or 2.0 / (1 - p)],
                               rtol=1e-6)


def test_dropout_edge_cases():
    x = yingshe.tensor(np.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)
    np.testing.assert_array_equal(F.dropout(x, 0.0).detach().numpy(), x.detach().numpy())
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.detach().numpy(), 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)
    assert F.dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)
    z = yingshe.tensor(np.ones((100,)))
    out = F.dropout(z, 0.5, inplace=True)
    assert out is z and set(np.unique(z.numpy())) <= {0.0, 2.0}


def test_dropout_torch_same_distribution_shape_and_dtype():
    torch = import_torch()
    x = np.ones((3, 4), dtype=np.float32)
    assert F.dropout(_y(x), 0.2).dtype == yingshe.float32
    assert torch.nn.functional.dropout(torch.tensor(x), 0.2).dtype == torch.float32


# ---- embedding, attention, gelu --------------------------------------------------------------

def test_embedding_repeated_indices_accumulate_and_padding_row_is_zero():
    torch = import_torch()
    w = np.random.default_rng(0).standard_normal((5, 3))
    idx = np.array([[1, 1, 4], [1, 0, 4]])
    yw, tw = _y(w), _t(torch, w)
    F.embedding(yingshe.tensor(idx), yw, padding_idx=0).sum().backward()
    torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=0).sum().backward()
    np.testing.assert_array_equal(yw.grad.numpy(), tw.grad.numpy())
    np.testing.assert_array_equal(yw.grad.numpy()[:, 0], [0, 3, 0, 0, 2])
    with pytest.raises(NotImplementedError, match="max_norm"):
        F.embedding(yingshe.tensor(idx), yw, max_norm=1.0)


def test_attention_fully_masked_row_matches_torch():
    torch = import_torch()
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 2)))
    mask = rng.random((3, 5)) > 0.5
    mask[1] = False
    yi, ti = [_y(a) for a in (q, k, v)], [_t(torch, a) for a in (q, k, v)]
    yo = F.scaled_dot_product_attention(*yi, attn_mask=yingshe.tensor(mask))
    to = torch.nn.functional.scaled_dot_product_attention(*ti, attn_mask=torch.tensor(mask))
    _grads_match(yo, to, yi, ti, "float64", rng)


def test_attention_scale_and_dropout():
    torch = import_torch()
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    yo = F.scaled_dot_product_attention(_y(q), _y(k), _y(v), scale=0.3)
    to = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)),
                                                          scale=0.3)
    np.testing.assert_allclose(yo.detach().numpy(), to.numpy(), rtol=1e-10, atol=1e-12)
    # dropout on the attention weights: same seed -> same output
    outs = []
    for _ in range(2):
        yingshe.random.manual_seed(3)
        outs.append(F.scaled_dot_product_attention(_y(q, False), _y(k, False), _y(v, False),
                                                   dropout_p=0.5).numpy())
    np.testing.assert_array_equal(outs[0], outs[1])


def test_gelu_is_double_precision_accurate():
    import math
    x = np.linspace(-8, 8, 2001)
    want = np.array([0.5 * t * (1 + math.erf(t / math.sqrt(2))) for t in x])
    np.testing.assert_allclose(F.gelu(yingshe.tensor(x)).numpy(), want, rtol=1e-13,
                               atol=1e-300)


def test_functional_names_are_exported():
    for name in F.FUNCTIONAL:
        assert callable(getattr(F, name)), name
    assert set(F.__all__) <= set(F.FUNCTIONAL)


def test_bilinear_float32_cancelling_output_found_by_hypothesis():
    """An output whose taps cancel (-1.3e-3 from inputs near 1) differs from PyTorch's by
    1.06e-6: beyond the fixed float32 atol (1e-6), within the roundoff bound of a 4-tap
    sum that both libraries meet (``summation_atol``); and both are that close to the
    exact (float64) interpolation of the same float32 inputs."""
    torch = import_torch()
    x = np.random.default_rng(709).standard_normal((2, 2, 7, 9)).astype("float32")
    yo = F.interpolate(_y(x, False), size=(6, 7), mode="bilinear", align_corners=False)
    to = torch.nn.functional.interpolate(torch.tensor(x), size=(6, 7), mode="bilinear",
                                         align_corners=False)
    exact = torch.nn.functional.interpolate(torch.tensor(x.astype("float64")), size=(6, 7),
                                            mode="bilinear", align_corners=False).numpy()
    rtol, atol = tol("reference", "float32")
    bound = summation_atol("float32", np.abs(x).max(), 4)
    assert np.abs(yo.numpy() - to.numpy()).max() > atol    # the case is the cancelling one
    np.testing.assert_allclose(yo.numpy(), to.numpy(), rtol=rtol, atol=bound)
    for got in (yo.numpy(), to.numpy()):
        np.testing.assert_allclose(got, exact, rtol=rtol, atol=bound / 2)


@pytest.mark.parametrize("call", [
    lambda F, x: F.adaptive_avg_pool2d(x, (3, None)),
    lambda F, x: F.adaptive_avg_pool2d(x, (2, 4)),
    lambda F, x: F.adaptive_avg_pool1d(x[0], 4),
    lambda F, x: F.interpolate(x, scale_factor=2, mode="nearest"),
    lambda F, x: F.interpolate(x, size=(7, 9), mode="bilinear"),
    lambda F, x: F.interpolate(x, size=(3, 8), mode="bilinear", align_corners=True),
    lambda F, x: F.interpolate(x[0], scale_factor=1.5, mode="linear"),
], ids=["adaptive2d-none", "adaptive2d", "adaptive1d", "nearest", "bilinear",
        "bilinear-align", "linear"])
def test_a_non_finite_pixel_stays_in_the_outputs_that_read_it_like_torch(call):
    """Found by the fuzz suite: adaptive average pooling and interpolation were matmuls with
    dense constant matrices, whose zeros multiply every input: one NaN or inf pixel made
    whole output rows NaN. Values, NaN and inf positions and the gradient against torch."""
    torch = import_torch()
    a = np.random.default_rng(3).standard_normal((1, 2, 5, 6))
    a[0, 0, 1, 2], a[0, 1, 4, 5], a[0, 1, 0, 0] = np.nan, np.inf, -np.inf
    res = []
    for m in (yingshe, torch):
        x = m.tensor(a, requires_grad=True)
        y = call(m.nn.functional, x)
        y.backward(m.ones_like(y))
        res.append((y.detach().numpy(), x.grad.numpy()))
    (y, gy), (t, gt) = res
    np.testing.assert_allclose(y, t, rtol=1e-12, atol=1e-12)     # NaN and inf where torch's
    np.testing.assert_allclose(gy, gt, rtol=1e-12, atol=1e-12)
