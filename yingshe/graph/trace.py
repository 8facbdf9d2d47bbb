"""``yingshe.compile``: trace an eager Python function into a graph, compile it, cache it.

    >>> import yingshe
    >>> @yingshe.compile
    ... def f(x):
    ...     return (x * 2).sum()
    >>> f(yingshe.ones(3)).item()
    6.0

On a call with a new input signature (shapes and dtypes of tensor arguments, values
of the others) the function runs once with a ``Tracer`` installed as
``MODE.tracer``: every op call adds a node to a private graph instead of computing.
The graph is compiled by the same pipeline as ``Session.run`` (prune, fold, CSE,
simplify, DCE, code generation) and cached; later calls with that signature run the
generated function and return eager tensors.

Capture rules (what makes a whole eager training step compile):

* tensor arguments become placeholders; Python values are static (part of the key);
* an eager tensor read while tracing is a *read by identity* (its value at each call,
  never a copy) when it is a ``yingshe.state.Variable`` (parameters), a leaf that
  requires grad, optimizer state, or anything the function updates in place
  (buffers such as BatchNorm's running statistics); any other eager tensor becomes a
  constant;
* in-place updates (``commit``: optimizer steps, ``add_``, ``copy_``) of such tensors
  become ordered ``assign`` nodes that write into the same arrays eager code sees;
* ``loss.backward()`` on a traced loss adds symbolic gradient nodes
  (``yingshe.graph.gradients``, the ops' own VJPs) with respect to every captured
  tensor that requires grad, accumulated into ``.grad`` as eager does (onto an
  existing ``.grad``, or replacing it after ``zero_grad()``); the compiled program
  returns them and ``.grad`` holds concrete tensors after each call;
* numeric optimizer hyper-parameters (``group["lr"]``, betas, eps, momentum ...) and
  Adam's step count are *runtime inputs*: while tracing they are ``HyperFloat``s
  (floats that remember how to re-read their value), and the scalar an op receives is
  recomputed from ``param_groups`` at every call, so ``g["lr"] *= 0.1`` and
  schedulers take effect without re-tracing. A Python comparison on one
  (``if weight_decay != 0``) is recorded as a guard; a call where it would go the other
  way re-traces;
* random ops draw from the framework generator at run time, in eager order;
* outputs that depend on tensors requiring grad (a compiled ``model.forward`` under
  grad mode, no ``backward()`` inside) are differentiable from outside: the eager tape
  gets one node whose backward runs a compiled gradient program, fed with the forward
  values it needs (never a re-run of the forward: dropout masks are not redrawn);
  ``create_graph=True`` through it is refused;
* ``.item()``, ``bool()``, ``float()`` or control flow on a traced value raises
  ``TraceError`` naming the line; with ``fallback="eager"`` the function runs eagerly
  instead (one warning per function).

Optimizer state is created lazily by the first ``step()``; a trace that meets a
parameter without state is abandoned and that call runs eagerly (creating the
state), and the next call traces. Limitations (documented, not silent where
detectable): Python side effects of the function (a counter, ``scheduler.step()``
inside it) happen only when it is traced; a second ``step()`` of the same optimizer
in one traced call is refused; after ``load_state_dict`` on an optimizer or model
whose tensors are replaced, call ``compiled.reset()``.
"""

from __future__ import annotations

import builtins
import functools
import math
import operator
import warnings

import numpy as np

from yingshe import _dtype
from yingshe._tensor import MODE, Tensor, _wrap
from yingshe.autograd.function import Function
from yingshe.errors import format_site, user_site
from yingshe.graph import build
from yingshe.graph.ir import (KEEP, STOP_GRADIENT, Graph, GraphError, Node, Symbol,
                              flatten_nested)
from yingshe.ops._shapes import Meta, shape_str

__all__ = ["compile", "CompiledFunction", "Tracer", "TraceError", "HyperFloat"]


class TraceError(GraphError):
    """A traced function needs a concrete value (``.item()``, ``bool()``, control flow)."""


class _StateNotReady(Exception):
    """Raised inside a trace when an optimizer step meets a parameter without state."""


# ---- hyper-parameters as runtime inputs ------------------------------------------------------

_OPS = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
        operator.pow: "**", operator.eq: "==", operator.ne: "!=", operator.lt: "<",
        operator.le: "<=", operator.gt: ">", operator.ge: ">="}


class Src:
    """How generated code computes a runtime value: a Python expression ``code`` over the
    objects in ``env`` (names unique to those objects), e.g. ``float(_g1['lr'])``.
    ``leaves`` are the reads of runtime state inside it (a group's value, a step counter),
    which generated code evaluates once per call however many expressions use them."""

    __slots__ = ("code", "env", "leaves")

    def __init__(self, code: str, env: dict | None = None, leaves: tuple = ()) -> None:
        self.code = code
        self.env = env or {}
        self.leaves = leaves

    @staticmethod
    def of(obj, prefix: str, code: str, leaf: bool = False) -> "Src":
        """``code`` with ``{}`` standing for ``obj`` (bound under a name unique to it);
        ``leaf``: a read of runtime state."""
        name = f"_{prefix}{id(obj)}"
        code = code.format(name)
        return Src(code, {name: obj}, (code,) if leaf else ())

    def wrap(self, template: str, env: dict | None = None) -> "Src":
        """``template`` with ``{}`` standing for this expression."""
        return Src(template.format(self.code), {**self.env, **(env or {})}, self.leaves)

    @staticmethod
    def value(v) -> "Src":
        if isinstance(v, HyperFloat):
            return v.src
        if v is None or isinstance(v, bool) or (isinstance(v, (int, float))
                                                 and math.isfinite(v)):
            return Src(repr(v))
        return Src.of(v, "v", "{}")

    def combine(self, other: "Src", op) -> "Src":
        return Src(f"({self.code} {_OPS[op]} {other.code})", {**self.env, **other.env},
                   tuple(dict.fromkeys(self.leaves + other.leaves)))


