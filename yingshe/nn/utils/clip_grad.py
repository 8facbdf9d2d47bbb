"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_`` (PyTorch's).

Both change ``p.grad`` in place (no autograd: gradients are plain values here)
and run on the backend arrays directly.
"""

from __future__ import annotations

import math

import numpy as np

from yingshe._tensor import MODE, Tensor, _wrap

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _check_eager(name: str) -> None:
    if MODE.tracer is not None:
        raise NotImplementedError(f"{name} is not supported while tracing yet: clip eagerly")


def _vector_norm(a: np.ndarray, p: float) -> np.ndarray:
    """``torch.linalg.vector_norm(a, p)`` for one array, as a 0-d array of a's dtype."""
    dt = a.dtype
    if a.size == 0:
        if math.isinf(p):
            raise RuntimeError(f"linalg.vector_norm cannot compute the {p} norm on an empty "
                               "tensor because the operation does not have an identity")
        return np.zeros((), dt)
    x = np.abs(a)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if p == math.inf:
            r = x.max()
        elif p == -math.inf:
            r = x.min()
        elif p == 0:
            r = np.count_nonzero(x)
        elif p == 1:
            r = x.sum()
        elif p == 2:
            r = np.sqrt(np.vdot(x.ravel(), x.ravel()))
        else:
            r = np.sum(x ** p) ** (1.0 / p)
    return np.asarray(r, dtype=dt)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type`` norm of the norms of ``tensors`` (a 0-d tensor)."""
    _check_eager("get_total_norm")
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = [t for t in tensors if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return _wrap(np.zeros((), np.float32))
    norms = [_vector_norm(t._data, norm_type) for t in tensors]
    dt = np.result_type(*norms)
    total = _vector_norm(np.stack([n.astype(dt) for n in norms]), norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return _wrap(total)


def _scale_in_place(g: Tensor, coef) -> None:
    arr = g._data
    if arr.flags.writeable:
        np.multiply(arr, coef, out=arr, casting="unsafe")
    else:  # a broadcast view: give the gradient its own buffer
        g._data = np.multiply(arr, coef).astype(arr.dtype, copy=False)
    g._vc[0] += 1


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale the gradients by ``min(1, max_norm / (total_norm + 1e-6))``."""
    _check_eager("clip_grads_with_norm_")
    grads = _grads(parameters)
    if not grads:
        return
    tn = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    coef = np.minimum(np.asarray(max_norm, tn.dtype) / (tn + np.asarray(1e-6, tn.dtype)),
                      np.asarray(1.0, tn.dtype))
    for g in grads:
        _scale_in_place(g, coef.astype(g._data.dtype))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their total
    ``norm_type`` norm is at most ``max_norm``; returns the total norm before clipping.

    As in PyTorch, the gradients are multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))`` (also when that is 1). ``foreach``
    only selects an implementation in PyTorch and is accepted.
    """
    _check_eager("clip_grad_norm_")
    grads = _grads(parameters)
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    if grads:
        clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient of ``parameters`` into ``[-clip_value, clip_value]`` in place."""
    _check_eager("clip_grad_value_")
    clip_value = float(clip_value)
    for g in _grads(parameters):
        arr = g._data
        if arr.flags.writeable:
            np.clip(arr, -clip_value, clip_value, out=arr)
        else:
            g._data = np.clip(arr, -clip_value, clip_value).astype(arr.dtype, copy=False)
        g._vc[0] += 1
