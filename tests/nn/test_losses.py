"""Loss functionals and modules against PyTorch: every function and reduction (values
and gradients), saturation and huge logits, argument errors and warnings."""

import builtins
import warnings

import numpy as np
import pytest

import yingshe
import yingshe.nn as nn
import yingshe.nn.functional as F
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

REDUCTIONS = ["none", "mean", "sum"]


def _softmax(x, axis):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def _make(name, rng, dtype):
    """(arrays, differentiable indices, kwargs) for one loss."""
    x = rng.standard_normal((4, 5))
    t = rng.standard_normal((4, 5))
    w5 = rng.uniform(0.5, 2.0, 5)
    if name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        return [x, t], (0, 1), {}
    if name == "binary_cross_entropy":
        return [rng.uniform(0.05, 0.95, (4, 5)), rng.uniform(0, 1, (4, 5)), w5], (0, 1), {}
    if name == "binary_cross_entropy_with_logits":
        return [x, rng.uniform(0, 1, (4, 5)), w5], (0, 1), \
            {"pos_weight": rng.uniform(0.5, 3, 5)}
    if name in ("cross_entropy", "nll_loss"):
        target = np.array([0, 4, -100, 2])
        return [x, target, w5], (0,), {}
    if name == "kl_div":
        return [x, _softmax(t, 1)], (0, 1), {}
    raise AssertionError(name)


LOSSES = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
          "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "kl_div"]


def _run(torch, name, arrays, diff, kwargs, reduction, dtype, extra=None):
    rng = np.random.default_rng(3)
    extra = extra or {}

    def conv(mod, a, i):
        if not isinstance(a, np.ndarray):
            return a
        if a.dtype.kind == "f":
            a = a.astype(dtype)
        if mod is torch:
            return torch.tensor(a, requires_grad=i in diff)
        return yingshe.tensor(a, requires_grad=i in diff)

    ys_in = [conv(yingshe, a, i) for i, a in enumerate(arrays)]
    t_in = [conv(torch, a, i) for i, a in enumerate(arrays)]
    ys_kw = {k: conv(yingshe, np.asarray(v), -1) if isinstance(v, np.ndarray) else v
             for k, v in {**kwargs, **extra}.items()}
    t_kw = {k: conv(torch, np.asarray(v), -1) if isinstance(v, np.ndarray) else v
            for k, v in {**kwargs, **extra}.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = getattr(F, name)(*ys_in, reduction=reduction, **ys_kw)
        t = getattr(torch.nn.functional, name)(*t_in, reduction=reduction, **t_kw)
    rtol, atol = tol("reference", dtype)
    assert str(y.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
    u = rng.standard_normal(tuple(t.shape)).astype(dtype)
    gy = yingshe.autograd.grad((y * yingshe.tensor(u)).sum(), [ys_in[i] for i in diff])
    gt = torch.autograd.grad((t * torch.tensor(u)).sum(), [t_in[i] for i in diff])
    for i, a, b in zip(diff, gy, gt):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=atol * 10,
                                   err_msg=f"{name}: gradient of input {i}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_functional_matches_torch(name, reduction, dtype):
    torch = import_torch()
    arrays, diff, kwargs = _make(name, np.random.default_rng(0), dtype)
    _run(torch, name, arrays, diff, kwargs, reduction, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,extra", [
    ("smooth_l1_loss", {"beta": 0.0}), ("smooth_l1_loss", {"beta": 0.3}),
    ("huber_loss", {"delta": 0.4}), ("cross_entropy", {"label_smoothing": 0.15}),
    ("cross_entropy", {"ignore_index": 4}), ("nll_loss", {"ignore_index": 0}),
    ("kl_div", {"log_target": True}),
])
def test_options_match_torch(name, extra, reduction):
    torch = import_torch()
    arrays, diff, kwargs = _make(name, np.random.default_rng(1), np.float64)
    if name == "kl_div" and extra.get("log_target"):
        arrays[1] = np.log(arrays[1])
    if "ignore_index" in extra:
        arrays[1] = np.where(arrays[1] == -100, extra["ignore_index"], arrays[1])
    _run(torch, name, arrays, diff, kwargs, reduction, np.float64, extra)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_elementwise_weight_matches_torch(name, reduction):
    torch = import_torch()
    rng = np.random.default_rng(2)
    x, t, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.uniform(0, 2, (3, 4))
    _run(torch, name, [x, t], (0, 1), {"weight": w}, reduction, np.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div_batchmean_and_mean_warning(reduction):
    torch = import_torch()
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((3, 4)), _softmax(rng.standard_normal((3, 4)), 1)
    _run(torch, "kl_div", [x, t], (0, 1), {}, reduction, np.float64)
    if reduction == "mean":
        with pytest.warns(UserWarning, match="batchmean"):
            F.kl_div(yingshe.tensor(x), yingshe.tensor(t))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 4, 5), (3,)])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_nd_and_probability_targets(shape, smoothing, reduction):
    torch = import_torch()
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    cdim = 0 if len(shape) == 1 else 1
    c = shape[cdim]
    target = rng.integers(0, c, shape[:cdim] + shape[cdim + 1:])
    w = rng.uniform(0.5, 2, c)
    _run(torch, "cross_entropy", [x, target, w], (0,), {"label_smoothing": smoothing},
         reduction, np.float64)
    probs = _softmax(rng.standard_normal(shape), cdim)
    _run(torch, "cross_entropy", [x, probs, w], (0, 1), {"label_smoothing": smoothing},
         reduction, np.float64)


