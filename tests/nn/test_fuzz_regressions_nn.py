"""Regression tests for the ``nn`` defects that differential fuzzing found (issue 14),
against PyTorch: losses on 0-d tensors, BatchNorm state dicts without
``num_batches_tracked``, and layers given an input of another float dtype than their
weights. Every test here failed on the code before its fix.
"""

import warnings

import numpy as np
import pytest

import yingshe
from yingshe.errors import DTypeError
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

RTOL, ATOL = tol("reference", np.float64)


# ---- 6: every loss on 0-d tensors ------------------------------------------------------------

def _loss_cases(m):
    F, nn = m.nn.functional, m.nn
    sig = m.sigmoid
    return {
        "mse_loss": lambda a, b, r: F.mse_loss(a, b, reduction=r),
        "l1_loss": lambda a, b, r: F.l1_loss(a, b, reduction=r),
        "smooth_l1_loss": lambda a, b, r: F.smooth_l1_loss(a, b, reduction=r),
        "smooth_l1_loss-beta0": lambda a, b, r: F.smooth_l1_loss(a, b, reduction=r, beta=0.0),
        "huber_loss": lambda a, b, r: F.huber_loss(a, b, reduction=r),
        "binary_cross_entropy": lambda a, b, r: F.binary_cross_entropy(sig(a), sig(b),
                                                                       reduction=r),
        "binary_cross_entropy-weight": lambda a, b, r: F.binary_cross_entropy(
            sig(a), sig(b), weight=m.tensor(2.0, dtype=m.float64), reduction=r),
        "bce_with_logits": lambda a, b, r: F.binary_cross_entropy_with_logits(a, sig(b),
                                                                             reduction=r),
        "bce_with_logits-pos_weight": lambda a, b, r: F.binary_cross_entropy_with_logits(
            a, sig(b), pos_weight=m.tensor(2.0, dtype=m.float64), reduction=r),
        "kl_div": lambda a, b, r: F.kl_div(a, sig(b), reduction=r),
        "kl_div-log_target": lambda a, b, r: F.kl_div(a, b, reduction=r, log_target=True),
        "MSELoss": lambda a, b, r: nn.MSELoss(reduction=r)(a, b),
        "L1Loss": lambda a, b, r: nn.L1Loss(reduction=r)(a, b),
        "SmoothL1Loss": lambda a, b, r: nn.SmoothL1Loss(reduction=r)(a, b),
        "HuberLoss": lambda a, b, r: nn.HuberLoss(reduction=r)(a, b),
        "BCELoss": lambda a, b, r: nn.BCELoss(reduction=r)(sig(a), sig(b)),
        "BCEWithLogitsLoss": lambda a, b, r: nn.BCEWithLogitsLoss(reduction=r)(a, sig(b)),
        "KLDivLoss": lambda a, b, r: nn.KLDivLoss(reduction=r)(a, sig(b)),
        # unbatched class scores (C,) with a 0-d class-index target
        "cross_entropy-0d-target": lambda a, b, r: F.cross_entropy(
            m.stack([a, b]), m.tensor(1), reduction=r),
        "nll_loss-0d-target": lambda a, b, r: F.nll_loss(m.stack([a, b]), m.tensor(0),
                                                        reduction=r),
    }


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", sorted(_loss_cases(yingshe)))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_loss_accepts_0d_tensors_like_torch(name, reduction, dtype):
    torch = import_torch()
    rtol, atol = tol("reference", np.dtype(dtype))
    results = []
    for m in (yingshe, torch):
        a = m.tensor(0.3, dtype=getattr(m, dtype), requires_grad=True)
        b = m.tensor(-0.7, dtype=getattr(m, dtype), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # kl_div's 'mean' warning
            out = _loss_cases(m)[name](a, b, reduction)
        out.backward()
        results.append([out] + [t.grad if t.grad is not None else m.zeros(())
                                for t in (a, b)])
    for y, t in zip(*results):
        assert tuple(y.shape) == tuple(t.shape) == ()
        np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=rtol,
                                   atol=atol)


