"""``Dropout`` (active in training mode only)."""

from __future__ import annotations

from yingshe.nn import functional as F
from yingshe.nn.modules.module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d"]


class _DropoutNd(Module):
    _fn_name = "dropout"

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def forward(self, input):
        return getattr(F, self._fn_name)(input, self.p, self.training, self.inplace)


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` in training mode and scale the rest by
    1/(1-p); the identity in eval mode. Draws from the framework generator."""
    _fn_name = "dropout"


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) inputs."""
    _fn_name = "dropout1d"


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) inputs."""
    _fn_name = "dropout2d"
