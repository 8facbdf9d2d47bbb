"""The schedule: the program's order is already topological (and keeps stateful nodes
in creation order); this module finds where each value is used last, so the
interpreter and the generated code can drop it there (a buffer is freed after its
last use, not at the end of the run). Fetched values are never dropped."""

from __future__ import annotations

from yingshe.graph.ir import Symbol

__all__ = ["last_uses", "reads_to_copy", "writes_into_variables", "INTO", "INPLACE",
           "register_inplace"]

def _into_table() -> dict:
    """Elementwise ops whose forward is one NumPy ufunc (errors silenced as the op's own
    forward does), from the op table: such a node can write its result straight into a
    Variable's buffer (``out=``)."""
    import numpy as np

    from yingshe.ops.elementwise import UFUNCS
    return {op: (ufunc, dict(errors) or None) for op, (ufunc, errors) in UFUNCS.items()
            if isinstance(getattr(np, ufunc, None), np.ufunc)}


INTO = _into_table()


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


def _alias_roots(nodes):
    """{value key: index of the read it may alias} (reads, and view ops of them)."""
    root: dict[tuple, int] = {}
    for i, n in enumerate(nodes):
        if n.kind == "read":
            root[(n.id, 0)] = i
        elif n.kind == "op" and n.op.view and n.inputs and isinstance(n.inputs[0], Symbol):
            r = root.get((n.inputs[0]._gnode.id, n.inputs[0]._out_index))
            if r is not None:
                for k in range(len(n.metas)):
                    root[(n.id, k)] = r
    return root


# Ops that can write every output into a given buffer: {op name: factory}, registered by
# the layers that define them (``yingshe.optim``'s fused updates: the compiler imports no
# optimizer). ``factory(node, backend)`` returns ``run(outs, *inputs) -> outputs``: it
# computes the node's outputs into ``outs`` (one destination per output, ``None`` for a
# fresh array) and returns them. An elementwise update reads each element of its inputs
# before it writes that element, so a destination may be one of its inputs.
INPLACE: dict = {}


def register_inplace(opname: str, factory) -> None:
    """Let compiled programs run ``opname`` with its outputs written straight into the
    Variables they are assigned to (see ``INPLACE``)."""
    INPLACE[opname] = factory


def writes_into_variables(program) -> dict[int, dict[int, int]]:
    """{index of an op: {output index: index of the ``assign`` of that output}}, for the
    ops that can compute straight into the assigned Variable's buffer, saving the assign's
    copy and the op's allocation: an optimizer update then runs in place, as its eager
    kernel does. The ops: ``INTO``'s ufuncs (one output, ``out=``) and ``INPLACE``'s
    (fused optimizer updates: the parameter and each state into its own Variable).

    The write moves from the assign back to the op, and the op's result then *is* the
    Variable's buffer until its last use; taken only where nothing can tell. The result
    has the Variable's exact shape and dtype, is assigned with mode "set" and is not
    fetched. Between the op and its assign nothing reads the Variable (a read, or a use
    of a read or of a view of one), and from the op to the result's last use nothing else
    writes it (a read used by the op itself is fine: a ufunc whose output overlaps an
    input computes as if the input were copied first, and an update reads each element
    before writing it). Writes of other chosen outputs count at their op, so the choice is
    a fixpoint: drop the outputs that fail, recheck the rest."""
    nodes = program.nodes
    index = {n.id: i for i, n in enumerate(nodes)}
    fetched = {(f._gnode.id, f._out_index) for f in program.fetches if isinstance(f, Symbol)}
    last_use = {key: i for i, keys in program.last_uses().items() for key in keys}
    root = _alias_roots(nodes)
    reads: dict[int, set] = {}            # id(var) -> indices that read it
    for i, n in enumerate(nodes):
        if n.kind == "read":
            reads.setdefault(id(n.var), set()).add(i)
        for x in n.inputs:
            r = root.get((x._gnode.id, x._out_index)) if isinstance(x, Symbol) else None
            if r is not None:
                reads.setdefault(id(nodes[r].var), set()).add(i)
    cand: dict[tuple, int] = {}           # (op index, output) -> assign index
    for j, a in enumerate(nodes):
        x = a.inputs[0] if a.kind == "assign" and a.inputs else None
        if not isinstance(x, Symbol) or a.attrs.get("mode") != "set":
            continue
        i = index.get(x._gnode.id)
        n = nodes[i] if i is not None else None
        k = x._out_index
        if n is None or n.kind != "op" or (n.id, k) in fetched or (i, k) in cand:
            continue
        if not ((n.op.name in INTO and len(n.metas) == 1) or n.op.name in INPLACE):
            continue
        if n.op.name in INPLACE and not _plain_inputs(n, a.var, nodes, root):
            continue
        buf = a.var._data
        if tuple(n.metas[k].shape) == tuple(buf.shape) and n.metas[k].dtype.np == buf.dtype:
            cand[(i, k)] = j
    while True:
        writes: dict[int, list[int]] = {}     # id(var) -> where it is written
        for j, a in enumerate(nodes):
            if a.kind == "assign":
                writes.setdefault(id(a.var), []).append(j)
        for (i, _), j in cand.items():
            w = writes[id(nodes[j].var)]
            w[w.index(j)] = i
        bad = []
        for (i, k), j in cand.items():
            v = id(nodes[j].var)
            end = last_use.get((nodes[i].id, k), j)
            if (any(i < r < j for r in reads.get(v, ())) or
                    any(i < w < end and w != j for w in writes[v]) or
                    writes[v].count(i) > 1):   # two outputs of one op into one Variable
                bad.append((i, k))
        if not bad:
            out: dict[int, dict[int, int]] = {}
            for (i, k), j in sorted(cand.items()):
                out.setdefault(i, {})[k] = j
            return out
        for key in bad:
            del cand[key]


