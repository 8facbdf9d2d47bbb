"""In-place updates (``x.add_(y)``, ``x[i] = v``, optimizer steps), safely.

Every in-place method computes its result out of place with the ordinary ops and
then commits it into the tensor's own memory with ``commit``. That keeps one copy
of each op's maths and lets autograd stay correct:

* grad mode off, or nothing requires grad: the values are written, the version
  counter is bumped (so a saved copy of the old value is detected at backward);
* a leaf that requires grad: refused, as in PyTorch;
* a view whose base requires grad: refused with a clear error (yingshe does not
  rebase views' histories; use the out-of-place op);
* otherwise the tensor takes over the result's history ("rebase"), so gradients
  flow through the in-place op.

``fast`` paths (NumPy ``out=``) are for the no-autograd case only; they must give
bit-identical results to the out-of-place op.
"""

from __future__ import annotations

import numpy as np

from yingshe._tensor import MODE, Tensor
from yingshe.errors import ShapeError
from yingshe.ops._shapes import shape_str

__all__ = ["commit", "needs_autograd"]


def needs_autograd(t: Tensor, *others) -> bool:
    """True when an in-place update of ``t`` with ``others`` must be recorded."""
    if not MODE.grad_enabled:
        return False
    if t.requires_grad_flag:
        return True
    return any(isinstance(o, Tensor) and o.requires_grad_flag for o in others)


def _check_leaf(t: Tensor, opname: str) -> None:
    if t._node is None and t.requires_grad_flag:
        raise RuntimeError(
            f"{opname}: a leaf tensor that requires grad is being used in an in-place "
            "operation; wrap the update in `with yingshe.no_grad():` or use an "
            "out-of-place op"
        )
    base = t._base
    if base is not None and (base.requires_grad_flag or t.requires_grad_flag):
        raise RuntimeError(
            f"{opname}: in-place operation on a view of a tensor that requires grad is "
            "not supported by yingshe (gradients would be wrong); use an out-of-place op "
            "such as torch.where / masked_fill / index_put"
        )


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
    if not dst.flags.writeable:
        raise RuntimeError(
            f"{opname}: unsupported operation: the tensor is a read-only view (an expand()ed "
            "tensor shares one memory location between elements); clone() it first"
        )
    np.copyto(dst, result_data, casting="unsafe")
    t._vc[0] += 1


def commit(t: Tensor, result: Tensor, opname: str) -> Tensor:
    """Write ``result`` into ``t`` in place (see the module docstring); returns ``t``."""
    if MODE.tracer is not None:
        return MODE.tracer.assign(t, result, opname)
    if MODE.grad_enabled and (t.requires_grad_flag or result.requires_grad_flag):
        _check_leaf(t, opname)
        _write(t, result._data, opname)
        if result._node is not None:
            t._node = result._node
            t._out_index = result._out_index
            t.requires_grad_flag = True
        return t
    _write(t, result._data, opname)
    return t