def test_cross_entropy_all_ignored_is_nan_with_zero_gradient():
    torch = import_torch()
    x = np.random.default_rng(6).standard_normal((2, 3))
    y = yingshe.tensor(x, requires_grad=True)
    loss = F.cross_entropy(y, yingshe.tensor([-100, -100]))
    t = torch.tensor(x, requires_grad=True)
    t_loss = torch.nn.functional.cross_entropy(t, torch.tensor([-100, -100]))
    assert np.isnan(loss.item()) and np.isnan(t_loss.item())
    loss.backward()
    t_loss.backward()
    np.testing.assert_array_equal(y.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_stay_finite(dtype):
    torch = import_torch()
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((4, 5)) * 1000).astype(dtype)
    target = np.array([0, 1, 2, 3])
    rtol, atol = tol("reference", dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow/invalid warnings either
        for fn, args in [("cross_entropy", (x, target)),
                         ("binary_cross_entropy_with_logits", (x, (x > 0).astype(dtype)))]:
            y = yingshe.tensor(args[0], requires_grad=True)
            loss = getattr(F, fn)(y, yingshe.tensor(args[1]))
            loss.backward()
            t = torch.tensor(args[0], requires_grad=True)
            t_loss = getattr(torch.nn.functional, fn)(t, torch.tensor(args[1]))
            t_loss.backward()
            assert np.isfinite(loss.item()) and np.isfinite(y.grad.numpy()).all()
            np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=rtol, atol=atol)
            np.testing.assert_allclose(y.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)
        for fn in ("softmax", "log_softmax"):
            out = getattr(yingshe, fn)(yingshe.tensor(x), 1).numpy()
            np.testing.assert_allclose(out, getattr(torch, fn)(torch.tensor(x), 1).numpy(),
                                       rtol=rtol, atol=atol)
            assert np.isfinite(out).all()


def test_bce_saturated_sigmoid_gradient_is_large_finite_and_torch_equal():
    torch = import_torch()
    p = np.array([0.0, 1.0, 1e-30, 1 - 1e-16, 0.5])
    tgt = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    y = yingshe.tensor(p, requires_grad=True)
    loss = F.binary_cross_entropy(y, yingshe.tensor(tgt), reduction="sum")
    loss.backward()
    t = torch.tensor(p, requires_grad=True)
    t_loss = torch.nn.functional.binary_cross_entropy(t, torch.tensor(tgt), reduction="sum")
    t_loss.backward()
    assert np.isfinite(y.grad.numpy()).all()
    assert np.abs(y.grad.numpy()[:2]).min() > 1e11
    np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), t.grad.numpy(), rtol=1e-10)


