"""Tutorial 3.1: linear regression as a TensorFlow 1 graph (placeholders, Variables,
GradientDescentOptimizer, a Session), through tensorflow.compat.v1.

The tutorial initialises W and b with tf.random_normal; here they start from fixed
values so the printed numbers are the same on every framework (a random_normal
variable is still created, and only its shape is printed).
"""
import numpy as np
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()

rng = np.random.RandomState(0)
x_data = rng.uniform(-1.0, 1.0, size=(64, 1)).astype(np.float32)
y_data = (3.0 * x_data + 0.5 + 0.1 * rng.normal(size=(64, 1))).astype(np.float32)

X = tf.placeholder(tf.float32, shape=[None, 1])
Y = tf.placeholder(tf.float32, shape=[None, 1])
W = tf.Variable(np.array([0.2], dtype=np.float32), name='weight')
b = tf.Variable(np.array([-0.1], dtype=np.float32), name='bias')
noise = tf.Variable(tf.random_normal([1]), name='noise')

y_pred = tf.add(tf.multiply(X, W), b)
loss = tf.reduce_mean(tf.square(Y - y_pred))
grads = tf.gradients(loss, [W, b])

optimizer = tf.train.GradientDescentOptimizer(learning_rate=0.1)
train_op = optimizer.minimize(loss, var_list=[W, b])

init = tf.global_variables_initializer()
with tf.Session() as sess:
    sess.run(init)
    feed = {X: x_data, Y: y_data}
    l0, (gw, gb) = sess.run([loss, grads], feed_dict=feed)
    print("RESULT initial_loss", repr(float(l0)))
    print("RESULT initial_grads", repr(float(gw[0])), repr(float(gb[0])))
    losses = []
    for step in range(100):
        _, l = sess.run([train_op, loss], feed_dict=feed)
        losses.append(float(l))
    print("RESULT losses_every_20", *[repr(v) for v in losses[::20]], "rtol=1e-4")
    w, bb = sess.run([W, b])
    print("RESULT fitted", repr(float(w[0])), repr(float(bb[0])), "rtol=1e-4")
    print("RESULT noise_shape", *sess.run(noise).shape)
    print("RESULT prediction", repr(float(sess.run(y_pred, {X: [[2.0]]})[0, 0])), "rtol=1e-4")
