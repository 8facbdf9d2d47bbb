"""The op registry and ``apply``, the single dispatch point of every op call.

An op is registered once, as a class holding three plain functions:

``forward(xp, *arrays, **attrs)``
    computes on backend arrays (``xp`` is the backend namespace);
``infer(*metas, **attrs)``
    output ``Meta`` (shape and dtype, dims may be ``None``) from input metas; runs
    before any compute when a graph is built, and explains a failed eager call;
``vjp(g, out, *inputs, **attrs)``
    one gradient per input (or ``None``), written with yingshe ops, so the same
    rule serves eager ``backward()``, symbolic ``gradients()``, tracing and higher
    derivatives.
``scalar(*inputs, **attrs)`` (optional)
    the per-element formula of an elementwise forward (plain arithmetic,
    comparisons, conditional expressions, ``math`` functions; a tuple for several
    outputs), from which ``yingshe.backend.jit`` builds one-pass numba kernels and
    the compiler's fusion pass composes fused ones. It must agree with ``forward``.

Python scalars may appear among the inputs (``x * 2``); they reach ``forward``
unchanged, are passed to ``infer`` as themselves and never receive a gradient.
NumPy's floating-point warnings (inf * 0, log(0), overflow) are silenced for frames of
yingshe's modules by a warnings filter installed at import (``yingshe.errors``), at no
cost per op; ``xp.errstate`` here would cost every op a microsecond. A forward that calls
a NumPy Python wrapper (``xp.prod``, ``xp.cumsum``: the warning is then NumPy's frame's)
silences it itself with ``xp.errstate``.

``apply`` dispatches by input kind: when a tracer is active or any input is a
graph ``Symbol`` the call is handed to the graph builder; otherwise it computes
now and, if grad mode is on and an input requires grad, records a tape ``Node``.
"""

from __future__ import annotations

import builtins
import inspect
from typing import Any, Callable

import numpy as np

from yingshe import _dtype
from yingshe import _tensor as _tensor_module
from yingshe._tensor import MODE, Node, Tensor, View, _seq, _wrap
from yingshe.backend import numpy_backend
from yingshe.errors import (DTypeError, IndexError, ShapeError, caller_site, format_site,
                             user_site)
from yingshe.ops._shapes import Meta, shape_str

__all__ = ["OpDef", "register_op", "apply", "REGISTRY", "tensor_method", "install_methods",
           "meta_of", "Saved"]

REGISTRY: dict[str, "OpDef"] = {}
_METHODS: dict[str, Callable] = {}

_SAVES = ("inputs", "other", "output", "both", "none")

# Set by yingshe.graph when it is imported: builds a graph node for a symbolic call.
symbolic_apply: Callable | None = None


class OpDef:
    """A registered op: its name, rules and flags (read-only after registration)."""

    __slots__ = ("name", "forward", "infer", "vjp", "saves", "num_outputs", "hidden",
                 "random", "stateful", "view", "differentiable", "vjp_takes_needs",
                 "backward_name", "doc", "save_inputs", "save_output", "outputs_of",
                 "check_outputs", "scalar")

    def __init__(self, name, forward, infer, vjp, *, saves="both", num_outputs=1, hidden=0,
                 random=False, stateful=False, view=False, reads_visible=True, doc=None,
                 scalar=None):
        if saves not in _SAVES:
            raise ValueError(f"register_op({name!r}): saves must be one of {_SAVES}")
        self.name = name
        self.forward = forward
        self.infer = infer
        self.vjp = vjp
        self.saves = saves
        self.save_inputs = saves in ("inputs", "other", "both")
        self.save_output = saves in ("output", "both")
        # A callable ``num_outputs(**attrs) -> int`` (split, unbind): the count is set per
        # call by the attributes; ``num_outputs`` is then None and forward returns a tuple.
        self.outputs_of = num_outputs if callable(num_outputs) else None
        self.num_outputs = None if callable(num_outputs) else num_outputs
        self.hidden = hidden
        # whether backward checks that no output was changed in place since the call:
        # not when the VJP reads only hidden outputs (users never see those)
        self.check_outputs = reads_visible or not hidden
        self.random = random
        self.stateful = stateful
        self.view = view
        self.differentiable = vjp is not None
        self.vjp_takes_needs = vjp is not None and "needs" in inspect.signature(vjp).parameters
        self.backward_name = "".join(p.capitalize() for p in name.split("_")) + "Backward"
        self.doc = doc
        # the per-element formula (see the module docstring), or None
        self.scalar = scalar

    def __repr__(self) -> str:
        return f"<op {self.name}>"

    def n_outputs(self, attrs) -> int:
        """The number of outputs of a call with ``attrs`` (hidden ones included)."""
        if self.outputs_of is None:
            return self.num_outputs
        return self.outputs_of(**attrs)


