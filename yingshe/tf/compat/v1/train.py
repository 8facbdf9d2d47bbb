"""``tf.compat.v1.train``: graph optimizers (``yingshe.graph.train``)."""

from __future__ import annotations

from yingshe.graph.train import GradientDescentOptimizer, Optimizer  # noqa: F401
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["GradientDescentOptimizer", "Optimizer"]

__getattr__ = unsupported_getattr(__name__)
