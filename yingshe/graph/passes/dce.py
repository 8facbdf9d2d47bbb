"""Dead-code elimination: drop nodes that no fetch needs (through inputs or control
dependencies), keeping the order of the rest."""

from __future__ import annotations

from yingshe.graph.ir import Node, Symbol
from yingshe.graph.passes import Program

__all__ = ["dce"]


def dce(program: Program) -> Program:
    live: set[int] = set()
    stack = [f if isinstance(f, Node) else f._gnode for f in program.fetches]
    by_id = {n.id: n for n in program.nodes}
    while stack:
        n = stack.pop()
        if n.id in live or n.id not in by_id:
            continue
        live.add(n.id)
        for x in n.inputs:
            if isinstance(x, Symbol):
                stack.append(x._gnode)
        stack.extend(n.control)
    nodes = [n for n in program.nodes if n.id in live]
    stats = dict(program.stats)
    stats["dce"] = stats.get("dce", 0) + len(program.nodes) - len(nodes)
    return Program(nodes, program.fetches, program.feeds, stats)
