"""``tf.keras.activations``: names and functions (over ``yingshe.tf`` ops)."""

from __future__ import annotations

import yingshe
import yingshe.nn.functional as F
from yingshe.tf._core import run, to_tensor
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "linear", "softplus", "elu",
           "selu", "gelu", "silu", "swish", "get", "serialize"]


def relu(x):
    t = to_tensor(x)
    return run(lambda: F.relu(t))


def sigmoid(x):
    t = to_tensor(x)
    return run(lambda: yingshe.sigmoid(t))


def tanh(x):
    t = to_tensor(x)
    return run(lambda: yingshe.tanh(t))


def softmax(x, axis=-1):
    t = to_tensor(x)
    return run(lambda: F.softmax(t, axis))


def log_softmax(x, axis=-1):
    t = to_tensor(x)
    return run(lambda: F.log_softmax(t, axis))


def linear(x):
    return to_tensor(x)


def softplus(x):
    t = to_tensor(x)
    return run(lambda: F.softplus(t))


def elu(x, alpha=1.0):
    t = to_tensor(x)
    return run(lambda: F.elu(t, alpha))


def selu(x):
    t = to_tensor(x)
    return run(lambda: F.selu(t))


def gelu(x, approximate=False):
    t = to_tensor(x)
    return run(lambda: F.gelu(t, approximate="tanh" if approximate else "none"))


def silu(x):
    t = to_tensor(x)
    return run(lambda: F.silu(t))


swish = silu

_BY_NAME = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
            "log_softmax": log_softmax, "linear": linear, "softplus": softplus, "elu": elu,
            "selu": selu, "gelu": gelu, "silu": silu, "swish": swish}


def get(identifier):
    """An activation from a name, a callable or ``None`` (linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r} "
                     f"(yingshe.tf.keras knows: {', '.join(sorted(_BY_NAME))})")


def serialize(fn) -> str:
    for k, v in _BY_NAME.items():
        if v is fn:
            return k
    return getattr(fn, "__name__", str(fn))


__getattr__ = unsupported_getattr(__name__)
