"""Mistakes and the errors TensorFlow raises for them (eager and in a TF1 Session)."""
import numpy as np
import tensorflow as tf


def error_name(fn):
    try:
        fn()
    except Exception as err:  # noqa: BLE001
        for cls in (tf.errors.InvalidArgumentError, tf.errors.FailedPreconditionError,
                    ValueError, TypeError, RuntimeError):
            if isinstance(err, cls):
                return cls.__name__
        return type(err).__name__
    return "no_error"


a = tf.ones([2, 3])
print("RESULT matmul_shapes", error_name(lambda: tf.matmul(a, a)), "text")
print("RESULT add_shapes", error_name(lambda: a + tf.ones([3, 2])), "text")
print("RESULT mixed_dtypes", error_name(lambda: a + tf.ones([2, 3], tf.float64)), "text")
print("RESULT float_into_int", error_name(lambda: tf.constant([1, 2]) + 1.5), "text")
print("RESULT reshape", error_name(lambda: tf.reshape(a, [4])), "text")
print("RESULT sqrt_int", error_name(lambda: tf.sqrt(tf.constant(4))), "text")
print("RESULT xent_shapes", error_name(lambda: tf.nn.softmax_cross_entropy_with_logits(
    labels=tf.ones([2, 3]), logits=tf.ones([2, 4]))), "text")
tape = tf.GradientTape()
v = tf.Variable(1.0)
with tape:
    y = v * v
tape.gradient(y, v)
print("RESULT tape_twice", error_name(lambda: tape.gradient(y, v)), "text")
print("RESULT assign_shape", error_name(lambda: v.assign([1.0, 2.0])), "text")

v1 = tf.compat.v1
v1.disable_eager_execution()
X = v1.placeholder(tf.float32, shape=[None, 2])
Wv = v1.Variable(np.ones((2, 1), dtype=np.float32))
out = tf.matmul(X, Wv)
print("RESULT graph_mixed_dtypes", error_name(
    lambda: X + tf.constant(np.ones((1, 2)), dtype=tf.float64)), "text")
print("RESULT graph_bad_matmul", error_name(lambda: tf.matmul(X, tf.ones([3, 1]))), "text")
with v1.Session() as sess:
    print("RESULT uninitialized", error_name(lambda: sess.run(out, {X: [[1.0, 2.0]]})), "text")
    sess.run(v1.global_variables_initializer())
    print("RESULT missing_feed", error_name(lambda: sess.run(out)), "text")
    print("RESULT bad_feed_shape", error_name(lambda: sess.run(out, {X: np.ones((2, 3))})),
          "text")
    print("RESULT ok", repr(float(sess.run(out, {X: [[1.0, 2.0]]})[0, 0])))
