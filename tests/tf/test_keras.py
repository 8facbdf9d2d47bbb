"""``yingshe.tf.keras`` against real Keras 3 (TensorFlow 2.21): layers from the same
weights (outputs and gradients), tf.nn convolution and pooling, losses, optimizers,
and ``compile``/``fit``/``evaluate``/``predict`` loss histories from the same initial
weights with ``shuffle=False``."""

import os

import numpy as np
import pytest

from yingshe.testing.reference import require_module

tf = require_module("tensorflow")
import yingshe.tf as ytf  # noqa: E402
from yingshe.tf.keras import Sequential, layers  # noqa: E402,F401  (the import must work)

FWD = dict(rtol=1e-5, atol=1e-6)
TRAJ = dict(rtol=1e-4, atol=1e-6)
R = np.random.RandomState(7)


def _grads(t, layer, x, **kw):
    xt = t.constant(x)
    with t.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, **kw)
        loss = t.reduce_sum(y * y)
    g = tape.gradient(loss, [xt] + list(layer.trainable_variables))
    return y.numpy(), [v.numpy() for v in g]


LAYERS = {
    "dense_relu": (lambda k: k.layers.Dense(5, activation="relu"), (4, 3)),
    "dense_softmax_nobias": (lambda k: k.layers.Dense(4, activation="softmax", use_bias=False),
                             (2, 6, 3)),
    "conv_valid": (lambda k: k.layers.Conv2D(4, 3, activation="tanh"), (2, 7, 6, 3)),
    "conv_same_stride": (lambda k: k.layers.Conv2D(3, (3, 2), strides=2, padding="same"),
                         (2, 6, 5, 2)),
    "maxpool": (lambda k: k.layers.MaxPooling2D(), (2, 6, 5, 3)),
    "maxpool_same": (lambda k: k.layers.MaxPool2D(3, strides=2, padding="same"), (1, 5, 6, 2)),
    "flatten": (lambda k: k.layers.Flatten(), (3, 2, 2, 2)),
    "lstm": (lambda k: k.layers.LSTM(4), (2, 5, 3)),
    "lstm_seq": (lambda k: k.layers.LSTM(3, return_sequences=True), (2, 4, 3)),
    "softmax": (lambda k: k.layers.Softmax(), (3, 4)),
    "relu": (lambda k: k.layers.ReLU(), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_keras(name):
    make, shape = LAYERS[name]
    x = R.normal(size=shape).astype(np.float32)
    ref = make(tf.keras)
    ref(x)
    ours = make(ytf.keras)
    ours(x)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in ref.weights]
    ours.set_weights(ref.get_weights())
    yo, go = _grads(ytf, ours, x)
    yr, gr = _grads(tf, ref, x)
    np.testing.assert_allclose(yo, yr, **FWD)
    for a, b in zip(go, gr):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_embedding_matches_keras():
    ids = np.array([[1, 4, 0], [3, 3, 2]], dtype=np.int32)
    ref, ours = tf.keras.layers.Embedding(5, 3), ytf.keras.layers.Embedding(5, 3)
    ref(ids), ours(ids)
    ours.set_weights(ref.get_weights())
    np.testing.assert_array_equal(ours(ids).numpy(), ref(ids).numpy())
    fresh = ytf.keras.layers.Embedding(50, 20)
    fresh(ids)
    e = fresh.get_weights()[0]
    assert np.abs(e).max() <= 0.05 and e.std() > 0.02       # uniform(-0.05, 0.05)


def test_default_initializers():
    d = ytf.keras.layers.Dense(300)
    d(np.zeros((1, 200), np.float32))
    k, b = d.get_weights()
    limit = np.sqrt(6.0 / (200 + 300))
    assert k.dtype == np.float32 and np.abs(k).max() <= limit
    assert abs(k.std() - limit / np.sqrt(3)) < 0.05 * limit      # Glorot uniform
    np.testing.assert_array_equal(b, np.zeros(300, np.float32))
    lstm = ytf.keras.layers.LSTM(4)
    lstm(np.zeros((1, 2, 3), np.float32))
    bias = lstm.get_weights()[2]
    np.testing.assert_array_equal(bias, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    rk = lstm.get_weights()[1]                                           # (4, 16)
    np.testing.assert_allclose(rk @ rk.T, np.eye(4), atol=1e-5)          # orthogonal rows


def test_dropout_training_flag():
    x = np.ones((200, 50), np.float32)
    layer = ytf.keras.layers.Dropout(0.25)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    y = layer(x, training=True).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.03


@pytest.mark.parametrize("strides,padding,shape,k", [
    (1, "SAME", (2, 5, 6, 3), (3, 3, 3, 4)),
    (2, "SAME", (2, 6, 7, 3), (2, 4, 3, 2)),       # asymmetric TF padding
    ([1, 2, 1, 1], "VALID", (1, 7, 5, 2), (3, 2, 2, 3)),
])
def test_nn_conv2d_and_max_pool2d(strides, padding, shape, k):
    x = R.normal(size=shape).astype(np.float32)
    w = R.normal(size=k).astype(np.float32)

    def run(t):
        xt, wt = t.constant(x), t.Variable(w)
        with t.GradientTape() as tape:
            tape.watch(xt)
            y = t.nn.conv2d(xt, wt, strides, padding)
            p = t.nn.max_pool2d(y, 3, 2, padding)
            loss = t.reduce_sum(p * p) + t.reduce_sum(y)
        return [y.numpy(), p.numpy()] + [g.numpy() for g in tape.gradient(loss, [xt, wt])]
    for a, b in zip(run(ytf), run(tf)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_nn_dropout_and_conv_errors():
    x = ytf.ones([1000])
    y = ytf.nn.dropout(x, rate=0.5).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    with pytest.raises(ytf.errors.InvalidArgumentError, match="depth"):
        ytf.nn.conv2d(np.zeros((1, 4, 4, 3), np.float32), np.zeros((2, 2, 2, 1), np.float32),
                      1, "VALID")


LOSSES = [
    ("MeanSquaredError", {}, "reg"), ("BinaryCrossentropy", {}, "prob"),
    ("BinaryCrossentropy", {"from_logits": True}, "bin"),
    ("CategoricalCrossentropy", {}, "softmax"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "cat"),
    ("SparseCategoricalCrossentropy", {}, "softmax_sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
]


@pytest.mark.parametrize("name,kw,kind", LOSSES, ids=[f"{n}-{k}" for n, _, k in LOSSES])
def test_losses_match_keras(name, kw, kind):
    logits = R.normal(size=(6, 4)).astype(np.float32)
    if kind == "reg":
        y, p = R.normal(size=(6, 4)).astype(np.float32), logits
    elif kind in ("prob", "bin"):
        y = (R.rand(6, 4) > 0.5).astype(np.float32)
        p = 1 / (1 + np.exp(-logits)) if kind == "prob" else logits
    elif kind in ("softmax", "cat"):
        y = np.eye(4, dtype=np.float32)[R.randint(0, 4, 6)]
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True) if kind == "softmax" \
            else logits
    else:
        y = R.randint(0, 4, 6).astype(np.int32)
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True) if kind == "softmax_sparse" \
            else logits

    def run(t):
        pt = t.constant(p)
        with t.GradientTape() as tape:
            tape.watch(pt)
            loss = getattr(t.keras.losses, name)(**kw)(y, pt)
        return loss.numpy(), tape.gradient(loss, pt).numpy()
    (a, ga), (b, gb) = run(ytf), run(tf)
    np.testing.assert_allclose(a, b, **FWD)
    np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda k: k.optimizers.SGD(), lambda k: k.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda k: k.optimizers.Adam(), lambda k: k.optimizers.Adam(0.01, amsgrad=True),
    lambda k: k.optimizers.RMSprop(), lambda k: k.optimizers.RMSprop(0.01, momentum=0.5,
                                                                      centered=True),
], ids=["sgd", "sgd_nesterov", "adam", "amsgrad", "rmsprop", "rmsprop_centered"])
def test_optimizers_match_keras(make):
    w0 = R.normal(size=(3, 2)).astype(np.float32)
    gs = [R.normal(size=(3, 2)).astype(np.float32) for _ in range(6)]

    def run(t):
        v = t.Variable(w0)
        opt = make(t.keras)
        for i, g in enumerate(gs):
            if i == 3:
                opt.learning_rate = float(opt.learning_rate.numpy()) * 0.5
            opt.apply_gradients(zip([t.constant(g)], [v]))
        return v.numpy(), int(opt.iterations.numpy())
    (a, ia), (b, ib) = run(ytf), run(tf)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert ia == ib == 6


