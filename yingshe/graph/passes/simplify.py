"""Algebraic simplification, one small rule per pattern:

* ``cast(x)`` to x's own dtype -> ``x``;
* ``x * 1``, ``1 * x``, ``x / 1``, ``x ** 1``, ``x + 0``, ``0 + x``, ``x - 0`` -> ``x`` (only when the
  result has x's shape and dtype, so broadcasting or promotion is never lost);
* ``transpose(transpose(x, a, b), a, b)`` -> ``x``; ``permute(permute(x, p), q)`` -> one
  permute (or ``x`` when the composition is the identity);
* ``reshape(reshape(x, s1), s2)`` -> ``reshape(x, s2)``; ``reshape(x, x.shape)`` -> ``x``.

Each rule is a function ``(node, inputs) -> replacement symbol | new node | None``;
replacement nodes keep the user's creation site.
"""

from __future__ import annotations

import numpy as np

from yingshe.graph.ir import Node, Symbol
from yingshe.graph.passes import Program, rewrite

__all__ = ["simplify", "RULES"]


def _is_value(x, v) -> bool:
    """x is the literal v, or a constant node whose every element is v."""
    if isinstance(x, Symbol):
        n = x._gnode
        if n.kind != "constant" or n.value.size > 4096:
            return False
        return bool(np.all(n.value == v))
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == v


def _same_meta(a: Symbol, meta) -> bool:
    return isinstance(a, Symbol) and a.shape == tuple(meta.shape) and a.dtype == meta.dtype


def identity_arith(node: Node, inputs):
    name = node.op.name
    if len(inputs) != 2:
        return None
    a, b = inputs
    meta = node.metas[0]
    if name == "mul":
        if _is_value(b, 1) and _same_meta(a, meta):
            return a
        if _is_value(a, 1) and _same_meta(b, meta):
            return b
    elif name == "div":
        if _is_value(b, 1) and _same_meta(a, meta):
            return a
    elif name == "add":
        if _is_value(b, 0) and _same_meta(a, meta):
            return a
        if _is_value(a, 0) and _same_meta(b, meta):
            return b
    elif name == "sub":
        if _is_value(b, 0) and _same_meta(a, meta):
            return a
    elif name == "pow":
        if _is_value(b, 1) and _same_meta(a, meta):
            return a
    return None


def identity_cast(node: Node, inputs):
    """cast(x, dtype=x.dtype) -> x (the promotion helpers cast symbols defensively)."""
    if node.op.name == "cast" and _same_meta(inputs[0], node.metas[0]):
        return inputs[0]
    return None


def _producer(x, opname):
    if isinstance(x, Symbol) and x._gnode.kind == "op" and x._gnode.op.name == opname:
        return x._gnode
    return None


def double_transpose(node: Node, inputs):
    if node.op.name == "transpose":
        inner = _producer(inputs[0], "transpose")
        if inner is not None:
            a = {node.attrs["dim0"], node.attrs["dim1"]}
            if a == {inner.attrs["dim0"], inner.attrs["dim1"]}:
                return inner.inputs[0]
    elif node.op.name == "permute":
        inner = _producer(inputs[0], "permute")
        if inner is not None:
            p, q = inner.attrs["dims"], node.attrs["dims"]
            dims = tuple(p[i] for i in q)
            if dims == tuple(range(len(dims))):
                return inner.inputs[0]
            return Node("op", node.op, (inner.inputs[0],), {"dims": dims}, node.metas,
                        name=node.name, site=node.site, graph=node.graph, grad=node.grad)
    return None


def reshape_chain(node: Node, inputs):
    if node.op.name != "reshape":
        return None
    x = inputs[0]
    inner = _producer(x, "reshape")
    if inner is not None:
        x = inner.inputs[0]
    shape = node.attrs["shape"]
    if isinstance(x, Symbol) and None not in x.shape and tuple(x.shape) == tuple(shape) \
            and x.dtype == node.metas[0].dtype:
        return x
    if inner is not None:
        return Node("op", node.op, (x,), dict(node.attrs), node.metas, name=node.name,
                    site=node.site, graph=node.graph, grad=node.grad)
    return None


RULES = (identity_cast, identity_arith, double_transpose, reshape_chain)


def simplify(program: Program) -> Program:
    def fn(node, inputs):
        for rule in RULES:
            r = rule(node, inputs)
            if r is None:
                continue
            if isinstance(r, Node):
                return [r], r.outputs
            return [], (r,)
        return None
    return rewrite(program, fn, "simplify")