def register_op(name: str, *, saves: str = "both", num_outputs: int = 1, hidden: int = 0,
                random: bool = False, stateful: bool = False, view: bool = False,
                reads_visible: bool = True):
    """Class decorator: register ``forward``/``infer``/``vjp`` of the class as op ``name``.

    Flags: ``saves`` (what the VJP reads: "inputs", "output", "both", "none");
    ``num_outputs`` (outputs returned by forward, the last ``hidden`` of which are
    residuals for the VJP, not returned to callers); ``random`` (draws from the
    generator: never folded or merged); ``stateful`` (mutates state: ordered,
    never folded); ``view`` (the output may share memory with input 0). ``saves="other"``
    is "inputs" where each input's value is read only for the other inputs' gradients.
    ``reads_visible=False`` says the VJP reads only the hidden outputs, so the returned
    ones may be changed in place before backward (``relu(bn(x), inplace=True)``).
    The decorated name is bound to the ``OpDef``.
    """

    def deco(cls) -> OpDef:
        if name in REGISTRY:
            raise ValueError(f"op {name!r} is registered twice")
        forward = cls.__dict__["forward"]
        infer = cls.__dict__.get("infer")
        if infer is None:
            raise TypeError(f"op {name!r} has no infer rule")
        vjp = cls.__dict__.get("vjp")
        scalar = cls.__dict__.get("scalar")
        if isinstance(scalar, staticmethod):
            scalar = scalar.__func__
        op = OpDef(name, forward, infer, vjp, saves=saves, num_outputs=num_outputs,
                   hidden=hidden, random=random, stateful=stateful, view=view,
                   reads_visible=reads_visible, doc=cls.__doc__, scalar=scalar)
        REGISTRY[name] = op
        return op

    return deco


def is_graph_value(x) -> bool:
    """A tensor whose value exists only when a graph runs: a graph ``Symbol`` (no data)
    or a Variable read inside a graph (``apply`` builds a node for either)."""
    return isinstance(x, Tensor) and (x._data is None or x._symbolic_read)


def meta_of(x: Any):
    """The ``Meta`` of a tensor (or symbol); Python scalars pass through unchanged."""
    if isinstance(x, Tensor):
        if x._data is None:
            return x._meta  # a graph Symbol
        return Meta(x._data.shape, _dtype.from_numpy_dtype(x._data.dtype))
    if isinstance(x, np.ndarray):
        return Meta(x.shape, _dtype.from_numpy_dtype(x.dtype))
    return x


class Saved(Meta):
    """Stands in for an input the op did not save (``saves="output"`` or ``"none"``):
    the VJP may read its ``shape``, ``dtype`` and ``ndim`` but not its values."""


def _describe_inputs(inputs) -> str:
    parts = []
    for x in inputs:
        m = meta_of(x)
        if isinstance(m, Meta):
            parts.append(f"{shape_str(m.shape)} {m.dtype.name}")
        elif isinstance(m, (list, tuple)):
            parts.append(f"[{len(m)} tensors]")
        else:
            parts.append(repr(m))
    return ", ".join(parts)


def _with_site(exc: BaseException, site) -> BaseException:
    if site is not None and not getattr(exc, "_yingshe_site", False):
        msg = str(exc.args[0]) if exc.args else ""
        exc.args = (f"{msg} (at {format_site(site)})",) + exc.args[1:]
        exc._yingshe_site = True  # type: ignore[attr-defined]
    return exc


def _forward_error(op: OpDef, inputs, attrs, err: Exception) -> BaseException:
    """Turn a failed eager forward into an error naming the op, shapes and user line."""
    site = user_site(3)
    if isinstance(err, (ShapeError, DTypeError, IndexError)):
        return _with_site(err, site)
    try:
        op.infer(*[meta_of(x) for x in inputs], **attrs)
    except (ShapeError, DTypeError, IndexError, ValueError, TypeError) as rule_err:
        return _with_site(rule_err, site)
    except Exception:  # noqa: BLE001 - the rule itself failed: report the original error
        pass
    desc = _describe_inputs(inputs)
    msg = f"{op.name}: {err} (inputs: {desc})"
    if isinstance(err, builtins.IndexError):
        cls = IndexError
    elif isinstance(err, ValueError):
        cls = ShapeError
    elif isinstance(err, TypeError):
        cls = DTypeError
    else:
        cls = RuntimeError
    return _with_site(cls(msg), site)


_xp = numpy_backend
_ndarray = np.ndarray
_asarray = np.asarray


