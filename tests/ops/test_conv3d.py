"""3-D convolution and pooling (yingshe/ops/conv3d.py) and their modules, against PyTorch
(same inputs and weights, float64 for gradients). The op table (op_db/conv3d.py) covers
forward vs NumPy, finite differences, second order and graph mode per op; these tests
cover the modules, randomised configurations, ties/NaN rules and argument handling."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import yingshe
import yingshe.nn as nn
import yingshe.nn.functional as F
from yingshe.errors import ShapeError
from yingshe.testing.reference import torch as import_torch

torch = import_torch()
TF = torch.nn.functional


def _y(a, grad=False):
    return yingshe.tensor(np.asarray(a), requires_grad=grad)


def _t(a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def _np(t):
    return t.detach().numpy()


def _copy_params(ys_mod, th_mod):
    with torch.no_grad():
        th_mod.weight.copy_(torch.from_numpy(_np(ys_mod.weight)))
        if ys_mod.bias is not None:
            th_mod.bias.copy_(torch.from_numpy(_np(ys_mod.bias)))


def _check_module(ys_mod, th_mod, x, **call):
    """Forward and all gradients (input and parameters) of two float64 modules."""
    xy, xt = _y(x, True), _t(x, True)
    oy, ot = ys_mod(xy, **call), th_mod(xt, **call)
    np.testing.assert_allclose(_np(oy), _np(ot), rtol=1e-10, atol=1e-10)
    g = np.random.default_rng(1).standard_normal(tuple(ot.shape))
    (oy * _y(g)).sum().backward()
    (ot * _t(g)).sum().backward()
    np.testing.assert_allclose(_np(xy.grad), _np(xt.grad), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(_np(ys_mod.weight.grad), _np(th_mod.weight.grad), rtol=1e-10,
                               atol=1e-10)
    if ys_mod.bias is not None:
        np.testing.assert_allclose(_np(ys_mod.bias.grad), _np(th_mod.bias.grad), rtol=1e-10,
                                   atol=1e-10)


# ---- modules -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,kw,xshape", [
    ((4, 6, 3), dict(stride=2, padding=1), (2, 4, 5, 6, 7)),
    ((4, 6, (2, 3, 1)), dict(padding="same", dilation=(2, 1, 1), groups=2), (1, 4, 4, 5, 3)),
    ((2, 3, 2), dict(bias=False, padding="valid"), (2, 3, 4, 3)),           # unbatched
])
def test_conv3d_module_matches_torch(args, kw, xshape):
    yingshe.manual_seed(0)
    m = nn.Conv3d(*args, dtype=yingshe.float64, **kw)
    t = torch.nn.Conv3d(*args, dtype=torch.float64, **kw)
    _copy_params(m, t)
    assert repr(m) == repr(t)
    _check_module(m, t, np.random.default_rng(0).standard_normal(xshape))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv3d_padding_modes_match_torch(mode):
    yingshe.manual_seed(1)
    kw = dict(padding=(1, 2, 1), padding_mode=mode, stride=(1, 2, 1))
    m = nn.Conv3d(2, 3, 3, dtype=yingshe.float64, **kw)
    t = torch.nn.Conv3d(2, 3, 3, dtype=torch.float64, **kw)
    _copy_params(m, t)
    assert repr(m) == repr(t)
    _check_module(m, t, np.random.default_rng(2).standard_normal((1, 2, 4, 5, 4)))


def test_conv3d_default_init_matches_torch_bounds():
    """PyTorch's default: weight and bias ~ U(-b, b), b = 1/sqrt(C_in/groups * prod(k))."""
    yingshe.manual_seed(0)
    m = nn.Conv3d(8, 16, (3, 2, 2), groups=2)
    bound = 1 / math.sqrt(4 * 3 * 2 * 2)
    w, b = _np(m.weight), _np(m.bias)
    assert m.weight.dtype == yingshe.float32 and w.shape == (16, 4, 3, 2, 2)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # a uniform on (-b, b) has standard deviation b / sqrt(3): 768 draws pin it to ~5%
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)


def test_conv_transpose3d_module_with_output_size_matches_torch():
    yingshe.manual_seed(0)
    kw = dict(stride=(2, 3, 2), padding=1, groups=2, dilation=(1, 1, 2))
    m = nn.ConvTranspose3d(4, 6, (3, 2, 2), dtype=yingshe.float64, **kw)
    t = torch.nn.ConvTranspose3d(4, 6, (3, 2, 2), dtype=torch.float64, **kw)
    _copy_params(m, t)
    assert repr(m) == repr(t)
    x = np.random.default_rng(3).standard_normal((2, 4, 3, 2, 3))
    _check_module(m, t, x, output_size=(6, 5, 6))
    with pytest.raises(ValueError, match="output size"):
        m(_y(x), output_size=(9, 9, 9))


