"""Indexing by graph tensors: ``w[ids]`` with ``ids`` a placeholder (an embedding lookup
in a TF1-style graph, a batch of positions in ``yingshe.compile``). The values exist
only at run time, so the index is an input of the ``index`` node; a boolean mask would
make the result's shape depend on the values and is refused while the graph is built."""

import numpy as np
import pytest

import yingshe
import yingshe.graph as G
from yingshe.errors import UnsupportedError


def test_lookup_by_placeholder_positions_and_its_gradient():
    G.reset_default_graph()
    table = np.arange(20.0).reshape(5, 4)
    w = G.Variable(table.copy())
    ids = G.placeholder(yingshe.int64, [None], name="ids")
    rows = w[ids]                       # (None, 4)
    loss = (rows * rows).sum()
    (gw,) = G.gradients(loss, [w])
    with G.Session() as s:
        s.run(G.global_variables_initializer())
        for feed in ([0, 3, 3], [4], [1, 2, 0, 0, 4]):
            got_rows, got_gw = s.run([rows, gw], {ids: np.array(feed)})
            np.testing.assert_array_equal(got_rows, table[feed])
            want = np.zeros_like(table)
            np.add.at(want, np.array(feed), 2 * table[feed])   # repeats accumulate
            np.testing.assert_array_equal(got_gw, want)


def test_int32_positions_on_a_middle_dim_and_index_put():
    G.reset_default_graph()
    x = G.placeholder(yingshe.float64, [2, 5, 3])
    j = G.placeholder(yingshe.int32, [4])
    picked = x[:, j]
    put = yingshe.index_put(x, (None, j), G.constant(np.ones((2, 4, 3))), accumulate=True)
    xv = np.random.default_rng(0).standard_normal((2, 5, 3))
    jv = np.array([4, 0, 0, -1], dtype=np.int32)
    with G.Session() as s:
        got, got_put = s.run([picked, put], {x: xv, j: jv})
    np.testing.assert_array_equal(got, xv[:, jv])
    want = xv.copy()
    np.add.at(want, (slice(None), jv), 1.0)
    np.testing.assert_array_equal(got_put, want)


def test_an_out_of_range_position_fails_at_run_time_naming_it():
    G.reset_default_graph()
    x = G.placeholder(yingshe.float64, [3])
    i = G.placeholder(yingshe.int64, [None])
    y = x[i]
    with G.Session() as s, pytest.raises(IndexError, match="index 7 is out of bounds"):
        s.run(y, {x: np.zeros(3), i: np.array([0, 7])})


def test_a_boolean_mask_is_refused_while_building():
    G.reset_default_graph()
    x = G.placeholder(yingshe.float64, [3, 4])
    with pytest.raises(UnsupportedError, match="mask.*shape would depend on the mask's"):
        x[x > 0]


def test_compiled_function_indexing_with_an_argument_equals_eager():
    def f(emb, ids):
        return (emb[ids] * 2.0).sum(1)

    compiled = yingshe.compile(f)
    emb = yingshe.tensor(np.random.default_rng(1).standard_normal((6, 3)))
    for ids in ([5, 0, 2], [1, 1], [3, 4, 0, 2]):
        t = yingshe.tensor(np.array(ids))
        np.testing.assert_array_equal(compiled(emb, t).numpy(), f(emb, t).numpy())
    assert compiled.traces >= 1
