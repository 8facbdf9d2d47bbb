"""Tutorial 3.3: automatic differentiation with tf.GradientTape (TensorFlow 2).

A linear model trained with gradients from a tape and updates done by hand
(the tutorial's optimizer.apply_gradients, written as assign_sub), plus a persistent
tape, several sources in a nested structure, an unconnected source (None) and a
second derivative from nested tapes.
"""
import numpy as np
import tensorflow as tf

rng = np.random.RandomState(1)
X = tf.constant(rng.normal(size=(32, 3)).astype(np.float32))
true_w = np.array([[1.5], [-2.0], [0.5]], dtype=np.float32)
Y = tf.matmul(X, tf.constant(true_w)) + 0.3

W = tf.Variable(np.zeros((3, 1), dtype=np.float32), name='W')
b = tf.Variable(0.0, name='b')
unused = tf.Variable(1.0, name='unused')
params = [W, b]


def model(x):
    return tf.add(tf.matmul(x, W), b)


def loss_fn(y_pred, y):
    return tf.reduce_mean(tf.square(y_pred - y))


with tf.GradientTape() as tape:
    y_pred = model(X)
    loss = loss_fn(y_pred, Y)
gradients = tape.gradient(loss, {'W': W, 'b': b, 'unused': unused})
print("RESULT first_loss", repr(float(loss.numpy())))
print("RESULT grad_W", *[repr(float(v)) for v in gradients['W'].numpy().ravel()])
print("RESULT grad_b", repr(float(gradients['b'].numpy())))
print("RESULT grad_unused_is_none", gradients['unused'] is None, "text")

lr = 0.1
for step in range(50):
    with tf.GradientTape() as tape:
        loss = loss_fn(model(X), Y)
    grads = tape.gradient(loss, params)
    for g, v in zip(grads, params):     # optimizer.apply_gradients(zip(grads, params))
        v.assign_sub(lr * g)
    if step % 10 == 0:
        print(f"RESULT loss_step{step}", repr(float(loss.numpy())), "rtol=1e-4")
print("RESULT final_W", *[repr(float(v)) for v in W.numpy().ravel()], "rtol=1e-4")
print("RESULT final_b", repr(float(b.numpy())), "rtol=1e-4")

# a persistent tape answers several questions; watch() makes a constant a source
x = tf.constant(1.5)
with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    y = x * x * x
    z = tf.exp(tf.tanh(x))
print("RESULT dy_dx", repr(float(tape.gradient(y, x).numpy())))
print("RESULT dz_dx", repr(float(tape.gradient(z, x).numpy())))
print("RESULT dyz_dx", repr(float(tape.gradient([y, z], x).numpy())))
del tape

# value computed outside the tape is a constant to it
c = W * 2.0
with tf.GradientTape() as tape:
    out = tf.reduce_sum(c * b)
print("RESULT outside_tape_grad_W_is_none", tape.gradient(out, W) is None, "text")

# second derivative with nested tapes
v = tf.Variable(0.7)
with tf.GradientTape() as outer:
    with tf.GradientTape() as inner:
        f = tf.sigmoid(v * 3.0) * v
    df = inner.gradient(f, v)
d2f = outer.gradient(df, v)
print("RESULT first_derivative", repr(float(df.numpy())))
print("RESULT second_derivative", repr(float(d2f.numpy())))
