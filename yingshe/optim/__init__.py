"""Optimizers and learning-rate schedulers: the one home of optimizer maths.

PyTorch's names, signatures, defaults and formulas (``yingshe.optim.SGD`` is
``torch.optim.SGD``); TensorFlow's variants (TF1 ``tf.compat.v1.train`` and
Keras) are options of the same classes (``variant=``), which the TF front-end
chooses. Hyper-parameters are plain floats in ``param_groups``, read at every
``step()``.
"""

from yingshe.optim import lr_scheduler  # noqa: F401
from yingshe.optim.adagrad import Adagrad
from yingshe.optim.adam import Adam
from yingshe.optim.adamw import AdamW
from yingshe.optim.optimizer import Optimizer
from yingshe.optim.rmsprop import RMSprop
from yingshe.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
