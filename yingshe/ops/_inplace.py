"""In-place updates (``x.add_(y)``, ``x[i] = v``, optimizer steps), safely.

Every in-place method computes its result out of place with the ordinary ops and
then commits it into the tensor's own memory with ``commit``. That keeps one copy
of each op's maths and lets autograd stay correct (PyTorch's rules):

* grad mode off, or nothing requires grad: the values are written, the version
  counter is bumped (so a saved copy of the old value is detected at backward);
* a leaf that requires grad, or a view of one: refused;
* a tensor with history that is not a view: it takes over the result's history,
  so gradients flow through the in-place op;
* a view (``x[0]``, ``x.t()``, ``x.diagonal()``) of a base with history, or of a
  base that does not require grad written with a value that does: the values go
  through the view into the base's memory, and the *base's* history is rewritten
  to a ``view_scatter`` node, which passes the base's gradient through outside the
  view's region and hands the region's gradient to the result (PyTorch's
  ``CopySlices``); the view's own history is then replayed from the base's new one
  (``yingshe.ops._registry`` re-derives any other view of that base the next time
  autograd reads it). Views that come from an op returning several views (``split``,
  ``unbind``) or that were made under ``no_grad`` are refused, as in PyTorch.

``retain_grad()`` follows the tensor to its new history (``.grad`` is then the
gradient of the new value, as in PyTorch). Hooks registered with ``register_hook``
stay with the old history: they receive the gradient of the old value (PyTorch's
documented rule; for a write through a view PyTorch itself skips them).

``fast`` paths (NumPy ``out=``) are for the no-autograd case only; they must give
bit-identical results to the out-of-place op.
"""

from __future__ import annotations

import numpy as np

from yingshe._tensor import MODE, Node, Tensor
from yingshe.errors import ShapeError
from yingshe.ops._shapes import shape_str

__all__ = ["commit", "needs_autograd", "check_inplace", "check_target"]


def needs_autograd(t: Tensor, *others) -> bool:
    """True when an in-place update of ``t`` with ``others`` must be recorded."""
    if not MODE.grad_enabled:
        return False
    if t.requires_grad:  # the property: a stale view's history is brought up to date
        return True
    v = t._view
    if v is not None and v.kind == "no_grad" and v.base.requires_grad_flag:
        return True  # PyTorch counts it as requiring grad (and refuses the write)
    return any(isinstance(o, Tensor) and o.requires_grad_flag for o in others)


def check_target(t: Tensor, opname: str) -> None:
    """Refuse an in-place op on a value of a TF1-style graph (no tracer is active)."""
    if t._data is None and MODE.tracer is None:
        from yingshe.errors import UnsupportedError
        raise UnsupportedError(
            f"{opname}: in-place operations on graph values are not supported (a graph's "
            "values are immutable); use the out-of-place op, or yingshe.graph.assign for "
            "a Variable")


def check_inplace(t: Tensor, opname: str) -> None:
    """PyTorch's refusals of an in-place op that autograd would have to record."""
    v = t._view
    if v is None:
        if t._node is None and t.requires_grad_flag:
            raise RuntimeError(
                f"{opname}: a leaf tensor that requires grad is being used in an in-place "
                "operation; wrap the update in `with yingshe.no_grad():` or use an "
                "out-of-place op")
        return
    if v.kind == "multi":
        raise RuntimeError(
            f"{opname}: output {t._out_index} of {v.fn[-1][0].name} is a view and is being "
            "modified inplace. This view is the output of a function that returns multiple "
            "views. Such functions do not allow the output views to be modified inplace. "
            "You should replace the inplace operation by an out-of-place one.")
    if v.kind == "no_grad":
        raise RuntimeError(
            f"{opname}: a view was created in no_grad mode and is being modified inplace "
            "with grad mode enabled. Given that this use case is ambiguous and error-prone, "
            "it is forbidden. You can clarify your code by moving both the view and the "
            "inplace either both inside the no_grad block (if you don't want the inplace to "
            "be tracked) or both outside (if you want the inplace to be tracked).")
    base = v.base
    if base._node is None and base.requires_grad_flag:
        raise RuntimeError(
            f"{opname}: a view of a leaf tensor that requires grad is being used in an "
            "in-place operation; wrap the update in `with yingshe.no_grad():` or use an "
            "out-of-place op")


