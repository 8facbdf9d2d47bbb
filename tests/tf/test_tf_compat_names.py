"""TensorFlow 2's older names and the surface early TF2/TF1 programs use, against real
TensorFlow: the top-level aliases of Keras' modules, ``tf.Graph``, ``tf.linspace``,
``tf.clip_by_value``, ``Session.run``'s fetch types for every dtype, ``GradientTape`` on
non-scalar targets, ``output_gradients``, ``persistent``, ``watch_accessed_variables``,
``jacobian``/``batch_jacobian``, and ``tf.keras.datasets`` reading Keras' cached files."""

import os

import numpy as np
import pytest

from yingshe.testing.reference import require_module

tf = require_module("tensorflow")
import yingshe.tf as ytf  # noqa: E402
import yingshe.tf.compat.v1 as ytf1  # noqa: E402
from yingshe.datasets import write_idx  # noqa: E402


# ---- aliases ---------------------------------------------------------------------------------

@pytest.mark.parametrize("alias,target", [("optimizers", "optimizers"), ("losses", "losses"),
                                          ("metrics", "metrics"),
                                          ("initializers", "initializers")])
def test_keras_aliases_are_the_keras_modules(alias, target):
    assert getattr(ytf, alias) is getattr(ytf.keras, target)
    # the real library has the same alias, with the names the corpus programs use
    for name in {"optimizers": ["Adam", "SGD"], "losses": ["binary_crossentropy",
                                                           "MeanSquaredError"],
                 "metrics": ["Mean", "categorical_accuracy"],
                 "initializers": ["RandomNormal", "GlorotUniform"]}[alias]:
        assert hasattr(getattr(tf, alias), name) and hasattr(getattr(ytf, alias), name)


def test_alias_optimizer_trains_like_tensorflow():
    def run(t):
        w = t.Variable([1.0, -2.0])
        opt = t.optimizers.Adam(0.1)
        for _ in range(5):
            with t.GradientTape() as g:
                loss = t.reduce_sum(t.square(w - 3.0))
            opt.apply_gradients(zip([g.gradient(loss, w)], [w]))
        return w.numpy()
    np.testing.assert_allclose(run(ytf), run(tf), rtol=1e-5, atol=1e-6)


def test_initializers_alias_draws_the_right_shape_and_dtype():
    r = tf.initializers.RandomNormal()([3, 4])
    y = ytf.initializers.RandomNormal()([3, 4])
    assert tuple(y.shape) == tuple(r.shape) and y.dtype.name == r.dtype.name


def test_graph_outside_compat_v1():
    for t, t1 in ((tf, tf.compat.v1), (ytf, ytf1)):
        g = t.Graph()
        with g.as_default():
            x = t1.placeholder(t.float32, [None, 2])
            y = t1.reduce_sum(x * 2.0)
            with t1.Session(graph=g) as s:
                assert float(s.run(y, {x: np.ones((3, 2), np.float32)})) == 12.0
        assert t.executing_eagerly()


def test_name_scope_and_device_accept_eager_code():
    for t in (tf, ytf):
        with t.name_scope("block"):
            v = t.Variable(1)
        with t.device("/cpu:0"):
            assert int((v + 1).numpy()) == 2
    with pytest.raises(RuntimeError, match="GPU"):
        with ytf.device("/gpu:0"):
            pass


# ---- linspace and clip_by_value ----------------------------------------------------------

@pytest.mark.parametrize("args", [(0.1, 1.7, 7), (-3.3, 12.1, 1000), (2.0, 2.0, 3), (0.0, 1.0, 1),
                                  (5.0, -5.0, 11)])
def test_linspace_matches_tensorflow(args):
    r, y = tf.linspace(*args), ytf.linspace(*args)
    assert y.dtype.name == r.dtype.name == "float32"
    np.testing.assert_allclose(y.numpy(), r.numpy(), rtol=1e-6, atol=1e-6)
    assert y.numpy()[-1] == r.numpy()[-1]           # the last value is stop exactly


def test_linspace_float64_and_errors():
    r = tf.linspace(tf.constant(0.0, tf.float64), 1.0, 4)
    y = ytf.linspace(ytf.constant(0.0, ytf.float64), 1.0, 4)
    assert y.dtype.name == r.dtype.name == "float64"
    np.testing.assert_array_equal(y.numpy(), r.numpy())
    r, y = tf.linspace(1, 5, 3), ytf.linspace(1, 5, 3)
    assert y.dtype.name == r.dtype.name == "float64"
    np.testing.assert_array_equal(y.numpy(), r.numpy())
    for t in (tf, ytf):
        with pytest.raises(TypeError, match="Cannot convert 5.0"):
            t.linspace(1, 5.0, 3)


