"""Code generation: one straight-line Python function per program, one line per node,
``exec``-compiled. The interpreter (``interpreter.run_program``) is its oracle: both
walk the same node list and call the same ``forward`` functions and Variable helpers.

The source is kept on the compiled function (``fn.source``) so ``explain()`` can
print what the graph became.
"""

from __future__ import annotations

import math

from yingshe.backend import numpy_backend
from yingshe.graph.interpreter import assign_var, assign_written, init_vars, read_var
from yingshe.graph.ir import Node, Symbol
from yingshe.graph.schedule import INTO, reads_to_copy, writes_into_variables

__all__ = ["generate"]


def _literal(v):
    """Python source for a value that can be spelled inline, else None."""
    if v is None or isinstance(v, (bool, str)):
        return repr(v)
    if isinstance(v, int):
        return repr(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else None
    if isinstance(v, tuple):
        parts = [_literal(x) for x in v]
        if any(p is None for p in parts):
            return None
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    return None


def _ident(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def _into(ufunc: str, errors):
    """``ufunc(*args, out=out)``, under the op's own ``errstate`` if it has one."""
    f = getattr(numpy_backend, ufunc)
    if errors is None:
        return lambda *args, out: f(*args, out=out)

    def into(*args, out):
        with numpy_backend.errstate(**errors):
            return f(*args, out=out)
    return into


_INTO = {op: _into(*spec) for op, spec in INTO.items()}


def generate(program, name: str = "graph_program"):
    """Compile ``program`` into ``fn(feeds) -> list`` (feeds in ``program.feeds`` order)."""
    g: dict = {"xp": numpy_backend, "read_var": read_var, "assign_var": assign_var,
               "assign_written": assign_written, "init_vars": init_vars}
    names: dict[tuple, str] = {}
    lines = [f"def {name}(feeds):"]
    for i, s in enumerate(program.feeds):
        v = f"feed{i}"
        names[(s._gnode.id, s._out_index)] = v
        lines.append(f"    {v} = feeds[{i}]  # {s.name}")
    writes = writes_into_variables(program)   # op index -> its assign's index
    written = set(writes.values())
    copy_reads = reads_to_copy(program, writes)
    last = program.last_uses()

    def bind(prefix: str, value) -> str:
        key = f"{prefix}{len(g)}"
        g[key] = value
        return key

    def arg(x) -> str:
        if isinstance(x, Symbol):
            return names[(x._gnode.id, x._out_index)]
        lit = _literal(x)
        return lit if lit is not None else bind("k", x)

    for idx, node in enumerate(program.nodes):
        outs = []
        for k in range(len(node.metas)):
            key = (node.id, k)
            if key in names:          # fed: keep the fed value
                outs.append("_")
            else:
                names[key] = f"v{idx}" if len(node.metas) == 1 else f"v{idx}_{k}"
                outs.append(names[key])
        lhs = ", ".join(outs) + ("," if len(outs) == 1 and len(node.metas) > 1 else "")
        kind = node.kind
        comment = f"  # {node.name}"
        if kind == "placeholder":
            continue
        if kind == "op" and idx in writes:
            # computed straight into the Variable its result is assigned to
            f = bind(f"into_{_ident(node.op.name)}_", _INTO[node.op.name])
            var = bind("var", program.nodes[writes[idx]].var)
            args = [arg(x) for x in node.inputs]
            line = f"{lhs} = {f}({', '.join(args)}, out={var}._data)"
        elif kind == "op":
            f = bind(f"{_ident(node.op.name)}_", node.op.forward)
            args = ["xp"] + [arg(x) for x in node.inputs]
            for k, v in node.attrs.items():
                lit = _literal(v)
                args.append(f"{k}={lit if lit is not None else bind('a', v)}")
            line = f"{lhs} = {f}({', '.join(args)})"
        elif kind == "constant":
            line = f"{lhs} = {bind('c', node.value)}"
        elif kind == "read":
            var = bind("var", node.var)
            cp = ", None, True" if node.id in copy_reads else ""
            line = f"{lhs} = read_var({var}{cp})"
        elif kind == "assign":
            var = bind("var", node.var)
            # the assigned value is returned (a copy) only if something reads it
            used = (node.id, 0) not in last.get(idx, ())
            if idx in written:
                line = f"{lhs} = assign_written({var}{'' if used else ', False'})"
            else:
                line = (f"{lhs} = assign_var({var}, {arg(node.inputs[0])}, "
                        f"{node.attrs['mode']!r}{'' if used else ', False'})")
        elif kind == "init":
            line = f"init_vars({bind('vars', node.value)})"
        elif kind == "no_op":
            line = "pass"
        else:
            raise RuntimeError(f"codegen: unknown node kind {kind!r}")
        lines.append(f"    {line}{comment}")
        dead = [names[k] for k in last.get(idx, ()) if k in names and names[k] != "_"]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    rets = ["None" if isinstance(f, Node) else names[(f._gnode.id, f._out_index)]
            for f in program.fetches]
    lines.append(f"    return [{', '.join(rets)}]")
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<yingshe.graph {name}>", "exec")
    exec(code, g)  # noqa: S102 - our own generated source
    fn = g[name]
    fn.source = source
    return fn
