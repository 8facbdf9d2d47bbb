"""``tf.compat.v1.train``: graph optimizers (``yingshe.optim.tf1_train``)."""

from __future__ import annotations

from yingshe.optim.tf1_train import (AdagradOptimizer, AdamOptimizer,  # noqa: F401
                                     GradientDescentOptimizer, MomentumOptimizer, Optimizer,
                                     RMSPropOptimizer)
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["AdagradOptimizer", "AdamOptimizer", "GradientDescentOptimizer",
           "MomentumOptimizer", "Optimizer", "RMSPropOptimizer"]

__getattr__ = unsupported_getattr(__name__)
