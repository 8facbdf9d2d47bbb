"""Fusion: groups of elementwise ops, with the reductions that consume them, become one node.

A *fusion group* is a connected set of elementwise op nodes of one iteration shape (ops
with a scalar formula, ``OpDef.scalar``: ``add``, ``exp``, ``where``, ``threshold_backward``
...; casts between float dtypes) plus the ``sum``/``mean`` reductions of their values. The
pass replaces each group by one ``fused`` node whose inputs are the group's external
inputs and whose outputs are the values used outside it (and the reductions); the numba
code generator (``codegen/numba.py``) compiles each one into a single loop, where NumPy
would make one pass over memory and one temporary per op. GEMMs, convolutions,
data-dependent and stateful ops stay library calls between the groups. NumPy's code
generator never sees a fused node (the pass runs for the numba backend only); the
fused op's ``forward`` runs the members one by one with NumPy, so the interpreter can
still execute a fused program (the oracle of the kernels).

Legality. A group must be convex: no path leaves it and re-enters it (it may not
consume, through a node outside it, a value it produces), nor may it consume a reduction
of its own inside the loop. The check reads ancestor bitsets of the *condensed* graph,
updated at every merge (whatever reaches one member of a group reaches all of it): on
the original graph two groups can each be convex and still depend on each other, which
the second derivative of cross-entropy with probability targets did. Reads, assigns, stateful and random ops keep their program order: they
are chained, so the order below respects it. The program is re-emitted in a topological
order of the condensed graph that follows the original positions (a group sits where its
last member was, or later).

Two more ways into a group: a reduced pointwise loss (``mse_loss``, the logistic loss:
``SPLIT_REDUCTION``) is first split into its pointwise form and a ``mean``/``sum``, and
groups of one small iteration shape that read a common input are merged (siblings: a
loss and its gradient read the same prediction and target), so a linear model's loss,
its gradient and the bias gradient's sum are one kernel.

Only groups worth a kernel are kept: two or more elementwise ops, an elementwise op and a
reduction, or one op whose forward is more than one NumPy call (``sigmoid``, ``elu``,
fused optimizer updates...). Shapes must be fully known (compiled programs always are).
"""

from __future__ import annotations

import heapq

from yingshe import _dtype
from yingshe.graph.ir import Node, Symbol
from yingshe.graph.passes import Program, key_of, rewrite
from yingshe.ops._registry import OpDef
from yingshe.ops._shapes import Meta

__all__ = ["fuse", "FUSED", "FusionGroup", "REDUCTIONS"]

REDUCTIONS = ("sum", "mean")
_FLOATS = (_dtype.float32, _dtype.float64)
_KINDS = _FLOATS + (_dtype.bool,)


class FusionGroup:
    """One fused kernel's recipe.

    ``members``: the member nodes in a valid order (elementwise ops, then reductions
    wherever their input is ready); ``refs[j]``: for each input of member ``j``,
    ``("in", k)`` (external input ``k``), ``("v", m, i)`` (output ``i`` of member ``m``)
    or ``("lit", value)``; ``inputs``: the external inputs (symbols) in kernel order;
    ``outputs``: ``(m, i)`` per fused output; ``shape``: the iteration shape."""

    __slots__ = ("members", "refs", "inputs", "outputs", "shape", "metas")

    def __init__(self, members, refs, inputs, outputs, shape, metas) -> None:
        self.members = tuple(members)
        self.refs = tuple(refs)
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.shape = tuple(shape)
        self.metas = tuple(metas)

    def __repr__(self) -> str:
        ops = " ".join(m.op.name for m in self.members)
        return f"<fusion group {self.shape}: {ops}>"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other


