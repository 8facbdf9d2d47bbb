"""The fused optimizer updates (one op per parameter, yingshe/optim/_fused.py).

Oracles: the op-by-op maths (``fused=False``, or ``foreach=False`` for RMSprop), real
PyTorch, both backends of the fused op (numba and NumPy), the compiled step and the
graph built by ``minimize()`` against the eager step. Option combinations are drawn by
hypothesis; every run is many steps long, so state handling (first steps, bias
corrections, momentum buffers) is exercised, not just one update.
"""

from __future__ import annotations

import ast
import os
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import yingshe
import yingshe.graph as G
from yingshe.backend import jit
from yingshe.ops import REGISTRY
from yingshe.optim import _fused
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol

from _optim_model import SHAPES, batches, initial_arrays, run, to_numpy

STEPS = 30
UPDATE_OPS = ("sgd_update", "adam_update", "rmsprop_update", "adagrad_update")


def _require_numba():
    if not jit.available():
        if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1":
            pytest.fail("numba is required in CI (the jit extra) but cannot be imported")
        pytest.skip("numba is not installed")


@pytest.fixture
def backend(monkeypatch):
    """Run a test body under one backend of the fused kernels."""
    def use(name):
        if name == "numba":
            _require_numba()
        monkeypatch.setattr(jit, "_default", [name])
    return use


# ---- option combinations --------------------------------------------------------------------

_lr = st.sampled_from([0.01, 0.05])
_wd = st.sampled_from([0.0, 0.02])


@st.composite
def sgd_options(draw):
    momentum = draw(st.sampled_from([0.0, 0.9]))
    nesterov = momentum > 0 and draw(st.booleans())
    dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 0.3]))
    return dict(lr=draw(_lr), momentum=momentum, dampening=dampening, nesterov=nesterov,
                weight_decay=draw(_wd), maximize=draw(st.booleans()))


@st.composite
def adam_options(draw):
    return dict(lr=draw(_lr), betas=draw(st.sampled_from([(0.9, 0.999), (0.8, 0.99)])),
                eps=draw(st.sampled_from([1e-8, 1e-6])), weight_decay=draw(_wd),
                amsgrad=draw(st.booleans()), maximize=draw(st.booleans()),
                decoupled_weight_decay=draw(st.booleans()))


@st.composite
def adamw_options(draw):
    opts = draw(adam_options())
    del opts["decoupled_weight_decay"]
    return opts


@st.composite
def rmsprop_options(draw):
    return dict(lr=draw(st.sampled_from([0.002, 0.01])), alpha=draw(st.sampled_from([0.9, 0.99])),
                eps=draw(st.sampled_from([1e-8, 1e-4])), weight_decay=draw(_wd),
                momentum=draw(st.sampled_from([0.0, 0.5])), centered=draw(st.booleans()),
                maximize=draw(st.booleans()))


@st.composite
def adagrad_options(draw):
    return dict(lr=draw(st.sampled_from([0.05, 0.1])), lr_decay=draw(st.sampled_from([0, 0.05])),
                weight_decay=draw(_wd), eps=draw(st.sampled_from([1e-10, 1e-6])),
                initial_accumulator_value=draw(st.sampled_from([0.0, 0.5])),
                maximize=draw(st.booleans()))


OPTIONS = {"SGD": sgd_options, "Adam": adam_options, "AdamW": adamw_options,
           "RMSprop": rmsprop_options, "Adagrad": adagrad_options}


def _unfused(name, kwargs):
    """The op-by-op reference: ``fused=False`` (PyTorch's RMSprop has no ``fused``
    argument: ``foreach=False`` selects the for-loop form there, and here)."""
    return dict(kwargs, foreach=False) if name == "RMSprop" else dict(kwargs, fused=False)


def _close(got, want, kind, dtype, what):
    rtol, atol = tol(kind, dtype)
    for k in SHAPES:
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=f"{what} {k}")


