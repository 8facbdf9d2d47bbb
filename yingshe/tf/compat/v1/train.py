"""``tf.compat.v1.train``: graph optimizers (``yingshe.graph.train``)."""

from __future__ import annotations

from yingshe.graph.train import (AdagradOptimizer, AdamOptimizer,  # noqa: F401
                                 GradientDescentOptimizer, MomentumOptimizer, Optimizer,
                                 RMSPropOptimizer)
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["AdagradOptimizer", "AdamOptimizer", "GradientDescentOptimizer",
           "MomentumOptimizer", "Optimizer", "RMSPropOptimizer"]

__getattr__ = unsupported_getattr(__name__)
