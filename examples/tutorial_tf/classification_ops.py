"""Tutorial 4.1-4.4: tf.matmul/tf.add, tf.sigmoid, tf.nn.softmax and the
cross-entropy losses (sigmoid_cross_entropy_with_logits,
softmax_cross_entropy_with_logits), then a few GradientTape steps of softmax
regression on fixed data.
"""
import numpy as np
import tensorflow as tf

rng = np.random.RandomState(2)
X = tf.constant(rng.normal(size=(6, 4)).astype(np.float32))
W = tf.Variable(rng.normal(scale=0.5, size=(4, 3)).astype(np.float32))
b = tf.Variable(np.array([0.1, -0.2, 0.05], dtype=np.float32))
labels_int = np.array([0, 2, 1, 2, 0, 1], dtype=np.int32)
Y = tf.one_hot(labels_int, 3)

# 4.1 linear regression output
y_lin = tf.add(tf.matmul(X, W), b)
print("RESULT linear", *[repr(float(v)) for v in y_lin.numpy().ravel()])

# 4.2 logistic regression
w1 = tf.constant(rng.normal(size=(4, 1)).astype(np.float32))
logits1 = tf.matmul(X, w1) + 0.25
p = tf.sigmoid(logits1)
print("RESULT sigmoid", *[repr(float(v)) for v in p.numpy().ravel()])
y01 = tf.constant((labels_int[:, None] > 0).astype(np.float32))
bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(logits=logits1, labels=y01))
print("RESULT sigmoid_xent", repr(float(bce.numpy())))

# 4.3 softmax regression
logits = tf.matmul(X, W) + b
probs = tf.nn.softmax(logits)
print("RESULT softmax", *[repr(float(v)) for v in probs.numpy().ravel()])
print("RESULT row_sums", *[repr(float(v)) for v in tf.reduce_sum(probs, axis=1).numpy()])
pred = tf.argmax(probs, axis=1)
print("RESULT argmax_dtype", pred.dtype.name, "text")
print("RESULT argmax", *pred.numpy().tolist())

# 4.4 cross entropy
xent = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y))
sparse = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=labels_int, logits=logits))
manual = -tf.reduce_mean(tf.reduce_sum(Y * tf.nn.log_softmax(logits), axis=1))
print("RESULT softmax_xent", repr(float(xent.numpy())), repr(float(sparse.numpy())),
      repr(float(manual.numpy())))

# a few training steps
for step in range(20):
    with tf.GradientTape() as tape:
        logits = tf.matmul(X, W) + b
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=logits))
    gW, gb = tape.gradient(loss, [W, b])
    W.assign_sub(0.5 * gW)
    b.assign_sub(0.5 * gb)
acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(tf.matmul(X, W) + b, axis=1),
                                      tf.cast(labels_int, tf.int64)), tf.float32))
print("RESULT trained_loss", repr(float(loss.numpy())), "rtol=1e-4")
print("RESULT trained_accuracy", repr(float(acc.numpy())))
