"""``tf.keras`` (a minimal Keras 3 over yingshe): ``Sequential``, ``Model`` subclassing,
``Input``, ``layers``, ``losses``, ``optimizers``, ``metrics``, ``callbacks``,
``activations``, ``initializers``; ``compile``/``fit``/``evaluate``/``predict``.

    from yingshe.tf import keras                 # or: import yingshe.tf as tf; tf.keras
    from yingshe.tf.keras import layers, Sequential
"""

from __future__ import annotations

from yingshe.tf._unsupported import unsupported_getattr
from yingshe.tf.keras import (activations, callbacks, initializers, layers, losses,  # noqa: F401
                              metrics, optimizers)
from yingshe.tf.keras import models  # noqa: F401
from yingshe.tf.keras.layers import Input, Layer  # noqa: F401
from yingshe.tf.keras.models import Model, Sequential  # noqa: F401

__version__ = "3.15.1-yingshe"

__all__ = ["activations", "callbacks", "initializers", "layers", "losses", "metrics",
           "optimizers", "models", "Input", "Layer", "Model", "Sequential", "datasets"]


def __getattr__(name: str):
    if name == "datasets":   # tf.keras.datasets (imported when first used)
        import importlib
        return importlib.import_module("yingshe.tf.keras.datasets")
    return _unsupported(name)


_unsupported = unsupported_getattr(__name__)
