"""The compiler's program form and its passes.

A ``Program`` is what ``Session.run`` compiles: the nodes needed by the fetches, in a
topological order that keeps stateful nodes in creation order, the fetched symbols
(or ops), and the fed symbols. Each pass is a small function ``Program -> Program``
that never mutates its input (nodes are immutable: a node whose inputs change is
re-created by ``rewrite``). ``PIPELINE`` lists them in the order ``optimize`` runs them;
``verify`` runs after each one when asked.
"""

from __future__ import annotations

from yingshe.graph.ir import FeedError, Node, Symbol
from yingshe.errors import format_site
from yingshe.ops._shapes import shape_str

__all__ = ["Program", "prune", "rewrite", "optimize", "PIPELINE", "key_of", "describe_stats",
           "pipeline"]

_STAT_WORDS = {"fold": "{} ops folded into constants", "cse": "{} duplicates merged (CSE)",
               "simplify": "{} simplified away", "dce": "{} dead nodes removed",
               "fuse": "{} fusion groups"}


def describe_stats(stats: dict) -> str:
    """What the passes did, in words ('3 ops folded into constants, 3 dead nodes removed');
    ``Program.stats`` counts, per pass, the ops folded (fold) or the nodes removed."""
    return ", ".join(_STAT_WORDS.get(k, k + " {}").format(v) for k, v in stats.items() if v)


def key_of(sym: Symbol) -> tuple:
    return (sym._gnode.id, sym._out_index)


class Program:
    """Nodes in run order, fetches (symbols or ops) and fed symbols."""

    def __init__(self, nodes, fetches, feeds, stats=None) -> None:
        self.nodes = list(nodes)
        self.fetches = list(fetches)
        self.feeds = list(feeds)
        self.stats = dict(stats or {})   # pass -> ops folded (fold) or nodes removed
        self._last = None

    def __len__(self) -> int:
        return len(self.nodes)

    def assigned_vars(self) -> frozenset:
        """ids of the Variables this program assigns (their reads are copied)."""
        return frozenset(id(n.var) for n in self.nodes if n.kind == "assign")

    def last_uses(self) -> dict:
        if self._last is None:
            from yingshe.graph.schedule import last_uses
            self._last = last_uses(self)
        return self._last

    def count(self, kind_or_op: str) -> int:
        return sum(1 for n in self.nodes if n.type == kind_or_op)

    def __repr__(self) -> str:
        return f"<Program {len(self.nodes)} nodes, {len(self.fetches)} fetches>"


def prune(fetches, feeds) -> Program:
    """The nodes the ``fetches`` need, stopping at fed symbols; ``FeedError`` for a
    placeholder that is needed but not fed."""
    fed = {key_of(s) for s in feeds}
    needed: dict[int, Node] = {}
    stack = []
    for f in fetches:
        node = f if isinstance(f, Node) else f._gnode
        if isinstance(f, Symbol) and key_of(f) in fed:
            if node.kind == "placeholder":
                stack.append(node)
            continue
        stack.append(node)
    while stack:
        n = stack.pop()
        if n.id in needed:
            continue
        needed[n.id] = n
        for x in n.inputs:
            if isinstance(x, Symbol):
                if key_of(x) in fed and x._gnode.kind != "placeholder":
                    continue
                stack.append(x._gnode)
        stack.extend(n.control)
    nodes = sorted(needed.values(), key=lambda n: n.id)
    for n in nodes:
        if n.kind == "placeholder" and (n.id, 0) not in fed:
            where = f" (defined at {format_site(n.site)})" if n.site else ""
            raise FeedError(
                f"you must feed a value for placeholder '{n.name}' of dtype "
                f"{n.metas[0].dtype.name} and shape "
                f"{'unknown' if n.attrs['shape'] is None else shape_str(n.metas[0].shape)}"
                f"{where}: it is needed by the fetches"
            )
    used = {key_of(s) for n in nodes for s in n.inputs if isinstance(s, Symbol)}
    used |= {key_of(f) for f in fetches if isinstance(f, Symbol)}
    feeds = [s for s in feeds if key_of(s) in used]
    return Program(nodes, fetches, feeds)


def clone(node: Node, inputs, control) -> Node:
    return Node(node.kind, node.op, inputs, node.attrs, node.metas, name=node.name,
                site=node.site, graph=node.graph, value=node.value, var=node.var,
                control=control, grad=node.grad)


def rewrite(program: Program, fn, stat: str | None = None) -> Program:
    """Rebuild ``program`` node by node. ``fn(node, inputs)`` sees the node and its
    inputs already remapped; it returns None (keep the node) or
    ``(new_nodes, replacements)``: nodes to emit here and one symbol per output of
    ``node`` that consumers use instead (from earlier nodes, fed, or ``new_nodes``)."""
    sym_map: dict[tuple, Symbol] = {}
    node_map: dict[int, Node] = {}
    out: list[Node] = []
    for node in program.nodes:
        inputs = tuple(sym_map.get(key_of(x), x) if isinstance(x, Symbol) else x
                       for x in node.inputs)
        control = tuple(node_map.get(c.id, c) for c in node.control)
        res = fn(node, inputs) if node.kind == "op" else None
        if res is None:
            if all(a is b for a, b in zip(inputs, node.inputs)) and \
                    all(a is b for a, b in zip(control, node.control)):
                new = node
            else:
                new = clone(node, inputs, control)
            out.append(new)
            node_map[node.id] = new
            for i, s in enumerate(node.outputs):
                if new is not node:
                    sym_map[key_of(s)] = new.outputs[i]
            continue
        new_nodes, repl = res
        out.extend(new_nodes)
        for s, r in zip(node.outputs, repl):
            sym_map[key_of(s)] = r
        if repl:
            node_map[node.id] = repl[0]._gnode
    fetches = [node_map.get(f.id, f) if isinstance(f, Node) else sym_map.get(key_of(f), f)
               for f in program.fetches]
    stats = dict(program.stats)
    if stat:
        stats[stat] = stats.get(stat, 0) + len(program.nodes) - len(out)
    return Program(out, fetches, program.feeds, stats)


def optimize(program: Program, passes=None, check: bool = True) -> Program:
    """Run the pass pipeline (``PIPELINE``, or ``passes``: ``pipeline(backend)`` for a
    backend's), verifying the program after each pass when ``check``."""
    from yingshe.graph.verify import verify
    if check:
        verify(program)
    for p in (PIPELINE if passes is None else passes):
        program = p(program)
        if check:
            verify(program, after=p.__name__)
    return program


from yingshe.graph.passes.fold import fold  # noqa: E402
from yingshe.graph.passes.cse import cse  # noqa: E402
from yingshe.graph.passes.simplify import simplify  # noqa: E402
from yingshe.graph.passes.dce import dce  # noqa: E402

from yingshe.graph.passes.fuse import fuse  # noqa: E402

PIPELINE = (fold, cse, simplify, cse, dce)


def pipeline(backend: str = "numpy") -> tuple:
    """The passes for ``backend``: NumPy's program runs op by op; numba's fuses
    elementwise groups into kernels last, once the other passes have settled the graph."""
    return PIPELINE + (fuse,) if backend == "numba" else PIPELINE
