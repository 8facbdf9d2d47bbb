"""``nn.init`` and the layers' default initialisations against PyTorch: exact values
for deterministic inits, bounds and distributions (two-sample KS tests, variances)
for random ones, and reproducibility from the framework generator."""

import math

import numpy as np
import pytest

import yingshe
from yingshe import nn
from yingshe.nn import init
from yingshe.testing.reference import torch as import_torch


def _param(*shape, dtype=np.float32):
    return nn.Parameter(yingshe.tensor(np.zeros(shape, dtype)))


def _ks_same(a, b):
    from scipy import stats
    return stats.ks_2samp(np.ravel(a), np.ravel(b)).pvalue > 1e-4


@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                        ("tanh", None), ("relu", None), ("leaky_relu", None),
                                        ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)),
                                        ("selu", None), ("conv_transpose2d", None)])
def test_calculate_gain_matches_torch(name, param, torch):
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "x")


@pytest.mark.parametrize("shape", [(3, 4), (5, 2, 3), (6, 4, 3, 2)])
def test_fans_match_torch(shape, torch):
    assert (init._calculate_fan_in_and_fan_out(_param(*shape))
            == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape)))
    with pytest.raises(ValueError, match="fewer than 2"):
        init._calculate_fan_in_and_fan_out(_param(3))


def test_deterministic_inits_equal_torch(torch):
    for fn, shape, args in [("constant_", (3, 4), (0.3,)), ("zeros_", (2, 3), ()),
                            ("ones_", (4,), ()), ("eye_", (3, 5), ()), ("dirac_", (4, 2, 3), ()),
                            ("dirac_", (4, 2, 3, 3), ()), ("dirac_", (6, 2, 3, 3), (2,))]:
        y = getattr(init, fn)(_param(*shape), *args)
        t = getattr(torch.nn.init, fn)(torch.empty(shape), *args)
        np.testing.assert_array_equal(y.detach().numpy(), t.numpy(), err_msg=fn)


def _draws(fn, shape, *args, **kw):
    torch = import_torch()
    torch.manual_seed(0)
    y = getattr(init, fn)(_param(*shape), *args, **kw).detach().numpy()
    t = getattr(torch.nn.init, fn)(torch.empty(shape), *args, **kw).numpy()
    return y, t