@pytest.mark.parametrize("lo,hi", [(0.5, 1.0), (-1.0, 0.0), (1e-9, 1.0)])
def test_clip_by_value_values_and_gradient(lo, hi):
    x0 = np.array([0.5, 2.0, -1.0, 0.75, 1.0, 0.0], np.float32)
    out = {}
    for t in (tf, ytf):
        x = t.constant(x0)
        with t.GradientTape() as g:
            g.watch(x)
            y = t.clip_by_value(x, lo, hi)
            s = t.reduce_sum(y * t.constant(np.arange(6, dtype=np.float32)))
        out[t] = (y.numpy(), g.gradient(s, x).numpy(), y.dtype.name)
    np.testing.assert_array_equal(out[ytf][0], out[tf][0])
    np.testing.assert_array_equal(out[ytf][1], out[tf][1])     # boundaries pass the gradient
    assert out[ytf][2] == out[tf][2]


def test_clip_by_value_tensors_ints_and_errors():
    x = np.array([[1, 5], [9, -3]], np.int32)
    r = tf.clip_by_value(tf.constant(x), 0, 4)
    y = ytf.clip_by_value(ytf.constant(x), 0, 4)
    np.testing.assert_array_equal(y.numpy(), r.numpy())
    assert y.dtype.name == r.dtype.name == "int32"
    lo = np.array([0.0, 1.0], np.float32)
    np.testing.assert_array_equal(
        ytf.clip_by_value(ytf.constant(x.astype(np.float32)), lo, 4.0).numpy(),
        tf.clip_by_value(tf.constant(x.astype(np.float32)), lo, 4.0).numpy())
    for t in (tf, ytf):
        with pytest.raises(TypeError):
            t.clip_by_value(t.constant([1, 2]), 0.5, 1.0)
        with pytest.raises(t.errors.InvalidArgumentError):
            t.clip_by_value(t.constant([1.0, 2.0]), [0.0, 0.0, 0.0], 1.0)


# ---- Session.run fetch types --------------------------------------------------------------

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def _session_fetches(t, t1, dt):
    g = t.Graph()
    with g.as_default():
        v = np.array([1, 0, 1], dtype=dt)
        c = t1.constant(v)
        scalar = t1.constant(v[0])
        with t1.Session(graph=g) as s:
            return s.run([scalar, c, {"s": scalar}, (scalar, c)])


@pytest.mark.parametrize("dt", DTYPES)
def test_session_run_fetch_types_match_tensorflow(dt):
    ref = _session_fetches(tf, tf.compat.v1, dt)
    ours = _session_fetches(ytf, ytf1, dt)

    def kinds(x):
        if isinstance(x, dict):
            return {k: kinds(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return type(x).__name__, [kinds(v) for v in x]
        return type(x).__name__, np.asarray(x).dtype.name, np.asarray(x).tolist()
    assert kinds(ours) == kinds(ref)
    # the symptom: a fetched scalar takes a format spec
    assert f"{ours[0]:.3f}" == f"{ref[0]:.3f}"


def test_session_run_of_an_op_and_a_variable():
    for t, t1 in ((tf, tf.compat.v1), (ytf, ytf1)):
        g = t.Graph()
        with g.as_default():
            w = t1.Variable(2.5)
            inc = t1.assign_add(w, 1.0)
            with t1.Session(graph=g) as s:
                s.run(t1.global_variables_initializer())
                out = s.run([t1.no_op(), inc])
                assert out[0] is None
                assert type(out[1]).__name__ == "float32" and float(out[1]) == 3.5
                value = s.run(w)
                assert type(value).__name__ == "float32" and f"{value:.2f}" == "3.50"


# ---- GradientTape ---------------------------------------------------------------------------

A = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], np.float32)


def _tape(t, body):
    x = t.Variable(A)
    with t.GradientTape(persistent=True) as g:
        y = x * x * 3.0 + t.reduce_sum(x, axis=1, keepdims=True)
    return body(g, x, y)


