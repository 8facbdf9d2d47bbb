"""What export and load share: the lazy ``onnx`` import, the opset range, dtype tables
and the error classes."""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe.errors import UnsupportedError

__all__ = ["MIN_OPSET", "DEFAULT_OPSET", "OnnxExportError", "OnnxImportError",
           "UnsupportedOnnxOp", "onnx_module", "to_onnx_dtype", "from_onnx_dtype",
           "max_opset"]

# 17 is the first opset with LayerNormalization and the one the oldest supported `onnx`
# (1.16) and onnxruntime (1.18) both run; 18 moves the axes of every Reduce op into an
# input and gives the bitwise ops, and is what exports write unless asked otherwise.
MIN_OPSET = 17
DEFAULT_OPSET = 18


class OnnxExportError(RuntimeError):
    """A model or graph that cannot be written as ONNX (the message names the op and the
    user's line). Nothing is written when it is raised."""


class UnsupportedOnnxOp(OnnxExportError, UnsupportedError):
    """An op with no ONNX mapping (export) -- also a ``NotImplementedError``."""


class OnnxImportError(ValueError, RuntimeError):
    """An ONNX file that ``yingshe.onnx.load`` refuses: malformed, hostile, or using an op
    or an attribute value yingshe does not run (the message names it)."""


def onnx_module():
    """The ``onnx`` package, imported on first use (``import yingshe`` never does)."""
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - the extra is installed in CI
        raise ImportError('yingshe.onnx needs the onnx package: pip install "yingshe[onnx]"'
                          ) from err
    return onnx


def max_opset() -> int:
    """The newest ``ai.onnx`` opset the installed ``onnx`` package knows."""
    return onnx_module().defs.onnx_opset_version()


# yingshe dtype name -> onnx.TensorProto data type (numbers fixed by the ONNX standard)
_TO_ONNX = {"float32": 1, "uint8": 2, "int8": 3, "int16": 5, "int32": 6, "int64": 7,
            "bool": 9, "float16": 10, "float64": 11}
_FROM_ONNX = {v: k for k, v in _TO_ONNX.items()}
ONNX_TYPE_NAMES = {1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
                   7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "double",
                   12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128",
                   16: "bfloat16"}


def to_onnx_dtype(dt: _dtype.dtype) -> int:
    return _TO_ONNX[dt.name]


def from_onnx_dtype(code: int, what: str) -> _dtype.dtype:
    """The yingshe dtype of an ONNX element type; ``OnnxImportError`` naming ``what`` when
    yingshe has no tensors of that type."""
    name = _FROM_ONNX.get(code)
    if name is None:
        raise OnnxImportError(f"{what}: element type {ONNX_TYPE_NAMES.get(code, code)} is not "
                              "supported by yingshe (float16/32/64, int8/16/32/64, uint8, bool)")
    return getattr(_dtype, name)


def np_dtype(code: int) -> np.dtype:
    return from_onnx_dtype(code, "tensor").np
