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

from yingshe.backend import numpy_backend, threads
from yingshe.graph.interpreter import assign_var, assign_written, init_vars, read_var
from yingshe.graph.ir import Node, Symbol
from yingshe.graph.schedule import (CONCURRENT_MIN, INPLACE, INTO, blas_heavy,
                                    concurrent_pairs, gemm_work, reads_to_copy,
                                    writes_into_variables)
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


# ---- a large GEMM split into row blocks over the thread pool ---------------------------------

_ROW_ALIGN = 16   # blocks start on multiples of a BLAS micro-kernel's rows


def _row_blocks(m: int) -> list[tuple[int, int]]:
    n = threads.get_num_threads()
    step = -(-m // n)
    step = -(-step // _ROW_ALIGN) * _ROW_ALIGN
    return [(r, min(r + step, m)) for r in range(0, m, step)]


def rows_matmul(a, b):
    """``a @ b`` (2-D) with the rows of ``a`` split over the pool, each block written
    into its rows of one output."""
    out = numpy_backend.empty((a.shape[0], b.shape[1]), numpy_backend.result_type(a, b))

    def block(r0, r1):
        return lambda: numpy_backend.matmul(a[r0:r1], b, out=out[r0:r1])
    threads.run_concurrently(*(block(r0, r1) for r0, r1 in _row_blocks(a.shape[0])))
    return out


def rows_linear(x, w, b=None):
    """The ``linear`` op's ``x @ w.T (+ b)`` (2-D ``x``) with row blocks over the pool."""
    out = numpy_backend.empty((x.shape[0], w.shape[0]), numpy_backend.result_type(x, w))

    def block(r0, r1):
        def run():
            numpy_backend.matmul(x[r0:r1], w.T, out=out[r0:r1])
            if b is not None:
                out[r0:r1] += b
        return run
    threads.run_concurrently(*(block(r0, r1) for r0, r1 in _row_blocks(x.shape[0])))
    return out


def _row_split(node) -> str | None:
    """The helper that splits this GEMM node into row blocks, if it is one that can."""
    if gemm_work(node) < 2 * CONCURRENT_MIN or node.metas[0].shape[0] < 2 * _ROW_ALIGN:
        return None
    x = node.inputs[0]
    if not all(isinstance(v, Symbol) and len(v.shape) == 2 for v in node.inputs[:2]):
        return None
    if node.op.name == "matmul" and len(node.inputs) == 2:
        return "rows_matmul"
    if node.op.name == "linear" and x.dtype == node.inputs[1].dtype:
        return "rows_linear"
    return None


class Emitter:
    """The namespace and names of one generated function: ``bind`` puts an object in
    the function's globals, ``arg`` spells an input (a value's variable, an inline
    literal, or a bound constant)."""

    def __init__(self) -> None:
        # __name__: warnings raised in generated code count as yingshe's own
        # (yingshe.errors.silence_numpy_fp_warnings)
        self.g: dict = {"__name__": "yingshe.graph.generated",
                        "xp": numpy_backend, "read_var": read_var, "assign_var": assign_var,
                        "assign_written": assign_written, "init_vars": init_vars,
                        "par": threads.run_concurrently, "pool_size": threads.get_num_threads,
                        "rows_matmul": rows_matmul, "rows_linear": rows_linear,
                        "blas_enter": threads.blas_enter, "blas_exit": threads.blas_exit}
        self.names: dict[tuple, str] = {}

    def bind(self, prefix: str, value) -> str:
        key = f"{prefix}{len(self.g)}"
        self.g[key] = value
        return key

    def arg(self, x, inline=()) -> str:
        if isinstance(x, Symbol):
            for n in inline:
                if n is x._gnode:
                    return self.call_op(n, inline)
            return self.names[(x._gnode.id, x._out_index)]
        lit = _literal(x)
        return lit if lit is not None else self.bind("k", x)

    def call_op(self, node: Node, inline=()) -> str:
        """The expression computing an op node with NumPy; the producers in ``inline``
        are computed inside it."""
        op = node.op
        direct = UFUNCS.get(op.name)
        if direct is not None and not direct[1] and not node.attrs:
            f = self.bind(f"{direct[0]}_", getattr(numpy_backend, direct[0]))
            return f"{f}({', '.join(self.arg(x, inline) for x in node.inputs)})"
        if op.name == "transpose" and isinstance(node.inputs[0], Symbol) and \
                len(node.inputs[0].shape or ()) >= 1:
            # the ndarray method: xp.swapaxes goes through NumPy's Python dispatch
            # wrapper (1.5 us per weight gradient's transpose in a small step, 0.15 us)
            a = node.attrs
            return f"{self.arg(node.inputs[0], inline)}.swapaxes({a['dim0']}, {a['dim1']})"
        f = self.bind(f"{ident(op.name)}_", op.forward)
        args = ["xp"] + [self.arg(x, inline) for x in node.inputs]
        for k, v in node.attrs.items():
            lit = _literal(v)
            args.append(f"{k}={lit if lit is not None else self.bind('a', v)}")
        return f"{f}({', '.join(args)})"


def generate(program, name: str = "graph_program", lower=None, emitter: Emitter | None = None,
             backend: str = "numpy"):
    """Compile ``program`` into ``fn(feeds) -> list`` (feeds in ``program.feeds`` order).

    ``lower(em, index, node) -> str | None`` may return the source line(s) computing a
    node's outputs (for the nodes a backend compiles itself); None keeps the default.
    ``backend`` is handed to the in-place forms of ops (``schedule.INPLACE``)."""
    em = emitter or Emitter()
    names = em.names
    params = []
    for i, s in enumerate(program.feeds):
        v = f"feed{i}"
        names[(s._gnode.id, s._out_index)] = v
        params.append(v)
    body = f"{name}_body"
    lines = [f"def {body}({', '.join(params)}):"]
    writes = writes_into_variables(program)   # op index -> {output: its assign's index}
    written = {j for outs in writes.values() for j in outs.values()}
    copy_reads = reads_to_copy(program, writes)
    last = program.last_uses()
    bind, arg = em.bind, em.arg
    # independent GEMMs run concurrently on the pool; a lone large one is split by rows
    # (both only when the thread policy allows more than one thread at run time)
    pairs = concurrent_pairs(program, frozenset(writes))
    partner = {b: a for a, (b, _) in pairs.items()}

    for idx, node in enumerate(program.nodes):
        outs = []
        for k in range(len(node.metas)):
            key = (node.id, k)
            if key in names:          # fed: keep the fed value
                outs.append("_")
            else:
                names[key] = f"v{idx}" if len(node.metas) == 1 else f"v{idx}_{k}"
                outs.append(names[key])
        lhs = ", ".join(outs) + ("," if len(outs) == 1 and node.returns_tuple else "")
        kind = node.kind
        comment = f"  # {node.name}"
        if kind == "placeholder":
            continue
        custom = lower(em, idx, node, lhs) if lower is not None and kind == "op" else None
        if idx in partner:          # computed beside its partner, earlier
            line = "pass"
        elif custom is not None:
            line = custom
        elif idx in pairs:
            b, views = pairs[idx]
            other = program.nodes[b]
            rhs = f"v{b}"
            for k in range(len(other.metas)):
                names[(other.id, k)] = rhs
            line = (f"{lhs}, {rhs} = par(lambda: {em.call_op(node)}, "
                    f"lambda: {em.call_op(other, [program.nodes[v] for v in views])})")
        elif kind == "op" and idx not in writes and _row_split(node) is not None:
            helper = _row_split(node)
            args = ", ".join(arg(x) for x in node.inputs)
            line = (f"{lhs} = {helper}({args}) if pool_size() > 1 else "
                    f"{em.call_op(node)}")
        elif kind == "op" and idx in writes and node.op.name in INPLACE:
            # every assigned output computed straight into its Variable, the others fresh
            run = bind(f"inplace_{ident(node.op.name)}_", INPLACE[node.op.name](node, backend))
            dests = [f"{bind('var', program.nodes[writes[idx][k]].var)}._data"
                     if k in writes[idx] else "None" for k in range(len(node.metas))]
            args = [arg(x) for x in node.inputs]
            line = f"{lhs} = {run}(({', '.join(dests)},), {', '.join(args)})"
        elif kind == "op" and idx in writes:
            # computed straight into the Variable its result is assigned to
            f = bind(f"into_{ident(node.op.name)}_", _INTO[node.op.name])
            var = bind("var", program.nodes[writes[idx][0]].var)
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
    if blas_heavy(program):
        # BLAS at one thread while the program runs (see yingshe.backend.threads)
        inner = body
        body = f"{name}_run"
        lines += [f"def {body}({', '.join(params)}):", "    blas_enter()", "    try:",
                  f"        return {inner}({', '.join(params)})", "    finally:",
                  "        blas_exit()", ""]
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
