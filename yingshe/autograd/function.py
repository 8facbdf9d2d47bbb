"""User-defined differentiable ops: ``yingshe.autograd.Function`` (PyTorch's API).

A subclass defines ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``
with yingshe ops and is called through ``MyFn.apply(*args)``. Each subclass is
registered in the op registry under its qualified name, like a built-in op, so
it prints, errors and draws like one. ``backward`` is written with yingshe ops,
so ``create_graph=True`` differentiates through it too.
"""

from __future__ import annotations

import functools

from yingshe._tensor import MODE, Node, Tensor, _wrap
from yingshe.errors import caller_site
from yingshe.ops._registry import REGISTRY, OpDef, Saved, _edge, _RECORD_SITES

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """The ``ctx`` object passed to a Function's forward and backward."""

    def __init__(self, fn_cls, n_inputs: int) -> None:
        self._fn = fn_cls
        self._saved = ()
        self._saved_versions = ()
        self._num_outputs = 1
        self._non_differentiable: set[int] = set()
        self._materialize = True
        self.needs_input_grad: tuple[bool, ...] = (False,) * n_inputs

    def save_for_backward(self, *tensors) -> None:
        self._saved = tuple(tensors)
        self._saved_versions = tuple(t._vc[0] if isinstance(t, Tensor) else None for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(
                f"trying to backward through {self._fn.__name__} a second time: its saved "
                "tensors were freed; pass retain_graph=True to the first backward()"
            )
        for t, v in zip(self._saved, self._saved_versions):
            if v is not None and t._vc[0] != v:
                raise RuntimeError(
                    f"a tensor saved by {self._fn.__name__}.forward was modified by an "
                    "in-place operation before backward"
                )
        return self._saved

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize = bool(value)

    def mark_dirty(self, *tensors) -> None:
        from yingshe.errors import UnsupportedError
        raise UnsupportedError("autograd.Function: ctx.mark_dirty (in-place Functions) is not "
                               "supported by yingshe; return a new tensor instead")

    def _run_backward(self, grads: list):
        if self._materialize:
            grads = [
                g if g is not None else _wrap(self._zeros[i]) for i, g in enumerate(grads)
            ]
        result = self._fn.backward(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n = len(self.needs_input_grad)
        if len(result) > n and all(r is None for r in result[n:]):
            result = result[:n]
        if len(result) != n:
            raise RuntimeError(
                f"function {self._fn.__name__}.backward returned {len(result)} gradients, "
                f"expected {n} (one per forward input)"
            )
        return result


def _not_registered_forward(xp, *arrays, **attrs):  # pragma: no cover - never called
    raise RuntimeError("a Function runs through Function.apply, not the registry's forward")


def _any_infer(*metas, **attrs):
    raise NotImplementedError("shape inference of a user Function runs its forward on symbols")


class Function:
    """Base class of user-defined ops with hand-written backward.

    Example:
        >>> class Cube(yingshe.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x ** 3
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         (x,) = ctx.saved_tensors
        ...         return g * 3 * x ** 2
        >>> y = Cube.apply(yingshe.tensor(2.0, requires_grad=True))
    """

    _opdef: OpDef

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        name = f"{cls.__module__}.{cls.__qualname__}"
        op = OpDef(name, _not_registered_forward, _any_infer, None, saves="both",
                   doc=cls.__doc__)
        op.differentiable = True
        op.backward_name = f"{cls.__name__}Backward"
        REGISTRY[name] = op  # re-registration (a redefined class in a notebook) replaces
        cls._opdef = op

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("subclasses of Function must implement forward")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("subclasses of Function must implement backward")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx(cls, len(args))
        # (the property: a view whose base was changed in place has its history re-derived)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        requires = MODE.grad_enabled and any(ctx.needs_input_grad)
        prev = MODE.grad_enabled
        MODE.grad_enabled = False
        try:
            outputs = cls.forward(ctx, *args, **kwargs)
        finally:
            MODE.grad_enabled = prev
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        if not requires:
            return outputs
        import numpy as np
        ctx._num_outputs = len(outs)
        ctx._zeros = [np.zeros_like(o._data) if isinstance(o, Tensor) else None for o in outs]
        metas = tuple(
            Saved(a.shape, a.dtype) if isinstance(a, Tensor) else None for a in args
        )
        node = Node(cls._opdef, {}, tuple(_edge(a) for a in args), metas, None, None,
                    caller_site(2) if (MODE.anomaly or _RECORD_SITES[0]) else None, ctx=ctx)
        wrapped = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                wrapped.append(o)
                continue
            diff = o._data.dtype.kind == "f" and id(o) not in ctx._non_differentiable
            if diff:
                wrapped.append(_wrap(o._data, True, node, i))
            else:
                wrapped.append(_wrap(o._data))
        return wrapped[0] if single else tuple(wrapped)


def once_differentiable(fn):
    """Decorator for ``backward``: run it without recording (no double backward)."""

    @functools.wraps(fn)
    def wrapper(ctx, *grads):
        prev = MODE.grad_enabled
        MODE.grad_enabled = False
        try:
            return fn(ctx, *grads)
        finally:
            MODE.grad_enabled = prev

    return wrapper
