"""Expanding deferred ``gradients`` nodes once the feed shapes are known.

``gradients()`` on a graph with unknown dimensions (a ``None`` batch size) cannot
always build its nodes: a VJP may need a concrete shape (the mean's count). It then
records one ``gradients`` node; this pass re-builds the pruned program in a private
graph whose fed tensors have the concrete shapes of this run's feeds (every op is
re-inferred) and runs the ordinary symbolic walk there. ``Session.run`` compiles per
feed signature anyway, so the expansion is cached with the plan.
"""

from __future__ import annotations

from yingshe import _dtype
from yingshe.graph import build
from yingshe.graph.ir import Graph, Symbol
from yingshe.graph.passes import Program, key_of, prune
from yingshe.ops._shapes import Meta

__all__ = ["has_deferred", "lower"]


def has_deferred(program: Program) -> bool:
    from yingshe.graph.gradients import GRADIENTS
    return any(n.kind == "op" and n.op is GRADIENTS for n in program.nodes)


def lower(program: Program, feed_shapes: dict) -> tuple[Program, list]:
    """(the expanded program, the original key of each of its feeds, in order)."""
    from yingshe.graph.gradients import GRADIENTS, expand_deferred
    g = Graph()
    sym: dict[tuple, Symbol] = {}
    nodes: dict[int, object] = {}
    feeds, feed_keys = [], []
    for s in program.feeds:
        shape = tuple(feed_shapes[key_of(s)])
        attrs = {**s._gnode.attrs, "shape": shape}   # keeps "hyper" (a Python float)
        ph = g.add_node("placeholder", None, (), attrs,
                        (Meta(shape, s.dtype),), name=s._gnode.name, site=s._gnode.site)
        sym[key_of(s)] = ph.outputs[0]
        feeds.append(ph.outputs[0])
        feed_keys.append(key_of(s))

    def m(x):
        return sym[key_of(x)] if isinstance(x, Symbol) else x

    with g.as_default():
        for node in program.nodes:
            if node.kind == "placeholder":
                continue
            ins = tuple(m(x) for x in node.inputs)
            if node.kind == "op" and node.op is GRADIENTS:
                outs = expand_deferred(node, ins, g)
            elif node.kind == "op":
                r = build._add(node.op, ins, node.attrs, g, name=node.name, site=node.site,
                               grad=node.grad)
                r = r if isinstance(r, Symbol) else r[0]
                outs = r._gnode.outputs
            elif node.kind == "constant":
                outs = (build._constant_node(g, node.value, node.name, node.site),)
            elif node.kind == "read":
                outs = (build.read(node.var, g),)
            else:
                new = g.add_node(node.kind, None, ins, node.attrs,
                                 tuple(Meta(x.shape, x.dtype) for x in node.metas),
                                 name=node.name, site=node.site, value=node.value,
                                 var=node.var,
                                 control=tuple(nodes[c.id] for c in node.control))
                outs = new.outputs
            nodes[node.id] = outs[0]._gnode if outs else new
            for i, o in enumerate(outs):
                sym.setdefault((node.id, i), o)
    fetches = [nodes[f.id] if not isinstance(f, Symbol) else sym[key_of(f)]
               for f in program.fetches]
    out = prune(fetches, feeds)
    pos = {id(s): i for i, s in enumerate(feeds)}
    keys = [feed_keys[pos[id(s)]] for s in out.feeds]
    return out, keys


_ = _dtype