@pytest.mark.parametrize("kw", [dict(kernel_size=2),
                                dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=1,
                                     ceil_mode=True),
                                dict(kernel_size=2, stride=1, dilation=(2, 1, 2))])
def test_max_pool3d_module_matches_torch(kw):
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 5, 7))
    m, t = nn.MaxPool3d(return_indices=True, **kw), torch.nn.MaxPool3d(return_indices=True, **kw)
    assert repr(m) == repr(t)
    xy, xt = _y(x, True), _t(x, True)
    (vy, iy), (vt, it) = m(xy), t(xt)
    np.testing.assert_array_equal(_np(vy), _np(vt))
    np.testing.assert_array_equal(_np(iy), _np(it))
    g = np.random.default_rng(5).standard_normal(tuple(vt.shape))
    (vy * _y(g)).sum().backward()
    (vt * _t(g)).sum().backward()
    np.testing.assert_allclose(_np(xy.grad), _np(xt.grad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(kernel_size=2),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                     count_include_pad=False),
                                dict(kernel_size=(2, 3, 2), padding=(1, 1, 0),
                                     divisor_override=3)])
def test_avg_pool3d_module_matches_torch(kw):
    x = np.random.default_rng(6).standard_normal((2, 2, 5, 7, 4))
    m, t = nn.AvgPool3d(**kw), torch.nn.AvgPool3d(**kw)
    assert repr(m) == repr(t)
    xy, xt = _y(x, True), _t(x, True)
    oy, ot = m(xy), t(xt)
    np.testing.assert_allclose(_np(oy), _np(ot), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(7).standard_normal(tuple(ot.shape))
    (oy * _y(g)).sum().backward()
    (ot * _t(g)).sum().backward()
    np.testing.assert_allclose(_np(xy.grad), _np(xt.grad), rtol=1e-12, atol=1e-12)


# ---- max pooling: ties and NaN -------------------------------------------------------------------

def test_max_pool3d_ties_first_max_wins_and_nan_propagates():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, (2, 2, 5, 4, 6)).astype(np.float64)   # many ties
    x[0, 0, 1, 1, 1] = np.nan
    x[1, 1, 2, 2, 1:3] = np.nan                                   # two NaNs in one window
    kw = dict(kernel_size=(2, 2, 3), stride=(1, 2, 2), padding=(1, 0, 1), ceil_mode=True)
    vy, iy = F.max_pool3d(_y(x), return_indices=True, **kw)
    vt, it = TF.max_pool3d(_t(x), return_indices=True, **kw)
    np.testing.assert_array_equal(_np(vy), _np(vt))                # NaN == NaN here
    np.testing.assert_array_equal(_np(iy), _np(it))
    assert np.isnan(_np(vy)).any()


def test_max_pool3d_float32_and_unbatched():
    x = np.random.default_rng(9).standard_normal((3, 4, 5, 6)).astype(np.float32)
    vy, iy = F.max_pool3d(_y(x), 2, return_indices=True)
    vt, it = TF.max_pool3d(_t(x), 2, return_indices=True)
    assert vy.dtype == yingshe.float32 and iy.dtype == yingshe.int64
    np.testing.assert_array_equal(_np(vy), _np(vt))
    np.testing.assert_array_equal(_np(iy), _np(it))


# ---- randomised configurations -------------------------------------------------------------------

