"""Activation modules (thin wrappers over ``nn.functional``)."""

from __future__ import annotations

import warnings

from yingshe.nn import functional as F
from yingshe.nn.modules.module import Module

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "Sigmoid", "Tanh",
           "Softmax", "LogSoftmax", "Softmin", "Softplus", "SiLU", "Mish", "Hardtanh",
           "Hardswish", "Hardsigmoid", "Softsign", "LogSigmoid", "Tanhshrink", "Threshold"]


class _Inplace(Module):
    _fn_name = ""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return getattr(F, self._fn_name)(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class _Plain(Module):
    _fn_name = ""

    def forward(self, input):
        return getattr(F, self._fn_name)(input)


class ReLU(_Inplace):
    """max(0, x)."""
    _fn_name = "relu"


class SELU(_Inplace):
    _fn_name = "selu"


class SiLU(_Inplace):
    """x * sigmoid(x)."""
    _fn_name = "silu"


class Mish(_Inplace):
    _fn_name = "mish"


class Hardswish(_Inplace):
    _fn_name = "hardswish"


class Hardsigmoid(_Inplace):
    _fn_name = "hardsigmoid"


class Sigmoid(_Plain):
    """1 / (1 + exp(-x))."""
    _fn_name = "sigmoid"


class Tanh(_Plain):
    _fn_name = "tanh"


class Softsign(_Plain):
    _fn_name = "softsign"


class LogSigmoid(_Plain):
    _fn_name = "logsigmoid"


class Tanhshrink(_Plain):
    _fn_name = "tanhshrink"


class LeakyReLU(Module):
    """max(0, x) + negative_slope * min(0, x)."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)


class GELU(Module):
    """x * Phi(x) (``approximate="tanh"`` for the tanh approximation)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Hardtanh(Module):
    """clamp(x, min_val, max_val)."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        if min_value is not None:   # PyTorch's deprecated spellings, still accepted
            warnings.warn("keyword argument `min_value` is deprecated and renamed to "
                          "`min_val`", FutureWarning, stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and renamed to "
                          "`max_val`", FutureWarning, stacklevel=2)
            max_val = max_value
        if max_val <= min_val:
            raise ValueError("Hardtanh: max_val must be greater than min_val")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        s = "inplace=True" if self.inplace else ""
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", " + s if s else "")


class ReLU6(Hardtanh):
    """min(max(0, x), 6)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Threshold(Module):
    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        s = "inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}" + (", " + s if s else "")


class Softplus(Module):
    """(1/beta) log(1 + exp(beta x)), linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class _SoftmaxBase(Module):
    _fn_name = "softmax"

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return getattr(F, self._fn_name)(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """exp(x) / sum(exp(x)) along ``dim``."""
    _fn_name = "softmax"


class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along ``dim``."""
    _fn_name = "log_softmax"


class Softmin(_SoftmaxBase):
    _fn_name = "softmin"
