"""``yingshe.onnx.export`` and ``export_graph``: a traced model or a TF1-style graph,
written as an ONNX model.

The mapping is a table, like the op table: ``EXPORTERS`` holds one small function per
registered op (``@exports("relu")``), which receives a ``Call`` (the node's inputs as
ONNX value names, its attributes and shapes) and emits ONNX nodes through the
``Builder``; ``REFUSED`` says why the remaining ops do not export (gradient ops,
random ops, data-dependent shapes). ``docs/onnx_supported.md`` is generated from both.

Weights (parameters, buffers, graph Variables) become initializers named after their
module path. An op whose inputs are all weights or constants is computed once here
(``b_ih + b_hh`` of an LSTM, the reshaped statistics of a BatchNorm) and written as one
initializer. The file is checked with ``onnx.checker.check_model(full_check=True)`` and
written atomically; any error leaves no file.
"""

from __future__ import annotations

import inspect

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor
from yingshe.backend import numpy_backend
from yingshe.errors import format_site
from yingshe.graph.ir import Symbol
from yingshe.graph.passes import key_of, prune
from yingshe.onnx._builder import Builder, Dim
from yingshe.onnx._common import (DEFAULT_OPSET, MIN_OPSET, OnnxExportError, UnsupportedOnnxOp,
                                  max_opset, onnx_module, to_onnx_dtype)
from yingshe.onnx import _trace

__all__ = ["export", "export_graph", "exports", "refuse", "EXPORTERS", "REFUSED", "Call"]


class _Exporter:
    __slots__ = ("name", "fn", "dynamic", "onnx_ops")

    def __init__(self, name, fn, dynamic, onnx_ops) -> None:
        self.name = name
        self.fn = fn
        self.dynamic = frozenset(dynamic)   # attributes that may hold run-time sizes
        self.onnx_ops = onnx_ops            # what it emits, in words (the docs table)


EXPORTERS: dict[str, _Exporter] = {}
REFUSED: dict[str, str] = {}


def exports(*names: str, dynamic=(), onnx: str | None = None):
    """Register the decorated function as the ONNX mapping of the ops ``names``.
    ``dynamic`` lists the attributes the mapping accepts as run-time sizes (``Dim``);
    ``onnx`` describes the ONNX ops it emits (default: the docstring's first line)."""
    def deco(fn):
        words = onnx or (fn.__doc__ or "").strip().split("\n")[0].rstrip(".")
        for n in names:
            if n in EXPORTERS:
                raise ValueError(f"ONNX mapping of {n!r} registered twice")
            EXPORTERS[n] = _Exporter(n, fn, dynamic, words)
        return fn
    return deco


def refuse(reason: str, *names: str) -> None:
    """Record that ops ``names`` do not export, and why."""
    for n in names:
        REFUSED[n] = reason


# ---- what a mapping sees ------------------------------------------------------------------------

