"""Drawings of graphs and tapes: ``to_mermaid`` and ``to_dot``.

One emitter for both faces of yingshe:

- a **graph** (``yingshe.graph``): a ``Symbol`` or a list of them (the subgraph they
  depend on, control dependencies included), a whole ``Graph``, a compiled ``Program``
  (``yingshe.graph.passes``) or a plain list of graph ``Node``\\ s;
- an eager **tape**: a ``Tensor`` (or a list of them) that has a history; the drawing
  walks the tape backwards from it, exactly the nodes ``backward()`` would visit.

Each op is a box with its op name, its output shape and dtype and the line that created
it (``file.py:line``). Values flow downwards along the edges (input -> op), in both
drawings, so a tape recorded by the same ops as a graph looks like that graph;
``backward()`` and ``gradients()`` walk those edges upwards.

Styles (Mermaid ``classDef`` / DOT fill colours): ``feed`` placeholders (and eager
tensors that need no gradient), ``var`` Variables (and eager leaves that require grad:
parameters), ``const`` constants, ``fwd`` forward ops, ``grad`` gradient ops (those
``gradients()`` adds, under its ``gradients`` name scope), ``update`` assigns,
initialisers, groups and the ops that only compute a Variable's new value (an optimizer's
``w - lr * g``). Fetched values (or the tensors drawn from) are outlined.
Control dependencies are dashed edges. Boxes appear in creation order (a graph's node
order, the tape's recording order, each eager leaf just before its first reader), and
are named ``n0``, ``n1`` ... in that order.
"""

from __future__ import annotations

import os
import re

from yingshe.errors import resolve_site
from yingshe.ops._shapes import shape_str

__all__ = ["to_mermaid", "to_dot", "to_png", "STYLES"]

# class -> (fill, stroke)
STYLES = {
    "feed": ("#e8f0fe", "#1a73e8"),
    "var": ("#fef7e0", "#f9ab00"),
    "const": ("#f1f3f4", "#9aa0a6"),
    "fwd": ("#e6f4ea", "#188038"),
    "grad": ("#fce8e6", "#d93025"),
    "update": ("#f3e8fd", "#9334e6"),
}

_SHOWN_ATTRS = ("dim", "dim0", "dim1", "keepdim", "reduction")
_GRAD_SCOPE = re.compile(r"^gradients(_\d+)?/")


class _Drawing:
    """What both emitters draw: boxes (id, class, label lines), edges, outlined ids."""

    def __init__(self) -> None:
        self.boxes: list[tuple[str, str, list[str]]] = []
        self.edges: list[tuple[str, str, bool]] = []   # (src, dst, control)
        self.outlined: list[str] = []

    def box(self, cls: str, lines: list[str]) -> str:
        bid = f"n{len(self.boxes)}"
        self.boxes.append((bid, cls, [ln for ln in lines if ln]))
        return bid


# ---- labels -------------------------------------------------------------------------------

def _site(site, sites: bool) -> str:
    if not sites or not site:
        return ""
    filename, line = resolve_site(site)  # a tape node's site is resolved only here
    return f"{os.path.basename(str(filename))}:{line}"


def _metas_text(metas, dtypes: bool) -> str:
    parts = []
    for m in metas:
        if m is None:
            parts.append("?")
        elif dtypes and getattr(m, "dtype", None) is not None:
            parts.append(f"{shape_str(m.shape)} {m.dtype.name}")
        else:
            parts.append(shape_str(m.shape))
    return " ".join(parts)


def _op_lines(opname: str, attrs: dict, metas, site, dtypes: bool, sites: bool) -> list[str]:
    shown = ", ".join(f"{k}={v}" for k, v in attrs.items() if k in _SHOWN_ATTRS)
    return [f"{opname}({shown})" if shown else opname, _metas_text(metas, dtypes),
            _site(site, sites)]


def is_gradient_node(node) -> bool:
    """Made by ``gradients()`` (flagged at build time, or named under its scope)."""
    return bool(getattr(node, "grad", False)) or bool(_GRAD_SCOPE.match(node.name or ""))


