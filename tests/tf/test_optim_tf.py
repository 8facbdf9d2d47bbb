"""yingshe.optim's TensorFlow variants vs real TensorFlow (TF1 ``tf.compat.v1.train``
optimizers applied eagerly, and Keras optimizers): same initial weights, the same
20 gradients, parameters equal at float32 tolerance."""

from __future__ import annotations

import os

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import require
from yingshe.testing.tolerances import tol

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHAPES = [(4, 3), (3,)]
STEPS = 20


@pytest.fixture(scope="module")
def tf():
    return require("tensorflow")


def _data(seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]
    return init, grads


def _run_tf(tf, make_opt, init, grads):
    variables = [tf.Variable(w.copy()) for w in init]
    opt = make_opt()
    for gs in grads:
        pairs = [(tf.constant(g), v) for g, v in zip(gs, variables)]
        opt.apply_gradients(pairs)
    return [v.numpy() for v in variables]


def _run_ours(cls, kwargs, init, grads):
    params = [yingshe.tensor(w.copy(), requires_grad=True) for w in init]
    opt = cls(params, **kwargs)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = yingshe.tensor(g.copy())
        opt.step()
    return [p.detach().numpy() for p in params]


def _compare(ours, ref):
    rtol, atol = tol("reference", np.float32)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


O = yingshe.optim

TF1_CASES = {
    "GradientDescent": (lambda t: t.GradientDescentOptimizer(0.1), O.SGD, dict(lr=0.1)),
    "Momentum": (lambda t: t.MomentumOptimizer(0.05, momentum=0.9), O.SGD,
                 dict(lr=0.05, momentum=0.9)),
    "Momentum-nesterov": (lambda t: t.MomentumOptimizer(0.05, momentum=0.9, use_nesterov=True),
                          O.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    "Adam": (lambda t: t.AdamOptimizer(0.01), O.Adam, dict(lr=0.01, eps=1e-8, variant="tf1")),
    "Adam-betas": (lambda t: t.AdamOptimizer(0.02, beta1=0.8, beta2=0.95, epsilon=1e-3), O.Adam,
                   dict(lr=0.02, betas=(0.8, 0.95), eps=1e-3, variant="tf1")),
    "RMSProp": (lambda t: t.RMSPropOptimizer(0.01), O.RMSprop,
                dict(lr=0.01, alpha=0.9, eps=1e-10, variant="tf1")),
    "RMSProp-momentum-centered": (
        lambda t: t.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5, epsilon=1e-4, centered=True),
        O.RMSprop, dict(lr=0.01, alpha=0.8, momentum=0.5, eps=1e-4, centered=True,
                        variant="tf1")),
    "Adagrad": (lambda t: t.AdagradOptimizer(0.1), O.Adagrad,
                dict(lr=0.1, initial_accumulator_value=0.1, eps=0.0, variant="tf")),
}


@pytest.mark.parametrize("which", sorted(TF1_CASES))
def test_tf1_train_optimizers(tf, which):
    make, cls, kwargs = TF1_CASES[which]
    init, grads = _data()
    ref = _run_tf(tf, lambda: make(tf.compat.v1.train), init, grads)
    _compare(_run_ours(cls, kwargs, init, grads), ref)


KERAS_CASES = {
    "SGD": (lambda k: k.SGD(0.1), O.SGD, dict(lr=0.1)),
    "SGD-momentum": (lambda k: k.SGD(0.05, momentum=0.9), O.SGD,
                     dict(lr=0.05, momentum=0.9, variant="keras")),
    "SGD-nesterov": (lambda k: k.SGD(0.05, momentum=0.9, nesterov=True), O.SGD,
                     dict(lr=0.05, momentum=0.9, nesterov=True, variant="keras")),
    "Adam": (lambda k: k.Adam(0.01), O.Adam, dict(lr=0.01, eps=1e-7, variant="keras")),
    "Adam-amsgrad": (lambda k: k.Adam(0.01, beta_1=0.8, epsilon=1e-3, amsgrad=True), O.Adam,
                     dict(lr=0.01, betas=(0.8, 0.999), eps=1e-3, amsgrad=True,
                          variant="keras")),
    "AdamW": (lambda k: k.AdamW(0.01, weight_decay=0.05), O.AdamW,
              dict(lr=0.01, eps=1e-7, weight_decay=0.05, variant="keras")),
    "RMSprop": (lambda k: k.RMSprop(0.01), O.RMSprop,
                dict(lr=0.01, alpha=0.9, eps=1e-7, variant="keras")),
    "RMSprop-momentum-centered": (
        lambda k: k.RMSprop(0.01, rho=0.8, momentum=0.5, epsilon=1e-4, centered=True),
        O.RMSprop, dict(lr=0.01, alpha=0.8, momentum=0.5, eps=1e-4, centered=True,
                        variant="keras")),
    "Adagrad": (lambda k: k.Adagrad(0.1), O.Adagrad,
                dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-7, variant="tf")),
}


@pytest.mark.parametrize("which", sorted(KERAS_CASES))
def test_keras_optimizers(tf, which):
    make, cls, kwargs = KERAS_CASES[which]
    init, grads = _data(1)
    ref = _run_tf(tf, lambda: make(tf.keras.optimizers), init, grads)
    _compare(_run_ours(cls, kwargs, init, grads), ref)


def test_variants_differ_from_torch_form(tf):
    """The options matter: PyTorch's forms do not match TF's numbers here."""
    init, grads = _data()
    ref = _run_tf(tf, lambda: tf.compat.v1.train.RMSPropOptimizer(0.01), init, grads)
    torch_form = _run_ours(O.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-10), init, grads)
    with pytest.raises(AssertionError):
        _compare(torch_form, ref)
    ref = _run_tf(tf, lambda: tf.compat.v1.train.AdamOptimizer(0.01, epsilon=1e-2), init, grads)
    torch_form = _run_ours(O.Adam, dict(lr=0.01, eps=1e-2), init, grads)
    with pytest.raises(AssertionError):
        _compare(torch_form, ref)