class Call:
    """One node being exported: ``inputs`` are the node's inputs (graph tensors, whose
    ONNX names ``x(i)`` gives, Python numbers, ``Dim`` sizes or None); ``attrs`` its
    attributes (``Dim`` where a size is dynamic)."""

    __slots__ = ("b", "node", "inputs", "attrs", "_ctx")

    def __init__(self, b: Builder, node, inputs, attrs, ctx) -> None:
        self.b = b
        self.node = node
        self.inputs = inputs
        self.attrs = attrs
        self._ctx = ctx

    @property
    def opname(self) -> str:
        return self.node.op.name

    def is_tensor(self, i: int) -> bool:
        return i < len(self.node.inputs) and isinstance(self.node.inputs[i], Symbol)

    def x(self, i: int = 0) -> str:
        """The ONNX name of tensor input ``i`` (a weight becomes an initializer now)."""
        if not self.is_tensor(i):
            raise self.error(f"input {i} is not a tensor")
        return self._ctx.name(self.node.inputs[i])

    # the same for any graph tensor (a producer's inputs, for the mappings that fuse)
    def name_of(self, sym: Symbol) -> str:
        return self._ctx.name(sym)

    def static_of(self, sym: Symbol):
        return self._ctx.static.get(key_of(sym))

    def hint_of(self, sym: Symbol, default: str = "const") -> str:
        return self._ctx.hint.get(key_of(sym), default)

    def dtype(self, i: int = 0) -> _dtype.dtype:
        x = self.node.inputs[i]
        if isinstance(x, Symbol):
            return x.dtype
        return _dtype.result_type(x)

    def out_dtype(self, j: int = 0) -> _dtype.dtype:
        return self.node.metas[j].dtype

    def ndim(self, i: int = 0) -> int:
        return len(self.node.inputs[i].shape)

    def dims(self, i: int = 0) -> tuple:
        """Sizes of tensor input ``i``: ints, or ``Dim``s for sizes known at run time."""
        x = self.node.inputs[i]
        return self._ctx.dims(x, self._ctx.env.get(key_of(x)))

    def static(self, i: int):
        """The value of tensor input ``i`` when it is a weight or constant, else None."""
        x = self.node.inputs[i]
        return self.static_of(x) if isinstance(x, Symbol) else None

    def hint(self, i: int, default: str = "const") -> str:
        """A name for a value derived from tensor input ``i`` (its weight's name)."""
        x = self.node.inputs[i]
        return self.hint_of(x, default) if isinstance(x, Symbol) else default

    def val(self, i: int, dt: _dtype.dtype) -> str:
        """Input ``i`` (a tensor, a Python number or a run-time size) as dtype ``dt``."""
        x = self.node.inputs[i]
        if isinstance(x, Symbol):
            return self.b.cast(self.x(i), x.dtype, dt)
        v = self.inputs[i]
        if isinstance(v, Dim):
            t = self.b.op("Squeeze", [self.b.dim_tensor(v), self.b.ints([0])])
            return self.b.cast(t, _dtype.int64, dt)
        if v is None:
            raise self.error(f"input {i} is None")
        return self.b.scalar(v, dt)

    def error(self, msg: str) -> OnnxExportError:
        where = f" (at {format_site(self.node.site)})" if self.node.site else ""
        return OnnxExportError(f"yingshe.onnx.export: {self.opname}{where}: {msg}")


# ---- the graph -> ONNX pass ---------------------------------------------------------------------

_FOLD_LIMIT = 1 << 16   # elements: a folded value larger than its inputs stays computed


