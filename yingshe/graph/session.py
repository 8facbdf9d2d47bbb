"""``Session``: run fetches of a graph with a ``feed_dict`` (TF1's API).

``run`` flattens the fetches (a graph tensor, an op, or nested lists/tuples/dicts of
them), checks and casts the feeds, and runs a compiled plan cached per (fetches, feed
signature): prune -> passes (fold, CSE, simplify, DCE; ``verify`` after each) ->
schedule -> generated Python (or the interpreter, with ``executor="interpreter"``).
Variable values are global to the process, not per session (unlike TF1).
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor
from yingshe.errors import format_site
from yingshe.graph.ir import FeedError, Graph, GraphError, Node, Symbol, flatten_nested
from yingshe.ops._shapes import shape_str

__all__ = ["Session", "InteractiveSession", "get_default_session"]

_session_stack: list = []


def get_default_session():
    return _session_stack[-1] if _session_stack else None


class _Plan:
    __slots__ = ("program", "fn", "raw", "feed_keys", "backend")


def _flatten(fetches, out: list, graph=None):
    """Flatten nested fetches into ``out``; return a function rebuilding the structure.
    A Variable fetches its value (its read in ``graph``)."""
    from yingshe.state import Variable

    def leaf(x):
        if isinstance(x, Variable) and graph is not None:
            from yingshe.graph.build import read
            return read(x, graph)
        if isinstance(x, (Symbol, Node)):
            return x
        if isinstance(x, Tensor):
            raise TypeError(f"Session.run: can't fetch an eager tensor; fetch graph tensors "
                            f"(got {type(x).__name__})")
        raise TypeError(f"Session.run: fetch argument {x!r} of type {type(x).__name__} "
                        "must be a graph tensor or op, or a list/tuple/dict of them")
    return flatten_nested(fetches, out, leaf)


def _where(node: Node) -> str:
    return f" (defined at {format_site(node.site)})" if node.site else ""


def _config_backend(config):
    """The backend a Session's ``config`` asks for: a mapping's ``"backend"`` or an
    object's ``backend`` attribute (None: the process default)."""
    if config is None:
        return None
    if isinstance(config, dict):
        return config.get("backend")
    return getattr(config, "backend", None)