# ---- graphs -------------------------------------------------------------------------------

def _graph_box(n, dtypes: bool, sites: bool) -> tuple[str, list[str]]:
    shapes = _metas_text(n.metas, dtypes)
    site = _site(n.site, sites)
    var_name = getattr(n.var, "name", None) if n.var is not None else None
    if n.kind == "placeholder":
        return "feed", [n.name, f"placeholder {shapes}", site]
    if n.kind == "read":
        return "var", [var_name or n.name, f"Variable {shapes}", site]
    if n.kind == "constant":
        value = n.value
        text = f"{value.item():.4g}" if value is not None and value.size == 1 else "array"
        return ("grad" if is_gradient_node(n) else "const"), [f"const {text} {shapes}", site]
    if n.kind in ("assign", "init", "no_op"):
        what = {"assign": f"assign_{n.attrs.get('mode', 'set')} {var_name or ''}",
                "init": "init", "no_op": "group"}[n.kind]
        return "update", [f"{what} {shapes}".strip(), site]
    # a stateful op (a fused optimizer update) is drawn with the writes it feeds
    cls = "update" if n.stateful else "grad" if is_gradient_node(n) else "fwd"
    return cls, _op_lines(n.type, n.attrs, n.metas, n.site, dtypes, sites)


def _graph_nodes(obj):
    """(nodes in creation order, fetched) for a graph-like object, or None."""
    from yingshe.graph.ir import Graph, Node, Symbol
    from yingshe.graph.passes import Program
    if isinstance(obj, Program):
        return list(obj.nodes), list(obj.fetches)
    if isinstance(obj, Graph):
        return list(obj.nodes), []
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    if not items:
        return [], []
    if not all(isinstance(x, (Node, Symbol)) for x in items):
        return None
    if all(isinstance(x, Node) for x in items) and not isinstance(obj, Node):
        return items, []   # an explicit node list (a Program's or a Graph's nodes)
    seen: dict[int, Node] = {}
    stack = [x if isinstance(x, Node) else x._gnode for x in items]
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen[n.id] = n
        stack.extend(n.deps())
    return sorted(seen.values(), key=lambda n: n.id), items


def _update_ops(nodes, classes: dict[int, str]) -> set[int]:
    """The forward-classed ops whose every reader is an update (an assign, or another such
    op): they only compute new values of Variables, so they are drawn as updates."""
    from yingshe.graph.ir import Symbol
    readers: dict[int, list] = {}
    for n in nodes:
        for x in n.inputs:
            if isinstance(x, Symbol):
                readers.setdefault(id(x._gnode), []).append(n)
        for c in getattr(n, "control", ()):
            readers.setdefault(id(c), []).append(n)
    update: set[int] = set()
    for n in reversed(nodes):      # readers come after what they read
        rs = readers.get(id(n), [])
        if classes[id(n)] == "fwd" and rs and all(
                classes[id(r)] == "update" or id(r) in update for r in rs):
            update.add(id(n))
    return update


def _draw_graph(nodes, fetches, dtypes, sites) -> _Drawing:
    from yingshe.graph.ir import Symbol
    d = _Drawing()
    ids: dict[int, str] = {}
    drawn = [(n, *_graph_box(n, dtypes, sites)) for n in nodes]
    classes = {id(n): cls for n, cls, _ in drawn}
    updates = _update_ops(nodes, classes)
    for n, cls, lines in drawn:
        ids[id(n)] = d.box("update" if id(n) in updates else cls, lines)
    for n in nodes:
        for x in n.inputs:
            if isinstance(x, Symbol) and id(x._gnode) in ids:
                d.edges.append((ids[id(x._gnode)], ids[id(n)], False))
        for c in getattr(n, "control", ()):
            if id(c) in ids:
                d.edges.append((ids[id(c)], ids[id(n)], True))
    fetched = {id(f._gnode) if isinstance(f, Symbol) else id(f) for f in fetches}
    d.outlined = [ids[id(n)] for n in nodes if id(n) in fetched]
    return d