class _Context:
    """Walks a pruned program's nodes and emits each one."""

    def __init__(self, b: Builder, names: dict, dyn=None, resolve_dims=None) -> None:
        self.b = b
        self.names = names        # node id -> initializer name
        self.dyn = dyn            # trace._Dynamic or None
        self.resolve = resolve_dims or (lambda x: x)
        self.env: dict = {}       # symbol key -> ONNX name
        self.static: dict = {}    # symbol key -> NumPy value (weights, constants, folded)
        self.hint: dict = {}      # symbol key -> initializer name for a static value

    # ---- sizes ------------------------------------------------------------------------
    def dims(self, sym: Symbol, name) -> tuple:
        dyn_axes = self.dyn.axes.get(key_of(sym), ()) if self.dyn is not None else ()
        if key_of(sym) in self.static:
            return tuple(self.static[key_of(sym)].shape)
        if name is None:
            name = self.name(sym)
        return tuple(Dim.of(name, a, value=d) if d is None or d < 0 or a in dyn_axes else d
                     for a, d in enumerate(sym.shape))

    # ---- values -----------------------------------------------------------------------
    def name(self, sym: Symbol) -> str:
        k = key_of(sym)
        if k not in self.env:
            if k not in self.static:
                raise OnnxExportError(f"yingshe.onnx.export: no ONNX value for {sym!r}")
            self.env[k] = self.b.initializer(self.static[k], self.hint.get(k, "const"))
        return self.env[k]

    def run(self, nodes) -> None:
        for node in nodes:
            self.b.prefix = node.name or node.kind
            self.b.doc = f"yingshe {node.type} at {format_site(node.site)}" if node.site else ""
            if node.kind == "placeholder":
                if key_of(node.outputs[0]) not in self.env:
                    raise OnnxExportError(f"yingshe.onnx.export: placeholder '{node.name}' is "
                                          "needed by the outputs but is not an input")
            elif node.kind == "constant":
                self._constant(node)
            elif node.kind == "read":
                k = key_of(node.outputs[0])
                self.static[k] = np.asarray(node.var._data)
                self.hint[k] = self.names.get(node.id) or getattr(node.var, "_name", None) \
                    or "weight"
            else:
                self._op(node)

    def _constant(self, node) -> None:
        k = key_of(node.outputs[0])
        fill = self.dyn.fills.get(node.id) if self.dyn is not None else None
        span = self.dyn.ranges.get(node.id) if self.dyn is not None else None
        if span is not None:
            b, dt = self.b, node.value.dtype
            start, step, n = span
            n = b.op("Squeeze", [b.dim_tensor(self.resolve(n)), b.ints([0])])
            s0, st = b.const(np.asarray(start, dt)), b.const(np.asarray(step, dt))
            limit = b.op("Add", [s0, b.op("Mul", [b.op("Cast", [n], to=to_onnx_dtype(
                _dtype.from_numpy_dtype(dt))), st])])
            self.env[k] = b.op("Range", [s0, limit, st])
            return
        if fill is None:
            self.static[k] = node.value
            self.hint[k] = self.names.get(node.id, "const")
            return
        value, dims = fill
        dims = self.resolve(dims)
        self.env[k] = self.b.op("Expand", [self.b.const(np.asarray(value, node.value.dtype)),
                                           self.b.shape_tensor(dims)])

    def _fold(self, node, attrs, inputs) -> bool:
        op = node.op
        if op.random or op.stateful or (self.dyn is not None and (
                node.id in self.dyn.attrs or any(k[0] == node.id for k in self.dyn.scalars))):
            return False
        arrays = []
        total = 0
        for x in inputs:
            if isinstance(x, Symbol):
                v = self.static.get(key_of(x))
                if v is None:
                    return False
                arrays.append(v)
                total += v.size
            else:
                arrays.append(x)
        if not any(isinstance(x, Symbol) for x in inputs):
            return False
        for m in node.metas:
            n = m.numel()
            if n is None or n > max(2 * total, _FOLD_LIMIT):
                return False
        try:
            with np.errstate(all="ignore"):
                out = op.forward(numpy_backend, *arrays, **attrs)
        except Exception:  # noqa: BLE001 - not foldable here: exported as an op instead
            return False
        outs = out if isinstance(out, tuple) else (out,)
        base = next((self.hint[key_of(x)] for x in inputs
                     if isinstance(x, Symbol) and key_of(x) in self.hint), node.name)
        for s, v in zip(node.outputs, outs):
            self.static[key_of(s)] = np.asarray(v)
            self.hint[key_of(s)] = base
        return True

    def _op(self, node) -> None:
        op = node.op
        attrs = node.attrs
        if self.dyn is not None and node.id in self.dyn.attrs:
            attrs = self.resolve(self.dyn.attrs[node.id])
        ex = EXPORTERS.get(op.name)
        where = f" (created at {format_site(node.site)})" if node.site else ""
        if ex is None:
            why = REFUSED.get(op.name, "no ONNX mapping is defined for it")
            raise UnsupportedOnnxOp(
                f"yingshe.onnx.export: op '{op.name}'{where} cannot be exported to ONNX: "
                f"{why}. See docs/onnx_supported.md for the ops that export")
        if self.dyn is not None and node.id in self.dyn.attrs:
            bad = [k for k, v in self.dyn.attrs[node.id].items()
                   if _trace._has_dim(v) and k not in ex.dynamic]
            if bad:
                raise OnnxExportError(
                    f"yingshe.onnx.export: op '{op.name}'{where}: attribute "
                    f"{', '.join(map(repr, bad))} depends on a dynamic axis, and its ONNX "
                    "mapping needs it fixed; export without that dynamic axis")
        if self._fold(node, node.attrs, node.inputs):
            return
        inputs = []
        for k, x in enumerate(node.inputs):
            if isinstance(x, Symbol):
                inputs.append(x)      # named (and a weight written) when the mapping asks
            elif self.dyn is not None and (node.id, k) in self.dyn.scalars:
                inputs.append(self.resolve(self.dyn.scalars[(node.id, k)]))
            else:
                inputs.append(x)
        call = Call(self.b, node, inputs, attrs, self)
        out = ex.fn(call)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if len(outs) > len(node.outputs):
            raise AssertionError(f"ONNX mapping of {op.name} gave {len(outs)} outputs")
        for s, name in zip(node.outputs, outs):
            if name is not None:
                self.env[key_of(s)] = name