def _np(v):
    if isinstance(v, (list, tuple)):
        return [_np(a) for a in v]
    return None if v is None else np.asarray(v.numpy())


@pytest.mark.parametrize("case", ["nonscalar", "output_gradients", "list_targets",
                                  "jacobian", "jacobian_list", "batch_jacobian"])
def test_tape_on_non_scalar_targets_matches_tensorflow(case):
    og = np.arange(6, dtype=np.float32).reshape(2, 3)
    bodies = {
        "nonscalar": lambda t, g, x, y: g.gradient(y, x),
        "output_gradients": lambda t, g, x, y: g.gradient(y, x, output_gradients=t.constant(og)),
        "list_targets": lambda t, g, x, y: g.gradient([y, y * 2.0], [x]),
        "jacobian": lambda t, g, x, y: g.jacobian(y, x),
        "jacobian_list": lambda t, g, x, y: g.jacobian(y, [x, t.Variable(1.0)]),
        "batch_jacobian": lambda t, g, x, y: g.batch_jacobian(y, x),
    }
    r = _np(_tape(tf, lambda g, x, y: bodies[case](tf, g, x, y)))
    o = _np(_tape(ytf, lambda g, x, y: bodies[case](ytf, g, x, y)))
    assert isinstance(o, list) == isinstance(r, list)
    for a, b in zip(r if isinstance(r, list) else [r], o if isinstance(o, list) else [o]):
        if a is None:
            assert b is None
            continue
        assert b.shape == a.shape
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


def test_persistent_and_non_persistent_tapes():
    for t in (tf, ytf):
        x = t.constant(3.0)
        with t.GradientTape() as g:
            g.watch(x)
            y = x * x
        assert float(g.gradient(y, x)) == 6.0
        with pytest.raises(RuntimeError):
            g.gradient(y, x)
        with t.GradientTape() as g:
            g.watch(x)
            y = x * x
        g.jacobian(y, x)
        with pytest.raises(RuntimeError):
            g.gradient(y, x)
        with t.GradientTape(persistent=True) as g:
            g.watch(x)
            y = x * x
            z = y * y
        assert float(g.gradient(z, x)) == 108.0 and float(g.gradient(y, x)) == 6.0
        assert float(g.jacobian(z, x)) == 108.0


def test_watch_accessed_variables_false():
    for t in (tf, ytf):
        a, b = t.Variable(2.0), t.Variable(5.0)
        with t.GradientTape(watch_accessed_variables=False) as g:
            g.watch(a)
            y = a * b
        ga, gb = g.gradient(y, [a, b])
        assert float(ga) == 5.0 and gb is None
        assert [v.name.split(":")[0] for v in g.watched_variables()] == \
            [a.name.split(":")[0]]


def test_batch_jacobian_shape_error():
    for t in (tf, ytf):
        x = t.constant(np.ones((2, 3), np.float32))
        with t.GradientTape() as g:
            g.watch(x)
            y = t.transpose(x) * 2.0          # (3, 2): not the source's first dimension
        with pytest.raises(ValueError, match="first dimension"):
            g.batch_jacobian(y, x)


def test_non_scalar_target_inside_tf_function():
    def run(t):
        w = t.Variable(A)

        @t.function
        def grad():
            with t.GradientTape() as g:
                y = w * w
            return g.gradient(y, w)
        return grad().numpy()
    np.testing.assert_allclose(run(ytf), run(tf), rtol=1e-6)


# ---- tf.keras.datasets ------------------------------------------------------------------

def _keras_home(tmp_path, monkeypatch):
    """A fresh Keras home for both libraries (Keras reads $KERAS_HOME when imported, so
    its module-level copy is patched too)."""
    import keras.src.backend.config as config
    home = tmp_path / "keras"
    (home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(config, "_KERAS_DIR", str(home))
    return home / "datasets"


def test_mnist_load_data_matches_keras(tmp_path, monkeypatch):
    d = _keras_home(tmp_path, monkeypatch)
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
                  y_train=rng.integers(0, 10, 6, dtype=np.uint8),
                  x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
                  y_test=rng.integers(0, 10, 3, dtype=np.uint8))
    np.savez(str(d / "mnist.npz"), **arrays)
    import keras.src.utils.file_utils as fu
    monkeypatch.setattr(fu, "validate_file", lambda *a, **k: True)   # not the original file
    _same_splits(tf.keras.datasets.mnist.load_data(), ytf.keras.datasets.mnist.load_data())


