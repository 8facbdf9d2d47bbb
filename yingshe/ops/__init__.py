"""The op library: every op is one registered block (forward, shape rule, VJP).

Importing this package registers all ops and installs the tensor methods.
"""

from yingshe.ops import _registry, elementwise, elementwise_math, linalg, reduce, shape  # noqa
from yingshe.ops import nn  # noqa: F401
from yingshe.ops import conv3d  # noqa: F401
from yingshe.ops import indexing  # noqa: F401
from yingshe.ops import loss  # noqa: F401
from yingshe.ops import random_ops, inplace_methods  # noqa: F401
from yingshe.ops import rnn  # noqa: F401
from yingshe.ops import search  # noqa: F401
from yingshe.ops._registry import REGISTRY, apply, register_op  # noqa: F401
