# corpus-source: https://github.com/YunYang1994/TensorFlow2.0-Examples
# corpus-path: 2-Basical_Models/Logistic_Regression.py
# corpus-commit: 299fd6689f242d0f647a96b8844e86325e9fcb46
# corpus-licence: MIT (examples/corpus/LICENSES/yunyang_tf2_examples.txt)
# corpus-fast: yes
# corpus-data: keras-mnist
# corpus-adapted: 3 epochs instead of 6 (time)
# corpus-adapted: RESULT lines added at the end: prints every batch's size, sorted (exact: the program shuffles whole batches, unseeded, so which batch comes first is chance; 1,500 samples make batches of 600, 600 and 300); prints whether the last batch's accuracy reaches 0.3 (random initial weights)
# corpus-adapted: data: keras-mnist built from bundled data instead of the download
#! /usr/bin/env python
# coding=utf-8
#================================================================
#   Copyright (C) 2019 * Ltd. All rights reserved.
#
#   Editor      : VIM
#   File name   : Logistic_Regression.py
#   Author      : YunYang1994
#   Created date: 2019-03-08 22:28:21
#   Description :
#
#================================================================

import numpy as np
import tensorflow as tf

# Parameters
learning_rate = 0.001
training_epochs = 3
batch_size = 600

# Import MNIST data
(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()

train_dataset = (
    tf.data.Dataset.from_tensor_slices((tf.reshape(x_train, [-1, 784]), y_train))
    .batch(batch_size)
    .shuffle(1000)
)

train_dataset = (
    train_dataset.map(lambda x, y:
                      (tf.divide(tf.cast(x, tf.float32), 255.0),
                       tf.reshape(tf.one_hot(y, 10), (-1, 10))))
)


# Set model weights
W = tf.Variable(tf.zeros([784, 10]))
b = tf.Variable(tf.zeros([10]))

# Construct model
model = lambda x: tf.nn.softmax(tf.matmul(x, W) + b) # Softmax
# Minimize error using cross entropy
compute_loss = lambda true, pred: tf.reduce_mean(tf.reduce_sum(tf.losses.binary_crossentropy(true, pred), axis=-1))
# caculate accuracy
compute_accuracy = lambda true, pred: tf.reduce_mean(tf.keras.metrics.categorical_accuracy(true, pred))
# Gradient Descent
optimizer = tf.optimizers.Adam(learning_rate)

for epoch in range(training_epochs):
    for i, (x_, y_) in enumerate(train_dataset):
        with tf.GradientTape() as tape:
            pred = model(x_)
            loss = compute_loss(y_, pred)
        acc = compute_accuracy(y_, pred)
        grads = tape.gradient(loss, [W, b])
        optimizer.apply_gradients(zip(grads, [W, b]))
        print("=> loss %.2f acc %.2f" %(loss.numpy(), acc.numpy()))

# ---- corpus: the numbers both runs compare (added) ----
print("RESULT batch_sizes", *sorted(int(x_.shape[0]) for x_, _ in train_dataset))
print("RESULT learned", "yes" if (float(acc)) >= 0.3 else "no", "text")
