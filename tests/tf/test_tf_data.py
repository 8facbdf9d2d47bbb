"""``tf.data`` against real TensorFlow: elements, dtypes, shapes and ``element_spec`` of
every transformation, errors, and the properties of the shuffle buffer (TensorFlow's
semantics; its random stream is not reproduced: see ``yingshe.tf.data``); iteration
eagerly and inside ``tf.function``; datasets given to Keras ``fit``/``evaluate``/
``predict``."""

import numpy as np
import pytest

from yingshe.testing.reference import require_module

tf = require_module("tensorflow")
import yingshe.tf as ytf  # noqa: E402

X = np.arange(20, dtype=np.float32).reshape(10, 2)
Y = np.arange(10, dtype=np.int64)


def _plain(e):
    """An element as nested lists of (dtype name, shape, values)."""
    if isinstance(e, dict):
        return {k: _plain(v) for k, v in sorted(e.items())}
    if isinstance(e, (tuple, list)):
        return tuple(_plain(v) for v in e)
    arr = np.asarray(e.numpy() if hasattr(e, "numpy") else e)
    return (arr.dtype.name, arr.shape, arr.tolist())


def _elements(ds):
    return [_plain(e) for e in ds]


def _spec(spec):
    if isinstance(spec, dict):
        return {k: _spec(v) for k, v in sorted(spec.items())}
    if isinstance(spec, tuple):
        return tuple(_spec(v) for v in spec)
    shape = None if spec.shape.rank is None else tuple(spec.shape.as_list()) \
        if hasattr(spec.shape, "as_list") else tuple(spec.shape)
    return (shape, spec.dtype.name)


def _ours_spec(spec):
    if isinstance(spec, dict):
        return {k: _ours_spec(v) for k, v in sorted(spec.items())}
    if isinstance(spec, tuple):
        return tuple(_ours_spec(v) for v in spec)
    return (None if spec.shape is None else tuple(spec.shape), spec.dtype.name)


# name -> function of the module (tf or yingshe.tf) building a deterministic dataset
PIPELINES = {
    "slices_tuple": lambda t: t.data.Dataset.from_tensor_slices((X, Y)),
    "slices_dict": lambda t: t.data.Dataset.from_tensor_slices({"a": X, "b": Y}),
    "slices_list": lambda t: t.data.Dataset.from_tensor_slices([[1, 2], [3, 4]]),
    "slices_floats": lambda t: t.data.Dataset.from_tensor_slices([1.5, 2.5]),
    "from_tensors": lambda t: t.data.Dataset.from_tensors((X, 3)),
    "range": lambda t: t.data.Dataset.range(5),
    "range_step": lambda t: t.data.Dataset.range(2, 11, 3),
    "range_int32": lambda t: t.data.Dataset.range(3, output_type=t.int32),
    "batch": lambda t: t.data.Dataset.from_tensor_slices((X, Y)).batch(3),
    "batch_drop": lambda t: t.data.Dataset.from_tensor_slices((X, Y)).batch(3, drop_remainder=True),
    "repeat_batch": lambda t: t.data.Dataset.range(4).repeat(3).batch(5),
    "batch_repeat": lambda t: t.data.Dataset.range(4).batch(3).repeat(2),
    "map_tuple": lambda t: t.data.Dataset.from_tensor_slices((X, Y)).map(
        lambda x, y: (t.reduce_sum(x) * 2.0, t.cast(y, t.float32) + 1.0)),
    "map_dict": lambda t: t.data.Dataset.from_tensor_slices({"a": X, "b": Y}).map(
        lambda d: d["a"] * 3.0),
    "map_batched": lambda t: t.data.Dataset.from_tensor_slices(X).batch(4).map(
        lambda x: t.reshape(x, [-1])),
    "map_one_hot": lambda t: t.data.Dataset.from_tensor_slices(Y).map(
        lambda y: t.one_hot(y, 10)).batch(4),
    "filter": lambda t: t.data.Dataset.range(10).filter(lambda x: x % 3 == 0),
    "take_skip": lambda t: t.data.Dataset.range(10).skip(2).take(5),
    "take_all": lambda t: t.data.Dataset.range(4).take(-1),
    "skip_all": lambda t: t.data.Dataset.range(4).skip(-1),
    "zip": lambda t: t.data.Dataset.zip(t.data.Dataset.range(3), t.data.Dataset.range(10, 20)),
    "zip_tuple": lambda t: t.data.Dataset.zip((t.data.Dataset.range(3),
                                               t.data.Dataset.from_tensor_slices(X))),
    "cache": lambda t: t.data.Dataset.range(5).map(lambda x: x * x).cache(),
    "prefetch": lambda t: t.data.Dataset.range(5).batch(2).prefetch(t.data.AUTOTUNE),
    "enumerate": lambda t: t.data.Dataset.from_tensor_slices(Y[:4]).enumerate(),
    "unbatch": lambda t: t.data.Dataset.from_tensor_slices(X).batch(3).unbatch(),
    "concatenate": lambda t: t.data.Dataset.range(3).concatenate(t.data.Dataset.range(7, 9)),
    "repeat_take": lambda t: t.data.Dataset.range(3).repeat().take(7),
}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_pipeline_matches_tensorflow(name):
    ref, ours = PIPELINES[name](tf), PIPELINES[name](ytf)
    assert _elements(ours) == _elements(ref)
    assert _ours_spec(ours.element_spec) == _spec(ref.element_spec)
    assert int(ours.cardinality()) == int(ref.cardinality())
    # a second pass gives the same elements (a dataset is a recipe)
    assert _elements(ours) == _elements(ref)


