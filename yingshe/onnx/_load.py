"""``yingshe.onnx.load``: an ONNX file as an ``nn.Module`` that runs its graph on yingshe
ops, eagerly or under ``yingshe.compile``.

Loading reads and checks the whole file before anything runs, and never imports
onnxruntime. A file is refused with ``OnnxImportError`` (naming the node, value or
attribute) when it is malformed or hostile: not a protobuf model, truncated, a tensor
whose declared size does not match its data (checked before any allocation), external
data outside the model's folder, values used before they are defined or cycles, an
attribute of the wrong type, another op domain, an op or attribute value yingshe does not
run (named). ``IMPORTERS`` maps each supported ONNX op to one small function written
with yingshe ops (``docs/onnx_supported.md`` lists them).

Floating-point initializers become the module's parameters (trainable, in its
``state_dict`` under their ONNX names: ``fc1.weight`` is ``module.fc1.weight``); 0-d and
integer initializers and ``Constant`` nodes are constants. Values computed only from constants
and shapes (``Shape`` -> ``Gather`` -> ``Concat`` -> ``Reshape``) are computed with NumPy
values at each call, so a reshape's target is a number even under ``yingshe.compile``.
"""

from __future__ import annotations

import collections
import math
import os

import numpy as np

from yingshe._tensor import MODE, Tensor
from yingshe.nn import Module, Parameter
from yingshe.onnx._common import (MIN_OPSET, OnnxImportError, UnsupportedOnnxOp,
                                  from_onnx_dtype, max_opset, onnx_module)

__all__ = ["load", "OnnxModule", "IMPORTERS", "imports", "Attrs", "Ctx"]

# A file is read whole; protobuf cannot hold more than 2 GiB (larger models keep their
# weights in external data files).
_MAX_FILE = 2 ** 31
# Sizes a graph may ask for at run time (ConstantOfShape, Expand, Range ...): far above
# any real model's activations, far below what would exhaust memory.
MAX_ELEMENTS = 1 << 28

IMPORTERS: dict = {}

_ATTR_TYPES = {"i": 2, "f": 1, "s": 3, "t": 4, "ints": 7, "floats": 6, "strings": 8}


class _Importer:
    __slots__ = ("op", "fn", "attrs", "n_out")

    def __init__(self, op, fn, attrs, n_out) -> None:
        self.op = op
        self.fn = fn
        self.attrs = attrs     # attribute name -> type letter (i, f, s, t, ints, floats)
        self.n_out = n_out     # the most outputs it computes


def imports(op_type: str, attrs: dict | None = None, outputs: int = 1):
    """Register the decorated function as the yingshe form of ONNX op ``op_type``;
    ``attrs`` lists the attributes it understands and their types (any other attribute
    is refused by name at load)."""
    def deco(fn):
        IMPORTERS[op_type] = _Importer(op_type, fn, dict(attrs or {}), outputs)
        return fn
    return deco


# ---- reading tensors ----------------------------------------------------------------------------

_TYPED_FIELD = {1: "float_data", 11: "double_data", 7: "int64_data", 6: "int32_data",
                5: "int32_data", 3: "int32_data", 2: "int32_data", 9: "int32_data",
                10: "int32_data"}


def _external(t, what: str, folder) -> tuple:
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location")
    if folder is None:
        raise OnnxImportError(f"{what}: its data is in an external file ({loc!r}), and a model "
                              "given as bytes has no folder to find it in")
    if not loc or os.path.isabs(loc) or "\0" in loc:
        raise OnnxImportError(f"{what}: invalid external data location {loc!r}")
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, loc))
    if os.path.commonpath([root, path]) != root:
        raise OnnxImportError(f"{what}: external data location {loc!r} is outside the model's "
                              f"folder {folder!r}; refused")
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise OnnxImportError(f"{what}: external data offset/length are not integers") from None
    if offset < 0 or (length is not None and length < 0):
        raise OnnxImportError(f"{what}: negative external data offset or length")
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise OnnxImportError(f"{what}: cannot read external data {loc!r}: {err}") from None
    return path, offset, length, size


