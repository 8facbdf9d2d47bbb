"""Helpers shared by the layer modules: factory arguments, tuple arguments."""

from __future__ import annotations

import collections.abc
from itertools import repeat

import numpy as np

from yingshe import _dtype
from yingshe.nn.parameter import Parameter


def factory_dtype(layer: str, device=None, dtype=None) -> np.dtype:
    """The NumPy dtype for a layer's parameters from PyTorch's ``device=``/``dtype=``
    factory arguments; devices other than the CPU raise ``NotImplementedError``."""
    if device is not None:
        name = str(getattr(device, "type", device)).split(":")[0]
        if name != "cpu":
            raise NotImplementedError(
                f"{layer}: device={device!r} is not supported by yingshe (only 'cpu')")
    dt = _dtype.get_default_dtype() if dtype is None else _dtype.as_dtype(dtype)
    if not dt.is_floating_point:
        raise TypeError(f"{layer}: parameters must have a floating point dtype, got {dt!r}")
    return dt.np


def empty_parameter(shape, npd) -> Parameter:
    """A parameter of ``shape`` whose values the layer's ``reset_parameters`` sets."""
    return Parameter(np.zeros(tuple(shape), dtype=npd))


def _ntuple(n: int, name: str):
    def parse(x):
        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(repeat(x, n))
    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
