"""Which Variable reads the generated code copies (``schedule.reads_to_copy``).

A read hands out the Variable's own buffer; an assign to the Variable while a read (or a
view of it) is still needed would change the value under the reader. The oracle is the
plain interpreter, which copies every read of an assigned Variable; the generated code
must print the same numbers while copying only where it has to.
"""

import numpy as np

import yingshe
import yingshe.graph as G
from yingshe.graph.codegen import generate
from yingshe.graph.interpreter import run_program
from yingshe.graph.passes import optimize, prune
from yingshe.graph.schedule import reads_to_copy

f64 = yingshe.float64


def _fresh_var(value):
    G.reset_default_graph()
    w = G.Variable(np.array(value, dtype=np.float64))
    with G.Session() as s:
        s.run(G.global_variables_initializer())
    return w


def _both(fetches, feeds=(), values=(), var=None, init=None):
    """Run the program through the interpreter and the generated code from the same
    initial Variable value; returns (interpreted, generated, program)."""
    p = optimize(prune(fetches, list(feeds)))
    results = []
    for runner in (lambda: run_program(p, list(values)), lambda: generate(p)(list(values))):
        var._data[...] = init
        results.append([None if r is None else np.array(r, copy=True) for r in runner()])
    return results[0], results[1], p


def test_a_view_of_a_read_used_after_the_assign_is_protected():
    init = [[1.0, 2.0], [3.0, 4.0]]
    w = _fresh_var(init)
    r = G.read(w)
    wt = r.t()                          # a view of the Variable's buffer
    a = G.assign(w, r * 10.0)
    y = wt * 3.0                        # built after the assign: runs after it
    want, got, p = _both([y, a], var=w, init=init)
    np.testing.assert_array_equal(got[0], np.array(init).T * 3.0)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(w._data, np.array(init) * 10.0)
    assert len(reads_to_copy(p)) == 1


def test_reads_used_up_before_the_assign_are_not_copied():
    """A training step: the forward and backward reads of the weight end before the
    optimizer's assign, so no copy; the numbers equal the interpreter's."""
    init = [[0.1], [0.2], [0.3]]
    w = _fresh_var(init)
    x = G.placeholder(f64, [5, 3])
    t = G.placeholder(f64, [5, 1])
    loss = ((x @ w - t) ** 2).mean()
    (gw,) = G.gradients(loss, [w])
    step = G.assign_sub(w, gw * 0.1)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
    want, got, p = _both([loss, step], [x, t], [a, b], var=w, init=init)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    assert sum(n.kind == "read" for n in p.nodes) >= 1
    assert reads_to_copy(p) == frozenset()


def test_a_fetched_read_is_a_copy_not_the_variable_buffer():
    w = _fresh_var([1.0, 2.0])
    r = G.read(w)
    p = optimize(prune([r], []))
    out = generate(p)([])[0]
    assert not np.shares_memory(out, w._data)
    np.testing.assert_array_equal(out, w._data)


# ---- ops that compute straight into the assigned Variable (writes_into_variables) ------

from yingshe.graph.schedule import writes_into_variables  # noqa: E402


def _two_vars(a, b):
    G.reset_default_graph()
    v = G.Variable(np.array(a, dtype=np.float64))
    w = G.Variable(np.array(b, dtype=np.float64))
    with G.Session() as s:
        s.run(G.global_variables_initializer())
    return v, w


def _both2(fetches, v, w, init_v, init_w):
    """Interpreter vs generated code from the same initial values of two Variables;
    returns (interpreted, generated, final values (interp, gen), program)."""
    p = optimize(prune(fetches, []))
    results, finals = [], []
    for runner in (lambda: run_program(p, []), lambda: generate(p)([])):
        v._data[...] = init_v
        w._data[...] = init_w
        results.append([None if r is None else np.array(r, copy=True) for r in runner()])
        finals.append((v._data.copy(), w._data.copy()))
    return results[0], results[1], finals, p


