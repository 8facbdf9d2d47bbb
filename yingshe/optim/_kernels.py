"""The in-place primitives every optimizer update is written with.

Each optimizer's maths is one function (``sgd.py``'s ``sgd_update``,
``adam.py``'s ``adam_update`` ...) written against a *kernel* ``K`` that offers a
handful of in-place primitives (``K.mul_(x, a)``, ``K.addcdiv_(x, y, z, value)``,
...). There are two kernels, so the formula exists once and runs in two worlds:

``NUMPY`` (eager, the default)
    the operands are the backend arrays behind the tensors; every primitive
    writes with ``out=`` into the operand or into a scratch buffer that the
    kernel keeps per (shape, dtype, slot), so a step allocates nothing after
    the first (fresh multi-megabyte allocations are what makes NumPy training
    loops slow). Used when no tracer is active: optimizer steps run under
    ``no_grad``, so nothing needs recording.
``TENSOR`` (tracing, graphs)
    the operands are yingshe tensors; each primitive is ordinary yingshe ops
    followed by ``yingshe.ops._inplace.commit``, so under a tracer the update
    becomes graph nodes that assign the parameters and state.

Both give the same numbers: the NumPy kernel performs the same elementwise
operations, in the same order and dtype, as the yingshe ops it stands for.

Primitives that return a *new* value (``sqrt``, ``add``, ``neg`` ...) take a
``slot`` name: in the NumPy kernel the result lives in that scratch buffer until
the same slot is used again for the same shape, so an update must not hold two
live values in one slot. Slot ``"_t"`` is reserved for the primitives' own use.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NUMPY", "TENSOR", "NumpyKernel", "TensorKernel"]


class NumpyKernel:
    """In-place primitives on NumPy arrays with reusable scratch buffers."""

    def __init__(self) -> None:
        self._scratch: dict = {}

    def _buf(self, like: np.ndarray, slot: str) -> np.ndarray:
        key = (like.shape, like.dtype.str, slot)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = np.empty(like.shape, like.dtype)
        return buf

    def clear(self) -> None:
        """Drop the scratch buffers (they are rebuilt on the next step)."""
        self._scratch.clear()

    # ---- in place on the first argument -------------------------------------------------
    @staticmethod
    def mul_(x, a):
        """x *= a (a: a number)."""
        np.multiply(x, a, out=x)
        return x

    @staticmethod
    def div_(x, a):
        """x /= a (a: a number)."""
        np.divide(x, a, out=x)
        return x

    @staticmethod
    def add_scalar_(x, a):
        """x += a (a: a number)."""
        np.add(x, a, out=x)
        return x

    def add_(self, x, y, alpha=1.0):
        """x += alpha * y."""
        if alpha == 1:
            np.add(x, y, out=x)
        else:
            t = np.multiply(y, alpha, out=self._buf(x, "_t"))
            np.add(x, t, out=x)
        return x

    def addcmul_(self, x, y, z, value=1.0):
        """x += value * y * z."""
        t = np.multiply(y, z, out=self._buf(x, "_t"))
        if value != 1:
            np.multiply(t, value, out=t)
        np.add(x, t, out=x)
        return x

    def addcdiv_(self, x, y, z, value=1.0):
        """x += value * y / z."""
        t = np.divide(y, z, out=self._buf(x, "_t"))
        if value != 1:
            np.multiply(t, value, out=t)
        np.add(x, t, out=x)
        return x

    def lerp_(self, x, y, weight):
        """x += weight * (y - x)."""
        t = np.subtract(y, x, out=self._buf(x, "_t"))
        np.multiply(t, weight, out=t)
        np.add(x, t, out=x)
        return x

    @staticmethod
    def maximum_(x, y):
        """x = max(x, y) elementwise."""
        np.maximum(x, y, out=x)
        return x

    @staticmethod
    def copy_(x, y):
        np.copyto(x, y)
        return x

    # ---- new values (in a scratch slot) -----------------------------------------------------
    def sqrt(self, x, slot):
        return np.sqrt(x, out=self._buf(x, slot))

    def neg(self, x, slot):
        return np.negative(x, out=self._buf(x, slot))

    def add(self, x, y, alpha, slot):
        """x + alpha * y (a new value)."""
        out = self._buf(x, slot)
        if out is x:  # x already lives in this slot: update it in place
            return self.add_(x, y, alpha)
        np.multiply(y, alpha, out=out)
        return np.add(x, out, out=out)

    def addcmul(self, x, y, z, value, slot):
        """x + value * y * z (a new value)."""
        out = self._buf(x, slot)
        if out is x:
            return self.addcmul_(x, y, z, value)
        np.multiply(y, z, out=out)
        if value != 1:
            np.multiply(out, value, out=out)
        return np.add(x, out, out=out)

    def scale(self, x, a, slot):
        """a * x (a new value)."""
        return np.multiply(x, a, out=self._buf(x, slot))

    @staticmethod
    def clone(x):
        """A fresh (persistent) copy, e.g. a momentum buffer."""
        return np.array(x, copy=True, order="C")

    @staticmethod
    def zeros_like(x):
        """A fresh (persistent) buffer of zeros."""
        return np.zeros(x.shape, x.dtype)


def _is_one(a) -> bool:
    """``a == 1`` for a number (a traced ``HyperFloat`` records the comparison as a guard);
    False for a tensor (a graph optimizer's bias correction is a graph value)."""
    return isinstance(a, (int, float)) and a == 1


class TensorKernel:
    """The same primitives written with yingshe ops and ``commit`` (traceable)."""

    @staticmethod
    def _commit(x, value, name):
        from yingshe.ops._inplace import commit
        return commit(x, value, name)

    def clear(self) -> None:
        pass

    def mul_(self, x, a):
        return self._commit(x, x * a, "mul_")

    def div_(self, x, a):
        return self._commit(x, x / a, "div_")

    def add_scalar_(self, x, a):
        return self._commit(x, x + a, "add_")

    def add_(self, x, y, alpha=1.0):
        return self._commit(x, x + (y if _is_one(alpha) else y * alpha), "add_")

    def addcmul_(self, x, y, z, value=1.0):
        t = y * z
        return self._commit(x, x + (t if _is_one(value) else t * value), "addcmul_")

    def addcdiv_(self, x, y, z, value=1.0):
        t = y / z
        return self._commit(x, x + (t if _is_one(value) else t * value), "addcdiv_")

    def lerp_(self, x, y, weight):
        return self._commit(x, x + (y - x) * weight, "lerp_")

    def maximum_(self, x, y):
        import yingshe
        return self._commit(x, yingshe.maximum(x, y), "maximum_")

    def copy_(self, x, y):
        return self._commit(x, y, "copy_")

    def sqrt(self, x, slot):
        import yingshe
        return yingshe.sqrt(x)

    def neg(self, x, slot):
        return -x

    def add(self, x, y, alpha, slot):
        return x + y * alpha

    def addcmul(self, x, y, z, value, slot):
        t = y * z
        return x + (t if _is_one(value) else t * value)

    def scale(self, x, a, slot):
        return x * a

    @staticmethod
    def clone(x):
        from yingshe._tensor import _wrap
        if x._data is not None:
            return _wrap(np.array(x._data, copy=True, order="C"))
        return x * 1  # a graph symbol: a new value

    @staticmethod
    def zeros_like(x):
        from yingshe.optim.optimizer import _zeros
        return _zeros(x)


NUMPY = NumpyKernel  # the class; each optimizer owns an instance (its scratch buffers)
TENSOR = TensorKernel()
