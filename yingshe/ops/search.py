"""Searching and counting: ``nonzero``/``argwhere``, ``unique``, ``bincount``,
``searchsorted``/``bucketize`` (PyTorch's names, signatures and dtypes).

``nonzero``, ``unique`` and ``bincount`` return as many entries as the data asks for,
so they need concrete values: in a graph or a compiled function they raise
``UnsupportedError`` naming what to use instead. Their results carry no gradient
(PyTorch defines none either). ``searchsorted``/``bucketize`` have the shape of their
``values`` and are a registered op: they run in graphs too.
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe._tensor import MODE, Tensor, _wrap
from yingshe.errors import DTypeError, ShapeError, UnsupportedError, no_out
from yingshe.ops._registry import apply, is_graph_value, register_op, tensor_method
from yingshe.ops._shapes import Meta, shape_str

__all__ = ["nonzero", "argwhere", "unique", "bincount", "searchsorted", "bucketize"]


def _concrete(opname: str, x, instead: str) -> np.ndarray:
    """The values of ``x``; a clear refusal for a graph value or inside a trace."""
    if not isinstance(x, Tensor):
        return np.asarray(x)
    if is_graph_value(x) or MODE.tracer is not None:
        raise UnsupportedError(
            f"{opname}: the result's shape depends on the values of its input "
            f"(shape {shape_str(x.shape)}), which a graph or compiled function does not "
            f"have; {instead}")
    return x._data


@tensor_method
def nonzero(input, *, out=None, as_tuple=False):
    """Indices of the non-zero entries: an (n, ndim) int64 tensor, or with
    ``as_tuple=True`` one 1-d tensor per dim (a 0-d input counts as 1-d)."""
    no_out(out, "nonzero")
    a = _concrete("nonzero", input, "use where()/masked_fill() to keep the shape")
    if as_tuple:
        return tuple(_wrap(c.astype(np.int64)) for c in np.nonzero(np.atleast_1d(a)))
    if a.ndim == 0:
        return _wrap(np.zeros((int(a != 0), 0), np.int64))
    return _wrap(np.argwhere(a).astype(np.int64))


@tensor_method
def argwhere(input):
    """``nonzero(input)``: an (n, ndim) int64 tensor of the non-zero positions."""
    return nonzero(input)


@tensor_method
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values (sorted), over the flattened input or along ``dim`` (distinct
    slices); optionally the inverse indices (input's shape, or its ``dim`` size) and
    the counts."""
    a = _concrete("unique", input, "compute the distinct values before tracing")
    if dim is None:
        vals, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
        inv = inv.reshape(a.shape)
    else:
        d = dim + a.ndim if dim < 0 else dim
        if not 0 <= d < max(a.ndim, 1):
            raise IndexError(f"unique: dim {dim} is out of range for a tensor of dimension "
                             f"{a.ndim}")
        vals, inv, counts = np.unique(a, return_inverse=True, return_counts=True, axis=d)
        inv = inv.reshape(-1)
    out = [_wrap(np.ascontiguousarray(vals))]
    if return_inverse:
        out.append(_wrap(inv.astype(np.int64)))
    if return_counts:
        out.append(_wrap(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


@tensor_method
def bincount(input, weights=None, minlength=0):
    """The number of times each value 0..max occurs in a 1-d non-negative integer
    tensor (at least ``minlength`` bins); with ``weights``, their sums per bin."""
    a = _concrete("bincount", input, "give one_hot(x, num_classes).sum(0) a fixed length")
    if a.ndim != 1 or a.dtype.kind not in "iu" or (a.size and a.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs "
                           f"(got shape {shape_str(a.shape)}, dtype {input.dtype})")
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    if weights is not None:
        w = _concrete("bincount", weights, "give one_hot(x, num_classes).sum(0) a fixed "
                      "length")
        if w.shape != a.shape:
            raise RuntimeError(f"bincount: weights should be 1-d and have the same length as "
                               f"input (input {shape_str(a.shape)}, weights "
                               f"{shape_str(w.shape)})")
    if weights is None or a.size == 0:   # PyTorch: an empty input gives int64 zeros
        return _wrap(np.bincount(a, minlength=minlength).astype(np.int64))
    dt = w.dtype if w.dtype.kind == "f" else np.float64
    return _wrap(np.bincount(a, weights=w, minlength=minlength).astype(dt))


def _check_shapes(bshape, vshape) -> None:
    if len(bshape) == 0:
        raise ShapeError("searchsorted: boundaries must have at least one dimension")
    if len(bshape) > 1 and (len(vshape) != len(bshape) or any(
            None not in (a, b) and a != b for a, b in zip(bshape[:-1], vshape[:-1]))):
        raise ShapeError(
            f"searchsorted: boundaries of shape {shape_str(bshape)} and values of shape "
            f"{shape_str(vshape)}: an N-d sorted sequence needs the same leading dims as the "
            "values")


@register_op("searchsorted", saves="none")
class SearchSorted:
    """For each value, the index where it would be inserted into the sorted last dim of
    ``boundaries`` (1-d, or the values' leading dims) to keep it sorted."""

    def forward(xp, boundaries, values, *, right, out_int32):
        side = "right" if right else "left"
        dt = xp.int32 if out_int32 else xp.int64
        if boundaries.ndim == 1:
            return xp.searchsorted(boundaries, values, side=side).astype(dt)
        b2 = boundaries.reshape(-1, boundaries.shape[-1])
        v2 = values.reshape(b2.shape[0], -1)
        out = xp.empty(v2.shape, dt)
        for k in range(b2.shape[0]):
            out[k] = xp.searchsorted(b2[k], v2[k], side=side)
        return out.reshape(values.shape)

    def infer(boundaries, values, *, right, out_int32):
        if not isinstance(values, Meta):
            raise TypeError("searchsorted: values must be a tensor here")
        if boundaries.dtype is _dtype.bool or values.dtype is _dtype.bool:
            raise DTypeError("searchsorted: boolean tensors are not supported")
        _check_shapes(tuple(boundaries.shape), tuple(values.shape))
        return Meta(tuple(values.shape), _dtype.int32 if out_int32 else _dtype.int64)


def _search_args(opname, seq, values, right, side, sorter):
    if sorter is not None:
        raise NotImplementedError(f"{opname}: sorter is not supported by yingshe; sort the "
                                  "sequence first")
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"{opname}: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise RuntimeError(f"{opname}: side and right can't be set to opposites, got "
                               f"side of left while right was True")
        right = side == "right"
    if not isinstance(seq, Tensor):
        seq = _wrap(np.asarray(seq))
    if not isinstance(values, Tensor):
        values = _wrap(np.asarray(values, dtype=seq.dtype.np))
    _check_shapes(tuple(seq.shape), tuple(values.shape))
    return seq, values, bool(right)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 out=None, sorter=None):
    """``torch.searchsorted``: insertion indices of ``input`` into ``sorted_sequence``
    (``right``/``side="right"``: after equal entries)."""
    no_out(out, "searchsorted")
    seq, values, right = _search_args("searchsorted", sorted_sequence, input, right, side,
                                      sorter)
    return apply(SearchSorted, seq, values, right=right, out_int32=bool(out_int32))


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    """``torch.bucketize``: the bucket of each value among 1-d ``boundaries``
    (``right=False``: ``boundaries[i-1] < x <= boundaries[i]``)."""
    no_out(out, "bucketize")
    if isinstance(boundaries, Tensor) and boundaries.ndim != 1:
        raise ShapeError(f"bucketize: boundaries must be 1-d, got {shape_str(boundaries.shape)}")
    seq, values, right = _search_args("bucketize", boundaries, input, right, None, None)
    return apply(SearchSorted, seq, values, right=right, out_int32=bool(out_int32))
