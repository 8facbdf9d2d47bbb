"""yingshe (映射): a deep-learning framework with PyTorch's eager face and
TensorFlow 1's static-graph face on one engine, and ``yingshe.compile`` between them.

    >>> import yingshe
    >>> w = yingshe.tensor([1.0, 2.0], requires_grad=True)
    >>> (w * w).sum().backward()
    >>> w.grad
    tensor([2., 4.])
"""

from yingshe._dtype import (  # noqa: F401
    bool, double, dtype, float, float16, float32, float64, get_default_dtype, half, int,
    int8, int16, int32, int64, long, promote_types, set_default_dtype, short, uint8,
)
from yingshe._tensor import Tensor  # noqa: F401
from yingshe.errors import silence_numpy_fp_warnings as _silence_fp

_silence_fp()   # IEEE results without NumPy's warnings (see yingshe.errors)
from yingshe._device import device  # noqa: F401
from yingshe import ops as _ops  # registers every op  # noqa: E402
from yingshe.ops._registry import install_methods as _install_methods  # noqa: E402
from yingshe.ops.elementwise import *  # noqa: F401,F403,E402
from yingshe.ops.elementwise_math import *  # noqa: F401,F403,E402
from yingshe.ops.reduce import *  # noqa: F401,F403,E402
from yingshe.ops.shape import *  # noqa: F401,F403,E402
from yingshe.ops.indexing import *  # noqa: F401,F403,E402
from yingshe.ops.search import *  # noqa: F401,F403,E402
from yingshe.ops.linalg import *  # noqa: F401,F403,E402
from yingshe._creation import *  # noqa: F401,F403,E402
from yingshe.state import Variable  # noqa: F401,E402
from yingshe import autograd  # noqa: F401,E402
from yingshe.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa
from yingshe.autograd import inference_mode  # noqa: F401,E402
from yingshe.errors import DTypeError, ShapeError  # noqa: F401,E402
from yingshe import random  # noqa: F401,E402
from yingshe.random import (  # noqa: F401,E402
    Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state,
)
from yingshe.io import load, save  # noqa: F401,E402
from yingshe import datasets, utils  # noqa: F401,E402
from yingshe import optim  # noqa: F401,E402
from yingshe import nn  # noqa: F401,E402
from yingshe import graph  # noqa: F401,E402  (registers the symbolic dispatch)
from yingshe.graph.trace import compile  # noqa: F401,E402,A001
from yingshe.backend.threads import get_num_threads, set_num_threads  # noqa: F401,E402

_install_methods(Tensor)

__version__ = "0.1.0"


def __getattr__(name: str):
    # yingshe.onnx (export and load) is imported on first use: most programs never need it
    if name == "onnx":
        import importlib
        return importlib.import_module("yingshe.onnx")
    raise AttributeError(f"module 'yingshe' has no attribute {name!r}")
