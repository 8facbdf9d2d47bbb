"""``tf.keras.datasets.cifar10``."""

from __future__ import annotations

import os

import numpy as np

from yingshe.datasets import files as _files
from yingshe.tf.keras.datasets import _cache

__all__ = ["load_data"]

_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def _folder() -> str | None:
    for parts in (("cifar-10-batches-py-target", "cifar-10-batches-py"),
                  ("cifar-10-batches-py",)):
        folder = _cache.datasets_dir(*parts)
        if os.path.isfile(os.path.join(folder, "test_batch")):
            return folder
    return None


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 32, 32, 3) and uint8
    labels (N, 1), as Keras returns them (channels last)."""
    folder = _folder()
    if folder is None:
        target = _cache.datasets_dir("cifar-10-batches-py-target")
        names = _files.CIFAR10_BATCHES["train"] + _files.CIFAR10_BATCHES["test"]
        archive = _files.download(
            [_URL], target + "_archive", "c58f30108f718f92721af3b95e74349a",
            f"{', '.join(names)} in {os.path.join(target, 'cifar-10-batches-py')}")
        _files.extract_tar(archive, target)
        folder = os.path.join(target, "cifar-10-batches-py")
    out = []
    for split in ("train", "test"):
        x, y = _files.read_cifar10(folder, split)
        out.append((x, y.astype(np.uint8).reshape(-1, 1)))
    return out[0], out[1]
