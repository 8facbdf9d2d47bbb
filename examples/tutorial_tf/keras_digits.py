"""Keras quickstart on scikit-learn's bundled digits (8x8 images, 10 classes):
a Sequential MLP with compile / fit / evaluate / predict (TensorFlow 2, Keras 3).

The initial weights are drawn with NumPy and set with set_weights, and fit runs with
shuffle=False, so that two runs (and two frameworks) start from the same point and
see the batches in the same order.
"""
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
X = (digits.data / 16.0).astype(np.float32)
y = digits.target.astype(np.int32)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

model = tf.keras.Sequential([
    tf.keras.Input(shape=(64,)),
    tf.keras.layers.Dense(32, activation='relu'),
    tf.keras.layers.Dropout(0.0),
    tf.keras.layers.Dense(10, activation='softmax'),
])
rng = np.random.RandomState(0)
model.set_weights([
    rng.uniform(-np.sqrt(6 / 96), np.sqrt(6 / 96), (64, 32)).astype(np.float32),
    np.zeros(32, np.float32),
    rng.uniform(-np.sqrt(6 / 42), np.sqrt(6 / 42), (32, 10)).astype(np.float32),
    np.zeros(10, np.float32),
])
model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.01),
              loss='sparse_categorical_crossentropy',
              metrics=['accuracy'])
early = tf.keras.callbacks.EarlyStopping(monitor='val_loss', patience=2)
history = model.fit(X_train, y_train, epochs=8, batch_size=64, shuffle=False,
                    validation_split=0.1, callbacks=[early], verbose=0)

for epoch, (loss, acc) in enumerate(zip(history.history['loss'],
                                        history.history['accuracy'])):
    print(f"RESULT epoch{epoch}_loss", repr(loss), "rtol=1e-4")
    print(f"RESULT epoch{epoch}_accuracy", repr(acc), "accuracy")
print("RESULT epochs_run", len(history.history['loss']), "text")
print("RESULT last_val_loss", repr(history.history['val_loss'][-1]), "rtol=1e-4")

test_loss, test_acc = model.evaluate(X_test, y_test, verbose=0)
print("RESULT test_loss", repr(test_loss), "rtol=1e-4")
print("RESULT test_accuracy", repr(test_acc), "accuracy")

probs = model.predict(X_test[:5], verbose=0)
print("RESULT predicted_classes", *np.argmax(probs, axis=1), "text")
print("RESULT prob_sums", *[repr(float(s)) for s in probs.sum(axis=1)], "rtol=1e-5")
