"""``gradients(ys, xs)``: reverse-mode differentiation that adds the gradient to the graph.

This is the eager engine's walk (``yingshe.autograd._run``) over graph nodes instead of
tape nodes, and it calls the very same per-op rule (``op.vjp``), which is written in
yingshe ops: applied to ``Symbol``s, each of its op calls adds a node. So TF1's
"symbolic differentiation" and PyTorch's tape are one algorithm here, and gradient
nodes can be differentiated again (gradients of gradients).

Like the engine: gradients reaching one output are summed; a broadcast gradient is
summed back to the input's shape (``sum_to_size``) and cast to its dtype; only float
values carry gradients; an op is asked only for the input gradients that lead to an
``x`` (``needs``). Like TF1: ``None`` for an ``x`` that ``ys`` do not depend on, and
``grad_ys`` defaults to ones of each y's shape (no scalar requirement).
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe.autograd import _fit_to_input
from yingshe._tensor import MODE, Tensor
from yingshe.errors import ShapeError
from yingshe.graph import build
from yingshe.graph.ir import ONES_LIKE, ZEROS_LIKE, GraphError, Node, Symbol
from yingshe.ops._registry import Saved
from yingshe.ops._shapes import shape_str
from yingshe.state import Variable

__all__ = ["gradients"]


def _as_list(x) -> list:
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _edge_ok(x) -> bool:
    """Does a gradient flow into this input at all (a float graph value)?"""
    return isinstance(x, Symbol) and x._meta.dtype.is_floating_point


def _like(op, sym: Symbol, dtype=None) -> Symbol:
    m = sym._meta
    dt = dtype or m.dtype
    if None not in m.shape:  # known shape: a plain constant (folds, merges)
        fill = 1 if op is ONES_LIKE else 0
        return build._constant_node(sym.graph, np.full(m.shape, fill, dt.np))
    return build._add(op, (sym,), {"dtype": dt}, sym.graph, grad=True)


def zeros_like(x) -> Symbol:
    """Zeros of a graph value's (or a Variable's) shape and dtype, as a graph value."""
    if isinstance(x, Symbol):
        return _like(ZEROS_LIKE, x)
    return build._constant_node(build.get_default_graph(), np.zeros(tuple(x.shape),
                                                                     x.dtype.np))


# broadcasting is undone by the engine's one rule, shared with the eager tape
_fit = _fit_to_input


def gradients(ys, xs, grad_ys=None, name: str = "gradients", stop_gradients=None):
    """Symbolic d(sum of ys)/d(x) for each x in ``xs``, as new graph nodes.

    ``xs`` may hold graph tensors or Variables (their read in this graph); the
    result is a list with one graph tensor per x, or ``None`` where ys do not depend
    on x. ``grad_ys`` weights each y (default: ones of y's shape).
    """
    ys = _as_list(ys)
    xs_in = _as_list(xs)
    if not ys:
        raise ValueError("gradients: ys is empty")
    for y in ys:
        if not isinstance(y, Symbol):
            raise TypeError(f"gradients: ys must be graph tensors, got {type(y).__name__}")
    graph = ys[0].graph
    xs = []
    for x in xs_in:
        if isinstance(x, Symbol):
            xs.append(x)
        elif isinstance(x, Variable):
            xs.append(build.read(x, graph))
        else:
            raise TypeError(f"gradients: xs must be graph tensors or Variables, got "
                            f"{type(x).__name__}")
    stops = {id(s._gnode) for s in _as_list(stop_gradients or [])}
    tracer = MODE.tracer
    if tracer is not None and getattr(tracer, "graph", None) is graph:
        tracer.check_saved_versions(ys, xs)   # inside yingshe.compile: eager's version check

    # root gradients
    if grad_ys is None:
        grad_ys = [None] * len(ys)
    grad_ys = _as_list(grad_ys)
    if len(grad_ys) != len(ys):
        raise ValueError(f"gradients: {len(grad_ys)} grad_ys for {len(ys)} ys")
    grad_ys = [gy if gy is None or isinstance(gy, Symbol) else
               build._constant_node(graph, np.asarray(gy, dtype=y.dtype.np))
               for y, gy in zip(ys, grad_ys)]
    if any(None in m.shape for n in _ancestors(ys) for m in n.metas):
        # shapes unknown until run time (a None batch dim): the VJPs may need them, so
        # try now and, if they do, record a gradients node that the compiler expands
        # once the feed shapes are known (``passes.lower``)
        mark = len(graph.nodes)
        try:
            built = _build(graph, ys, xs, grad_ys, name, stops)
            if any(_unknown_in_attrs(n) for n in graph.nodes[mark:]):
                # a VJP baked an unknown dim into an attribute (sum's expand to the
                # input's (None, 3)): only the run's feed shapes can fill it in
                raise NeedsShapes()
            return built
        except (TypeError, ShapeError, NeedsShapes, GraphError):
            for n in graph.nodes[mark:]:
                graph._by_name.pop(n.name, None)
                if n.kind == "read":
                    graph._reads.pop(id(n.var), None)
            del graph.nodes[mark:]
            return _deferred(graph, ys, xs, grad_ys, name, stops)
    return _build(graph, ys, xs, grad_ys, name, stops)


def _unknown_in_attrs(node) -> bool:
    """An attribute holding an unknown dimension (a shape with None in it)."""
    def bad(v):
        return isinstance(v, (tuple, list)) and any(e is None or bad(e) for e in v)
    return any(bad(v) for v in node.attrs.values())


def _ancestors(ys):
    seen: dict[int, Node] = {}
    stack = [y._gnode for y in ys]
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen[n.id] = n
        stack.extend(x._gnode for x in n.inputs if isinstance(x, Symbol))
    return seen.values()


def _build(graph, ys, xs, grad_ys, name, stops):
    buffers: dict[int, list] = {}
    nodes: dict[int, Node] = {}

    def add_grad(sym: Symbol, g) -> None:
        n = sym._gnode
        buf = buffers.get(n.id)
        if buf is None:
            buf = buffers[n.id] = [None] * len(n.metas)
            nodes[n.id] = n
        i = sym._out_index
        buf[i] = g if buf[i] is None else buf[i] + g

    prev = build._building_grad[0]
    build._building_grad[0] = True
    try:
        with graph.name_scope(name):
            for y, gy in zip(ys, grad_ys):
                if not y.dtype.is_floating_point:
                    continue
                add_grad(y, _like(ONES_LIKE, y) if gy is None else gy)
            result = _walk(graph, ys, xs, buffers, nodes, add_grad, stops)
    finally:
        build._building_grad[0] = prev
    return result


class NeedsShapes(Exception):
    """Raised inside a build-time walk that meets a deferred gradients node."""


def _connected(ys, xs, stops) -> list[bool]:
    reach: dict[int, Node] = {}
    stack = [y._gnode for y in ys if y.dtype.is_floating_point]
    while stack:
        n = stack.pop()
        if n.id in reach:
            continue
        reach[n.id] = n
        if _passes_grad(n, stops) or (n.kind == "op" and n.op is GRADIENTS):
            stack.extend(x._gnode for x in n.inputs if _edge_ok(x))
    return [x._gnode.id in reach for x in xs]


def _deferred(graph, ys, xs, grad_ys, name, stops):
    if stops:
        raise NotImplementedError("gradients: stop_gradients with unknown shapes")
    conn = _connected(ys, xs, stops)
    cx = [x for x, c in zip(xs, conn) if c]
    if not cx:
        return [None] * len(xs)
    gys = [g for g in grad_ys if g is not None]
    attrs = {"n_ys": len(ys), "given": tuple(g is not None for g in grad_ys),
             "n_xs": len(cx), "scope": name}
    outs = build._add(GRADIENTS, tuple(ys) + tuple(gys) + tuple(cx), attrs, graph,
                      name=name, grad=True)
    outs = (outs,) if isinstance(outs, Symbol) else outs
    it = iter(outs)
    return [next(it) if c else None for c in conn]


def _macro_forward(xp, *args, **attrs):
    raise RuntimeError("a deferred gradients node must be expanded by the compiler")


def _macro_infer(*metas, n_ys, given, n_xs, scope):
    return tuple(metas[len(metas) - n_xs:])


def _macro_vjp(g, out, *inputs, **attrs):
    raise NeedsShapes()


def expand_deferred(node: Node, inputs, graph):
    """Build the gradient nodes of a deferred gradients node in ``graph`` (now that
    the shapes are known); returns one symbol per output."""
    a = node.attrs
    ys = list(inputs[: a["n_ys"]])
    rest = list(inputs[a["n_ys"]:])
    grad_ys = [rest.pop(0) if given else None for given in a["given"]]
    xs = rest
    out = _build(graph, ys, xs, grad_ys, a["scope"], set())
    return [o if o is not None else build._add(ZEROS_LIKE, (x,), {"dtype": x.dtype}, graph)
            for o, x in zip(out, xs)]


from yingshe.ops._registry import OpDef as _OpDef  # noqa: E402

GRADIENTS = _OpDef("gradients", _macro_forward, _macro_infer, _macro_vjp, saves="none",
                   num_outputs=lambda **a: a["n_xs"],
                   doc="Deferred gradient nodes, expanded once feed shapes are known.")


def _walk(graph, ys, xs, buffers, nodes, add_grad, stops):
    # the part of the graph ys depend on (through float edges of differentiable ops)
    reach: dict[int, Node] = {}
    stack = [y._gnode for y in ys]
    while stack:
        n = stack.pop()
        if n.id in reach:
            continue
        reach[n.id] = n
        if _passes_grad(n, stops):
            stack.extend(x._gnode for x in n.inputs if _edge_ok(x))
    targets: dict[int, list] = {}
    for j, x in enumerate(xs):
        targets.setdefault(x._gnode.id, []).append(j)
    # "useful": nodes from which some x is reachable (creation order is topological)
    useful: set[int] = set()
    for nid in sorted(reach):
        n = reach[nid]
        if nid in targets or (_passes_grad(n, stops) and any(
                _edge_ok(x) and x._gnode.id in useful for x in n.inputs)):
            useful.add(nid)
    result: list = [None] * len(xs)
    for nid in sorted(useful, reverse=True):
        node = reach[nid]
        grads = buffers.pop(nid, None)
        if grads is None:
            continue
        for j in targets.get(nid, ()):
            result[j] = grads[xs[j]._out_index]
        if not _passes_grad(node, stops):
            continue
        needs = tuple(_edge_ok(x) and x._gnode.id in useful for x in node.inputs)
        if not any(needs) or all(g is None for g in grads):
            continue
        in_grads = _call_vjp(node, grads, needs)
        for i, (x, g) in enumerate(zip(node.inputs, in_grads)):
            if not needs[i] or g is None:
                continue
            if not isinstance(g, Symbol):
                if isinstance(g, _Tensor):  # a VJP may build eager constants
                    g = build.as_symbol(g, graph)
                else:
                    raise TypeError(f"the VJP of op '{node.op.name}' returned a "
                                    f"{type(g).__name__} for input {i}; expected a tensor")
            add_grad(x, _fit(node, i, g, x))
    return result


from yingshe._tensor import Tensor as _Tensor  # noqa: E402


def _passes_grad(node: Node, stops) -> bool:
    return node.kind == "op" and node.op.differentiable and id(node) not in stops


def _call_vjp(node: Node, grads: list, needs: tuple):
    op = node.op
    n = len(node.metas)
    # a variadic op (split, chunk) takes a tuple even when this call made one output, as
    # its eager VJP does
    if not node.returns_tuple:
        g = grads[0]
        out = node.outputs[0]
    else:
        g = tuple(gi if gi is not None else
                  (_like(ZEROS_LIKE, node.outputs[i]) if node.metas[i].dtype.is_floating_point
                   else None)
                  for i, gi in enumerate(grads))
        out = node.outputs
    if op.save_inputs:
        inputs = node.inputs
    else:
        inputs = tuple(Saved(x._meta.shape, x._meta.dtype) if isinstance(x, Symbol) else x
                       for x in node.inputs)
    attrs = node.attrs
    if op.vjp_takes_needs:
        result = op.vjp(g, out, *inputs, needs=needs, **attrs)
    else:
        result = op.vjp(g, out, *inputs, **attrs)
    if len(node.inputs) == 1 and not isinstance(result, (tuple, list)):
        result = (result,)
    if len(result) != len(node.inputs):
        raise RuntimeError(f"the VJP of op '{op.name}' returned {len(result)} gradients for "
                           f"{len(node.inputs)} inputs")
    return result


_ = _dtype


def autograd_grad(outs, ins, grad_outputs, allow_unused, materialize_grads,
                  create_graph=True):
    """``yingshe.autograd.grad`` of graph values (installed as ``autograd.symbolic_grad``
    when ``yingshe.graph`` is imported): the gradient as graph nodes, which are
    differentiable again, so ``create_graph`` needs nothing more in a static graph; unused
    inputs as ``grad`` treats them. Inside ``yingshe.compile`` a gradient taken without
    ``create_graph`` is detached, as eagerly (it does not require grad)."""
    if grad_outputs is None:
        grad_ys = None
    elif isinstance(grad_outputs, Tensor):
        grad_ys = [grad_outputs]
    else:
        grad_ys = list(grad_outputs)
    got = gradients(list(outs), list(ins), grad_ys=grad_ys)
    result = []
    for t, g in zip(ins, got):
        if g is None:
            if materialize_grads:
                g = zeros_like(t)
            elif not allow_unused:
                raise RuntimeError(
                    f"one of the differentiated tensors (shape {shape_str(t.shape)}) appears "
                    "not to have been used in the graph; set allow_unused=True if this is "
                    "the desired behavior")
        elif not create_graph and MODE.tracer is not None:
            g = g.detach()
        result.append(g)
    return tuple(result)
