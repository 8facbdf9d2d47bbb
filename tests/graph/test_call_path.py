"""``yingshe.compile``'s generated call path (``trace.fast_call``).

Each compiled entry gets one generated function that checks the arguments and the
trace's guards and runs the program; any mismatch falls back to the general path (which
finds another entry or re-traces). Oracle: eager yingshe, call by call, while the
arguments, hyper-parameters and flags change between calls.
"""

from __future__ import annotations

import numpy as np
import pytest

import yingshe as Y
from yingshe.testing.tolerances import tol

RTOL, ATOL = tol("graph", np.float32)


def _x(shape=(4, 3), dtype=np.float32, seed=0):
    return Y.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def test_repeat_calls_take_the_generated_path_and_misses_fall_back():
    calls = []

    def fn(x, scale=2.0):
        calls.append(1)
        return Y.tanh(x * scale).sum(0)

    f = Y.compile(fn)
    x32, x64 = _x(), _x(dtype=np.float64)
    for _ in range(3):
        np.testing.assert_allclose(f(x32).numpy(), fn(x32).numpy(), rtol=RTOL, atol=ATOL)
    assert f.traces == 1 and "def call(args, kwargs)" in f._fast.source
    np.testing.assert_allclose(f(x64).numpy(), np.tanh(x64.numpy() * 2).sum(0), rtol=1e-12)
    assert f.traces == 2                                   # a new dtype: a new trace
    np.testing.assert_allclose(f(x32, scale=3.0).numpy(), np.tanh(x32.numpy() * 3).sum(0),
                               rtol=RTOL, atol=ATOL)
    assert f.traces == 3                                   # a new static value
    for args, kw, scale in (((x32,), {}, 2.0), ((x64,), {}, 2.0),
                            ((x32,), {"scale": 3.0}, 3.0)):
        np.testing.assert_allclose(f(*args, **kw).numpy(),
                                   np.tanh(args[0].numpy() * scale).sum(0), rtol=RTOL,
                                   atol=ATOL)
    assert f.traces == 3                                   # every one served from the cache
    with pytest.raises(TypeError):
        f(x32, 2.0, 3.0)                                   # a bad call still fails as eager


def _model_and_step(opt_cls, **opt_kw):
    Y.manual_seed(0)
    model = Y.nn.Linear(3, 2)
    opt = opt_cls(model.parameters(), **opt_kw)

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    return model, opt, step


@pytest.mark.parametrize("fused", [True, False])
def test_hyper_parameters_and_guards_are_read_at_each_call(fused):
    eager_model, eager_opt, eager_step = _model_and_step(Y.optim.Adam, lr=0.1, fused=fused)
    model, opt, step = _model_and_step(Y.optim.Adam, lr=0.1, fused=fused)
    f = Y.compile(step)
    x = _x()
    traces = {}
    for k in range(8):
        if k == 3:      # a runtime input: no re-trace
            for o in (eager_opt, opt):
                o.param_groups[0]["lr"] = 0.01
        if k == 5:      # weight decay becomes non-zero
            traces["before"] = f.traces
            for o in (eager_opt, opt):
                o.param_groups[0]["weight_decay"] = 0.1
        np.testing.assert_allclose(f(x).item(), eager_step(x).item(), rtol=RTOL, atol=ATOL)
        for p, q in zip(model.parameters(), eager_model.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=RTOL, atol=ATOL)
    traces_after_flip = f.traces
    if fused:   # the fused update takes weight decay as a runtime input too
        assert traces_after_flip == traces["before"]
    else:       # the op-by-op maths branches on it: a guard flips, a re-trace
        assert traces_after_flip == traces["before"] + 1
    f(x)
    assert f.traces == traces_after_flip


def test_freezing_a_parameter_is_seen_by_the_next_call():
    model, opt, step = _model_and_step(Y.optim.SGD, lr=0.1)
    f = Y.compile(step)
    x = _x()
    for _ in range(3):
        f(x)
    model.bias.requires_grad_(False)
    model.bias.grad = None
    bias = model.bias.detach().numpy().copy()
    f(x)
    assert model.bias.grad is None
    np.testing.assert_array_equal(model.bias.detach().numpy(), bias)   # not updated
    assert model.weight.grad is not None


def test_outputs_never_alias_inputs_or_state():
    f = Y.compile(lambda x: (x, x * 1.0))
    x = _x((3,))
    a, b = f(x)
    a, b = f(x)
    assert a is not x and not np.shares_memory(a.numpy(), x.numpy())
    np.testing.assert_array_equal(a.numpy(), x.numpy())