def test_softmax_implicit_dim_warns_and_picks_torchs_dim():
    torch = import_torch()
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        x = np.random.default_rng(8).standard_normal(shape)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            got = F.softmax(yingshe.tensor(x)).numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = torch.nn.functional.softmax(torch.tensor(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_broadcasting_target_warns_like_torch(name):
    torch = import_torch()
    x, t = np.ones((3, 4)), np.zeros((4,))
    with pytest.warns(UserWarning, match="target size"):
        y = getattr(F, name)(yingshe.tensor(x), yingshe.tensor(t))
    with pytest.warns(UserWarning, match="target size"):
        tt = getattr(torch.nn.functional, name)(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(y.item(), tt.item())


@pytest.mark.parametrize("call,exc,torch_exc,match", [
    (lambda m, F_: F_.cross_entropy(m.tensor([[0.1, 0.2, 0.3]]), m.tensor([3])),
     IndexError, builtins.IndexError, "Target 3 is out of bounds for 3 classes"),
    (lambda m, F_: F_.nll_loss(m.tensor([[0.1, 0.2, 0.3]]), m.tensor([-1])),
     IndexError, builtins.IndexError, "Target -1"),
    (lambda m, F_: F_.binary_cross_entropy(m.tensor([0.5, 0.5]), m.tensor([1.0])),
     ValueError, ValueError, "different to the input size"),
    (lambda m, F_: F_.binary_cross_entropy_with_logits(m.tensor([0.5, 0.5]), m.tensor([1.0])),
     ValueError, ValueError, "must be the same as input size"),
    (lambda m, F_: F_.mse_loss(m.tensor([0.5]), m.tensor([1.0]), reduction="avg"),
     ValueError, ValueError, "avg is not a valid value for reduction"),
    (lambda m, F_: F_.huber_loss(m.tensor([0.5]), m.tensor([1.0]), delta=0.0),
     ValueError, RuntimeError, "non-positive values for delta"),
    (lambda m, F_: F_.smooth_l1_loss(m.tensor([0.5]), m.tensor([1.0]), beta=-1.0),
     ValueError, RuntimeError, "negative values for beta"),
])
def test_errors_match_torch_classes(call, exc, torch_exc, match):
    torch = import_torch()
    with pytest.raises(exc, match=match) as info:
        call(yingshe, F)
    assert "test_losses.py" in str(info.value) or exc is ValueError
    with pytest.raises(torch_exc):
        call(torch, torch.nn.functional)


MODULES = [
    ("MSELoss", {}, "mse_loss"), ("L1Loss", {"reduction": "sum"}, "l1_loss"),
    ("SmoothL1Loss", {"beta": 0.5}, "smooth_l1_loss"), ("HuberLoss", {"delta": 0.5}, "huber_loss"),
    ("BCELoss", {"weight": True}, "binary_cross_entropy"),
    ("BCEWithLogitsLoss", {"weight": True, "pos_weight": True},
     "binary_cross_entropy_with_logits"),
    ("CrossEntropyLoss", {"weight": True, "label_smoothing": 0.1, "ignore_index": 4},
     "cross_entropy"),
    ("NLLLoss", {"weight": True, "reduction": "none"}, "nll_loss"),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": False}, "kl_div"),
]


@pytest.mark.parametrize("cls,kwargs,fn", MODULES, ids=[m[0] for m in MODULES])
def test_modules_match_torch_and_keep_weights_as_buffers(cls, kwargs, fn):
    torch = import_torch()
    rng = np.random.default_rng(9)
    arrays, diff, _ = _make(fn, rng, np.float64)
    if "ignore_index" in kwargs:
        arrays[1] = np.where(arrays[1] == -100, kwargs["ignore_index"], arrays[1])
    ys_kw, t_kw = {}, {}
    for k, v in kwargs.items():
        if v is True:
            a = rng.uniform(0.5, 2, 5)
            ys_kw[k], t_kw[k] = yingshe.tensor(a), torch.tensor(a)
        else:
            ys_kw[k] = t_kw[k] = v
    ym = getattr(nn, cls)(**ys_kw)
    tm = getattr(torch.nn, cls)(**t_kw)
    assert list(ym.state_dict().keys()) == list(tm.state_dict().keys())
    ins = [yingshe.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays[:2])]
    t_ins = [torch.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays[:2])]
    y, t = ym(*ins), tm(*t_ins)
    np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = yingshe.autograd.grad(y.sum(), [ins[i] for i in diff])
    tg = torch.autograd.grad(t.sum(), [t_ins[i] for i in diff])
    for a, b in zip(g, tg):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", ["MSELoss", "CrossEntropyLoss", "KLDivLoss", "BCELoss"])
def test_legacy_arguments_raise_naming_them(cls):
    with pytest.raises(NotImplementedError, match="size_average"):
        getattr(nn, cls)(size_average=True)
    with pytest.raises(NotImplementedError, match="reduce"):
        getattr(nn, cls)(reduce=False)


def test_weight_buffer_follows_dtype_conversion():
    m = nn.CrossEntropyLoss(weight=yingshe.tensor([1.0, 2.0, 3.0]))
    m.double()
    assert m.weight.dtype is yingshe.float64
    x = yingshe.tensor(np.random.default_rng(0).standard_normal((2, 3)))
    assert m(x, yingshe.tensor([0, 2])).dtype is yingshe.float64


# ---- found by the fuzz suite (tests/fuzz) ---------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [False, True])
def test_label_smoothing_with_every_target_ignored_like_torch(reduction, weight):
    """'mean' over no counted targets is NaN (0/0) with a zero gradient, as without
    smoothing; 'sum' and 'none' are 0."""
    torch = import_torch()
    x = np.random.default_rng(0).standard_normal((3, 4))
    w = np.array([1.0, 2.0, 0.5, 1.0])
    res = []
    for m in (yingshe, torch):
        xt = m.tensor(x.copy(), requires_grad=True)
        kw = {"weight": m.tensor(w)} if weight else {}
        out = m.nn.functional.cross_entropy(xt, m.tensor([-100, -100, -100]),
                                            reduction=reduction, label_smoothing=0.2, **kw)
        res.append((out.detach().numpy(), m.autograd.grad(out.sum(), xt)[0].numpy()))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_over_no_classes_like_torch(reduction, smoothing):
    """Logits of no classes (the target ignored): a sum over nothing, NaN where label
    smoothing averages over the classes or 'mean' over no counted target, and an empty
    gradient (was NumPy's "zero-size array to reduction operation" and a ZeroDivisionError)."""
    torch = import_torch()
    res = []
    for m in (yingshe, torch):
        x = m.zeros(0, dtype=m.float64, requires_grad=True)
        out = m.nn.functional.cross_entropy(x, m.tensor(0), ignore_index=0,
                                            reduction=reduction, label_smoothing=smoothing)
        res.append((out.detach().numpy(), m.autograd.grad(out, x)[0].numpy()))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    assert res[0][1].shape == res[1][1].shape == (0,)


@pytest.mark.parametrize("name,kw", [("huber_loss", {"delta": 2.0}),
                                     ("smooth_l1_loss", {"beta": 0.5})])
def test_huber_and_smooth_l1_at_huge_and_infinite_differences_like_torch(name, kw):
    """Found by the fuzz suite: the unused quadratic branch overflowed (and inf - inf
    was computed) with NumPy's RuntimeWarning leaking; the values are PyTorch's."""
    torch = import_torch()
    a = np.array([3e30, -3e30, np.inf, 1.0], dtype=np.float32)
    b = np.array([0.0, 0.0, np.inf, 0.0], dtype=np.float32)
    out = []
    for m, fn in ((yingshe, getattr(F, name)), (torch, getattr(torch.nn.functional, name))):
        x = m.tensor(a.copy(), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            y = fn(x, m.tensor(b.copy()), reduction="none", **kw)
            y.sum().backward()
        out.append((y.detach().numpy(), x.grad.numpy()))
    for got, want in zip(out[0], out[1]):
        np.testing.assert_allclose(got, want, *tol("reference", np.float32))


@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 5, 4)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_with_probabilities_differentiates_the_weight_like_torch(
        shape, reduction, label_smoothing):
    """Found by the fuzz suite: with class-probability targets PyTorch differentiates the
    loss in the class weights (with index targets it refuses to); ours gave no gradient."""
    torch = import_torch()
    rng = np.random.default_rng(0)
    a, p, w = rng.standard_normal(shape), rng.random(shape), rng.random(5) + 0.5
    out = []
    for m in (yingshe, torch):
        x, weight = m.tensor(a, requires_grad=True), m.tensor(w, requires_grad=True)
        y = m.nn.functional.cross_entropy(x, m.tensor(p), weight=weight, reduction=reduction,
                                          label_smoothing=label_smoothing)
        y.backward(m.tensor(np.random.default_rng(1).standard_normal(tuple(y.shape))))
        out.append((y.detach().numpy(), x.grad.numpy(), weight.grad.numpy()))
    for got, want in zip(out[0], out[1]):
        np.testing.assert_allclose(got, want, *tol("reference", np.float64))


@pytest.mark.parametrize("compiled", [False, True])
def test_bce_with_logits_gradients_at_infinite_logits_and_targets_like_torch(compiled):
    """Found by the fuzz suite: the backward with pos_weight (the op a compiled gradient
    runs) leaked NumPy's RuntimeWarning (inf - inf) at infinite logits or targets; the
    values are PyTorch's."""
    torch = import_torch()

    def f(m, x, t):
        y = m.nn.functional.binary_cross_entropy_with_logits(
            x, t, pos_weight=m.tensor([2.0]), reduction="none")
        return (y,) + tuple(m.autograd.grad(y.sum(), [x, t]))

    out = []
    for m in (yingshe, torch):
        x = m.tensor([np.inf, -np.inf, 1.0, 2.0], requires_grad=True)
        t = m.tensor([1.0, 0.0, np.inf, 0.5], requires_grad=True)
        fn = yingshe.compile(lambda x, t: f(m, x, t)) if compiled and m is yingshe else \
            (lambda x, t: f(m, x, t))
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out.append([v.detach().numpy() for v in fn(x, t)])
    for got, want in zip(out[0], out[1]):
        np.testing.assert_allclose(got, want, *tol("reference", np.float32))