class HyperFloat(float):
    """A float (its value at trace time) that remembers how to recompute itself at each
    call: ``fn()``, or the expression ``src`` that generated code evaluates inline.
    Arithmetic with numbers gives another ``HyperFloat``; comparisons give plain bools
    and are recorded as guards of the trace."""

    __slots__ = ("fn", "_src")

    def __new__(cls, value, fn, src: Src | None = None):
        obj = float.__new__(cls, value)
        obj.fn = fn
        obj._src = src
        return obj

    @property
    def src(self) -> Src:
        """The expression generated code evaluates (a call of ``fn`` if none was given)."""
        if self._src is None:
            return Src.of(self.fn, "f", "{}()")
        return self._src

    def _bin(self, other, op, reverse=False):
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            return NotImplemented
        a, b = (other, self) if reverse else (self, other)
        fa = a.fn if isinstance(a, HyperFloat) else (lambda v=a: v)
        fb = b.fn if isinstance(b, HyperFloat) else (lambda v=b: v)
        value = op(float(a) if isinstance(a, HyperFloat) else a,
                   float(b) if isinstance(b, HyperFloat) else b)
        return HyperFloat(value, lambda: op(fa(), fb()), Src.value(a).combine(Src.value(b), op))

    def __add__(self, o): return self._bin(o, operator.add)  # noqa: E704
    def __radd__(self, o): return self._bin(o, operator.add, True)  # noqa: E704
    def __sub__(self, o): return self._bin(o, operator.sub)  # noqa: E704
    def __rsub__(self, o): return self._bin(o, operator.sub, True)  # noqa: E704
    def __mul__(self, o): return self._bin(o, operator.mul)  # noqa: E704
    def __rmul__(self, o): return self._bin(o, operator.mul, True)  # noqa: E704
    def __truediv__(self, o): return self._bin(o, operator.truediv)  # noqa: E704
    def __rtruediv__(self, o): return self._bin(o, operator.truediv, True)  # noqa: E704
    def __pow__(self, o): return self._bin(o, operator.pow)  # noqa: E704
    def __rpow__(self, o): return self._bin(o, operator.pow, True)  # noqa: E704

    def __neg__(self):
        f = self.fn
        return HyperFloat(-float(self), lambda: -f(), self.src.wrap("(-{})"))

    def __pos__(self):
        return self

    def sqrt(self):
        """``math.sqrt`` that stays a runtime input (``math.sqrt`` itself would not)."""
        f = self.fn
        return HyperFloat(math.sqrt(float(self)), lambda: math.sqrt(f()),
                          self.src.wrap("_sqrt({})", {"_sqrt": math.sqrt}))

    def _cmp(self, other, op):
        result = op(float(self), float(other) if isinstance(other, HyperFloat) else other)
        tracer = MODE.tracer
        if isinstance(tracer, Tracer) and result is not NotImplemented:
            fa = self.fn
            fb = other.fn if isinstance(other, HyperFloat) else (lambda v=other: v)
            tracer.guards.append(Guard(lambda: op(fa(), fb()), result,
                                       self.src.combine(Src.value(other), op)))
        return result

    def __eq__(self, o): return self._cmp(o, operator.eq)  # noqa: E704
    def __ne__(self, o): return self._cmp(o, operator.ne)  # noqa: E704
    def __lt__(self, o): return self._cmp(o, operator.lt)  # noqa: E704
    def __le__(self, o): return self._cmp(o, operator.le)  # noqa: E704
    def __gt__(self, o): return self._cmp(o, operator.gt)  # noqa: E704
    def __ge__(self, o): return self._cmp(o, operator.ge)  # noqa: E704
    __hash__ = float.__hash__

    def __bool__(self):
        return self._cmp(0.0, operator.ne)


class Guard:
    """A condition of a trace: ``fn()`` (or the expression ``src``) must equal ``want``
    for a call to reuse the program; otherwise the call re-traces."""

    __slots__ = ("fn", "want", "src")

    def __init__(self, fn, want, src: Src | None = None) -> None:
        self.fn = fn
        self.want = want
        self.src = src

    def ok(self) -> bool:
        try:
            return self.fn() == self.want
        except Exception:  # noqa: BLE001 - a guard that cannot be evaluated fails
            return False


def hyper_sqrt(x):
    """``math.sqrt`` that keeps a ``HyperFloat`` a runtime input (used by optimizers)."""
    return x.sqrt() if isinstance(x, HyperFloat) else math.sqrt(x)


def _group_value(group, key, index=None) -> HyperFloat:
    """The number ``group[key]`` (or ``group[key][index]``) as a runtime input."""
    if index is None:
        return HyperFloat(group[key], lambda: float(group[key]),
                          Src.of(group, "g", "float({}[%r])" % (key,), leaf=True))
    return HyperFloat(group[key][index], lambda: float(group[key][index]),
                      Src.of(group, "g", "float({}[%r][%d])" % (key, index), leaf=True))


def _fresh(x):
    """A new Symbol object for the same graph value (non-symbols pass unchanged)."""
    if isinstance(x, Symbol):
        return Symbol._make(x._gnode, x._out_index, x._meta)
    if isinstance(x, (list, tuple)):
        return type(x)(_fresh(e) for e in x)
    return x


# ---- the tracer --------------------------------------------------------------------------------

class _GradSlot:
    """Reads the current ``.grad`` of a tensor at run time (for accumulation)."""

    __slots__ = ("t", "name")

    def __init__(self, t) -> None:
        self.t = t
        self.name = "grad"

    @property
    def _data(self):
        g = self.t.grad
        if g is None:
            raise RuntimeError("yingshe.compile: a .grad that existed when the function was "
                               "traced is None now (guard failed to re-trace)")
        return g._data


def add_fresh(graph: Graph, op, symbols, attrs, grad: bool = False):
    """Add ``op`` on ``symbols`` to ``graph``; returns fresh symbol objects. The graph keeps
    symbols of its own: an in-place op on a traced temporary rebinds the caller's symbol
    object (``rebind``), never a node's input or output."""
    out = build._add(op, tuple(_fresh(x) for x in symbols), attrs, graph,
                     site=user_site(3), grad=grad)
    return tuple(_fresh(o) for o in out) if isinstance(out, tuple) else _fresh(out)


def rebind(t: Symbol, value: Symbol) -> Symbol:
    """An in-place op on a traced temporary: ``t`` now stands for ``value`` (cast and
    broadcast to ``t``'s dtype and shape, as an in-place write would)."""
    if tuple(value.shape) != tuple(t.shape) or value.dtype != t.dtype:
        value = value.to(t.dtype).expand(*t.shape)
    t._gnode, t._out_index, t._meta = value._gnode, value._out_index, value._meta
    return t


