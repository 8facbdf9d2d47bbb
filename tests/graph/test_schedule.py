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
