"""``yingshe.optim`` optimizers in static graphs: ``opt.minimize(loss)`` and
``opt.apply_gradients(grads_and_vars)`` build the training op.

The update is the optimizer's own: an ``UpdateBuilder`` is installed as ``MODE.tracer``
while ``step()`` runs once, so each parameter's fused update op (``yingshe.optim._fused``;
with ``fused=False`` the op-by-op maths of ``yingshe.optim._kernels``) becomes a graph
node and every write of its results an ``assign`` node, exactly as ``yingshe.compile``
records an eager step. (This module lives in ``optim``, not in ``graph``: the compiler
knows no optimizer; the optimizers build graph ops.) The differences from a compiled step are those of a TF1 graph:

* the optimizer state (moments, momentum buffers, the step counter) is made of graph
  Variables (``trainable=False``), initialised by ``global_variables_initializer()``;
* hyper-parameters are read when the op is built (constants in the graph, as a float
  ``learning_rate`` is in TF1);
* the step counter is read and incremented inside the op, so Adam's bias correction
  follows the number of times the op has run;
* inside one update, a Variable written earlier is read through the value it was
  given (never a second read node, whose order against the write would be undefined).
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe._tensor import MODE, Tensor
from yingshe.graph import build
from yingshe.graph.ir import Graph, Symbol
from yingshe.graph.trace import _fresh, add_fresh, rebind
from yingshe.state import Variable as _StateVariable

__all__ = ["UpdateBuilder", "apply_gradients", "minimize"]


class UpdateBuilder:
    """Installed as ``MODE.tracer`` while an optimizer writes its update into ``graph``."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.current: dict[int, Symbol] = {}   # id(Variable) -> its value so far
        self.assigns: list[Symbol] = []

    def sym(self, x):
        if isinstance(x, Symbol):
            return x
        if isinstance(x, Tensor):
            s = self.current.get(id(x))
            if s is not None:
                return s
            if isinstance(x, _StateVariable):
                return build.read(x, self.graph)
            if x._data is None:
                raise TypeError("an optimizer update met a tensor without a value")
            return build._constant_node(self.graph, np.array(x._data, copy=True))
        if isinstance(x, (list, tuple)) and any(isinstance(e, Tensor) for e in x):
            return type(x)(self.sym(e) for e in x)
        return x

    # ---- the hooks the engine and the optimizers call --------------------------------------
    def apply(self, op, inputs, attrs):
        return add_fresh(self.graph, op, [self.sym(x) for x in inputs], attrs)

    def assign(self, t, result, opname):
        if isinstance(t, Symbol):   # an in-place op on a temporary: rebind it
            return rebind(t, self.sym(result))
        if not isinstance(t, _StateVariable):
            raise TypeError(f"{opname}: an optimizer update writes into a tensor that is not "
                            "a Variable (graph optimizers keep their state in Variables)")
        value = self.sym(result)
        if value.dtype != _dtype.from_numpy_dtype(t._data.dtype):
            value = value.to(_dtype.from_numpy_dtype(t._data.dtype))
        with self.graph.as_default():
            out = build.assign(t, value, name=opname)
        self.assigns.append(out)
        self.current[id(t)] = _fresh(out)
        return t

    def step_count(self, step_t) -> Symbol:
        """The step number of this update: the counter's value when the op runs, plus
        one, in float64 (the eager step computes bias corrections in Python floats)."""
        return self.sym(step_t).to(_dtype.float64) + 1.0

    def no_value(self, what: str, sym: Symbol):
        return TypeError(f"{what} on a graph tensor while building an optimizer update")


def _as_variables(opt, graph: Graph) -> None:
    """Turn the optimizer's state tensors into graph Variables (not trainable)."""
    for p, state in opt.state.items():
        for key, v in list(state.items()):
            if isinstance(v, Tensor) and not isinstance(v, _StateVariable):
                name = f"{getattr(p, 'name', None) or 'param'}/{type(opt).__name__}/{key}"
                with graph.as_default():
                    var = build.Variable(np.array(v._data, copy=True), trainable=False,
                                         name=name)
                state[key] = var


def _steady_state(opt, p, group) -> None:
    """State that an eager update creates on its first step, created up front so that
    the graph records the steady-state update (a graph op runs the same code each time).
    SGD's momentum buffer starts as the first gradient in PyTorch; a zero buffer gives
    the same first step (``momentum * 0 + g``) only without dampening."""
    from yingshe.optim.optimizer import _zeros
    from yingshe.optim.sgd import SGD
    if isinstance(opt, SGD) and group["momentum"] != 0:
        if group.get("variant", "torch") != "keras" and group["dampening"] != 0:
            raise NotImplementedError(
                "SGD with dampening in a static graph: PyTorch's first step (buffer = "
                "gradient) differs from the later ones, and a graph op runs one update; "
                "use dampening=0 (TF1's MomentumOptimizer has none)")
        opt.state[p]["momentum_buffer"] = _zeros(p)


def apply_gradients(opt, grads_and_vars, name: str | None = None):
    """The training op applying ``opt``'s update to each (gradient, Variable) pair whose
    gradient is not None (TF1's ``apply_gradients``)."""
    pairs = [(g, v) for g, v in grads_and_vars if g is not None]
    if not pairs:
        names = [getattr(v, "name", None) for _, v in grads_and_vars]
        raise ValueError(f"{type(opt).__name__}: no gradients provided for any variable "
                         f"({names}); does the loss depend on them?")
    graph = pairs[0][0].graph
    params = {id(p) for group in opt.param_groups for p in group["params"]}
    for _, v in pairs:
        if id(v) not in params:
            raise ValueError(f"{type(opt).__name__}.apply_gradients: Variable "
                             f"'{getattr(v, 'name', '?')}' is not one of the optimizer's "
                             "parameters")
    saved = {id(v): (v, v.grad) for group in opt.param_groups for v in group["params"]}
    builder = UpdateBuilder(graph)
    prev = MODE.tracer
    try:
        for v, _ in saved.values():
            v.grad = None
        for g, v in pairs:
            v.grad = g
        # lazily created state (first step) is made of eager zeros: build it first, then
        # turn it into Variables, then record the update
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None and not opt.state[p]:
                    opt.state[p].update(opt._init_state(p, group))
                    _steady_state(opt, p, group)
        _as_variables(opt, graph)
        MODE.tracer = builder
        opt.step()
    finally:
        MODE.tracer = prev
        for v, g in saved.values():
            v.grad = g
    with graph.as_default():
        return build.group(*builder.assigns, name=name or type(opt).__name__)


def minimize(opt, loss: Symbol, var_list=None, name: str | None = None):
    """Gradient nodes of ``loss`` for ``var_list`` (default: the optimizer's parameters)
    and the op applying one update."""
    from yingshe.graph.gradients import gradients
    if not isinstance(loss, Symbol):
        raise TypeError(f"{type(opt).__name__}.minimize: loss must be a graph tensor (eager "
                        f"code calls loss.backward() and step()), got {type(loss).__name__}")
    if var_list is None:
        var_list = [p for group in opt.param_groups for p in group["params"]]
    var_list = list(var_list)
    grads = gradients(loss, var_list)
    return apply_gradients(opt, list(zip(grads, var_list)), name=name)