@pytest.mark.parametrize("name", ["slices_tuple", "batch", "map_tuple", "range", "zip"])
def test_as_numpy_iterator_matches_tensorflow(name):
    ref = list(PIPELINES[name](tf).as_numpy_iterator())
    ours = list(PIPELINES[name](ytf).as_numpy_iterator())
    assert [_plain(e) for e in ours] == [_plain(e) for e in ref]
    for r, y in zip(ref, ours):
        for a, b in zip(r if isinstance(r, tuple) else (r,), y if isinstance(y, tuple) else (y,)):
            assert type(a) is type(b)           # NumPy scalars for 0-d, arrays otherwise


def test_len_and_cardinality_constants():
    for t in (tf, ytf):
        assert len(t.data.Dataset.range(7).batch(2)) == 4
        with pytest.raises(TypeError):
            len(t.data.Dataset.range(3).repeat())
        with pytest.raises(TypeError):
            len(t.data.Dataset.range(3).filter(lambda x: x > 0))
        assert int(t.data.Dataset.range(3).repeat().cardinality()) == \
            t.data.INFINITE_CARDINALITY
        assert int(t.data.Dataset.range(3).filter(lambda x: x > 0).cardinality()) == \
            t.data.UNKNOWN_CARDINALITY


def test_errors_match_tensorflow():
    for t in (tf, ytf):
        with pytest.raises((ValueError, t.errors.InvalidArgumentError)):
            t.data.Dataset.from_tensor_slices((np.zeros(3), np.zeros(2)))
        with pytest.raises(ValueError):
            list(t.data.Dataset.range(3).filter(lambda x: x))      # not a tf.bool scalar
        ragged = t.data.Dataset.from_generator(
            lambda: iter([np.zeros(2, np.float32), np.zeros(3, np.float32)]),
            output_signature=t.TensorSpec(shape=(None,), dtype=t.float32))
        with pytest.raises(t.errors.InvalidArgumentError):
            list(ragged.batch(2))


def test_from_generator_matches_tensorflow():
    def gen():
        for i in range(4):
            yield np.full(3, i, np.float64), i
    ref = tf.data.Dataset.from_generator(gen, output_types=(tf.float32, tf.int64),
                                         output_shapes=((3,), ()))
    ours = ytf.data.Dataset.from_generator(gen, output_types=(ytf.float32, ytf.int64),
                                           output_shapes=((3,), ()))
    assert _elements(ours.batch(3)) == _elements(ref.batch(3))
    assert _ours_spec(ours.element_spec) == _spec(ref.element_spec)
    sig = (tf.TensorSpec((3,), tf.float32), tf.TensorSpec((), tf.int64))
    ysig = (ytf.TensorSpec((3,), ytf.float32), ytf.TensorSpec((), ytf.int64))
    assert _elements(ytf.data.Dataset.from_generator(gen, output_signature=ysig)) == \
        _elements(tf.data.Dataset.from_generator(gen, output_signature=sig))


# ---- shuffle: TensorFlow's buffer semantics -------------------------------------------------

def _orders(ds, passes):
    return [[int(v) for v in ds.as_numpy_iterator()] for _ in range(passes)]


