"""``Optimizer``: parameter groups, lazily created state, ``state_dict`` (PyTorch's).

Hyper-parameters are plain Python numbers in ``param_groups`` (a list of dicts,
as in PyTorch) and are read at every ``step()``, so ``group["lr"] *= 0.1`` and
the schedulers in ``yingshe.optim.lr_scheduler`` take effect at once (a
compiled step reads them as runtime inputs in the same way).

A subclass implements ``_init_state(p, group)`` (returns the state dict of a
parameter on its first step) and ``_update(K, p, g, state, group, step)``, the
maths, written once with the in-place primitives of a kernel ``K`` (see
``yingshe.optim._kernels``). The base class runs the loop, the bookkeeping of
``state["step"]`` and the choice of kernel.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from yingshe._tensor import MODE, Tensor, _wrap
from yingshe.optim import _fused, _kernels

__all__ = ["Optimizer", "required", "fused_enabled"]


class _RequiredParameter:
    """Singleton marking a hyper-parameter that has no default."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

# Tests set this to run the traceable tensor kernel eagerly (it must give the same numbers).
_FORCE_TENSOR_KERNEL = [False]


def _as_float(name: str, value):
    """Hyper-parameters stay Python numbers; a 0-d tensor is read once."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} as a tensor must have exactly one element")
        return float(value.item())
    return value


def _check_fused(fused, foreach, differentiable) -> None:
    """PyTorch's rules for ``fused=``/``foreach=`` (both only choose an implementation)."""
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")


def fused_enabled(group: dict) -> bool:
    """Whether a group runs the fused update op (``yingshe.optim._fused``): the default,
    and ``fused=True``/``foreach=True``; ``fused=False`` (or ``foreach=False`` without
    ``fused=True``) keeps the op-by-op maths of ``yingshe.optim._kernels``, PyTorch's
    for-loop implementation."""
    fused = group.get("fused")
    if fused is not None:
        return bool(fused)
    return group.get("foreach") is not False


def _unsupported(cls: str, **flags) -> None:
    for name, value in flags.items():
        if value:
            raise NotImplementedError(
                f"{cls}({name}={value!r}) is not implemented by yingshe "
                f"(leave {name} at its default)"
            )