def _data(n=96, d=8, classes=3, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, classes))
    y = np.argmax(x @ w + rng.normal(scale=0.5, size=(n, classes)), 1).astype(np.int32)
    return x, y


def _mlp(k, classes=3, act="softmax"):
    return k.Sequential([k.Input(shape=(8,)), k.layers.Dense(16, activation="relu"),
                         k.layers.Dropout(0.0), k.layers.Dense(classes, activation=act)])


def _pair_models(**kw):
    # TensorFlow's initial weights come from its global generator: seed it, so a test's
    # trajectory does not depend on which tests ran before it in the same worker
    tf.keras.utils.set_random_seed(0)
    ref, ours = _mlp(tf.keras, **kw), _mlp(ytf.keras, **kw)
    ours.set_weights(ref.get_weights())
    return ref, ours


@pytest.mark.parametrize("opt,loss,act", [
    ("sgd", "sparse_categorical_crossentropy", "softmax"),
    ("adam", "sparse_logits", None),
    ("rmsprop", "categorical_crossentropy", "softmax"),
])
def test_fit_follows_keras(opt, loss, act):
    x, y = _data()
    ref, ours = _pair_models(act=act)
    yy = np.eye(3, dtype=np.float32)[y] if loss == "categorical_crossentropy" else y
    for m, k in ((ref, tf.keras), (ours, ytf.keras)):
        o = {"sgd": k.optimizers.SGD(0.1), "adam": k.optimizers.Adam(0.01),
             "rmsprop": k.optimizers.RMSprop(0.005)}[opt]
        lo = k.losses.SparseCategoricalCrossentropy(from_logits=True) \
            if loss == "sparse_logits" else loss
        m.compile(optimizer=o, loss=lo, metrics=["accuracy"])
    kw = dict(epochs=4, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    hr = ref.fit(x, yy, **kw).history
    ho = ours.fit(x, yy, **kw).history
    assert sorted(ho) == sorted(hr)
    for key in hr:
        np.testing.assert_allclose(ho[key], hr[key], **TRAJ, err_msg=key)
    for a, b in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    ev_o = ours.evaluate(x, yy, verbose=0, batch_size=20)
    ev_r = ref.evaluate(x, yy, verbose=0, batch_size=20)
    np.testing.assert_allclose(ev_o, ev_r, **TRAJ)
    np.testing.assert_allclose(ours.predict(x, verbose=0), ref.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
    assert ours.evaluate(x, yy, verbose=0, return_dict=True).keys() == \
        ref.evaluate(x, yy, verbose=0, return_dict=True).keys()


def test_fit_binary_mse_validation_data():
    x, y = _data(64)
    yb = (y == 1).astype(np.float32)
    ref = tf.keras.Sequential([tf.keras.layers.Dense(4, activation="tanh"),
                               tf.keras.layers.Dense(1, activation="sigmoid")])
    ours = ytf.keras.Sequential([ytf.keras.layers.Dense(4, activation="tanh"),
                                 ytf.keras.layers.Dense(1, activation="sigmoid")])
    ref.build((None, 8))
    ours.build((None, 8))
    ours.set_weights(ref.get_weights())
    for m in (ref, ours):
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    kw = dict(epochs=3, batch_size=10, shuffle=False, verbose=0,
              validation_data=(x[:16], yb[:16]))
    hr, ho = ref.fit(x, yb, **kw).history, ours.fit(x, yb, **kw).history
    for key in hr:
        np.testing.assert_allclose(ho[key], hr[key], **TRAJ, err_msg=key)


def test_early_stopping_and_checkpoint(tmp_path):
    x, y = _data()
    ref, ours = _pair_models()
    stopped = []
    for m, k in ((ref, tf.keras), (ours, ytf.keras)):
        m.compile(optimizer=k.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
        es = k.callbacks.EarlyStopping(monitor="val_loss", min_delta=0.03, patience=2,
                                       restore_best_weights=True)
        h = m.fit(x, y, epochs=20, batch_size=32, shuffle=False, verbose=0,
                  validation_split=0.2, callbacks=[es])
        stopped.append((es.stopped_epoch, len(h.history["loss"]), h.epoch))
    assert stopped[0] == stopped[1] and stopped[0][0] > 0
    for a, b in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    path = str(tmp_path / "ckpt-{epoch:02d}.safetensors")
    ck = ytf.keras.callbacks.ModelCheckpoint(path, monitor="loss", save_weights_only=True)
    ours.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0, callbacks=[ck])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01.safetensors", "ckpt-02.safetensors"]
    with open(tmp_path / "ckpt-02.safetensors", "rb") as f:
        assert b"pickle" not in f.read(200)
    saved = ours.get_weights()
    fresh = _mlp(ytf.keras)
    fresh.load_weights(str(tmp_path / "ckpt-02.safetensors"))
    for a, b in zip(fresh.get_weights(), saved):
        np.testing.assert_array_equal(a, b)


def test_subclassed_model_gradient_tape_loop():
    x, y = _data(32)

    def make(k):
        class Net(k.Model):
            def __init__(self):
                super().__init__()
                self.d1 = k.layers.Dense(6, activation="tanh")
                self.drop = k.layers.Dropout(0.5)
                self.d2 = k.layers.Dense(3)

            def call(self, inputs, training=False):
                return self.d2(self.drop(self.d1(inputs), training=training))
        return Net()
    ref, ours = make(tf.keras), make(ytf.keras)
    ref(x), ours(x)
    assert len(ours.trainable_variables) == len(ref.trainable_variables) == 4
    ours.set_weights(ref.get_weights())

    def train(t, model):
        opt = t.keras.optimizers.Adam(0.02)
        lf = t.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @t.function
        def step(xb, yb):
            with t.GradientTape() as tape:
                loss = lf(yb, model(xb, training=False))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        return [float(step(x, y).numpy()) for _ in range(6)]
    np.testing.assert_allclose(train(ytf, ours), train(tf, ref), **TRAJ)


def test_incompatible_inputs_raise_value_error():
    d = ytf.keras.layers.Dense(3)
    d(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"dense.*axis -1.*value 4.*\(2, 5\)"):
        d(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="min_ndim=2"):
        ytf.keras.layers.Dense(3)(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="ndim=4"):
        ytf.keras.layers.Conv2D(2, 3)(np.zeros((2, 5, 5), np.float32))
    # real Keras raises ValueError for the same mistakes
    rd = tf.keras.layers.Dense(3)
    rd(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError):
        rd(np.zeros((2, 5), np.float32))


def test_unimplemented_arguments_are_named():
    with pytest.raises(NotImplementedError, match="kernel_regularizer"):
        ytf.keras.layers.Dense(2, kernel_regularizer="l2")
    m = _mlp(ytf.keras)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = _data(16)
    with pytest.raises(NotImplementedError, match="class_weight"):
        m.fit(x, y, class_weight={0: 1.0}, verbose=0)
    with pytest.raises(NotImplementedError, match="clipnorm"):
        ytf.keras.optimizers.Adam(clipnorm=1.0)
    with pytest.raises(NotImplementedError, match="functional"):
        ytf.keras.Model(inputs=ytf.keras.Input((3,)), outputs=None)
    with pytest.raises(AttributeError, match="tf.keras.layers.GRU"):
        ytf.keras.layers.GRU


def test_imports_like_tensorflow():
    import yingshe.tf.keras.layers as L
    from yingshe.tf.keras import Input, Model, losses, optimizers
    assert L.Dense is ytf.keras.layers.Dense is layers.Dense
    assert ytf.keras.Sequential is Sequential and ytf.keras.Model is Model
    assert Input is ytf.keras.Input and losses.MeanSquaredError and optimizers.Adam


def test_supported_names_doc_is_current_and_names_exist():
    import importlib
    _unsupported = importlib.import_module("yingshe.tf._unsupported")
    for modname in _unsupported.MODULES:
        mod = importlib.import_module(modname)
        for name in mod.__all__:
            getattr(mod, name)           # every listed name exists
    with open(_unsupported._doc_file(), encoding="utf-8") as fh:
        assert fh.read() == _unsupported.render(), \
            "docs/tf_supported.md is out of date: run python -m yingshe.tf._unsupported"
    assert {"function", "Module", "keras"} <= set(ytf.__all__)
    with pytest.raises(AttributeError, match="docs/tf_supported.md"):
        ytf.not_a_tensorflow_name
