"""The schedule: the program's order is already topological (and keeps stateful nodes
in creation order); this module finds where each value is used last, so the
interpreter and the generated code can drop it there (a buffer is freed after its
last use, not at the end of the run). Fetched values are never dropped."""

from __future__ import annotations

from yingshe.graph.ir import Symbol

__all__ = ["last_uses"]


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
