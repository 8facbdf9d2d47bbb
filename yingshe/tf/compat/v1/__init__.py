"""``tf.compat.v1``: TensorFlow 1 programs on ``yingshe.graph``.

Call ``disable_eager_execution()`` (or ``disable_v2_behavior()``) first, as with
TensorFlow: from then on ``placeholder``, ``Variable``, ``constant`` and the ops build
graph nodes, and a ``Session`` runs them. Errors are TensorFlow's: a missing feed is
``tf.errors.InvalidArgumentError``, a mis-shaped feed a ``ValueError``, reading an
uninitialised Variable ``tf.errors.FailedPreconditionError``, mixing dtypes while
building a ``TypeError``. Variable values are global to the process (yingshe.graph's
rule), not per Session.
"""

from __future__ import annotations

import numpy as np

from yingshe import graph as _g
from yingshe.graph.ir import FeedError as _FeedError, UninitializedVariableError as _Uninit
from yingshe.tf import _core, errors, math, nn, random  # noqa: F401
from yingshe.tf._core import (DType, TensorShape, as_dtype, bool_ as bool,  # noqa: F401
                              convert_to_tensor, core_dtype, double, float16, float32,
                              float64, half, int8, int16, int32, int64, uint8)
from yingshe.tf._ops import *  # noqa: F401,F403
from yingshe.tf._ops import __all__ as _ops_all
from yingshe.tf._ops import reduce_max as _rmax, reduce_mean as _rmean, reduce_sum as _rsum
from yingshe.tf._unsupported import unsupported_getattr
from yingshe.tf._variables import GradientTape, Variable  # noqa: F401
from yingshe.tf.compat.v1 import train  # noqa: F401
from yingshe._tensor import Tensor  # noqa: F401

__all__ = sorted(set(_ops_all) | {
    "errors", "math", "nn", "random", "train", "DType", "TensorShape", "as_dtype", "bool",
    "double", "float16", "float32", "float64", "half", "int8", "int16", "int32", "int64",
    "uint8", "Tensor", "GradientTape", "Variable", "placeholder", "random_normal",
    "random_uniform", "Session", "InteractiveSession", "global_variables_initializer",
    "initialize_all_variables", "variables_initializer", "gradients", "assign",
    "assign_add", "assign_sub", "disable_eager_execution", "disable_v2_behavior",
    "enable_eager_execution", "executing_eagerly", "reset_default_graph",
    "get_default_graph", "Graph", "trainable_variables", "global_variables", "group",
    "no_op", "name_scope", "set_random_seed"})


def disable_eager_execution() -> None:
    """Switch graph building on (``tf.placeholder``, Sessions)."""
    _core.GRAPH_MODE[0] = True


def disable_v2_behavior() -> None:
    disable_eager_execution()


def enable_eager_execution(*args, **kwargs) -> None:
    _core.GRAPH_MODE[0] = False


def executing_eagerly() -> bool:
    return not _core.GRAPH_MODE[0]


def _need_graph(what: str) -> None:
    if not _core.GRAPH_MODE[0]:
        raise RuntimeError(f"tf.{what}() is not compatible with eager execution.")


def placeholder(dtype, shape=None, name=None):
    _need_graph("placeholder")
    return _core.wrap(_g.placeholder(core_dtype(dtype), shape, name=name))


def random_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    return random.normal(shape, mean, stddev, dtype=dtype, seed=seed, name=name)


def random_uniform(shape, minval=0, maxval=None, dtype=float32, seed=None, name=None):
    return random.uniform(shape, minval, maxval, dtype=dtype, seed=seed, name=name)


def set_random_seed(seed: int) -> None:
    random.set_seed(seed)


def _reduction(fn):
    def f(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
          keep_dims=None):
        if axis is None:
            axis = reduction_indices
        keep = True if (keepdims if keepdims is not None else keep_dims) else False
        return fn(input_tensor, axis, keep)
    f.__name__ = fn.__name__
    f.__doc__ = fn.__doc__
    return f


reduce_sum = _reduction(_rsum)
reduce_mean = _reduction(_rmean)
reduce_max = _reduction(_rmax)

get_default_graph = _g.get_default_graph
reset_default_graph = _g.reset_default_graph


class Graph(_g.Graph):
    """``tf.Graph``: inside ``with Graph().as_default():`` TF1 code builds this graph even
    while eager execution is on (TensorFlow 2's rule), as ``placeholder`` and ``Session``
    need."""

    def as_default(self):
        inner = super().as_default()

        class _Ctx:
            def __enter__(self_inner):
                self_inner.prev = _core.GRAPH_MODE[0]
                _core.GRAPH_MODE[0] = True
                return inner.__enter__()

            def __exit__(self_inner, *exc):
                _core.GRAPH_MODE[0] = self_inner.prev
                return inner.__exit__(*exc)
        return _Ctx()


gradients = _g.gradients
trainable_variables = _g.trainable_variables
global_variables = _g.global_variables
group = _g.group
no_op = _g.no_op
name_scope = _g.name_scope
global_variables_initializer = _g.global_variables_initializer
initialize_all_variables = _g.global_variables_initializer
variables_initializer = _g.variables_initializer


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    return _g.assign(ref, value, name=name)


def assign_add(ref, value, use_locking=None, name=None):
    return _g.assign_add(ref, value, name=name)


def assign_sub(ref, value, use_locking=None, name=None):
    return _g.assign_sub(ref, value, name=name)


def _tf_values(x):
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return x[()]
    if isinstance(x, list):
        return [_tf_values(v) for v in x]
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(_tf_values(v) for v in x)
    if isinstance(x, dict):
        return type(x)((k, _tf_values(v)) for k, v in x.items())
    return x


class _SessionMixin:
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """``Session.run`` with TensorFlow's errors: a mis-shaped or mistyped feed is a
        ``ValueError``, a missing one ``InvalidArgumentError``, an uninitialised
        Variable ``FailedPreconditionError``. 0-d results are NumPy scalars."""
        for k, v in (feed_dict or {}).items():
            sym = self._feed_key(k)
            self._feed_value(sym, v)          # raises FeedError (a ValueError) as TF does
        try:
            out = super().run(fetches, feed_dict, options, run_metadata)
        except _FeedError as err:
            raise errors.InvalidArgumentError(None, None, str(err)) from err
        except _Uninit as err:
            raise errors.FailedPreconditionError(None, None, str(err)) from err
        return _tf_values(out)


class Session(_SessionMixin, _g.Session):
    """``tf.compat.v1.Session(graph=None)`` on ``yingshe.graph.Session``."""

    def __init__(self, target="", graph=None, config=None) -> None:
        super().__init__(graph, config=config)   # config={"backend": ...} picks the backend


class InteractiveSession(_SessionMixin, _g.InteractiveSession):
    def __init__(self, target="", graph=None, config=None) -> None:
        super().__init__(graph)


def __getattr__(name: str):
    return _unsupported(name)


_unsupported = unsupported_getattr(__name__)