# ---- names and signatures -----------------------------------------------------------------------

def _check_opset(opset_version) -> int:
    top = max_opset()
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= top:
        raise ValueError(f"yingshe.onnx.export: opset_version must be an int from {MIN_OPSET} "
                         f"to {top} (the installed onnx package's newest), got {opset_version!r}")
    return opset


def _names(given, n: int, defaults: list, what: str) -> list[str]:
    if given is None:
        given = []
    if isinstance(given, str) or not all(isinstance(s, str) and s for s in given):
        raise TypeError(f"yingshe.onnx.export: {what} must be a list of non-empty strings, "
                        f"got {given!r}")
    if len(given) > n:
        raise ValueError(f"yingshe.onnx.export: {len(given)} {what} given for {n} "
                         f"{what.split('_')[0]}s")
    names = list(given) + defaults[len(given):]
    if len(set(names)) != len(names):
        raise ValueError(f"yingshe.onnx.export: {what} must be unique, got {names}")
    return names


def _dynamic_spec(dynamic_axes, in_names, in_ranks, out_names, out_ranks):
    """{input index: {axis: name}}, {output index: {axis: name}} from torch's format."""
    if dynamic_axes is None:
        return {}, {}
    if not isinstance(dynamic_axes, dict):
        raise TypeError("yingshe.onnx.export: dynamic_axes must be a dict {tensor name: "
                        "{axis: dim name}} or {tensor name: [axes]}")
    ins, outs = {}, {}
    for tname, spec in dynamic_axes.items():
        if tname in in_names:
            i, rank, target = in_names.index(tname), in_ranks[in_names.index(tname)], ins
        elif tname in out_names:
            i, rank, target = out_names.index(tname), out_ranks[out_names.index(tname)], outs
        else:
            raise ValueError(f"yingshe.onnx.export: dynamic_axes names {tname!r}, which is "
                             f"neither an input ({in_names}) nor an output ({out_names})")
        if isinstance(spec, dict):
            items = list(spec.items())
        elif isinstance(spec, (list, tuple)):
            items = [(a, f"{tname}_dim{a}") for a in spec]
        else:
            raise TypeError(f"yingshe.onnx.export: dynamic_axes[{tname!r}] must be a dict or a "
                            f"list of axes, got {type(spec).__name__}")
        axes = {}
        for a, dname in items:
            if not isinstance(a, int) or not -rank <= a < rank:
                raise ValueError(f"yingshe.onnx.export: dynamic axis {a!r} of {tname!r} is out "
                                 f"of range for a tensor of {rank} dimensions")
            if not isinstance(dname, str) or not dname:
                raise TypeError(f"yingshe.onnx.export: the name of dynamic axis {a} of "
                                f"{tname!r} must be a non-empty string")
            axes[a % rank] = dname
        target[i] = axes
    return ins, outs


def _value_info(helper, name, dtype, dims):
    shape = [d if isinstance(d, str) else (None if d is None else int(d)) for d in dims]
    return helper.make_tensor_value_info(name, to_onnx_dtype(dtype), shape)