class Session:
    """Runs graphs. ``optimize``: run the compiler passes; ``executor``: "codegen"
    (default) or "interpreter"; ``check``: ``verify`` the program after each pass;
    ``backend`` (or ``config={"backend": ...}``): "numba" (fused kernels), "numpy", or
    None for the process default (``yingshe.backend.jit``: numba when importable)."""

    def __init__(self, graph: Graph | None = None, *, optimize: bool = True,
                 executor: str = "codegen", check: bool = True, config=None,
                 backend: str | None = None) -> None:
        from yingshe.graph.build import get_default_graph
        if executor not in ("codegen", "interpreter"):
            raise ValueError(f"Session: executor must be 'codegen' or 'interpreter', "
                             f"got {executor!r}")
        self.graph = graph or get_default_graph()
        self.optimize = optimize
        self.executor = executor
        self.check = check
        self.backend = backend if backend is not None else _config_backend(config)
        if self.backend is not None:
            from yingshe.backend import jit
            jit.resolve_backend(self.backend)   # an unknown name fails here, not at run
        self._cache: dict = {}
        self._closed = False

    # ---- context manager ----------------------------------------------------------------
    def __enter__(self):
        _session_stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        if _session_stack and _session_stack[-1] is self:
            _session_stack.pop()
        self.close()

    def as_default(self):
        sess = self

        class _Ctx:
            def __enter__(self_inner):
                _session_stack.append(sess)
                return sess

            def __exit__(self_inner, *exc):
                _session_stack.pop()
        return _Ctx()

    def close(self) -> None:
        self._closed = True
        self._cache.clear()

    # ---- feeding ------------------------------------------------------------------------
    def _feed_key(self, key) -> Symbol:
        if isinstance(key, str):
            try:
                key = self.graph.get_tensor_by_name(key if ":" in key else key + ":0")
            except (KeyError, ValueError):
                raise FeedError(f"feed_dict key {key!r} names no tensor of this graph") \
                    from None
        if not isinstance(key, Symbol):
            raise FeedError(f"feed_dict keys must be graph tensors (placeholders) or their "
                            f"names, got {type(key).__name__}: {key!r}")
        if key.graph is not self.graph:
            raise FeedError(f"feed_dict key {key.name} belongs to another graph than this "
                            "session's")
        return key

    @staticmethod
    def _feed_value(key: Symbol, value) -> np.ndarray:
        node = key._gnode
        meta = key._meta
        what = f"placeholder '{key.name}'" if node.kind == "placeholder" else \
            f"tensor '{key.name}'"
        if isinstance(value, Symbol):
            raise FeedError(f"the value fed for {what} is a graph tensor; feed a concrete "
                            "value (run it first)")
        if isinstance(value, Tensor):
            value = value._data
        try:
            arr = np.asarray(value)
        except Exception as err:  # noqa: BLE001
            raise FeedError(f"cannot feed {what}: {err}") from None
        if arr.dtype.kind not in "biuf":
            raise FeedError(f"cannot feed a value of dtype {arr.dtype} to {what} of dtype "
                            f"{meta.dtype.name}{_where(node)}")
        if arr.dtype != meta.dtype.np:
            arr = arr.astype(meta.dtype.np)
        declared = node.attrs.get("shape", meta.shape) if node.kind == "placeholder" \
            else meta.shape
        if declared is not None:
            declared = tuple(declared)
            if arr.ndim != len(declared) or any(
                    d is not None and d != s for d, s in zip(declared, arr.shape)):
                raise FeedError(
                    f"cannot feed a value of shape {shape_str(arr.shape)} for {what}, which "
                    f"has shape {shape_str(declared)}{_where(node)}"
                )
        return arr

    # ---- running ------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Values of ``fetches`` (NumPy arrays; None for ops) in the same structure."""
        if self._closed:
            raise GraphError("attempted to use a closed Session")
        flat: list = []
        rebuild = _flatten(fetches, flat, self.graph)
        for f in flat:
            g = f.graph
            if g is not self.graph:
                raise GraphError(f"fetch {f.name} belongs to another graph than this "
                                 "session's")
        feeds: dict = {}
        for k, v in (feed_dict or {}).items():
            sym = self._feed_key(k)
            feeds[(sym._gnode.id, sym._out_index)] = (sym, self._feed_value(sym, v))
        sig = (tuple((f.id,) if isinstance(f, Node) else (f._gnode.id, f._out_index)
                     for f in flat),
               tuple(sorted((k, v.shape, v.dtype.str) for k, (_, v) in feeds.items())))
        plan = self._cache.get(sig)
        if plan is None:
            plan = self._compile(flat, [s for s, _ in feeds.values()],
                                 {k: v.shape for k, (_, v) in feeds.items()})
            self._cache[sig] = plan
        values = [feeds[k][1] for k in plan.feed_keys]
        outs = plan.fn(values)
        protected = {id(v) for v in values}
        protected.update(id(n.var._data) for n in plan.program.nodes if n.kind == "read")
        res = []
        for o in outs:
            if o is not None and (id(o) in protected or o.base is not None
                                  or not o.flags.writeable):
                o = o.copy()
            res.append(o)
        return rebuild(res)

    def _compile(self, flat, feed_syms, shapes) -> _Plan:
        from yingshe.graph.codegen import generate
        from yingshe.graph.interpreter import run_program
        program, raw, keys, backend = self._program(flat, feed_syms, shapes)
        plan = _Plan()
        plan.program = program
        plan.raw = raw
        plan.feed_keys = keys
        plan.backend = backend
        if self.executor == "codegen":
            plan.fn = generate(program, backend=backend)
        else:
            plan.fn = lambda vals, _p=program: run_program(_p, vals)
        return plan

    def _program(self, flat, feed_syms, shapes):
        """(optimized program, raw program, feed keys, backend) for these fetches/feeds."""
        from yingshe.backend import jit
        from yingshe.graph.passes import optimize, pipeline
        backend = jit.resolve_backend(self.backend) if self.optimize else "numpy"
        # fusion needs the concrete shapes of this run's feeds (a None batch dimension)
        raw, keys = lowered(flat, feed_syms, shapes, concrete=backend == "numba")
        program = raw
        if self.optimize:
            program = optimize(program, passes=pipeline(backend), check=self.check)
        return program, raw, keys, backend

    def explain(self, fetches, feed_dict=None, file=None) -> str:
        """The optimized program and its generated source for these fetches and feeds
        (with the numba backend, each fusion group and its kernel's source)."""
        flat: list = []
        _flatten(fetches, flat, self.graph)
        feeds = {}
        for k, v in (feed_dict or {}).items():
            s = self._feed_key(k)
            feeds[(s._gnode.id, s._out_index)] = (s, self._feed_value(s, v))
        from yingshe.graph.codegen import generate
        program, raw, _, backend = self._program(
            flat, [s for s, _ in feeds.values()], {k: v.shape for k, (_, v) in feeds.items()})
        text = explain_program(raw, program, generate(program, backend=backend))
        if file is not None:
            print(text, file=file)
        return text


