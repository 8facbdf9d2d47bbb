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

from yingshe.tf import errors, math, nn, random  # noqa: F401
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

__all__ = sorted((set(_ops_all) - {"log"}) | {
    "errors", "math", "nn", "random", "compat", "DType", "TensorShape", "as_dtype", "bool",
    "double", "float16", "float32", "float64", "half", "int8", "int16", "int32", "int64",
    "uint8", "Tensor", "GradientTape", "UnconnectedGradients", "Variable",
    "VariableAggregation", "VariableSynchronization", "executing_eagerly", "function",
    "Module", "keras"})


def executing_eagerly() -> bool:
    from yingshe.tf import _core
    return not _core.GRAPH_MODE[0]


def __getattr__(name: str):
    if name in ("compat", "keras"):
        import importlib
        return importlib.import_module("yingshe.tf." + name)
    return _unsupported(name)


_unsupported = unsupported_getattr(__name__)
