"""A drawn program: inputs made from seeds, then a chain of steps written as Python source.

A step is source text over the names ``m`` (the library: ``yingshe`` or ``torch``), ``F``
(its ``nn.functional``), ``x`` (the current tensor) and ``e0``, ``e1`` ... (the step's own
extra inputs); it ends with ``x`` bound to the next current tensor. One spelling runs on
both libraries, and a failing draw prints as a program a reader can paste and run.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field

import numpy as np

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int64", "int32", "int16", "int8", "uint8")
DTYPES = FLOAT_DTYPES + INT_DTYPES + ("bool",)

# how a tensor's memory is laid out when the program receives it
LAYOUTS = ("contiguous", "transposed", "strided", "offset", "expanded")

_SPECIALS = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-30,
                      0.5, -2.5])


@dataclass(frozen=True)
class InputSpec:
    """One input tensor: its values (``profile`` + ``seed``), dtype and memory layout.

    ``profile``: "normal", "ints" (small integers as floats: ties, zeros and kinks),
    "positive", "special" (normal with zeros, infinities, NaN and extremes mixed in),
    "bool", or ("range", lo, hi) for integers in [lo, hi] (indices, class targets).
    ``grad``: a floating input that is a leaf requiring grad when the program takes
    gradients."""

    shape: tuple
    dtype: str
    profile: object = "normal"
    seed: int = 0
    layout: str = "contiguous"
    grad: bool = True

    def values(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        shape, p = self.shape, self.profile
        if isinstance(p, tuple):
            a = rng.integers(p[1], p[2] + 1, size=shape)
        elif p == "bool":
            a = rng.random(shape) < 0.5
        elif p == "ints":
            a = rng.integers(-3, 4, size=shape)
        elif p == "positive":
            a = rng.uniform(0.1, 3.0, size=shape)
        elif p == "special":
            a = rng.standard_normal(shape)
            pick = rng.random(shape) < 0.3
            a = np.where(pick, rng.choice(_SPECIALS, size=shape), a)
        elif p == "small":
            a = rng.integers(-4, 5, size=shape)
        elif p == "nonneg":
            a = rng.integers(0, 6, size=shape)
        else:
            a = rng.standard_normal(shape)
        if self.dtype == "bool":
            return np.asarray(a != 0 if a.dtype != bool else a)
        dt = np.dtype(self.dtype)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            a = np.clip(np.nan_to_num(a), info.min, info.max)
        with np.errstate(over="ignore"):
            return np.asarray(a).astype(dt)

    def storage(self) -> np.ndarray:
        """The array the library receives, laid out so that ``source()`` applied to it
        gives ``values()`` in the chosen layout."""
        v = self.values()
        lay = self.layout
        if lay == "transposed":
            return np.ascontiguousarray(np.swapaxes(v, -1, -2))
        if lay == "strided":
            s = np.zeros(v.shape[:-1] + (2 * v.shape[-1] + 1,), v.dtype)
            s[..., 1::2] = v
            return s
        if lay == "offset":
            s = np.zeros((v.shape[0] + 1,) + v.shape[1:], v.dtype)
            s[1:] = v
            return s
        if lay == "expanded":   # every size-1-able dim stored once: broadcast on arrival
            return np.ascontiguousarray(v[(slice(0, 1),) + (slice(None),) * (v.ndim - 1)])
        return v

    def layout_source(self) -> str:
        """The expression (over ``s``, the storage tensor) that gives the input."""
        return {"transposed": "s.transpose(-1, -2)", "strided": "s[..., 1::2]",
                "offset": "s[1:]", "expanded": f"s.expand{tuple(self.shape)}",
                "contiguous": "s"}[self.layout]

    def logical(self) -> np.ndarray:
        """The values the tensor holds (an expanded input repeats its first slice)."""
        v = self.values()
        if self.layout == "expanded":
            return np.ascontiguousarray(np.broadcast_to(v[:1], v.shape))
        return v

    def make(self, m, grad: bool, dense: bool = False):
        """The tensor in library ``m`` (``dense``: the same values, contiguous)."""
        if dense:
            t = m.from_numpy(self.logical().copy())
        else:
            s = m.from_numpy(self.storage().copy())
            t = eval(self.layout_source(), {"s": s})  # noqa: S307 - our own fixed templates
        if grad and self.grad and self.dtype in FLOAT_DTYPES:
            t = t.detach().requires_grad_(True)
        return t

    def describe(self) -> str:
        return (f"InputSpec(shape={self.shape}, dtype={self.dtype!r}, profile={self.profile!r}, "
                f"seed={self.seed}, layout={self.layout!r}, grad={self.grad})")


@dataclass(frozen=True)
class Step:
    """One step: ``text`` (statements ending with ``x`` rebound), its category and its
    extra inputs."""

    text: str
    category: str
    extras: tuple = ()

    @property
    def names(self) -> tuple:
        """The public names the step calls, as PyTorch spells them (what the unsupported
        list and the counts speak of)."""
        return names_in(self.text)


_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
              ast.Mod: "%", ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
              ast.MatMult: "@", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
              ast.Eq: "==", ast.NotEq: "!="}
# keyword values that select a different code path, named with the function
_MODES = ("mode",)


@functools.lru_cache(maxsize=8192)
def names_in(text: str) -> tuple:
    """``m.sum`` -> "sum", ``F.pad(..., mode='reflect')`` -> "F.pad(mode='reflect')",
    ``x.add_`` -> "Tensor.add_", ``x.T`` -> "Tensor.T", ``x[i]`` -> "Tensor.__getitem__",
    ``x += y`` -> "operator +=", ``x * y`` -> "operator *"."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = node.func.attr
            if isinstance(owner, ast.Name) and owner.id == "m":
                full = name
            elif isinstance(owner, ast.Name) and owner.id == "F":
                full = f"F.{name}"
            else:
                full = f"Tensor.{name}"
            modes = [f"{k.arg}={ast.literal_eval(k.value)!r}" for k in node.keywords
                     if k.arg in _MODES and isinstance(k.value, ast.Constant)]
            out.append(f"{full}({', '.join(modes)})" if modes else full)
        elif isinstance(node, ast.Attribute) and node.attr in ("T", "mT"):
            out.append(f"Tensor.{node.attr}")
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
                node.value.id in ("x", "v"):
            out.append("Tensor.__setitem__" if isinstance(node.ctx, ast.Store)
                       else "Tensor.__getitem__")
        elif isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            out.append(f"operator {_OPERATORS[type(node.op)]}")
        elif isinstance(node, ast.AugAssign) and type(node.op) in _OPERATORS:
            out.append(f"operator {_OPERATORS[type(node.op)]}=")
        elif isinstance(node, ast.Compare):
            out.extend(f"operator {_OPERATORS[type(o)]}" for o in node.ops
                       if type(o) in _OPERATORS)
    return tuple(dict.fromkeys(out))


