"""yingshe.graph: building, feeding, errors, gradients, state, the passes and codegen."""

import numpy as np
import pytest

import yingshe
import yingshe.graph as G
from yingshe.graph.interpreter import run_program
from yingshe.graph.codegen import generate
from yingshe.graph.passes import cse, dce, fold, optimize, prune, simplify
from yingshe.testing.tolerances import tol

f64 = yingshe.float64
RTOL, ATOL = tol("graph", "float64")


@pytest.fixture(autouse=True)
def fresh_graph():
    G.reset_default_graph()
    yield
    G.reset_default_graph()


def _line(marker):
    import inspect
    src = inspect.getsource(inspect.getmodule(_line)).splitlines()
    return next(i + 1 for i, s in enumerate(src) if marker in s)


# ---- building ---------------------------------------------------------------------------

def test_symbol_metadata_and_value_errors():
    x = G.placeholder(f64, [None, 3], name="x")
    y = (x * 2).sum(1)
    assert isinstance(y, yingshe.Tensor) and y.shape == (None,) and y.dtype == f64
    assert x.ndim == 2 and x.size(1) == 3 and x.name == "x:0"
    for fn in (y.numpy, y.item, lambda: bool(y), lambda: float(y)):
        with pytest.raises(G.GraphError, match="Session.run"):
            fn()
    with pytest.raises(G.GraphError, match="unknown until the graph runs"):
        x.size(0)


def test_build_time_shape_error_names_op_and_line():
    a = G.placeholder(f64, [2, 3])
    b = G.placeholder(f64, [4, 5])
    with pytest.raises(yingshe.ShapeError) as info:
        a @ b  # BAD-MATMUL
    msg = str(info.value)
    assert "matmul" in msg and "test_graph.py:" + str(_line("# BAD-MATMUL")) in msg


def test_default_graph_and_scopes():
    g = G.Graph()
    with g.as_default():
        assert G.get_default_graph() is g
        with G.name_scope("layer"):
            c = G.constant(1.0) + 1
        assert c.name.startswith("layer/")
    assert G.get_default_graph() is not g
    a = G.placeholder(f64, [1])
    with pytest.raises(G.GraphError, match="another graph"):
        a + c


def test_multi_output_and_nested_fetches():
    x = G.placeholder(f64, [3, 4])
    vals, idx = yingshe.max(x, 1)
    a = np.random.default_rng(0).standard_normal((3, 4))
    with G.Session() as s:
        out = s.run({"v": vals, "pair": (idx, [x.sum()])}, {x: a})
    np.testing.assert_array_equal(out["v"], a.max(1))
    np.testing.assert_array_equal(out["pair"][0], a.argmax(1))
    assert isinstance(out["pair"][1], list)
    np.testing.assert_allclose(out["pair"][1][0], a.sum(), rtol=RTOL)


# ---- feeding ----------------------------------------------------------------------------

def test_feed_casts_dtype_and_checks_shape():
    x = G.placeholder(yingshe.float32, [None, 2], name="x")
    with G.Session() as s:
        out = s.run(x * 1, {x: np.array([[1, 2]], dtype=np.int64)})
        assert out.dtype == np.float32
        with pytest.raises(ValueError, match=r"shape \(3,\).*'x:0'.*\(\?, 2\).*test_graph.py"):
            s.run(x * 1, {x: np.ones(3)})


def test_missing_and_unknown_feeds():
    x = G.placeholder(f64, [2], name="inp")
    y = x + 1
    with G.Session() as s:
        with pytest.raises(G.FeedError, match="placeholder 'inp'.*test_graph.py"):
            s.run(y)
        with pytest.raises(G.FeedError, match="names no tensor"):
            s.run(y, {x: [1.0, 2.0], "nope:0": 1.0})
        with pytest.raises(G.FeedError):
            s.run(y, {3: 1.0})
        np.testing.assert_array_equal(s.run(y, {"inp:0": [1.0, 2.0]}), [2.0, 3.0])
    assert issubclass(G.FeedError, ValueError) and issubclass(G.FeedError, RuntimeError)


