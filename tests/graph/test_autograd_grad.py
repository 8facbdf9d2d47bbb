"""``yingshe.autograd.grad`` (``torch.autograd.grad``) on graph values: in a TF1-style
graph and inside ``yingshe.compile`` it adds the gradient as graph nodes
(``yingshe.graph.gradients``), so model code that calls it runs unchanged in both."""

import numpy as np
import pytest

import yingshe
import yingshe.graph as G


def test_first_and_second_derivatives_in_a_graph_equal_the_closed_forms():
    G.reset_default_graph()
    x = G.placeholder(yingshe.float64, [3])
    (dx,) = yingshe.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (ddx,) = yingshe.autograd.grad(dx.sum(), x)
    xv = np.array([1.0, -2.0, 0.5])
    with G.Session() as s:
        got_dx, got_ddx = s.run([dx, ddx], {x: xv})
    np.testing.assert_allclose(got_dx, 3 * xv ** 2, rtol=1e-15)
    np.testing.assert_allclose(got_ddx, 6 * xv, rtol=1e-15)


def test_unused_inputs_follow_torch_rules_in_a_graph():
    G.reset_default_graph()
    x = G.placeholder(yingshe.float64, [2])
    z = G.placeholder(yingshe.float64, [2])
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="not to have been used"):
        yingshe.autograd.grad(y, (x, z))
    gx, gz = yingshe.autograd.grad(y, (x, z), allow_unused=True)
    assert gz is None
    gx, gz = yingshe.autograd.grad(y, (x, z), materialize_grads=True)
    with G.Session() as s:
        vx, vz = s.run([gx, gz], {x: np.ones(2), z: np.ones(2)})
    np.testing.assert_array_equal(vx, [2.0, 2.0])
    np.testing.assert_array_equal(vz, [0.0, 0.0])


def test_a_gradient_penalty_step_compiled_equals_eager():
    """loss = |d(out)/d(x)|^2 (a WGAN-GP-style penalty): autograd.grad with create_graph
    inside the step, then backward to the weights."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3))
    xs = [rng.standard_normal((5, 4)) for _ in range(3)]

    def run(compiled):
        w = yingshe.tensor(w0.copy(), requires_grad=True)

        def step(x):
            out = yingshe.tanh(x @ w).sum()
            (gx,) = yingshe.autograd.grad(out, x, create_graph=True)
            penalty = (gx * gx).sum()
            penalty.backward()
            return penalty

        f = yingshe.compile(step) if compiled else step
        values, grads = [], []
        for x in xs:
            w.grad = None
            values.append(f(yingshe.tensor(x, requires_grad=True)).item())
            grads.append(w.grad.numpy().copy())
        return values, grads

    (ev, eg), (cv, cg) = run(False), run(True)
    np.testing.assert_allclose(cv, ev, rtol=1e-12)
    for a, b in zip(cg, eg):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