def lowered(flat, feed_syms, shapes, concrete: bool = False):
    """Prune to the fetches and expand deferred gradients for these feed shapes;
    returns the program and the feed key of each of its feeds. ``concrete``: also
    re-infer every node for these shapes when some dimension is unknown (``None``)."""
    from yingshe.graph.passes import key_of, prune
    from yingshe.graph.passes.lower import has_deferred, lower
    program = prune(flat, feed_syms)
    if has_deferred(program) or (concrete and any(
            d is None for n in program.nodes for m in n.metas for d in m.shape)):
        return lower(program, shapes)
    return program, [key_of(s) for s in program.feeds]


def explain_program(raw, program, fn) -> str:
    """What the compiler made of ``raw``: the passes' counts, the nodes, each fusion
    group and its kernel (numba), and the generated source of ``fn``."""
    from yingshe.graph.passes import describe_stats
    lines = [f"program: {len(raw.nodes)} nodes before the passes, {len(program.nodes)} after"]
    if program.stats:
        lines.append(f"  passes: {describe_stats(program.stats) or 'nothing changed'}")
    lines.append("nodes:")
    for n in program.nodes:
        ins = ", ".join(x.name if isinstance(x, Symbol) else repr(x) for x in n.inputs)
        metas = ", ".join(f"{shape_str(m.shape)} {m.dtype.name}" for m in n.metas)
        site = f"  @ {format_site(n.site)}" if n.site else ""
        lines.append(f"  {n.name} = {n.type}({ins}) -> {metas}{site}")
    stats = getattr(fn, "kernel_stats", None)
    if stats is not None:
        lines.append(f"fusion groups: {len(stats.kernels)} numba kernels, "
                     f"{stats.library_calls} library calls; kernels compiled (or loaded "
                     f"from the cache) in {stats.compile_s:.3f} s")
        for name, group, source in stats.kernels:
            ops = ", ".join(f"{m.name} ({m.op.name})" for m in group.members)
            lines.append(f"  {name}: {shape_str(group.shape)}: {ops}")
            lines += ["    " + ln for ln in source.splitlines()]
    lines.append("generated source:")
    lines.append(fn.source)
    return "\n".join(lines)


class InteractiveSession(Session):
    """A Session that installs itself as the default on creation (TF1)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _session_stack.append(self)

    def close(self) -> None:
        if self in _session_stack:
            _session_stack.remove(self)
        super().close()


_ = _dtype