@pytest.mark.parametrize("n,buffer", [(50, 1), (50, 5), (50, 50), (50, 200), (7, 3)])
def test_shuffle_is_a_permutation_with_buffer_locality(n, buffer):
    """Every pass is a permutation; element i can only appear at output position
    >= i - buffer + 1 (it enters the buffer after i - buffer + 1 outputs); buffer 1 keeps
    the order. The same properties hold for TensorFlow's own shuffle (checked too)."""
    for t in (tf, ytf):
        ds = t.data.Dataset.range(n).shuffle(buffer, seed=3)
        for order in _orders(ds, 4):
            assert sorted(order) == list(range(n))
            for pos, value in enumerate(order):
                assert pos >= value - buffer + 1, (t.__name__, pos, value)
            if buffer == 1:
                assert order == list(range(n))


def test_shuffle_reshuffles_each_pass_and_is_deterministic_under_a_seed():
    ds = ytf.data.Dataset.range(30).shuffle(30, seed=7)
    first = _orders(ds, 3)
    assert len({tuple(o) for o in first}) == 3          # each pass reshuffled
    again = _orders(ytf.data.Dataset.range(30).shuffle(30, seed=7), 3)
    assert again == first                                # the same sequence of passes
    other = _orders(ytf.data.Dataset.range(30).shuffle(30, seed=8), 1)
    assert other[0] != first[0]
    fixed = ytf.data.Dataset.range(30).shuffle(30, seed=7, reshuffle_each_iteration=False)
    orders = _orders(fixed, 3)
    assert orders[0] == orders[1] == orders[2]
    # TensorFlow: the same three properties
    tds = tf.data.Dataset.range(30).shuffle(30, seed=7)
    t_first = _orders(tds, 3)
    assert len({tuple(o) for o in t_first}) == 3
    assert _orders(tf.data.Dataset.range(30).shuffle(30, seed=7), 3) == t_first
    t_fixed = _orders(tf.data.Dataset.range(30).shuffle(30, seed=7,
                                                        reshuffle_each_iteration=False), 3)
    assert t_fixed[0] == t_fixed[1] == t_fixed[2]


def test_shuffle_under_the_global_seed_is_deterministic():
    ytf.random.set_seed(5)
    a = _orders(ytf.data.Dataset.range(20).shuffle(20), 2)
    ytf.random.set_seed(5)
    b = _orders(ytf.data.Dataset.range(20).shuffle(20), 2)
    assert a == b


