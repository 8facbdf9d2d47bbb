"""PyTorch's legacy API, still common in tutorials written before PyTorch 0.4.

- ``torch.FloatTensor``, ``torch.LongTensor`` and the other typed tensor classes: calling
  one builds a tensor of its dtype (``FloatTensor(2, 3)`` by size, ``FloatTensor([1, 2])``
  from data: ``yingshe._tensor.legacy_array`` has PyTorch's rules); ``isinstance(x,
  torch.FloatTensor)`` tests the dtype; ``x.type(torch.FloatTensor)`` casts.
  ``torch.cuda.FloatTensor`` and friends exist, and say that there is no CUDA when used.
- ``torch.autograd.Variable``: a no-op wrapper since PyTorch 0.4. ``Variable(t)`` is a
  tensor sharing ``t``'s data, detached, with ``requires_grad`` as given; every tensor is
  an instance of ``Variable``; ``volatile`` is accepted with PyTorch's warning.
- ``torch.set_default_device`` / ``get_default_device``: ``"cpu"`` only.
"""

from __future__ import annotations

import warnings

from yingshe import _dtype
from yingshe._tensor import Tensor, legacy_array

__all__ = ["LEGACY_TYPES", "legacy_type", "Variable", "set_default_device",
           "get_default_device"]


class _LegacyTensorType(type):
    """The metaclass of the typed tensor classes: ``isinstance`` tests the dtype."""

    def __instancecheck__(cls, obj) -> bool:
        if cls._is_cuda:
            return False
        return isinstance(obj, Tensor) and obj._data is not None and \
            obj._data.dtype == cls.dtype.np

    def __subclasscheck__(cls, sub) -> bool:
        return type.__subclasscheck__(cls, sub)

    def __repr__(cls) -> str:
        return f"<class '{cls._qualname}'>"


class _LegacyTensor(metaclass=_LegacyTensorType):
    dtype = _dtype.float32
    is_cuda = False
    _is_cuda = False
    _qualname = "torch.FloatTensor"

    def __new__(cls, *args, device=None, **kwargs):
        if cls._is_cuda:
            raise RuntimeError(f"{cls._qualname}: yingshe has no CUDA backend (a CuPy GPU "
                               "backend is planned); use the CPU tensor types")
        if kwargs:
            raise TypeError(f"{cls._qualname}(): new() received an invalid combination of "
                            f"arguments - got keyword(s) {', '.join(sorted(kwargs))}; only "
                            "device= is accepted")
        return Tensor(legacy_array(args, cls.dtype, cls._qualname, device))


def _make(name: str, dt, cuda: bool = False) -> type:
    prefix = "torch.cuda." if cuda else "torch."
    return _LegacyTensorType(name, (_LegacyTensor,), {
        "dtype": dt, "is_cuda": cuda, "_is_cuda": cuda, "_qualname": prefix + name,
        "__module__": prefix[:-1], "__doc__": f"``{prefix}{name}``: tensors of dtype "
        f"{dt.name}" + (" on CUDA (not available in yingshe)" if cuda else "") + "."})


_NAMES = {"FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
          "ByteTensor": "uint8", "CharTensor": "int8", "ShortTensor": "int16",
          "IntTensor": "int32", "LongTensor": "int64", "BoolTensor": "bool"}

LEGACY_TYPES = {name: _make(name, getattr(_dtype, dt)) for name, dt in _NAMES.items()}
CUDA_TYPES = {name: _make(name, getattr(_dtype, dt), cuda=True) for name, dt in _NAMES.items()}


def legacy_type(name: str):
    """The class ``torch.<name>`` (``"FloatTensor"``...)."""
    return LEGACY_TYPES[name]


# ---- Variable ------------------------------------------------------------------------------

class _VariableMeta(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor)

    def __repr__(cls) -> str:
        return "<class 'torch.autograd.variable.Variable'>"


class Variable(metaclass=_VariableMeta):
    """``torch.autograd.Variable(data, requires_grad=False, volatile=False)``: since
    PyTorch 0.4 a Variable is a Tensor; this returns ``data`` detached (the same memory)
    with ``requires_grad`` as given."""

    def __new__(cls, data=None, requires_grad: bool = False, volatile: bool = False):
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with "
                          "torch.no_grad():` instead.", UserWarning, stacklevel=2)
        if data is None:
            return Tensor()
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got "
                            f"{type(data).__name__}")
        out = data.detach()
        if requires_grad:
            out.requires_grad_(True)
        return out


# ---- default device ----------------------------------------------------------------------

def set_default_device(device) -> None:
    """``torch.set_default_device``: ``"cpu"`` (or ``None``) only; yingshe has no other
    device, so asking for one is an error here rather than at the next tensor."""
    if device is not None and str(device).split(":")[0] != "cpu":
        raise RuntimeError(f"torch.set_default_device({str(device)!r}): yingshe has no "
                           f"{str(device).split(':')[0]!r} device (only 'cpu')")


def get_default_device():
    """``torch.get_default_device()``: always ``device(type='cpu')``."""
    from yingshe._device import CPU
    return CPU
