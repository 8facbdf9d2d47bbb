"""``tf.random``: ``normal``, ``uniform``, ``set_seed`` on yingshe's generator.

Values differ from TensorFlow's (another generator); shapes, dtypes and
distributions are the same. While building a graph, samples are graph nodes
drawn at each ``Session.run``.
"""

from __future__ import annotations

import yingshe
from yingshe.tf import _core
from yingshe.tf._core import core_dtype
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["normal", "uniform", "set_seed"]


def _shape(shape):
    from yingshe.tf._ops import _shape_list
    return _shape_list(shape)


_GLOBAL_SEED = [None]   # tf.random.set_seed's value (tf.data's shuffles derive theirs)
_OP_COUNTER = [0]       # ops seeded from the global seed since it was set (TensorFlow's rule)


def set_seed(seed) -> None:
    """Seed yingshe's default generator (``yingshe.manual_seed``); ``None`` clears the
    global seed (random ops, ``tf.data`` shuffles without their own seed, are then not
    reproducible), as in TensorFlow."""
    _GLOBAL_SEED[0] = None if seed is None else int(seed)
    _OP_COUNTER[0] = 0
    if seed is not None:
        yingshe.manual_seed(int(seed))


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None):
    dt = core_dtype(dtype or _core.float32)
    if not dt.is_floating_point:
        raise ValueError(f"Invalid dtype {dt.name} for tf.random.normal (floating point "
                         "dtypes only)")
    if _core.GRAPH_MODE[0]:
        from yingshe import graph
        return graph.random_normal(_shape(shape), mean, stddev, dtype=dt)
    return _core.wrap(yingshe.normal(float(mean), float(stddev), size=_shape(shape),
                                     dtype=dt))


def uniform(shape, minval=0, maxval=None, dtype=None, seed=None, name=None):
    dt = core_dtype(dtype or _core.float32)
    if not dt.is_floating_point:
        from yingshe.tf._unsupported import UnsupportedError
        raise UnsupportedError("tf.random.uniform with an integer dtype is not supported "
                               "by yingshe.tf yet")
    hi = 1.0 if maxval is None else float(maxval)
    if _core.GRAPH_MODE[0]:
        from yingshe import graph
        return graph.random_uniform(_shape(shape), float(minval), hi, dtype=dt)

    return _core.wrap(yingshe.empty(_shape(shape), dtype=dt).uniform_(float(minval), hi))


__getattr__ = unsupported_getattr(__name__)