def _train(name, kwargs, dtype, lib=yingshe):
    if kwargs.get("maximize"):   # climbing the loss: small steps keep it finite
        kwargs = dict(kwargs, lr=kwargs["lr"] * 0.1)
    arrays, data = initial_arrays(dtype), batches(dtype, n=STEPS)
    params, opt = run(lib, getattr(lib.optim, name), arrays, data, kwargs, steps=STEPS,
                      lr_change_at=STEPS // 2)
    return to_numpy(params), opt


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(OPTIONS))
@pytest.mark.parametrize("which", ["numba", "numpy"])
def test_fused_matches_unfused_and_torch(name, dtype, which, backend):
    """Every option combination: the fused op (under each backend) follows the op-by-op
    maths over 30 steps (a learning-rate change half-way) and PyTorch's optimizer."""
    torch = import_torch()
    backend(which)

    @settings(max_examples=12, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(kwargs=OPTIONS[name]())
    def check(kwargs):
        fused, opt = _train(name, kwargs, dtype)
        assert all(g.get("fused") is not False for g in opt.param_groups)
        unfused, _ = _train(name, _unfused(name, kwargs), dtype)
        # one step of the fused op agrees with the op-by-op form to round-off (the op-table
        # records check it at the graph tolerance); over 30 float32 steps a different
        # operation order accumulates it to the reference tolerance
        kind = "graph" if dtype == np.float64 else "reference"
        _close(fused, unfused, kind, dtype, f"{name} {kwargs} fused vs unfused")
        ref, _ = _train(name, kwargs, dtype, lib=torch)
        _close(fused, ref, "reference", dtype, f"{name} {kwargs} fused vs torch")

    check()


@pytest.mark.parametrize("name", UPDATE_OPS)
def test_numba_kernel_equals_numpy_passes(name, backend):
    """The scalar formula (the numba kernel) and the NumPy path of each op agree on every
    op-table record, float32 and float64, to the graph-vs-eager tolerance."""
    from yingshe.testing.op_db import cases_by_op
    for case in cases_by_op()[name]:
        for dtype in ("float32", "float64"):
            rng = np.random.default_rng(3)
            arrays = [a.astype(dtype) for a in case.inputs(rng)]
            outs = {}
            for which in ("numba", "numpy"):
                backend(which)
                got = case.call(yingshe, *[yingshe.tensor(a.copy()) for a in arrays])
                outs[which] = [t.numpy() for t in got]
            rtol, atol = tol("graph", dtype)
            for a, b in zip(outs["numba"], outs["numpy"]):
                assert a.dtype == np.dtype(dtype)
                np.testing.assert_allclose(a, b, rtol=rtol, atol=atol,
                                           err_msg=f"{case.id} {dtype}")


def test_numba_kernel_is_one_pass_per_update(backend, monkeypatch):
    """With numba, an eager step calls one kernel per parameter and no NumPy pass."""
    backend("numba")
    calls = []
    for spec in _fused._SPECS.values():
        monkeypatch.setattr(spec, "numpy_fn", lambda *a, **k: calls.append("numpy"))
    arrays, data = initial_arrays(np.float32), batches(np.float32, n=3)
    run(yingshe, yingshe.optim.Adam, arrays, data, dict(lr=0.01, amsgrad=True), steps=3)
    assert calls == []


def test_in_place_update_of_a_non_contiguous_parameter_falls_back_to_numpy(backend):
    """A parameter that is a strided view cannot be flattened for the kernel: the NumPy
    passes update it in place, with the same numbers as a contiguous copy."""
    backend("numba")
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 6))
    p = base.T                                    # (6, 4), not contiguous
    g, m, v = (rng.standard_normal((6, 4)) for _ in range(3))
    v = np.abs(v)
    scalars = (0.01, 0.9, 0.999, 1e-8, 0.0, 0.1, 0.001)
    attrs = dict(amsgrad=False, maximize=False, decoupled_weight_decay=False, variant="torch")
    want = REGISTRY["adam_update"].forward(np, p.copy(), g, m.copy(), v.copy(), None,
                                           *scalars, **attrs)
    m2, v2 = m.copy(), v.copy()
    _fused.update_(REGISTRY["adam_update"], p, g, [m2, v2, None], scalars, attrs)
    rtol, atol = tol("graph", np.float64)
    for got, w in zip((p, m2, v2), want):
        np.testing.assert_allclose(got, w, rtol=rtol, atol=atol)
    assert np.shares_memory(p, base)             # written in place


# ---- the arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
@pytest.mark.parametrize("kwargs", [dict(fused=True), dict(foreach=True),
                                    dict(fused=True, foreach=True),
                                    dict(fused=False, foreach=False),
                                    dict(fused=True, differentiable=True)])
def test_fused_and_foreach_arguments_follow_torch(name, kwargs):
    torch = import_torch()
    tp = [torch.nn.Parameter(torch.zeros(3))]
    yp = [yingshe.tensor(np.zeros(3), requires_grad=True)]
    try:
        t_opt = getattr(torch.optim, name)(tp, lr=0.1, **kwargs)
    except RuntimeError as err:
        with pytest.raises(RuntimeError) as info:
            getattr(yingshe.optim, name)(yp, lr=0.1, **kwargs)
        assert str(info.value) == str(err)
        return
    y_opt = getattr(yingshe.optim, name)(yp, lr=0.1, **kwargs)
    for key in ("fused", "foreach"):
        assert y_opt.defaults[key] == t_opt.defaults[key]