class Tracer:
    """Installed as ``MODE.tracer`` while a function is traced (see the module doc)."""

    def __init__(self, state_ids=frozenset(), local_writes: bool = False) -> None:
        self.graph = Graph()
        # in-place writes to constants not in ``state_ids`` are to tensors the function
        # created (see ``CompiledFunction._trace``)
        self.local_writes = local_writes
        self.current: dict[int, Symbol] = {}   # id(eager tensor) -> its current symbol
        self.captured: dict[int, Tensor] = {}  # read by identity
        self.reads: dict[int, Symbol] = {}     # id(captured tensor) -> its first read
        self.detached: list[Tensor] = []       # non-leaf tensors with a history, as constants
        self.const_ids: set[int] = set()       # captured as constants
        self.state_ids = set(state_ids)        # ids to read by identity (from a re-trace)
        self.assigned: dict[int, Tensor] = {}
        self.assigns: list[Node] = []
        self.feeds: list = []                  # (placeholder symbol, its HyperFloat)
        self.hyper_syms: dict[int, Symbol] = {}
        self.guards: list = []
        self.grad_snapshot: dict[int, tuple] = {}  # id -> (tensor, .grad before the trace)
        self.grad_reset: set[int] = set()
        self.no_grad_nodes: list[Symbol] = []
        self.stepped: set[int] = set()
        self.keep: list = []  # objects whose ids are used as keys stay alive
        self.did_backward = False
        # writes through views are refused (see ``assign``): id(view) -> (its base, the
        # base's count of in-place writes when the view was taken); id(base) -> count
        self.views: dict[int, tuple] = {}
        self.writes: dict[int, int] = {}
        # eager's saved-tensor version check (see ``check_saved_versions``): per traced op
        # call that saves tensors for its gradient, (graph node, op, the graph node ids of
        # its inputs, [(input index or None for an output, tensor, key, count)])
        self.saved: list[tuple] = []

    # ---- inputs -------------------------------------------------------------------------
    def placeholder(self, t: Tensor, name: str) -> Symbol:
        meta = Meta(tuple(t._data.shape), _dtype.from_numpy_dtype(t._data.dtype))
        node = self.graph.add_node("placeholder", None, (), {"shape": meta.shape,
                                                              "dtype": meta.dtype},
                                   (meta,), name=name)
        return node.outputs[0]

    def _snapshot_grad(self, t) -> None:
        if id(t) not in self.grad_snapshot:
            self.grad_snapshot[id(t)] = (t, t.grad)

    def _is_state(self, t: Tensor) -> bool:
        from yingshe.state import Variable
        return (isinstance(t, Variable) or id(t) in self.state_ids
                or (t.requires_grad_flag and t._node is None))

    def sym(self, x):
        """The symbol standing for ``x`` in the trace (non-tensors pass unchanged)."""
        if isinstance(x, Symbol):
            if x._gnode.graph is not self.graph:
                raise TraceError(f"{x._describe()} belongs to a static graph, not to this "
                                 "yingshe.compile trace")
            if self.views and id(x) in self.views:
                base, n = self.views[id(x)]
                if self.writes.get(id(base), 0) != n:
                    raise self._view_error(
                        "a view read after its base was changed in place (eagerly the view "
                        "would show the new values)")
            return x
        if isinstance(x, Tensor):
            s = self.current.get(id(x))
            if s is not None:
                return s
            if x._data is None:
                raise TraceError("a tensor without data was used while tracing")
            if self._is_state(x):
                meta = Meta(tuple(x._data.shape), _dtype.from_numpy_dtype(x._data.dtype))
                node = self.graph.add_node("read", None, (), {}, (meta,),
                                           name=(getattr(x, "_name", None) or "state") + "/read",
                                           site=user_site(3), var=x)
                s = node.outputs[0]
                self.captured[id(x)] = x
                self.reads[id(x)] = s
                self._snapshot_grad(x)
            else:
                s = build._constant_node(self.graph, np.array(x._data, copy=True),
                                         site=user_site(3))
                self.const_ids.add(id(x))
                if x.requires_grad_flag and MODE.grad_enabled:
                    self.detached.append(x)
            self.keep.append(x)
            self.current[id(x)] = s
            return s
        if isinstance(x, HyperFloat):
            s = self.hyper_syms.get(id(x))
            if s is None:
                meta = Meta((), _dtype.float64)
                node = self.graph.add_node("placeholder", None, (),
                                           {"shape": (), "dtype": _dtype.float64,
                                            "hyper": True}, (meta,), name="hyper")
                s = node.outputs[0]
                self.hyper_syms[id(x)] = s
                self.keep.append(x)
                self.feeds.append((s, x))
            return s
        if isinstance(x, (list, tuple)) and any(isinstance(e, (Tensor, HyperFloat)) for e in x):
            return type(x)(self.sym(e) for e in x)
        return x

    # ---- the hooks called by the engine -------------------------------------------------------
    def apply(self, op, inputs, attrs):
        for k, v in attrs.items():
            if isinstance(v, HyperFloat):  # a static attribute: guard its value
                f = v.fn
                self.guards.append(Guard(lambda f=f, v=float(v): f() == v, True,
                                         v.src.combine(Src.value(float(v)), operator.eq)))
        syms = [self.sym(x) for x in inputs]
        out = add_fresh(self.graph, op, syms, attrs, grad=build._building_grad[0])
        if MODE.grad_enabled and op.differentiable and not build._building_grad[0]:
            self._note_saved(op, inputs, syms, out)
        if op.view and isinstance(inputs[0], Tensor):
            base = self.views.get(id(inputs[0]), (inputs[0],))[0]
            n = self.writes.get(id(base), 0)
            for o in (out if isinstance(out, tuple) else (out,)):
                self.views[id(o)] = (base, n)
                self.keep.append(o)
            self.keep.append(base)
        if not MODE.grad_enabled:   # copies: the caller may rebind the symbols it gets
            kept = _fresh(out)
            self.no_grad_nodes.extend(kept if isinstance(kept, tuple) else (kept,))
        return out

    def _write_key(self, t):
        """What an in-place write to ``t`` counts against: its base when ``t`` is a view
        (eager views share their base's version counter)."""
        base = self.views.get(id(t), (t,))[0]
        return id(base)

    def _note_saved(self, op, inputs, syms, out) -> None:
        """Remember the write counts of what ``op`` saves for its gradient, as eager's tape
        remembers versions, so a gradient through it after an in-place change raises as
        eagerly (the traced graph itself is functional and would compute on regardless)."""
        outs = out if isinstance(out, tuple) else (out,)
        checks = []
        if op.save_inputs:
            for i, x in enumerate(inputs):
                if isinstance(x, Tensor):
                    key = self._write_key(x)
                    checks.append((i, x, key, self.writes.get(key, 0)))
        if op.save_output and op.check_outputs:
            for o in outs:
                key = self._write_key(o)
                checks.append((None, o, key, self.writes.get(key, 0)))
        if checks:
            ids = tuple(s._gnode.id if isinstance(s, Symbol) else None for s in syms)
            self.saved.append((outs[0]._gnode, op, ids, checks))
            self.keep.extend(c[1] for c in checks)

    def alias(self, t):
        """What an in-place op's own computation reads: ``t``'s value under another
        name, so the write that ends the op does not make what that computation saved
        stale (eagerly it reads an alias or snapshot with a version of its own)."""
        return _fresh(self.sym(t))

    def _written_by(self, value, t) -> None:
        """The op that computed an in-place write's value may read the target itself
        (``x.mul_(y)`` is mul(x, y) written into x): eagerly it reads an alias with a
        version of its own, so the write does not make its saved ``x`` stale; later
        writes still do."""
        if not isinstance(value, Symbol) or not self.saved:
            return
        key = self._write_key(t)
        for k in range(len(self.saved) - 1, -1, -1):
            node, op, ids, checks = self.saved[k]
            if node is value._gnode:
                self.saved[k] = (node, op, ids, [
                    (i, x, kk, self.writes.get(kk, 0) if kk == key else n)
                    for i, x, kk, n in checks])
                return

    def check_saved_versions(self, ys, xs) -> None:
        """Called by ``gradients`` before it builds a gradient inside this trace: raise
        eager's error when a tensor saved by an op on the way from ``xs`` to ``ys`` was
        changed in place after the op read it (``y = x ** 2; x.add_(1); y.backward()``)."""
        if not self.saved:
            return
        from yingshe.graph.gradients import _ancestors
        above = {n.id for n in _ancestors(ys)}
        live = {x._gnode.id for x in xs if isinstance(x, Symbol)}
        for n in self.graph.nodes:      # in creation order: producers first
            if n.id in above and n.id not in live and any(
                    isinstance(x, Symbol) and x._gnode.id in live for x in n.inputs):
                live.add(n.id)
        for node, op, ids, checks in self.saved:
            if node.id not in live or node.id not in above:
                continue
            for i, t, key, count in checks:
                now = self.writes.get(key, 0)
                if now == count:
                    continue
                if i is not None and op.saves == "other" and not any(
                        j != i and k in live for j, k in enumerate(ids)):
                    continue   # read only for another input's gradient, which none needs
                what = ("the output" if i is None
                        else f"input of shape {shape_str(tuple(t.shape))}")
                where = f" created at {format_site(node.site)}" if node.site else ""
                raise RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified "
                    f"by an in-place operation: {what} of op '{op.name}'{where} was changed "
                    f"in place {now - count} time(s) after the op saved it (inside "
                    "yingshe.compile, as eagerly). Make a copy (x.clone()) before changing it "
                    "in place.")

    def assign(self, t, result, opname):
        if id(t) in self.views:
            raise self._view_error(f"{opname}: an in-place write through a view (the result "
                                   "of x[...], view(), t(), diagonal() ...)")
        self.writes[id(t)] = self.writes.get(id(t), 0) + 1
        value = self.sym(result)
        self._written_by(value, t)
        if isinstance(t, Symbol):  # a traced temporary: rebind it to the new value
            return rebind(t, value)
        # a tensor first captured as a constant and now updated in place must be read
        # by identity: ``CompiledFunction._trace`` re-traces with it marked as state
        prev = self.sym(t)
        meta = prev._meta
        if self.local_writes and id(t) in self.const_ids and id(t) not in self.state_ids:
            # made by the function itself (a new tensor at each trace: ``c = zeros(());
            # c += x``): nothing outside sees it, so it is a traced temporary
            if tuple(value.shape) != tuple(meta.shape) or value.dtype != meta.dtype:
                value = value.to(meta.dtype).expand(*meta.shape)
            self.current[id(t)] = _fresh(value)
            return t
        node = self.graph.add_node("assign", None, (value,), {"mode": "set"}, (meta,),
                                   name=opname, site=user_site(3), var=t)
        self.assigns.append(node)
        self.assigned[id(t)] = t
        self.keep.append(t)
        same = tuple(value.shape) == tuple(meta.shape) and value.dtype == meta.dtype
        self.current[id(t)] = _fresh(value) if same else node.outputs[0]
        return t

    def backward(self, loss: Symbol, gradient=None, retain_graph=None, create_graph=False,
                 inputs=None):
        from yingshe.graph.gradients import gradients
        self.did_backward = True
        if inputs is not None:
            targets = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            for t in targets:
                self.sym(t)
        else:
            targets = [t for t in self.captured.values()
                       if t.requires_grad_flag and t._node is None]
        if gradient is None and loss.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        syms = [self.sym(t) for t in targets]
        gys = None if gradient is None else [self.sym(gradient)]
        stops = [s for s in self.no_grad_nodes]
        grads = gradients([loss], syms, grad_ys=gys, stop_gradients=stops or None)
        for t, g in zip(targets, grads):
            if g is None:
                continue
            old = t.grad
            if old is None:
                self._snapshot_grad(t)
                if self.grad_snapshot[id(t)][1] is None and id(t) not in self.grad_reset:
                    self.guards.append(Guard(lambda t=t: t.grad is None, True,
                                             Src.of(t, "t", "({}.grad is None)")))
                t.grad = _fresh(g)
            elif isinstance(old, Symbol):
                t.grad = old + g
            else:
                self._snapshot_grad(t)
                self.guards.append(Guard(lambda t=t: t.grad is None, False,
                                         Src.of(t, "t", "({}.grad is None)")))
                self.guards.append(Guard(lambda t=t: tuple(t.grad.shape) if t.grad
                                         is not None else None, tuple(old.shape),
                                         Src.of(t, "t", "{}.grad._data.shape")))
                meta = Meta(tuple(old._data.shape), _dtype.from_numpy_dtype(old._data.dtype))
                node = self.graph.add_node("read", None, (), {}, (meta,), name="grad/read",
                                           var=_GradSlot(t))
                t.grad = node.outputs[0] + g
        # post-accumulate-grad hooks see the traced .grad and may replace it (DDP's
        # all-reduces become nodes of the program, before the optimizer reads .grad)
        from yingshe.autograd import run_post_accumulate_hooks
        run_post_accumulate_hooks([t for t, g in zip(targets, grads) if g is not None])

    # ---- optimizer hooks ------------------------------------------------------------------
    def optimizer_groups(self, opt) -> list:
        """Copies of ``opt.param_groups`` whose numbers are ``HyperFloat``s; marks the
        optimizer's state as read by identity; refuses a missing state (run eagerly)."""
        if id(opt) in self.stepped:
            raise TraceError("yingshe.compile: step() of the same optimizer twice in one "
                             "traced call is not supported")
        self.stepped.add(id(opt))
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None and p not in opt.state:
                    raise _StateNotReady()
        for s in opt.state.values():
            for v in s.values():
                if isinstance(v, Tensor) and not isinstance(v, Symbol):
                    self.state_ids.add(id(v))
        out = []
        for group in opt.param_groups:
            g = dict(group)
            for key, v in group.items():
                if isinstance(v, bool) or key == "params":
                    continue
                if isinstance(v, (int, float)):
                    g[key] = _group_value(group, key)
                elif isinstance(v, tuple) and v and all(
                        isinstance(e, (int, float)) and not isinstance(e, bool) for e in v):
                    g[key] = tuple(_group_value(group, key, i) for i in range(len(v)))
            out.append(g)
        return out

    def step_count(self, step_t) -> HyperFloat:
        """The step number an optimizer update uses: the counter's value at the start of
        the call, plus one (the increment the update records)."""
        if id(step_t) in self.assigned:
            raise TraceError("yingshe.compile: a step counter updated twice in one call")
        self.state_ids.add(id(step_t))
        return HyperFloat(float(step_t._data) + 1.0, lambda: float(step_t._data) + 1.0,
                          Src.of(step_t, "s", "(float({}._data) + 1.0)", leaf=True))

    def note_grad_reset(self, p) -> None:
        self._snapshot_grad(p)
        self.grad_reset.add(id(p))

    def restore(self) -> None:
        """Undo what tracing did to ``.grad`` attributes (an abandoned trace)."""
        for t, g in self.grad_snapshot.values():
            t.grad = g

    # ---- errors ---------------------------------------------------------------------------------
    def _view_error(self, what: str) -> TraceError:
        """Writes through views are not traced: a graph value has no memory to share, so
        the base would silently keep its old value."""
        site = user_site(3)
        where = f" at {format_site(site)}" if site else ""
        return TraceError(
            f"yingshe.compile: {what}{where} is not supported inside a compiled function. "
            "Write the update out of place (index_put, where, slice_scatter, "
            "diagonal_scatter), or compile with fallback=\"eager\" to run the function "
            "eagerly")

    def no_value(self, what: str, sym: Symbol):
        site = user_site(3)
        where = f" at {format_site(site)}" if site else ""
        return TraceError(
            f"{what} on a traced value{where} inside a yingshe.compile'd function: the value "
            "does not exist while the function is traced. Return the tensor and read it "
            "after the call, express the branch with tensor ops (yingshe.where), or compile "
            "with fallback=\"eager\" to run this function eagerly"
        )


