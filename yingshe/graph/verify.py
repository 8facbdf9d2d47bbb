"""``verify(program)``: the checks every pass must keep true (JAX's ``check_jaxpr``).

* every node kind is known and every node appears once;
* every symbolic input is defined earlier (or fed), every control dependency too;
* an op node's stored metas equal what its ``infer`` rule gives for its inputs now,
  and it has as many outputs as the op declares;
* a constant's meta matches its array; reads and assigns name a Variable whose shape
  and dtype match; fetches are defined.
"""

from __future__ import annotations

from yingshe import _dtype
from yingshe.graph.ir import KINDS, Node, Symbol
from yingshe.ops._shapes import Meta
from yingshe.state import Variable

__all__ = ["verify", "VerifyError"]


class VerifyError(AssertionError):
    """A program broke an invariant (a bug in a pass or in the builder)."""


def _fail(msg, node, after):
    tail = f" (after pass '{after}')" if after else ""
    raise VerifyError(f"{msg}: {node!r}{tail}")


def verify(program, after: str | None = None):
    """Raise ``VerifyError`` if ``program`` (a ``Program`` or a ``Graph``) is malformed."""
    from yingshe.graph.passes import Program
    if not isinstance(program, Program):  # a Graph: check every node, nothing fed
        program = Program(program.nodes, [], [])
    defined = {(s._gnode.id, s._out_index) for s in program.feeds}
    ids: set[int] = set()
    for node in program.nodes:
        if node.kind not in KINDS:
            _fail(f"unknown node kind {node.kind!r}", node, after)
        if node.id in ids:
            _fail("node appears twice", node, after)
        for x in node.inputs:
            if isinstance(x, Symbol) and (x._gnode.id, x._out_index) not in defined:
                _fail(f"input {x.name} is used before it is defined", node, after)
        for c in node.control:
            if c.id not in ids:
                _fail(f"control dependency {c.name} is not defined earlier", node, after)
        if len(node.outputs) != len(node.metas):
            _fail("outputs and metas disagree", node, after)
        if node.kind == "op":
            metas = [x._meta if isinstance(x, Symbol) else x for x in node.inputs]
            try:
                out = node.op.infer(*metas, **node.attrs)
            except Exception as err:  # noqa: BLE001
                _fail(f"infer rule fails on this node's inputs ({err})", node, after)
            outs = (out,) if isinstance(out, Meta) else tuple(out)
            if len(outs) != node.op.n_outputs(node.attrs):
                _fail("output count differs from the op's", node, after)
            for m, n in zip(outs, node.metas):
                if tuple(m.shape) != tuple(n.shape) or m.dtype != n.dtype:
                    _fail(f"stored meta {n} differs from the inferred {m}", node, after)
        elif node.kind == "constant":
            m = node.metas[0]
            if node.value.shape != tuple(m.shape) or \
                    _dtype.from_numpy_dtype(node.value.dtype) != m.dtype:
                _fail("constant meta does not match its value", node, after)
        elif node.kind in ("read", "assign"):
            # a Variable, or (yingshe.compile) optimizer state / a .grad slot read by identity
            if not isinstance(node.var, Variable) and not hasattr(node.var, "_data"):
                _fail("no Variable", node, after)
            m = node.metas[0]
            if node.var._data.shape != tuple(m.shape):
                _fail("the Variable's shape changed", node, after)
            if node.kind == "assign" and len(node.inputs) != 1:
                _fail("assign takes one value", node, after)
        ids.add(node.id)
        defined.update((node.id, i) for i in range(len(node.metas)))
    for f in program.fetches:
        if isinstance(f, Node):
            if f.id not in ids:
                raise VerifyError(f"fetched op {f!r} is not in the program (after {after})")
        elif (f._gnode.id, f._out_index) not in defined:
            raise VerifyError(f"fetched {f.name} is not defined (after {after})")
    return True
