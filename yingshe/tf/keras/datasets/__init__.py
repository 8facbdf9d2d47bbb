"""``tf.keras.datasets``: ``mnist``, ``fashion_mnist`` and ``cifar10``'s ``load_data()``.

The files are read from Keras' cache, where Keras downloads them:
``$KERAS_HOME/datasets`` (``~/.keras/datasets`` when ``KERAS_HOME`` is not set):
``mnist.npz``; ``fashion-mnist/*-ubyte.gz``; CIFAR-10's python batches in
``cifar-10-batches-py-target/cifar-10-batches-py`` (Keras 3) or ``cifar-10-batches-py``
(older Keras). A missing file is downloaded when the network allows, else the error names
the files expected and where. Files present are used as they are: no hash check (Keras
checks the originals' hashes; tests build small files in the same formats), and any
number of CIFAR-10 images per batch is accepted (Keras expects 10,000).

    (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
"""

from __future__ import annotations

from yingshe.tf._unsupported import unsupported_getattr
from yingshe.tf.keras.datasets import cifar10, fashion_mnist, mnist  # noqa: F401

__all__ = ["mnist", "fashion_mnist", "cifar10"]

__getattr__ = unsupported_getattr(__name__)
