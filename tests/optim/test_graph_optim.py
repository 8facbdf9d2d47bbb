"""``yingshe.optim`` optimizers in static graphs (``opt.minimize(loss)``): the update is
the optimizer's own code written into the graph, so a Session loop must follow the
eager loop (``loss.backward(); opt.step()``) from the same weights, step for step, at
DESIGN's graph-vs-eager tolerance (float64)."""

import numpy as np
import pytest

import yingshe as Y
import yingshe.graph as G
from yingshe.testing.tolerances import tol

RTOL, ATOL = tol("graph", np.float64)
STEPS = 15

OPTIMIZERS = {
    "sgd": lambda ps: Y.optim.SGD(ps, lr=0.05),
    "momentum": lambda ps: Y.optim.SGD(ps, lr=0.05, momentum=0.9),
    "nesterov-wd": lambda ps: Y.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                          weight_decay=1e-2),
    "sgd-keras": lambda ps: Y.optim.SGD(ps, lr=0.05, momentum=0.8, variant="keras"),
    "adam": lambda ps: Y.optim.Adam(ps, lr=0.05),
    "adam-tf1": lambda ps: Y.optim.Adam(ps, lr=0.05, variant="tf1"),
    "adamw-amsgrad": lambda ps: Y.optim.AdamW(ps, lr=0.05, amsgrad=True),
    "rmsprop-centered": lambda ps: Y.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "rmsprop-tf1": lambda ps: Y.optim.RMSprop(ps, lr=0.01, momentum=0.5, variant="tf1"),
    "adagrad": lambda ps: Y.optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
}


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3))
    t = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 + 0.1 * rng.standard_normal((32, 1))
    return x, t, rng.standard_normal((3, 1)) * 0.1


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_graph_minimize_follows_the_eager_step(name):
    make = OPTIMIZERS[name]
    X, T, w0 = _data()
    G.reset_default_graph()
    x = G.placeholder(Y.float64, [None, 3])
    t = G.placeholder(Y.float64, [None, 1])
    w = G.Variable(w0.copy(), name="w")
    b = G.Variable(np.zeros(1), name="b")
    loss = ((x @ w + b - t) ** 2).mean()
    train = make([w, b]).minimize(loss)
    graph_losses = []
    with G.Session() as s:
        s.run(G.global_variables_initializer())
        for _ in range(STEPS):
            graph_losses.append(s.run([loss, train], {x: X, t: T})[0])
    we = Y.tensor(w0.copy(), requires_grad=True)
    be = Y.zeros(1, dtype=Y.float64, requires_grad=True)
    opt = make([we, be])
    eager_losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        lo = ((Y.tensor(X) @ we + be - Y.tensor(T)) ** 2).mean()
        lo.backward()
        opt.step()
        eager_losses.append(lo.item())
    np.testing.assert_allclose(graph_losses, eager_losses, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(w._data, we.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(b._data, be.detach().numpy(), rtol=RTOL, atol=ATOL)
    assert eager_losses[-1] < eager_losses[0]   # it trains


def test_state_is_made_of_non_trainable_variables_reset_by_the_initializer():
    X, T, w0 = _data()
    G.reset_default_graph()
    x = G.placeholder(Y.float64, [None, 3])
    w = G.Variable(w0.copy(), name="w")
    loss = ((x @ w) ** 2).mean()
    opt = Y.optim.Adam([w], lr=0.1)
    train = opt.minimize(loss)
    assert G.trainable_variables() == [w]
    state = [v for v in G.global_variables() if v is not w]
    assert len(state) == 3 and all(not v.trainable for v in state)  # step, m, v
    with G.Session() as s:
        s.run(G.global_variables_initializer())
        first = [s.run([loss, train], {x: X})[0] for _ in range(3)]
        s.run(G.global_variables_initializer())   # back to the start, moments included
        again = [s.run([loss, train], {x: X})[0] for _ in range(3)]
    np.testing.assert_array_equal(first, again)


def test_apply_gradients_and_clear_errors():
    G.reset_default_graph()
    x = G.placeholder(Y.float64, [None, 3])
    w = G.Variable(np.ones((3, 1)), name="w")
    other = G.Variable(np.ones((3, 1)), name="other")
    loss = (x @ w).sum()
    opt = Y.optim.SGD([w], lr=0.1)
    (gw,) = G.gradients(loss, [w])
    with pytest.raises(ValueError, match="'other' is not one of the optimizer's parameters"):
        opt.apply_gradients([(gw, other)])
    with pytest.raises(ValueError, match="no gradients"):
        opt.apply_gradients([(None, w)])
    with pytest.raises(TypeError, match="graph tensor"):
        Y.optim.SGD([Y.ones(2, requires_grad=True)], lr=0.1).minimize(Y.ones(2).sum())
    with pytest.raises(NotImplementedError, match="dampening"):
        Y.optim.SGD([w], lr=0.1, momentum=0.9, dampening=0.5).minimize(loss)
    train = opt.apply_gradients([(gw, w)])
    with G.Session() as s:
        s.run(G.global_variables_initializer())
        s.run(train, {x: np.ones((2, 3))})
    np.testing.assert_allclose(w._data, np.ones((3, 1)) - 0.1 * 2.0)