# ---- eager tapes --------------------------------------------------------------------------

def _leaf_names(names) -> dict[int, str]:
    if names is None:
        return {}
    if hasattr(names, "named_parameters"):   # an nn.Module
        pairs = list(names.named_parameters())
        if hasattr(names, "named_buffers"):
            pairs += list(names.named_buffers())
    elif isinstance(names, dict):
        pairs = list(names.items())
    else:
        raise TypeError(f"names: expected a dict of name -> tensor or an nn.Module, got "
                        f"{type(names).__name__}")
    return {id(t): str(k) for k, t in pairs}


def _meta_of(x):
    from yingshe._tensor import Tensor
    from yingshe.ops._shapes import Meta
    if isinstance(x, Tensor):
        return Meta(tuple(x.shape), x.dtype)
    if isinstance(x, Meta):
        return x
    return None


def _draw_tape(roots, names, dtypes, sites) -> _Drawing:
    from yingshe._tensor import Tensor
    named = _leaf_names(names)
    # 1. the tape nodes reachable from the roots (what backward() walks)
    tape: dict[int, object] = {}
    stack = [t._node for t in roots if t._node is not None]
    while stack:
        node = stack.pop()
        if id(node) in tape:
            continue
        tape[id(node)] = node
        stack.extend(e[0] for e in node.edges if isinstance(e, tuple))
    order = sorted(tape.values(), key=lambda n: n.seq)
    # 2. each node's output metas: as its consumers saw them (or the root), else inferred
    outs: dict[tuple[int, int], object] = {}
    for t in roots:
        if t._node is not None:
            outs[(id(t._node), t._out_index)] = _meta_of(t)
    for node in order:
        inputs = node.inputs or ()
        for e, x in zip(node.edges, inputs):
            if isinstance(e, tuple) and _meta_of(x) is not None:
                outs.setdefault((id(e[0]), e[1]), _meta_of(x))

    def metas(node):
        n_out = max([getattr(node.op, "num_outputs", 1) - getattr(node.op, "hidden", 0), 1])
        known = [outs.get((id(node), i)) for i in range(n_out)]
        infer = getattr(node.op, "infer", None)
        if any(m is None for m in known) and node.inputs is not None and infer is not None:
            try:
                args = [x if _meta_of(x) is None else _meta_of(x) for x in node.inputs]
                inferred = infer(*args, **node.attrs)
                inferred = inferred if isinstance(inferred, tuple) else (inferred,)
                known = [k if k is not None else (inferred[i] if i < len(inferred) else None)
                         for i, k in enumerate(known)]
            except Exception:  # noqa: BLE001 - a drawing never fails on a shape rule
                pass
        while len(known) > 1 and known[-1] is None:
            known.pop()
        return known

    # 3. boxes: each op after the leaves it reads, in creation order
    d = _Drawing()
    ids: dict[int, str] = {}

    def leaf(t, requires: bool) -> str:
        if id(t) not in ids:
            name = named.get(id(t)) or getattr(t, "name", None)
            name = name if isinstance(name, str) else None
            kind = "requires_grad" if requires else "tensor"
            ids[id(t)] = d.box("var" if requires else "feed",
                               [name, f"{kind} {_metas_text([_meta_of(t)], dtypes)}"])
        return ids[id(t)]

    for node in order:
        srcs = []
        inputs = node.inputs if node.inputs is not None else (None,) * len(node.edges)
        for e, x in zip(node.edges, inputs):
            if isinstance(e, tuple):
                srcs.append(("node", e[0]))
            elif isinstance(e, Tensor):
                srcs.append(("id", leaf(e, True)))
            elif isinstance(x, Tensor):             # saved, needs no gradient
                srcs.append(("id", leaf(x, False)))
            elif _meta_of(x) is not None:           # not saved: only its meta is known
                srcs.append(("id", d.box("feed", [f"tensor {_metas_text([x], dtypes)}"])))
        ids[id(node)] = d.box("fwd", _op_lines(node.op.name, node.attrs, metas(node),
                                               node.site, dtypes, sites))
        for kind, s in srcs:
            d.edges.append((ids[id(s)] if kind == "node" else s, ids[id(node)], False))
    for t in roots:
        bid = ids[id(t._node)] if t._node is not None else leaf(t, t.requires_grad)
        if bid not in d.outlined:
            d.outlined.append(bid)
    return d


