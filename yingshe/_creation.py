"""Making tensors from Python data and NumPy arrays (``tensor``, ``as_tensor``, ...)."""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor, _wrap

__all__ = ["tensor", "as_tensor", "from_numpy", "asarray"]


def _to_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flat(data)):
        arr = np.array(_to_nested_py(data))
    else:
        arr = np.asarray(data)
    if dtype is not None:
        return arr.astype(_dtype.as_dtype(dtype).np, copy=False)
    if not isinstance(data, (np.ndarray, np.generic, Tensor)):
        # Python data: floats become the default float dtype, ints int64, bools bool.
        if arr.dtype.kind == "f":
            arr = arr.astype(_dtype.get_default_dtype().np)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        elif arr.dtype.kind == "O":
            raise TypeError("tensor: could not infer a dtype from ragged or mixed data; "
                            "nested sequences must be rectangular and numeric")
    _dtype.from_numpy_dtype(arr.dtype)  # raises a clear error for unsupported dtypes
    return arr


def _flat(data):
    for d in data:
        if isinstance(d, (list, tuple)):
            yield from _flat(d)
        else:
            yield d


def _to_nested_py(data):
    if isinstance(data, (list, tuple)):
        return [_to_nested_py(d) for d in data]
    if isinstance(data, Tensor):
        return data._data
    return data


def _check_device(device) -> None:
    if device is not None:
        from yingshe.backend import get
        get(str(getattr(device, "type", device)).split(":")[0])


def tensor(data, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, scalars, arrays, tensors).

    Python floats give float32 (the default dtype), ints int64, bools bool; NumPy
    arrays keep their dtype.

    Example:
        >>> yingshe.tensor([[1., 2.], [3., 4.]], requires_grad=True).sum().backward()
    """
    _check_device(device)
    arr = np.array(_to_array(data, dtype), copy=True)
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array or tensor when it can."""
    _check_device(device)
    if isinstance(data, Tensor) and (dtype is None or data.dtype is _dtype.as_dtype(dtype)):
        return data
    return _wrap(_to_array(data, dtype))


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False) -> Tensor:
    t = tensor(obj, dtype=dtype, device=device) if copy else as_tensor(obj, dtype, device)
    if requires_grad:
        t.requires_grad = True
    return t


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray`` (its dtype is kept)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray, got {type(ndarray).__name__}")
    _dtype.from_numpy_dtype(ndarray.dtype)
    return _wrap(ndarray)