def apply(op: OpDef, *inputs: Any, **attrs: Any):
    """Run ``op`` on ``inputs``: compute eagerly (recording the tape), or build a node."""
    # This thread's mode flags in one read of the thread-local (each attribute of it
    # costs a per-thread dict lookup); a flag never set in this thread has its default.
    flags = MODE.__dict__
    tracer = flags.get("tracer")
    if tracer is not None:
        return tracer.apply(op, inputs, attrs)
    arrays = []
    requires = False
    for x in inputs:
        # ``type(x) is Tensor`` first: a plain tensor (most inputs) is never a graph value,
        # and ``isinstance`` plus the class-attribute read would cost more than the check
        if type(x) is not Tensor:
            if not isinstance(x, Tensor):
                arrays.append(x)  # a Python scalar
                continue
            if x._data is None or x._symbolic_read:  # a graph Symbol or graph Variable
                return symbolic_apply(op, inputs, attrs)
        v = x._view
        if v is not None and v.base._node is not v.node:
            _sync_view(x)  # its base's history was rewritten in place since
        arrays.append(x._data)
        if x.requires_grad_flag:
            requires = True
    try:
        # (an empty ** still builds a dict: most elementwise ops have no attributes)
        out = op.forward(_xp, *arrays, **attrs) if attrs else op.forward(_xp, *arrays)
    except Exception as err:  # noqa: BLE001 - re-raised with the op's name and the user's line
        raise _forward_error(op, inputs, attrs, err) from err

    grad = flags.get("grad_enabled", True)
    record = requires and grad and op.differentiable
    anomaly = flags.get("anomaly", False)
    n_out = op.num_outputs
    if n_out == 1:
        if type(out) is not _ndarray:
            out = _asarray(out)
        if not record or out.dtype.kind != "f":  # integer/bool outputs have no grad
            if op.view and isinstance(inputs[0], Tensor):
                x0 = inputs[0]
                result = _wrap(out, False, None, 0, x0._vc, _view_of(x0, op, attrs, grad))
            else:
                result = _wrap(out)
            if anomaly:
                _check_finite(op, (out,), None)
            return result
        if op.view and isinstance(inputs[0], Tensor):
            x0 = inputs[0]
            vc = x0._vc
            view = _view_of(x0, op, attrs, grad)
        else:
            vc = [0]
            view = None
        node = _record(op, inputs, attrs, out, (vc,))
        result = _wrap(out, True, node, 0, vc, view)
        if anomaly:
            _check_finite(op, (out,), node)
        return result

    outs = tuple(o if o.__class__ is _ndarray else _asarray(o) for o in out)
    # views of input 0 (split, unbind) share its version counter and base; PyTorch
    # refuses in-place ops with autograd on them (kind "multi")
    x0 = inputs[0] if op.view and isinstance(inputs[0], Tensor) else None
    views = (None,) * len(outs) if x0 is None else \
        tuple(_view_of(x0, op, attrs, grad, i) for i in range(len(outs)))
    if record:
        vcs = tuple([0] if x0 is None else x0._vc for _ in outs)
        node = _record(op, inputs, attrs, outs, vcs)
        results = tuple(
            _wrap(o, o.dtype.kind == "f", node if o.dtype.kind == "f" else None, i, vcs[i],
                  views[i])
            for i, o in enumerate(outs)
        )
    else:
        node = None
        results = tuple(_wrap(o, vc=None if x0 is None else x0._vc, view=views[i])
                        for i, o in enumerate(outs))
    if anomaly:
        _check_finite(op, outs, node)
    if op.hidden:
        results = results[: n_out - op.hidden]
    return results


def _view_of(x0: Tensor, op: OpDef, attrs: dict, grad: bool, index=None) -> View:
    """The ``View`` of a view op's result (output ``index`` of a multi-output one, made
    with grad mode ``grad``): its input's base (or the input itself) and the steps that
    replay it from there."""
    v = x0._view
    if v is None:
        base = x0
        fn = ((op, attrs, index),)
        kind = None
    else:
        base = v.base
        fn = v.fn + ((op, attrs, index),)
        kind = v.kind
    if not grad:
        kind = "no_grad"
    elif index is not None and kind is None:
        kind = "multi"
    view = _new_view(View)  # (View.__init__'s call costs more than its four stores)
    view.base = base
    view.fn = fn
    view.node = base._node
    view.kind = kind
    return view


_new_view = object.__new__


def _sync_view(t: Tensor) -> None:
    """Re-derive the history of view ``t`` from its base's current one (the base was
    changed in place by an op that recorded a new history for it): replay the view's
    steps on the base, as PyTorch regenerates a view's ``grad_fn``."""
    v = t._view
    base = v.base
    if v.kind == "no_grad":
        if MODE.grad_enabled and base.requires_grad_flag:
            raise RuntimeError(
                "A view was created in no_grad mode and its base or another view of its base "
                "has been modified inplace with grad mode enabled. Given that this use case "
                "is ambiguous and error-prone, it is forbidden. You can clarify your code by "
                "moving both the view and the inplace either both inside the no_grad block "
                "(if you don't want the inplace to be tracked) or both outside (if you want "
                "the inplace to be tracked).")
        return  # it has no history to update (and stays stale: see above)
    v.node = base._node
    if not base.requires_grad_flag:
        return
    prev = MODE.grad_enabled
    MODE.grad_enabled = True  # a history is structural, whatever the mode now
    try:
        r = replay_view(base, v.fn)
    finally:
        MODE.grad_enabled = prev
    t._node = r._node
    t._out_index = r._out_index
    t.requires_grad_flag = r.requires_grad_flag


