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
