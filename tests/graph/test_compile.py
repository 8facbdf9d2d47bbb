"""``yingshe.compile``: a whole eager training step traced, compiled and cached.

The oracle is eager yingshe: the same step, from the same weights, with the same
seed, run 50 times each way; losses per step and final parameters (and grads) agree
at DESIGN's graph-vs-eager tolerance (float32: rtol 1e-6, atol 1e-7).
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import yingshe
import yingshe as Y
from yingshe.graph.trace import TraceError
from yingshe.testing.tolerances import tol

RTOL, ATOL = tol("graph", np.float32)  # DESIGN: compiled vs eager, float32 (1e-6, 1e-7)


def _model(dropout=0.0):
    Y.manual_seed(0)
    layers = [Y.nn.Linear(6, 16), Y.nn.Tanh()]
    if dropout:
        layers.append(Y.nn.Dropout(dropout))
    layers += [Y.nn.Linear(16, 4)]
    return Y.nn.Sequential(*layers)


def _data(n=32):
    rng = np.random.default_rng(1)
    x = Y.from_numpy(rng.standard_normal((n, 6)).astype(np.float32))
    y = Y.from_numpy(rng.integers(0, 4, n).astype(np.int64))
    return x, y


def _train(make_opt, compiled, steps=50, schedule=None, dropout=0.0, batches=None):
    model = _model(dropout)
    opt = make_opt(model.parameters())
    crit = Y.nn.CrossEntropyLoss()
    sched = schedule(opt) if schedule else None

    def step(x, y):
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = Y.compile(step) if compiled else step
    Y.manual_seed(123)
    losses = []
    for i in range(steps):
        x, y = batches[i % len(batches)] if batches else _data()
        losses.append(fn(x, y).item())
        if sched is not None:
            sched.step()
    params = [p.detach().numpy().copy() for p in model.parameters()]
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    return np.array(losses), params, grads, fn


OPTIMIZERS = {
    "sgd": lambda ps: Y.optim.SGD(ps, lr=0.1),
    "momentum": lambda ps: Y.optim.SGD(ps, lr=0.05, momentum=0.9),
    "nesterov_wd": lambda ps: Y.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                          weight_decay=1e-3),
    "adam": lambda ps: Y.optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: Y.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
}


def _assert_same(eager, comp):
    np.testing.assert_allclose(comp[0], eager[0], rtol=RTOL, atol=ATOL)
    for a, b in zip(comp[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    for a, b in zip(comp[2], eager[2]):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_step_matches_eager_for_50_steps(name):
    eager = _train(OPTIMIZERS[name], False)
    comp = _train(OPTIMIZERS[name], True)
    _assert_same(eager, comp)
    fn = comp[3]
    assert fn.traces == 1                 # one signature: traced once, then cache hits
    assert fn.eager_calls == 1            # the first call creates the optimizer state
    assert eager[0][-1] < eager[0][0]     # it trains


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_scheduler_changes_lr_without_retracing(name):
    def sched(opt):
        return Y.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    eager = _train(OPTIMIZERS[name], False, schedule=sched)
    comp = _train(OPTIMIZERS[name], True, schedule=sched)
    _assert_same(eager, comp)
    assert comp[3].traces == 1
    # and the lr really mattered: without the schedule the result differs
    plain = _train(OPTIMIZERS[name], True)
    assert not np.allclose(plain[0], comp[0], rtol=1e-3)


def test_manual_lr_change_is_a_runtime_input():
    model = _model()
    opt = Y.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()

    @Y.compile
    def step(x, y):
        opt.zero_grad()
        loss = Y.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step(x, y)
    step(x, y)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    opt.param_groups[0]["lr"] *= 0.1
    step(x, y)
    grads = [p.grad.numpy() for p in model.parameters()]
    after = [p.detach().numpy() for p in model.parameters()]
    for b, a, g in zip(before, after, grads):
        np.testing.assert_allclose(a, b - np.float32(0.1 * 0.1) * g, rtol=1e-5, atol=1e-7)
    assert step.traces == 1


def test_retrace_on_new_batch_shape_and_cache_hit():
    batches = [_data(32), _data(32), _data(20)]
    eager = _train(OPTIMIZERS["adam"], False, steps=12, batches=batches)
    comp = _train(OPTIMIZERS["adam"], True, steps=12, batches=batches)
    _assert_same(eager, comp)
    assert comp[3].traces == 2   # (32, 6) and (20, 6); every other call hits the cache


def test_static_arguments_are_part_of_the_signature():
    calls = []

    @Y.compile
    def f(x, k):
        calls.append(k)
        return x * k

    x = Y.ones(3)
    np.testing.assert_array_equal(f(x, 2).numpy(), [2, 2, 2])
    np.testing.assert_array_equal(f(x, 2).numpy(), [2, 2, 2])
    np.testing.assert_array_equal(f(x, 3).numpy(), [3, 3, 3])
    assert f.traces == 2 and calls == [2, 3]


def test_outputs_are_eager_tensors_in_nested_structures():
    w = Y.nn.Parameter(Y.ones(2, 2))

    @Y.compile
    def f(x):
        y = x @ w
        return {"y": y, "pair": (y.sum(), [y * 2])}

    with Y.no_grad():  # inference: outputs need no history
        out = f(Y.ones(1, 2))
        assert isinstance(out["y"], Y.Tensor) and out["y"]._data is not None
        np.testing.assert_array_equal(out["pair"][1][0].numpy(), [[4.0, 4.0]])
        # a parameter is read by identity, not baked in as a constant
        w.mul_(3)
        np.testing.assert_array_equal(f(Y.ones(1, 2))["y"].numpy(), [[6.0, 6.0]])
    assert f.traces == 1


def test_a_program_traced_under_no_grad_does_not_serve_a_call_that_needs_a_history():
    lin = Y.nn.Linear(2, 1)
    g = Y.compile(lambda x: lin(x).sum())
    with Y.no_grad():  # traced and cached for inference first ...
        assert not g(Y.ones(3, 2)).requires_grad
    assert g.traces == 1
    out = g(Y.ones(3, 2))  # ... a call under grad mode gets its own, differentiable program
    assert g.traces == 2 and out.requires_grad
    out.backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), [[3.0, 3.0]])
    np.testing.assert_allclose(lin.bias.grad.numpy(), [3.0])


def test_grad_accumulates_without_zero_grad():
    w = Y.nn.Parameter(Y.tensor([1.0, 2.0]))

    @Y.compile
    def f(x):
        loss = (w * x).sum()
        loss.backward()
        return loss

    x = Y.tensor([3.0, 4.0])
    f(x)
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])
    f(x)
    np.testing.assert_array_equal(w.grad.numpy(), [6.0, 8.0])
    f(x)
    np.testing.assert_array_equal(w.grad.numpy(), [9.0, 12.0])


def test_dropout_with_seed_equals_eager():
    eager = _train(OPTIMIZERS["adam"], False, steps=20, dropout=0.3)
    comp = _train(OPTIMIZERS["adam"], True, steps=20, dropout=0.3)
    _assert_same(eager, comp)
    assert comp[3].traces == 1
    # dropout really draws: the trajectory differs from the model without it
    plain = _train(OPTIMIZERS["adam"], True, steps=20)
    assert not np.allclose(plain[0], comp[0], rtol=1e-3)


def test_item_inside_compiled_function_names_the_line():
    @Y.compile
    def f(x):
        y = (x * 2).sum()
        if y.item() > 0:  # the line the error names
            return y
        return -y

    line = inspect.getsourcelines(f.fn)[1] + 3
    with pytest.raises(TraceError) as info:
        f(Y.ones(3))
    msg = str(info.value)
    assert f"test_compile.py:{line}" in msg
    assert "item()" in msg and "fallback" in msg


def test_control_flow_on_traced_value_raises():
    @Y.compile
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(TraceError, match="bool"):
        f(Y.ones(3))


def test_fallback_eager_warns_once_and_is_correct():
    @Y.compile(fallback="eager")
    def f(x):
        s = x.sum()
        return x * 2 if s.item() > 0 else x * 3

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        a = f(Y.ones(3))
        b = f(-Y.ones(3))
        c = f(Y.ones(4))
    assert len([w for w in rec if "yingshe.compile" in str(w.message)]) == 1
    np.testing.assert_array_equal(a.numpy(), [2, 2, 2])
    np.testing.assert_array_equal(b.numpy(), [-3, -3, -3])
    np.testing.assert_array_equal(c.numpy(), [2, 2, 2, 2])


def test_explain_shows_the_generated_source():
    @Y.compile
    def f(x):
        return (x + 0) * 1 + x

    f(Y.ones(2))
    text = f.explain()
    assert "generated source" in text and "def compiled_f" in text


# ---- found by the fuzz suite (tests/fuzz) ---------------------------------------------------

def test_compiled_masked_fill_with_a_tensor_value_equals_eager():
    def f(x):
        return x.masked_fill(yingshe.tensor([[True, False]]), yingshe.tensor(-1.5))
    x = yingshe.tensor(np.arange(4.0).reshape(2, 2))
    np.testing.assert_array_equal(yingshe.compile(f)(x).numpy(), f(x).numpy())


def test_one_hot_with_classes_from_the_values_is_refused_while_tracing():
    def f(x):
        return yingshe.nn.functional.one_hot(x, -1)
    x = yingshe.tensor([0, 3, 1])
    with pytest.raises(yingshe.errors.UnsupportedError, match="one_hot: num_classes=-1"):
        yingshe.compile(f)(x)
    with pytest.warns(UserWarning, match="runs eagerly"):
        got = yingshe.compile(f, fallback="eager")(x)
    np.testing.assert_array_equal(got.numpy(), f(x).numpy())


@pytest.mark.parametrize("pieces", [lambda x: x.chunk(2, 1), lambda x: x.split(3, 1),
                                    lambda x: x.unbind(1)])
def test_a_split_into_one_piece_compiles_and_differentiates(pieces):
    """A variadic op (split, chunk, unbind) that makes one output is still a tuple in a
    graph, as eagerly: the piece was taken for the tuple and indexed, and the gradient
    program iterated over the gradient's first dim."""
    def f(x):
        y = pieces(x)[0] * 2
        return y, yingshe.autograd.grad(y, [x], grad_outputs=yingshe.ones_like(y))[0]
    x = yingshe.tensor(np.arange(6.0).reshape(2, 1, 3), requires_grad=True)
    want = f(x)
    got = yingshe.compile(f)(x)
    for a, b in zip(got, want):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("f", [lambda x: yingshe.nn.functional.hardsigmoid(x == 1),
                               lambda x: yingshe.nn.functional.softmin(x.int().sqrt(), 0)],
                         ids=["from-bool", "from-int"])
def test_a_float_result_of_a_bool_or_int_value_does_not_require_grad(f):
    """What is computed from a comparison or an integer cast carries no gradient, eagerly
    and compiled (the compiled output required grad because its input did)."""
    x = yingshe.tensor([1.0, 4.0, 9.0], requires_grad=True)
    want = f(x)
    got = yingshe.compile(f)(x)
    assert want.requires_grad is False and got.requires_grad is False
    np.testing.assert_array_equal(got.numpy(), want.numpy())
