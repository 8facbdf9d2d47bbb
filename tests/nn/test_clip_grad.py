"""clip_grad_norm_ / clip_grad_value_ vs PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import yingshe
from yingshe.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

SHAPES = [(3, 4), (5,), (), (2, 0)]


def _pair(torch, dtype, scale=1.0, seed=0, with_none=True, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    ours, ref = [], []
    for i, s in enumerate(shapes + [(2,)]):
        w = rng.standard_normal(s).astype(dtype)
        g = (rng.standard_normal(s) * scale).astype(dtype)
        p, tp = yingshe.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
        if not (with_none and i == len(shapes)):  # the last parameter has no gradient
            p.grad, tp.grad = yingshe.tensor(g.copy()), torch.tensor(g.copy())
        ours.append(p)
        ref.append(tp)
    return ours, ref


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, 0.5, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(dtype, norm_type, max_norm):
    torch = import_torch()
    nt = float(norm_type)
    # the inf norm of an empty tensor is an error in PyTorch (tested below)
    ours, ref = _pair(torch, dtype, shapes=SHAPES[:-1] if math.isinf(nt) else SHAPES)
    total = clip_grad_norm_(ours, max_norm, norm_type=nt)
    ttotal = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type=nt)
    rtol, atol = tol("reference", dtype)
    assert isinstance(total, yingshe.Tensor) and total.shape == ()
    assert total.dtype.name == str(ttotal.dtype).split(".")[1]
    np.testing.assert_allclose(total.numpy(), ttotal.numpy(), rtol=rtol, atol=atol)
    for p, tp in zip(ours, ref):
        if tp.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol)


def test_clip_grad_norm_single_tensor_no_grads_and_nonfinite():
    torch = import_torch()
    p = yingshe.tensor(np.ones(3), requires_grad=True)
    t = torch.ones(3, dtype=torch.float64, requires_grad=True)
    assert float(clip_grad_norm_(p, 1.0)) == float(torch.nn.utils.clip_grad_norm_(t, 1.0)) == 0.0
    p.grad = yingshe.tensor(np.array([3.0, 4.0, 0.0]))
    t.grad = torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)
    np.testing.assert_allclose(float(clip_grad_norm_(p, 1.0)),
                               float(torch.nn.utils.clip_grad_norm_(t, 1.0)))
    np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    p.grad = yingshe.tensor(np.array([np.inf, 1.0, 0.0]))
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.numpy(), [np.inf, 1.0, 0.0])  # unchanged on error


def test_clip_grad_norm_after_backward_of_broadcasting_graph():
    """Gradients produced by backward (possibly broadcast views) are clipped in place."""
    torch = import_torch()
    w = yingshe.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    tw = torch.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (w.sum() * 10.0).backward()
    (tw.sum() * 10.0).backward()
    clip_grad_norm_([w], 1.0)
    torch.nn.utils.clip_grad_norm_([tw], 1.0)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


def test_inf_norm_of_empty_gradient_is_an_error_as_in_torch():
    torch = import_torch()
    ours, ref = _pair(torch, np.float64)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(ref, 1.0, norm_type=math.inf)
    with pytest.raises(RuntimeError, match="empty"):
        clip_grad_norm_(ours, 1.0, norm_type=math.inf)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("clip_value", [0.3, 2.0])
def test_clip_grad_value_matches_torch(dtype, clip_value):
    torch = import_torch()
    ours, ref = _pair(torch, dtype, scale=2.0)
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(ref, clip_value)
    for p, tp in zip(ours, ref):
        if tp.grad is not None:
            np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())
