# corpus-source: https://github.com/YunYang1994/TensorFlow2.0-Examples
# corpus-path: 1-Introduction/activation.py
# corpus-commit: 299fd6689f242d0f647a96b8844e86325e9fcb46
# corpus-licence: MIT (examples/corpus/LICENSES/yunyang_tf2_examples.txt)
# corpus-adapted: RESULT lines added at the end: prints every 10th value (exact); prints every 10th value (exact); prints every 10th value (exact); prints every 10th value (exact); prints the result dtype (text)
#! /usr/bin/env python
# coding=utf-8
#================================================================
#   Copyright (C) 2019 * Ltd. All rights reserved.
#
#   Editor      : VIM
#   File name   : activation.py
#   Author      : YunYang1994
#   Created date: 2019-03-08 22:05:51
#   Description :
#
#================================================================

import tensorflow as tf
import numpy as np
import matplotlib.pyplot as plt

# fake data
x = np.linspace(-5, 5, 100)

# following are popular activation functions
y_relu = tf.nn.relu(x)
y_sigmoid = tf.nn.sigmoid(x)
y_tanh = tf.nn.tanh(x)
y_softplus = tf.nn.softplus(x)
# y_softmax = tf.nn.softmax(x)  softmax is a special kind of activation function, it is about probability

# plt to visualize these activation function
plt.figure(1, figsize=(8, 6))
plt.subplot(221)
plt.plot(x, y_relu, c='red', label='relu')
plt.ylim((-1, 5))
plt.legend(loc='best')

plt.subplot(222)
plt.plot(x, y_sigmoid, c='red', label='sigmoid')
plt.ylim((-0.2, 1.2))
plt.legend(loc='best')

plt.subplot(223)
plt.plot(x, y_tanh, c='red', label='tanh')
plt.ylim((-1.2, 1.2))
plt.legend(loc='best')

plt.subplot(224)
plt.plot(x, y_softplus, c='red', label='softplus')
plt.ylim((-0.2, 6))
plt.legend(loc='best')

plt.show()

# ---- corpus: the numbers both runs compare (added) ----
print("RESULT relu", *np.asarray(y_relu)[::10].tolist())
print("RESULT sigmoid", *np.asarray(y_sigmoid)[::10].tolist())
print("RESULT tanh", *np.asarray(y_tanh)[::10].tolist())
print("RESULT softplus", *np.asarray(y_softplus)[::10].tolist())
print("RESULT dtype", y_relu.dtype.name, "text")
