"""Constant folding: an op whose inputs are all constants is computed once, at compile
time, and replaced by constant nodes. Never random ops, stateful ops or Variable reads
(a read is not a constant: its value changes between runs)."""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe.backend import numpy_backend as xp
from yingshe.graph.ir import Node, Symbol
from yingshe.graph.passes import Program, rewrite
from yingshe.ops._shapes import Meta

__all__ = ["fold", "MAX_FOLD_ELEMENTS"]

# a folded value is stored in the program: do not materialise huge broadcasts
MAX_FOLD_ELEMENTS = 1 << 20


def _const(node: Node, arr: np.ndarray, i: int) -> Node:
    arr = np.array(arr, copy=True)
    arr.flags.writeable = False
    meta = Meta(arr.shape, _dtype.from_numpy_dtype(arr.dtype))
    name = node.name if len(node.metas) == 1 else f"{node.name}:{i}"
    return Node("constant", None, (), {}, (meta,), name=name + "/folded", site=node.site,
                graph=node.graph, value=arr)


def fold(program: Program) -> Program:
    def fn(node, inputs):
        op = node.op
        if op.random or op.stateful:
            return None
        if not all(x._gnode.kind == "constant" for x in inputs if isinstance(x, Symbol)):
            return None
        if any((x._gnode.id, x._out_index) in fed for x in inputs if isinstance(x, Symbol)):
            return None
        args = [x._gnode.value if isinstance(x, Symbol) else x for x in inputs]
        try:
            out = op.forward(xp, *args, **node.attrs)
        except Exception:  # noqa: BLE001 - leave it to fail at run time, with context
            return None
        outs = tuple(out) if node.returns_tuple else (out,)
        outs = [np.asarray(o) for o in outs]
        if sum(o.size for o in outs) > MAX_FOLD_ELEMENTS:
            return None
        new = [_const(node, o, i) for i, o in enumerate(outs)]
        folded[0] += 1
        return new, tuple(n.outputs[0] for n in new)

    fed = {(s._gnode.id, s._out_index) for s in program.feeds}
    folded = [0]
    out = rewrite(program, fn)
    # a folded op is replaced one for one (its dead constant inputs go in dce): count ops
    out.stats["fold"] = out.stats.get("fold", 0) + folded[0]
    return out
