"""The ONNX side of export: a ``Builder`` collects nodes and initializers, and hands
emitters the small helpers every mapping needs (typed constants, casts, runtime sizes,
opset-dependent spellings).

Sizes. A dimension that is known when the model is exported is a plain ``int``. One
that is known only when the ONNX model runs (a dynamic batch or sequence axis, or a
``None`` dimension of a graph placeholder) is a ``Dim``: ``coef * prod(factors) +
offset``, each factor the size of a named ONNX value along one axis (read at run time
with ``Shape``), or a ``Dim`` whose value is already a 1-element int64 tensor
(``tensor``). ``Builder.shape_tensor`` turns a list of ints and ``Dim``s into the 1-d
int64 tensor that ``Reshape``/``Expand``/``Slice`` take.
"""

from __future__ import annotations

import math

import numpy as np

from yingshe import _dtype
from yingshe.onnx._common import to_onnx_dtype

__all__ = ["Builder", "Dim", "is_dim"]


class Dim:
    """A size known at run time: ``coef * prod(factors) + offset``, or an int64 tensor."""

    __slots__ = ("factors", "coef", "offset", "tensor", "value")

    def __init__(self, factors=(), coef: int = 1, offset: int = 0, tensor: str | None = None,
                 value: int | None = None) -> None:
        self.factors = tuple(factors)      # ((onnx value name, axis), ...)
        self.coef = coef
        self.offset = offset
        self.tensor = tensor               # a 1-element int64 ONNX value holding the size
        self.value = value                 # the size in the traced example (for messages)

    @staticmethod
    def of(name: str, axis: int, value=None) -> "Dim":
        return Dim(((name, axis),), value=value)

    def __repr__(self) -> str:
        if self.tensor is not None:
            return f"Dim({self.tensor})"
        body = " * ".join(f"{n}.shape[{a}]" for n, a in self.factors)
        if self.coef != 1:
            body = f"{self.coef} * {body}"
        return f"Dim({body}{f' + {self.offset}' if self.offset else ''})"

    def __eq__(self, other) -> bool:
        return (isinstance(other, Dim) and self.factors == other.factors
                and self.coef == other.coef and self.offset == other.offset
                and self.tensor == other.tensor)

    def __hash__(self) -> int:
        return hash((self.factors, self.coef, self.offset, self.tensor))


def is_dim(x) -> bool:
    return isinstance(x, Dim)


