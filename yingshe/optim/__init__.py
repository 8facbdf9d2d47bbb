"""Optimizers and learning-rate schedulers: the one home of optimizer maths.

PyTorch's names, signatures, defaults and formulas (``yingshe.optim.SGD`` is
``torch.optim.SGD``); TensorFlow's variants (TF1 ``tf.compat.v1.train`` and
Keras) are options of the same classes (``variant=``), which the TF front-end
chooses. Hyper-parameters are plain floats in ``param_groups``, read at every
``step()``.
"""

import sys as _sys

from yingshe.optim import lr_scheduler  # noqa: F401
from yingshe.optim.adagrad import Adagrad
from yingshe.optim.adam import Adam
from yingshe.optim.adamw import AdamW
from yingshe.optim.optimizer import Optimizer
from yingshe.optim.rmsprop import RMSprop
from yingshe.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]


def _register_graph_train() -> None:
    """``yingshe.graph.train`` is ``yingshe.optim.tf1_train``, registered from here (the
    graph package must not import the optimizers; they build graph ops)."""
    import yingshe.graph as graph
    from yingshe.optim import tf1_train
    graph.train = tf1_train
    _sys.modules["yingshe.graph.train"] = tf1_train


_register_graph_train()