# ---- 10: BatchNorm state dicts without num_batches_tracked -----------------------------------

@pytest.mark.parametrize("cls", ["BatchNorm1d", "BatchNorm2d", "InstanceNorm1d"])
def test_strict_load_accepts_a_missing_num_batches_tracked_like_torch(cls):
    torch = import_torch()
    kwargs = {"track_running_stats": True, "affine": True} if "Instance" in cls else {}
    results = []
    for m in (yingshe, torch):
        # nested, so that the key has a prefix; BatchNorm's parameters start at 1 and 0
        src = m.nn.Sequential(getattr(m.nn, cls)(3, **kwargs))
        for _, buf in src.named_buffers():
            buf.add_(1.5) if buf.dtype.is_floating_point else buf.add_(4)
        dst = m.nn.Sequential(getattr(m.nn, cls)(3, **kwargs))
        dst[0].num_batches_tracked.add_(7)
        sd = {k: v for k, v in src.state_dict().items() if "num_batches" not in k}
        keys = dst.load_state_dict(sd, strict=True)
        assert list(keys.missing_keys) == [] and list(keys.unexpected_keys) == []
        results.append({k: np.array(v.detach().numpy()) for k, v in dst.state_dict().items()})
    assert results[0].keys() == results[1].keys()
    for k in results[0]:
        np.testing.assert_array_equal(results[0][k], results[1][k], err_msg=k)
    assert results[0]["0.num_batches_tracked"] == 7   # the module's own count is kept


def test_strict_load_still_reports_other_missing_batchnorm_buffers():
    bn = yingshe.nn.BatchNorm1d(3)
    sd = {k: v for k, v in bn.state_dict().items() if k != "running_var"}
    with pytest.raises(RuntimeError, match='Missing key.*"running_var"'):
        bn.load_state_dict(sd)


# ---- 15: layers refuse an input of another float dtype than their weights --------------------

def _layers(m):
    nn = m.nn
    d64 = m.float64

    def x(*shape):
        return m.zeros(*shape, dtype=d64)

    return {
        "Linear": lambda: nn.Linear(3, 2)(x(1, 3)),
        "Bilinear": lambda: nn.Bilinear(3, 3, 2)(x(1, 3), x(1, 3)),
        "Conv1d": lambda: nn.Conv1d(1, 1, 3)(x(1, 1, 5)),
        "Conv2d": lambda: nn.Conv2d(1, 1, 3)(x(1, 1, 5, 5)),
        "Conv2d-nobias": lambda: nn.Conv2d(1, 1, 3, bias=False)(x(1, 1, 5, 5)),
        "Conv2d-unbatched": lambda: nn.Conv2d(1, 1, 3)(x(1, 5, 5)),
        "Conv3d": lambda: nn.Conv3d(1, 1, 3)(x(1, 1, 5, 5, 5)),
        "ConvTranspose1d": lambda: nn.ConvTranspose1d(1, 1, 3)(x(1, 1, 5)),
        "ConvTranspose2d": lambda: nn.ConvTranspose2d(1, 1, 3)(x(1, 1, 5, 5)),
        "ConvTranspose3d": lambda: nn.ConvTranspose3d(1, 1, 3)(x(1, 1, 4, 4, 4)),
        "BatchNorm1d-train": lambda: nn.BatchNorm1d(3)(x(2, 3)),
        "BatchNorm1d-eval": lambda: nn.BatchNorm1d(3).eval()(x(2, 3)),
        "BatchNorm2d": lambda: nn.BatchNorm2d(3)(x(2, 3, 2, 2)),
        "LayerNorm": lambda: nn.LayerNorm(3)(x(2, 3)),
        "GroupNorm": lambda: nn.GroupNorm(1, 3)(x(2, 3)),
        "InstanceNorm1d-affine": lambda: nn.InstanceNorm1d(3, affine=True)(x(2, 3, 4)),
        "RNN": lambda: nn.RNN(3, 2)(x(2, 1, 3)),
        "LSTM": lambda: nn.LSTM(3, 2)(x(2, 1, 3)),
        "GRU": lambda: nn.GRU(3, 2)(x(2, 1, 3)),
        "RNNCell": lambda: nn.RNNCell(3, 2)(x(1, 3)),
        "LSTMCell": lambda: nn.LSTMCell(3, 2)(x(1, 3)),
        "GRUCell": lambda: nn.GRUCell(3, 2)(x(1, 3)),
        "MultiheadAttention": lambda: nn.MultiheadAttention(4, 2)(x(2, 1, 4), x(2, 1, 4),
                                                                  x(2, 1, 4)),
        "TransformerEncoderLayer": lambda: nn.TransformerEncoderLayer(4, 2, 8)(x(2, 1, 4)),
    }


