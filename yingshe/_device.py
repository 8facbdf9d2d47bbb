"""Devices: ``yingshe.device("cpu")`` (PyTorch's ``torch.device`` API).

yingshe computes on the CPU only for now (a CuPy backend is planned), so ``"cpu"``
(or ``"cpu:0"``) is the only valid device and ``device("cuda")`` raises a clear
``RuntimeError``. A device compares equal to its string, and ``Tensor.device``
returns one.
"""

from __future__ import annotations

import builtins as _builtins

__all__ = ["device", "CPU"]


class device:
    """A compute device: ``device("cpu")``, ``device("cpu:0")``; equal to its string."""

    __slots__ = ("_type", "_index")

    def __init__(self, type, index=None) -> None:  # noqa: A002 - PyTorch's parameter name
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, _builtins.int) and not isinstance(type, _builtins.bool):
            type, index = "cuda", type   # yingshe.device(0) means cuda:0
        text = str(type)
        if ":" in text:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index "
                                   f"was passed explicitly: {text}")
            text, _, idx = text.partition(":")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = _builtins.int(idx)
        if text != "cpu":
            raise RuntimeError(
                f"yingshe.device({str(type)!r}): yingshe has no {text!r} backend yet (a CuPy "
                "GPU backend is planned); only 'cpu' exists. Use "
                "device('cuda' if cuda.is_available() else 'cpu')."
            )
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self._type = "cpu"
        self._index = index

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self):
        return self._index

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type={self._type!r})"
        return f"device(type={self._type!r}, index={self._index})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return (self._type, self._index) == (other._type, other._index)

    def __hash__(self) -> int:
        return hash((self._type, self._index))


CPU = device("cpu")
