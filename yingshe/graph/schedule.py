"""The schedule: the program's order is already topological (and keeps stateful nodes
in creation order); this module finds where each value is used last, so the
interpreter and the generated code can drop it there (a buffer is freed after its
last use, not at the end of the run). Fetched values are never dropped."""

from __future__ import annotations

from yingshe.graph.ir import Symbol

__all__ = ["last_uses", "reads_to_copy"]


def last_uses(program) -> dict[int, list[tuple]]:
    """{index of a node: [keys of values whose last use is that node]}."""
    keep = {(f._gnode.id, f._out_index) for f in program.fetches if isinstance(f, Symbol)}
    last: dict[tuple, int] = {}
    for i, node in enumerate(program.nodes):
        for k in range(len(node.metas)):
            last[(node.id, k)] = i   # unused outputs die where they are made
        for x in node.inputs:
            if isinstance(x, Symbol):
                last[(x._gnode.id, x._out_index)] = i
    out: dict[int, list[tuple]] = {}
    for key, i in last.items():
        if key not in keep:
            out.setdefault(i, []).append(key)
    return out


def reads_to_copy(program) -> frozenset:
    """ids of the ``read`` nodes whose value must be copied out of the Variable's buffer.

    A read hands out the Variable's own array (no copy), which is safe unless the array
    changes while the value is still needed: when an ``assign`` to the same Variable
    runs at or before the last use of the read or of any view of it (view ops share
    memory with their input 0; every other op returns a fresh array), or when the read,
    or a view of it, is fetched (the caller must not get the Variable's buffer). In a
    training step the forward and backward reads of a weight are used up before the
    optimizer's assign, so they need no copy."""
    nodes = program.nodes
    assigns: dict[int, list[int]] = {}
    for i, n in enumerate(nodes):
        if n.kind == "assign":
            assigns.setdefault(id(n.var), []).append(i)
    fetched = {(f._gnode.id, f._out_index) for f in program.fetches if isinstance(f, Symbol)}
    root: dict[tuple, int] = {}        # value key -> index of the read it may alias
    last: dict[int, int] = {}          # read index -> last use of it or of a view of it
    need = set()
    for i, n in enumerate(nodes):
        for x in n.inputs:
            if isinstance(x, Symbol):
                r = root.get((x._gnode.id, x._out_index))
                if r is not None:
                    last[r] = max(last.get(r, i), i)
        if n.kind == "read":
            root[(n.id, 0)] = i
            last.setdefault(i, i)
        elif n.kind == "op" and n.op.view and n.inputs and isinstance(n.inputs[0], Symbol):
            r = root.get((n.inputs[0]._gnode.id, n.inputs[0]._out_index))
            if r is not None:
                for k in range(len(n.metas)):
                    root[(n.id, k)] = r
    for key, r in root.items():
        if key in fetched:
            need.add(r)
    for r, end in last.items():
        later = [j for j in assigns.get(id(nodes[r].var), ()) if j > r]
        if later and later[0] <= end:
            need.add(r)
    return frozenset(nodes[r].id for r in need)