def _finish(onnx, b: Builder, ctx: _Context, inputs, in_names, in_dims, outputs, out_names,
            out_dims, opset: int, graph_name: str, path):
    """Name the outputs, build and check the model, write it atomically."""
    helper = onnx.helper
    graph_inputs = set(in_names)
    produced = {o for n in b.nodes for o in n.output}
    rename = {}
    taken = set()
    for sym, want in zip(outputs, out_names):
        have = ctx.name(sym)
        if have in produced and have not in taken and have not in graph_inputs \
                and have not in rename:
            rename[have] = want
            taken.add(have)
        else:   # a graph input, a weight, or one value returned twice
            b.nodes.append(helper.make_node("Identity", [have], [want],
                                            name=b.fresh(f"{want}/Identity")))
    for n in b.nodes:
        for i, x in enumerate(n.input):
            if x in rename:
                n.input[i] = rename[x]
        for i, x in enumerate(n.output):
            if x in rename:
                n.output[i] = rename[x]
    # drop what no output needs (a recurrent layer's bypassed projection, unused stats)
    live = set(out_names)
    kept = []
    for n in reversed(b.nodes):
        if any(o in live for o in n.output):
            kept.append(n)
            live.update(n.input)
    b.nodes = kept[::-1]
    inits = [t for t in b.initializers if t.name in live]
    # a weight whose first initializer died (a bypassed projection) takes back its name
    names = {n for node in b.nodes for n in list(node.input) + list(node.output)}
    names |= set(in_names) | set(out_names)
    back = {}
    for t in inits:
        base = b.bases.get(t.name, t.name)
        if base != t.name and base not in names:
            back[t.name] = base
            names.add(base)
            t.name = base
    for n in b.nodes:
        for i, x in enumerate(n.input):
            if x in back:
                n.input[i] = back[x]
    vin = [_value_info(helper, n, s.dtype, d) for n, s, d in zip(in_names, inputs, in_dims)]
    vout = [_value_info(helper, n, s.dtype, d) for n, s, d in zip(out_names, outputs, out_dims)]
    graph = helper.make_graph(b.nodes, graph_name, vin, vout, inits)
    ops = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=ops, producer_name="yingshe",
                              ir_version=helper.find_min_ir_version_for(ops))
    from yingshe import __version__
    model.producer_version = __version__
    if model.ByteSize() >= 2 ** 31:
        raise OnnxExportError(f"yingshe.onnx.export: the model is {model.ByteSize()} bytes, "
                              "more than protobuf's 2 GiB limit (weights in external data "
                              "files are not written yet); nothing was written")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:  # noqa: BLE001 - a mapping bug must not become a file
        raise OnnxExportError(f"yingshe.onnx.export: the ONNX model fails onnx.checker "
                              f"(nothing was written): {err}") from err
    if path is not None:
        data = model.SerializeToString()
        if hasattr(path, "write"):
            path.write(data)
        else:
            from yingshe.io.checkpoint import write_atomic
            write_atomic(path, data, suffix=".onnx")
    return model


def _import_tables() -> None:
    from yingshe.onnx import export_ops  # noqa: F401 - fills EXPORTERS / REFUSED


def _dim_names(dims: tuple, dyn: dict, tname: str):
    out = []
    for a, d in enumerate(dims):
        if a in dyn:
            out.append(dyn[a])
        elif d is None or (isinstance(d, int) and d < 0):
            out.append(f"{tname}_dim{a}")
        else:
            out.append(d)
    return out


# ---- export of a model or function -------------------------------------------------------------

def _split_args(args, kwargs):
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif not isinstance(args, tuple):
        raise TypeError(f"yingshe.onnx.export: args must be a Tensor or a tuple of arguments, "
                        f"got {type(args).__name__}")
    if kwargs is None and args and isinstance(args[-1], dict):
        args, kwargs = args[:-1], args[-1]   # torch.onnx.export's convention
    return args, dict(kwargs or {})


def _default_input_names(model, args, kwargs) -> list[str]:
    fn = getattr(model, "forward", model)
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = []
    for i, a in enumerate(args):
        leaves: list = []
        _trace.flatten_args(a, leaves)
        base = params[i] if i < len(params) else f"input_{i}"
        names += [base] if isinstance(a, Tensor) else [f"{base}_{j}" for j in range(len(leaves))]
    for k in sorted(kwargs, key=str):
        leaves = []
        _trace.flatten_args(kwargs[k], leaves)
        names += [k] if isinstance(kwargs[k], Tensor) else [f"{k}_{j}" for j in range(len(leaves))]
    return names