def test_uninitialized_variable():
    w = G.Variable(np.ones(2), name="w")
    with G.Session() as s:
        with pytest.raises(G.UninitializedVariableError, match="'w'.*test_graph.py"):
            s.run(G.read(w) * 2)
        s.run(G.global_variables_initializer())
        np.testing.assert_array_equal(s.run(G.read(w) * 2), [2.0, 2.0])


# ---- state ------------------------------------------------------------------------------

def test_assign_ops_are_ordered_and_global():
    v = G.Variable(np.zeros(2), name="v")
    add = G.assign_add(v, np.ones(2))
    sub = G.assign_sub(v, [0.5, 0.5])
    with G.Session() as s:
        s.run(G.global_variables_initializer())
        s.run(add)
        np.testing.assert_array_equal(s.run(v), [1.0, 1.0])
        got = s.run([add, sub])          # creation order: add, then sub
        np.testing.assert_array_equal(got[0], [2.0, 2.0])
        np.testing.assert_array_equal(got[1], [1.5, 1.5])
    assert v.initialized and v._vc[0] >= 3
    np.testing.assert_array_equal(v.detach().numpy(), [1.5, 1.5])   # visible eagerly
    with G.Session() as s2:             # values are per process, not per session
        np.testing.assert_array_equal(s2.run(v), [1.5, 1.5])


def test_initializer_reruns_only_graph_variables():
    p = yingshe.nn.Parameter(yingshe.ones(2, dtype=f64))
    v = G.Variable(np.full(2, 3.0))
    loss = (p * G.read(v)).sum()
    with G.Session() as s:
        s.run(G.global_variables_initializer())
        s.run(G.assign(v, [7.0, 7.0]))
        with yingshe.no_grad():
            p.mul_(2)
        np.testing.assert_allclose(s.run(loss), 28.0)
        s.run(G.global_variables_initializer())
        np.testing.assert_allclose(s.run(loss), 12.0)   # v reset, p (eager) kept
    (gp, gv) = G.gradients(loss, [p, v])
    with G.Session() as s:
        np.testing.assert_allclose(s.run(gp), [3.0, 3.0])


def test_random_ops_draw_at_run_time():
    yingshe.manual_seed(3)
    r = G.random_normal([4], dtype=f64)
    with G.Session() as s:
        a, b = s.run(r), s.run(r)
    assert not np.array_equal(a, b)
    yingshe.manual_seed(3)
    want = yingshe.randn(4, dtype=f64).numpy()
    np.testing.assert_array_equal(a, want)


# ---- gradients --------------------------------------------------------------------------

def test_gradients_none_for_unconnected_and_stop_gradient():
    x = G.placeholder(f64, [3])
    z = G.placeholder(f64, [3])
    y = (x * G.stop_gradient(x * 3)).sum()
    gx, gz = G.gradients(y, [x, z])
    assert gz is None
    a = np.array([1.0, 2.0, 3.0])
    with G.Session() as s:
        np.testing.assert_allclose(s.run(gx, {x: a}), 3 * a, rtol=RTOL)