# ---- dispatch -----------------------------------------------------------------------------

def _drawing(obj, fetches, names, dtypes, sites) -> _Drawing:
    from yingshe._tensor import Tensor
    got = _graph_nodes(obj)
    if got is not None:
        nodes, fetched = got
        return _draw_graph(nodes, fetched if fetches is None else list(fetches), dtypes, sites)
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    if items and all(isinstance(t, Tensor) for t in items):
        return _draw_tape(items, names, dtypes, sites)
    raise TypeError(
        "to_mermaid/to_dot: expected a graph Symbol (or a list of them), a Graph, a "
        "compiled Program, a list of graph Nodes, or an eager Tensor (or a list of them); "
        f"got {type(obj).__name__}")


# ---- Mermaid ------------------------------------------------------------------------------

def mermaid_escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label (entity codes for the special characters)."""
    text = str(text).replace("#", "#35;").replace("&", "#amp;")
    return (text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("`", "#96;").replace("\n", " "))


def to_mermaid(obj, *, fetches=None, names=None, title: str | None = None,
               direction: str = "TB", dtypes: bool = True, sites: bool = True) -> str:
    """A Mermaid flowchart of a graph or an eager tape (see the module docstring).

    ``fetches``: values to outline (default: the symbols drawn from, a Program's
    fetches). ``names``: names for eager leaves (a dict ``name -> tensor`` or an
    ``nn.Module``, whose parameter names are used). ``dtypes``/``sites``: show output
    dtypes and creation lines.
    """
    d = _drawing(obj, fetches, names, dtypes, sites)
    lines = [f"flowchart {direction}"]
    if title:
        lines.insert(0, f'---\ntitle: "{mermaid_escape(title)}"\n---')
    for bid, cls, label in d.boxes:
        text = "<br/>".join(mermaid_escape(part) for part in label)
        lines.append(f'    {bid}["{text}"]:::{cls}')
    for src, dst, control in d.edges:
        lines.append(f"    {src} {'-.->' if control else '-->'} {dst}")
    lines += [f"    classDef {cls} fill:{fill},stroke:{stroke}"
              for cls, (fill, stroke) in STYLES.items()]
    lines += [f"    style {bid} stroke-width:3px" for bid in d.outlined]
    return "\n".join(lines)


# ---- Graphviz DOT -------------------------------------------------------------------------

def dot_escape(text: str) -> str:
    """Text safe inside a double-quoted DOT string (backslashes and quotes escaped)."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(obj, *, fetches=None, names=None, title: str | None = None,
           direction: str = "TB", dtypes: bool = True, sites: bool = True) -> str:
    """A Graphviz ``digraph`` of a graph or an eager tape; same arguments as
    ``to_mermaid``. Render with ``dot -Tsvg``."""
    d = _drawing(obj, fetches, names, dtypes, sites)
    lines = ["digraph yingshe {", f"    rankdir={direction};"]
    if title:
        lines += [f'    label="{dot_escape(title)}";', "    labelloc=t;"]
    lines.append('    node [shape=box, style="rounded,filled", fontname="Helvetica", '
                 'fontsize=10];')
    outlined = set(d.outlined)
    for bid, cls, label in d.boxes:
        fill, stroke = STYLES[cls]
        text = "\\n".join(dot_escape(part) for part in label)
        extra = ", penwidth=3" if bid in outlined else ""
        lines.append(f'    {bid} [label="{text}", fillcolor="{fill}", color="{stroke}", '
                     f'class="{cls}"{extra}];')
    for src, dst, control in d.edges:
        lines.append(f"    {src} -> {dst}{' [style=dashed]' if control else ''};")
    lines.append("}")
    return "\n".join(lines)


