"""``yingshe.tf``: TensorFlow programs on yingshe after renaming the import.

    import yingshe.tf as tf                    # instead of: import tensorflow as tf
    import yingshe.tf.compat.v1 as tf          # instead of: import tensorflow.compat.v1 as tf

A thin adapter over yingshe's core (no maths of its own): eager tensors are yingshe
tensors with TensorFlow's face (``yingshe.tf._core.EagerTensor``), ``tf.Variable`` is
a ``yingshe.state.Variable``, ``tf.GradientTape`` asks the core tape for gradients,
and ``tf.compat.v1`` builds graphs with ``yingshe.graph``. TensorFlow's dtype rules
are kept (see ``_core``). A name not listed in a module's ``__all__`` raises an
``UnsupportedError`` naming it (an ``AttributeError``).
"""

from __future__ import annotations

from yingshe.tf import data, errors, math, nn, random  # noqa: F401
from yingshe.tf._core import (DType, EagerTensor, TensorShape, as_dtype,  # noqa: F401
                              bool_ as bool, convert_to_tensor, double, float16, float32,
                              float64, half, int8, int16, int32, int64, uint8)
from yingshe.tf._ops import *  # noqa: F401,F403
from yingshe.tf._ops import __all__ as _ops_all
from yingshe.tf._unsupported import unsupported_getattr
from yingshe.tf._variables import (GradientTape, UnconnectedGradients,  # noqa: F401
                                   Variable, VariableAggregation, VariableSynchronization)
from yingshe.tf._function import function  # noqa: F401
from yingshe.tf._module import Module  # noqa: F401
from yingshe._tensor import Tensor  # noqa: F401  (isinstance(x, tf.Tensor))

__version__ = "2.21.0-yingshe"

del log  # TensorFlow 2 spells it tf.math.log (tf.compat.v1.log exists)

from yingshe.tf._compat_names import (Graph, TensorSpec, device,  # noqa: E402,F401
                                      name_scope)

__all__ = sorted((set(_ops_all) - {"log"}) | {
    "errors", "math", "nn", "random", "compat", "DType", "TensorShape", "as_dtype", "bool",
    "double", "float16", "float32", "float64", "half", "int8", "int16", "int32", "int64",
    "uint8", "Tensor", "GradientTape", "UnconnectedGradients", "Variable",
    "VariableAggregation", "VariableSynchronization", "executing_eagerly", "function",
    "Module", "keras", "data", "optimizers", "losses", "metrics", "initializers", "Graph",
    "TensorSpec", "device", "name_scope"})

# TensorFlow 2's older top-level aliases of Keras' modules (tf.optimizers.Adam is
# tf.keras.optimizers.Adam): loaded with tf.keras, when first asked for.
_KERAS_ALIASES = ("optimizers", "losses", "metrics", "initializers")


def executing_eagerly() -> bool:
    from yingshe.tf import _core
    return not _core.GRAPH_MODE[0]


def __getattr__(name: str):
    import importlib
    if name in ("compat", "keras"):
        return importlib.import_module("yingshe.tf." + name)
    if name in _KERAS_ALIASES:
        return importlib.import_module("yingshe.tf.keras." + name)
    return _unsupported(name)


_unsupported = unsupported_getattr(__name__)