class Builder:
    """Nodes, initializers and unique names of one ONNX graph being written."""

    def __init__(self, onnx, opset: int) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self.used: set[str] = set()
        self._consts: dict = {}
        self.bases: dict[str, str] = {}   # initializer name -> the name it asked for
        self._shapes: dict = {}
        self.prefix = "node"       # the yingshe node being emitted: node and value names
        self.doc = ""              # its creation site, written as each node's doc_string

    # ---- names ------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        base = base or "v"
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    # ---- nodes and constants -------------------------------------------------------------
    def op(self, op_type: str, inputs, outputs: int = 1, **attrs):
        """Add one node; returns its output name (or a tuple of names for ``outputs > 1``)."""
        outs = [self.fresh(f"{self.prefix}:{op_type}") for _ in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        node = self.helper.make_node(op_type, list(inputs), outs,
                                     name=self.fresh(f"{self.prefix}/{op_type}"),
                                     doc_string=self.doc or None, **attrs)
        self.nodes.append(node)
        return outs[0] if outputs == 1 else tuple(outs)

    def initializer(self, array: np.ndarray, name: str) -> str:
        """A named initializer (a weight); returns its (made unique) name."""
        base, name = name, self.fresh(name)
        self.bases[name] = base
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array, order="C"),
                                                                   name))
        return name

    def const(self, array) -> str:
        """A constant tensor (small ones are shared between nodes)."""
        a = np.asarray(array)
        key = (a.dtype.str, a.shape, a.tobytes()) if a.size <= 64 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.initializer(a, "const")
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(list(values), dtype=np.int64))

    def scalar(self, value, dt: _dtype.dtype) -> str:
        with np.errstate(over="ignore", invalid="ignore"):
            return self.const(np.asarray(value).astype(dt.np))

    def cast(self, name: str, src: _dtype.dtype, dst: _dtype.dtype) -> str:
        if src is dst:
            return name
        return self.op("Cast", [name], to=to_onnx_dtype(dst))

    # ---- sizes ----------------------------------------------------------------------------
    def shape(self, name: str) -> str:
        if name not in self._shapes:
            self._shapes[name] = self.op("Shape", [name])
        return self._shapes[name]

    def size(self, name: str, axis: int) -> str:
        """The size of ``name`` along ``axis`` as a 1-element int64 tensor."""
        key = (name, axis)
        if key not in self._shapes:
            self._shapes[key] = self.op("Shape", [name], start=axis, end=axis + 1)
        return self._shapes[key]

    def dim_tensor(self, d) -> str:
        """A size (int or ``Dim``) as a 1-element int64 tensor."""
        if not isinstance(d, Dim):
            return self.ints([d])
        if d.tensor is not None:
            return d.tensor
        t = None
        for name, axis in d.factors:
            s = self.size(name, axis)
            t = s if t is None else self.op("Mul", [t, s])
        if t is None:
            t = self.ints([1])
        if d.coef != 1:
            t = self.op("Mul", [t, self.ints([d.coef])])
        if d.offset:
            t = self.op("Add", [t, self.ints([d.offset])])
        return t

    def shape_tensor(self, dims) -> str:
        """A 1-d int64 tensor of the sizes ``dims`` (ints, -1 or ``Dim``s)."""
        dims = list(dims)
        if not any(isinstance(d, Dim) for d in dims):
            return self.ints(dims)
        pieces, run = [], []
        for d in dims:
            if isinstance(d, Dim):
                if run:
                    pieces.append(self.ints(run))
                    run = []
                pieces.append(self.dim_tensor(d))
            else:
                run.append(d)
        if run:
            pieces.append(self.ints(run))
        return pieces[0] if len(pieces) == 1 else self.op("Concat", pieces, axis=0)

    def reshape_target(self, dims) -> str:
        """The target of a ``Reshape`` to ``dims``: when one size is unknown, -1 stands for
        it (the element count fixes it) and the target stays a constant."""
        dims = list(dims)
        unknown = [i for i, d in enumerate(dims) if isinstance(d, Dim)]
        if len(unknown) == 1 and -1 not in dims:
            dims[unknown[0]] = -1
        return self.shape_tensor(dims)

    def prod(self, dims):
        """The product of sizes: an int, or a ``Dim`` when one of them is unknown."""
        known = math.prod(d for d in dims if not isinstance(d, Dim))
        unknown = [d for d in dims if isinstance(d, Dim)]
        if not unknown:
            return known
        if all(d.tensor is None and d.offset == 0 for d in unknown):
            factors = sum((d.factors for d in unknown), ())
            return Dim(factors, known * math.prod(d.coef for d in unknown))
        t = self.dim_tensor(unknown[0])
        for d in unknown[1:]:
            t = self.op("Mul", [t, self.dim_tensor(d)])
        if known != 1:
            t = self.op("Mul", [t, self.ints([known])])
        return Dim(tensor=t)

    # ---- opset-dependent spellings --------------------------------------------------------
    def reduce(self, op_type: str, x: str, axes, keepdims: bool) -> str:
        """``Reduce*`` over ``axes`` (None: every axis); axes are an input from opset 18
        (13 for ReduceSum), an attribute before."""
        if axes is not None and len(axes) == 0:
            return self.op("Identity", [x])
        k = int(bool(keepdims))
        if axes is None:
            return self.op(op_type, [x], keepdims=k)
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=k)
        return self.op(op_type, [x], axes=list(axes), keepdims=k)

    def split(self, x: str, sizes, axis: int):
        """``Split`` into pieces of ``sizes`` (ints or ``Dim``s); returns the names."""
        if len(sizes) == 1:
            return (self.op("Identity", [x]),)
        outs = self.op("Split", [x, self.shape_tensor(sizes)], outputs=len(sizes), axis=axis)
        return outs

    def slice(self, x: str, starts, ends, axes, steps=None) -> str:
        ins = [x, self.shape_tensor(starts), self.shape_tensor(ends), self.ints(axes)]
        if steps is not None and any(s != 1 for s in steps):
            ins.append(self.ints(steps))
        return self.op("Slice", ins)