# ---- a picture, offline (matplotlib) --------------------------------------------------------

def _layers(d: _Drawing) -> dict[str, int]:
    """Each box's row: the longest path from a source (boxes arrive in a topological
    order: creation order for graphs, the walk's order for tapes, see the drawers)."""
    preds: dict[str, list[str]] = {bid: [] for bid, _, _ in d.boxes}
    for src, dst, _ in d.edges:
        preds[dst].append(src)
    level: dict[str, int] = {}

    def depth(b: str) -> int:   # iterative longest path (graphs may be deep)
        stack = [b]
        while stack:
            top = stack[-1]
            todo = [p for p in preds[top] if p not in level]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            level[top] = 1 + max((level[p] for p in preds[top]), default=-1)
        return level[b]
    for bid, _, _ in d.boxes:
        depth(bid)
    return level


# box and routing geometry of the picture, in row units (a row is 1 high, a box slot 1 wide)
_BOX_W, _BOX_H = 0.86, 0.56
_LANE_W = 0.12          # the width a long edge takes where it passes through a row
_GAP = 0.14             # the least space between neighbours in a row


class _Layout:
    """Where ``to_png`` puts each box (``pos``: centre) and how each edge runs
    (``routes``: one polyline per edge of ``d.edges``, from the bottom of its source box
    to the top of its destination box)."""

    def __init__(self, pos: dict[str, tuple[float, float]], routes: list[list[tuple]]):
        self.pos, self.routes = pos, routes


def _layout(d: _Drawing) -> _Layout:
    """A layered drawing (Sugiyama's scheme): rows by depth, an input just above its first
    reader; an edge longer than one row passes each row in between through a lane of its
    own, so it never runs through a box; rows are ordered by the barycentre of their
    neighbours to cut crossings, then spread so each box sits near what it connects to."""
    level = dict(_layers(d))
    succs: dict[str, list[str]] = {bid: [] for bid, _, _ in d.boxes}
    preds: dict[str, list[str]] = {bid: [] for bid, _, _ in d.boxes}
    for src, dst, _ in d.edges:
        succs[src].append(dst)
        preds[dst].append(src)
    for bid, _, _ in d.boxes:           # sources sit just above their first reader
        if not preds[bid] and succs[bid]:
            level[bid] = min(level[s] for s in succs[bid]) - 1
    width: dict[str, float] = {bid: _BOX_W for bid, _, _ in d.boxes}
    rows: dict[int, list[str]] = {}
    for bid, _, _ in d.boxes:
        rows.setdefault(level[bid], []).append(bid)
    up: dict[str, list[str]] = {bid: [] for bid in width}      # neighbours one row up
    down: dict[str, list[str]] = {bid: [] for bid in width}    # and one row down
    chains = []
    for k, (src, dst, _) in enumerate(d.edges):
        chain = [src]
        for lv in range(level[src] + 1, level[dst]):
            lane = f"lane{k}.{lv}"
            width[lane], level[lane] = _LANE_W, lv
            up[lane], down[lane] = [], []
            rows.setdefault(lv, []).append(lane)
            chain.append(lane)
        chain.append(dst)
        for a, b in zip(chain, chain[1:]):
            down[a].append(b)
            up[b].append(a)
        chains.append(chain)
    top = min(rows)
    order = [rows[lv] for lv in sorted(rows)]
    _order_rows(order, up, down)
    lanes_of = {lane: chain[1:-1] for chain in chains for lane in chain[1:-1]}
    xs = _spread(order, width, up, down, lanes_of)
    _straighten(chains, order, width, xs)
    pos = {v: (xs[v], float(top - level[v])) for v in xs}
    routes = []
    for chain in chains:
        pts = [(pos[chain[0]][0], pos[chain[0]][1] - _BOX_H / 2)]
        for lane in chain[1:-1]:
            x, y = pos[lane]
            pts += [(x, y + _BOX_H / 2), (x, y - _BOX_H / 2)]
        pts.append((pos[chain[-1]][0], pos[chain[-1]][1] + _BOX_H / 2))
        routes.append(pts)
    _fan_out(d, routes, pos)
    return _Layout({bid: pos[bid] for bid, _, _ in d.boxes}, routes)