def _same_splits(ref, ours):
    for (ra, rb), (ya, yb) in zip(ref, ours):
        np.testing.assert_array_equal(ya, ra)
        np.testing.assert_array_equal(yb, rb)
        assert (ya.dtype, yb.dtype) == (ra.dtype, rb.dtype)


def test_fashion_mnist_load_data_matches_keras(tmp_path, monkeypatch):
    d = _keras_home(tmp_path, monkeypatch) / "fashion-mnist"
    d.mkdir()
    rng = np.random.default_rng(1)
    for split, n in (("train", 5), ("t10k", 4)):
        write_idx(str(d / f"{split}-images-idx3-ubyte.gz"),
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(str(d / f"{split}-labels-idx1-ubyte.gz"),
                  rng.integers(0, 10, n, dtype=np.uint8))
    _same_splits(tf.keras.datasets.fashion_mnist.load_data(),
                 ytf.keras.datasets.fashion_mnist.load_data())


def test_cifar10_load_data_layout_matches_keras_load_batch(tmp_path, monkeypatch):
    """Keras' cifar10.load_data needs the full 50,000-image set (its buffers have that
    size), so the oracle here is its own ``load_batch`` on each file, arranged as
    ``load_data`` arranges it (labels (N, 1) uint8, images channels-last)."""
    import pickle
    from keras.src.datasets.cifar import load_batch
    d = _keras_home(tmp_path, monkeypatch) / "cifar-10-batches-py-target" / \
        "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(2)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {b"labels": [int(v) for v in rng.integers(0, 10, 3)],
                 b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8)}
        with open(str(d / name), "wb") as fh:
            pickle.dump(batch, fh, protocol=3)
    parts = [load_batch(str(d / n)) for n in names]
    x_train = np.concatenate([p[0] for p in parts[:5]]).transpose(0, 2, 3, 1)
    y_train = np.concatenate([p[1] for p in parts[:5]]).astype(np.uint8).reshape(-1, 1)
    (xa, ya), (xb, yb) = ytf.keras.datasets.cifar10.load_data()
    np.testing.assert_array_equal(xa, x_train)
    np.testing.assert_array_equal(ya, y_train)
    np.testing.assert_array_equal(xb, parts[5][0].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(yb.ravel(), parts[5][1])
    assert (xa.dtype, ya.dtype, ya.shape[1]) == (np.uint8, np.uint8, 1)


def test_load_data_without_files_or_network_names_them(tmp_path, monkeypatch):
    _keras_home(tmp_path, monkeypatch)
    from yingshe.tf.keras.datasets import _cache
    monkeypatch.setattr(_cache, "ORIGIN", "http://127.0.0.1:9/")
    with pytest.raises(RuntimeError) as err:
        ytf.keras.datasets.mnist.load_data()
    assert "mnist.npz" in str(err.value) and str(tmp_path) in str(err.value)
    assert not os.path.exists(str(tmp_path / "keras" / "datasets" / "mnist.npz"))



# ---- tf.nn and Keras metric functions the corpus programs use ------------------------------

@pytest.mark.parametrize("case", ["softplus", "leaky_relu", "leaky_relu_alpha", "bias_add",
                                  ])
def test_nn_functions_match_tensorflow(case):
    x0 = np.array([[-30.0, -1.0, 0.0], [0.5, 2.0, 40.0]], np.float32)
    b0 = np.array([0.1, -0.2, 0.3], np.float32)
    calls = {
        "softplus": lambda t, x: t.nn.softplus(x),
        "leaky_relu": lambda t, x: t.nn.leaky_relu(x),
        "leaky_relu_alpha": lambda t, x: t.nn.leaky_relu(x, alpha=0.01),
        "bias_add": lambda t, x: t.nn.bias_add(x, t.constant(b0)),
    }
    out = {}
    for t in (tf, ytf):
        x = t.constant(x0)
        with t.GradientTape() as g:
            g.watch(x)
            y = calls[case](t, x)
            s = t.reduce_sum(y * y)
        out[t] = (y.numpy(), g.gradient(s, x).numpy(), y.dtype.name)
    np.testing.assert_allclose(out[ytf][0], out[tf][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out[ytf][1], out[tf][1], rtol=1e-5, atol=1e-6)
    assert out[ytf][2] == out[tf][2]


def test_nn_errors_match_tensorflow():
    for t in (tf, ytf):
        with pytest.raises(t.errors.InvalidArgumentError):
            t.nn.bias_add(t.ones((2, 3)), t.ones(4))
        with pytest.raises((t.errors.InvalidArgumentError, TypeError)):
            t.nn.softplus(t.constant([1, 2]))


@pytest.mark.parametrize("fn", ["categorical_accuracy", "sparse_categorical_accuracy",
                                "binary_accuracy"])
def test_metric_functions_match_keras(fn):
    rng = np.random.default_rng(4)
    p = rng.random((6, 3)).astype(np.float32)
    t = {"categorical_accuracy": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)],
         "sparse_categorical_accuracy": rng.integers(0, 3, 6),
         "binary_accuracy": (rng.random((6, 3)) > 0.5).astype(np.float32)}[fn]
    r = getattr(tf.keras.metrics, fn)(t, p)
    y = getattr(ytf.keras.metrics, fn)(t, p)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(r))
    assert y.dtype.name == r.dtype.name


