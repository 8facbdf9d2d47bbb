"""Tracing for export: a model (or function) in inference mode becomes a pruned graph of
registered ops, and, for dynamic axes, what in that graph depends on their sizes.

The model runs once under ``yingshe.compile``'s ``Tracer`` with a placeholder per tensor
argument (modules switched to ``eval()``, grad off; their flags are restored after).
Parameters become ``read`` nodes (weights), other eager tensors ``constant`` nodes.

Dynamic axes. A trace sees one size per axis, and Python code turns sizes into numbers
(``x.view(x.size(0), -1)``, the zeros of an LSTM's initial state). To find which numbers
are sizes, the model is traced again with each dynamic size doubled, one at a time, and
once with all of them tripled. The graphs must have the same structure; an integer in an
attribute, a scalar input or a constant's shape that changes is solved as ``c * size +
e`` (one size) or ``c * size1 * size2 ...`` (several), checked on the tripled trace, and
becomes a ``Dim`` that the ONNX graph computes at run time from its inputs' shapes.
A constant whose shape changes must be filled with one value (it becomes an ``Expand``)
or be an arithmetic progression such as ``arange(size)`` (a ``Range``).
Anything else that changes (a float computed from a size, a different op) is an
``OnnxExportError`` naming the op and the user's line.
"""

from __future__ import annotations

import math

import numpy as np

from yingshe._tensor import MODE, Tensor, _wrap
from yingshe.errors import format_site
from yingshe.graph.ir import Symbol
from yingshe.graph.passes import prune
from yingshe.graph.trace import TraceError, Tracer, _replace_leaves, _tensor_leaves
from yingshe.onnx._builder import Dim
from yingshe.onnx._common import OnnxExportError

__all__ = ["Traced", "trace", "Dynamic", "flatten_args"]


def flatten_args(obj, out: list) -> None:
    """The tensors of nested lists/tuples/dicts, in order (dict keys sorted): the order
    ``yingshe.compile`` gives its placeholders, shared with it."""
    _tensor_leaves(obj, out)


