"""Parity with PyTorch for the supported names that no other test calls by name (the
aliases and smaller layers): the same inputs through ``yingshe.torch`` and ``torch``,
values and input gradients compared in float64."""

import numpy as np
import pytest

import yingshe.torch as yt
from yingshe.testing.reference import torch as import_torch

R = np.random.default_rng(0)
A = R.standard_normal((3, 4))
B = R.standard_normal((3, 4))
V = R.standard_normal(4)
X3 = R.standard_normal((2, 3, 8))
X4 = R.standard_normal((2, 3, 4, 6))

# name -> (function of (module, *tensors), inputs, differentiable)
CASES = {
    "absolute": (lambda m, a: m.absolute(a), (A,), True),
    "clamp_max": (lambda m, a: m.clamp_max(a, 0.3), (A,), True),
    "fliplr": (lambda m, a: m.fliplr(a), (A,), True),
    "flipud": (lambda m, a: m.flipud(a), (A,), True),
    "ger": (lambda m, a, b: m.ger(a, b), (V, V[::-1].copy()), True),
    "gt": (lambda m, a, b: m.gt(a, b), (A, B), False),
    "ne": (lambda m, a: m.ne(m.round(a), 0.0), (A,), False),
    "neg": (lambda m, a: m.neg(a), (A,), True),
    "swapdims": (lambda m, x: m.swapdims(x, 0, 2), (X3,), True),
    "true_divide": (lambda m, a, b: m.true_divide(a, m.abs(b) + 0.5), (A, B), True),
    "vstack": (lambda m, a, b: m.vstack([a, b]), (A, B), True),
    "broadcast_tensors": (lambda m, a, v: m.broadcast_tensors(a, v)[1] * 2.0, (A, V), True),
    "AdaptiveAvgPool1d": (lambda m, x: m.nn.AdaptiveAvgPool1d(3)(x), (X3,), True),
    "adaptive_avg_pool1d": (lambda m, x: m.nn.functional.adaptive_avg_pool1d(x, 5), (X3,),
                            True),
    "AdaptiveMaxPool2d": (lambda m, x: m.nn.AdaptiveMaxPool2d((2, 3))(x), (X4,), True),
    "AvgPool1d": (lambda m, x: m.nn.AvgPool1d(3, 2, 1)(x), (X3,), True),
    "MaxPool1d": (lambda m, x: m.nn.MaxPool1d(2)(x), (X3,), True),
    "Softmin": (lambda m, a: m.nn.Softmin(dim=1)(a), (A,), True),
    "ReLU6": (lambda m, a: m.nn.ReLU6()(a * 4), (A,), True),
    "relu6": (lambda m, a: m.nn.functional.relu6(a * 4), (A,), True),
    "hardtanh": (lambda m, a: m.nn.functional.hardtanh(a, -0.5, 0.7), (A,), True),
    "LeakyReLU": (lambda m, a: m.nn.LeakyReLU(0.2)(a), (A,), True),
    "Softplus": (lambda m, a: m.nn.Softplus(beta=2.0, threshold=5.0)(a), (A,), True),
    "UpsamplingNearest2d": (lambda m, x: m.nn.UpsamplingNearest2d(scale_factor=2)(x), (X4,),
                            True),
    "UpsamplingBilinear2d": (lambda m, x: m.nn.UpsamplingBilinear2d(size=(5, 7))(x), (X4,),
                             True),
    "Dropout2d-eval": (lambda m, x: m.nn.Dropout2d(0.5).eval()(x), (X4,), True),
    "Dropout1d-eval": (lambda m, x: m.nn.Dropout1d(0.5).eval()(x), (X3,), True),
    "adaptive_max_pool2d-indices": (
        lambda m, x: m.nn.functional.adaptive_max_pool2d(x, (3, 4), return_indices=True)[1],
        (X4,), False),
    "softmin": (lambda m, a: m.nn.functional.softmin(a, 0), (A,), True),
}


@pytest.mark.parametrize("name, spatial", [("dropout1d", 1), ("dropout2d", 2)])
def test_channel_dropout_drops_whole_channels_like_pytorch(name, spatial):
    """Random masks differ between the libraries; the rule must not: every channel of
    every sample is all zero or all x / (1 - p), about p of them are dropped, eval is the
    identity, and the gradient is the same mask."""
    x = np.full((64, 16) + (5,) * spatial, 2.0)
    for m in (yt, import_torch()):
        fn = getattr(m.nn.functional, name)
        t = m.tensor(x, requires_grad=True)
        out = fn(t, p=0.25, training=True)
        out.sum().backward()
        o = out.detach().numpy().reshape(64, 16, -1)
        per_channel = o[..., 0]
        assert np.all(o == per_channel[..., None])            # whole channels
        assert set(np.unique(per_channel)) <= {0.0, 2.0 / 0.75}
        assert abs((per_channel == 0).mean() - 0.25) < 0.06
        np.testing.assert_allclose(t.grad.numpy().reshape(64, 16, -1)[..., 0] * 2.0,
                                   per_channel)
        np.testing.assert_array_equal(fn(m.tensor(x), p=0.25, training=False).numpy(), x)


def _run(m, fn, arrays, diff):
    ts = [m.tensor(a, dtype=m.float64, requires_grad=diff) for a in arrays]
    out = fn(m, *ts)
    grads = None
    if diff:
        w = m.tensor(np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)),
                     dtype=m.float64)
        (out * w).sum().backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in ts]
    return out.detach().numpy(), grads


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorch(name):
    torch = import_torch()
    fn, arrays, diff = CASES[name]
    ours, our_grads = _run(yt, fn, arrays, diff)
    ref, ref_grads = _run(torch, fn, arrays, diff)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    if diff:
        for g, h in zip(our_grads, ref_grads):
            assert (g is None) == (h is None)
            if g is not None:
                np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-12)