def export(model_or_fn, args, path, *, kwargs=None, input_names=None, output_names=None,
           dynamic_axes=None, opset_version=None):
    """Write ``model_or_fn`` as an ONNX model, traced in inference mode on ``args``.

    Args:
        model_or_fn: an ``nn.Module`` (switched to ``eval()`` while tracing, then back)
            or a function of tensors.
        args: a Tensor, or a tuple of arguments (tensors, nested lists/tuples of tensors,
            Python values, which are fixed in the graph); a trailing dict holds keyword
            arguments, as in ``torch.onnx.export``.
        path: a file path (written atomically) or a binary file object; None writes
            nothing and only returns the model.
        kwargs: keyword arguments of the call (instead of a trailing dict).
        input_names: names of the tensor inputs, in order (default: the ``forward``
            parameter names).
        output_names: names of the outputs, flattened (default ``output`` or
            ``output_0``, ``output_1`` ...).
        dynamic_axes: ``{name: {axis: dim name}}`` or ``{name: [axes]}`` (PyTorch's
            format) for axes whose size may change, such as the batch or the sequence.
        opset_version: the ``ai.onnx`` opset, from ``MIN_OPSET`` (17) to the installed
            ``onnx``'s newest; default ``DEFAULT_OPSET`` (18).

    Returns:
        The ``onnx.ModelProto`` written.

    Raises:
        UnsupportedOnnxOp: an op without ONNX mapping (named, with the user's line).
        OnnxExportError: anything else that cannot be exported; nothing is written.

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> yingshe.onnx.export(model, yingshe.randn(3, 4), "mlp.onnx",
        ...                     input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    """
    onnx = onnx_module()
    _import_tables()
    opset = _check_opset(opset_version)
    args, kwargs = _split_args(args, kwargs)
    leaves: list = []
    _trace.flatten_args((args, kwargs), leaves)
    for t in leaves:
        if t._data is None:
            raise TypeError("yingshe.onnx.export: pass eager tensors as example inputs, not "
                            "graph tensors (use export_graph for a graph)")
    base = _trace.trace(model_or_fn, args, kwargs)
    in_names = _names(input_names, len(base.inputs),
                      _default_input_names(model_or_fn, args, kwargs), "input_names")
    n_out = len(base.outputs)
    out_names = _names(output_names, n_out,
                       ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)],
                       "output_names")
    clash = set(in_names) & set(out_names)
    if clash:
        raise ValueError(f"yingshe.onnx.export: {sorted(clash)} names both an input and an "
                         "output")
    dyn_in, dyn_out = _dynamic_spec(dynamic_axes, in_names, [s.ndim for s in base.inputs],
                                    out_names, [s.ndim for s in base.outputs])
    symbols: dict = {}
    for i, axes in dyn_in.items():
        for a, dname in axes.items():
            symbols.setdefault(dname, []).append((i, a))
    for dname, pairs in symbols.items():
        sizes = {base.inputs[i].shape[a] for i, a in pairs}
        if len(sizes) > 1:
            raise ValueError(f"yingshe.onnx.export: dynamic axis {dname!r} has different sizes "
                             f"{sorted(sizes)} in the example inputs")
    dyn = None
    if symbols:
        small = {d for d, pairs in symbols.items()
                 if base.inputs[pairs[0][0]].shape[pairs[0][1]] < 2}
        if small:
            # a dynamic size of 0 or 1 takes other paths (broadcasting, squeezing): the graph
            # is traced at size 2 instead (a trace needs shapes, not data)
            shapes = [list(s.shape) for s in base.inputs]
            for d in small:
                for i, a in symbols[d]:
                    shapes[i][a] = 2
            base = _trace.trace(model_or_fn, args, kwargs, shapes)
        dyn = _trace.Dynamic(base, symbols,
                             lambda shapes: _trace.trace(model_or_fn, args, kwargs, shapes))
    b = Builder(onnx, opset)
    for n in in_names + out_names:
        b.used.add(n)
    sym_refs = {k: (in_names[pairs[0][0]], pairs[0][1])
                for k, pairs in enumerate(symbols.values())}
    ctx = _Context(b, base.names, dyn, lambda x: _trace.resolve(x, sym_refs))
    for s, n in zip(base.inputs, in_names):
        ctx.env[key_of(s)] = n
    ctx.run(base.nodes)
    in_dims = [_dim_names(tuple(s.shape), dyn_in.get(i, {}), in_names[i])
               for i, s in enumerate(base.inputs)]
    sym_names = list(symbols)
    out_dims = []
    for j, s in enumerate(base.outputs):
        dims = list(s.shape)
        if dyn is not None:
            for a, d in enumerate(dyn.out_dims[j]):
                if d is None:
                    continue
                one = (len(d.factors) == 1 and d.coef == 1 and d.offset == 0
                       and d.tensor is None)
                dims[a] = sym_names[d.factors[0][0]] if one else None
        out_dims.append(_dim_names(tuple(dims), dyn_out.get(j, {}), out_names[j]))
    name = type(model_or_fn).__name__ if not inspect.isfunction(model_or_fn) \
        else model_or_fn.__name__
    return _finish(onnx, b, ctx, base.inputs, in_names, in_dims, base.outputs, out_names,
                   out_dims, opset, name, path)