def _crossings(order: list[list[str]], down: dict[str, list[str]]) -> int:
    total = 0
    for row, below in zip(order, order[1:]):
        at = {v: i for i, v in enumerate(below)}
        segs = [(i, at[w]) for i, v in enumerate(row) for w in down[v]]
        total += sum(1 for j, (a, b) in enumerate(segs) for c, e in segs[j + 1:]
                     if (a - c) * (b - e) < 0)
    return total


def _order_rows(order: list[list[str]], up, down, sweeps: int = 8) -> None:
    """Barycentre ordering, down and up the rows, keeping the order with fewest
    crossings (rows are reordered in place)."""
    def sort_by(row, neighbours, ref):
        at = {v: i for i, v in enumerate(ref)}
        keys = {}
        for i, v in enumerate(row):
            ns = [at[n] for n in neighbours[v] if n in at]
            keys[v] = sum(ns) / len(ns) if ns else i
        row.sort(key=lambda v: keys[v])   # stable: ties keep creation order

    best, best_n = [list(r) for r in order], _crossings(order, down)
    for _ in range(sweeps):
        for i in range(1, len(order)):
            sort_by(order[i], up, order[i - 1])
        for i in range(len(order) - 2, -1, -1):
            sort_by(order[i], down, order[i + 1])
        n = _crossings(order, down)
        if n < best_n:
            best, best_n = [list(r) for r in order], n
        if best_n == 0:
            break
    order[:] = best


def _spread(order: list[list[str]], width, up, down, lanes_of: dict[str, list[str]],
            rounds: int = 40) -> dict[str, float]:
    """x of every box and lane: a box wants the mean x of its neighbours, a lane the mean
    x of its edge's lanes and ends (so the edge runs straight); a row keeps its order and
    the least spacing, shifted to sit where its members want to be."""
    def sep(a, b):
        return (width[a] + width[b]) / 2 + _GAP

    xs: dict[str, float] = {}
    for row in order:                          # start packed and centred
        x = 0.0
        for i, v in enumerate(row):
            x = x + sep(row[i - 1], v) if i else 0.0
            xs[v] = x
        shift = (xs[row[0]] + xs[row[-1]]) / 2
        for v in row:
            xs[v] -= shift
    for r in range(rounds):
        for row in (order if r % 2 == 0 else order[::-1]):
            want = []
            for v in row:
                ns = up[v] + down[v]
                if v in lanes_of:
                    chain = lanes_of[v]
                    ns = chain + [up[chain[0]][0], down[chain[-1]][0]]
                want.append(sum(xs[n] for n in ns) / len(ns) if ns else xs[v])
            placed = list(want)
            for i in range(1, len(row)):       # keep order and spacing, left to right ...
                placed[i] = max(placed[i], placed[i - 1] + sep(row[i - 1], row[i]))
            for i in range(len(row) - 2, -1, -1):   # ... and right to left
                placed[i] = min(placed[i], placed[i + 1] - sep(row[i], row[i + 1]))
            for i in range(1, len(row)):
                placed[i] = max(placed[i], placed[i - 1] + sep(row[i - 1], row[i]))
            offset = sum(w - p for w, p in zip(want, placed)) / len(row)
            for v, p in zip(row, placed):
                xs[v] = p + offset
    return xs


