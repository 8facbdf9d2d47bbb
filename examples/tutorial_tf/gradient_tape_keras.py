"""A custom training loop (TensorFlow 2): Keras layers and a Keras optimizer, the
gradients from tf.GradientTape, the step compiled with tf.function; a small CNN on
scikit-learn's digits viewed as 8x8x1 images (NHWC).

Weights are set from NumPy so that runs start from the same point.
"""
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

digits = load_digits()
images = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]   # (N, 8, 8, 1)
labels = digits.target.astype(np.int32)
x_train, y_train = images[:1200], labels[:1200]
x_test, y_test = images[1200:], labels[1200:]


class SmallCNN(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = tf.keras.layers.Conv2D(8, 3, padding='same', activation='relu')
        self.pool = tf.keras.layers.MaxPooling2D()
        self.flatten = tf.keras.layers.Flatten()
        self.dense = tf.keras.layers.Dense(32, activation='relu')
        self.out = tf.keras.layers.Dense(10)

    def call(self, x, training=False):
        x = self.pool(self.conv(x))
        return self.out(self.dense(self.flatten(x)))


model = SmallCNN()
model(x_train[:1])                                   # builds the weights
rng = np.random.RandomState(42)
model.set_weights([rng.normal(0, 0.2, w.shape).astype(np.float32) if w.ndim > 1
                   else np.zeros(w.shape, np.float32) for w in model.get_weights()])

loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = tf.keras.optimizers.Adam(learning_rate=0.005)
train_acc = tf.keras.metrics.SparseCategoricalAccuracy()


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = loss_fn(y, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss, logits


batch = 100
for epoch in range(3):
    train_acc.reset_state()
    losses = []
    for i in range(0, len(x_train), batch):
        loss, logits = train_step(x_train[i:i + batch], y_train[i:i + batch])
        train_acc.update_state(y_train[i:i + batch], logits)
        losses.append(float(loss))
    print(f"RESULT epoch{epoch}_first_loss", repr(losses[0]), "rtol=1e-4")
    print(f"RESULT epoch{epoch}_mean_loss", repr(float(np.mean(losses))), "rtol=1e-4")
    print(f"RESULT epoch{epoch}_train_accuracy", repr(float(train_acc.result())), "accuracy")

logits = model(x_test, training=False)
pred = tf.argmax(logits, axis=1, output_type=tf.int32)
test_acc = float(tf.reduce_mean(tf.cast(tf.equal(pred, y_test), tf.float32)))
print("RESULT test_accuracy", repr(test_acc), "accuracy")
print("RESULT n_trainable", len(model.trainable_variables), "text")
print("RESULT optimizer_iterations", int(optimizer.iterations.numpy()), "text")
