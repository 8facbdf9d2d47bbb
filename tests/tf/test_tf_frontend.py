"""Per-function parity of yingshe.tf against real TensorFlow: values, dtypes, errors,
and gradients through GradientTape."""

import numpy as np
import pytest

from yingshe.testing.reference import require_module

tf = require_module("tensorflow")
import yingshe.tf as ytf  # noqa: E402

R = np.random.RandomState(0)
A = R.normal(size=(3, 4)).astype(np.float32)
B = R.normal(size=(3, 4)).astype(np.float32)
M = R.normal(size=(4, 2)).astype(np.float32)
P = R.uniform(0.5, 2.0, size=(3, 4)).astype(np.float32)
I = np.array([[1, 5, 2], [7, 0, 3]], dtype=np.int32)
LAB = np.array([2, 0, 3], dtype=np.int32)
SOFT = np.abs(B) / np.abs(B).sum(1, keepdims=True)

# name -> (function of (module, *inputs), inputs, differentiable)
CASES = {
    "add": (lambda t, a, b: t.add(a, b), (A, B), True),
    "subtract": (lambda t, a, b: t.subtract(a, b), (A, B), True),
    "multiply": (lambda t, a, b: t.multiply(a, b), (A, B), True),
    "divide": (lambda t, a, b: t.divide(a, b), (A, P), True),
    "divide_int": (lambda t, a: t.divide(a, 2), (I,), False),
    "operators": (lambda t, a, b: (a + 1) * b - a / 2.0 + 3 ** a, (A, B), True),
    "int_ops": (lambda t, a: a * 2 + 1 - a // 3, (I,), False),
    "matmul": (lambda t, a, m: t.matmul(a, m), (A, M), True),
    "matmul_tb": (lambda t, a, b: t.matmul(a, b, transpose_b=True), (A, B), True),
    "matmul_op": (lambda t, a, m: a @ m, (A, M), True),
    "reduce_mean": (lambda t, a: t.reduce_mean(a), (A,), True),
    "reduce_mean_axis": (lambda t, a: t.reduce_mean(a, axis=1, keepdims=True), (A,), True),
    "reduce_mean_int": (lambda t, a: t.reduce_mean(a, axis=0), (I,), False),
    "reduce_sum": (lambda t, a: t.reduce_sum(a, axis=[0, 1]), (A,), True),
    "reduce_sum_int": (lambda t, a: t.reduce_sum(a, 1), (I,), False),
    "reduce_max": (lambda t, a: t.reduce_max(a, axis=0), (A,), True),
    "reduce_min": (lambda t, a: t.reduce_min(a, axis=-1, keepdims=True), (A,), True),
    "square": (lambda t, a: t.square(a), (A,), True),
    "sqrt": (lambda t, a: t.sqrt(a), (P,), True),
    "exp": (lambda t, a: t.exp(a), (A,), True),
    "log": (lambda t, a: t.math.log(a), (P,), True),
    "sigmoid": (lambda t, a: t.sigmoid(a), (A,), True),
    "tanh": (lambda t, a: t.tanh(a), (A,), True),
    "maximum": (lambda t, a, b: t.maximum(a, b), (A, B), True),
    "abs_neg": (lambda t, a: t.abs(t.negative(a)), (A,), True),
    "argmax": (lambda t, a: t.argmax(a, axis=1), (A,), False),
    "argmax_default": (lambda t, a: t.argmax(a), (A,), False),
    "argmax_int32": (lambda t, a: t.argmax(a, 1, output_type=t.int32), (A,), False),
    "equal": (lambda t, a: t.equal(a, 5), (I,), False),
    "less": (lambda t, a, b: t.less(a, b), (A, B), False),
    "cast": (lambda t, a: t.cast(a * 3, t.int32), (A,), False),
    "cast_float": (lambda t, a: t.cast(a, t.float64), (A,), True),
    "round": (lambda t: t.round(t.constant([0.5, 1.5, 2.5, -0.5, -1.7])), (), False),
    "reshape": (lambda t, a: t.reshape(a, [2, -1]), (A,), True),
    "transpose": (lambda t, a: t.transpose(a), (A,), True),
    "transpose_perm": (lambda t, a: t.transpose(t.reshape(a, [3, 2, 2]), perm=[1, 2, 0]),
                       (A,), True),
    "concat": (lambda t, a, b: t.concat([a, b], axis=1), (A, B), True),
    "stack": (lambda t, a, b: t.stack([a, b], axis=1), (A, B), True),
    "one_hot": (lambda t: t.one_hot([0, 2, -1, 5], 3), (), False),
    "one_hot_values": (lambda t: t.one_hot([[1], [0]], 2, on_value=5, off_value=-1), (),
                       False),
    "range": (lambda t: t.range(5), (), False),
    "range_float": (lambda t: t.range(1.0, 3.0, 0.5), (), False),
    "range_args": (lambda t: t.range(2, 11, 3), (), False),
    "zeros": (lambda t: t.zeros([2, 3]), (), False),
    "ones_int": (lambda t: t.ones(3, t.int32), (), False),
    "zeros_like": (lambda t, a: t.zeros_like(a), (I,), False),
    "constant_float": (lambda t: t.constant([1.5, 2.0]), (), False),
    "constant_int": (lambda t: t.constant([[1, 2], [3, 4]]), (), False),
    "constant_bigint": (lambda t: t.constant(2 ** 40), (), False),
    "constant_numpy": (lambda t: t.constant(np.arange(3)), (), False),
    "constant_numpy_f64": (lambda t: t.constant(np.ones(2)), (), False),
    "constant_dtype": (lambda t: t.constant(3, dtype=t.float32), (), False),
    "constant_shape": (lambda t: t.constant(7.0, shape=[2, 2]), (), False),
    "scalar_adopts_dtype": (lambda t: t.constant([1.0, 2.0], t.float64) * 2 + 1, (), False),
    "numpy_adopts_dtype": (lambda t, a: a + np.ones(4), (A,), True),
    "getitem": (lambda t, a: a[1:, ::2], (A,), True),
    "shape_fn": (lambda t, a: t.shape(a), (A,), False),
    "expand_squeeze": (lambda t, a: t.squeeze(t.expand_dims(a, 1), axis=1), (A,), True),
    "where": (lambda t, a, b: t.where(a > b, a, b), (A, B), True),
    "where_coordinates": (lambda t, a, b: t.where(a > b), (A, B), False),
    "add_n": (lambda t, a, b: t.add_n([a, b, a]), (A, B), True),
    "nn_relu": (lambda t, a: t.nn.relu(a), (A,), True),
    "nn_sigmoid": (lambda t, a: t.nn.sigmoid(a), (A,), True),
    "nn_softmax": (lambda t, a: t.nn.softmax(a), (A,), True),
    "nn_softmax_axis0": (lambda t, a: t.nn.softmax(a, axis=0), (A,), True),
    "nn_log_softmax": (lambda t, a: t.nn.log_softmax(a), (A,), True),
    "sigmoid_xent": (lambda t, a, z: t.nn.sigmoid_cross_entropy_with_logits(
        labels=t.cast(z > 0, t.float32), logits=a), (A, B), True),
    "softmax_xent": (lambda t, a, p: t.nn.softmax_cross_entropy_with_logits(
        labels=p, logits=a), (A, SOFT), True),
    "sparse_xent": (lambda t, a, y: t.nn.sparse_softmax_cross_entropy_with_logits(
        labels=y, logits=a), (A, LAB), True),
    "math_ns": (lambda t, a: t.math.reduce_sum(t.math.square(a)), (A,), True),
    "argmin": (lambda t, a: t.argmin(a, axis=0), (A,), False),
    "math_argmin": (lambda t, a: t.math.argmin(a, 1), (A,), False),
    "fill": (lambda t: t.fill([2, 3], 1.5), (), False),
    "fill_int": (lambda t: t.fill([2], 7), (), False),
    "greater": (lambda t, a, b: t.greater(a, b), (A, B), False),
    "greater_equal": (lambda t, a: t.greater_equal(a, 3), (I,), False),
    "less_equal": (lambda t, a, b: t.math.less_equal(a, b), (A, B), False),
    "not_equal": (lambda t, a: t.not_equal(a, 5), (I,), False),
    "identity": (lambda t, a: t.identity(a) * 2.0, (A,), True),
    "minimum": (lambda t, a, b: t.minimum(a, b), (A, B), True),
    "ones_like": (lambda t, a: t.ones_like(a), (A,), False),
    "pow": (lambda t, p, a: t.pow(p, a), (P, A), True),
    "math_pow_int": (lambda t, a: t.math.pow(a, 2), (I,), False),
    "truediv": (lambda t, a, p: t.truediv(a, p), (A, P), True),
    "truediv_int": (lambda t, a: t.math.truediv(a, 4), (I,), False),
    "convert_to_tensor": (lambda t, a: t.convert_to_tensor(a) + 1.0, (A,), True),
    "convert_to_tensor_list": (lambda t: t.convert_to_tensor([1, 2, 3]), (), False),
    "convert_to_tensor_dtype": (lambda t: t.convert_to_tensor(2, dtype=t.float64), (), False),
    "nn_max_pool": (lambda t, x: t.nn.max_pool(t.reshape(x, [1, 3, 4, 1]), 2, 1, "VALID"),
                    (A,), True),
}


def _run(mod, fn, inputs, diff):
    if not inputs:
        return fn(mod), None
    ts = [mod.constant(x) for x in inputs]
    if not diff:
        return fn(mod, *ts), None
    with mod.GradientTape() as tape:
        for t in ts:
            if t.dtype.is_floating:
                tape.watch(t)
        out = fn(mod, *ts)
        target = mod.reduce_sum(out * mod.cast(mod.range(1, 1 + int(np.prod(out.shape))),
                                               out.dtype).__array__().reshape(out.shape))
    return out, tape.gradient(target, ts)


@pytest.mark.parametrize("name", sorted(CASES))
def test_parity(name):
    fn, inputs, diff = CASES[name]
    ref, gref = _run(tf, fn, inputs, diff)
    got, ggot = _run(ytf, fn, inputs, diff)
    assert got.dtype.name == ref.dtype.name
    assert tuple(got.shape) == tuple(ref.shape)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    if diff:
        assert len(ggot) == len(gref)
        for g, r in zip(ggot, gref):
            if r is None:
                assert g is None
            else:
                assert g.dtype.name == r.dtype.name
                np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-5, atol=1e-5)