def test_rmsprop_has_no_fused_argument_as_in_torch():
    torch = import_torch()
    with pytest.raises(TypeError):
        torch.optim.RMSprop([torch.nn.Parameter(torch.zeros(3))], fused=True)
    with pytest.raises(TypeError):
        yingshe.optim.RMSprop([yingshe.tensor(np.zeros(3), requires_grad=True)], fused=True)


def test_fused_false_runs_the_op_by_op_maths(monkeypatch):
    """``fused=False`` never reaches the fused ops; the default does."""
    seen = []
    orig = _fused.update_
    monkeypatch.setattr(_fused, "update_", lambda op, *a: (seen.append(op.name), orig(op, *a)))
    arrays, data = initial_arrays(np.float64), batches(np.float64, n=2)
    run(yingshe, yingshe.optim.Adam, arrays, data, dict(lr=0.01, fused=False), steps=2)
    assert seen == []
    run(yingshe, yingshe.optim.Adam, arrays, data, dict(lr=0.01), steps=2)
    assert seen == ["adam_update"] * 2 * len(SHAPES)


# ---- compiled steps and graphs --------------------------------------------------------------

COMPILED = [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
            ("Adam", dict(lr=0.02, amsgrad=True)),
            ("AdamW", dict(lr=0.02, weight_decay=0.1)),
            ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
            ("Adagrad", dict(lr=0.1, lr_decay=0.05))]


@pytest.mark.parametrize("which", ["numba", "numpy"])
@pytest.mark.parametrize("name,kwargs", COMPILED, ids=[n for n, _ in COMPILED])
def test_compiled_step_runs_the_fused_op_and_follows_eager(name, kwargs, which, backend):
    """A compiled training step contains one update op per parameter, reads the
    hyper-parameters at each call (a learning-rate change needs no re-trace) and follows
    the eager loop step for step."""
    backend(which)
    from _optim_model import loss_fn, make_params, param_groups
    arrays, data = initial_arrays(np.float64), batches(np.float64, n=STEPS)
    results = []
    for compiled in (False, True):
        params = make_params(yingshe, arrays)
        opt = getattr(yingshe.optim, name)(param_groups(params, None), **kwargs)

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(params, x, y)
            loss.backward()
            opt.step()
            return loss

        fn = yingshe.compile(step) if compiled else step
        losses = []
        for i, (x, y) in enumerate(data):
            if i == STEPS // 2:
                traces = getattr(fn, "traces", None)
                for g in opt.param_groups:
                    g["lr"] *= 0.5
            losses.append(float(fn(yingshe.tensor(x), yingshe.tensor(y))))
        results.append((losses, to_numpy(params)))
        if compiled:
            assert fn.traces == traces   # the new learning rate is a runtime input
            op = REGISTRY[{"SGD": "sgd_update", "Adam": "adam_update", "AdamW": "adam_update",
                           "RMSprop": "rmsprop_update", "Adagrad": "adagrad_update"}[name]]
            assert fn._last.program.count(op.name) == len(SHAPES)
    rtol, atol = tol("graph", np.float64)
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=rtol, atol=atol)
    _close(results[1][1], results[0][1], "graph", np.float64, name)


def test_graph_minimize_builds_one_update_op_per_variable():
    G.reset_default_graph()
    x = G.placeholder(yingshe.float64, [None, 3])
    w = G.Variable(np.ones((3, 1)), name="w")
    b = G.Variable(np.zeros(1), name="b")
    loss = ((x @ w + b) ** 2).mean()
    train = yingshe.optim.Adam([w, b], lr=0.1).minimize(loss)
    from yingshe.graph.passes import prune
    program = prune([train], [x])
    assert program.count("adam_update") == 2
    train_tf1 = G.train.RMSPropOptimizer(0.01, momentum=0.5).minimize(loss)
    assert prune([train_tf1], [x]).count("rmsprop_update") == 2


# ---- layering -----------------------------------------------------------------------------

def test_graph_does_not_import_optim_or_nn():
    """The compiler knows no optimizer (issue 19): no module of yingshe/graph imports
    yingshe.optim or yingshe.nn; yingshe.graph.train is registered by yingshe.optim."""
    root = pathlib.Path(yingshe.__file__).parent / "graph"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                assert not n.startswith(("yingshe.optim", "yingshe.nn")), f"{path}: {n}"
    import yingshe.graph.train as train
    from yingshe.optim import tf1_train
    assert train is tf1_train and G.train is tf1_train
