"""The tutorial's TF1 programs written with yingshe.graph converge to the known optimum."""

import numpy as np
import pytest

import yingshe
import yingshe.graph as G


@pytest.fixture(autouse=True)
def fresh_graph():
    G.reset_default_graph()
    yield
    G.reset_default_graph()


@pytest.mark.parametrize("executor", ["codegen", "interpreter"])
def test_linear_regression_reaches_least_squares(executor):
    rng = np.random.default_rng(0)
    n, d = 200, 3
    X = rng.standard_normal((n, d))
    y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * rng.standard_normal((n, 1))

    yingshe.manual_seed(0)
    x_ph = G.placeholder(yingshe.float64, shape=[None, d], name="x")
    y_ph = G.placeholder(yingshe.float64, shape=[None, 1], name="y")
    W = G.Variable(yingshe.randn(d, 1, dtype=yingshe.float64), name="W")
    b = G.Variable(yingshe.randn(1, dtype=yingshe.float64), name="b")
    pred = yingshe.add(yingshe.matmul(x_ph, W), b)
    loss = yingshe.mean((pred - y_ph) ** 2)
    train = G.train.GradientDescentOptimizer(0.1).minimize(loss)
    init = G.global_variables_initializer()

    with G.Session(executor=executor) as sess:
        sess.run(init)
        for _ in range(500):
            sess.run(train, feed_dict={x_ph: X, y_ph: y})
        w_got, b_got, final = sess.run([W, b, loss], {x_ph: X, y_ph: y})

    A = np.hstack([X, np.ones((n, 1))])
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    np.testing.assert_allclose(w_got, sol[:d], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(b_got, sol[d], rtol=1e-6, atol=1e-8)
    best = np.mean((A @ sol - y) ** 2)
    np.testing.assert_allclose(final, best, rtol=1e-8)
    # values are global: the same arrays are visible eagerly
    np.testing.assert_allclose(W.detach().numpy(), w_got)


def test_logistic_regression_matches_sklearn():
    import sklearn.linear_model as sklearn
    rng = np.random.default_rng(1)
    n, d = 300, 2
    X = rng.standard_normal((n, d))
    logits = X @ np.array([2.0, -1.0]) + 0.5
    Y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.float64)[:, None]

    x_ph = G.placeholder(yingshe.float64, [None, d])
    y_ph = G.placeholder(yingshe.float64, [None, 1])
    W = G.Variable(np.zeros((d, 1)), name="W")
    b = G.Variable(np.zeros(1), name="b")
    z = x_ph @ W + b
    loss = yingshe.nn.functional.binary_cross_entropy_with_logits(z, y_ph)
    train = G.train.GradientDescentOptimizer(1.0).minimize(loss)
    with G.Session() as sess:
        sess.run(G.global_variables_initializer())
        for _ in range(2000):
            sess.run(train, {x_ph: X, y_ph: Y})
        w_got, b_got = sess.run((W, b))
    ref = sklearn.LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(X, Y[:, 0])
    np.testing.assert_allclose(w_got[:, 0], ref.coef_[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b_got, ref.intercept_, rtol=1e-4, atol=1e-5)
