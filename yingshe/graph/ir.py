"""The graph IR: ``Node`` (one op call, plain data), ``Symbol`` (one output of a node, a
``Tensor`` without data) and ``Graph`` (the list of nodes, in creation order).

Creation order is a topological order (a node's inputs always exist before it), and it
is also the order in which stateful nodes (assigns) run. The compiler keeps that
property: every pass emits nodes in an order where inputs come first.

Node kinds:

``op``           a registered op (``yingshe.ops.REGISTRY``) or a graph-only helper op;
``placeholder``  a value fed at run time;
``constant``     a NumPy array captured at build time;
``read``         the current value of a ``yingshe.state.Variable`` (referenced by
                 identity, never copied into the graph);
``assign``       writes into a Variable in place (``attrs["mode"]``: set/add/sub);
``init``         re-runs the initialisers of a list of Variables;
``no_op``        groups other nodes through control dependencies (``minimize``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from yingshe import _dtype
from yingshe._tensor import MODE as _MODE, Tensor
from yingshe.errors import format_site
from yingshe.ops._registry import OpDef
from yingshe.ops._shapes import Meta, shape_str

__all__ = ["Node", "Symbol", "Graph", "FeedError", "UninitializedVariableError",
           "GraphError", "STOP_GRADIENT", "ONES_LIKE", "ZEROS_LIKE", "KINDS"]

KINDS = ("op", "placeholder", "constant", "read", "assign", "init", "no_op")


class GraphError(RuntimeError):
    """A misuse of the graph API (a value read before it is run, mixed graphs ...)."""


class FeedError(ValueError, RuntimeError):
    """A ``feed_dict`` problem: a missing placeholder, an unknown key, a bad value.

    The TF front-end re-raises it as ``InvalidArgumentError``."""


class UninitializedVariableError(RuntimeError):
    """A Variable was read before its initializer ran (TF: ``FailedPreconditionError``)."""


_ids = itertools.count(1)


class Node:
    """One node of a graph. Treated as immutable once created: passes build new nodes."""

    __slots__ = ("id", "kind", "op", "inputs", "attrs", "metas", "name", "site", "graph",
                 "value", "var", "control", "outputs", "grad")

    def __init__(self, kind: str, op, inputs: tuple, attrs: dict, metas: tuple, *,
                 name: str = "", site=None, graph=None, value=None, var=None,
                 control: tuple = (), grad: bool = False) -> None:
        self.id = next(_ids)
        self.kind = kind
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = dict(attrs)
        self.metas = tuple(metas)
        self.name = name
        self.site = site
        self.graph = graph
        self.value = value        # the array of a constant node
        self.var = var            # the Variable of a read/assign node
        self.control = tuple(control)
        self.grad = grad          # created by gradients() (drawn apart from the forward)
        self.outputs = tuple(Symbol._make(self, i, m) for i, m in enumerate(self.metas))

    # ---- TF1-style accessors ------------------------------------------------------------
    @property
    def type(self) -> str:
        return self.op.name if self.kind == "op" else self.kind

    @property
    def stateful(self) -> bool:
        return self.kind in ("assign", "init") or (self.kind == "op" and self.op.stateful)

    @property
    def returns_tuple(self) -> bool:
        """Whether the op's forward returns a tuple: several outputs, or pieces of a
        variadic view op (split: chunk, unbind ...) even when this call made one piece
        (a fusion group or deferred gradients node with one output returns it bare)."""
        return len(self.metas) > 1 or (self.kind == "op" and self.op.view
                                       and self.op.outputs_of is not None)

    @property
    def random(self) -> bool:
        return self.kind == "op" and self.op.random

    def deps(self):
        """The nodes this one needs: producers of its symbolic inputs, then control deps."""
        for x in self.inputs:
            if isinstance(x, Symbol):
                yield x._gnode
        yield from self.control

    def __repr__(self) -> str:
        where = f" at {format_site(self.site)}" if self.site else ""
        shapes = ", ".join(f"{shape_str(m.shape)} {m.dtype.name}" for m in self.metas)
        return f"<{self.type} '{self.name}' -> {shapes or 'nothing'}{where}>"


class Symbol(Tensor):
    """One output of a graph node: a ``Tensor`` whose value exists only inside a
    ``Session.run`` (``_data`` is None). Every Tensor method and operator works on it
    and adds nodes to its graph."""

    __slots__ = ("_meta", "_gnode")

    @staticmethod
    def _make(node: Node, index: int, meta: Meta) -> "Symbol":
        s = object.__new__(Symbol)
        s._data = None
        s.requires_grad_flag = False
        s.grad = None
        s._node = None
        s._out_index = index
        s._vc = [0]
        s._view = None
        s._retains_grad = False
        s._hooks = None
        s._name = None
        s._meta = meta
        s._gnode = node
        return s

    # ---- what is known at build time --------------------------------------------------
    @property
    def node(self) -> Node:
        return self._gnode

    @property
    def op(self) -> Node:  # TF1 spelling: tensor.op
        return self._gnode

    @property
    def graph(self):
        return self._gnode.graph

    @property
    def name(self) -> str:
        return f"{self._gnode.name}:{self._out_index}"

    @property
    def shape(self) -> tuple:
        return tuple(self._meta.shape)

    @property
    def dtype(self) -> _dtype.dtype:
        return self._meta.dtype

    @property
    def ndim(self) -> int:
        return len(self._meta.shape)

    def dim(self) -> int:
        return len(self._meta.shape)

    ndimension = dim

    def size(self, dim: int | None = None):
        if dim is None:
            return tuple(self._meta.shape)
        from yingshe._tensor import _normalize_dim
        d = self._meta.shape[_normalize_dim(dim, self.ndim, "size")]
        if d is None:
            raise GraphError(
                f"size({dim}) of {self._describe()} is unknown until the graph runs (shape "
                f"{shape_str(self._meta.shape)}); use -1 in view/reshape for that dimension, "
                "or give the placeholder a full shape"
            )
        return d

    def numel(self) -> int:
        n = self._meta.numel()
        if n is None:
            raise GraphError(f"numel() of {self._describe()} is unknown until the graph runs "
                             f"(shape {shape_str(self._meta.shape)})")
        return n

    nelement = numel

    def element_size(self) -> int:
        return self._meta.dtype.np.itemsize

    def is_floating_point(self) -> bool:
        return self._meta.dtype.is_floating_point

    def is_contiguous(self) -> bool:
        return True

    def __len__(self) -> int:
        if not self._meta.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.size(0)

    def __iter__(self):
        n = len(self)
        return (self[i] for i in range(n))

    def __reversed__(self):
        n = len(self)
        return (self[i] for i in range(n - 1, -1, -1))

    # ---- what exists only at run time --------------------------------------------------
    def _describe(self) -> str:
        where = f" (created at {format_site(self._gnode.site)})" if self._gnode.site else ""
        return f"graph tensor '{self.name}'{where}"

    def _no_value(self, what: str):
        tracer = _MODE.tracer
        if tracer is not None and hasattr(tracer, "no_value"):  # inside yingshe.compile
            return tracer.no_value(what, self)
        return GraphError(
            f"{what} on {self._describe()}: a graph tensor has no value until it is run; "
            "fetch it with Session.run(...)"
        )

    def numpy(self, *, force: bool = False):
        raise self._no_value("numpy()")

    def item(self):
        raise self._no_value("item()")

    def tolist(self):
        raise self._no_value("tolist()")

    def __array__(self, dtype=None, copy=None):
        raise self._no_value("conversion to a NumPy array")

    def __bool__(self) -> bool:
        raise self._no_value("bool() (Python control flow on a graph value)")

    def __float__(self) -> float:
        raise self._no_value("float()")

    def __int__(self) -> int:
        raise self._no_value("int()")

    def __index__(self) -> int:
        raise self._no_value("use as an index")

    def __complex__(self) -> complex:
        raise self._no_value("complex()")

    def __dlpack__(self, *a, **k):
        raise self._no_value("__dlpack__")

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __repr__(self) -> str:
        return (f"<Symbol '{self.name}' shape={shape_str(self._meta.shape)} "
                f"dtype={self._meta.dtype.name}>")

    __str__ = __repr__

    def __deepcopy__(self, memo):
        return self

    @property
    def data(self):
        return self.detach()

    def detach(self) -> "Symbol":
        from yingshe.graph.build import stop_gradient
        return stop_gradient(self)

    def backward(self, *args, **kwargs):
        tracer = _MODE.tracer
        if tracer is not None and hasattr(tracer, "backward"):  # inside yingshe.compile
            return tracer.backward(self, *args, **kwargs)
        raise GraphError(
            f"backward() on {self._describe()}: in a graph, add gradient nodes with "
            "yingshe.graph.gradients(ys, xs) (or an optimizer's minimize())"
        )

    def eval(self, feed_dict=None, session=None):
        """TF1's ``tensor.eval()``: run in ``session`` or the default session."""
        from yingshe.graph.session import get_default_session
        sess = session or get_default_session()
        if sess is None:
            raise GraphError("eval(): no session given and no default session is active")
        return sess.run(self, feed_dict=feed_dict)


