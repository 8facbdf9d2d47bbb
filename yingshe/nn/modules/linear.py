"""``Identity``, ``Linear`` and ``Bilinear`` (PyTorch's signatures and initialisation)."""

from __future__ import annotations

import math

from yingshe.nn import functional as F
from yingshe.nn import init
from yingshe.nn.modules._common import default_init_, factory_dtype, weight_and_bias
from yingshe.nn.modules.module import Module

__all__ = ["Identity", "Linear", "Bilinear"]


class Identity(Module):
    """Returns its input unchanged (constructor arguments are accepted and ignored,
    as in PyTorch)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x W^T + b.

    ``weight`` has shape (out_features, in_features) and is initialised with
    ``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(in), 1/sqrt(in)); ``bias`` with
    U(-1/sqrt(in), 1/sqrt(in)).

    Example:
        >>> nn.Linear(20, 30)(yingshe.ones(128, 20)).shape
        (128, 30)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        npd = factory_dtype("Linear", device, dtype)
        self.in_features = in_features
        self.out_features = out_features
        weight_and_bias(self, (out_features, in_features), npd, bias, bias_shape=(out_features,))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        default_init_(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _bilinear(input1, input2, weight, bias):
    """y_o = x1^T W_o x2 + b_o as a composition of registered ops (used when the
    registry has no fused ``bilinear``)."""
    from yingshe.ops.linalg import matmul
    from yingshe.ops.reduce import sum as _sum
    from yingshe.ops.shape import reshape, transpose, unsqueeze
    o, i, j = weight.shape
    lead = tuple(input1.shape[:-1])
    x1 = reshape(input1, (-1, i))
    x2 = reshape(input2, (-1, j))
    w2 = reshape(transpose(weight, 0, 1), (i, o * j))
    t = reshape(matmul(x1, w2), (-1, o, j))
    y = _sum(t * unsqueeze(x2, 1), -1)
    if bias is not None:
        y = y + bias
    return reshape(y, lead + (o,))


class Bilinear(Module):
    """y = x1^T A x2 + b with ``weight`` (out, in1, in2) and ``bias`` (out,), both
    initialised U(-1/sqrt(in1), 1/sqrt(in1))."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        npd = factory_dtype("Bilinear", device, dtype)
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        weight_and_bias(self, (out_features, in1_features, in2_features), npd, bias,
                        bias_shape=(out_features,))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        if hasattr(F, "bilinear"):
            return F.bilinear(input1, input2, self.weight, self.bias)
        return _bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