def _fused_forward(xp, *inputs, group):
    """Run the group member by member with NumPy (the interpreter's path)."""
    vals: list = []
    for node, refs in zip(group.members, group.refs):
        args = []
        for r in refs:
            if r[0] == "in":
                args.append(inputs[r[1]])
            elif r[0] == "v":
                v = vals[r[1]]
                args.append(v[r[2]] if isinstance(v, tuple) else v)
            else:
                args.append(r[1])
        vals.append(node.op.forward(xp, *args, **node.attrs))
    outs = tuple(vals[m][i] if isinstance(vals[m], tuple) else vals[m]
                 for m, i in group.outputs)
    return outs if len(outs) > 1 else outs[0]


def _fused_infer(*inputs, group):
    outs = group.metas
    return outs if len(outs) > 1 else outs[0]


def _n_outputs(group) -> int:
    return len(group.outputs)


# Not registered (it is no user op): made only by this pass.
FUSED = OpDef("fused", _fused_forward, _fused_infer, None, saves="none",
              num_outputs=_n_outputs, doc="A fusion group (see yingshe.graph.passes.fuse).")


# ---- which nodes may join a group ------------------------------------------------------------

def _known(shape) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


def _literal_attr(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def elementwise(node: Node) -> bool:
    """An op node the fused kernels can compute per element."""
    if node.kind != "op" or node.op is FUSED:
        return False
    op = node.op
    if op.stateful or op.random or (op.scalar is None and op.name != "cast"):
        return False
    if not node.metas or any(not _known(m.shape) or m.dtype not in _KINDS for m in node.metas):
        return False
    shape = tuple(node.metas[0].shape)
    if any(tuple(m.shape) != shape for m in node.metas):
        return False
    for x in node.inputs:
        if isinstance(x, Symbol):
            if not _known(x.shape) or x.dtype not in _KINDS or len(x.shape) > len(shape):
                return False
            if any(d != 1 and d != s for d, s in zip(reversed(x.shape), reversed(shape))):
                return False
        elif isinstance(x, bool) or not isinstance(x, (int, float)):
            return False
    if op.name == "cast":
        return node.attrs["dtype"] in _KINDS and node.inputs[0].dtype in _FLOATS
    return all(_literal_attr(v) for v in node.attrs.values())


def _reduction(node: Node) -> bool:
    if node.kind != "op" or node.op.name not in REDUCTIONS:
        return False
    x = node.inputs[0]
    if not isinstance(x, Symbol) or x.dtype not in _FLOATS or not _known(x.shape):
        return False
    if node.metas[0].dtype is not x.dtype:
        return False
    return node.attrs.get("dtype") is None or node.attrs["dtype"] is x.dtype


def _ordered(node: Node) -> bool:
    """Nodes whose relative order is part of the program's meaning."""
    return node.kind in ("read", "assign", "init", "no_op") or node.stateful or node.random


def _lone_reduction(node: Node) -> bool:
    """A partial sum/mean (some dims kept) of a small array that no elementwise group
    computes (a library call's result: a linear layer's bias gradient sums the loss
    gradient over the batch). NumPy reduces a non-last axis with a strided loop per kept
    element: 8.6 us for (256, 10) summed over the batch, against ~1 us in one pass.
    Full reductions stay NumPy's (contiguous pairwise sums), and so do large arrays,
    whose partial reductions could not use threads in a kernel."""
    from yingshe.graph.codegen.numba import PARALLEL_MIN
    x = node.inputs[0]
    dims = node.attrs.get("dim")
    if not dims or len(dims) >= len(x.shape):
        return False
    size = 1
    for d in x.shape:
        size *= d
    return size < PARALLEL_MIN


def _worth_a_kernel(members: list[Node]) -> bool:
    from yingshe.ops.elementwise import UFUNCS
    ew = [m for m in members if m.op.name not in REDUCTIONS]
    if len(members) >= 2 and ew:
        return True
    if not ew:
        return len(members) == 1 and _lone_reduction(members[0])
    return len(ew) == 1 and ew[0].op.name not in UFUNCS and ew[0].op.name != "cast"


# ---- reduced pointwise losses ----------------------------------------------------------------

# Ops whose ``reduction`` attribute ('none' | 'mean' | 'sum') reduces a pointwise value
# inside the op, and whose 'none' form has a scalar formula: mse_loss, the logistic loss.
# Reduced, the op is one library call of the loss; split into its pointwise form and a
# sum/mean, both join the fusion group around them (one kernel with the loss gradient's).
SPLIT_REDUCTION = ("mse_loss", "binary_cross_entropy_with_logits")


def _split_reduced_loss(node: Node, inputs):
    """``loss(x, t, reduction='mean'|'sum')`` -> ``mean|sum(loss(x, t, reduction='none'))``
    over every dim, when its inputs are arrays of one known float dtype (a pointwise
    loss with optional weights given as None keeps its library call)."""
    if node.op.name not in SPLIT_REDUCTION or node.op.scalar is None:
        return None
    how = node.attrs.get("reduction")
    if how not in ("mean", "sum") or len(node.attrs) != 1:
        return None
    k = next((i for i, x in enumerate(inputs) if x is None), len(inputs))
    if any(x is not None for x in inputs[k:]):
        return None     # an absent input before a present one (pos_weight without weight)
    xs = inputs[:k]                       # the scalar formula's defaults stand for the rest
    if not xs or not all(isinstance(x, Symbol) and _known(x.shape) and x.dtype in _FLOATS
                         and x.dtype is node.metas[0].dtype for x in xs):
        return None
    shape: tuple = ()
    for x in xs:                          # the pointwise loss's (broadcast) shape
        a, b = tuple(x.shape), shape
        n = max(len(a), len(b))
        a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
        if any(p != q and 1 not in (p, q) for p, q in zip(a, b)):
            return None
        shape = tuple(q if p == 1 else p for p, q in zip(a, b))
    from yingshe.ops._registry import REGISTRY
    dtype = node.metas[0].dtype
    kw = dict(name=node.name, site=node.site, graph=node.graph, grad=node.grad)
    point = Node("op", node.op, tuple(xs), {"reduction": "none"}, (Meta(shape, dtype),), **kw)
    dims = tuple(range(len(shape)))
    attrs = {"dim": dims, "keepdim": False}
    if how == "sum":
        attrs["dtype"] = None
    red = Node("op", REGISTRY[how], (point.outputs[0],), attrs, (Meta((), dtype),), **kw)
    return [point, red], red.outputs


# ---- the pass ---------------------------------------------------------------------------------

def fuse(program: Program) -> Program:
    """Replace fusion groups by ``fused`` nodes (see the module docstring)."""
    program = rewrite(program, _split_reduced_loss)
    nodes = program.nodes
    n = len(nodes)
    index = {nd.id: i for i, nd in enumerate(nodes)}
    preds: list[list[int]] = []
    anc = [0] * n
    last_ordered = None
    for i, nd in enumerate(nodes):
        ps = [index[x._gnode.id] for x in nd.inputs
              if isinstance(x, Symbol) and x._gnode.id in index]
        ps += [index[c.id] for c in nd.control if c.id in index]
        if _ordered(nd):
            if last_ordered is not None:
                ps.append(last_ordered)
            last_ordered = i
        preds.append(ps)
        a = 0
        for p in ps:
            a |= anc[p] | (1 << p)
        anc[i] = a
    is_ew = [elementwise(nd) for nd in nodes]
    is_red = [False] * n
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    members: dict[int, list[int]] = {}

    def legal(ms: list[int]) -> bool:
        mask = 0
        for m in ms:
            mask |= 1 << m
        for m in ms:
            for p in preds[m]:
                if mask >> p & 1:
                    if is_red[p]:
                        return False
                elif anc[p] & mask:
                    return False
        return True

    def merge(i: int, g: int) -> bool:
        ri, rg = find(i), find(g)
        if ri == rg:
            return True
        ms = members.get(ri, [ri]) + members.get(rg, [rg])
        if not legal(ms):
            return False
        parent[rg] = ri
        members[ri] = ms
        members.pop(rg, None)
        # ``anc`` stays the ancestry of the condensed graph: the merged group is one
        # unit, so whatever reaches one member reaches them all, and whatever one member
        # reaches is reached from every ancestor of the group. Without this, two groups
        # that are each convex on the original graph can depend on each other (a -> b'
        # and b -> a' with a, a' in one group and b, b' in the other).
        mask = 0
        up = 0
        for m in ms:
            mask |= 1 << m
            up |= anc[m]
        up &= ~mask
        for m in ms:
            anc[m] = up
        up |= mask
        for k in range(n):
            if anc[k] & mask and not mask >> k & 1:
                anc[k] |= up
        return True

    for i, nd in enumerate(nodes):
        if is_ew[i]:
            shape = tuple(nd.metas[0].shape)
            members[i] = [i]
            for x in nd.inputs:
                if not isinstance(x, Symbol) or x._gnode.id not in index:
                    continue
                p = index[x._gnode.id]
                if is_ew[p] and tuple(nodes[p].metas[0].shape) == shape:
                    merge(i, p)
        elif _reduction(nd):
            p = index.get(nd.inputs[0]._gnode.id)
            if p is not None and is_ew[p]:
                is_red[i] = True
                members[i] = [i]
                if not merge(p, i):
                    is_red[i] = False
                    members.pop(i, None)
            if i not in members and _lone_reduction(nd):
                is_red[i] = True
                members[i] = [i]
    _merge_siblings(nodes, index, is_ew, members, find, merge)
    groups = {}
    for root, ms in members.items():
        if find(root) != root:
            continue
        ms = sorted(ms)
        if _worth_a_kernel([nodes[m] for m in ms]):
            groups[root] = ms
    if not groups:
        return program
    group_of = {m: root for root, ms in groups.items() for m in ms}
    return _emit(program, nodes, index, preds, groups, group_of)


def _merge_siblings(nodes, index, is_ew, members, find, merge) -> None:
    """Merge groups of one iteration shape that read a common input (a loss and its
    gradient both read the prediction and the target): one loop, one read of the shared
    arrays and one kernel call instead of two. Only below ``PARALLEL_MIN`` elements,
    where the call dominates: a bigger merged loop with a partial reduction would lose
    its threads (see codegen/numba.py). ``merge`` keeps every group convex (groups with a
    path between them through other nodes stay apart)."""
    from yingshe.graph.codegen.numba import PARALLEL_MIN
    readers: dict[tuple, list[int]] = {}
    for root in list(members):
        if find(root) != root:
            continue
        for m in members[root]:
            if not is_ew[m]:
                continue
            shape = tuple(nodes[m].metas[0].shape)
            size = 1
            for d in shape:
                size *= d
            if size >= PARALLEL_MIN:
                break
            for x in nodes[m].inputs:
                if isinstance(x, Symbol) and len(x.shape) > 0:
                    p = index.get(x._gnode.id)
                    if p is None or find(p) != root:
                        rs = readers.setdefault((key_of(x), shape), [])
                        if root not in rs:
                            rs.append(root)
    for rs in readers.values():
        for r in rs[1:]:
            merge(rs[0], r)


def _emit(program, nodes, index, preds, groups, group_of) -> Program:
    """The program with each group one fused node, in a topological order of the
    condensed graph that follows the original positions."""
    unit = [group_of.get(i, i) for i in range(len(nodes))]   # node -> its unit (group root)
    prio = {u: max(groups[u]) if u in groups else u for u in set(unit)}
    deps: dict[int, set] = {u: set() for u in prio}
    users: dict[int, set] = {u: set() for u in prio}
    for i, ps in enumerate(preds):
        for p in ps:
            a, b = unit[p], unit[i]
            if a != b:
                deps[b].add(a)
                users[a].add(b)
    ready = [(prio[u], u) for u, d in deps.items() if not d]
    heapq.heapify(ready)
    order = []
    while ready:
        _, u = heapq.heappop(ready)
        order.append(u)
        for v in users[u]:
            deps[v].discard(u)
            if not deps[v]:
                heapq.heappush(ready, (prio[v], v))
    if len(order) != len(prio):  # pragma: no cover - legal() rules cycles out
        raise RuntimeError("fuse: the fused program has a cycle")

    fetched = {key_of(f) for f in program.fetches if isinstance(f, Symbol)}
    consumers: dict[tuple, set] = {}
    for i, nd in enumerate(nodes):
        for x in nd.inputs:
            if isinstance(x, Symbol):
                consumers.setdefault(key_of(x), set()).add(i)
    sym_map: dict[tuple, Symbol] = {}
    node_map: dict[int, Node] = {}
    out: list[Node] = []

    def remap(x):
        return sym_map.get(key_of(x), x) if isinstance(x, Symbol) else x

    for u in order:
        if u not in groups:
            nd = nodes[u]
            inputs = tuple(remap(x) for x in nd.inputs)
            control = tuple(node_map.get(c.id, c) for c in nd.control)
            if all(a is b for a, b in zip(inputs, nd.inputs)) and \
                    all(a is b for a, b in zip(control, nd.control)):
                new = nd
            else:
                from yingshe.graph.passes import clone
                new = clone(nd, inputs, control)
                for k, s in enumerate(nd.outputs):
                    sym_map[key_of(s)] = new.outputs[k]
            node_map[nd.id] = new
            out.append(new)
            continue
        ms = groups[u]
        mset = set(ms)
        pos = {m: j for j, m in enumerate(ms)}
        ext: dict[tuple, int] = {}
        inputs: list = []
        refs = []
        for m in ms:
            r = []
            for x in nodes[m].inputs:
                if isinstance(x, Symbol):
                    p = index.get(x._gnode.id)
                    if p is not None and p in mset:
                        r.append(("v", pos[p], x._out_index))
                        continue
                    k = ext.get(key_of(x))
                    if k is None:
                        k = ext[key_of(x)] = len(inputs)
                        inputs.append(remap(x))
                    r.append(("in", k))
                else:
                    r.append(("lit", x))
            refs.append(tuple(r))
        outputs, metas, olds = [], [], []
        for m in ms:
            for k, s in enumerate(nodes[m].outputs):
                key = key_of(s)
                used_out = key in fetched or any(c not in mset for c in consumers.get(key, ()))
                if used_out:
                    outputs.append((pos[m], k))
                    metas.append(Meta(tuple(s.shape), s.dtype))
                    olds.append(s)
        shapes = [tuple(nodes[m].metas[0].shape) for m in ms
                  if nodes[m].op.name not in REDUCTIONS]
        # a lone reduction iterates over its input
        shape = max(shapes, key=len) if shapes else tuple(nodes[ms[0]].inputs[0].shape)
        group = FusionGroup([nodes[m] for m in ms], refs, inputs, outputs, shape, metas)
        first = nodes[ms[-1]]
        node = Node("op", FUSED, tuple(inputs), {"group": group}, tuple(metas),
                    name=f"fused_{'_'.join(nodes[m].op.name for m in ms[:4])}",
                    site=first.site, graph=first.graph, grad=first.grad)
        for s, new in zip(olds, node.outputs):
            sym_map[key_of(s)] = new
        for m in ms:
            node_map[nodes[m].id] = node
        out.append(node)
    fetches = [node_map.get(f.id, f) if isinstance(f, Node) else sym_map.get(key_of(f), f)
               for f in program.fetches]
    stats = dict(program.stats)
    stats["fuse"] = stats.get("fuse", 0) + len(groups)
    return Program(out, fetches, program.feeds, stats)