def _straighten(chains: list[list[str]], order: list[list[str]], width,
                xs: dict[str, float]) -> None:
    """Run each long edge's lanes down one vertical line where the rows leave room (the
    first of a few candidate x that fits every row it passes), so it does not zigzag."""
    where = {v: (r, i) for r, row in enumerate(order) for i, v in enumerate(row)}

    def fits(v, x):
        r, i = where[v]
        row = order[r]
        left = row[i - 1] if i else None
        right = row[i + 1] if i + 1 < len(row) else None
        return ((left is None or x - xs[left] >= (width[left] + width[v]) / 2 + _GAP)
                and (right is None or xs[right] - x >= (width[right] + width[v]) / 2 + _GAP))

    for chain in chains:
        lanes = chain[1:-1]
        if len(lanes) < 2:
            continue
        lane_xs = sorted(xs[v] for v in lanes)
        mid = lane_xs[len(lane_xs) // 2]
        for x in sorted(lane_xs + [sum(lane_xs) / len(lane_xs)], key=lambda x: abs(x - mid)):
            if all(fits(v, x) for v in lanes):
                for v in lanes:
                    xs[v] = x
                break


def _fan_out(d: _Drawing, routes: list[list[tuple]], pos) -> None:
    """Spread the ends of the edges that meet at one box along its edge (ordered by where
    they come from), so several inputs of one op stay apart."""
    ins: dict[str, list[int]] = {}
    outs: dict[str, list[int]] = {}
    for k, (src, dst, _) in enumerate(d.edges):
        outs.setdefault(src, []).append(k)
        ins.setdefault(dst, []).append(k)
    for ends, at, near in ((ins, -1, -2), (outs, 0, 1)):
        for bid, ks in ends.items():
            if len(ks) < 2:
                continue
            ks.sort(key=lambda k: routes[k][near][0])
            span = _BOX_W * 0.6
            for i, k in enumerate(ks):
                x, y = routes[k][at]
                routes[k][at] = (pos[bid][0] - span / 2 + span * i / (len(ks) - 1), y)


def to_png(obj, path: str, *, fetches=None, names=None, title: str | None = None,
           dtypes: bool = False, sites: bool = False, dpi: int = 110) -> str:
    """Draw a graph or an eager tape to a PNG with matplotlib (no browser, no Graphviz,
    no network): rows by depth, boxes coloured as in ``to_mermaid`` (inputs blue,
    Variables yellow, constants grey, forward green, gradient red, updates purple),
    fetched values outlined, control edges dashed; an edge that spans several rows runs
    in a lane of its own, never through a box. Needs matplotlib (the ``plot`` extra).
    Returns ``path``.

    Example::

        G.to_png([loss, dW, db], "step.png", title="one training step")
    """
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    d = _drawing(obj, fetches, names, dtypes, sites)
    lay = _layout(d)
    pts = list(lay.pos.values()) + [p for r in lay.routes for p in r]
    x_lo = min(p[0] for p in pts) - 0.55
    x_hi = max(p[0] for p in pts) + 0.55
    y_lo = min(p[1] for p in lay.pos.values()) - 0.45
    n_rows = round(-y_lo) + 1 if lay.pos else 1
    fig_w = max(6.0, 2.3 * (x_hi - x_lo))
    fig_h = max(3.0, 1.05 * n_rows + (0.5 if title else 0.2))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    for route, (_, _, control) in zip(lay.routes, d.edges):
        line = "--" if control else "-"
        if len(route) > 2:
            xs, ys = zip(*route[:-1])
            ax.plot(xs, ys, color="#5f6368", lw=0.8, ls=line, zorder=1)
        ax.annotate("", xy=route[-1], xytext=route[-2],
                    arrowprops=dict(arrowstyle="-|>", color="#5f6368", lw=0.8,
                                    linestyle=line, shrinkA=0, shrinkB=0), zorder=1)
    outlined = set(d.outlined)
    for bid, cls, label in d.boxes:
        x, y = lay.pos[bid]
        fill, stroke = STYLES[cls]
        ax.add_patch(FancyBboxPatch((x - _BOX_W / 2, y - _BOX_H / 2), _BOX_W, _BOX_H,
                                    boxstyle="round,pad=0.02,rounding_size=0.06",
                                    facecolor=fill, edgecolor=stroke,
                                    linewidth=2.4 if bid in outlined else 1.0, zorder=2))
        ax.text(x, y, "\n".join(label[:3]), ha="center", va="center", fontsize=7,
                zorder=3, wrap=False)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, 0.55)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