ERRORS = {
    "mixed_dtypes": lambda t: t.constant([1.0]) + t.constant([1.0], t.float64),
    "float_into_int": lambda t: t.constant([1, 2]) + 1.5,
    "matmul_shapes": lambda t: t.matmul(t.ones([2, 3]), t.ones([2, 3])),
    "add_shapes": lambda t: t.ones([2, 3]) + t.ones([3, 2]),
    "reshape": lambda t: t.reshape(t.ones([2]), [3]),
    "sqrt_int": lambda t: t.sqrt(t.constant(4)),
    "concat_dtypes": lambda t: t.concat([t.ones([1]), t.ones([1], t.float64)], 0),
    "softmax_xent_shapes": lambda t: t.nn.softmax_cross_entropy_with_logits(
        labels=t.ones([2, 3]), logits=t.ones([2, 4])),
    "sparse_label_range": lambda t: t.nn.sparse_softmax_cross_entropy_with_logits(
        labels=[0, 7], logits=t.ones([2, 3])),
    "sigmoid_xent_shapes": lambda t: t.nn.sigmoid_cross_entropy_with_logits(
        labels=t.ones([2]), logits=t.ones([3])),
}


def _error_kind(fn, mod):
    try:
        fn(mod)
    except mod.errors.InvalidArgumentError:
        return "InvalidArgumentError"
    except ValueError:
        return "ValueError"
    except TypeError:
        return "TypeError"
    return "none"


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_match(name):
    assert _error_kind(ERRORS[name], ytf) == _error_kind(ERRORS[name], tf)