# ---- graph-only helper ops (never in REGISTRY: they need no op-table record) ------------

def _identity_forward(xp, x):
    return x


def _identity_infer(x):
    return Meta(x.shape, x.dtype)


STOP_GRADIENT = OpDef("stop_gradient", _identity_forward, _identity_infer, None, saves="none",
                      doc="Identity whose gradient is None (gradients stop here).")


def _like(fill):
    def forward(xp, x, *, dtype):
        return xp.full(x.shape, fill, dtype=dtype.np)

    def infer(x, *, dtype):
        return Meta(x.shape, dtype)

    def vjp(g, out, x, *, dtype):
        return None
    return forward, infer, vjp


ONES_LIKE = OpDef("ones_like", *_like(1), saves="none", doc="Ones of x's (run-time) shape.")
ZEROS_LIKE = OpDef("zeros_like", *_like(0), saves="none", doc="Zeros of x's (run-time) shape.")
GRAPH_OPS = {op.name: op for op in (STOP_GRADIENT, ONES_LIKE, ZEROS_LIKE)}


# ---- the graph -----------------------------------------------------------------------------

class Graph:
    """A TF1-style graph: nodes in creation order, Variables it created, name scopes."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.variables: list = []          # Variables created in this graph (their initialisers)
        self._reads: dict[int, Symbol] = {}  # id(Variable) -> its read symbol in this graph
        self._read_vars: list = []         # every Variable read here (graph-made or eager)
        self._names: dict[str, int] = {}
        self._scope: list[str] = []
        self._by_name: dict[str, Node] = {}

    # ---- default graph ---------------------------------------------------------------
    def as_default(self):
        from yingshe.graph.build import _default_stack

        graph = self

        class _Ctx:
            def __enter__(self_inner):
                _default_stack.append(graph)
                return graph

            def __exit__(self_inner, *exc):
                _default_stack.pop()
        return _Ctx()

    # ---- names -------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        base = "/".join(self._scope + [base]) if self._scope else base
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def name_scope(self, name: str):
        graph = self

        class _Scope:
            def __enter__(self_inner):
                scope = graph.unique_name(name).split("/")[-1] if name else ""
                graph._scope.append(scope)
                return "/".join(graph._scope) + "/"

            def __exit__(self_inner, *exc):
                graph._scope.pop()
        return _Scope()

    # ---- nodes -------------------------------------------------------------------------
    def add_node(self, kind: str, op, inputs, attrs, metas, *, name=None, site=None,
                 **extra) -> Node:
        base = name or (op.name if op is not None else kind)
        node = Node(kind, op, inputs, attrs, metas, name=self.unique_name(base), site=site,
                    graph=self, **extra)
        self.nodes.append(node)
        self._by_name[node.name] = node
        return node

    def get_operation_by_name(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"the graph has no operation named {name!r}") from None

    def get_tensor_by_name(self, name: str) -> Symbol:
        op, _, idx = name.rpartition(":")
        if not op:
            raise ValueError(f"tensor names look like 'op:0', got {name!r}")
        node = self.get_operation_by_name(op)
        try:
            return node.outputs[int(idx)]
        except (IndexError, ValueError):
            raise KeyError(f"operation {op!r} has no output {idx!r}") from None

    def get_operations(self) -> list[Node]:
        return list(self.nodes)

    def trainable_variables(self) -> list:
        """Trainable Variables of this graph: those it created, then those it reads."""
        out, seen = [], set()
        for v in self.variables + self._read_vars:
            if getattr(v, "trainable", False) and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    def global_variables(self) -> list:
        return list(self.variables)

    def __repr__(self) -> str:
        return f"<Graph with {len(self.nodes)} nodes, {len(self.variables)} variables>"


KEEP = object()   # ``flatten_nested``'s leaf function: not a value, keep the object as is


def flatten_nested(obj, out: list, leaf):
    """Flatten the leaves of nested lists, tuples (namedtuples too) and dicts into
    ``out``; returns a function that rebuilds the structure from the values of ``out``.
    ``leaf(x)`` gives what to append for a leaf, or ``KEEP`` to rebuild ``x`` unchanged
    (it may raise for a leaf it refuses). Shared by ``Session.run``'s fetches and
    ``yingshe.compile``'s outputs."""
    if isinstance(obj, dict):
        parts = {k: flatten_nested(v, out, leaf) for k, v in obj.items()}
        cls = type(obj)
        return lambda vals: cls((k, f(vals)) for k, f in parts.items())
    if isinstance(obj, (list, tuple)):
        items = [flatten_nested(v, out, leaf) for v in obj]
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
            return lambda vals: type(obj)(*(f(vals) for f in items))
        cls = type(obj)
        return lambda vals: cls(f(vals) for f in items)
    item = leaf(obj)
    if item is KEEP:
        return lambda vals, o=obj: o
    out.append(item)
    i = len(out) - 1
    return lambda vals: vals[i]


def literal_key(x: Any):
    """A hashable key for a non-symbol input (Python scalars, None, tuples)."""
    if isinstance(x, np.ndarray):
        return ("array", x.dtype.str, x.shape, x.tobytes())
    return (type(x).__name__, x)
