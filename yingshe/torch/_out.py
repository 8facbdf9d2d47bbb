"""PyTorch's ``out=`` argument for the front-end's top-level functions (an adapter: the
core computes the result out of place, then it is copied into ``out``).

``torch.mul(a, b, out=c)`` writes ``a * b`` into ``c`` and returns ``c``, as in PyTorch:

- the result is cast to ``out``'s dtype when PyTorch allows it (``same_kind``: an integer
  result into a float ``out`` is fine, a float result into an integer ``out`` raises
  PyTorch's ``RuntimeError``); creation functions (``zeros``, ``arange``, ``rand``...)
  called without ``dtype`` take ``out``'s dtype, as PyTorch does;
- autograd does not flow through ``out=`` (PyTorch raises ``RuntimeError`` when an input
  or ``out`` requires grad while grad mode is on; so does this adapter);
- ``out`` must already have the result's shape: PyTorch would resize it, yingshe tensors
  cannot be resized in place, so a different shape raises ``NotImplementedError`` naming
  ``out=`` (never a silent write of the wrong shape).
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

import yingshe as _ys

# Functions that create a tensor from sizes/ranges: without ``dtype`` they take out's.
CREATION = frozenset({
    "arange", "empty", "eye", "full", "linspace", "logspace", "ones", "zeros", "rand",
    "randn", "randint", "randperm", "normal", "bernoulli", "multinomial",
})


def _write(name: str, out, result) -> None:
    if not isinstance(out, _ys.Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if tuple(out.shape) != tuple(result.shape):
        raise NotImplementedError(
            f"torch.{name}: out= with a tensor of shape {tuple(out.shape)} for a result of "
            f"shape {tuple(result.shape)} (PyTorch resizes out) is not supported by "
            "yingshe.torch; pass an out of the result's shape")
    src_dt, dst_dt = result.dtype.np, out.dtype.np
    if src_dt != dst_dt and not np.can_cast(src_dt, dst_dt, casting="same_kind"):
        raise RuntimeError(
            f"{name}(): result type {result.dtype} can't be cast to the desired output type "
            f"{out.dtype}")
    with _ys.no_grad():
        out.copy_(result)


def with_out(name: str, fn):
    """``fn`` (a core function with an ``out`` parameter that the core may not implement)
    wrapped so that ``out=`` works as in PyTorch."""
    params = inspect.signature(fn).parameters
    takes_dtype = "dtype" in params

    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if _ys.is_grad_enabled() and any(isinstance(o, _ys.Tensor) and o.requires_grad
                                         for o in outs):
            raise RuntimeError(
                f"{name}(): functions with out=... arguments don't support automatic "
                "differentiation, but one of the arguments requires grad.")
        if name in CREATION and takes_dtype and kwargs.get("dtype") is None \
                and isinstance(outs[0], _ys.Tensor):
            kwargs["dtype"] = outs[0].dtype
        result = fn(*args, **kwargs)
        results = tuple(result) if isinstance(result, tuple) else (result,)
        if len(results) != len(outs):
            raise TypeError(f"{name}(): out= expects {len(results)} tensor(s), got {len(outs)}")
        if any(r.requires_grad for r in results):
            raise RuntimeError(
                f"{name}(): functions with out=... arguments don't support automatic "
                "differentiation, but one of the arguments requires grad.")
        for o, r in zip(outs, results):
            _write(name, o, r)
        return out

    return wrapper


def takes_out(fn) -> bool:
    try:
        return "out" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
