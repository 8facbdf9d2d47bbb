"""Tutorial 3.2-3.3 in TensorFlow 1 style: logistic regression (breast cancer) and
softmax regression (digits) as graphs with placeholders, Variables, the cross-entropy
ops with logits, AdamOptimizer / MomentumOptimizer, tf.gradients, and a Session loop
with feed_dict, through tensorflow.compat.v1.

Weights start from fixed NumPy values, so both frameworks print the same numbers.
"""
import numpy as np
import tensorflow.compat.v1 as tf
from sklearn.datasets import load_breast_cancer, load_digits

tf.disable_v2_behavior()


def standardise(x):
    return ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype(np.float32)


# ---- logistic regression: sigmoid cross-entropy, Adam ------------------------------------
cancer = load_breast_cancer()
xc = standardise(cancer.data)
yc = cancer.target.astype(np.float32).reshape(-1, 1)
rng = np.random.RandomState(0)

X = tf.placeholder(tf.float32, [None, 30], name='x')
Y = tf.placeholder(tf.float32, [None, 1], name='y')
W = tf.Variable((0.01 * rng.normal(size=(30, 1))).astype(np.float32), name='W')
b = tf.Variable(np.zeros(1, np.float32), name='b')
logits = tf.matmul(X, W) + b
loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=Y, logits=logits))
accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), Y), tf.float32))
grad_W, grad_b = tf.gradients(loss, [W, b])
train_op = tf.train.AdamOptimizer(learning_rate=0.05).minimize(loss)

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    g0 = sess.run(grad_W, {X: xc, Y: yc})
    print('RESULT logreg_grad0_head', *['%.9g' % v for v in g0[:5, 0]])
    for step in range(60):
        _, l = sess.run([train_op, loss], {X: xc, Y: yc})
        if step % 20 == 0:
            print('RESULT logreg_loss_%d' % step, '%.9g' % l, 'rtol=1e-4')
    print('RESULT logreg_accuracy', '%.9g' % sess.run(accuracy, {X: xc, Y: yc}),
          'rtol=1e-4')

# ---- softmax regression: softmax cross-entropy on one-hot labels, momentum ----------------
tf.reset_default_graph()
digits = load_digits()
xd = (digits.data / 16.0).astype(np.float32)
yd = np.eye(10, dtype=np.float32)[digits.target]

X = tf.placeholder(tf.float32, [None, 64])
Y = tf.placeholder(tf.float32, [None, 10])
W = tf.Variable((0.01 * rng.normal(size=(64, 10))).astype(np.float32))
b = tf.Variable(np.zeros(10, np.float32))
logits = tf.matmul(X, W) + b
loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=logits))
pred = tf.argmax(tf.nn.softmax(logits), 1)
accuracy = tf.reduce_mean(tf.cast(tf.equal(pred, tf.argmax(Y, 1)), tf.float32))
train_op = tf.train.MomentumOptimizer(0.2, momentum=0.9).minimize(loss)

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(60):
        _, l = sess.run([train_op, loss], {X: xd, Y: yd})
        if step % 20 == 0:
            print('RESULT softmax_loss_%d' % step, '%.9g' % l, 'rtol=1e-4')
    print('RESULT softmax_accuracy', '%.9g' % sess.run(accuracy, {X: xd, Y: yd}),
          'rtol=1e-4')