def test_printing_and_dtypes():
    for mod_val in ([1.5, 2.0], [[1, 2]], 3.0):
        r, g = tf.constant(mod_val), ytf.constant(mod_val)
        assert str(g) == str(r)
        assert repr(g) == repr(r)
        assert str(g.dtype) == str(r.dtype) and repr(g.dtype) == repr(r.dtype)
        assert str(g.shape) == str(r.shape) and repr(g.shape) == repr(r.shape)
        assert g.shape.as_list() == r.shape.as_list()
    assert ytf.float32 == np.float32 and ytf.constant(1.0).dtype == ytf.float32
    assert type(ytf.constant(1.5).numpy()) is type(tf.constant(1.5).numpy())


def _variable_story(t):
    v = t.Variable([1.0, 2.0], name="w")
    out = [v.numpy(), v.dtype.name, tuple(v.shape), v.trainable, v.name]
    v.assign([3.0, 4.0])
    v.assign_add(t.constant([1.0, 1.0]))
    v.assign_sub([0.5, 0.5])
    out.append(v.numpy())
    out.append((v * 2).numpy())
    out.append(t.Variable(3).dtype.name)
    out.append(t.Variable(1.0, trainable=False).trainable)
    return out


def test_variable():
    for a, b in zip(_variable_story(ytf), _variable_story(tf)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert isinstance(ytf.Variable(1.0), __import__("yingshe").state.Variable)


def _tape_story(t):
    res = {}
    x = t.constant(2.0)
    v = t.Variable(3.0)
    w = t.Variable(1.0, trainable=False)
    before = v * 4.0                      # outside any tape: a constant to it
    with t.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x * v + before * v + w * v
        z = t.exp(v / 4.0)
    g = tape.gradient(y, {"x": x, "v": [v], "w": w})
    res["dict_x"], res["dict_v"], res["w_none"] = g["x"], g["v"][0], g["w"] is None
    res["sum_targets"] = tape.gradient([y, z], v)
    res["intermediate"] = tape.gradient(y, y)
    res["zero"] = tape.gradient(z, x, unconnected_gradients="zero")
    res["none"] = tape.gradient(z, x) is None
    res["outgrad"] = tape.gradient(z, v, output_gradients=t.constant(3.0))
    del tape
    with t.GradientTape(watch_accessed_variables=False) as tape:
        u = v * v
    res["unwatched_none"] = tape.gradient(u, v) is None
    with t.GradientTape() as tape:
        u = v * v
        with tape.stop_recording():
            s = v * v
        u2 = u + s
    res["stop_recording"] = tape.gradient(u2, v)
    with t.GradientTape() as tape:
        u = t.cast(v, t.int32)
    res["int_none"] = tape.gradient(u, v) is None
    # third derivative with three nested tapes
    with t.GradientTape() as t3:
        with t.GradientTape() as t2:
            with t.GradientTape() as t1:
                f = t.tanh(v) * v * v
            d1 = t1.gradient(f, v)
        d2 = t2.gradient(d1, v)
    d3 = t3.gradient(d2, v)
    res["d1"], res["d2"], res["d3"] = d1, d2, d3
    with t.GradientTape() as tape:
        q = t.stop_gradient(v * 2.0) * v
    res["stop_gradient"] = tape.gradient(q, v)
    return res


def test_gradient_tape_semantics():
    got, ref = _tape_story(ytf), _tape_story(tf)
    assert got.keys() == ref.keys()
    for k in ref:
        if isinstance(ref[k], bool):
            assert got[k] == ref[k], k
        else:
            np.testing.assert_allclose(np.asarray(got[k]), ref[k].numpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=k)


def test_non_persistent_tape_refuses_second_call():
    for mod in (ytf, tf):
        v = mod.Variable(1.0)
        with mod.GradientTape() as tape:
            y = v * v
        tape.gradient(y, v)
        with pytest.raises(RuntimeError):
            tape.gradient(y, v)


def test_random_shapes_dtypes_and_seed():
    ytf.random.set_seed(3)
    a = ytf.random.normal([2000], mean=1.0, stddev=2.0)
    ytf.random.set_seed(3)
    b = ytf.random.normal([2000], mean=1.0, stddev=2.0)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    ref = tf.random.normal([2000], mean=1.0, stddev=2.0)
    assert a.dtype.name == ref.dtype.name and a.shape == ref.shape
    assert abs(float(np.mean(a.numpy())) - 1.0) < 0.2
    assert abs(float(np.std(a.numpy())) - 2.0) < 0.2
    u = ytf.random.uniform([2000], minval=-1.0, maxval=3.0)
    assert u.dtype.name == tf.random.uniform([2]).dtype.name
    assert -1.0 <= u.numpy().min() and u.numpy().max() < 3.0


def test_unsupported_names_are_named():
    from yingshe.tf._unsupported import UnsupportedError
    with pytest.raises(UnsupportedError, match=r"tf\.signal is not supported by yingshe\.tf"):
        ytf.signal
    with pytest.raises(UnsupportedError, match=r"tf\.nn\.conv3d"):
        ytf.nn.conv3d
    assert not hasattr(ytf, "keras_nonexistent")


def _v1_story(v1, np_init):
    """TF1: placeholders, Variables, gradients, GradientDescentOptimizer, assign."""
    g = v1.Graph()
    with g.as_default():
        x = v1.placeholder(v1.float32, shape=[None, 3])
        y = v1.placeholder(v1.float32, shape=[None, 1])
        w = v1.Variable(np_init, name="w")
        b = v1.Variable(v1.zeros([1]), name="b")
        pred = v1.add(v1.matmul(x, w), b)
        loss = v1.reduce_mean(v1.square(y - pred))
        gw, gb = v1.gradients(loss, [w, b])
        step = v1.train.GradientDescentOptimizer(0.05).minimize(loss)
        bump = v1.assign(b, b + 1.0)
        init = v1.global_variables_initializer()
        rng = np.random.RandomState(5)
        xs = rng.normal(size=(8, 3)).astype(np.float32)
        ys = rng.normal(size=(8, 1)).astype(np.float32)
        out = []
        with v1.Session(graph=g) as sess:
            sess.run(init)
            out += list(sess.run([loss, gw, gb], {x: xs, y: ys}))
            for _ in range(5):
                sess.run(step, {x: xs, y: ys})
            out.append(sess.run(loss, {x: xs, y: ys}))
            out.append(sess.run(bump))
        return out


def test_compat_v1_graph_program():
    import tensorflow.compat.v1 as tf1
    import yingshe.tf.compat.v1 as y1
    y1.disable_eager_execution()      # TF builds graph mode inside Graph().as_default()
    try:
        init = np.linspace(-1, 1, 3, dtype=np.float32).reshape(3, 1)
        for a, r in zip(_v1_story(y1, init), _v1_story(tf1, init)):
            assert np.asarray(a).dtype == np.asarray(r).dtype
            np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)
    finally:
        y1.enable_eager_execution()


