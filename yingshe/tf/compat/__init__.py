"""``tf.compat``: ``v1`` (TensorFlow 1 on ``yingshe.graph``)."""

from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["v1"]


def __getattr__(name: str):
    if name == "v1":
        import importlib
        return importlib.import_module("yingshe.tf.compat.v1")
    return _unsupported(name)


_unsupported = unsupported_getattr(__name__)
