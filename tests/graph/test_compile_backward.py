"""Eager ``backward()`` through a ``yingshe.compile``'d forward (``torch.compile(model)``).

The oracle is the same model run eagerly from the same weights and the same seed:
outputs, gradients of inputs and parameters, BatchNorm statistics and whole training
trajectories (compiled forward, eager backward and optimizer step) agree at DESIGN's
graph-vs-eager tolerance. A backward that re-ran the forward would redraw dropout masks
and update BatchNorm statistics twice; the trajectories would then differ.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import yingshe as Y
from yingshe.graph.trace import TraceError
from yingshe.testing.tolerances import tol

RTOL, ATOL = tol("graph", np.float64)


def _net(dropout=0.3):
    Y.manual_seed(0)
    return Y.nn.Sequential(Y.nn.Linear(5, 12), Y.nn.BatchNorm1d(12), Y.nn.Tanh(),
                           Y.nn.Dropout(dropout), Y.nn.Linear(12, 3)).to(Y.float64)


def _batch(i, n=16):
    rng = np.random.default_rng(i)
    return (Y.from_numpy(rng.standard_normal((n, 5))),
            Y.from_numpy(rng.integers(0, 3, n).astype(np.int64)))


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL)


def _trajectory(compiled: bool, steps: int = 12):
    model = _net()
    fwd = Y.compile(model) if compiled else model
    opt = Y.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    Y.manual_seed(7)
    losses = []
    for i in range(steps):
        x, y = _batch(i % 3)
        opt.zero_grad()
        loss = Y.nn.functional.cross_entropy(fwd(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model.state_dict(), fwd


def test_training_with_a_compiled_forward_follows_eager():
    eager_losses, eager_state, _ = _trajectory(False)
    losses, state, fwd = _trajectory(True)
    _close(losses, eager_losses)
    for k in eager_state:   # weights, and BatchNorm's running statistics updated once a step
        _close(state[k].numpy(), eager_state[k].numpy())
    assert fwd.traces == 1 and fwd.eager_calls == 0


def test_input_and_parameter_gradients_equal_eager():
    model = _net()
    twin = copy.deepcopy(model)
    x, y = _batch(0)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = []
    for m, xi in ((Y.compile(model), xs[0]), (twin, xs[1])):
        Y.manual_seed(3)
        out = m(xi * 2.0)   # an argument with a history: the gradient reaches the leaf
        (out * out).sum().backward()
        outs.append(out.detach().numpy())
    _close(outs[0], outs[1])
    _close(xs[0].grad.numpy(), xs[1].grad.numpy())
    for p, q in zip(model.parameters(), twin.parameters()):
        _close(p.grad.numpy(), q.grad.numpy())


def test_several_outputs_integer_and_unconnected_ones():
    w = Y.nn.Parameter(Y.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=Y.float64))

    def f(x, c):
        h = x @ w
        return h.tanh(), h.argmax(1), c * 2.0, h.tanh()   # an output twice, an int, a constant

    x = Y.tensor([[0.3, -0.7], [1.1, 0.2], [-0.4, 0.9]], dtype=Y.float64, requires_grad=True)
    c = Y.tensor([1.0, 2.0], dtype=Y.float64)
    results = []
    for fn in (Y.compile(f), f):
        w.grad = None
        x.grad = None
        a, idx, k, a2 = fn(x, c)
        assert not idx.requires_grad and idx.dtype == Y.int64
        assert not k.requires_grad
        (a.sum() + (a2 * a2).sum()).backward()
        results.append((a.detach().numpy(), idx.numpy(), k.numpy(), x.grad.numpy(),
                        w.grad.numpy()))
    for u, v in zip(*results):
        _close(u, v)


def test_backward_twice_with_retain_graph_accumulates_like_eager():
    w = Y.nn.Parameter(Y.tensor([0.5, -1.5], dtype=Y.float64))
    f = Y.compile(lambda x: (w * x).exp().sum())
    x = Y.tensor([1.0, 2.0], dtype=Y.float64)
    out = f(x)
    out.backward(retain_graph=True)
    out.backward()
    expected = 2 * x.numpy() * np.exp(w.detach().numpy() * x.numpy())   # d/dw, twice
    _close(w.grad.numpy(), expected)


def test_frozen_parameter_retraces_and_gets_no_gradient():
    model = _net(dropout=0.0)
    f = Y.compile(model)
    x, _ = _batch(0)
    f(x).sum().backward()
    model[0].weight.requires_grad_(False)
    model.zero_grad()
    f(x).sum().backward()
    assert f.traces == 2
    assert model[0].weight.grad is None and model[0].bias.grad is not None


def test_create_graph_through_a_compiled_forward_is_refused():
    w = Y.nn.Parameter(Y.tensor([1.0, 2.0]))
    f = Y.compile(lambda x: (w * x).pow(3).sum())
    out = f(Y.tensor([1.0, 1.0]))
    with pytest.raises(RuntimeError, match="create_graph=True"):
        Y.autograd.grad(out, [w], create_graph=True)


def test_a_captured_tensor_with_a_history_is_refused_not_detached():
    """A non-leaf tensor read from a closure would become a constant: its gradient would
    be lost silently. It is refused; fallback="eager" gives the right gradient."""
    a = Y.tensor([1.0, 2.0], requires_grad=True)
    h = a * 3.0
    f = Y.compile(lambda x: (h * x).sum())
    with pytest.raises(TraceError, match="history"):
        f(Y.ones(2))
    g = Y.compile(lambda x: (h * x).sum(), fallback="eager")
    with pytest.warns(UserWarning, match="runs eagerly"):
        g(Y.tensor([2.0, 5.0])).backward()
    np.testing.assert_allclose(a.grad.numpy(), [6.0, 15.0])


def test_inference_under_no_grad_builds_no_backward():
    model = _net()
    f = Y.compile(model)
    x, _ = _batch(0)
    with Y.no_grad():
        out = f(x)
    assert not out.requires_grad and f._last.backward is None


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("write", [
    lambda t: t.zero_(), lambda t: t.fill_(2.5), lambda t: t.copy_(Y.ones(3, 2))],
    ids=["zero_", "fill_", "copy_-constant"])
def test_a_constant_written_over_a_temporary_requires_grad_as_eager(backend, write):
    # found by the fuzz suite: x.clone().zero_() requires grad eagerly (the write gives x a
    # zero gradient) but its compiled result did not (the traced constant read nothing);
    # copy_ of a constant under tracing raised a raw AttributeError
    if backend == "numba":
        from tests.graph.test_op_table import require_numba
        require_numba()

    def f(x):
        return write(x.clone()) * 3.0

    compiled = Y.compile(f, backend=backend)
    results = []
    for fn in (f, compiled, compiled):      # eager, then the traced and the cached program
        x = Y.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
        y = fn(x)
        assert y.requires_grad
        (y * Y.tensor([[1.0, -2.0]])).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy()))
    assert compiled.traces == 1 and compiled.eager_calls == 0
    for value, grad in results[1:]:
        _close(value, results[0][0])
        _close(grad, results[0][1])


def test_each_call_differentiates_into_its_own_argument_tensors():
    # the cached program's backward reached the tensors of the call that traced it: a
    # fresh x on a later call got no gradient and the first x accumulated it (silent)
    def f(x, w):
        return (x * x * w).sum()

    w = Y.ones(2, requires_grad=True)
    compiled = Y.compile(f)
    xs = [Y.tensor(np.arange(6.0).reshape(3, 2) + i, requires_grad=True) for i in range(3)]
    for x in xs:
        compiled(x, w).backward()
    assert compiled.traces == 1 and compiled.eager_calls == 0
    for x in xs:
        _close(x.grad.numpy(), 2 * x.detach().numpy())
    _close(w.grad.numpy(), sum((x.detach().numpy() ** 2).sum(0) for x in xs))
