"""The activations composed of registered ops (``F.selu``, ``celu``, ``mish``,
``softsign``, ``hardswish``, ``hardsigmoid``, ``logsigmoid``, ``tanhshrink``,
``threshold``) and their modules, against PyTorch: values and gradients in float64
(points kept away from the kinks), second-order gradients, extreme inputs, float32,
in-place forms, module defaults, and ``yingshe.torch`` exposing them."""

import numpy as np
import pytest

import yingshe
import yingshe.nn as nn
import yingshe.nn.functional as F
from yingshe.testing.tolerances import tol

# (functional name, keyword arguments, module name, module arguments, kinks)
CASES = [
    ("selu", {}, "SELU", {}, (0.0,)),
    ("celu", {}, "CELU", {}, (0.0,)),
    ("celu", {"alpha": 0.37}, "CELU", {"alpha": 0.37}, (0.0,)),
    ("celu", {"alpha": 2.5}, "CELU", {"alpha": 2.5}, (0.0,)),
    ("mish", {}, "Mish", {}, ()),
    ("softsign", {}, "Softsign", {}, (0.0,)),
    ("hardswish", {}, "Hardswish", {}, (-3.0, 3.0)),
    ("hardsigmoid", {}, "Hardsigmoid", {}, (-3.0, 3.0)),
    ("logsigmoid", {}, "LogSigmoid", {}, ()),
    ("tanhshrink", {}, "Tanhshrink", {}, ()),
    ("threshold", {"threshold": 0.4, "value": -1.5}, "Threshold",
     {"threshold": 0.4, "value": -1.5}, (0.4,)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]
# PyTorch's float64 backward of hardsigmoid multiplies by a float32 1/6, and celu's by
# alpha * (1 / alpha) rounded through float32 (relative errors ~3e-8 and ~1e-7; the exact
# gradients are checked against closed forms below); selu's VJP (elu's: out + alpha) is
# exact to ~1e-16 absolute where exp(x) underflows that.
GRAD_TOL = {"hardsigmoid": dict(rtol=1e-7, atol=1e-9), "celu": dict(rtol=1e-6, atol=1e-15),
            "selu": dict(rtol=1e-11, atol=1e-15)}


def _points(kinks, n=200, seed=0):
    """Points spread over [-8, 8] and beyond, none within 1e-3 of a kink."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-8, 8, n), rng.standard_normal(50) * 30,
                        [k + s for k in kinks for s in (-0.01, 0.01)]])
    for k in kinks:
        near = np.abs(x - k) < 1e-3
        x[near] = k + 1e-2
    return x.reshape(-1, 1) if x.size % 5 else x.reshape(-1, 5)


@pytest.mark.parametrize("name,kw,mod,mkw,kinks", CASES, ids=IDS)
def test_values_and_gradients_match_torch(name, kw, mod, mkw, kinks, torch):
    x = _points(kinks)
    yx, tx = yingshe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, to = getattr(F, name)(yx, **kw), getattr(torch.nn.functional, name)(tx, **kw)
    assert yo.dtype == yingshe.float64 and tuple(yo.shape) == tuple(to.shape)
    np.testing.assert_allclose(yo.detach().numpy(), to.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = np.random.default_rng(1).standard_normal(x.shape)
    yo.backward(yingshe.tensor(g)), to.backward(torch.tensor(g))
    np.testing.assert_allclose(yx.grad.numpy(), tx.grad.numpy(),
                               **GRAD_TOL.get(name, dict(rtol=1e-11, atol=1e-14)))


@pytest.mark.parametrize("name,kw,mod,mkw,kinks", CASES, ids=IDS)
def test_modules_match_torch_and_functional(name, kw, mod, mkw, kinks, torch):
    x = _points(kinks, n=40, seed=2)
    ym, tm = getattr(nn, mod)(**mkw), getattr(torch.nn, mod)(**mkw)
    assert repr(ym) == repr(tm)
    yx, tx = yingshe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, to = ym(yx), tm(tx)
    np.testing.assert_allclose(yo.detach().numpy(), to.detach().numpy(), rtol=1e-12, atol=1e-14)
    yo.sum().backward(), to.sum().backward()
    np.testing.assert_allclose(yx.grad.numpy(), tx.grad.numpy(),
                               **GRAD_TOL.get(name, dict(rtol=1e-11, atol=1e-14)))
    # and the module is the functional
    np.testing.assert_array_equal(yo.detach().numpy(),
                                  getattr(F, name)(yingshe.tensor(x), **kw).numpy())


SMOOTH = [("selu", {}), ("celu", {"alpha": 0.5}), ("mish", {}), ("softsign", {}),
          ("logsigmoid", {}), ("tanhshrink", {}), ("hardswish", {})]


@pytest.mark.parametrize("name,kw", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_second_order_gradients_match_torch(name, kw, torch):
    x = _points((-3.0, 0.0, 3.0), n=30, seed=3)
    yx, tx = yingshe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (yg,) = yingshe.autograd.grad(getattr(F, name)(yx, **kw).sum(), yx, create_graph=True)
    (tg,) = torch.autograd.grad(getattr(torch.nn.functional, name)(tx, **kw).sum(), tx,
                                create_graph=True)
    (yh,) = yingshe.autograd.grad((yg * yg).sum(), yx)
    (th,) = torch.autograd.grad((tg * tg).sum(), tx)
    np.testing.assert_allclose(yh.numpy(), th.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["selu", "celu", "mish", "softsign", "hardswish",
                                  "hardsigmoid", "logsigmoid", "tanhshrink"])
def test_extreme_inputs_stay_finite_like_torch(name, torch):
    x = np.array([-1e4, -800.0, -50.0, -20.5, 20.5, 50.0, 800.0, 1e4])
    for dt in (np.float64, np.float32):
        xx = x.astype(dt)
        yx, tx = yingshe.tensor(xx, requires_grad=True), torch.tensor(xx, requires_grad=True)
        yo, to = getattr(F, name)(yx), getattr(torch.nn.functional, name)(tx)
        assert str(yo.dtype).split(".")[-1] == str(to.dtype).split(".")[-1]
        rtol = 1e-12 if dt == np.float64 else 1e-6
        np.testing.assert_allclose(yo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=0)
        yo.sum().backward(), to.sum().backward()
        assert np.isfinite(yx.grad.numpy()).all()
        tol = GRAD_TOL.get(name, {}) if dt == np.float64 else {}
        np.testing.assert_allclose(yx.grad.numpy(), tx.grad.numpy(),
                                   rtol=max(rtol, tol.get("rtol", 0)),
                                   atol=tol.get("atol", 1e-30) if dt == np.float64 else 1e-7)


@pytest.mark.parametrize("name,kw,mod,mkw,kinks", CASES, ids=IDS)
def test_float32_matches_torch(name, kw, mod, mkw, kinks, torch):
    x = _points(kinks, n=100, seed=4).astype(np.float32)
    yo = getattr(F, name)(yingshe.tensor(x), **kw)
    to = getattr(torch.nn.functional, name)(torch.tensor(x), **kw)
    assert yo.dtype == yingshe.float32
    np.testing.assert_allclose(yo.numpy(), to.numpy(), rtol=1e-6, atol=1e-7)


INPLACE = [("selu", {}), ("celu", {"alpha": 0.5}), ("mish", {}), ("hardswish", {}),
           ("hardsigmoid", {}), ("threshold", {"threshold": 0.1, "value": 2.0})]


@pytest.mark.parametrize("name,kw", INPLACE, ids=[s[0] for s in INPLACE])
def test_inplace_forms(name, kw, torch):
    x = _points((-3.0, 0.0, 0.1, 3.0), n=20, seed=5)
    y, t = yingshe.tensor(x), torch.tensor(x)
    out = getattr(F, name)(y, inplace=True, **kw)
    getattr(torch.nn.functional, name)(t, inplace=True, **kw)
    assert out is y
    np.testing.assert_allclose(y.numpy(), t.numpy(), rtol=1e-12, atol=1e-14)
    # through autograd, on a non-leaf, as PyTorch
    yx, tx = yingshe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yh, th = yx * 1.5, tx * 1.5
    getattr(F, name)(yh, inplace=True, **kw), getattr(torch.nn.functional, name)(th, inplace=True, **kw)
    (yh * yh).sum().backward(), (th * th).sum().backward()
    np.testing.assert_allclose(yx.grad.numpy(), tx.grad.numpy(), rtol=1e-7, atol=1e-9)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(F, name)(yingshe.tensor(x, requires_grad=True), inplace=True, **kw)
    # the module's inplace flag
    m = getattr(nn, dict((c[0], c[2]) for c in CASES)[name])(
        **({"inplace": True} if name != "threshold" else dict(kw, inplace=True)),
        **({"alpha": kw["alpha"]} if "alpha" in kw else {}))
    y = yingshe.tensor(x)
    assert m(y) is y


def test_gradients_match_closed_forms():
    x = _points((-3.0, 0.0, 3.0), n=100, seed=6).ravel()
    cases = {
        ("celu", 0.37): np.where(x > 0, 1.0, np.exp(x / 0.37)),
        ("hardsigmoid", None): np.where((x > -3) & (x < 3), 1 / 6, 0.0),
        ("hardswish", None): np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0)),
        ("logsigmoid", None): 1 / (1 + np.exp(x)),
        ("softsign", None): 1 / (1 + np.abs(x)) ** 2,
    }
    for (name, alpha), expected in cases.items():
        yx = yingshe.tensor(x, requires_grad=True)
        out = getattr(F, name)(yx, alpha) if alpha is not None else getattr(F, name)(yx)
        out.sum().backward()
        np.testing.assert_allclose(yx.grad.numpy(), expected, rtol=1e-12, atol=1e-15,
                                   err_msg=name)


def test_celu_alpha_zero_raises_like_torch(torch):
    with pytest.raises(RuntimeError):
        torch.nn.functional.celu(torch.ones(2), alpha=0.0)
    with pytest.raises(RuntimeError, match="celu"):
        F.celu(yingshe.ones(2), alpha=0.0)


def test_selu_constants_are_pytorchs(torch):
    x = np.array([-1.0, 1.0])
    np.testing.assert_array_equal(F.selu(yingshe.tensor(x)).numpy(),
                                  torch.nn.functional.selu(torch.tensor(x)).numpy())


def test_yingshe_torch_exposes_them():
    import yingshe.torch as ytorch
    for name in ("selu", "celu", "mish", "softsign", "hardswish", "hardsigmoid",
                 "logsigmoid", "tanhshrink", "threshold"):
        assert getattr(ytorch.nn.functional, name) is getattr(F, name)
        assert name in ytorch.nn.functional.__all__ and name in F.__all__
    for mod in ("SELU", "CELU", "Mish", "Softsign", "Hardswish", "Hardsigmoid", "LogSigmoid",
                "Tanhshrink", "Threshold"):
        assert getattr(ytorch.nn, mod) is getattr(nn, mod)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["hardswish", "hardsigmoid"])
def test_gradients_at_the_kinks_match_torch(name, dtype, torch):
    """Found by the fuzz suite: at exactly -3 and 3 PyTorch takes the outer piece's gradient
    (hardswish: 0 and 1); ours took the inner one (-1/2 and 3/2) from clamp's ends."""
    a = np.array([-4.0, -3.0, -2.5, 0.0, 2.5, 3.0, 4.0], dtype=dtype)
    grads = []
    for m, fn in ((yingshe, getattr(F, name)), (torch, getattr(torch.nn.functional, name))):
        x = m.tensor(a.copy(), requires_grad=True)
        fn(x).sum().backward()
        grads.append(x.grad.numpy())
    rtol, atol = tol("reference", np.dtype(dtype))
    loose = GRAD_TOL.get(name, {}) if dtype == "float64" else {}   # (hardsigmoid's 1/6)
    np.testing.assert_allclose(grads[0], grads[1], **{"rtol": rtol, "atol": atol, **loose})
