"""``tf.keras.datasets.fashion_mnist``."""

from __future__ import annotations

import os

from yingshe.datasets import files as _files
from yingshe.tf.keras.datasets import _cache

__all__ = ["load_data"]

_BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 28, 28) and uint8
    labels, from ``$KERAS_HOME/datasets/fashion-mnist/*-ubyte.gz``."""
    folder = _cache.datasets_dir("fashion-mnist")
    names = [f + ".gz" for split in ("train", "test") for f in _files.MNIST_FILES[split]]
    expected = f"{', '.join(names)} in {folder}"
    for name in names:
        _cache.fetch(os.path.join(folder, name), [_BASE + name], expected)
    train = _files.read_mnist(folder, "train", gz=True)
    test = _files.read_mnist(folder, "test", gz=True)
    return train, test
