"""``tf.Module`` and ``tf.function`` against real TensorFlow: variable tracking, compiled
results equal to eager ones and to TensorFlow's, training steps with a GradientTape
inside the function, and the eager fallback (same numbers, one warning)."""

import warnings

import numpy as np
import pytest

from yingshe.testing.reference import require_module

tf = require_module("tensorflow")
import yingshe.tf as ytf  # noqa: E402

R = np.random.RandomState(3)
X = R.normal(size=(8, 3)).astype(np.float32)
Y = R.normal(size=(8, 1)).astype(np.float32)
W0 = R.normal(size=(3, 1)).astype(np.float32)


def _modules(t):
    class Dense(t.Module):
        def __init__(self, n_in, n_out, name=None):
            super().__init__(name=name)
            self.w = t.Variable(np.full((n_in, n_out), 0.5, np.float32), name="w")
            self.b = t.Variable(np.zeros(n_out, np.float32), name="b")
            self.count = t.Variable(0, trainable=False, name="count")

    class MLPModel(t.Module):
        def __init__(self):
            super().__init__()
            self.layers = [Dense(3, 4), Dense(4, 2, name="head")]
            self.extra = {"z": t.Variable(np.ones(5, np.float32)),
                          "a": t.Variable(np.ones(6, np.float32))}
            self.alias = self.layers[0]      # reported once

    return MLPModel()


def test_module_tracks_variables_like_tensorflow():
    ref, ours = _modules(tf), _modules(ytf)
    assert ours.name == ref.name == "mlp_model"
    for attr in ("variables", "trainable_variables", "non_trainable_variables"):
        r, o = getattr(ref, attr), getattr(ours, attr)
        assert [tuple(v.shape) for v in o] == [tuple(v.shape) for v in r], attr
        assert [v.trainable for v in o] == [v.trainable for v in r], attr
    assert [m.name for m in ours.submodules] == [m.name for m in ref.submodules]
    with pytest.raises(ValueError):
        ytf.Module(name="not valid")


def test_keras_layers_are_not_tracked_by_module():
    # Keras 3 layers are not tf.Module objects: a Module does not see their weights
    for t in (tf, ytf):
        m = t.Module()
        m.d = t.keras.layers.Dense(2)
        m.d(np.ones((1, 3), np.float32))
        assert len(m.trainable_variables) == 0


def _fwd(t, w):
    def f(x, scale=2.0):
        return t.reduce_sum(t.square(t.matmul(x, w) * scale - 1.0))
    return f


@pytest.mark.parametrize("form", ["decorator", "call", "call_kwargs"])
def test_function_forms_equal_eager(form):
    w = ytf.Variable(W0)
    f = _fwd(ytf, w)
    if form == "decorator":
        g = ytf.function(f)
    elif form == "call":
        g = ytf.function(f)
    else:
        g = ytf.function(reduce_retracing=True, jit_compile=True)(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = g(ytf.constant(X))
        b = g(ytf.constant(X))
        c = g(X, scale=3.0)        # NumPy argument, another Python value: a new trace
    ref_w = tf.Variable(W0)
    np.testing.assert_allclose(a.numpy(), f(ytf.constant(X)).numpy(), rtol=1e-6)
    np.testing.assert_allclose(a.numpy(), _fwd(tf, ref_w)(tf.constant(X)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(c.numpy(), _fwd(tf, ref_w)(tf.constant(X), 3.0).numpy(),
                               rtol=1e-5)
    assert b.numpy() == a.numpy()
    assert isinstance(a, ytf.Tensor) and a.dtype == ytf.float32
    assert g._compiled.traces == 2 and g._compiled.eager_calls == 0


def _train(t, optimizer, steps=5):
    w = t.Variable(W0, name="w")
    b = t.Variable(0.0, name="b")
    opt = optimizer(t)
    c = t.constant(0.1)

    @t.function
    def step(x, y):
        offset = w * c                   # computed outside the tape: a constant to it
        with t.GradientTape() as tape:
            pred = t.matmul(x, w) + b + t.reduce_sum(offset)
            loss = t.reduce_mean(t.square(pred - y))
        grads = tape.gradient(loss, [w, b])
        opt.apply_gradients(zip(grads, [w, b]))
        return loss, grads

    out = []
    for _ in range(steps):
        loss, grads = step(X, Y)
        out.append((loss.numpy(), [g.numpy() for g in grads]))
    return out, w.numpy(), b.numpy(), step


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_function_training_step_matches_tensorflow(opt):
    make = {"sgd": lambda t: t.keras.optimizers.SGD(0.1, momentum=0.9),
            "adam": lambda t: t.keras.optimizers.Adam(0.05)}[opt]
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # a compiled tape step warns about nothing
        ours, w, b, step = _train(ytf, make)
    ref, rw, rb, _ = _train(tf, make)
    # a trajectory: float32 rounding differences grow over steps (policy: rtol 1e-4)
    for (lo, go), (lr_, gr) in zip(ours, ref):
        np.testing.assert_allclose(lo, lr_, rtol=1e-4, atol=1e-6)
        for a, c in zip(go, gr):
            np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w, rw, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b, rb, rtol=1e-4, atol=1e-6)
    assert step._compiled.traces == 1     # the step is compiled, not run eagerly


def test_function_assign_sub_step_and_watch():
    def run(t):
        v = t.Variable(W0)

        @t.function
        def step(x):
            with t.GradientTape() as tape:
                tape.watch(x)
                loss = t.reduce_sum(t.tanh(t.matmul(x, v)))
            gv, gx = tape.gradient(loss, [v, x])
            v.assign_sub(0.5 * gv)
            return loss, gx
        outs = [step(t.constant(X)) for _ in range(3)]
        return [(a.numpy(), b.numpy()) for a, b in outs], v.numpy()
    ours, v1 = run(ytf)
    ref, v2 = run(tf)
    for (a, b), (c, d) in zip(ours, ref):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v1, v2, rtol=1e-5, atol=1e-6)


def test_function_under_outer_tape_is_differentiable():
    for t in (ytf,):
        w = t.Variable(W0)
        f = t.function(lambda x: t.reduce_sum(t.matmul(x, w) ** 2))
        with t.GradientTape() as tape:
            y = f(t.constant(X))
        g = tape.gradient(y, w).numpy()
    rw = tf.Variable(W0)
    rf = tf.function(lambda x: tf.reduce_sum(tf.matmul(x, rw) ** 2))
    with tf.GradientTape() as tape:
        ry = rf(tf.constant(X))
    np.testing.assert_allclose(g, tape.gradient(ry, rw).numpy(), rtol=1e-5)


def test_fallback_is_eager_with_one_warning():
    def f(x):
        if float(ytf.reduce_sum(x)) > 0:      # Python control flow on a tensor value
            return x * 2.0
        return x - 1.0
    g = ytf.function(f)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        a = g(ytf.constant(X))
        b = g(ytf.constant(-np.abs(X)))
        g(ytf.constant(X))
    assert len([w for w in rec if "tf.function" in str(w.message)]) == 1
    np.testing.assert_array_equal(a.numpy(), f(ytf.constant(X)).numpy())
    np.testing.assert_array_equal(b.numpy(), -np.abs(X) - 1.0)


def test_method_decorated_with_function():
    class Model(ytf.Module):
        def __init__(self):
            super().__init__()
            self.w = ytf.Variable(W0)

        @ytf.function
        def __call__(self, x):
            return ytf.matmul(x, self.w)
    m = Model()
    np.testing.assert_allclose(m(X).numpy(), X @ W0, rtol=1e-6)
    assert len(m.trainable_variables) == 1