# ---- the compiled function --------------------------------------------------------------------

def _flatten_out(obj, out: list, tracer: Tracer):
    """Flatten outputs (tensors become their symbols, anything else is returned as is);
    returns a function rebuilding the structure from values."""
    return flatten_nested(obj, out,
                          lambda x: tracer.sym(x) if isinstance(x, Tensor) else KEEP)


class _Entry:
    __slots__ = ("fn", "program", "raw", "feed_keys", "n_args", "extra", "n_out", "rebuild",
                 "grads", "guards", "feed_fns", "feed_srcs", "protected", "backward", "single",
                 "call")


def _signature(args, kwargs):
    def key(x):
        if isinstance(x, Tensor):
            if x._data is None:
                raise TypeError("yingshe.compile: pass eager tensors, not graph tensors")
            # requires_grad decides whether the program also has a backward
            return ("T", x._data.shape, x._data.dtype.str, x.requires_grad_flag)
        if isinstance(x, (list, tuple)):
            return (type(x).__name__,) + tuple(key(e) for e in x)
        if isinstance(x, dict):
            return ("dict",) + tuple((k, key(x[k])) for k in sorted(x, key=str))
        try:
            hash(x)
            return ("V", type(x).__name__, x)
        except TypeError:
            return ("id", id(x))
    return (tuple(key(a) for a in args), tuple((k, key(v)) for k, v in sorted(kwargs.items())))


