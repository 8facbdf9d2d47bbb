"""The NumPy backend: NumPy's namespace plus the extras that ops need.

Op forwards call ``xp.exp``, ``xp.matmul`` ... on this module, which is NumPy's
own namespace; the functions defined below fill the gaps (operations with no
array-API spelling, or whose NumPy spelling differs from what ops need).
"""

from __future__ import annotations

import math

import numpy as _np
from numpy import lib, linalg, random  # noqa: F401 - submodules that ops and yingshe use

# This module *is* the xp namespace: NumPy's public names, copied once (an attribute
# lookup on a module costs nothing; a module __getattr__ would cost a call per op).
# ``from numpy import *`` would also import every lazily loaded submodule NumPy lists
# (f2py, testing, ma, polynomial, ...: a third of a second), which no op needs.
globals().update({_k: _v for _k, _v in vars(_np).items()
                  if _k in _np.__all__ and _k not in globals()})

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


_erf_impl = []   # the error function chosen at its first use


def _choose_erf():
    # SciPy's erf is exact to double precision and vectorised; it is optional, and
    # importing scipy.special takes a third of a second, so only code that uses erf
    # (GELU, erf) pays for it, once.
    try:
        from scipy.special import erf as scipy_erf
        return scipy_erf
    except ImportError:  # pragma: no cover - depends on the environment
        return _np.vectorize(math.erf, otypes=[_np.float64])


def erf(x):
    """The error function, to double precision (SciPy if installed, else math.erf)."""
    if not _erf_impl:
        _erf_impl.append(_choose_erf())
    return _erf_impl[0](x).astype(x.dtype, copy=False)
