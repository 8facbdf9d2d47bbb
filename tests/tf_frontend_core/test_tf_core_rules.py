"""yingshe.tf without TensorFlow: the adapter keeps the core's identity and rules
(oracle: NumPy and the core ops themselves)."""

import numpy as np
import pytest

import yingshe
import yingshe.tf as tf
from yingshe.tf._unsupported import UnsupportedError


def test_eager_tensor_is_a_core_tensor_and_variable_is_state_variable():
    t = tf.constant([1.0, 2.0])
    assert isinstance(t, yingshe.Tensor)
    v = tf.Variable([1.0, 2.0])
    assert isinstance(v, yingshe.state.Variable) and v.requires_grad
    np.testing.assert_array_equal((t * v).numpy(), np.array([1.0, 4.0], np.float32))


@pytest.mark.parametrize("value,dtype", [(1.5, "float32"), (2, "int32"), (2 ** 40, "int64"),
                                         (True, "bool"), ([1, 2.5], "float32"),
                                         (np.ones(2), "float64"),
                                         (np.arange(2, dtype=np.int16), "int16")])
def test_conversion_rules(value, dtype):
    assert tf.constant(value).dtype.name == dtype


def test_dtype_rules():
    f = tf.constant([1.0, 2.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="float64"):
        f + tf.constant([1.0, 2.0], tf.float64)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.constant([1, 2]) + 0.5
    assert (tf.constant([1, 2]) + 2.0).dtype == tf.int32     # integral float is accepted
    assert (f + np.ones(2)).dtype == tf.float32               # NumPy adopts the tensor dtype


def test_outside_tape_is_not_recorded():
    v = tf.Variable(2.0)
    y = v * 3.0
    assert y.grad_fn is None
    with tf.GradientTape() as tape:
        z = v * 3.0
    assert z.grad_fn is not None
    assert float(tape.gradient(z, v)) == 3.0


def test_nested_cut_is_refused_not_wrong():
    v = tf.Variable(2.0)
    with tf.GradientTape():
        y = v * v
        with tf.GradientTape() as inner:
            z = y * v
        with pytest.raises(NotImplementedError, match="before this tape started"):
            inner.gradient(z, v)


def test_unsupported_names():
    with pytest.raises(UnsupportedError, match=r"tf\.signal is not supported"):
        tf.signal
    with pytest.raises(UnsupportedError, match=r"tf\.compat\.v1\.layers"):
        tf.compat.v1.layers
    assert getattr(tf, "nothing_here", None) is None


def test_placeholder_needs_graph_mode():
    import yingshe.tf.compat.v1 as v1
    with pytest.raises(RuntimeError, match="eager"):
        v1.placeholder(tf.float32, [None])
