"""The op table: one record per op case, driving every generic op test.

A record says how to call the op (``call(m, *inputs)`` where ``m`` is the
``yingshe`` module, or ``torch`` for the parity test, so one spelling serves
both), how to make inputs, the NumPy reference, which inputs are
differentiable, and tolerances. ``ErrorCase`` records say which bad inputs must
raise what. The tests in ``tests/ops/test_op_db.py`` generate, per record:
forward vs NumPy, ``infer`` vs the eager result, VJP vs central finite
differences (float64), second order, and forward+gradients vs PyTorch.

Records live in one module per op family (``elementwise``, ``reduce`` ...);
``ALL_CASES`` and ``ALL_ERRORS`` collect them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["OpCase", "ErrorCase", "gen", "normal", "positive", "uniform", "ints", "const",
           "noncontig", "away_from", "ALL_CASES", "ALL_ERRORS", "cases_by_op"]


@dataclass(frozen=True)
class OpCase:
    op: str                                  # registry name this case covers
    call: Callable[..., Any]                 # call(m, *inputs): m is yingshe or torch
    inputs: Callable[[np.random.Generator], list]
    ref: Callable[..., Any] | None = None    # NumPy reference on the same inputs
    name: str = ""                           # distinguishes cases of one op
    grad: tuple[int, ...] | None = None      # differentiable inputs (default: float arrays)
    dtypes: tuple[str, ...] = ("float32", "float64")
    fd: bool = True                          # check the VJP by finite differences
    second_order: bool = True
    torch: bool = True                       # compare with PyTorch when installed
    torch_call: Callable[..., Any] | None = None   # when PyTorch spells it differently
    ref_rtol: float | None = None            # forward-vs-NumPy overrides
    ref_atol: float | None = None
    fd_rtol: float | None = None
    fd_atol: float | None = None
    eps: float = 1e-6
    random: bool = False                     # output depends on the generator: no NumPy ref
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.name}" if self.name else self.op

    def diff_inputs(self, arrays) -> tuple[int, ...]:
        if self.grad is not None:
            return self.grad
        return tuple(i for i, a in enumerate(arrays)
                     if isinstance(a, np.ndarray) and a.dtype.kind == "f")


@dataclass(frozen=True)
class ErrorCase:
    op: str
    call: Callable[..., Any]
    inputs: Callable[[np.random.Generator], list]
    exc: type | tuple
    match: str                               # a fragment the message must contain
    name: str = ""
    torch_exc: type | tuple | None = None    # the exception PyTorch raises, when checked

    @property
    def id(self) -> str:
        return f"{self.op}-{self.name}" if self.name else self.op


# ---- input generators: each returns a function of a NumPy Generator -------------------------

def normal(*shape):
    return lambda rng: np.asarray(rng.standard_normal(shape))


def positive(*shape, low=0.5, high=2.0):
    return lambda rng: np.asarray(rng.uniform(low, high, shape))


def uniform(low, high, *shape):
    return lambda rng: np.asarray(rng.uniform(low, high, shape))


def ints(low, high, *shape):
    return lambda rng: np.asarray(rng.integers(low, high, shape), dtype=np.int64)


def const(value):
    return lambda rng: value


def noncontig(*shape):
    """A non-contiguous float array (a transposed view) of ``shape``."""
    def make(rng):
        a = rng.standard_normal(tuple(reversed(shape)))
        return a.T
    return make


def away_from(points, *shape, margin=0.1):
    """Normal samples kept at least ``margin`` from each kink in ``points``
    (finite differences straddling a kink are meaningless)."""
    def make(rng):
        a = np.asarray(rng.standard_normal(shape))
        for p in points:
            close = np.abs(a - p) < margin
            a = np.where(close, p + np.sign(a - p + 1e-12) * (margin + np.abs(a - p)), a)
        return a
    return make


def gen(*makers):
    """Combine input makers into the ``inputs`` function of a record."""
    return lambda rng: [m(rng) if callable(m) else m for m in makers]


# ---- the table ----------------------------------------------------------------------------------

def _collect():
    import importlib
    import pkgutil
    cases, errors = [], []
    for mod in pkgutil.iter_modules(__path__):
        m = importlib.import_module(f"{__name__}.{mod.name}")
        cases.extend(getattr(m, "CASES", ()))
        errors.extend(getattr(m, "ERRORS", ()))
    return cases, errors


ALL_CASES, ALL_ERRORS = _collect()


def cases_by_op() -> dict[str, list[OpCase]]:
    out: dict[str, list[OpCase]] = {}
    for c in ALL_CASES:
        out.setdefault(c.op, []).append(c)
    return out
