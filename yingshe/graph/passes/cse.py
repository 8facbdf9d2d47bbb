"""Common-subexpression elimination: two nodes with the same op, inputs and attributes
compute the same value; later ones are replaced by the first. Random and stateful ops
are never merged; equal small constants and reads of one Variable are."""

from __future__ import annotations

from yingshe.graph.ir import Node, Symbol, literal_key
from yingshe.graph.passes import Program, key_of

__all__ = ["cse", "node_key"]

_MAX_CONST_BYTES = 1 << 16


def _freeze(v):
    if isinstance(v, (list, tuple)):
        return (type(v).__name__,) + tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return ("dict",) + tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, float) and v != v:
        raise TypeError("nan attributes are never equal")
    hash(v)
    return (type(v).__name__, v)


def node_key(node: Node, inputs) -> tuple | None:
    """What makes two nodes compute the same value, or None when they must stay apart."""
    if node.kind == "constant":
        v = node.value
        if v.nbytes > _MAX_CONST_BYTES:
            return None
        return ("constant", v.dtype.str, v.shape, v.tobytes())
    if node.kind == "read":
        return ("read", id(node.var))
    if node.kind != "op" or node.op.random or node.op.stateful:
        return None
    try:
        ins = tuple(("sym",) + key_of(x) if isinstance(x, Symbol) else _freeze(literal_key(x))
                    for x in inputs)
        attrs = _freeze(node.attrs)
    except TypeError:
        return None
    return ("op", id(node.op), ins, attrs)


def cse(program: Program) -> Program:
    seen: dict[tuple, Node] = {}
    fed = {key_of(s) for s in program.feeds}
    out, sym_map, node_map = [], {}, {}
    # constants and reads are not "op" nodes, which ``rewrite`` never offers to a pass,
    # so this pass does its own walk
    from yingshe.graph.passes import clone
    for node in program.nodes:
        inputs = tuple(sym_map.get(key_of(x), x) if isinstance(x, Symbol) else x
                       for x in node.inputs)
        control = tuple(node_map.get(c.id, c) for c in node.control)
        k = node_key(node, inputs)
        if k is not None and not any(key_of(s) in fed for s in node.outputs):
            first = seen.get(k)
            if first is not None:
                for s, r in zip(node.outputs, first.outputs):
                    sym_map[key_of(s)] = r
                node_map[node.id] = first
                continue
        if all(a is b for a, b in zip(inputs, node.inputs)) and \
                all(a is b for a, b in zip(control, node.control)):
            new = node
        else:
            new = clone(node, inputs, control)
            for s, r in zip(node.outputs, new.outputs):
                sym_map[key_of(s)] = r
        node_map[node.id] = new
        if k is not None:
            seen[node_key(new, new.inputs)] = new
        out.append(new)
    fetches = [node_map.get(f.id, f) if isinstance(f, Node) else sym_map.get(key_of(f), f)
               for f in program.fetches]
    stats = dict(program.stats)
    stats["cse"] = stats.get("cse", 0) + len(program.nodes) - len(out)
    return Program(out, fetches, program.feeds, stats)
