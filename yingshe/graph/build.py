"""Building graphs: the default-graph stack, placeholders, constants, Variables, assigns,
name scopes, and ``symbolic_apply`` (what ``yingshe.ops.apply`` calls when an input is
a ``Symbol``: check shapes and dtypes with the op's ``infer`` rule, add a node).
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor
from yingshe.errors import DTypeError, IndexError, ShapeError, format_site, user_site
from yingshe.graph.ir import (GRAPH_OPS, STOP_GRADIENT, Graph, GraphError, Node, Symbol)
from yingshe.ops._shapes import Meta, shape_str
from yingshe.state import Variable as _StateVariable

__all__ = ["get_default_graph", "reset_default_graph", "placeholder", "constant", "Variable",
           "assign", "assign_add", "assign_sub", "global_variables_initializer",
           "variables_initializer", "stop_gradient", "name_scope", "group", "no_op",
           "symbolic_apply", "trainable_variables", "global_variables", "random_normal",
           "random_uniform", "as_symbol"]

_root = [Graph()]
_default_stack: list[Graph] = []


def get_default_graph() -> Graph:
    """The graph new nodes go to: the innermost ``as_default()``, else the global one."""
    return _default_stack[-1] if _default_stack else _root[0]


def reset_default_graph() -> None:
    """Replace the global default graph with a new empty one (TF1)."""
    if _default_stack:
        raise AssertionError("reset_default_graph() called inside a graph.as_default() block")
    _root[0] = Graph()


def name_scope(name: str):
    """``with name_scope("layer1"):`` prefixes the names of nodes created inside."""
    return get_default_graph().name_scope(name)


def _site():
    return user_site(2)


# ---- sources -------------------------------------------------------------------------------

def _shape_of(shape) -> tuple:
    if shape is None:
        return None
    if isinstance(shape, int):
        return (shape,)
    return tuple(None if d is None or (isinstance(d, int) and d < 0) else int(d) for d in shape)


def placeholder(dtype, shape=None, name: str | None = None) -> Symbol:
    """A value fed at run time through ``feed_dict``; ``None`` dims are unknown.

    ``shape=None`` accepts any shape: the node's shape is then unknown in rank too,
    which most ops cannot infer through, so give at least the rank when you can.
    """
    g = get_default_graph()
    dt = _dtype.as_dtype(dtype)
    shp = _shape_of(shape)
    meta = Meta(() if shp is None else shp, dt)
    node = g.add_node("placeholder", None, (), {"shape": shp, "dtype": dt}, (meta,),
                      name=name or "Placeholder", site=_site())
    return node.outputs[0]


def _to_array(value, dtype=None) -> np.ndarray:
    if isinstance(value, Symbol):
        raise TypeError("constant(): expected a concrete value, got a graph tensor")
    if isinstance(value, Tensor):
        arr = np.array(value._data, copy=True)
    else:
        from yingshe._creation import _to_array as to_arr
        arr = np.array(to_arr(value, None), copy=True)
    if dtype is not None:
        arr = arr.astype(_dtype.as_dtype(dtype).np)
    return arr


def _constant_node(g: Graph, arr: np.ndarray, name=None, site=None) -> Symbol:
    meta = Meta(arr.shape, _dtype.from_numpy_dtype(arr.dtype))
    arr.flags.writeable = False
    node = g.add_node("constant", None, (), {}, (meta,), name=name or "Const", site=site,
                      value=arr)
    return node.outputs[0]


def constant(value, dtype=None, name: str | None = None, shape=None) -> Symbol:
    """A constant node holding a copy of ``value`` (cast to ``dtype`` when given)."""
    arr = _to_array(value, dtype)
    if shape is not None:
        arr = np.broadcast_to(arr, tuple(shape)).copy()
    return _constant_node(get_default_graph(), arr, name, _site())


def read(var, graph: Graph | None = None) -> Symbol:
    """The read node of ``var`` in ``graph`` (one per Variable and graph)."""
    g = graph or get_default_graph()
    sym = g._reads.get(id(var))
    if sym is None:
        meta = Meta(var._data.shape, _dtype.from_numpy_dtype(var._data.dtype))
        site = getattr(var, "_site", None) or user_site(2)
        node = g.add_node("read", None, (), {}, (meta,),
                          name=(var.name or "Variable") + "/read", site=site, var=var)
        sym = node.outputs[0]
        g._reads[id(var)] = sym
        g._read_vars.append(var)
    return sym


def Variable(initial_value, trainable: bool = True, name: str | None = None,
             dtype=None) -> _StateVariable:
    """A graph Variable: a ``yingshe.state.Variable`` (the one storage class) whose
    initialiser is recorded; ``global_variables_initializer()`` runs it.

    Values are global to the process, not per Session (unlike TF1). Until it is
    initialised, running anything that reads it raises ``UninitializedVariableError``.
    ``initial_value`` may be a concrete value or a graph tensor of fully known shape
    (evaluated, with fresh random draws, each time the initialiser runs).
    """
    g = get_default_graph()
    site = _site()
    if isinstance(initial_value, Symbol):
        sym = initial_value
        if dtype is not None and sym.dtype != _dtype.as_dtype(dtype):
            sym = sym.to(_dtype.as_dtype(dtype))
        if None in sym.shape:
            raise ShapeError(f"Variable: the initial value must have a fully known shape, got "
                             f"{shape_str(sym.shape)}")
        meta = sym._meta

        def initializer():
            from yingshe.graph.interpreter import evaluate
            return evaluate([sym], {})[0]
    else:
        arr = _to_array(initial_value, dtype)
        meta = Meta(arr.shape, _dtype.from_numpy_dtype(arr.dtype))

        def initializer():
            return arr.copy()
    full = g.unique_name(name or "Variable")
    var = _StateVariable(np.zeros(meta.shape, meta.dtype.np), name=full,
                         trainable=trainable, initializer=initializer)
    var.initialized = False
    var._site = site
    var._graph = g
    # ops on this variable build graph nodes even when no other input is symbolic
    # (`w * 2` in TF1 code), see yingshe.ops._registry.apply
    var._symbolic_read = True
    g.variables.append(var)
    return var


# ---- state changes -------------------------------------------------------------------------

def _value_symbol(g: Graph, value, like: Meta) -> Symbol:
    if isinstance(value, Symbol):
        return value
    if isinstance(value, _StateVariable):
        return read(value, g)
    arr = _to_array(value, like.dtype)
    return _constant_node(g, arr, site=user_site(3))


def _assign(ref, value, mode: str, name) -> Symbol:
    if not isinstance(ref, _StateVariable):
        raise TypeError(f"assign: the target must be a Variable, got {type(ref).__name__}")
    g = value.graph if isinstance(value, Symbol) else get_default_graph()
    meta = Meta(ref._data.shape, _dtype.from_numpy_dtype(ref._data.dtype))
    val = _value_symbol(g, value, meta)
    try:
        from yingshe.ops._shapes import broadcast_shapes
        out = broadcast_shapes(f"assign to '{ref.name}'", meta.shape, val.shape)
        if len(out) != len(meta.shape) or any(
                a is not None and b is not None and a != b for a, b in zip(out, meta.shape)):
            raise ShapeError(f"assign to '{ref.name}': value of shape {shape_str(val.shape)} "
                             f"does not fit the Variable's shape {shape_str(meta.shape)}")
    except ShapeError:
        raise
    if val.dtype.is_floating_point and not meta.dtype.is_floating_point:
        raise DTypeError(f"assign to '{ref.name}': a {val.dtype.name} value can't be written "
                         f"into a {meta.dtype.name} Variable")
    node = g.add_node("assign", None, (val,), {"mode": mode}, (meta,),
                      name=name or {"set": "Assign", "add": "AssignAdd",
                                    "sub": "AssignSub"}[mode],
                      site=user_site(3), var=ref)
    return node.outputs[0]


def assign(ref, value, name: str | None = None) -> Symbol:
    """A node that writes ``value`` into Variable ``ref`` (in place) and yields it."""
    return _assign(ref, value, "set", name)


def assign_add(ref, value, name: str | None = None) -> Symbol:
    return _assign(ref, value, "add", name)


def assign_sub(ref, value, name: str | None = None) -> Symbol:
    return _assign(ref, value, "sub", name)


def variables_initializer(var_list, name: str = "init") -> Node:
    g = get_default_graph()
    return g.add_node("init", None, (), {}, (), name=name, site=_site(),
                      value=tuple(var_list))


def global_variables_initializer() -> Node:
    """An op that (re)runs the initialisers of the Variables created in this graph
    (eager-initialised Parameters are left alone)."""
    g = get_default_graph()
    return g.add_node("init", None, (), {}, (), name="init", site=_site(),
                      value=tuple(g.variables))


def trainable_variables() -> list:
    return get_default_graph().trainable_variables()


def global_variables() -> list:
    return get_default_graph().global_variables()


def group(*inputs, name: str | None = None) -> Node:
    """An op that runs all ``inputs`` (symbols or ops) and yields nothing."""
    g = get_default_graph()
    ctl = []
    for x in inputs:
        if isinstance(x, (list, tuple)):
            ctl.extend(group(*x).control)
            continue
        if isinstance(x, Symbol):
            x = x._gnode
        if not isinstance(x, Node):
            raise TypeError(f"group: expected graph tensors or ops, got {type(x).__name__}")
        g = x.graph
        ctl.append(x)
    return g.add_node("no_op", None, (), {}, (), name=name or "group_deps", site=_site(),
                      control=tuple(ctl))


def no_op(name: str | None = None) -> Node:
    return group(name=name or "NoOp")


def stop_gradient(input, name: str | None = None) -> Symbol:
    """Identity whose gradient is None: ``gradients`` does not flow through it."""
    sym = as_symbol(input)
    node = sym.graph.add_node("op", STOP_GRADIENT, (sym,), {}, (sym._meta,),
                              name=name or "StopGradient", site=_site())
    return node.outputs[0]


def as_symbol(x, graph: Graph | None = None) -> Symbol:
    """A graph tensor for ``x``: symbols pass, Variables become reads, values constants."""
    g = graph or get_default_graph()
    if isinstance(x, Symbol):
        return x
    if isinstance(x, _StateVariable):
        return read(x, g)
    return _constant_node(g, _to_array(x), site=user_site(3))


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None) -> Symbol:
    """Normal samples drawn at run time from the framework generator (TF1 name)."""
    from yingshe.ops.random_ops import Normal
    dt = _dtype.as_dtype(dtype or _dtype.get_default_dtype())
    return _add(Normal, (float(mean), float(stddev)),
                {"shape": tuple(int(s) for s in shape), "dtype": dt, "generator": None},
                get_default_graph(), name or "random_normal")


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None, name=None) -> Symbol:
    from yingshe.ops.random_ops import Uniform
    dt = _dtype.as_dtype(dtype or _dtype.get_default_dtype())
    return _add(Uniform, (), {"shape": tuple(int(s) for s in shape), "dtype": dt,
                              "low": float(minval), "high": float(maxval), "generator": None},
                get_default_graph(), name or "random_uniform")


# ---- symbolic_apply ------------------------------------------------------------------------

def _graph_of(inputs) -> Graph:
    g = None
    for x in inputs:
        if isinstance(x, Symbol):
            if g is None:
                g = x._gnode.graph
            elif x._gnode.graph is not g:
                raise GraphError(
                    f"{x._describe()} belongs to another graph than the op's other inputs"
                )
    return g if g is not None else get_default_graph()


def _with_site(err: BaseException, site) -> BaseException:
    from yingshe.ops._registry import _with_site as ws
    return ws(err, site)


def _add(op, inputs, attrs, g: Graph, name=None, site=None, grad=False):
    site = site if site is not None else user_site(3)
    metas = [x._meta if isinstance(x, Symbol) else x for x in inputs]
    try:
        out = op.infer(*metas, **attrs)
    except (ShapeError, DTypeError, IndexError) as err:
        raise _with_site(err, site)
    except (ValueError, TypeError, builtins_IndexError) as err:
        desc = ", ".join(f"{shape_str(m.shape)} {m.dtype.name}" if isinstance(m, Meta)
                         else repr(m) for m in metas)
        cls = ShapeError if isinstance(err, ValueError) else (
            IndexError if isinstance(err, builtins_IndexError) else DTypeError)
        raise _with_site(cls(f"{op.name}: {err} (inputs: {desc})"), site) from err
    n = op.n_outputs(attrs)
    outs = (out,) if isinstance(out, Meta) else tuple(out)
    if len(outs) != n:
        raise GraphError(f"the infer rule of op '{op.name}' gave {len(outs)} outputs; the op "
                         f"declares {n}")
    node = g.add_node("op", op, tuple(inputs), attrs, outs, name=name, site=site, grad=grad)
    if not node.returns_tuple:   # (a variadic op's one output is still a tuple, as eagerly)
        return node.outputs[0]
    res = node.outputs
    return res[: n - op.hidden] if op.hidden else res


import builtins as _builtins  # noqa: E402

builtins_IndexError = _builtins.IndexError

# set by gradients() while it builds gradient nodes (they are marked as such)
_building_grad = [False]


def symbolic_apply(op, inputs, attrs):
    """Add a node for ``op`` on ``inputs`` (at least one a Symbol) to their graph."""
    g = _graph_of(inputs)
    conv = []
    for x in inputs:
        if isinstance(x, Symbol):
            conv.append(x)
        elif isinstance(x, _StateVariable):
            conv.append(read(x, g))
        elif isinstance(x, Tensor):
            conv.append(_constant_node(g, np.array(x._data, copy=True), site=user_site(3)))
        elif isinstance(x, np.ndarray):
            conv.append(_constant_node(g, np.array(x, copy=True), site=user_site(3)))
        else:
            conv.append(x)
    return _add(op, tuple(conv), attrs, g, grad=_building_grad[0])


def graph_op(name: str):
    return GRAPH_OPS[name]


def describe_site(node: Node) -> str:
    return format_site(node.site) if node.site else "(unknown)"