def _tensor_leaves(obj, out: list):
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for e in obj:
            _tensor_leaves(e, out)
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            _tensor_leaves(obj[k], out)


def _replace_leaves(obj, it):
    if isinstance(obj, Tensor):
        return next(it)
    if isinstance(obj, (list, tuple)):
        vals = [_replace_leaves(e, it) for e in obj]
        return type(obj)(*vals) if hasattr(obj, "_fields") else type(obj)(vals)
    if isinstance(obj, dict):
        return {k: _replace_leaves(obj[k], it) for k in sorted(obj, key=str)}
    return obj


_MISS = object()
_SIMPLE = (bool, int, float, str, type(None))


def _owned_src(o: str, arrays: list[str]) -> str:
    """Source making ``o`` an array the caller may own (``_owned``, inlined)."""
    same = "".join(f" or {o} is {a}" for a in arrays)
    return (f"    if {o}.base is not None or not {o}.flags.writeable{same}:\n"
            f"        {o} = {o}.copy()")


def fast_call(entry, args, kwargs, grad_mode: bool, run):
    """Generate ``call(args, kwargs)`` for ``entry``: the whole per-call path of a
    compiled function in one function, or None when the arguments are nested (lists or
    dicts of tensors take the general path).

    It checks, in one pass and in this order, what decides that the entry serves the
    call: the number of arguments, no active trace, grad mode, each tensor's class,
    shape, dtype and ``requires_grad``, each other argument's value, then the trace's
    guards (hyper-parameter comparisons, ``.grad`` presence, parameters' requires_grad);
    any mismatch returns ``_MISS`` (the caller takes the general path). It then reads
    the hyper-parameters inline (``float(group['lr'])``), calls the program with
    positional feeds and binds outputs and ``.grad`` directly."""
    names = sorted(kwargs)
    values = list(args) + [kwargs[k] for k in names]
    if any(isinstance(v, (list, tuple, dict)) and not _is_static(v) for v in values):
        return None
    env = {"MISS": _MISS, "MODE": MODE, "wrap": _wrap, "run": run, "entry": entry}
    ln = [f"def call(args, kwargs):",
          f"    if len(args) != {len(args)} or MODE.tracer is not None or "
          f"MODE.grad_enabled is not {bool(grad_mode)}:",
          "        return MISS"]
    if names:
        ln += [f"    if len(kwargs) != {len(names)}:", "        return MISS"]
        ln += ["    try:"]
        ln += [f"        a{len(args) + j} = kwargs[{k!r}]" for j, k in enumerate(names)]
        ln += ["    except KeyError:", "        return MISS"]
    else:
        ln += ["    if kwargs:", "        return MISS"]
    if args:
        ln.append(f"    {', '.join(f'a{i}' for i in range(len(args)))}, = args")
    arrays = []
    conds = []
    for i, v in enumerate(values):
        a = f"a{i}"
        if isinstance(v, Tensor):
            env[f"C{i}"] = v.__class__
            env[f"DT{i}"] = v._data.dtype
            conds.append(f"{a}.__class__ is not C{i}")
            arrays.append(f"d{i}")
        elif _is_static(v):
            env[f"T{i}"], env[f"V{i}"] = type(v), v
            conds.append(f"{a}.__class__ is not T{i} or {a} != V{i}")
        else:
            env[f"V{i}"] = v
            conds.append(f"{a} is not V{i}")
    if conds:
        ln += [f"    if {' or '.join(conds)}:", "        return MISS"]
    tconds = []
    for i, v in enumerate(values):
        if isinstance(v, Tensor):
            ln.append(f"    d{i} = a{i}._data")
            tconds.append(f"d{i}.shape != {tuple(v._data.shape)!r} or "
                          f"(d{i}.dtype is not DT{i} and d{i}.dtype != DT{i}) or "
                          f"a{i}.requires_grad_flag is not {bool(v.requires_grad_flag)}")
    if tconds:
        ln += ["    if (" + "\n            or ".join(tconds) + "):", "        return MISS"]
    # the runtime values: guards and hyper-parameter feeds, every read of runtime state
    # (a group's lr, a step counter) once, every distinct expression once
    gsrcs = [g.src if g.src is not None else Src.of(g.fn, "f", "{}()") for g in entry.guards]
    fsrcs = [entry.feed_srcs[i] for i in entry.feed_keys]
    used = gsrcs + [f for f in fsrcs if f is not None]
    leaves = list(dict.fromkeys(leaf for src in used for leaf in src.leaves))
    for src in used:
        env.update(src.env)

    def local(code: str) -> str:
        for j, leaf in enumerate(leaves):
            code = code.replace(leaf, f"h{j}")
        return code

    exprs = {}       # distinct feed expression -> its local
    feeds = []
    tensors = [f"d{i}" for i, v in enumerate(values) if isinstance(v, Tensor)]
    for i, src in zip(entry.feed_keys, fsrcs):
        if src is None:
            feeds.append(tensors[i])
        else:
            code = local(src.code)
            feeds.append(code if code.isidentifier() else
                         exprs.setdefault(code, f"e{len(exprs)}"))
    gconds = {}   # one check per distinct condition (optimizers repeat theirs per parameter)
    for g, src in zip(entry.guards, gsrcs):
        code = local(src.code)
        for e, name in sorted(exprs.items(), key=lambda kv: -len(kv[0])):
            code = code.replace(e, name)
        if g.want is True or g.want is False:
            gconds[f"{code} is not {g.want}"] = None
        else:
            want = Src.value(g.want)
            env.update(want.env)
            gconds[f"{code} != {want.code}"] = None
    if leaves or exprs or gconds:
        ln.append("    try:")
        ln += [f"        h{j} = {leaf}" for j, leaf in enumerate(leaves)]
        ln += [f"        {name} = {e}" for e, name in exprs.items()]
        if gconds:
            ln += ["        if (" + "\n                or ".join(gconds) + "):",
                   "            return MISS"]
        ln += ["    except Exception:", "        return MISS"]
    if entry.backward is not None:   # outputs with a history: the general run
        ln.append("    return run(entry, args, kwargs)")
        return _compile_call(ln, env)
    env["BODY"] = entry.fn.body
    ln.append(f"    outs = BODY({', '.join(feeds)})")
    for j in range(entry.n_out):
        ln.append(f"    o{j} = outs[{j}]")
        ln.append(_owned_src(f"o{j}", arrays))
    for k, (t, i) in enumerate(entry.grads):
        env[f"P{k}"] = t
        if i is None:
            ln.append(f"    P{k}.grad = None")
        else:
            ln.append(f"    g{k} = outs[{i}]")
            ln.append(_owned_src(f"g{k}", []))
            ln.append(f"    P{k}.grad = wrap(g{k})")
    res = ", ".join(f"wrap(o{j})" for j in range(entry.n_out))
    if entry.single:
        ln.append(f"    return {res}")
    else:
        env["rebuild"] = entry.rebuild
        ln.append(f"    return rebuild([{res}])")
    return _compile_call(ln, env)


