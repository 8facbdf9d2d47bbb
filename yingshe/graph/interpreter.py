"""The plain interpreter: run a program's nodes in order on NumPy arrays.

It is the oracle of the code generator (``codegen.py`` emits one line per node of the
same loop). The run-time helpers for Variables (``read_var``, ``assign_var``,
``init_vars``) are shared by both.
"""

from __future__ import annotations

import numpy as np

from yingshe.backend import numpy_backend as xp
from yingshe.errors import format_site
from yingshe.graph.ir import Node, Symbol, UninitializedVariableError

__all__ = ["run_program", "evaluate", "read_var", "assign_var", "assign_written",
           "init_vars"]


def read_var(var, node_site=None, copy: bool = False):
    """The current value of a Variable (a copy when it will be assigned in this run)."""
    if not getattr(var, "initialized", True):
        where = getattr(var, "_site", None)
        raise UninitializedVariableError(
            f"attempting to use uninitialized value of Variable '{var.name}'"
            + (f" (created at {format_site(where)})" if where else "")
            + "; run yingshe.graph.global_variables_initializer() first"
        )
    return var._data.copy() if copy else var._data


def assign_var(var, value, mode: str, want: bool = True):
    """Write into the Variable's own buffer (in place), bump its version, and return a
    copy of the new value (None when the program never uses it: ``want=False``)."""
    dst = var._data
    if not getattr(var, "initialized", True) and mode != "set":
        read_var(var)  # raises
    if mode == "add":
        np.add(dst, value, out=dst, casting="unsafe")
    elif mode == "sub":
        np.subtract(dst, value, out=dst, casting="unsafe")
    else:
        np.copyto(dst, value, casting="unsafe")
    return assign_written(var, want)


def assign_written(var, want: bool = True):
    """``assign_var``'s bookkeeping for a value an op already computed into the
    Variable's buffer (``schedule.writes_into_variables``)."""
    var._vc[0] += 1
    if not getattr(var, "initialized", True):  # plain tensors (compiled state) have no flag
        var.initialized = True
    return var._data.copy() if want else None


def init_vars(variables) -> None:
    for v in variables:
        v.initialize()


def eval_node(node: Node, args: list, copy_reads: frozenset = frozenset()):
    """The value(s) of one node given its input values."""
    kind = node.kind
    if kind == "op":
        return node.op.forward(xp, *args, **node.attrs)
    if kind == "constant":
        return node.value
    if kind == "read":
        return read_var(node.var, node.site, id(node.var) in copy_reads)
    if kind == "assign":
        return assign_var(node.var, args[0], node.attrs["mode"])
    if kind == "init":
        init_vars(node.value)
        return None
    if kind == "no_op":
        return None
    raise RuntimeError(f"cannot evaluate node {node!r}")


def run_program(program, feed_values: list) -> list:
    """Run ``program`` (see ``passes.Program``) with ``feed_values`` in the order of
    ``program.feeds``; returns the values of ``program.fetches``."""
    env: dict[int, object] = {}
    for ref, v in zip(program.feeds, feed_values):
        env[(ref._gnode.id, ref._out_index)] = v
    copy_reads = program.assigned_vars()
    last = program.last_uses()
    for i, node in enumerate(program.nodes):
        if node.kind != "placeholder":
            args = [env[(x._gnode.id, x._out_index)] if isinstance(x, Symbol) else x
                    for x in node.inputs]
            out = eval_node(node, args, copy_reads)
            n = len(node.metas)
            if not node.returns_tuple:
                env.setdefault((node.id, 0), out if isinstance(out, np.ndarray)
                               else np.asarray(out))
            else:
                for k in range(n):
                    env.setdefault((node.id, k), np.asarray(out[k]))
        for key in last.get(i, ()):
            env.pop(key, None)
    return [None if isinstance(f, Node) else env[(f._gnode.id, f._out_index)]
            for f in program.fetches]


def evaluate(symbols, feed_dict=None) -> list:
    """Evaluate ``symbols`` with the interpreter on the unoptimised pruned graph."""
    from yingshe.graph.passes import key_of
    from yingshe.graph.session import lowered
    feeds = {key_of(k): np.asarray(v) for k, v in (feed_dict or {}).items()}
    syms = {key_of(k): k for k in (feed_dict or {})}
    program, keys = lowered(list(symbols), list(syms.values()),
                            {k: v.shape for k, v in feeds.items()})
    return run_program(program, [feeds[k] for k in keys])
