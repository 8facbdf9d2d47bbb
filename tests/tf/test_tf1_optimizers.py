"""TF1 ``tf.compat.v1.train`` optimizers in a Session: the same graph program built with
real TensorFlow (in a ``tf.Graph``) and with ``yingshe.tf.compat.v1`` follows the same
loss trajectory and ends with the same weights (float32 parity tolerance)."""

from __future__ import annotations

import numpy as np
import pytest

import yingshe.tf.compat.v1 as ytf
from yingshe.testing.reference import require
from yingshe.testing.tolerances import tol

RTOL, ATOL = tol("trajectory", "float32")
STEPS = 25

OPTIMIZERS = {
    "gd": lambda t: t.train.GradientDescentOptimizer(0.1),
    "momentum": lambda t: t.train.MomentumOptimizer(0.05, 0.9),
    "nesterov": lambda t: t.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "adam": lambda t: t.train.AdamOptimizer(0.05),
    "adam-args": lambda t: t.train.AdamOptimizer(0.02, beta1=0.8, beta2=0.99, epsilon=1e-4),
    "rmsprop": lambda t: t.train.RMSPropOptimizer(0.01),
    "rmsprop-momentum-centered": lambda t: t.train.RMSPropOptimizer(
        0.01, decay=0.8, momentum=0.5, centered=True),
    "adagrad": lambda t: t.train.AdagradOptimizer(0.3),
}


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]]) + 0.3).astype(np.float32)
    w0 = (rng.standard_normal((4, 1)) * 0.1).astype(np.float32)
    return x, y, w0


def _program(t, make_opt, run_session):
    """The TF1 program, written once for real TF and for yingshe.tf.compat.v1."""
    X, Y, w0 = _data()
    x = t.placeholder(t.float32, [None, 4])
    y = t.placeholder(t.float32, [None, 1])
    w = t.Variable(w0)
    b = t.Variable(t.zeros([1]))
    loss = t.reduce_mean(t.square(t.matmul(x, w) + b - y))
    step = t.Variable(0, trainable=False)
    train = make_opt(t).minimize(loss, global_step=step)
    return run_session(t, [loss, train], {x: X, y: Y}, [w, b, step])


def _run(t, fetches, feed, variables):
    losses = []
    with t.Session() as s:
        s.run(t.global_variables_initializer())
        for _ in range(STEPS):
            losses.append(s.run(fetches, feed)[0])
        return losses, s.run(variables)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_tf1_optimizer_matches_tensorflow(name):
    tf = require("tensorflow")
    with tf.Graph().as_default():
        ref_losses, ref_vars = _program(tf.compat.v1, OPTIMIZERS[name], _run)
    with ytf.Graph().as_default():   # the same spelling on both sides
        losses, variables = _program(ytf, OPTIMIZERS[name], _run)
    np.testing.assert_allclose(losses, ref_losses, rtol=RTOL, atol=ATOL)
    for a, b in zip(variables, ref_vars):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    assert variables[2] == ref_vars[2] == STEPS   # global_step counted every run
    assert ref_losses[-1] < ref_losses[0]