@pytest.mark.parametrize("name", sorted(_layers(yingshe)))
def test_layers_refuse_a_float64_input_against_float32_weights_like_torch(name):
    torch = import_torch()
    with pytest.raises((RuntimeError, ValueError)):
        _layers(torch)[name]()
    with pytest.raises(DTypeError, match="dtype"):
        _layers(yingshe)[name]()


def test_a_refused_batchnorm_call_leaves_the_running_statistics_alone():
    bn = yingshe.nn.BatchNorm1d(3)
    with pytest.raises(DTypeError):
        bn(yingshe.ones(4, 3, dtype=yingshe.float64) * 5)
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(3, np.float32))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3, np.float32))


# ---- sibling of 15: losses of an input and a target of different dtypes ----------------------

_MIXED_LOSSES = {
    "mse_loss": lambda F, a, b: F.mse_loss(a, b),
    "l1_loss": lambda F, a, b: F.l1_loss(a, b, reduction="sum"),
    "smooth_l1_loss": lambda F, a, b: F.smooth_l1_loss(a, b, reduction="none"),
    "huber_loss": lambda F, a, b: F.huber_loss(a, b),
    "kl_div": lambda F, a, b: F.kl_div(a, b.sigmoid(), reduction="batchmean"),
    "cross_entropy-probabilities": lambda F, a, b: F.cross_entropy(a, b.softmax(1)),
}


@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float64", "float32")])
@pytest.mark.parametrize("name", sorted(_MIXED_LOSSES))
def test_losses_promote_input_and_target_dtypes_like_torch(name, dtypes):
    torch = import_torch()
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    results = []
    for m in (yingshe, torch):
        a = m.tensor(x, dtype=getattr(m, dtypes[0]), requires_grad=True)
        b = m.tensor(t, dtype=getattr(m, dtypes[1]), requires_grad=True)
        out = _MIXED_LOSSES[name](m.nn.functional, a, b)
        if name == "huber_loss":   # PyTorch's backward fails here ("Found dtype Double")
            results.append([out])
            continue
        out.sum().backward()
        results.append([out, a.grad, b.grad])
    rtol, atol = tol("reference", np.float32)   # one operand is float32
    for y, t_ in zip(*results):
        assert str(y.dtype).split(".")[-1] == str(t_.dtype).split(".")[-1]
        np.testing.assert_allclose(y.detach().numpy(), t_.detach().numpy(), rtol=rtol,
                                   atol=atol)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_losses_take_an_integer_target_like_torch(name):
    torch = import_torch()
    outs = [getattr(m.nn.functional, name)(m.tensor([0.5, 2.5]), m.tensor([1, 2]))
            for m in (yingshe, torch)]
    assert outs[0].dtype is yingshe.float32
    np.testing.assert_allclose(outs[0].numpy(), outs[1].numpy(), rtol=1e-6)


def test_binary_cross_entropy_still_refuses_mixed_dtypes_like_torch():
    torch = import_torch()
    with pytest.raises(RuntimeError):
        torch.nn.functional.binary_cross_entropy(torch.full((2,), 0.5, dtype=torch.float64),
                                                 torch.full((2,), 0.5))
    with pytest.raises(DTypeError):
        yingshe.nn.functional.binary_cross_entropy(
            yingshe.full((2,), 0.5, dtype=yingshe.float64), yingshe.full((2,), 0.5))