class Optimizer:
    """Base class of all optimizers (PyTorch's ``torch.optim.Optimizer``).

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts
            (parameter groups: ``{"params": [...], "lr": ...}``).
        defaults: the default hyper-parameters, used for keys a group omits.
    """

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._kernel = _kernels.NumpyKernel()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                f"or dicts, but got {type(params).__name__}"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- groups ------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (missing keys take
        the optimizer's ``defaults``)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        param_group = dict(param_group)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs")
        else:
            params = list(params)
        names = None
        if params and isinstance(params[0], tuple):
            names = [n for n, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        param_group["params"] = params
        if names is not None:
            param_group["param_names"] = names
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error", stacklevel=3)
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        for key in ("lr", "weight_decay", "eps", "momentum", "alpha", "dampening"):
            if key in param_group:
                param_group[key] = _as_float(key, param_group[key])
        if "betas" in param_group:
            param_group["betas"] = tuple(_as_float("betas", b) for b in param_group["betas"])
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients ---------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: drop them (default) or fill them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    if hasattr(MODE.tracer, "note_grad_reset"):
                        MODE.tracer.note_grad_reset(p)
                    p.grad = None
                else:
                    if g._node is not None:
                        g = p.grad = _wrap(g._data)
                    if not g._data.flags.writeable:
                        g._data = np.zeros(g._data.shape, g._data.dtype)
                    else:
                        g._data.fill(0)
                    g._vc[0] += 1

    # ---- static graphs -------------------------------------------------------------------
    def minimize(self, loss, var_list=None, name=None):
        """Static graphs (``yingshe.graph``, TF1 style): gradient nodes of the graph tensor
        ``loss`` and an op applying this optimizer's update to ``var_list`` (default:
        its parameters, which are graph Variables); the same maths as ``step()``. See
        ``yingshe.optim.graph``."""
        from yingshe.optim.graph import minimize
        return minimize(self, loss, var_list, name=name)

    def apply_gradients(self, grads_and_vars, name=None):
        """Static graphs: an op applying this optimizer's update to each (gradient graph
        tensor, Variable) pair (TF1's ``apply_gradients``)."""
        from yingshe.optim.graph import apply_gradients
        return apply_gradients(self, grads_and_vars, name=name)

    # ---- the step ---------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient; ``closure`` (optional)
        re-evaluates the model and returns the loss, which ``step`` returns."""
        from yingshe.autograd import enable_grad, no_grad
        self._opt_called = True  # read by the schedulers' step-order warning
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        tensor_kernel = MODE.tracer is not None or _FORCE_TENSOR_KERNEL[0]
        K = _kernels.TENSOR if tensor_kernel else self._kernel
        groups = self.param_groups
        if hasattr(MODE.tracer, "optimizer_groups"):
            # yingshe.compile: numeric hyper-parameters become runtime inputs
            groups = MODE.tracer.optimizer_groups(self)
        with no_grad():
            for group in groups:
                self._step_group(K, group, tensor_kernel)
        return loss

    def _step_group(self, K, group, tensor_kernel: bool) -> None:
        state_of = self.state
        counts_steps = self._counts_steps
        fused = fused_enabled(group)
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            state = state_of[p]
            if not state:
                state.update(self._init_state(p, group))
            if counts_steps:
                step_t = state["step"]
                if hasattr(MODE.tracer, "step_count"):  # yingshe.compile: a runtime input
                    step = MODE.tracer.step_count(step_t)
                    K.add_scalar_(step_t, 1)
                elif tensor_kernel:
                    K.add_scalar_(step_t, 1)
                    step = float(step_t._data) if step_t._data is not None else step_t
                else:
                    step_t._data += 1
                    step = float(step_t._data)
            else:
                step = None
            if fused:
                self._fused_step(K, p, grad, state, group, step, tensor_kernel)
            elif tensor_kernel:
                self._update(K, p, grad, state, group, step)
            else:
                self._update(K, p._data, grad._data, _DataView(state), group, step)
                p._vc[0] += 1

    _counts_steps = True

    def _fused_step(self, K, p, grad, state, group, step, tensor_kernel: bool) -> None:
        """One parameter's update as the optimizer's fused op: in place on the arrays
        eagerly; as a graph node whose outputs are assigned to the parameter and its
        state when traced or built into a graph (the same op, the same maths)."""
        op, names, scalars, attrs = self._fused_call(p, state, group, step)
        states = [state.get(n) for n in names]
        if tensor_kernel:
            from yingshe.ops._registry import apply
            outs = apply(op, p, grad, *states, *scalars, **attrs)
            targets = [p] + [s for s in states if s is not None]
            for t, new in zip(targets, outs if isinstance(outs, tuple) else (outs,)):
                K.copy_(t, new)
            return
        _fused.update_(op, p._data, grad._data,
                       [None if s is None else s._data for s in states], scalars, attrs)
        p._vc[0] += 1

    def _fused_call(self, p, state, group, step):
        """(op, state names in the op's input order, hyper-parameter inputs, attributes)
        of one parameter's fused update; may create state the first step needs."""
        raise NotImplementedError

    def _init_state(self, p: Tensor, group: dict) -> dict:
        raise NotImplementedError

    def _update(self, K, p, g, state, group, step) -> None:
        raise NotImplementedError

    # ---- state dict -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``,
        PyTorch's layout: parameters are numbered in order across groups. The state
        tensors are references (as in PyTorch); ``load_state_dict`` copies them."""
        index: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                if id(p) not in index:
                    index[id(p)] = start
                    start += 1
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what ``state_dict`` returned (values are copied, cast to each
        parameter's dtype; ``step`` stays float32)."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, sg in zip(groups, saved_groups):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        id_map = {}
        where = {}
        for gi, (g, sg) in enumerate(zip(groups, saved_groups)):
            names = g.get("param_names")
            for pi, (old, p) in enumerate(zip(sg["params"], g["params"])):
                id_map[old] = p
                where[old] = (f"parameter {names[pi]!r}" if names else f"parameter {pi}") \
                    + f" of group {gi}"
        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                for key, val in v.items():
                    _check_state_shape(p, key, val, where[k])
                state[p] = {key: _copy_state(p, key, val) for key, val in v.items()}
            else:
                state[k] = copy.deepcopy(v)
        new_groups = []
        for g, sg in zip(groups, saved_groups):
            sg["params"] = g["params"]
            if "param_names" in g and "param_names" not in sg:
                sg["param_names"] = g["param_names"]
            new_groups.append(sg)
        self.state = state
        self.param_groups = new_groups

    # ---- display -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state) -> None:
        self.__dict__.update(state)
        self._kernel = _kernels.NumpyKernel()


def _sqrt(x):
    """``math.sqrt``, except that a traced hyper-parameter (``yingshe.graph.trace``'s
    ``HyperFloat``) stays a runtime input."""
    f = getattr(x, "sqrt", None)
    return f() if f is not None else math.sqrt(x)


def _check_state_shape(p: Tensor, key: str, value, where: str) -> None:
    """A per-parameter state tensor (momentum, moments) must have its parameter's shape;
    0-d entries (``step``) are scalars. Checked when loading, so that a state dict of
    another model fails here, naming the parameter, rather than as a broadcasting error
    inside a later ``step()`` (PyTorch defers it to the step)."""
    arr = value._data if isinstance(value, Tensor) else value
    if not isinstance(arr, (np.ndarray, bool, int, float, np.generic)):
        raise TypeError(f"Optimizer.load_state_dict: the state {key!r} of {where} is a "
                        f"{type(value).__name__}, expected a tensor or a number")
    if not isinstance(arr, np.ndarray) or arr.ndim == 0 or p._data is None:
        return
    if arr.shape != p._data.shape:
        from yingshe.errors import ShapeError
        from yingshe.ops._shapes import shape_str
        raise ShapeError(f"Optimizer.load_state_dict: the state {key!r} of {where} has shape "
                         f"{shape_str(arr.shape)}, but the parameter has shape "
                         f"{shape_str(p._data.shape)} (a state dict of another model?)")


def _copy_state(p: Tensor, key: str, value):
    if isinstance(value, Tensor):
        arr = value._data
        # PyTorch's policy: the state of a floating-point parameter takes its dtype
        # (an integer moment from elsewhere too), except the step counter
        if key != "step" and p._data is not None and p._data.dtype.kind == "f":
            arr = arr.astype(p._data.dtype)
        return _wrap(np.array(arr, copy=True))
    if isinstance(value, np.ndarray):
        return _wrap(np.array(value, copy=True))
    return copy.deepcopy(value)


class _DataView:
    """The state dict of one parameter, read as backend arrays (NumPy kernel)."""

    __slots__ = ("_state",)

    def __init__(self, state: dict) -> None:
        self._state = state

    def __getitem__(self, key):
        v = self._state[key]
        return v._data if isinstance(v, Tensor) else v

    def get(self, key, default=None):
        v = self._state.get(key, default)
        return v._data if isinstance(v, Tensor) else v

    def __setitem__(self, key, arr) -> None:
        self._state[key] = _wrap(arr) if isinstance(arr, np.ndarray) else arr

    def __contains__(self, key) -> bool:
        return key in self._state


def _zeros(p: Tensor, value: float = 0.0) -> Tensor:
    """A fresh state buffer shaped like ``p`` (same dtype)."""
    if p._data is not None:
        return _wrap(np.full(p._data.shape, value, dtype=p._data.dtype))
    import yingshe
    return yingshe.full(tuple(p.shape), value, dtype=p.dtype)


def _step_tensor() -> Tensor:
    return _wrap(np.zeros((), dtype=np.float32))