# ---- export of a TF1-style graph ----------------------------------------------------------------

def export_graph(outputs, inputs, path, *, input_names=None, output_names=None,
                 dynamic_axes=None, opset_version=None):
    """Write the part of a ``yingshe.graph`` graph that computes ``outputs`` from the
    placeholders ``inputs`` (a TF1-style ``Session``'s fetches and feeds) as ONNX.

    Variables are written with their current values as initializers; a placeholder
    dimension of ``None`` is dynamic (named by ``dynamic_axes`` or
    ``<input>_dim<axis>``).

    Args:
        outputs: a graph tensor or a list of them (the fetches).
        inputs: the placeholders the model takes, in order (the feeds).
        path, input_names, output_names, dynamic_axes, opset_version: as in ``export``;
            input names default to the placeholders' names.

    Returns:
        The ``onnx.ModelProto`` written.

    Example:
        >>> x = G.placeholder(yingshe.float32, [None, 4], name="x")
        >>> W = G.Variable(yingshe.randn(4, 3), name="W")
        >>> probs = yingshe.softmax(x @ W, 1)
        >>> _ = yingshe.onnx.export_graph([probs], [x], "graph.onnx")   # input "x": (?, 4)
    """
    onnx = onnx_module()
    _import_tables()
    opset = _check_opset(opset_version)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for s in outputs + inputs:
        if not isinstance(s, Symbol):
            raise TypeError(f"yingshe.onnx.export_graph: expected graph tensors, got "
                            f"{type(s).__name__}")
    for s in inputs:
        if s._gnode.kind != "placeholder":
            raise TypeError(f"yingshe.onnx.export_graph: inputs must be placeholders; "
                            f"{s.name} is a '{s._gnode.type}' node")
    program = prune(outputs, inputs)
    for n in program.nodes:
        if n.kind not in ("placeholder", "constant", "read", "op"):
            where = f" (at {format_site(n.site)})" if n.site else ""
            raise OnnxExportError(f"yingshe.onnx.export_graph: the outputs depend on a "
                                  f"'{n.kind}' node '{n.name}'{where}; an exported graph "
                                  "cannot update state")
    in_names = _names(input_names, len(inputs),
                      [s._gnode.name.replace("/", "_") for s in inputs], "input_names")
    out_names = _names(output_names, len(outputs),
                       ["output"] if len(outputs) == 1 else
                       [f"output_{i}" for i in range(len(outputs))], "output_names")
    clash = set(in_names) & set(out_names)
    if clash:
        raise ValueError(f"yingshe.onnx.export_graph: {sorted(clash)} names both an input "
                         "and an output")
    dyn_in, dyn_out = _dynamic_spec(dynamic_axes, in_names, [s.ndim for s in inputs],
                                    out_names, [s.ndim for s in outputs])
    b = Builder(onnx, opset)
    for n in in_names + out_names:
        b.used.add(n)
    names = {n.id: n.name.rsplit("/read", 1)[0] for n in program.nodes if n.kind == "read"}
    ctx = _Context(b, names)
    for s, n in zip(inputs, in_names):
        ctx.env[key_of(s)] = n
    ctx.run(program.nodes)
    in_dims = [_dim_names(tuple(s.shape), dyn_in.get(i, {}), in_names[i])
               for i, s in enumerate(inputs)]
    out_dims = [_dim_names(tuple(s.shape), dyn_out.get(j, {}), out_names[j])
                for j, s in enumerate(outputs)]
    return _finish(onnx, b, ctx, inputs, in_names, in_dims, outputs, out_names, out_dims,
                   opset, "graph", path)



