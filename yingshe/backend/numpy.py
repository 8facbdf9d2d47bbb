"""The NumPy backend: NumPy's namespace plus the extras that ops need.

Op forwards call ``xp.exp``, ``xp.matmul`` ... on this module, which is NumPy's
own namespace; the functions defined below fill the gaps (operations with no
array-API spelling, or whose NumPy spelling differs from what ops need).
"""

from __future__ import annotations

import math

import numpy as _np
from numpy import *  # noqa: F401,F403 - this module *is* the xp namespace
from numpy import lib, linalg, random  # noqa: F401 - not covered by numpy's __all__

name = "numpy"
device = "cpu"


def scatter_add(target, index, values, axis):
    """Add ``values`` into ``target`` at ``index`` along ``axis`` (in place), like
    ``torch.Tensor.scatter_add_``: duplicate indices accumulate."""
    idx = list(_np.indices(index.shape, sparse=True))
    idx[axis] = index
    _np.add.at(target, tuple(idx), values)
    return target


def index_add(target, axis, index, values):
    """``target[..., index, ...] += values`` along ``axis`` with duplicates accumulating."""
    sl = (slice(None),) * axis + (index,)
    _np.add.at(target, sl, values)
    return target


try:  # SciPy's erf is exact to double precision; it is an optional dependency
    from scipy.special import erf as _scipy_erf
except ImportError:  # pragma: no cover - depends on the environment
    _scipy_erf = None

_erf_vec = _np.vectorize(math.erf, otypes=[_np.float64])


def erf(x):
    """The error function, to double precision (SciPy if installed, else math.erf)."""
    if _scipy_erf is not None:
        return _scipy_erf(x).astype(x.dtype, copy=False)
    return _erf_vec(x).astype(x.dtype, copy=False)