def _is_static(v) -> bool:
    """A value the signature compares by value (a number, a string, None, or a tuple of
    them)."""
    if isinstance(v, tuple):
        return all(_is_static(e) for e in v)
    return isinstance(v, _SIMPLE)


def _compile_call(lines: list, env: dict):
    source = "\n".join(lines) + "\n"
    exec(builtins.compile(source, "<yingshe.compile call path>", "exec"), env)  # noqa: S102
    call = env["call"]
    call.source = source
    return call


class CompiledFunction:
    """What ``yingshe.compile(fn)`` returns: call it like ``fn``.

    ``traces`` counts the traces made; ``eager_calls`` the calls that ran eagerly
    (fallback, or to create optimizer state); ``explain()`` prints the last program."""

    def __init__(self, fn, fallback=None, optimize: bool = True, check: bool = False,
                 backend: str | None = None) -> None:
        if fallback not in (None, "eager"):
            raise ValueError(f"yingshe.compile: fallback must be None or 'eager', got "
                             f"{fallback!r}")
        if backend is not None:
            from yingshe.backend import jit
            jit.resolve_backend(backend)   # an unknown name or a missing numba fails here
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.fallback = fallback
        self.optimize = optimize
        self.check = check
        self.backend = backend     # None: the process default at each trace
        self._cache: dict = {}
        self._eager_sigs: set = set()
        self._warned = False
        self.traces = 0
        self.eager_calls = 0
        self._last = None
        self._fast = None   # the call path of the entry used last (``fast_call``)

    def reset(self) -> None:
        """Forget every compiled program (the next call re-traces)."""
        self._fast = None
        self._cache.clear()
        self._eager_sigs.clear()

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self.__call__, obj)

    def _eager(self, args, kwargs):
        self.eager_calls += 1
        return self.fn(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        fast = self._fast
        if fast is not None:   # the last entry's generated call path (see ``fast_call``)
            out = fast(args, kwargs)
            if out is not _MISS:
                return out
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        """The general path: signature, cache lookup, guards, trace on a miss."""
        if MODE.tracer is not None:  # compiled inside a trace: inline
            return self.fn(*args, **kwargs)
        # grad mode is part of the signature: a program traced under no_grad must not serve
        # a call whose outputs need a history (and vice versa)
        sig = (_signature(args, kwargs), MODE.grad_enabled)
        if sig in self._eager_sigs:
            return self._eager(args, kwargs)
        entries = self._cache.get(sig)
        if entries:
            for entry in entries:
                if all(g.ok() for g in entry.guards):
                    self._fast = entry.call
                    return self._run(entry, args, kwargs)
        try:
            entry = self._trace(args, kwargs)
        except _StateNotReady:
            return self._eager(args, kwargs)   # creates the optimizer state; trace next call
        except (TraceError, NotImplementedError) as err:
            if self.fallback != "eager":
                raise
            if not self._warned:
                self._warned = True
                warnings.warn(f"yingshe.compile: {getattr(self.fn, '__qualname__', self.fn)} "
                              f"runs eagerly (fallback=\"eager\"): {err}", stacklevel=3)
            self._eager_sigs.add(sig)
            return self._eager(args, kwargs)
        entry.call = fast_call(entry, args, kwargs, MODE.grad_enabled, self._run)
        self._cache.setdefault(sig, []).append(entry)
        self._fast = entry.call
        return self._run(entry, args, kwargs)

    # ---- tracing ----------------------------------------------------------------------------
    def _trace(self, args, kwargs):
        state_ids: set = set()
        alive = []   # earlier traces' tensors: their ids are not reused by later traces'
        local = False
        for attempt in range(3):
            tracer = Tracer(state_ids, local_writes=local)
            try:
                entry = self._trace_once(tracer, args, kwargs)
            except BaseException:
                tracer.restore()
                raise
            tracer.restore()  # .grad as before the trace: the program reads and sets it
            late = (tracer.const_ids & set(tracer.assigned)) - state_ids
            if not late:
                self.traces += 1
                return entry
            alive.append(tracer.keep)
            # a tensor read as a constant was updated in place: re-trace reading it by
            # identity. One still new at the second trace is a new object at every trace:
            # the function made it (an accumulator), so the third trace keeps it local.
            state_ids |= late
            local = attempt >= 1
        raise TraceError("yingshe.compile: could not settle which tensors are state")

    def resolved_backend(self) -> str:
        """The backend the next trace compiles for (``"numba"`` or ``"numpy"``)."""
        from yingshe.backend import jit
        return jit.resolve_backend(self.backend) if self.optimize else "numpy"

    def _trace_once(self, tracer: Tracer, args, kwargs):
        from yingshe.graph.codegen import generate
        from yingshe.graph.passes import key_of, optimize, pipeline
        from yingshe.graph.session import lowered
        leaves: list = []
        _tensor_leaves((args, kwargs), leaves)
        phs = [tracer.placeholder(t, f"arg{i}") for i, t in enumerate(leaves)]
        it = iter(phs)
        sargs, skwargs = _replace_leaves((list(args), kwargs), it)
        prev = MODE.tracer
        MODE.tracer = tracer
        try:
            result = self.fn(*sargs, **skwargs)
            flat: list = []
            rebuild = _flatten_out(result, flat, tracer)
            single = isinstance(result, Tensor) and len(flat) == 1
        finally:
            MODE.tracer = prev
        diff_args: list = []   # (eager tensor, its symbol): inputs of the eager backward
        if MODE.grad_enabled and not tracer.did_backward:
            if tracer.detached:
                t = tracer.detached[0]
                raise TraceError(
                    f"yingshe.compile: the function reads a tensor of shape "
                    f"{tuple(t.shape)} with an autograd history from outside its arguments; "
                    "a compiled function cannot differentiate into it. Pass it as an "
                    "argument, or detach() it")
            diff_args = [(t, s) for t, s in zip(leaves, phs) if t.requires_grad_flag]
            diff_args += [(t, tracer.reads[i]) for i, t in tracer.captured.items()
                          if t.requires_grad_flag]
        n_out = len(flat)
        grads = []
        for t in list(tracer.captured.values()) + [t for t, _ in tracer.grad_snapshot.values()]:
            if any(t is u for u, _ in grads):
                continue
            g = t.grad
            if isinstance(g, Symbol):
                flat.append(g)
                grads.append((t, len(flat) - 1))
            elif id(t) in tracer.grad_reset and g is None:
                grads.append((t, None))
        fetches = flat + tracer.assigns
        feed_syms = phs + [s for s, _ in tracer.feeds]
        feed_fns = [None] * len(phs) + [h.fn for _, h in tracer.feeds]
        feed_srcs = [None] * len(phs) + [h.src for _, h in tracer.feeds]
        entry = _Entry()
        entry.backward = None
        if diff_args:
            plan = _BackwardPlan(self, tracer, flat[:n_out], fetches, phs, diff_args)
            if plan.diff_outputs:
                entry.backward = plan
                plan.entry = entry
                fetches = fetches + plan.saved
        shapes = {key_of(s): tuple(s.shape) for s in feed_syms}
        raw, keys = lowered(fetches, feed_syms, shapes)
        backend = self.resolved_backend()
        program = optimize(raw, passes=pipeline(backend), check=self.check) \
            if self.optimize else raw
        entry.fn = generate(program, "compiled_" + "".join(
            c if c.isalnum() else "_" for c in getattr(self.fn, "__name__", "fn")),
            backend=backend)
        entry.program = program
        entry.raw = raw
        pos = {(s._gnode.id, 0): i for i, s in enumerate(feed_syms)}
        entry.feed_keys = [pos[k] for k in keys]
        entry.feed_fns = feed_fns
        entry.feed_srcs = feed_srcs
        entry.n_out = n_out
        entry.rebuild = rebuild
        entry.single = single
        entry.grads = grads
        # (fn, want) pairs appended by other layers (DDP's sync flags) become Guards
        entry.guards = [g if isinstance(g, Guard) else Guard(*g) for g in tracer.guards]
        # freezing or unfreezing a parameter changes which gradients the program computes
        entry.guards += [Guard(lambda t=t: t.requires_grad_flag, t.requires_grad_flag,
                               Src.of(t, "t", "{}.requires_grad_flag"))
                         for t in tracer.captured.values()]
        entry.protected = None
        self._last = entry
        return entry

    # ---- running ------------------------------------------------------------------------------
    @staticmethod
    def feed_values(entry: _Entry, args, kwargs) -> tuple[list, list]:
        """(tensor leaves of the arguments, the program's feed values for this call)."""
        leaves: list = []
        _tensor_leaves((args, kwargs), leaves)
        fns = entry.feed_fns
        values = []
        for i in entry.feed_keys:
            f = fns[i]
            values.append(leaves[i]._data if f is None else f())
        return leaves, values

    def _run(self, entry: _Entry, args, kwargs):
        leaves, values = self.feed_values(entry, args, kwargs)
        if entry.backward is not None:
            return entry.rebuild(entry.backward.call(leaves, values))
        outs = entry.fn(values)
        res = [_wrap(_owned(o, values)) for o in outs[:entry.n_out]]
        for t, i in entry.grads:
            if i is None:
                t.grad = None
            else:
                t.grad = _wrap(_owned(outs[i]))
        return entry.rebuild(res)

    def explain(self, file=None) -> str:
        """The last compiled program and its generated source."""
        from yingshe.graph.session import explain_program
        if self._last is None:
            raise RuntimeError("explain(): nothing has been compiled yet (call the function)")
        text = explain_program(self._last.raw, self._last.program, self._last.fn)
        if file is not None:
            print(text, file=file)
        return text


class _BackwardPlan:
    """How eager ``backward()`` goes through a compiled forward (``torch.compile(model)``,
    ``tf.function`` under a tape).

    The gradient of the outputs with respect to every input that requires grad (tensor
    arguments and captured parameters) is built once, as graph nodes from the ops' own
    VJPs, weighted by one placeholder per differentiable output (the incoming
    gradient). The forward program also fetches the forward values those gradient nodes
    read (``saved``: activations, dropout masks, parameter reads), so the backward
    program starts from them and never re-runs a forward node: random ops are not
    redrawn and assigns (BatchNorm statistics) happen once. The eager tape sees one
    node, a ``CompiledCall``, whose backward runs the backward program."""

    def __init__(self, owner, tracer: Tracer, outputs: list, fwd_fetches: list, phs: list,
                 diff_args: list) -> None:
        from yingshe.graph.gradients import gradients
        from yingshe.graph.passes import key_of, optimize, pipeline, prune
        from yingshe.graph.codegen import generate
        from yingshe.graph.session import lowered
        # an argument is this call's tensor (its position among the tensor leaves), a
        # captured tensor (a parameter) is read by identity
        self.arg_pos = [next((k for k, p in enumerate(phs) if p is s), None)
                        for _, s in diff_args]
        self.inputs = [t if k is None else None for (t, _), k in zip(diff_args, self.arg_pos)]
        xs = [s for _, s in diff_args]
        hyper = [s for s, _ in tracer.feeds]
        fwd = prune(fwd_fetches, phs + hyper)
        fwd_ids = {n.id for n in fwd.nodes}
        # which outputs depend on an input that requires grad (the others are plain values);
        # a bool or integer value carries no gradient, so what is computed from it (hardsigmoid
        # of x == 1) does not require grad, as eagerly
        live = {key_of(s) for s in xs}
        # nor does a value computed under no_grad or detached (as eagerly)
        no_grad = {s._gnode.id for s in tracer.no_grad_nodes}
        for n in fwd.nodes:
            if n.op is STOP_GRADIENT or n.id in no_grad:
                continue
            if any(isinstance(x, Symbol) and key_of(x) in live for x in n.inputs):
                live.update(key_of(o) for o in n.outputs if o.dtype.is_floating_point)
        self.diff_outputs = [i for i, y in enumerate(outputs)
                             if y.dtype.is_floating_point and key_of(y) in live]
        self.n_out = len(outputs)
        if not self.diff_outputs:
            return
        gys = []
        for i in self.diff_outputs:
            y = outputs[i]
            meta = Meta(tuple(y.shape), y.dtype)
            node = tracer.graph.add_node("placeholder", None, (),
                                         {"shape": meta.shape, "dtype": meta.dtype}, (meta,),
                                         name=f"grad_output{i}")
            gys.append(node.outputs[0])
        # eager's saved-tensor version check, per output: a backward that reaches an op
        # whose saved tensor the function then changed in place raises as eagerly
        self.stale = {}
        for i in self.diff_outputs:
            try:
                tracer.check_saved_versions([outputs[i]], xs)
            except RuntimeError as e:
                self.stale[i] = str(e)
        grads = gradients([outputs[i] for i in self.diff_outputs], xs, grad_ys=gys,
                          stop_gradients=tracer.no_grad_nodes or None)
        # the position of each input's gradient among the backward fetches (None: unconnected)
        k = 0
        self.grad_index = []
        for g in grads:
            self.grad_index.append(None if g is None else k)
            k += g is not None
        fetch = [g for g in grads if g is not None]
        bwd = prune(fetch, gys + phs + hyper)
        saved: dict = {}

        def keep(x):
            n = x._gnode
            if n.id in fwd_ids and n.kind not in ("placeholder", "constant"):
                saved.setdefault(key_of(x), x)
        for n in bwd.nodes:
            if n.id in fwd_ids:
                continue
            for x in n.inputs:
                if isinstance(x, Symbol):
                    keep(x)
        for g in fetch:
            keep(g)
        self.saved = list(saved.values())
        feeds = gys + phs + hyper + self.saved
        self.n_gys, self.n_phs = len(gys), len(phs)
        self.hyper_fns = [h.fn for _, h in tracer.feeds]
        self.n_saved = len(self.saved)
        raw, keys = lowered(fetch, feeds, {key_of(s): tuple(s.shape) for s in feeds})
        backend = owner.resolved_backend()
        program = optimize(raw, passes=pipeline(backend), check=owner.check) \
            if owner.optimize else raw
        pos = {key_of(s): i for i, s in enumerate(feeds)}
        self.feed_keys = [pos[k] for k in keys]
        self.fn = generate(program, "compiled_backward", backend=backend)
        self.program, self.raw = program, raw
        self.entry = None

    def call(self, leaves: list, values: list) -> list:
        """Run the forward through the eager tape (one node); returns the outputs."""
        inputs = [t if k is None else leaves[k] for t, k in zip(self.inputs, self.arg_pos)]
        return list(CompiledCall.apply(_Call(self, leaves, values), *inputs))

    def backward(self, call, grads_out) -> list:
        for i, why in self.stale.items():
            if grads_out[i] is not None:
                raise RuntimeError(why)
        values = [None] * (self.n_gys + self.n_phs) + [f() for f in self.hyper_fns]
        for j, i in enumerate(self.diff_outputs):
            g = grads_out[i]
            values[j] = (np.zeros(call.out_shapes[i], call.out_dtypes[i]) if g is None
                         else np.asarray(g._data, dtype=call.out_dtypes[i]))
        for j, a in enumerate(call.leaf_arrays):
            values[self.n_gys + j] = a
        values += call.saved
        outs = self.fn([values[k] for k in self.feed_keys])
        return [None if k is None else _wrap(outs[k]) for k in self.grad_index]


class _Call:
    """One call of a compiled function whose outputs have a history."""

    __slots__ = ("plan", "leaf_arrays", "values", "saved", "out_dtypes", "out_shapes")

    def __init__(self, plan, leaves, values) -> None:
        self.plan = plan
        self.leaf_arrays = [t._data for t in leaves]
        self.values = values
        self.saved = None
        self.out_dtypes = self.out_shapes = None


class CompiledCall(Function):
    """A compiled forward on the eager tape; its backward runs the compiled gradient
    program (see ``_BackwardPlan``)."""

    @staticmethod
    def forward(ctx, call, *inputs):
        plan = call.plan
        entry = plan.entry
        outs = entry.fn(call.values)
        call.saved = outs[len(outs) - plan.n_saved:] if plan.n_saved else []
        call.values = None
        res = [_wrap(_owned(o, call.leaf_arrays)) for o in outs[:plan.n_out]]
        call.out_dtypes = [r._data.dtype for r in res]
        call.out_shapes = [r._data.shape for r in res]
        # an output the backward does not reach gets None, not zeros: eager's version
        # check (``_BackwardPlan.stale``) applies only to the outputs it reaches
        ctx.set_materialize_grads(False)
        diff = set(plan.diff_outputs)
        ctx.mark_non_differentiable(*(r for i, r in enumerate(res) if i not in diff))
        ctx.call = call
        return tuple(res)

    @staticmethod
    def backward(ctx, *grads):
        if MODE.grad_enabled:
            raise RuntimeError(
                "a yingshe.compile'd function was differentiated with create_graph=True; "
                "its backward is compiled and cannot be differentiated again. Run the "
                "function eagerly (or compile with fallback=\"eager\" and call it eagerly) "
                "for higher-order gradients")
        call = ctx.call
        return (None,) + tuple(call.plan.backward(call, grads))


def _owned(a, inputs=()):
    """An output of a compiled program as an array the caller may own: a copy when it is
    a view (of a Variable, a buffer), read-only (a folded constant) or one of the
    ``inputs`` passed straight through."""
    if a.base is not None or not a.flags.writeable or any(a is v for v in inputs):
        return a.copy()
    return a


def compile(fn=None, *, fallback=None, **options):
    """Trace ``fn`` into a graph on its first call per input signature, compile it and
    cache it (see the module docstring). Usable as ``@compile``, ``@compile(...)`` or
    ``compile(fn, fallback="eager")``.

    Options: ``backend`` ("numba": elementwise groups fused into numba kernels; "numpy":
    one NumPy call per op; None, the default: the process default of
    ``yingshe.backend.jit``, numba when it is importable), ``optimize`` (run the passes),
    ``check`` (verify the program after each pass)."""
    if fn is None:
        return lambda f: CompiledFunction(f, fallback=fallback, **options)
    return CompiledFunction(fn, fallback=fallback, **options)