def test_shuffle_then_repeat_reshuffles_each_epoch():
    ds = ytf.data.Dataset.range(10).shuffle(10, seed=1).repeat(3)
    out = [int(v) for v in ds.as_numpy_iterator()]
    epochs = [out[i * 10:(i + 1) * 10] for i in range(3)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert len({tuple(e) for e in epochs}) == 3


def test_repeat_then_shuffle_mixes_across_epochs_within_the_buffer():
    out = [int(v) for v in ytf.data.Dataset.range(5).repeat(4).shuffle(8, seed=2)
           .as_numpy_iterator()]
    assert sorted(out) == sorted(list(range(5)) * 4)
    src = list(range(5)) * 4
    # every output comes from the buffer: input position <= output position + buffer - 1
    used = [False] * 20
    for pos, v in enumerate(out):
        k = next(j for j in range(20) if not used[j] and src[j] == v)
        used[k] = True
        assert k <= pos + 8 - 1


def test_shuffle_errors():
    for t in (tf, ytf):
        with pytest.raises((ValueError, t.errors.InvalidArgumentError)):
            list(t.data.Dataset.range(3).shuffle(0))


# ---- element_spec of map is traced, not run ----------------------------------------------

def test_map_spec_keeps_unknown_dims_and_calls_python_at_trace():
    calls = []

    def f(x):
        calls.append(1)
        return ytf.reshape(x, [-1, 1]) * 2.0
    ds = ytf.data.Dataset.from_tensor_slices(X).batch(4).map(f)
    ref = tf.data.Dataset.from_tensor_slices(X).batch(4).map(lambda x: tf.reshape(x, [-1, 1]) * 2)
    assert _ours_spec(ds.element_spec) == _spec(ref.element_spec) == ((None, 1), "float32")
    assert _elements(ds) == _elements(ref)


# ---- iteration inside tf.function ----------------------------------------------------------

def test_iterating_a_dataset_inside_tf_function_runs_each_call():
    def make(t):
        ds = t.data.Dataset.from_tensor_slices(X).batch(4)
        v = t.Variable(0.0)

        @t.function
        def total():
            for x in ds:
                v.assign_add(t.reduce_sum(x))
            return v
        return [float(total().numpy()) for _ in range(3)]
    with pytest.warns(UserWarning, match="runs eagerly"):
        ours = make(ytf)
    assert ours == make(tf)


def test_dataset_elements_fed_to_a_tf_function_step():
    def make(t):
        w = t.Variable(np.zeros((2, 1), np.float32))
        opt = t.keras.optimizers.SGD(0.01)

        @t.function
        def step(x, y):
            with t.GradientTape() as g:
                loss = t.reduce_mean(t.square(t.matmul(x, w) - t.cast(y[:, None], t.float32)))
            opt.apply_gradients([(g.gradient(loss, w), w)])
            return loss
        ds = t.data.Dataset.from_tensor_slices((X, Y)).batch(5).repeat(3)
        return [float(step(x, y)) for x, y in ds]
    np.testing.assert_allclose(make(ytf), make(tf), rtol=1e-5, atol=1e-6)


# ---- Keras fit / evaluate / predict on datasets ----------------------------------------------

def _model(t, w0, b0):
    m = t.keras.Sequential([t.keras.Input((2,)), t.keras.layers.Dense(3)])
    m.layers[-1].set_weights([w0, b0])
    m.compile(optimizer=t.keras.optimizers.SGD(0.05),
              loss=t.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


def test_keras_fit_evaluate_predict_on_a_dataset():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
    w0 = rng.normal(size=(2, 3)).astype(np.float32) * 0.1
    b0 = np.zeros(3, np.float32)
    out = {}
    for t in (tf, ytf):
        m = _model(t, w0, b0)
        ds = t.data.Dataset.from_tensor_slices((x, y)).batch(4)
        h = m.fit(ds, epochs=3, verbose=0, validation_data=ds)
        ev = m.evaluate(ds, verbose=0)
        pred = m.predict(t.data.Dataset.from_tensor_slices((x, y)).batch(5), verbose=0)
        steps = m.fit(ds.repeat(), epochs=2, steps_per_epoch=2, verbose=0)
        out[t] = (h.history, ev, pred, steps.history)
    (rh, rev, rp, rs), (yh, yev, yp, ys) = out[tf], out[ytf]
    for k in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(yh[k], rh[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(yev, rev, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(yp, rp, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ys["loss"], rs["loss"], rtol=1e-5, atol=1e-6)


def test_keras_fit_dataset_errors():
    for t in (tf, ytf):
        m = _model(t, np.zeros((2, 3), np.float32), np.zeros(3, np.float32))
        ds = t.data.Dataset.from_tensor_slices((X, Y % 3)).batch(4)
        with pytest.raises(ValueError):
            m.fit(ds, Y, verbose=0)
    # Keras 3 would train on an infinite dataset forever without steps_per_epoch; yingshe
    # says so instead (as Keras 2 did)
    m = _model(ytf, np.zeros((2, 3), np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="steps"):
        m.fit(ytf.data.Dataset.from_tensor_slices((X, Y % 3)).batch(4).repeat(), verbose=0)


def test_constants_tensor_spec_and_newaxis():
    for name in ("AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY"):
        assert getattr(ytf.data, name) == getattr(tf.data, name)
    assert ytf.data.experimental.AUTOTUNE == tf.data.experimental.AUTOTUNE
    r, y = tf.TensorSpec((None, 3), tf.int32), ytf.TensorSpec((None, 3), ytf.int32)
    assert _ours_spec(y) == _spec(r)
    assert y.is_compatible_with(ytf.zeros((5, 3), ytf.int32)) == \
        r.is_compatible_with(tf.zeros((5, 3), tf.int32)) == True  # noqa: E712
    assert y.is_compatible_with(ytf.zeros((5, 2), ytf.int32)) == \
        r.is_compatible_with(tf.zeros((5, 2), tf.int32)) == False  # noqa: E712
    x = np.arange(6.0).reshape(2, 3)
    assert ytf.constant(x)[..., ytf.newaxis].shape == tf.constant(x)[..., tf.newaxis].shape
    assert ytf.newaxis is tf.newaxis is None
