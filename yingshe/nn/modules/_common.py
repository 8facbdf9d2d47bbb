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


def weight_and_bias(module, weight_shape, npd, bias: bool, bias_shape=None) -> None:
    """Register ``module.weight`` (``weight_shape``) and ``module.bias`` (``bias_shape``,
    default: the weight's first dim), or ``bias = None`` when ``bias`` is False."""
    module.weight = empty_parameter(weight_shape, npd)
    if bias:
        shape = (tuple(weight_shape)[0],) if bias_shape is None else bias_shape
        module.bias = empty_parameter(shape, npd)
    else:
        module.register_parameter("bias", None)


def affine_parameters(module, shape, npd, affine: bool, bias: bool) -> None:
    """A norm layer's per-element ``weight``/``bias`` of ``shape``, or both None."""
    if affine:
        weight_and_bias(module, shape, npd, bias, bias_shape=shape)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def default_init_(weight, bias) -> None:
    """PyTorch's default for Linear and Conv layers: ``kaiming_uniform_(a=sqrt(5))`` for
    the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias."""
    import math

    from yingshe.nn import init
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        if fan_in != 0:
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(bias, -bound, bound)


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
