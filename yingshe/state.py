"""State: the one storage class for values that live across steps.

A ``Variable`` is a leaf tensor that owns its buffer. ``yingshe.nn.Parameter`` is
a ``Variable`` (trainable, requires grad), and the static graph's ``Variable``
(``yingshe.graph.Variable``) is this same class, so a graph can read and assign
the very array that eager code sees: ``gradients(loss, model.parameters())``
works, and a compiled training step updates parameters in place.

Assignments run under ``no_grad`` semantics: they change values, not history.
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe._tensor import MODE, Tensor, _init

__all__ = ["Variable"]


class Variable(Tensor):
    """A named, assignable leaf tensor (the storage of parameters and graph variables).

    Args:
        data: initial value (anything ``yingshe.tensor`` accepts), or None for a
            variable that is initialised later by its ``initializer``.
        requires_grad: track gradients (default: ``trainable``).
        name: an optional name, shown in graphs, errors and checkpoints.
        trainable: collected by optimizers' ``minimize()`` in graphs.
        initializer: a zero-argument callable returning the initial array; re-run by
            ``global_variables_initializer()`` for graph-created variables.
    """

    def __init__(self, data=None, requires_grad: bool | None = None, *, name: str | None = None,
                 trainable: bool = True, initializer=None, dtype=None) -> None:
        if data is None:
            arr = np.empty((0,), dtype=_dtype.as_dtype(dtype or _dtype.get_default_dtype()).np)
        elif isinstance(data, Tensor):
            arr = data._data
        else:
            from yingshe._creation import _to_array
            arr = _to_array(data, dtype)
        if dtype is not None:
            arr = arr.astype(_dtype.as_dtype(dtype).np, copy=False)
        _init(self, arr, False, None, 0, [0], None)
        self._name = name
        self.trainable = trainable
        self.initializer = initializer
        self.initialized = data is not None
        if requires_grad is None:
            requires_grad = trainable and arr.dtype.kind == "f"
        if requires_grad:
            self.requires_grad = True

    @property
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value

    def assign(self, value) -> "Variable":
        """Set the value in place (same shape; cast to this variable's dtype).

        On a graph-created variable this builds an assign node instead (TF1's
        ``v.assign(x)`` returns an op to run in a Session)."""
        if self._symbolic_read:
            from yingshe import graph
            return graph.assign(self, value)
        from yingshe.ops._inplace import commit
        from yingshe.autograd import no_grad
        if MODE.tracer is None and not isinstance(value, Tensor):
            value = Tensor(np.asarray(value, dtype=self._data.dtype))
        with no_grad():
            commit(self, value, "assign")
        self.initialized = True
        return self

    def assign_add(self, delta) -> "Variable":
        if self._symbolic_read:
            from yingshe import graph
            return graph.assign_add(self, delta)
        with _no_grad():
            return self.assign(self + delta)

    def assign_sub(self, delta) -> "Variable":
        if self._symbolic_read:
            from yingshe import graph
            return graph.assign_sub(self, delta)
        with _no_grad():
            return self.assign(self - delta)

    def initialize(self) -> None:
        """Run the initializer (if any) and store its value as this variable's buffer."""
        if self.initializer is None:
            return
        value = self.initializer()
        arr = value._data if isinstance(value, Tensor) else np.asarray(value)
        self._data = np.array(arr, dtype=arr.dtype, copy=True)
        self._vc[0] += 1
        self.initialized = True


def _no_grad():
    from yingshe.autograd import no_grad
    return no_grad()
