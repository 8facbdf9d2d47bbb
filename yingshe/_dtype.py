"""yingshe's dtypes and PyTorch's type-promotion rules.

A ``dtype`` is a small immutable object (``yingshe.float32``); each one wraps
the NumPy dtype that backs it. Promotion follows PyTorch, not NumPy:

* categories are ordered bool < integer < floating;
* among tensors of the same category the wider dtype wins;
* a higher-category *tensor* wins outright (int64 + float32 -> float32, where
  NumPy would say float64);
* zero-dimensional tensors and Python scalars only matter when they are of a
  higher category than every dimensioned tensor ("they do not widen"); a
  Python float then gives the default float dtype (float32), a Python int
  gives int64.
"""

from __future__ import annotations

import builtins

import numpy as np

__all__ = [
    "dtype", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
    "bool", "half", "float", "double", "short", "int", "long",
    "get_default_dtype", "set_default_dtype", "promote_types", "result_type", "as_dtype",
]

BOOL, INT, FLOAT = 0, 1, 2


class dtype:
    """A tensor element type; compare with ``is`` or ``==``."""

    __slots__ = ("name", "np", "category", "itemsize")

    def __init__(self, name: str, np_dtype: np.dtype, category: int) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category
        self.itemsize = self.np.itemsize

    @property
    def is_floating_point(self) -> builtins.bool:
        return self.category == FLOAT

    @property
    def is_complex(self) -> builtins.bool:
        return False

    @property
    def is_signed(self) -> builtins.bool:
        return self.np.kind in "fi"

    def __repr__(self) -> str:
        return f"yingshe.{self.name}"

    def __reduce__(self):  # dtypes are singletons; copies resolve to the same object
        return (as_dtype, (self.name,))


float16 = dtype("float16", np.float16, FLOAT)
float32 = dtype("float32", np.float32, FLOAT)
float64 = dtype("float64", np.float64, FLOAT)
int8 = dtype("int8", np.int8, INT)
int16 = dtype("int16", np.int16, INT)
int32 = dtype("int32", np.int32, INT)
int64 = dtype("int64", np.int64, INT)
uint8 = dtype("uint8", np.uint8, INT)
bool = dtype("bool", np.bool_, BOOL)  # noqa: A001 - PyTorch's name

half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64  # noqa: A001

ALL_DTYPES = (float16, float32, float64, int8, int16, int32, int64, uint8, bool)
_BY_NP: dict[np.dtype, dtype] = {d.np: d for d in ALL_DTYPES}
_BY_NAME: dict[str, dtype] = {d.name: d for d in ALL_DTYPES}
_BY_NAME.update(half=float16, float=float32, double=float64, short=int16, int=int32,
                long=int64, bool_=bool)


class _Defaults:
    float_dtype = float32


_defaults = _Defaults()


def get_default_dtype() -> dtype:
    """The dtype that Python floats and float factory functions produce (float32)."""
    return _defaults.float_dtype


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype (float32 or float64), as ``torch.set_default_dtype``."""
    d = as_dtype(d)
    if d.category != FLOAT:
        raise TypeError(f"set_default_dtype: only floating dtypes are supported, got {d}")
    _defaults.float_dtype = d


def from_numpy_dtype(npd) -> dtype:
    """The yingshe dtype backing a NumPy dtype; a clear TypeError for unsupported ones."""
    try:
        return _BY_NP[npd]
    except KeyError:
        npd = np.dtype(npd)
        if npd in _BY_NP:
            return _BY_NP[npd]
        raise TypeError(
            f"NumPy dtype {npd} is not supported by yingshe "
            f"(supported: {', '.join(d.name for d in ALL_DTYPES)})"
        ) from None


def as_dtype(d) -> dtype:
    """Accept a yingshe dtype, a NumPy dtype or scalar type, a Python type, or a name."""
    if d.__class__ is dtype:
        return d
    if isinstance(d, str):
        try:
            return _BY_NAME[d.removeprefix("torch.").removeprefix("yingshe.")]
        except KeyError:
            raise TypeError(f"unknown dtype name {d!r}") from None
    if d is builtins.float:
        return _defaults.float_dtype
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool
    return from_numpy_dtype(np.dtype(d))


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's promotion of two tensor dtypes (higher category wins outright)."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    return _BY_NP[np.promote_types(a.np, b.np)]


def scalar_category(x) -> int:
    if isinstance(x, builtins.bool):
        return BOOL
    if isinstance(x, builtins.int):
        return INT
    return FLOAT


def _default_of(category: int) -> dtype:
    return (bool, int64, _defaults.float_dtype)[category]


def result_type(*operands) -> dtype:
    """Result dtype of an elementwise op over tensors and Python scalars (PyTorch rules).

    ``operands`` are objects with ``.dtype`` and ``.ndim`` (tensors or arrays) or
    Python numbers.
    """
    dim_dt = zero_dt = None
    scalar_cat = -1
    for x in operands:
        dt = getattr(x, "dtype", None)
        if dt is None:
            scalar_cat = max(scalar_cat, scalar_category(x))
            continue
        if dt.__class__ is not dtype:
            dt = from_numpy_dtype(dt)
        if x.ndim == 0:
            zero_dt = dt if zero_dt is None else promote_types(zero_dt, dt)
        else:
            dim_dt = dt if dim_dt is None else promote_types(dim_dt, dt)
    result = dim_dt
    if zero_dt is not None and (result is None or zero_dt.category > result.category):
        result = zero_dt
    if scalar_cat >= 0 and (result is None or scalar_cat > result.category):
        if scalar_cat == FLOAT and result is not None and result.category < FLOAT:
            result = _defaults.float_dtype
        else:
            result = _default_of(scalar_cat)
    return result