@functools.lru_cache(maxsize=4096)
def _compiled(text: str):
    return compile(text, "<fuzz step>", "exec")


@dataclass
class Program:
    """``inputs[0]`` is the starting ``x``; each step's extras follow in order."""

    first: InputSpec
    steps: list = field(default_factory=list)
    grad: bool = True        # take gradients of every floating leaf
    ct_seed: int = 0         # the cotangent's seed

    @property
    def inputs(self) -> list:
        out = [self.first]
        for s in self.steps:
            out.extend(s.extras)
        return out

    def categories(self) -> set:
        return {s.category for s in self.steps}

    def names(self) -> set:
        return {n for s in self.steps for n in s.names}

    def make_inputs(self, m, cast64: bool = False, dense: bool = False) -> list:
        """Fresh tensors for every input (a run may write into them); ``cast64``: float32
        inputs as float64; ``dense``: every input contiguous (same values)."""
        out = []
        for spec in self.inputs:
            if cast64 and spec.dtype == "float32":
                spec = InputSpec(spec.shape, "float64", spec.profile, spec.seed, spec.layout,
                                 spec.grad)
            out.append(spec.make(m, self.grad, dense))
        return out

    def body(self, m, tensors: list, upto: int | None = None, on_step=None):
        """Run the steps (the first ``upto``) on ``tensors`` with library ``m``; returns
        the final ``x``. ``on_step(i)`` is called before step ``i`` (errors say where)."""
        env = {"m": m, "F": m.nn.functional, "x": tensors[0]}
        k = 1
        for i, step in enumerate(self.steps[:upto]):
            if on_step is not None:
                on_step(i)
            for j in range(len(step.extras)):
                env[f"e{j}"] = tensors[k]
                k += 1
            exec(_compiled(step.text), env)  # noqa: S102 - our own drawn programs
        return env["x"]

    def source(self) -> str:
        """The program as Python a reader can run (``m`` = torch or yingshe)."""
        lines = ["import numpy as np", "import torch as m   # or: import yingshe as m",
                 "from tests.fuzz.program import InputSpec",
                 "F = m.nn.functional",
                 f"x = {self.first.describe()}.make(m, grad={self.grad})"]
        for i, step in enumerate(self.steps):
            lines.append(f"# step {i}: {step.category}")
            for j, e in enumerate(step.extras):
                lines.append(f"e{j} = {e.describe()}.make(m, grad={self.grad})")
            lines.extend(step.text.splitlines())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "\n" + self.source() + "\n"
