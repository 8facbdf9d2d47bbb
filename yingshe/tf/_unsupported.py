"""Honest boundaries: a name ``yingshe.tf`` does not define raises an error naming it."""

from __future__ import annotations


class UnsupportedError(AttributeError, NotImplementedError):
    """A TensorFlow name that ``yingshe.tf`` does not provide (yet).

    An ``AttributeError`` so ``hasattr``/``getattr(mod, name, default)`` keep working,
    and a ``NotImplementedError`` so it reads as what it is."""


def public_name(module: str) -> str:
    """``yingshe.tf.compat.v1`` -> ``tf.compat.v1``."""
    return "tf" + module[len("yingshe.tf"):]


def unsupported_getattr(module: str):
    def __getattr__(name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        raise UnsupportedError(
            f"{public_name(module)}.{name} is not supported by yingshe.tf yet "
            f"(the supported names are the __all__ of {module})")
    return __getattr__
