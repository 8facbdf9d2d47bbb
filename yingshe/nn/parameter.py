"""``Parameter``: a trainable ``Variable`` that a ``Module`` registers on assignment.

A ``Parameter`` *is* a ``yingshe.state.Variable`` (the one storage class), so the
eager tape, graphs and compiled steps all read and update the same buffer.
"""

from __future__ import annotations

from yingshe._tensor import Tensor
from yingshe.state import Variable

__all__ = ["Parameter"]


class Parameter(Variable):
    """A tensor that is a module parameter (``requires_grad=True`` by default).

    ``Parameter(t)`` shares memory with ``t`` (as in PyTorch); ``Parameter()`` is an
    empty float tensor.

    Example:
        >>> w = yingshe.nn.Parameter(yingshe.tensor([1.0, 2.0]))
        >>> w.requires_grad
        True
    """

    def __init__(self, data=None, requires_grad: bool = True) -> None:
        if data is not None and isinstance(data, Tensor) and data._node is not None:
            data = data.detach()
        super().__init__(data, requires_grad=bool(requires_grad), trainable=bool(requires_grad))

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


    def __deepcopy__(self, memo):
        # as torch.nn.Parameter: a copy of the value and the flag, not of .grad
        if id(self) in memo:
            return memo[id(self)]
        new = type(self)(Tensor(self._data.copy()), self.requires_grad)
        memo[id(self)] = new
        return new