def replay_view(x, fn):
    """Apply the view steps ``fn`` (``View.fn``) to ``x``: a tensor, or a graph symbol."""
    for op, attrs, index in fn:
        x = apply(op, x, **(attrs if attrs.__class__ is dict else dict(attrs)))
        if index is not None:
            x = x[index]
    return x


_tensor_module.sync_view = _sync_view


def _edge(x):
    if isinstance(x, Tensor) and x.requires_grad_flag:
        return (x._node, x._out_index) if x._node is not None else x
    return None


def _record(op: OpDef, inputs, attrs, out, vcs) -> Node:
    # One pass over the inputs: edges (where gradients flow) and what the VJP reads (the
    # inputs with their versions, checked at backward to detect in-place changes; or
    # their metas). Every recorded op runs this, so it is kept flat: the node is filled
    # in here rather than through Node.__init__.
    edges = []
    save = op.save_inputs
    extra = []  # the inputs' versions (saved inputs), or their metas (inputs not saved)
    for x in inputs:
        if type(x) is Tensor or isinstance(x, Tensor):
            if x.requires_grad_flag:
                n = x._node
                edges.append(x if n is None else (n, x._out_index))
            else:
                edges.append(None)
            if save:
                extra.append(x._vc[0])
            else:
                d = x._data
                extra.append(_tuple_new(Saved, (d.shape, _BY_NP[d.dtype])))
        else:
            edges.append(None)
            extra.append(None if save else x)
    if save:
        saved = inputs
        versions = extra
        if op.saves == "other":
            # each input's value is read only for the *other* inputs' gradients (a * b,
            # a @ b): track its version only when another input needs a gradient, so
            # `y = x * 2.0; x.add_(1); y.backward()` works as in PyTorch
            needed = [e is not None for e in edges]
            total = sum(needed)
            versions = [v if total - needed[i] > 0 else None for i, v in enumerate(versions)]
        versions = tuple(versions)
    else:
        saved = tuple(extra)
        versions = None
    site = caller_site(3) if _RECORD_SITES[0] or MODE.anomaly else None
    node = _new_node(Node)
    node.op = op
    node.attrs = attrs
    node.edges = tuple(edges)
    node.inputs = saved
    node.saved_versions = versions
    if op.save_output:
        node.out_data = out
        node.out_vcs = vcs
        node.out_versions = tuple([vc[0] for vc in vcs])
    else:
        node.out_data = node.out_vcs = node.out_versions = None
    node.site = site
    seq = _seq[0] + 1
    _seq[0] = seq
    node.seq = seq
    node.hooks = node.retains = node.ctx = None
    node.freed = False
    return node


_new_node = object.__new__


# (NamedTuple's own __new__ is a Python function: the builtin one is cheaper)
_tuple_new = tuple.__new__


# Recording the user's code position on every tape node costs ~0.2 us per op (the walk to
# the first frame outside the package; the line is resolved only when needed); it is on by
# default (errors and drawings name the line) and can be turned off for speed (anomaly
# mode records them still).
_RECORD_SITES = [True]


_BY_NP = _dtype._BY_NP


def _check_finite(op: OpDef, outs, node) -> None:
    for o in outs:
        if o.dtype.kind == "f" and not np.isfinite(o).all():
            site = node.site if node is not None and node.site else user_site(3)
            raise RuntimeError(
                f"detect_anomaly: op '{op.name}' produced NaN or Inf in its forward output "
                f"(created at {format_site(site)})"
            )


# ---- Tensor methods ----------------------------------------------------------------------

def tensor_method(name: str | Callable | None = None):
    """Decorator: also expose a public function as a ``Tensor`` method (``x.sum(1)``).

    ``@tensor_method`` uses the function's own name; ``@tensor_method("__add__")``
    another one. The first parameter of the function is the tensor.
    """

    def deco(fn: Callable) -> Callable:
        _METHODS[name if isinstance(name, str) else fn.__name__] = fn
        return fn

    if callable(name):
        return deco(name)
    return deco


def install_methods(cls: type) -> None:
    """Attach every registered method to ``cls`` (Tensor; graph symbols inherit them)."""
    for name, fn in _METHODS.items():
        setattr(cls, name, fn)
