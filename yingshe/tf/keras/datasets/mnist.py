"""``tf.keras.datasets.mnist``."""

from __future__ import annotations

import os

import numpy as np

from yingshe.tf.keras.datasets import _cache

__all__ = ["load_data"]


def load_data(path: str = "mnist.npz"):
    """``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 28, 28) and uint8
    labels (N,), from ``$KERAS_HOME/datasets/<path>`` (an ``.npz`` with ``x_train``,
    ``y_train``, ``x_test``, ``y_test``)."""
    full = path if os.path.isabs(path) else _cache.datasets_dir(path)
    full = _cache.fetch(full, [_cache.ORIGIN + "mnist.npz"], full)
    with np.load(full, allow_pickle=False) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    return (x_train, y_train), (x_test, y_test)
