"""Helpers for the nn tests: run a yingshe module and the same torch module (same
weights) on the same input and compare outputs and gradients at DESIGN tolerances."""

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol


def copy_weights_to_torch(ym, tm):
    """Copy every parameter and buffer of ``ym`` into ``tm`` (same keys: checks that the
    state_dict keys and shapes agree with PyTorch's)."""
    torch = import_torch()
    ysd = ym.state_dict()
    tsd = tm.state_dict()
    assert list(ysd.keys()) == list(tsd.keys())
    for k, v in ysd.items():
        assert tuple(v.shape) == tuple(tsd[k].shape), k
    tm.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True))
                        for k, v in ysd.items()})


def run_parity(ym, tm, inputs, dtype=np.float64, grad_inputs=True, rng=None, check_grads=True):
    """Forward both modules on ``inputs`` (NumPy arrays), compare outputs; backprop a
    random cotangent and compare input and parameter gradients."""
    torch = import_torch()
    rng = rng or np.random.default_rng(1)
    if dtype == np.float64:
        ym.double()
        tm.double()
    else:
        ym.float()
        tm.float()
    copy_weights_to_torch(ym, tm)
    rtol, atol = tol("reference", dtype)
    yx, tx = [], []
    for a in inputs:
        a = np.asarray(a)
        is_float = a.dtype.kind == "f"
        if is_float:
            a = a.astype(dtype)
        need = grad_inputs and is_float and check_grads
        yx.append(yingshe.tensor(a, requires_grad=need))
        tx.append(torch.tensor(a, requires_grad=need))
    yo = ym(*yx)
    to = tm(*tx)
    np.testing.assert_allclose(yo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    assert yo.dtype.np == to.detach().numpy().dtype
    if check_grads:
        g = rng.standard_normal(to.shape).astype(dtype)
        (yo * yingshe.tensor(g)).sum().backward()
        (to * torch.tensor(g)).sum().backward()
        for a, b in zip(yx, tx):
            if b.grad is not None:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
        tparams = dict(tm.named_parameters())
        for name, p in ym.named_parameters():
            tp = tparams[name]
            if tp.grad is None:
                assert p.grad is None or not np.any(p.grad.numpy()), name
                continue
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol,
                                       err_msg=name)
    return yo, to


@pytest.fixture
def parity():
    return run_parity


@pytest.fixture
def torch():
    return import_torch()