def test_dtype_and_predicate_helpers_match_tensorflow():
    for name in ("float32", "int64", "bool", "float64"):
        assert ytf.as_dtype(name).name == tf.as_dtype(name).name
    assert ytf.is_tensor(ytf.constant(1.0)) and tf.is_tensor(tf.constant(1.0))
    assert not ytf.is_tensor(np.ones(2)) and not tf.is_tensor(np.ones(2))
    assert ytf.executing_eagerly() == tf.executing_eagerly()


def test_nn_dropout_keeps_or_scales_like_tensorflow():
    """The masks are random in both (different generators); what must agree is the rule:
    each element is 0 or x / (1 - rate), about a fraction rate are dropped, rate=0 is the
    identity, and a rate outside [0, 1) is an error in both."""
    x = np.full((200, 50), 3.0, np.float32)
    for mod in (tf, ytf):
        mod.random.set_seed(0)
        out = np.asarray(mod.nn.dropout(mod.constant(x), rate=0.25))
        kept = out != 0
        np.testing.assert_allclose(out[kept], 3.0 / 0.75, rtol=1e-6)
        assert abs(1 - kept.mean() - 0.25) < 0.02
        np.testing.assert_array_equal(np.asarray(mod.nn.dropout(mod.constant(x), rate=0.0)), x)
        with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
            mod.nn.dropout(mod.constant(x), rate=1.5)