def readonly_error(opname: str, arr: np.ndarray) -> RuntimeError:
    """The error for a write into memory that cannot be written."""
    if any(st == 0 and n > 1 for st, n in zip(arr.strides, arr.shape)):
        return RuntimeError(
            f"{opname}: unsupported operation: more than one element of the written-to "
            "tensor refers to a single memory location (an expand()ed tensor). Please "
            "clone() the tensor before performing the operation.")
    return RuntimeError(f"{opname}: unsupported operation: the tensor's memory is read-only "
                        "(it wraps a read-only NumPy array); clone() it first")


def _write(t: Tensor, result_data, opname: str) -> None:
    dst = t._data
    if result_data.shape != dst.shape:
        try:
            result_data = np.broadcast_to(result_data, dst.shape)
        except ValueError:
            raise ShapeError(
                f"{opname}: output with shape {shape_str(dst.shape)} doesn't match the "
                f"broadcast shape {shape_str(result_data.shape)}"
            ) from None
    src_kind, dst_kind = result_data.dtype.kind, dst.dtype.kind
    order = {"b": 0, "u": 1, "i": 1, "f": 2}
    if order.get(src_kind, 2) > order.get(dst_kind, 2):
        raise RuntimeError(
            f"{opname}: result type {result_data.dtype} can't be cast to the desired "
            f"output type {dst.dtype}"
        )
    if dst.size:   # (an empty write writes nothing, allowed even into an expanded tensor,
        if not dst.flags.writeable:              # as PyTorch's zeros(0, 1).expand(2, 0).zero_())
            raise readonly_error(opname, dst)
        np.copyto(dst, result_data, casting="unsafe")
    t._vc[0] += 1


def _move_retain(t: Tensor, old_node) -> None:
    """``retain_grad()`` keeps the gradient of the tensor's current value: move it from
    the history the in-place op replaced to the new one."""
    if not t._retains_grad or old_node is None or old_node is t._node or not old_node.retains:
        return
    for idx, ref in list(old_node.retains.items()):
        if ref() is t:
            del old_node.retains[idx]
            node = t._node
            if node.retains is None:
                node.retains = {}
            node.retains[t._out_index] = ref
            return


def commit(t: Tensor, result: Tensor, opname: str) -> Tensor:
    """Write ``result`` into ``t`` in place (see the module docstring); returns ``t``."""
    if MODE.tracer is not None:
        return MODE.tracer.assign(t, result, opname)
    check_target(t, opname)
    if MODE.grad_enabled and (t.requires_grad or result.requires_grad_flag):
        check_inplace(t, opname)
        if t._view is not None:
            return _commit_through_view(t, result, opname)
        _write(t, result._data, opname)
        if result._node is not None:
            old = t._node
            t._node = result._node
            t._out_index = result._out_index
            t.requires_grad_flag = True
            _move_retain(t, old)
        return t
    _write(t, result._data, opname)
    return t


def _commit_through_view(t: Tensor, result: Tensor, opname: str) -> Tensor:
    """The write through a view under autograd: see the module docstring."""
    from yingshe.errors import caller_site
    from yingshe.ops._registry import REGISTRY, _RECORD_SITES, Saved, _edge, _sync_view
    from yingshe.ops.indexing import view_steps

    _write(t, result._data, opname)
    v = t._view
    base = v.base
    old = base._node
    op = REGISTRY["view_scatter"]
    bd, rd = base._data, result._data
    inputs = (Saved(bd.shape, base.dtype), Saved(rd.shape, result.dtype))
    node = Node(op, {"fn": view_steps(v.fn)}, (_edge(base), _edge(result)), inputs, None,
                None, caller_site(3) if _RECORD_SITES[0] or MODE.anomaly else None)
    base._node = node
    base._out_index = 0
    base.requires_grad_flag = True
    _move_retain(base, old)
    old_view_node = t._node
    _sync_view(t)
    _move_retain(t, old_view_node)
    return t