def _outputs(obj, out: list, path: str) -> None:
    if obj is None:
        return
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for i, e in enumerate(obj):
            _outputs(e, out, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k in obj:
            _outputs(obj[k], out, f"{path}[{k!r}]")
    else:
        raise OnnxExportError(f"yingshe.onnx.export: the model returned a "
                              f"{type(obj).__name__} at {path}; outputs must be tensors "
                              "(or tuples, lists and dicts of tensors)")


class Traced:
    """One trace: nodes in a topological order, placeholders and outputs, names."""

    def __init__(self, nodes, inputs, outputs, names) -> None:
        self.nodes = nodes          # graph Nodes (placeholder/constant/read/op)
        self.inputs = inputs        # placeholder Symbols, one per tensor argument
        self.outputs = outputs      # output Symbols, flattened
        self.names = names          # node id -> initializer name (parameters, buffers)


def trace(model, args: tuple, kwargs: dict, shapes=None) -> Traced:
    """Trace ``model(*args, **kwargs)`` in inference mode; ``shapes`` (one per tensor
    argument) replaces the arguments' shapes (no data is needed to trace)."""
    from yingshe.autograd import no_grad
    from yingshe.nn import Module

    leaves: list = []
    flatten_args((args, kwargs), leaves)
    tracer = Tracer()
    phs = []
    for i, t in enumerate(leaves):
        if shapes is not None and tuple(shapes[i]) != tuple(t.shape):
            # a zero-stride stand-in: the tracer reads only its shape and dtype
            t = _wrap(np.broadcast_to(np.zeros((), t._data.dtype), tuple(shapes[i])))
        phs.append(tracer.placeholder(t, f"input{i}"))
    it = iter(phs)
    sargs, skwargs = _replace_leaves((list(args), dict(kwargs)), it)
    modules = list(model.modules()) if isinstance(model, Module) else []
    modes = [m.training for m in modules]
    prev = MODE.tracer
    try:
        if modules:
            model.eval()      # through eval(): a module's own train() override runs
        with no_grad():
            MODE.tracer = tracer
            try:
                result = model(*sargs, **skwargs)
                flat: list = []
                _outputs(result, flat, "output")
                outs = [tracer.sym(t) for t in flat]
            except TraceError as err:
                # the tracer's text ends with compile's remedies (fallback="eager"), which
                # export does not have: keep what failed and where
                where = str(err).split(" inside ")[0]
                if "on a traced value" not in where:   # not a read: a write through a view ...
                    raise OnnxExportError(
                        "yingshe.onnx.export: the model cannot be traced: "
                        f"{where.removeprefix('yingshe.compile: ')} in an exported model") \
                        from None
                raise OnnxExportError(
                    f"yingshe.onnx.export: the model reads a tensor's value in Python "
                    f"({where}); an ONNX graph cannot: express it with tensor ops "
                    "(yingshe.where for a branch)") from None
            finally:
                MODE.tracer = prev
    finally:
        tracer.restore()
        for m, mode in zip(modules, modes):
            m.training = mode
    if not outs:
        raise OnnxExportError("yingshe.onnx.export: the model returned no tensor")
    program = prune(outs, phs)
    for n in program.nodes:
        if n.kind not in ("placeholder", "constant", "read", "op"):
            where = f" (at {format_site(n.site)})" if n.site else ""
            raise OnnxExportError(f"yingshe.onnx.export: the outputs depend on a '{n.kind}' "
                                  f"node{where}; an exported model cannot update state")
    names = _state_names(model, tracer) if isinstance(model, Module) else {}
    return Traced(program.nodes, phs, outs, names)


def _state_names(model, tracer) -> dict:
    """node id -> the module path of the parameter or buffer it reads."""
    by_id = {}
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        by_id.setdefault(id(t), name)
    names = {}
    for i, sym in tracer.current.items():
        if i in by_id and isinstance(sym, Symbol):
            names.setdefault(sym._gnode.id, by_id[i])
    return names


# ---- dynamic axes ---------------------------------------------------------------------------

class _Mismatch(Exception):
    pass


def _where(node) -> str:
    return f" (at {format_site(node.site)})" if node.site else ""


class Dynamic:
    """What depends on the dynamic sizes, from the base trace and its variants.

    ``symbols``: name -> [(input index, axis), ...]; ``attrs[node id]``: the node's
    attributes with ``Dim``-valued leaves (factors name graph inputs by index, resolved
    by the exporter); ``scalars[(node id, input position)]``: a ``Dim`` scalar input;
    ``fills[node id]``: (fill value, dims) of a constant whose shape is dynamic;
    ``ranges[node id]``: (start, step, length) of a dynamic-length arithmetic progression;
    ``axes[(node id, output)]``: the axes of an output whose size changes."""

    def __init__(self, base: Traced, symbols: dict, trace_fn) -> None:
        self.symbols = symbols
        self.attrs: dict = {}
        self.scalars: dict = {}
        self.fills: dict = {}
        self.ranges: dict = {}
        self.axes: dict = {}
        self.out_dims: dict = {}
        names = list(symbols)
        shapes0 = [tuple(s.shape) for s in base.inputs]
        a = [shapes0[pairs[0][0]][pairs[0][1]] for pairs in symbols.values()]
        self.a = a
        self.b = [2 * v for v in a]
        self.c = [3 * v for v in a]
        variants = []
        for k in range(len(names)):
            variants.append(self._run(trace_fn, shapes0, k, [self.b[k] if j == k else a[j]
                                                              for j in range(len(a))]))
        check = self._run(trace_fn, shapes0, None, self.c)
        self._diff(base, variants, check)

    def _run(self, trace_fn, shapes0, k, values):
        shapes = [list(s) for s in shapes0]
        for (name, pairs), v in zip(self.symbols.items(), values):
            for i, ax in pairs:
                shapes[i][ax] = v
        try:
            return trace_fn(shapes)
        except OnnxExportError:
            raise
        except Exception as err:  # noqa: BLE001 - re-raised with what was being tried
            what = ", ".join(f"{n}={v}" for n, v in zip(self.symbols, values))
            raise OnnxExportError(
                f"yingshe.onnx.export: tracing the model again with {what} (to find what "
                f"depends on the dynamic axes) failed: {type(err).__name__}: {err}") from err

    # ---- solving one number ---------------------------------------------------------------
    def solve(self, v0, vs, vc):
        """The ``Dim`` (over symbol indices) for a number with value v0 in the base trace,
        vs[k] when size k changes and vc in the check trace; None when it is constant."""
        S = [k for k, v in enumerate(vs) if v != v0]
        if not S:
            if vc != v0:
                raise _Mismatch(f"{v0} becomes {vc}")
            return None
        a, b = self.a, self.b
        if len(S) == 1:
            k = S[0]
            num, den = vs[k] - v0, b[k] - a[k]
            if num % den:
                raise _Mismatch(f"{v0} becomes {vs[k]}")
            coef = num // den
            d = Dim(((k, None),), coef, v0 - coef * a[k], value=v0)
        else:
            pa = math.prod(a[k] for k in S)
            if v0 % pa:
                raise _Mismatch(f"{v0} is not a multiple of the product of the sizes")
            coef = v0 // pa
            for k in S:
                if vs[k] != coef * pa // a[k] * b[k]:
                    raise _Mismatch(f"{v0} becomes {vs[k]}")
            d = Dim(tuple((k, None) for k in S), coef, 0, value=v0)
        want = d.coef * math.prod(self.c[k] for k, _ in d.factors) + d.offset
        if want != vc:
            raise _Mismatch(f"{v0} is not an affine function of the size")
        return d

    def _leaf(self, x0, xs, xc, node, what):
        """Compare one attribute tree across the traces; Dims where ints change."""
        if isinstance(x0, (bool, np.bool_)) or x0 is None or isinstance(x0, str):
            if any(x != x0 for x in xs) or xc != x0:
                raise _Mismatch(f"{what} changes")
            return x0
        if isinstance(x0, (int, np.integer)):
            try:
                d = self.solve(int(x0), [int(x) for x in xs], int(xc))
            except (_Mismatch, TypeError) as err:
                raise _Mismatch(f"{what}: {err}") from None
            return x0 if d is None else d
        if isinstance(x0, slice):
            parts = [self._leaf(getattr(x0, f), [getattr(x, f) for x in xs], getattr(xc, f),
                                node, what) for f in ("start", "stop", "step")]
            return slice(*parts)
        if isinstance(x0, (tuple, list)):
            if any(not isinstance(x, (tuple, list)) or len(x) != len(x0) for x in xs + [xc]):
                raise _Mismatch(f"{what} changes length")
            return type(x0)(self._leaf(e, [x[i] for x in xs], xc[i], node, what)
                            for i, e in enumerate(x0))
        if isinstance(x0, dict):
            return {k: self._leaf(v, [x[k] for x in xs], xc[k], node, f"{what}[{k!r}]")
                    for k, v in x0.items()}
        try:
            same = all(x == x0 for x in xs) and xc == x0
        except Exception:  # noqa: BLE001 - values without a usable ==
            same = all(x is x0 for x in xs) and xc is x0
        if not same:
            raise _Mismatch(f"{what} ({type(x0).__name__}) changes with the size")
        return x0

    # ---- comparing the traces ------------------------------------------------------------------
    def _diff(self, base: Traced, variants: list, check: Traced) -> None:
        traces = variants + [check]
        if any(len(t.nodes) != len(base.nodes) for t in traces):
            raise OnnxExportError(
                "yingshe.onnx.export: the model builds a different graph when a dynamic axis "
                "changes size (a Python branch or loop on a size); export it without that "
                "dynamic axis, or make the code independent of the size")
        pos = [{n.id: i for i, n in enumerate(t.nodes)} for t in [base] + traces]
        for i, n0 in enumerate(base.nodes):
            others = [t.nodes[i] for t in traces]
            try:
                self._node(i, n0, others, pos)
            except _Mismatch as err:
                what = n0.op.name if n0.kind == "op" else n0.kind
                raise OnnxExportError(
                    f"yingshe.onnx.export: {what}{_where(n0)} depends on a dynamic axis in a "
                    f"way ONNX cannot compute from the input shapes ({err}); export with "
                    "fixed sizes, or compute it from tensor shapes the model reads") from None
        for j, s0 in enumerate(base.outputs):
            vals = [t.outputs[j].shape for t in traces]
            dims = []
            for a, d in enumerate(s0.shape):
                try:
                    dims.append(self.solve(d, [v[a] for v in vals[:-1]], vals[-1][a]))
                except _Mismatch:   # a size the exporter cannot name: declared unknown
                    dims.append(Dim(tensor="?"))
            self.out_dims[j] = dims

    def _node(self, i, n0, others, pos) -> None:
        for n in others:
            if n.kind != n0.kind or n.op is not n0.op or len(n.inputs) != len(n0.inputs):
                raise _Mismatch("the op differs")
        for k, x0 in enumerate(n0.inputs):
            xs = [n.inputs[k] for n in others]
            if isinstance(x0, Symbol):
                p0 = (pos[0][x0._gnode.id], x0._out_index)
                for t, x in enumerate(xs, 1):
                    if not isinstance(x, Symbol) or (pos[t][x._gnode.id], x._out_index) != p0:
                        raise _Mismatch("its inputs differ")
            elif isinstance(x0, (int, np.integer)) and not isinstance(x0, bool):
                d = self._leaf(x0, xs[:-1], xs[-1], n0, f"input {k}")
                if isinstance(d, Dim):
                    self.scalars[(n0.id, k)] = d
            else:
                self._leaf(x0, xs[:-1], xs[-1], n0, f"input {k}")
        if n0.kind == "read" and any(n.var is not n0.var for n in others):
            raise _Mismatch("it reads another variable")
        if n0.kind == "constant":
            self._constant(n0, others)
        attrs = self._leaf(n0.attrs, [n.attrs for n in others[:-1]], others[-1].attrs, n0,
                           "attribute")
        if _has_dim(attrs):
            self.attrs[n0.id] = attrs
        for j, m0 in enumerate(n0.metas):
            changed = {a for a in range(len(m0.shape))
                       if any(len(n.metas[j].shape) != len(m0.shape)
                              or n.metas[j].shape[a] != m0.shape[a] for n in others)}
            if changed:
                self.axes[(n0.id, j)] = changed

    def _constant(self, n0, others) -> None:
        v0 = n0.value
        if all(n.value.shape == v0.shape and np.array_equal(n.value, v0, equal_nan=True)
               for n in others):
            return
        step = _progression(v0)
        if step is not None and all(_progression(n.value) == step and n.value[0] == v0[0]
                                    for n in others):
            # arange(size) and friends (positions): a Range of the dynamic length
            n = self._leaf(len(v0), [len(n.value) for n in others[:-1]], len(others[-1].value),
                           n0, "constant length")
            self.ranges[n0.id] = (v0[0], step, n)
            return
        flat = v0.reshape(-1)
        if v0.size == 0 or not all(
                n.value.size and (n.value == flat[0]).all() for n in others + [n0]) or \
                any(n.value.reshape(-1)[0] != flat[0] for n in others):
            raise _Mismatch("a constant's values change with the size (only constants "
                            "filled with one value can take a dynamic shape)")
        dims = self._leaf(tuple(v0.shape), [tuple(n.value.shape) for n in others[:-1]],
                          tuple(others[-1].value.shape), n0, "constant shape")
        self.fills[n0.id] = (flat[0], dims)


def _progression(v: np.ndarray):
    """The step of a 1-d arithmetic progression of at least 2 values, else None."""
    if v.ndim != 1 or v.size < 2 or v.dtype.kind not in "iuf":
        return None
    d = np.diff(v)
    step = d[0]
    return step.item() if step != 0 and np.all(d == step) else None


def _has_dim(x) -> bool:
    if isinstance(x, Dim):
        return True
    if isinstance(x, slice):
        return any(isinstance(p, Dim) for p in (x.start, x.stop, x.step))
    if isinstance(x, (tuple, list)):
        return any(_has_dim(e) for e in x)
    if isinstance(x, dict):
        return any(_has_dim(v) for v in x.values())
    return False


def resolve(x, inputs: dict):
    """Replace the symbol indices in ``Dim`` factors by (input name, axis)."""
    if isinstance(x, Dim):
        factors = tuple(inputs[k] for k, _ in x.factors)
        return Dim(factors, x.coef, x.offset, value=x.value)
    if isinstance(x, slice):
        return slice(resolve(x.start, inputs), resolve(x.stop, inputs), resolve(x.step, inputs))
    if isinstance(x, tuple):
        return tuple(resolve(e, inputs) for e in x)
    if isinstance(x, list):
        return [resolve(e, inputs) for e in x]
    if isinstance(x, dict):
        return {k: resolve(v, inputs) for k, v in x.items()}
    return x