@pytest.mark.parametrize("fn,shape,args,kw", [
    ("uniform_", (200, 300), (-0.3, 0.7), {}),
    ("normal_", (200, 300), (0.5, 2.0), {}),
    ("xavier_uniform_", (300, 200), (), {"gain": 2.0}),
    ("xavier_normal_", (30, 20, 3, 3), (), {}),
    ("kaiming_uniform_", (300, 200), (), {"a": math.sqrt(5)}),
    ("kaiming_uniform_", (30, 20, 3, 3), (), {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", (300, 200), (), {}),
    ("kaiming_normal_", (300, 200), (), {"a": 0.1, "mode": "fan_out"}),
    ("trunc_normal_", (200, 300), (), {"mean": 0.3, "std": 0.5, "a": -0.2, "b": 1.0}),
    ("trunc_normal_", (200, 300), (), {}),
])
def test_random_inits_follow_torch_distribution(fn, shape, args, kw):
    y, t = _draws(fn, shape, *args, **kw)
    assert y.dtype == np.float32 and y.shape == t.shape
    assert _ks_same(y, t), fn
    # moments within statistical tolerance (n = 60000: the standard errors are < 1 %)
    np.testing.assert_allclose(y.var(), t.var(), rtol=0.03)
    assert abs(y.mean() - t.mean()) < 0.03 * t.std() + 1e-3
    if "uniform" in fn or fn == "trunc_normal_":  # same support
        np.testing.assert_allclose([y.min(), y.max()], [t.min(), t.max()], rtol=0.01, atol=1e-3)


def test_kaiming_uniform_bound_and_leaky_relu_default(torch):
    w = init.kaiming_uniform_(_param(50, 40, 3))
    bound = math.sqrt(3) * torch.nn.init.calculate_gain("leaky_relu", 0) / math.sqrt(120)
    assert np.abs(w.detach().numpy()).max() <= bound
    assert np.abs(w.detach().numpy()).max() > 0.99 * bound
    with pytest.raises(ValueError, match="Mode"):
        init.kaiming_normal_(_param(3, 3), mode="fan_avg")


@pytest.mark.parametrize("shape,gain", [((6, 4), 1.0), ((4, 6), 2.0), ((5, 2, 3), 0.5)])
def test_orthogonal(shape, gain):
    w = init.orthogonal_(_param(*shape, dtype=np.float64), gain=gain).detach().numpy()
    m = w.reshape(shape[0], -1)
    small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(small, gain ** 2 * np.eye(small.shape[0]), atol=1e-12)


def test_inits_draw_from_framework_generator_without_history():
    p = _param(4, 5)
    p.requires_grad_(True)
    yingshe.manual_seed(3)
    a = init.kaiming_uniform_(p).detach().numpy().copy()
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    yingshe.manual_seed(3)
    b = init.kaiming_uniform_(_param(4, 5)).detach().numpy()
    np.testing.assert_array_equal(a, b)
    g1, g2 = yingshe.Generator().manual_seed(7), yingshe.Generator().manual_seed(7)
    np.testing.assert_array_equal(init.normal_(_param(3, 3), generator=g1).detach().numpy(),
                                  init.normal_(_param(3, 3), generator=g2).detach().numpy())
    yingshe.manual_seed(11)
    m1 = nn.Linear(3, 2)
    yingshe.manual_seed(11)
    m2 = nn.Linear(3, 2)
    np.testing.assert_array_equal(m1.weight.detach().numpy(), m2.weight.detach().numpy())


# ---- default initialisation of each layer, against torch's ------------------------------------

LAYERS = [
    ("Linear", (400, 300), {}),
    ("Linear", (30, 500), {}),
    ("Bilinear", (40, 30, 50), {}),
    ("Conv1d", (20, 300, 5), {}),
    ("Conv2d", (16, 64, 5), {}),
    ("Conv2d", (16, 64, 3), {"groups": 4}),
    ("ConvTranspose2d", (64, 32, 4), {}),
    ("Embedding", (300, 200), {}),
]


@pytest.mark.parametrize("name,args,kw", LAYERS, ids=[f"{c[0]}{c[1]}" for c in LAYERS])
def test_default_init_matches_torch_statistically(name, args, kw, torch):
    torch.manual_seed(0)
    ym = getattr(nn, name)(*args, **kw)
    tm = getattr(torch.nn, name)(*args, **kw)
    tparams = dict(tm.named_parameters())
    for pname, p in ym.named_parameters():
        y = p.detach().numpy()
        t = tparams[pname].detach().numpy()
        assert y.shape == t.shape and y.dtype == t.dtype
        if name == "Embedding":
            np.testing.assert_allclose([y.mean(), y.std()], [0.0, 1.0], atol=0.01)
        else:
            # uniform: the theoretical bound (torch's fan-in rule) is reached but not passed
            w = tparams["weight"].detach().numpy()
            fan = w.shape[1] if name == "Bilinear" else w.shape[1] * int(np.prod(w.shape[2:]))
            bound = 1 / math.sqrt(fan)
            assert np.abs(y).max() <= bound * (1 + 1e-6) and np.abs(t).max() <= bound * (1 + 1e-6)
            if y.size > 1000:
                assert np.abs(y).max() > 0.99 * bound
        if y.size > 1000:
            assert _ks_same(y, t), pname
            np.testing.assert_allclose(y.var(), t.var(), rtol=0.05)


@pytest.mark.parametrize("name,args", [("BatchNorm1d", (5,)), ("BatchNorm2d", (5,)),
                                       ("LayerNorm", ((3, 4),)), ("GroupNorm", (2, 6))])
def test_norm_layers_init_exactly_like_torch(name, args, torch):
    ym, tm = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    tsd = tm.state_dict()
    for k, v in ym.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), tsd[k].numpy(), err_msg=k)
        assert v.numpy().dtype == tsd[k].numpy().dtype, k
