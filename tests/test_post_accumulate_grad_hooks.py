"""Tensor.register_post_accumulate_grad_hook: once per backward, after a leaf's last
gradient, as PyTorch's hook of the same name; also inside yingshe.compile's traced
backward, where a hook may replace the symbolic .grad."""

from __future__ import annotations

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import torch as import_torch


def _trace(lib, w, steps):
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    for i, f in enumerate(steps):
        if i == len(steps) - 1:
            handle.remove()
        f(w).backward()
    return seen, w.grad.tolist()


def test_fires_once_after_every_path_into_the_leaf_as_pytorch():
    torch = import_torch()
    steps = [lambda w: (w * 3).sum() + (w * w).sum() + (w.exp() * w).sum(),   # 3 paths
             lambda w: w.sum(),
             lambda w: (w * 2).sum()]                                          # removed
    ours = _trace(yingshe, yingshe.tensor([1.0, 2.0], dtype=yingshe.float64,
                                          requires_grad=True), steps)
    ref = _trace(torch, torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True),
                 steps)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-12)
    assert len(ours[0]) == 2


def test_a_leaf_root_and_unreached_leaves():
    w = yingshe.tensor([1.0, 2.0], requires_grad=True)
    v = yingshe.tensor([3.0], requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append("w"))
    v.register_post_accumulate_grad_hook(lambda t: calls.append("v"))
    w.backward(yingshe.ones(2))          # backward of the leaf itself
    assert calls == ["w"]
    (w * 2).sum().backward()             # v is not reached: its hook does not run
    assert calls == ["w", "w"]
    (w * 2).sum().backward(inputs=[w])
    assert calls == ["w", "w", "w"]


def test_not_called_by_autograd_grad_and_refused_where_pytorch_refuses():
    w = yingshe.tensor([1.0], requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    yingshe.autograd.grad((w * w).sum(), w)
    assert calls == [] and w.grad is None
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        yingshe.ones(2).register_post_accumulate_grad_hook(lambda t: None)


def test_traced_backward_runs_the_hook_and_keeps_what_it_sets():
    def make():
        yingshe.manual_seed(0)
        m = yingshe.nn.Linear(3, 2)
        for p in m.parameters():
            # a hook that rewrites the gradient (DDP's all-reduce does so)
            p.register_post_accumulate_grad_hook(
                lambda t: setattr(t, "grad", t.grad * 2 + 1))
        return m

    def step(m, opt, x):
        opt.zero_grad()
        loss = m(x).pow(2).sum()
        loss.backward()
        opt.step()
        return loss

    x = yingshe.tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    eager_m, comp_m = make(), make()
    eager_o = yingshe.optim.SGD(eager_m.parameters(), lr=0.01)
    comp_o = yingshe.optim.SGD(comp_m.parameters(), lr=0.01)
    compiled = yingshe.compile(lambda x: step(comp_m, comp_o, x))
    for _ in range(3):
        step(eager_m, eager_o, x)
        compiled(x)
        for p, q in zip(comp_m.parameters(), eager_m.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6,
                                       atol=1e-7)
    assert compiled.traces == 1