# ---- Bidirectional LSTM (and go_backwards) -------------------------------------------------

@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_lstm_matches_keras(merge_mode, return_sequences):
    rng = np.random.default_rng(5)
    x0 = rng.normal(size=(2, 4, 3)).astype(np.float32)
    out = {}
    weights = None
    for t in (tf, ytf):
        layer = t.keras.layers.Bidirectional(
            t.keras.layers.LSTM(5, return_sequences=return_sequences), merge_mode=merge_mode)
        x = t.constant(x0)
        layer(x)                                   # build
        if weights is None:
            weights = [w.numpy() if hasattr(w, "numpy") else np.asarray(w)
                       for w in layer.get_weights()]
        else:
            layer.set_weights(weights)
        with t.GradientTape() as g:
            g.watch(x)
            y = layer(x)
            assert isinstance(y, tuple) == (merge_mode is None)
            ys = list(y) if isinstance(y, tuple) else [y]
            s = sum(t.reduce_sum(v * v) for v in ys)
        out[t] = ([np.asarray(v) for v in ys], np.asarray(g.gradient(s, x)))
    (ry, rg), (yy, yg) = out[tf], out[ytf]
    assert [a.shape for a in yy] == [a.shape for a in ry]
    for a, b in zip(yy, ry):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(yg, rg, rtol=1e-4, atol=1e-5)


def test_lstm_go_backwards_matches_keras():
    rng = np.random.default_rng(6)
    x0 = rng.normal(size=(3, 5, 2)).astype(np.float32)
    outs, weights = [], None
    for t in (tf, ytf):
        layer = t.keras.layers.LSTM(4, go_backwards=True, return_sequences=True)
        layer(t.constant(x0))
        if weights is None:
            weights = layer.get_weights()
        else:
            layer.set_weights([np.asarray(w) for w in weights])
        outs.append(np.asarray(layer(t.constant(x0))))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)


def test_bidirectional_errors():
    for t in (tf, ytf):
        with pytest.raises(ValueError, match="merge mode"):
            t.keras.layers.Bidirectional(t.keras.layers.LSTM(2), merge_mode="max")
    with pytest.raises(NotImplementedError, match="Dense"):
        ytf.keras.layers.Bidirectional(ytf.keras.layers.Dense(2))


# ---- tensors are immutable values; Variable slices assign ------------------------------------

def test_copying_an_eager_tensor_is_the_tensor():
    import copy
    for t in (tf, ytf):
        x = t.constant([1.0, 2.0])
        assert copy.copy(x) is x and copy.deepcopy(x) is x


def test_variable_slice_assign_matches_tensorflow():
    def run(t):
        v = t.Variable([[1, 2], [3, 4]])
        v[0, 0].assign(10)
        v[1].assign([7, 8])
        w = t.Variable(t.ones([2, 3]))
        w[:, 1].assign([5.0, 6.0])
        with t.GradientTape() as g:
            y = w[0] * 3.0
        return v.numpy(), w.numpy(), g.gradient(y, w).numpy(), hasattr(t.constant([1])[0],
                                                                         "assign")
    for a, b in zip(run(ytf), run(tf)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for t in (tf, ytf):
        v = t.Variable([[1, 2], [3, 4]])
        with pytest.raises(t.errors.InvalidArgumentError):
            v[0].assign([1, 2, 3])