def test_a_momentum_update_runs_in_place_with_the_interpreters_numbers():
    """buf = 0.9 * buf + g; p = p - 0.1 * buf: both results are computed into their
    Variables (no allocation, no assign copy), and buf's new value, read again by the
    parameter update after its assign, is the Variable's buffer itself."""
    buf, p = _two_vars([0.5, -1.0, 2.0], [1.0, 2.0, 3.0])
    g = G.constant(np.array([0.1, 0.2, 0.3]))
    new_buf = G.read(buf) * 0.9 + g
    a1 = G.assign(buf, new_buf)          # stateful nodes run in creation order
    a2 = G.assign(p, G.read(p) - new_buf * 0.1)
    want, got, finals, prog = _both2([a2, a1], buf, p, [0.5, -1.0, 2.0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(got[0], want[0])
    for x, y in zip(*finals):
        np.testing.assert_array_equal(x, y)
    chosen = writes_into_variables(prog)
    assert len(chosen) == 2
    assert generate(prog).source.count("assign_written(") == 2


def test_a_read_between_the_op_and_its_assign_keeps_the_assign():
    """y reads w after the op that computes w's new value but before the assign: y must
    see the old value, so the op may not write into w early."""
    w, _ = _two_vars([1.0, 2.0], [0.0, 0.0])
    new = G.read(w) * 10.0
    y = G.read(w) * 3.0            # created (so scheduled) between the op and the assign
    a = G.assign(w, new)
    want, got, finals, prog = _both2([y, a], w, _, [1.0, 2.0], [0.0, 0.0])
    np.testing.assert_array_equal(got[0], [3.0, 6.0])
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(finals[1][0], [10.0, 20.0])
    assert writes_into_variables(prog) == {}


def test_a_result_still_needed_after_a_second_write_is_not_the_variables_buffer():
    w, _ = _two_vars([1.0, 2.0], [0.0, 0.0])
    first = G.read(w) + 1.0
    a1 = G.assign(w, first)
    a2 = G.assign(w, G.constant(np.array([-5.0, -5.0])) * 2.0)
    y = a2 * 0.0 + first * 2.0     # needs first's value after w was overwritten
    want, got, finals, prog = _both2([y, a1], w, _, [1.0, 2.0], [0.0, 0.0])
    np.testing.assert_array_equal(got[0], [4.0, 6.0])
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(finals[1][0], [-10.0, -10.0])
    assert all(prog.nodes[i].op.name != "add" for i in writes_into_variables(prog))


def test_a_fetched_or_broadcast_result_keeps_the_assign():
    w, _ = _two_vars([[1.0, 2.0], [3.0, 4.0]], [0.0])
    row = G.constant(np.array([1.0, 1.0])) * 7.0      # (2,): broadcast into (2, 2)
    a = G.assign(w, row)
    fetched = G.read(_) + 1.0
    a2 = G.assign(_, fetched)
    want, got, finals, prog = _both2([a, fetched, a2], w, _, [[1.0, 2.0], [3.0, 4.0]],
                                     [0.0])
    assert writes_into_variables(prog) == {}
    np.testing.assert_array_equal(finals[1][0], [[7.0, 7.0], [7.0, 7.0]])
    for x, y in zip(got, want):
        np.testing.assert_array_equal(x, y)
    assert not np.shares_memory(generate(prog)([])[1], _._data)


# ---- fused optimizer updates written straight into their Variables (schedule.INPLACE) --

import pytest  # noqa: E402

from yingshe.backend import jit  # noqa: E402
from yingshe.testing.tolerances import tol  # noqa: E402

_BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not jit.available(), reason="numba is not installed"))]
_OPTIMIZERS = {
    "sgd": lambda T: T.GradientDescentOptimizer(0.1),
    "momentum": lambda T: T.MomentumOptimizer(0.1, 0.9),
    "nesterov": lambda T: T.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
    "adam": lambda T: T.AdamOptimizer(0.05),
    "rmsprop": lambda T: T.RMSPropOptimizer(0.05, momentum=0.5),
    "adagrad": lambda T: T.AdagradOptimizer(0.1),
}


def _train(make_opt, **session):
    """Three steps of a TF1 linear regression; returns (losses, final Variables, each
    Variable's buffer identity kept, generated source)."""
    import yingshe.optim  # noqa: F401  (registers G.train)
    G.reset_default_graph()
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    X, Y = G.placeholder(f64, [None, 3]), G.placeholder(f64, [None, 2])
    W = G.Variable(rng.standard_normal((3, 2)), name="W")
    b = G.Variable(rng.standard_normal(2), name="b")
    loss = yingshe.mean((yingshe.add(yingshe.matmul(X, W), b) - Y) ** 2)
    train = make_opt(G.train).minimize(loss)
    with G.Session(**session) as sess:
        sess.run(G.global_variables_initializer())
        variables = list(G.get_default_graph().global_variables())
        buffers = [v._data for v in variables]
        losses = [sess.run([loss, train], {X: x, Y: y})[0] for _ in range(3)]
        kept = all(v._data is buf for v, buf in zip(variables, buffers))
        source = (sess.explain([loss, train], {X: x, Y: y}).split("generated source:\n")[-1]
                  if session.get("executor") != "interpreter" else "")
        return losses, [np.array(v._data) for v in variables], kept, source


@pytest.mark.parametrize("backend", _BACKENDS)
@pytest.mark.parametrize("name", sorted(_OPTIMIZERS))
def test_fused_updates_write_straight_into_their_variables(name, backend):
    """Each fused update computes the parameter and its optimizer state into their
    Variables' own buffers (no fresh array, no ``assign_var`` copy), with the
    interpreter's numbers (it runs every assign as a copy)."""
    want = _train(_OPTIMIZERS[name], executor="interpreter")
    got = _train(_OPTIMIZERS[name], backend=backend)
    rtol, atol = tol("graph", np.float64)
    np.testing.assert_allclose(got[0], want[0], rtol=rtol, atol=atol)
    assert len(got[1]) == len(want[1]) >= 2
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    assert got[2]
    src = got[3]
    assert src.count("= inplace_") == 2, src    # one update per Variable W, b
    assert "assign_var(" not in src, src        # every assign is a mark, not a copy


@pytest.mark.parametrize("backend", _BACKENDS)
@pytest.mark.parametrize("grad", ["transposed", "itself"])
def test_an_update_whose_gradient_is_its_own_variable_keeps_the_copy(grad, backend):
    """W -= 0.1 * W.T (and W -= 0.1 * W): the gradient is a view of the Variable written,
    so writing W's new value into its buffer could change the gradient under the update
    (today's kernels happen to copy a non-contiguous input first; the schedule does not
    rely on that): the update gets a fresh array and the assign copies it."""
    import yingshe.optim  # noqa: F401  (registers G.train)
    init = np.arange(9.0).reshape(3, 3)
    G.reset_default_graph()
    W = G.Variable(init.copy(), name="W")
    g = G.read(W).t() if grad == "transposed" else G.read(W)
    train = G.train.GradientDescentOptimizer(0.1).apply_gradients([(g, W)])
    with G.Session(backend=backend) as sess:
        sess.run(G.global_variables_initializer())
        sess.run(train)
        want = init - 0.1 * (init.T if grad == "transposed" else init)
        np.testing.assert_allclose(W._data, want, rtol=1e-15)
        src = sess.explain([train]).split("generated source:\n")[-1]
    assert "= inplace_" not in src, src
