"""Code generation for NumPy: one straight-line Python function per program, one line per
node, ``exec``-compiled. The interpreter (``interpreter.run_program``) is its oracle: both
walk the same node list and compute with the same NumPy functions and Variable helpers.

An op whose forward is one NumPy function (``yingshe.ops.elementwise.UFUNCS``: ``add``,
``exp``, ``maximum`` ...) is called directly (``v3 = multiply(v1, v2)``), without the
op's Python ``forward`` wrapper; an op whose forward silences floating-point errors by
design keeps its wrapper (entering ``np.errstate`` costs more than the wrapper). Every
other op calls its ``forward``.

``generate`` returns ``fn(feeds) -> list``; ``fn.body(*feeds)`` is the same program with
the feeds as positional parameters (what ``yingshe.compile``'s generated call path
calls), and ``fn.source`` the source ``explain()`` prints. A backend that lowers some
nodes itself (``codegen.numba``: fused kernels) passes ``lower``.
"""

from __future__ import annotations

import math

from yingshe.backend import numpy_backend
from yingshe.graph.interpreter import assign_var, assign_written, init_vars, read_var
from yingshe.graph.ir import Node, Symbol
from yingshe.graph.schedule import INTO, reads_to_copy, writes_into_variables
from yingshe.ops.elementwise import UFUNCS

__all__ = ["generate", "Emitter"]


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


def ident(name: str) -> str:
    """``name`` made a Python identifier."""
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


class Emitter:
    """The namespace and names of one generated function: ``bind`` puts an object in
    the function's globals, ``arg`` spells an input (a value's variable, an inline
    literal, or a bound constant)."""

    def __init__(self) -> None:
        self.g: dict = {"xp": numpy_backend, "read_var": read_var, "assign_var": assign_var,
                        "assign_written": assign_written, "init_vars": init_vars}
        self.names: dict[tuple, str] = {}

    def bind(self, prefix: str, value) -> str:
        key = f"{prefix}{len(self.g)}"
        self.g[key] = value
        return key

    def arg(self, x) -> str:
        if isinstance(x, Symbol):
            return self.names[(x._gnode.id, x._out_index)]
        lit = _literal(x)
        return lit if lit is not None else self.bind("k", x)

    def call_op(self, node: Node) -> str:
        """The expression computing an op node with NumPy."""
        op = node.op
        direct = UFUNCS.get(op.name)
        if direct is not None and not direct[1] and not node.attrs:
            f = self.bind(f"{direct[0]}_", getattr(numpy_backend, direct[0]))
            return f"{f}({', '.join(self.arg(x) for x in node.inputs)})"
        f = self.bind(f"{ident(op.name)}_", op.forward)
        args = ["xp"] + [self.arg(x) for x in node.inputs]
        for k, v in node.attrs.items():
            lit = _literal(v)
            args.append(f"{k}={lit if lit is not None else self.bind('a', v)}")
        return f"{f}({', '.join(args)})"


def generate(program, name: str = "graph_program", lower=None, emitter: Emitter | None = None):
    """Compile ``program`` into ``fn(feeds) -> list`` (feeds in ``program.feeds`` order).

    ``lower(em, index, node) -> str | None`` may return the source line(s) computing a
    node's outputs (for the nodes a backend compiles itself); None keeps the default."""
    em = emitter or Emitter()
    names = em.names
    params = []
    for i, s in enumerate(program.feeds):
        v = f"feed{i}"
        names[(s._gnode.id, s._out_index)] = v
        params.append(v)
    body = f"{name}_body"
    lines = [f"def {body}({', '.join(params)}):"]
    writes = writes_into_variables(program)   # op index -> its assign's index
    written = set(writes.values())
    copy_reads = reads_to_copy(program, writes)
    last = program.last_uses()
    bind, arg = em.bind, em.arg

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
        custom = lower(em, idx, node, lhs) if lower is not None and kind == "op" else None
        if custom is not None:
            line = custom
        elif kind == "op" and idx in writes:
            # computed straight into the Variable its result is assigned to
            f = bind(f"into_{ident(node.op.name)}_", _INTO[node.op.name])
            var = bind("var", program.nodes[writes[idx]].var)
            args = [arg(x) for x in node.inputs]
            line = f"{lhs} = {f}({', '.join(args)}, out={var}._data)"
        elif kind == "op":
            line = f"{lhs} = {em.call_op(node)}"
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
        first, *rest = line.split("\n")
        lines.append(f"    {first}{comment}")
        lines.extend(f"    {ln}" for ln in rest)
        dead = [names[k] for k in last.get(idx, ()) if k in names and names[k] != "_"]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    rets = ["None" if isinstance(f, Node) else names[(f._gnode.id, f._out_index)]
            for f in program.fetches]
    lines.append(f"    return [{', '.join(rets)}]")
    lines.append("")
    lines.append(f"def {name}(feeds):")
    lines.append(f"    return {body}(*feeds)")
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<yingshe.graph {name}>", "exec")
    exec(code, em.g)  # noqa: S102 - our own generated source
    fn = em.g[name]
    fn.body = em.g[body]
    fn.source = source
    fn.globals = em.g
    return fn