def _plain_inputs(node, var, nodes, root) -> bool:
    """Whether ``node`` sees ``var`` at most once among its inputs, and only as the plain
    read (no view): then an update that reads each element before writing it may write
    into ``var``. A transposed view, or the parameter also passed as the gradient, would
    be overwritten under the kernel (a ufunc's overlap copy is not there to save it)."""
    uses = [x for x in node.inputs if isinstance(x, Symbol)
            and (r := root.get((x._gnode.id, x._out_index))) is not None
            and nodes[r].var is var]
    return len(uses) <= 1 and all(x._gnode.kind == "read" for x in uses)


def reads_to_copy(program, writes: dict[int, int] | None = None) -> frozenset:
    """ids of the ``read`` nodes whose value must be copied out of the Variable's buffer.

    A read hands out the Variable's own array (no copy), which is safe unless the array
    changes while the value is still needed: when an ``assign`` to the same Variable
    runs at or before the last use of the read or of any view of it (view ops share
    memory with their input 0; every other op returns a fresh array), or when the read,
    or a view of it, is fetched (the caller must not get the Variable's buffer). In a
    training step the forward and backward reads of a weight are used up before the
    optimizer's assign, so they need no copy."""
    nodes = program.nodes
    # where each Variable is written: at its assign, or earlier at the op that computes
    # into its buffer (``writes``: writes_into_variables, computed here unless given);
    # a read used by that op itself is safe
    if writes is None:
        writes = writes_into_variables(program)
    early = {j: i for i, outs in writes.items() for j in outs.values()}
    assigns: dict[int, list[int]] = {}
    for i, n in enumerate(nodes):
        if n.kind == "assign":
            assigns.setdefault(id(n.var), []).append(early.get(i, i))
    fetched = {(f._gnode.id, f._out_index) for f in program.fetches if isinstance(f, Symbol)}
    root = _alias_roots(nodes)         # value key -> index of the read it may alias
    last = {i: i for i, n in enumerate(nodes) if n.kind == "read"}
    for i, n in enumerate(nodes):      # read index -> last use of it or of a view of it
        for x in n.inputs:
            if isinstance(x, Symbol):
                r = root.get((x._gnode.id, x._out_index))
                if r is not None:
                    last[r] = max(last[r], i)
    need = set()
    for key, r in root.items():
        if key in fetched:
            need.add(r)
    writers = set(early.values())
    for r, end in last.items():
        later = sorted(j for j in assigns.get(id(nodes[r].var), ()) if j > r)
        if later and (later[0] < end or later[0] == end and later[0] not in writers):
            need.add(r)
    return frozenset(nodes[r].id for r in need)