def tensor_array(t, what: str, folder=None) -> np.ndarray:
    """A TensorProto's value, checked against its declared type and size before any
    allocation."""
    onnx = onnx_module()
    dt = from_onnx_dtype(t.data_type, what)
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise OnnxImportError(f"{what}: negative dimension in {dims}")
    n = math.prod(dims)
    nbytes = n * dt.np.itemsize
    if t.HasField("segment"):
        raise OnnxImportError(f"{what}: segmented tensors are not supported")
    if t.data_location == onnx.TensorProto.EXTERNAL:
        path, offset, length, size = _external(t, what, folder)
        if length is not None and length != nbytes:
            raise OnnxImportError(f"{what}: declares {n} elements of {dt.name} ({nbytes} "
                                  f"bytes) but its external data holds {length} bytes")
        if offset + nbytes > size:
            raise OnnxImportError(f"{what}: declares {nbytes} bytes at offset {offset} of "
                                  f"an external file of {size} bytes")
        with open(path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(nbytes)
        return np.frombuffer(raw, dt.np).reshape(dims).copy()
    if t.raw_data:
        if len(t.raw_data) != nbytes:
            raise OnnxImportError(f"{what}: declares shape {dims} of {dt.name} ({nbytes} "
                                  f"bytes) but holds {len(t.raw_data)} bytes")
        return np.frombuffer(t.raw_data, dt.np).reshape(dims).copy()
    field = getattr(t, _TYPED_FIELD[t.data_type])
    if len(field) != n:
        raise OnnxImportError(f"{what}: declares shape {dims} ({n} elements) but holds "
                              f"{len(field)} values")
    if t.data_type == 10:   # float16 bits in int32_data
        return np.asarray(field, np.uint16).view(np.float16).reshape(dims)
    return np.asarray(field).astype(dt.np).reshape(dims)


# ---- attributes ---------------------------------------------------------------------------------

class Attrs:
    """A node's attributes, checked against its importer's declared types at load."""

    __slots__ = ("values", "where")

    def __init__(self, values: dict, where: str) -> None:
        self.values = values
        self.where = where

    def get(self, name: str, default=None):
        return self.values.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.values


def _attrs(node, spec: dict, where: str, folder) -> Attrs:
    onnx = onnx_module()
    out = {}
    for a in node.attribute:
        want = spec.get(a.name)
        if want is None:
            raise OnnxImportError(f"{where}: attribute {a.name!r} is not supported by yingshe "
                                  f"(supported: {sorted(spec) or 'none'})")
        if a.type != _ATTR_TYPES[want]:
            got = onnx.AttributeProto.AttributeType.Name(a.type)
            raise OnnxImportError(f"{where}: attribute {a.name!r} must be of type "
                                  f"{want!r}, got {got}")
        if want == "i":
            v = int(a.i)
        elif want == "f":
            v = float(a.f)
        elif want == "s":
            v = a.s.decode("utf-8", "replace")
        elif want == "t":
            v = tensor_array(a.t, f"{where}: attribute {a.name!r}", folder)
        elif want == "ints":
            v = [int(x) for x in a.ints]
        elif want == "floats":
            v = [float(x) for x in a.floats]
        else:
            v = [x.decode("utf-8", "replace") for x in a.strings]
        out[a.name] = v
    return Attrs(out, where)


# ---- the model ----------------------------------------------------------------------------------

class _Node:
    __slots__ = ("op", "name", "inputs", "outputs", "attrs", "imp", "where")


class Ctx:
    """What an importer sees of the node it runs: attributes, names, helpers."""

    __slots__ = ("node", "attrs", "opset", "n_out", "used")

    def __init__(self, node: _Node, opset: int, used: set) -> None:
        self.node = node
        self.attrs = node.attrs
        self.opset = opset
        self.n_out = len(node.outputs)
        self.used = used

    def error(self, msg: str) -> OnnxImportError:
        return OnnxImportError(f"{self.node.where}: {msg}")

    def wants(self, k: int) -> bool:
        """Whether output ``k`` is used by another node or is a graph output."""
        return k < len(self.node.outputs) and self.node.outputs[k] in self.used


def _free(module, name: str) -> bool:
    return not (name in module._parameters or name in module._buffers
                or name in module._modules or hasattr(module, name))


def _place(module, name: str, value) -> str:
    """Register parameter ``value`` at the path its ONNX name gives (dots make submodules,
    as in PyTorch's state dicts: ``fc1.weight``); returns its ``state_dict`` key. A name
    that clashes with an attribute, or has an empty part, is registered flat with '.'
    replaced by '_'."""
    parts = name.split(".")
    target, path = module, []
    if all(parts):
        for p in parts[:-1]:
            sub = target._modules.get(p)
            if sub is None:
                if not _free(target, p):
                    target, path = module, None
                    break
                sub = Module()
                target.add_module(p, sub)
            target = sub
            path.append(p)
    else:
        path = None
    leaf = parts[-1] if path is not None else name.replace(".", "_") or "_"
    base, k = leaf, 0
    while not _free(target, leaf):
        k += 1
        leaf = f"{base}_{k}"
    target.register_parameter(leaf, value)
    return ".".join((path or []) + [leaf])


class OnnxModule(Module):
    """An ONNX graph run on yingshe ops (see ``yingshe.onnx.load``).

    ``forward(*inputs, **named_inputs)`` takes the graph's inputs in order (or by name)
    and returns its output, or a tuple of outputs. ``input_names`` and ``output_names``
    are the graph's; ``initializer_names`` maps each ONNX weight name to its
    ``state_dict`` key."""

    def __init__(self, spec) -> None:
        super().__init__()
        self._spec = spec
        self.input_names = [n for n, _, _ in spec.inputs]
        self.output_names = list(spec.outputs)
        self.initializer_names = {}
        self._weights = {}
        for name, arr in spec.float_inits.items():
            p = Parameter(_as_tensor(arr))
            self.initializer_names[name] = _place(self, name, p)
            self._weights[name] = p

    def forward(self, *args, **kwargs):
        return _run(self._spec, self._weights, args, kwargs)

    def extra_repr(self) -> str:
        return (f"inputs={self.input_names}, outputs={self.output_names}, "
                f"nodes={len(self._spec.nodes)}, opset={self._spec.opset}")


def _as_tensor(arr):
    from yingshe._tensor import _wrap
    return _wrap(np.array(arr, copy=True))


class _Spec:
    __slots__ = ("inputs", "outputs", "nodes", "consts", "float_inits", "opset", "overridable",
                 "used")


def _check_model(model, folder) -> _Spec:
    onnx = onnx_module()
    opset = None
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            opset = int(o.version)
    if opset is None:
        raise OnnxImportError("yingshe.onnx.load: the model does not import the ai.onnx opset")
    top = max_opset()
    if not 13 <= opset <= top:
        raise OnnxImportError(f"yingshe.onnx.load: opset {opset} is not supported (yingshe reads "
                              f"ai.onnx opsets 13 to {top}; exports write {MIN_OPSET} or later)")
    if model.functions:
        try:
            from onnx import inliner
            model = inliner.inline_local_functions(model)
        except Exception as err:  # noqa: BLE001 - a malformed function: refused
            raise OnnxImportError(f"yingshe.onnx.load: the model's local functions cannot be "
                                  f"inlined: {err}") from None
    g = model.graph
    if len(g.sparse_initializer):
        raise OnnxImportError("yingshe.onnx.load: sparse initializers are not supported")
    spec = _Spec()
    spec.opset = opset
    consts, float_inits = {}, {}
    defined: set = set()
    for t in g.initializer:
        what = f"yingshe.onnx.load: initializer {t.name!r}"
        if not t.name or t.name in defined:
            raise OnnxImportError(f"{what}: empty or repeated name")
        arr = tensor_array(t, what, folder)
        defined.add(t.name)
        if arr.dtype.kind == "f" and arr.ndim:   # a weight; a 0-d one is a constant
            float_inits[t.name] = arr
        else:
            consts[t.name] = arr
    inputs = []
    overridable = set()
    for v in g.input:
        if v.name in defined:     # old exporters list initializers among the inputs
            overridable.add(v.name)
            continue
        what = f"yingshe.onnx.load: input {v.name!r}"
        if not v.name:
            raise OnnxImportError(f"{what}: empty name")
        tt = v.type.tensor_type if v.type.HasField("tensor_type") else None
        if tt is None:
            raise OnnxImportError(f"{what}: only tensor inputs are supported")
        dt = from_onnx_dtype(tt.elem_type, what)
        dims = None
        if tt.HasField("shape"):
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
        inputs.append((v.name, dt, dims))
        defined.add(v.name)
    nodes = []
    for i, n in enumerate(g.node):
        where = f"yingshe.onnx.load: node {n.name or i!r} ({n.op_type})"
        if n.domain not in ("", "ai.onnx"):
            raise UnsupportedOnnxImport(f"{where}: op domain {n.domain!r} is not supported "
                                        "(yingshe runs the standard ai.onnx domain only)")
        imp = IMPORTERS.get(n.op_type)
        if imp is None:
            bad = sorted({m.op_type for m in g.node if m.op_type not in IMPORTERS})
            raise UnsupportedOnnxImport(
                f"yingshe.onnx.load: ONNX ops not supported by yingshe: {', '.join(bad)} "
                "(see docs/onnx_supported.md)")
        if len(n.output) > imp.n_out and any(n.output[imp.n_out:]):
            raise OnnxImportError(f"{where}: output {imp.n_out} and later are not supported")
        node = _Node()
        node.op, node.name, node.where, node.imp = n.op_type, n.name, where, imp
        node.inputs = list(n.input)
        node.outputs = list(n.output)
        node.attrs = _attrs(n, imp.attrs, where, folder)
        nodes.append(node)
    spec.nodes = _order(nodes, defined)
    spec.outputs = []
    produced = defined | {o for n in nodes for o in n.outputs if o}
    for v in g.output:
        if v.name not in produced:
            raise OnnxImportError(f"yingshe.onnx.load: output {v.name!r} is not computed by "
                                  "any node")
        spec.outputs.append(v.name)
    if not spec.outputs:
        raise OnnxImportError("yingshe.onnx.load: the graph has no outputs")
    spec.inputs, spec.consts, spec.float_inits = inputs, consts, float_inits
    spec.used = {x for n in nodes for x in n.inputs if x} | set(spec.outputs)
    spec.overridable = overridable
    return spec


def _order(nodes, defined: set) -> list:
    """The nodes in a topological order (Kahn); values used before any node defines
    them and cycles are refused."""
    producer: dict = {}
    for n in nodes:
        for o in n.outputs:
            if not o:
                continue
            if o in producer or o in defined:
                raise OnnxImportError(f"{n.where}: value {o!r} is defined twice")
            producer[o] = n
    for n in nodes:
        for x in n.inputs:
            if x and x not in producer and x not in defined:
                raise OnnxImportError(f"{n.where}: input {x!r} is not defined by any node, "
                                      "input or initializer")
    waiting = {id(n): sum(1 for x in set(n.inputs) if x in producer) for n in nodes}
    users: dict = {}
    for n in nodes:
        for x in set(n.inputs):
            if x in producer:
                users.setdefault(x, []).append(n)
    ready = collections.deque(n for n in nodes if waiting[id(n)] == 0)
    out = []
    while ready:
        n = ready.popleft()
        out.append(n)
        for o in n.outputs:
            for u in users.get(o, ()):
                waiting[id(u)] -= 1
                if waiting[id(u)] == 0:
                    ready.append(u)
    if len(out) != len(nodes):
        stuck = next(n for n in nodes if waiting[id(n)] > 0)
        raise OnnxImportError(f"{stuck.where}: the graph has a cycle through this node")
    return out


class UnsupportedOnnxImport(OnnxImportError, UnsupportedOnnxOp):
    """An ONNX op (or op domain) that yingshe does not run, refused by name."""


# ---- running ------------------------------------------------------------------------------------

def _is_static(v) -> bool:
    return v is None or isinstance(v, np.ndarray)


def _run(spec: _Spec, weights: dict, args, kwargs):
    import yingshe
    names = [n for n, _, _ in spec.inputs]
    if len(args) > len(names):
        raise TypeError(f"OnnxModule: the graph takes {len(names)} inputs {names}, got "
                        f"{len(args)}")
    env: dict = dict(spec.consts)
    env.update(weights)
    given = dict(zip(names, args))
    for k, v in kwargs.items():
        if k in given or (k not in names and k not in spec.overridable):
            raise TypeError(f"OnnxModule: unexpected or repeated input {k!r} (inputs: {names})")
        given[k] = v
    for name, dt, dims in spec.inputs:
        if name not in given:
            raise TypeError(f"OnnxModule: missing input {name!r} (inputs: {names})")
        v = given[name]
        if not isinstance(v, Tensor):
            v = yingshe.tensor(np.asarray(v))
        if v.dtype is not dt:
            raise TypeError(f"OnnxModule: input {name!r} must be {dt.name}, got {v.dtype.name}")
        if dims is not None:
            shape = tuple(v.shape)
            if len(shape) != len(dims) or any(d is not None and s is not None and d != s
                                              for d, s in zip(dims, shape)):
                raise ValueError(f"OnnxModule: input {name!r} must have shape "
                                 f"{tuple('?' if d is None else d for d in dims)}, got {shape}")
        env[name] = v
    for k in spec.overridable:
        if k in given:
            env[k] = given[k]
    for node in spec.nodes:
        vals = [env[x] if x else None for x in node.inputs]
        ctx = Ctx(node, spec.opset, spec.used)
        try:
            if vals and all(_is_static(v) for v in vals):
                outs = _static_call(node, ctx, vals)
            else:
                outs = node.imp.fn(ctx, *vals)
        except OnnxImportError:
            raise
        except Exception as err:  # noqa: BLE001 - re-raised as it is, naming the ONNX node
            if err.args and isinstance(err.args[0], str):
                err.args = (f"in ONNX node {node.name!r} ({node.op}): {err.args[0]}",) + \
                    err.args[1:]
            raise
        outs = outs if isinstance(outs, tuple) else (outs,)
        for name, v in zip(node.outputs, outs):
            if name:
                env[name] = v
    res = [_as_tensor(v) if isinstance(v, np.ndarray) else v
           for v in (env[name] for name in spec.outputs)]
    return res[0] if len(res) == 1 else tuple(res)


def _static_call(node, ctx, vals):
    """Run a node whose inputs are all constants on NumPy values (outside any trace): its
    results are constants too (shape arithmetic, folded weights)."""
    from yingshe.autograd import no_grad
    prev = MODE.tracer
    MODE.tracer = None
    try:
        with no_grad():
            outs = node.imp.fn(ctx, *vals)
    finally:
        MODE.tracer = prev
    outs = outs if isinstance(outs, tuple) else (outs,)
    return tuple(o.numpy() if isinstance(o, Tensor) else o for o in outs)


# ---- the entry point ----------------------------------------------------------------------------

def load(path):
    """Read an ONNX model and return it as an ``nn.Module`` running on yingshe ops.

    Args:
        path: a file path, a binary file object, or the serialized bytes. External
            weights must lie in the model file's folder.

    Returns:
        An ``OnnxModule``: call it with the graph's inputs (tensors or arrays, in order
        or by name); it returns the output, or a tuple of outputs. Its float weights are
        parameters, so it can be fine-tuned, saved, or compiled (``yingshe.compile``).

    Raises:
        OnnxImportError: a malformed or hostile file, or an op (``UnsupportedOnnxImport``)
            or attribute yingshe does not run; the message names it.

    Example:
        >>> m = yingshe.onnx.load("mlp.onnx")
        >>> y = m(yingshe.randn(5, 4))
    """
    onnx = onnx_module()
    from yingshe.onnx import import_ops  # noqa: F401 - fills IMPORTERS
    folder = None
    if isinstance(path, (bytes, bytearray, memoryview)):
        data = bytes(path)
    elif hasattr(path, "read"):
        data = path.read(_MAX_FILE + 1)
    else:
        p = os.fspath(path)
        try:
            size = os.path.getsize(p)
        except OSError as err:
            raise OnnxImportError(f"yingshe.onnx.load: cannot read {p!r}: {err}") from None
        if size > _MAX_FILE:
            raise OnnxImportError(f"yingshe.onnx.load: {p!r} is {size} bytes, more than "
                                  "protobuf's 2 GiB limit (weights this large belong in "
                                  "external data files)")
        with open(p, "rb") as fh:
            data = fh.read()
        folder = os.path.dirname(os.path.abspath(p))
    if len(data) > _MAX_FILE:
        raise OnnxImportError("yingshe.onnx.load: more than protobuf's 2 GiB limit")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as err:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise OnnxImportError(f"yingshe.onnx.load: not a valid ONNX file ({type(err).__name__}: "
                              f"{err}); truncated or not a model") from None
    if not model.HasField("graph"):
        raise OnnxImportError("yingshe.onnx.load: not an ONNX model (no graph): truncated, or "
                              "another file format")
    spec = _check_model(model, folder)
    return OnnxModule(spec)