def test_gradients_of_gradients():
    x = G.placeholder(f64, [4])
    y = (yingshe.sin(x) * x ** 3).sum()
    (g1,) = G.gradients(y, x)
    (g2,) = G.gradients(g1.sum(), x)
    a = np.linspace(-1, 1, 4)
    t = yingshe.tensor(a, requires_grad=True)
    (e1,) = yingshe.autograd.grad((yingshe.sin(t) * t ** 3).sum(), t, create_graph=True)
    (e2,) = yingshe.autograd.grad(e1.sum(), t)
    with G.Session() as s:
        r1, r2 = s.run([g1, g2], {x: a})
    np.testing.assert_allclose(r1, e1.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(r2, e2.numpy(), rtol=RTOL, atol=ATOL)


def test_gradients_with_unknown_batch_dim_are_expanded_per_feed_shape():
    x = G.placeholder(f64, [None, 2])
    w = G.Variable(np.array([[1.0], [-2.0]]))
    loss = ((x @ w) ** 2).mean()
    (gw,) = G.gradients(loss, w)
    (gx,) = G.gradients(loss, x)
    with G.Session() as s:
        s.run(G.global_variables_initializer())
        for n in (1, 5):
            a = np.random.default_rng(n).standard_normal((n, 2))
            t = yingshe.tensor(a, requires_grad=True)
            wt = yingshe.tensor(w.detach().numpy(), requires_grad=True)
            ew, ex = yingshe.autograd.grad(((t @ wt) ** 2).mean(), [wt, t])
            rw, rx = s.run([gw, gx], {x: a})
            np.testing.assert_allclose(rw, ew.numpy(), rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(rx, ex.numpy(), rtol=RTOL, atol=ATOL)


def test_nn_module_runs_on_symbols():
    yingshe.manual_seed(0)
    lin = yingshe.nn.Linear(3, 2).double()
    x = G.placeholder(f64, [4, 3])
    loss = yingshe.tanh(lin(x)).pow(2).sum()
    grads = G.gradients(loss, list(lin.parameters()))
    a = np.random.default_rng(0).standard_normal((4, 3))
    eager = yingshe.tanh(lin(yingshe.tensor(a))).pow(2).sum()
    eager.backward()
    with G.Session() as s:
        got = s.run(grads, {x: a})
    for g, p in zip(got, lin.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=RTOL, atol=ATOL)


# ---- passes -----------------------------------------------------------------------------

def _program(fetches, feeds):
    return prune(fetches, list(feeds))


def _check_same(before, after, feeds):
    vals = [np.asarray(feeds[s]) for s in before.feeds]
    want = run_program(before, vals)
    got = run_program(after, [np.asarray(feeds[s]) for s in after.feeds])
    gen = generate(after)([np.asarray(feeds[s]) for s in after.feeds])
    for w, g, c in zip(want, got, gen):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(c, w, rtol=RTOL, atol=ATOL)


def test_fold_computes_constant_subgraphs_but_not_reads_or_random():
    x = G.placeholder(f64, [2])
    v = G.Variable(np.ones(2))
    c = yingshe.exp(G.constant([1.0, 2.0])) * 3
    y = x + c + G.read(v) * 2 + G.random_uniform([2], dtype=f64) * 0
    p = _program([y], [x])
    q = fold(p)
    G.verify(q)
    assert p.count("exp") == 1 and q.count("exp") == 0
    assert q.count("read") == 1 and q.count("uniform") == 1
    assert len(dce(q)) < len(p)
    s = G.Session()
    s.run(G.global_variables_initializer())
    _check_same(p, dce(q), {x: np.array([0.5, -1.0])})


def test_cse_merges_equal_nodes_only():
    x = G.placeholder(f64, [3])
    a = yingshe.tanh(x) * 2
    b = yingshe.tanh(x) * 2
    r1 = G.random_normal([3], dtype=f64)
    r2 = G.random_normal([3], dtype=f64)
    p = _program([a + b, r1 - r2], [x])
    q = dce(cse(p))
    G.verify(q)
    assert p.count("tanh") == 2 and q.count("tanh") == 1 and q.count("mul") == 1
    assert q.count("normal") == 2
    a0 = np.array([0.1, 0.2, 0.3])
    want = run_program(p, [a0])[0]
    np.testing.assert_allclose(run_program(q, [a0])[0], want, rtol=RTOL)


def test_simplify_identities_transposes_reshapes():
    x = G.placeholder(f64, [2, 3])
    y = ((x * 1 + 0) / 1).t().t()
    z = x.reshape(3, 2).reshape(6).reshape(2, 3)
    w = x.permute(1, 0).permute(1, 0)
    p = _program([y + z + w], [x])
    q = dce(simplify(p))
    G.verify(q)
    for op in ("mul", "div", "transpose", "reshape", "permute"):
        assert q.count(op) == 0, op
    assert q.count("add") == 2
    _check_same(p, q, {x: np.arange(6.0).reshape(2, 3)})


def test_simplify_keeps_broadcasting_identities():
    x = G.placeholder(f64, [3])
    y = x * G.constant(np.ones((2, 3)))      # broadcasts: not an identity
    q = dce(simplify(_program([y], [x])))
    assert q.count("mul") == 1


def test_dce_and_verify_catch_problems():
    x = G.placeholder(f64, [2])
    y = (x + 1) * 2                                    # two op nodes
    p = _program([y], [x])
    p.nodes.append(G.get_default_graph().nodes[-1])   # a duplicate
    with pytest.raises(G.VerifyError, match="twice"):
        G.verify(p)
    q = _program([y], [x])
    q.nodes.reverse()                                  # use before definition
    with pytest.raises(G.VerifyError, match="before it is defined"):
        G.verify(q)


def test_pipeline_on_a_training_step_equals_unoptimised():
    x = G.placeholder(f64, [None, 3])
    t = G.placeholder(f64, [None, 1])
    w = G.Variable(np.array([[0.1], [0.2], [0.3]]))
    loss = ((x @ w - t) ** 2).mean() * 1.0 + 0.0
    gw = G.gradients(loss, [w])[0]
    a = np.random.default_rng(0).standard_normal((5, 3))
    b = np.random.default_rng(1).standard_normal((5, 1))
    with G.Session(optimize=False, executor="interpreter") as s0, G.Session() as s1:
        s0.run(G.global_variables_initializer())
        want = s0.run([loss, gw], {x: a, t: b})
        got = s1.run([loss, gw], {x: a, t: b})
        text = s1.explain([loss, gw], {x: a, t: b})
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=RTOL, atol=ATOL)
    assert "def graph_program(feeds):" in text and "matmul" in text


def test_generated_code_matches_interpreter_on_a_graph():
    x = G.placeholder(f64, [4, 3])
    y = yingshe.softmax(x, 1).log().sum(0)
    z = yingshe.cat([y, y * 2]).sort()[0]
    p = optimize(_program([z, y], [x]))
    a = np.random.default_rng(2).standard_normal((4, 3))
    want = run_program(p, [a])
    fn = generate(p)
    got = fn([a])
    assert fn.source.count("\n") >= len(p.nodes)
    for g, w_ in zip(got, want):
        np.testing.assert_array_equal(g, w_)


def test_masked_select_with_a_symbolic_mask_is_refused_not_wrong():
    """Its output length depends on the mask's values: a graph must not guess it."""
    from yingshe.errors import UnsupportedError
    x = G.placeholder(yingshe.float32, shape=[3])
    m = G.placeholder(yingshe.bool, shape=[3])
    with pytest.raises(UnsupportedError, match="masked_select"):
        yingshe.masked_select(x, m)


def test_gradient_through_sum_over_an_unknown_batch_dim_runs():
    """sum's VJP expands to the input's shape, (None, 1) at build time: the gradients
    are deferred until the feed fixes it (they were built with a None in an attribute
    and failed at run time)."""
    x = G.placeholder(f64, [None, 3])
    w = G.Variable(np.array([[1.0], [2.0], [3.0]]))
    (gw,) = G.gradients((x @ w).sum() * 2.0, [w])
    a = np.random.default_rng(3).standard_normal((4, 3))
    with G.Session() as s:
        s.run(G.global_variables_initializer())
        got = s.run(gw, {x: a})
    np.testing.assert_allclose(got, 2.0 * a.sum(0).reshape(3, 1), rtol=RTOL, atol=ATOL)