# ---- inter-op parallelism ------------------------------------------------------------------

# Ops that are one BLAS call (or a few) per run: what is worth a thread of its own, and
# what runs BLAS in the first place.
GEMMS = ("matmul", "linear", "bmm", "addmm", "conv1d", "conv2d", "conv3d",
         "conv2d_weight_grad", "conv3d_weight_grad", "conv_transpose2d", "conv_transpose3d")

# Work (multiply-adds) below which handing an op to another thread costs more than it
# saves (a hand-off is ~10-30 us; 2^21 multiply-adds are ~0.2 ms on one core).
CONCURRENT_MIN = 1 << 21


def gemm_work(node) -> int:
    """Multiply-adds of a GEMM-like op node (0 for anything else or unknown shapes)."""
    if node.kind != "op" or node.op.name not in GEMMS:
        return 0
    out = 1
    for d in node.metas[0].shape:
        if d is None:
            return 0
        out *= d
    x = node.inputs[0]
    if not isinstance(x, Symbol) or not x.shape or x.shape[-1] is None:
        return 0
    k = x.shape[-1]
    if node.op.name.startswith("conv"):
        w = node.inputs[1]
        if isinstance(w, Symbol) and all(d is not None for d in w.shape):
            k = 1
            for d in w.shape[1:]:
                k *= d
    return out * k


def concurrent_pairs(program, skip=frozenset()) -> dict[int, tuple[int, tuple]]:
    """{index a: (index b, views)}: two GEMM-like op nodes to run concurrently at ``a``'s
    place, ``views`` the indices of view ops between them that ``b`` reads (recomputed
    inline where ``b`` runs: a transpose before a weight gradient's matmul).

    ``b`` comes later, does not depend on ``a``, and every other input of ``b`` (and of
    its views) already exists at ``a`` (so moving ``b`` up to ``a`` changes no value: ops
    are pure, and a Variable's read keeps the value it had when it was read — the
    schedule copies it if an assign comes before its last use). Neither is stateful or
    random, and neither writes into a Variable (``skip``: ``writes_into_variables``'s
    ops). Stateful nodes therefore keep their program order and their thread."""
    nodes = program.nodes
    index = {n.id: i for i, n in enumerate(nodes)}
    heavy = [i for i, n in enumerate(nodes)
             if i not in skip and not n.stateful and not n.random
             and gemm_work(n) >= CONCURRENT_MIN]
    if len(heavy) < 2:
        return {}
    anc = [0] * len(nodes)
    producers: list[list[int]] = []
    for i, n in enumerate(nodes):
        ps = [index[x._gnode.id] for x in n.inputs
              if isinstance(x, Symbol) and x._gnode.id in index]
        ps += [index[c.id] for c in n.control if c.id in index]
        producers.append(ps)
        a = 0
        for p in ps:
            a |= anc[p] | (1 << p)
        anc[i] = a

    def movable(i: int, a: int, views: list) -> bool:
        for p in producers[i]:
            if p < a:
                continue
            n = nodes[p]
            if p == a or n.kind != "op" or not n.op.view or n.stateful or n.random \
                    or len(n.metas) != 1 or not movable(p, a, views):
                return False
            views.append(p)
        return True

    pairs: dict[int, tuple[int, tuple]] = {}
    taken: set[int] = set()
    for k, a in enumerate(heavy):
        if a in taken:
            continue
        for b in heavy[k + 1:]:
            views: list = []
            if b in taken or anc[b] >> a & 1 or not movable(b, a, views):
                continue
            pairs[a] = (b, tuple(sorted(set(views))))
            taken.update((a, b))
            break
    return pairs


def blas_heavy(program) -> bool:
    """Whether the program runs GEMMs large enough for BLAS's thread count to matter."""
    return any(gemm_work(n) >= CONCURRENT_MIN for n in program.nodes)