@st.composite
def _conv_config(draw):
    g = draw(st.sampled_from([1, 2]))
    cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    s = tuple(draw(st.integers(1, 2)) for _ in range(3))
    d = tuple(draw(st.integers(1, 2)) for _ in range(3))
    p = tuple(draw(st.integers(0, 1)) for _ in range(3))
    size = tuple(max(draw(st.integers(1, 5)), dd * (kk - 1) + 1 - 2 * pp)
                 for kk, dd, pp in zip(k, d, p))
    n = draw(st.integers(1, 2))
    return dict(groups=g, stride=s, dilation=d, padding=p), (n, cin) + size, \
        (cout, cin // g) + k, draw(st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(_conv_config(), st.integers(0, 2**31 - 1))
def test_conv3d_random_configs_match_torch(cfg, seed):
    kw, xs, ws, transposed = cfg
    rng = np.random.default_rng(seed)
    if transposed:
        ws = (xs[1], ws[0] // kw["groups"]) + ws[2:]
        kw = dict(kw, output_padding=tuple(rng.integers(0, max(s, d))
                                           for s, d in zip(kw["stride"], kw["dilation"])))
        assume(all((n - 1) * s - 2 * p + d * (k - 1) + o + 1 > 0 for n, s, p, d, k, o in
                   zip(xs[2:], kw["stride"], kw["padding"], kw["dilation"], ws[2:],
                       kw["output_padding"])))
        fy, ft = F.conv_transpose3d, TF.conv_transpose3d
        nb = ws[1] * kw["groups"]
    else:
        fy, ft = F.conv3d, TF.conv3d
        nb = ws[0]
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(nb)
    ys = [_y(a, True) for a in (x, w, b)]
    ts = [_t(a, True) for a in (x, w, b)]
    oy, ot = fy(*ys, **kw), ft(*ts, **kw)
    np.testing.assert_allclose(_np(oy), _np(ot), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(tuple(ot.shape))
    gy = yingshe.autograd.grad(oy, ys, _y(g))
    gt = torch.autograd.grad(ot, ts, _t(g))
    for a, c in zip(gy, gt):
        np.testing.assert_allclose(_np(a), _np(c), rtol=1e-10, atol=1e-10)


def test_conv3d_double_backward_matches_torch():
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((2, 4, 4, 5, 3)), rng.standard_normal((4, 2, 2, 3, 2))
    kw = dict(stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1), groups=2)
    ys, ts = [_y(x, True), _y(w, True)], [_t(x, True), _t(w, True)]
    gy = yingshe.autograd.grad(F.conv3d(*ys, **kw).tanh().sum(), ys, create_graph=True)
    gt = torch.autograd.grad(TF.conv3d(*ts, **kw).tanh().sum(), ts, create_graph=True)
    hy = yingshe.autograd.grad(sum((q * q).sum() for q in gy), ys)
    ht = torch.autograd.grad(sum((q * q).sum() for q in gt), ts)
    for a, c in zip(hy, ht):
        np.testing.assert_allclose(_np(a), _np(c), rtol=1e-9, atol=1e-9)


# ---- argument handling ---------------------------------------------------------------------------

@pytest.mark.parametrize("call,exc,match", [
    (lambda m, x, w: m.conv3d(x, w, padding="same", stride=2), ValueError, "same"),
    (lambda m, x, w: m.conv3d(x, w, padding="full"), ValueError, "padding"),
    (lambda m, x, w: m.conv3d(x, w, stride=(1, 2)), ValueError, "stride"),
    (lambda m, x, w: m.conv3d(x[0, 0], w), ShapeError, "conv3d"),
    (lambda m, x, w: m.conv3d(x, w[0]), ShapeError, "weight"),
    (lambda m, x, w: m.conv_transpose3d(x, w.transpose(0, 1), output_padding=1), ValueError,
     "output padding"),
    (lambda m, x, w: m.max_pool3d(x, (2, 2)), ValueError, "kernel_size"),
    (lambda m, x, w: m.avg_pool3d(x, 2, divisor_override=0), ValueError, "divisor"),
])
def test_bad_arguments_raise_like_torch(call, exc, match):
    x = np.random.default_rng(11).standard_normal((1, 2, 4, 4, 4))
    w = np.random.default_rng(12).standard_normal((2, 2, 3, 3, 3))
    with pytest.raises(exc, match=match):
        call(F, _y(x), _y(w))
    with pytest.raises((RuntimeError, ValueError)):
        call(TF, _t(x), _t(w))


def test_graph_mode_conv3d_pool_matches_eager():
    """The ops trace into a compiled function and give the eager values."""
    rng = np.random.default_rng(13)
    x, w = rng.standard_normal((2, 2, 5, 4, 6)), rng.standard_normal((3, 2, 2, 2, 2))

    def f(x, w):
        h = F.conv3d(x, w, padding=1)
        return F.avg_pool3d(F.max_pool3d(h, 2, stride=1), 2, ceil_mode=True)

    want = f(_y(x), _y(w))
    got = yingshe.compile(f)(_y(x), _y(w))
    np.testing.assert_allclose(_np(got), _np(want), rtol=1e-12, atol=1e-12)
    ref = TF.avg_pool3d(TF.max_pool3d(TF.conv3d(_t(x), _t(w), padding=1), 2, stride=1), 2,
                        ceil_mode=True)
    np.testing.assert_allclose(_np(got), _np(ref), rtol=1e-10, atol=1e-10)
