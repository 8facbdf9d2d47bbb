"""Indexing ops: ``x[key]``, ``x[key] = v``, gather/scatter, masks, triangles, padding.

``x[key]`` follows PyTorch: the basic part of the key (ints, slices, ``None``,
``...``) is applied first as one view op (``getitem``, sharing memory and the
version counter); integer tensors/arrays/lists and boolean masks then index the
remaining dims with NumPy's advanced-indexing rule (``index``, a copy). Boolean
masks become the integer arrays of their ``nonzero()`` positions first, so the
``index`` op's output shape follows from its inputs' shapes alone. Gradients
scatter back with accumulation for repeated indices.

``x[key] = v`` computes the result out of place with ``index_put`` and commits it
with ``yingshe.ops._inplace.commit`` (PyTorch's autograd rules for in-place ops).

Attribute keys are hashable tuples: an ``int`` selects, ``None`` inserts a dim,
``("s", start, stop, step)`` is a slice; in an ``index`` key, ``None`` is a full
slice and an ``int`` k names the k-th index input.
"""

from __future__ import annotations

import operator

import numpy as np

from yingshe import _dtype
from yingshe._tensor import MODE, Tensor, _wrap
from yingshe.errors import DTypeError, IndexError, ShapeError, UnsupportedError
from yingshe.ops._inplace import check_target, commit, needs_autograd, readonly_error
from yingshe.ops._registry import apply, is_graph_value, meta_of, register_op, tensor_method
from yingshe.ops._shapes import Meta, broadcast_shapes, normalize_dim, shape_str
from yingshe.ops._shapes import check_index_range as _check_range
from yingshe.ops.shape import Clone, expand, reshape

__all__ = ["narrow", "select", "index_put", "index_put_", "gather", "scatter", "scatter_add",
           "index_select", "index_add", "masked_fill", "masked_select", "take_along_dim",
           "tril", "triu", "diagonal", "diag", "one_hot", "pad"]

_FULL = ("s", None, None, None)


def _zeros(m, dtype=None) -> Tensor:
    """A constant zero tensor of a known shape (the start of a scatter in a VJP)."""
    dt = dtype if dtype is not None else m.dtype
    return _wrap(np.zeros(tuple(m.shape), dt.np if isinstance(dt, _dtype.dtype) else dt))


def _alias(x: Tensor) -> Tensor:
    """``x`` for the tape (same producer edge) with its own version counter.

    The in-place forms (``x[k] = v``, ``masked_fill_`` ...) record an op that saves
    ``x`` although its VJP reads only ``x``'s shape; committing the result bumps
    ``x``'s version, which must not make that saved input look stale. Leaves that
    require grad keep themselves (their gradient must reach them; ``commit`` refuses
    them anyway); a leaf that does not is aliased too (``c = zeros(3); c[0] = a[0] ** 2``
    then a backward, as in PyTorch)."""
    if x._data is None:
        return x
    if x.grad_fn is None and x.requires_grad_flag:  # (grad_fn brings a stale view up to date)
        return x
    return _wrap(x._data, x.requires_grad_flag, x._node, x._out_index)


def _oob(value, dim, size) -> IndexError:
    return IndexError(f"index {value} is out of bounds for dimension {dim} with size {size}")


# ---- basic indexing (a view) --------------------------------------------------------------------

def _build_basic(key) -> tuple:
    return tuple(slice(k[1], k[2], k[3]) if isinstance(k, tuple) else k for k in key)


def _basic_shape(shape, key) -> tuple:
    out = []
    d = 0
    for k in key:
        if k is None:
            out.append(1)
        elif isinstance(k, tuple):
            n = shape[d]
            out.append(None if n is None else len(range(*slice(k[1], k[2], k[3]).indices(n))))
            d += 1
        else:
            n = shape[d]
            if n is not None and not -n <= k < n:
                raise _oob(k, d, n)
            d += 1
    if d > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    return tuple(out) + tuple(shape[d:])


@register_op("getitem", saves="none", view=True)
class Getitem:
    """Basic indexing (ints, slices with steps, new dims): a view of the input."""

    def forward(xp, x, *, key):
        k = _build_basic(key)
        # all-integer keys give NumPy a scalar copy; an Ellipsis keeps a 0-d view, which
        # is what PyTorch returns (x[0, 0] shares x's memory)
        out = x[k + (Ellipsis,)] if isinstance(k, tuple) and Ellipsis not in k else x[k]
        return out if isinstance(out, xp.ndarray) else xp.asarray(out)

    def infer(x, *, key):
        return Meta(_basic_shape(x.shape, key), x.dtype)

    def vjp(g, out, x, *, key):
        return apply(GetitemBackward, g, key=key, shape=tuple(x.shape))


@register_op("getitem_backward", saves="none")
class GetitemBackward:
    """Zeros of ``shape`` with ``g`` written at the basic ``key`` (getitem's transpose)."""

    def forward(xp, g, *, key, shape):
        z = xp.zeros(shape, g.dtype)
        z[_build_basic(key)] = g
        return z

    def infer(g, *, key, shape):
        want = _basic_shape(shape, key)
        if len(want) != len(g.shape):
            raise ShapeError(f"getitem_backward: gradient of shape {shape_str(g.shape)} does "
                             f"not match the indexed shape {shape_str(want)}")
        return Meta(tuple(shape), g.dtype)

    def vjp(g, out, gin, *, key, shape):
        return apply(Getitem, g, key=key)


# ---- advanced indexing (a copy) -----------------------------------------------------------------

def _build_adv(key, idx) -> tuple:
    return tuple(slice(None) if k is None else idx[k] for k in key)


def _adv_shape(opname, shape, key, idx_metas) -> tuple:
    for m in idx_metas:
        if m.dtype.category != _dtype.INT or m.dtype is _dtype.bool:
            raise IndexError(f"{opname}: tensors used as indices must be long, int, byte or "
                             f"bool tensors, got {m.dtype}")
    if len(key) > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    b = broadcast_shapes(opname, *(m.shape for m in idx_metas))
    pos = [i for i, k in enumerate(key) if k is not None]
    rest = [shape[i] for i, k in enumerate(key) if k is None] + list(shape[len(key):])
    if pos == list(range(pos[0], pos[-1] + 1)):
        before = [shape[i] for i in range(pos[0])]
        return tuple(before) + tuple(b) + tuple(rest[len(before):])
    return tuple(b) + tuple(rest)


@register_op("index", saves="inputs")
class Index:
    """Advanced indexing by int64 index arrays (NumPy's rule on where the dims go)."""

    def forward(xp, x, *idx, key):
        for d, k in enumerate(key):
            if k is not None:
                _check_range("index", idx[k], d, x.shape[d])
        return x[_build_adv(key, idx)]

    def infer(x, *idx, key):
        return Meta(_adv_shape("index", x.shape, key, idx), x.dtype)

    def vjp(g, out, x, *idx, key):
        return (apply(IndexBackward, g, *idx, key=key, shape=tuple(x.shape)),) + \
            (None,) * len(idx)


@register_op("index_backward", saves="inputs")
class IndexBackward:
    """Zeros of ``shape`` with ``g`` added at the advanced ``key`` (repeats accumulate)."""

    def forward(xp, g, *idx, key, shape):
        z = xp.zeros(shape, g.dtype)
        xp.add.at(z, _build_adv(key, idx), g)
        return z

    def infer(g, *idx, key, shape):
        return Meta(tuple(shape), g.dtype)

    def vjp(g, out, gin, *idx, key, shape):
        return (apply(Index, g, *idx, key=key),) + (None,) * len(idx)


# ---- parsing a key ------------------------------------------------------------------------------

def _as_index_array(k):
    """An int64 (or bool mask) NumPy array of an index; a graph integer tensor stays
    itself (an input of the ``index`` node: its values exist only at run time)."""
    if isinstance(k, Tensor):
        if is_graph_value(k):
            if k.dtype is _dtype.bool or k.dtype is _dtype.uint8:
                raise UnsupportedError(
                    f"indexing with a boolean mask (a graph tensor of shape "
                    f"{shape_str(k.shape)}): the result's shape would depend on the mask's "
                    "values; use where()/masked_fill(), or index with integer positions")
            if k.dtype.category != _dtype.INT:
                raise IndexError(f"tensors used as indices must be long, int, byte or bool "
                                 f"tensors, got {k.dtype}")
            return k
        arr = k._data
    else:
        arr = np.asarray(k)
        if arr.dtype == object:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or "
                             "byte tensors are valid indices")
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)
    if arr.dtype.kind not in "biu":
        raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, "
                         f"got {arr.dtype}")
    if arr.dtype == np.uint8:
        arr = arr.astype(bool)  # PyTorch's (deprecated) byte masks
    if arr.dtype.kind in "iu" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    return arr


def _parse(shape, key):
    """Split ``key`` into (basic key, advanced key or None, index arrays)."""
    if not isinstance(key, tuple):
        key = (key,)
    items = []
    consumed = 0
    ellipsis = False
    for k in key:
        if k is None:
            items.append(None)
        elif k is Ellipsis:
            if ellipsis:
                raise IndexError("an index can only have a single ellipsis ('...')")
            ellipsis = True
            items.append(Ellipsis)
        elif isinstance(k, slice):
            start, stop, step = (None if v is None else operator.index(v)
                                 for v in (k.start, k.stop, k.step))
            if step is not None and step <= 0:
                raise ValueError("step must be greater than zero")
            items.append(("s", start, stop, step))
            consumed += 1
        elif isinstance(k, (bool, np.bool_)):
            items.append(("b", bool(k)))
        elif isinstance(k, (int, np.integer)):
            items.append(int(k))
            consumed += 1
        elif isinstance(k, (Tensor, np.ndarray, list, tuple)):
            arr = _as_index_array(k)
            if isinstance(arr, Tensor):           # a graph integer tensor
                items.append(("a", arr))
                consumed += 1
            elif arr.dtype == bool:
                if arr.ndim == 0:
                    items.append(("b", bool(arr)))
                else:
                    items.append(("m", arr))
                    consumed += arr.ndim
            else:
                items.append(("a", arr))
                consumed += 1
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or "
                             f"byte tensors are valid indices (got {type(k).__name__})")
    ndim = len(shape)
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    basic: list = []
    adv: list = []
    arrays: list = []
    d = 0
    for it in items:
        if it is Ellipsis:
            n = ndim - consumed
            basic.extend([_FULL] * n)
            adv.extend([None] * n)
            d += n
        elif it is None:
            basic.append(None)
            adv.append(None)
        elif isinstance(it, int):
            n = shape[d]
            if n is not None and not -n <= it < n:
                raise _oob(it, d, n)
            basic.append(it)
            d += 1
        elif it[0] == "s":
            basic.append(it)
            adv.append(None)
            d += 1
        elif it[0] == "b":  # a Python bool: a new dim, kept (True) or emptied (False)
            basic.append(None)
            adv.append(len(arrays))
            arrays.append(np.zeros(1 if it[1] else 0, np.int64))
        elif it[0] == "a":
            basic.append(_FULL)
            adv.append(len(arrays))
            arrays.append(it[1])
            d += 1
        else:  # a boolean mask over the next mask.ndim dims
            mask = it[1]
            want = shape[d:d + mask.ndim]
            if any(w is not None and w != m for w, m in zip(want, mask.shape)):
                raise IndexError(
                    f"The shape of the mask {list(mask.shape)} at index {d} does not match "
                    f"the shape of the indexed tensor {list(shape)} at index {d}")
            for col in np.nonzero(mask):
                basic.append(_FULL)
                adv.append(len(arrays))
                arrays.append(col.astype(np.int64, copy=False))
            d += mask.ndim
    while basic and basic[-1] == _FULL:
        basic.pop()
    while adv and adv[-1] is None:
        adv.pop()
    return tuple(basic), (tuple(adv) if arrays else None), arrays


def _index_tensors(arrays) -> list:
    return [a if isinstance(a, Tensor) else _wrap(a) for a in arrays]


def _apply_key(x, basic, adv, idx):
    """``x[basic]`` (a view), then the advanced ``adv`` key with index tensors ``idx``."""
    if basic and not all(k == _FULL for k in basic):
        x = apply(Getitem, x, key=basic)
    if adv is not None:
        x = apply(Index, x, *idx, key=adv)
    return x


@tensor_method("__getitem__")
def _getitem(self, key):
    basic, adv, arrays = _parse(tuple(self.shape), key)
    out = _apply_key(self, basic, adv, _index_tensors(arrays))
    if out is self:
        out = apply(Getitem, self, key=())
    return out


@tensor_method
def narrow(input, dim, start, length):
    """The view ``input[..., start:start + length, ...]`` along ``dim``."""
    d = normalize_dim("narrow", dim, input.ndim)
    if input.ndim == 0:
        raise IndexError("narrow: cannot be applied to a 0-dim tensor")
    n = input.shape[d]
    start = operator.index(start)
    length = operator.index(length)
    if n is not None:
        if not -n <= start <= n:
            raise IndexError(f"narrow: start out of range (expected to be in range of "
                             f"[{-n}, {n}], but got {start})")
        if start < 0:
            start += n
        if length < 0 or start + length > n:
            raise ShapeError(f"narrow: start ({start}) + length ({length}) exceeds dimension "
                             f"size ({n})")
    return apply(Getitem, input, key=(_FULL,) * d + (("s", start, start + length, None),))


@tensor_method
def select(input, dim, index):
    """The view ``input[..., index, ...]`` with ``index`` along ``dim`` (that dim removed);
    a negative index counts from the end."""
    if input.ndim == 0:
        raise IndexError("select(): cannot be applied to a 0-dim tensor")
    d = normalize_dim("select", dim, input.ndim)
    n = input.shape[d]
    index = operator.index(index)
    if n is not None:
        if not -n <= index < n:
            raise IndexError(f"select(): index {index} out of range for tensor of size "
                             f"{shape_str(input.shape)} at dimension {d}")
        index %= n
    return apply(Getitem, input, key=(_FULL,) * d + (index,))


# ---- index_put and x[key] = v ---------------------------------------------------------------------

def _put_target(x, basic, adv, idx):
    """The (view, advanced key) that ``x[basic][adv]`` writes through."""
    view = x[_build_basic(basic)] if basic else x
    return view, (_build_adv(adv, idx) if adv is not None else None)


@register_op("index_put", saves="inputs")
class IndexPut:
    """A copy of ``x`` with ``values`` written (or added, ``accumulate``) at the key."""

    def forward(xp, x, values, *idx, basic, adv, accumulate):
        out = x.copy()
        if adv is not None:
            view = out[_build_basic(basic)] if basic else out
            for d, k in enumerate(adv):
                if k is not None:
                    _check_range("index_put", idx[k], d, view.shape[d])
        if isinstance(values, xp.ndarray):
            values = values.astype(x.dtype, copy=False)
        if adv is None:
            key = _build_basic(basic)
            # leading size-1 dims of the value beyond the target's are dropped (PyTorch)
            values = _strip_lead(values, np.ndim(out[key]))
            if accumulate:
                out[key] += values
            else:
                out[key] = values
            return out
        view, key = _put_target(out, basic, adv, idx)
        want = view[key].shape
        if accumulate:
            xp.add.at(view, key, xp.broadcast_to(_strip_lead(values, len(want)), want))
        else:
            view[key] = _strip_lead(values, len(want))
        return out

    def infer(x, values, *idx, basic, adv, accumulate):
        shape = _basic_shape(x.shape, basic)
        if adv is not None:
            shape = _adv_shape("index_put", shape, adv, idx)
        if isinstance(values, Meta):
            vs = tuple(values.shape)
            while len(vs) > len(shape) and vs[0] == 1:
                vs = vs[1:]
            try:
                b = broadcast_shapes("index_put", vs, shape)
            except ShapeError:
                b = None
            if b is None or len(b) != len(shape) or any(
                    p is not None and q is not None and p != q for p, q in zip(b, shape)):
                raise ShapeError(f"index_put: shape mismatch: value tensor of shape "
                                 f"{shape_str(values.shape)} cannot be broadcast to indexing "
                                 f"result of shape {shape_str(shape)}")
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x, values, *idx, basic, adv, accumulate, needs):
        gx = None
        if needs[0]:
            gx = g if accumulate else apply(IndexPut, g, 0.0, *idx, basic=basic, adv=adv,
                                            accumulate=False)
        gv = None
        if isinstance(values, (Tensor, Meta)) and len(needs) > 1 and needs[1]:
            gv = _apply_key(g, basic, adv, idx)
            if gv is g:
                gv = apply(Clone, g)
            vs = tuple(values.shape)
            if len(vs) > gv.ndim:
                gv = reshape(gv, (1,) * (len(vs) - gv.ndim) + tuple(gv.shape))
        return (gx, gv) + (None,) * len(idx)


def _strip_lead(values, ndim):
    if isinstance(values, np.ndarray):
        while values.ndim > ndim and values.shape[0] == 1:
            values = values[0]
    return values


def _value_operand(value, like: Tensor):
    """A Python number stays; anything else becomes a tensor of ``like``'s dtype."""
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        return value
    if not isinstance(value, Tensor):
        value = _wrap(np.asarray(value, dtype=like.dtype.np))
    if value.dtype is not like.dtype:   # (``like`` may be a graph value: no _data)
        from yingshe.ops.elementwise import to_dtype
        value = to_dtype(value, like.dtype)
    return value


@tensor_method("__setitem__")
def _setitem(self, key, value):
    check_target(self, "__setitem__")
    basic, adv, arrays = _parse(tuple(self.shape), key)
    value = _value_operand(value, self)
    if MODE.tracer is None and not needs_autograd(self, value):
        data = self._data
        if not data.flags.writeable:
            raise readonly_error("__setitem__", data)
        v = value._data if isinstance(value, Tensor) else value
        if isinstance(value, Tensor):   # the shape rule's error, not NumPy's
            IndexPut.infer(meta_of(self), meta_of(value),
                           *[meta_of(a) for a in _index_tensors(arrays)], basic=basic, adv=adv,
                           accumulate=False)
        if adv is None:
            key = _build_basic(basic) if data.ndim and basic else ...
            data[key] = _strip_lead(v, np.ndim(data[key]))
        else:
            view, k = _put_target(data, basic, adv, arrays)
            for d, kk in enumerate(adv):
                if kk is not None:
                    _check_range("__setitem__", arrays[kk], d, view.shape[d])
            view[k] = _strip_lead(v, view[k].ndim)
        self._vc[0] += 1
        return
    if isinstance(value, Tensor) and MODE.tracer is None:
        # the VJP reads only the value's shape: its own version counter keeps ``x[0] += 1``
        # (a write of x's own view back into x) from looking stale at backward
        value = _alias(value)
    result = apply(IndexPut, _alias(self), value, *_index_tensors(arrays), basic=basic,
                   adv=adv, accumulate=False)
    commit(self, result, "__setitem__")


def _indices_key(input, indices):
    if isinstance(indices, Tensor) or not isinstance(indices, (tuple, list)):
        raise TypeError("index_put: indices must be a tuple of tensors")
    key = tuple(slice(None) if i is None else i for i in indices)
    basic, adv, arrays = _parse(tuple(input.shape), key)
    return basic, adv, arrays


@tensor_method
def index_put(input, indices, values, accumulate=False):
    """A copy of ``input`` with ``values`` put (or added) at ``input[indices]``."""
    basic, adv, arrays = _indices_key(input, indices)
    if isinstance(values, Tensor) and values.dtype != input.dtype:
        raise DTypeError(f"index_put: index put requires the source and destination dtypes "
                         f"match, got {input.dtype} for the destination and {values.dtype} "
                         "for the source")
    return apply(IndexPut, input, values, *_index_tensors(arrays), basic=basic, adv=adv,
                 accumulate=bool(accumulate))


@tensor_method
def index_put_(input, indices, values, accumulate=False):
    return commit(input, index_put(_alias(input), indices, values, accumulate), "index_put_")


# ---- gather / scatter -----------------------------------------------------------------------------

def _grid(xp, index, dim):
    idx = list(xp.indices(index.shape, sparse=True))
    idx[dim] = index
    return tuple(idx)


def _check_gather_shapes(opname, x_shape, index_shape, dim, src_shape=None):
    if len(index_shape) != len(x_shape) and not (len(index_shape) <= 1 and len(x_shape) <= 1):
        raise ShapeError(f"{opname}: index tensor must have the same number of dimensions as "
                         f"input tensor (index {shape_str(index_shape)}, input "
                         f"{shape_str(x_shape)})")
    for d, (i, s) in enumerate(zip(index_shape, x_shape)):
        if d != dim and i is not None and s is not None and i > s:
            raise ShapeError(f"{opname}: size does not match at dimension {d}: expected index "
                             f"{shape_str(index_shape)} to be no larger than input "
                             f"{shape_str(x_shape)} apart from dimension {dim}")
    if src_shape is not None:
        for d, (i, s) in enumerate(zip(index_shape, src_shape)):
            if i is not None and s is not None and i > s:
                raise ShapeError(f"{opname}: expected index {shape_str(index_shape)} to be no "
                                 f"larger than src {shape_str(src_shape)} (dimension {d})")


def _as_1d(x):
    return x.reshape(1) if x.ndim == 0 else x


@register_op("gather", saves="inputs")
class Gather:
    """out[i][j] = x[index[i][j]][j] for dim 0 (and so on): index has x's rank."""

    def forward(xp, x, index, *, dim):
        _check_gather_shapes("gather", x.shape, index.shape, dim)
        x1, i1 = _as_1d(x), _as_1d(index)
        _check_range("gather", i1, dim, x1.shape[dim], negative=False)
        return x1[_grid(xp, i1, dim)].reshape(index.shape)

    def infer(x, index, *, dim):
        _check_int_index("gather", index)
        _check_gather_shapes("gather", x.shape, index.shape, dim)
        return Meta(tuple(index.shape), x.dtype)

    def vjp(g, out, x, index, *, dim):
        return apply(ScatterAdd, _zeros(x, g.dtype), index, g, dim=dim), None


def _check_int_index(opname, index):
    if not isinstance(index, Meta) or index.dtype is not _dtype.int64:
        got = index.dtype if isinstance(index, Meta) else type(index).__name__
        raise DTypeError(f"{opname}: expected dtype int64 for index, got {got}")


def _pad_to(t, shape):
    """Zero-pad ``t`` at the end of each dim up to ``shape`` (gradient of a src prefix)."""
    if tuple(t.shape) == tuple(shape):
        return t
    pads = tuple((0, s - ts) for ts, s in zip(t.shape, shape))
    return apply(Pad, t, pads=pads, mode="constant", value=0.0)


@register_op("scatter", saves="inputs")
class Scatter:
    """A copy of ``x`` with x[index[i][j]][j] = src[i][j] (dim 0); src may be a number."""

    def forward(xp, x, index, src, *, dim):
        src_shape = src.shape if isinstance(src, xp.ndarray) else None
        _check_gather_shapes("scatter", x.shape, index.shape, dim, src_shape)
        out = _as_1d(x.copy())
        i1 = _as_1d(index)
        _check_range("scatter", i1, dim, out.shape[dim], negative=False)
        if isinstance(src, xp.ndarray):
            src = _as_1d(src)[tuple(slice(0, s) for s in i1.shape)].astype(x.dtype, copy=False)
        out[_grid(xp, i1, dim)] = src
        return out.reshape(x.shape)

    def infer(x, index, src, *, dim):
        _check_int_index("scatter", index)
        _check_gather_shapes("scatter", x.shape, index.shape, dim,
                             src.shape if isinstance(src, Meta) else None)
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x, index, src, *, dim, needs):
        gx = apply(Scatter, g, index, 0.0, dim=dim) if needs[0] else None
        gs = None
        if isinstance(src, (Tensor, Meta)) and needs[2]:
            gs = _pad_to(apply(Gather, g, index, dim=dim), src.shape)
        return gx, None, gs


@register_op("scatter_add", saves="inputs")
class ScatterAdd:
    """A copy of ``x`` with src[i][j] added at x[index[i][j]][j] (repeats accumulate)."""

    def forward(xp, x, index, src, *, dim):
        _check_gather_shapes("scatter_add", x.shape, index.shape, dim, src.shape)
        out = _as_1d(x.copy())
        i1 = _as_1d(index)
        _check_range("scatter_add", i1, dim, out.shape[dim], negative=False)
        part = _as_1d(src)[tuple(slice(0, s) for s in i1.shape)]
        xp.add.at(out, _grid(xp, i1, dim), part)
        return out.reshape(x.shape)

    def infer(x, index, src, *, dim):
        _check_int_index("scatter_add", index)
        _check_gather_shapes("scatter_add", x.shape, index.shape, dim, src.shape)
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x, index, src, *, dim, needs):
        gs = _pad_to(apply(Gather, g, index, dim=dim), src.shape) if needs[2] else None
        return (g if needs[0] else None), None, gs


def _index_arg(opname, index) -> Tensor:
    if not isinstance(index, Tensor):
        index = _wrap(np.asarray(index))
    if index._data is not None and index._data.dtype != np.int64:
        if index._data.dtype.kind in "iu":
            index = _wrap(index._data.astype(np.int64))
        else:
            raise DTypeError(f"{opname}: expected dtype int64 for index, got {index.dtype}")
    return index


@tensor_method
def gather(input, dim, index, *, sparse_grad=False):
    """Values of ``input`` along ``dim`` at ``index`` (same rank as ``input``)."""
    index = _index_arg("gather", index)
    d = normalize_dim("gather", dim, input.ndim)
    return apply(Gather, input, index, dim=d)


def _reduce_unsupported(opname, reduce):
    if reduce is not None:
        from yingshe.errors import format_site, user_site
        raise UnsupportedError(f"{opname}: reduce={reduce!r} is not supported by yingshe; use "
                               f"scatter_add, or compute the reduction out of place (at "
                               f"{format_site(user_site(2))})")


@tensor_method
def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """A copy of ``input`` with ``src`` (a tensor, or a number ``value``) written at
    ``index`` along ``dim``."""
    _reduce_unsupported("scatter", reduce)
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: expected a src tensor or a value")
    index = _index_arg("scatter", index)
    d = normalize_dim("scatter", dim, input.ndim)
    if isinstance(src, Tensor):
        if src.dtype != input.dtype:
            raise DTypeError(f"scatter: expected self.dtype to be equal to src.dtype (got "
                             f"{input.dtype} and {src.dtype})")
    elif not isinstance(src, (bool, int, float)):
        src = float(src)
    return apply(Scatter, input, index, src, dim=d)


@tensor_method
def scatter_(input, dim, index, src=None, *, value=None, reduce=None):
    return commit(input, scatter(_alias(input), dim, index, src, value=value, reduce=reduce),
                  "scatter_")


@tensor_method
def scatter_add(input, dim, index, src):
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim``."""
    index = _index_arg("scatter_add", index)
    d = normalize_dim("scatter_add", dim, input.ndim)
    if src.dtype != input.dtype:
        raise DTypeError(f"scatter_add: expected self.dtype to be equal to src.dtype (got "
                         f"{input.dtype} and {src.dtype})")
    return apply(ScatterAdd, input, index, src, dim=d)


@tensor_method
def scatter_add_(input, dim, index, src):
    return commit(input, scatter_add(_alias(input), dim, index, src), "scatter_add_")


@register_op("index_select", saves="inputs")
class IndexSelect:
    """The entries ``index`` (a vector) of ``x`` along ``dim``."""

    def forward(xp, x, index, *, dim):
        x1 = _as_1d(x)
        i1 = index.reshape(-1)
        _check_range("index_select", i1, dim, x1.shape[dim], negative=False)
        out = xp.take(x1, i1, axis=dim)
        return out.reshape(()) if x.ndim == 0 else out

    def infer(x, index, *, dim):
        _check_int_index("index_select", index)
        if len(index.shape) > 1:
            raise ShapeError(f"index_select: index should have 1 or 0 dimensions, got shape "
                             f"{shape_str(index.shape)}")
        n = index.shape[0] if index.shape else 1
        if not x.shape:
            if n != 1:      # (NumPy's reshape error otherwise)
                raise ShapeError(f"index_select: an index into a 0-d input can have only "
                                 f"1 value, got {n} value(s)")
            return Meta((), x.dtype)
        return Meta(tuple(x.shape[:dim]) + (n,) + tuple(x.shape[dim + 1:]), x.dtype)

    def vjp(g, out, x, index, *, dim):
        return apply(IndexAdd, _zeros(x, g.dtype), index, g, dim=dim, alpha=1), None


@register_op("index_add", saves="inputs")
class IndexAdd:
    """A copy of ``x`` with ``alpha * source`` added at ``index`` along ``dim``."""

    def forward(xp, x, index, source, *, dim, alpha):
        out = _as_1d(x.copy())
        i1 = index.reshape(-1)
        _check_range("index_add", i1, dim, out.shape[dim], negative=False)
        src = _as_1d(source)
        if alpha != 1:
            src = src * alpha
        xp.add.at(out, (slice(None),) * dim + (i1,), src)
        return out.reshape(x.shape)

    def infer(x, index, source, *, dim, alpha):
        _check_int_index("index_add", index)
        n = index.shape[0] if index.shape else 1
        want = tuple(x.shape[:dim]) + (n,) + tuple(x.shape[dim + 1:]) if x.shape else ()
        if len(source.shape) != len(want) or any(
                a is not None and b is not None and a != b for a, b in zip(source.shape, want)):
            if not (not x.shape and source.numel() == 1):
                raise ShapeError(f"index_add: source of shape {shape_str(source.shape)} does "
                                 f"not match the indexed shape {shape_str(want)}")
        return Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x, index, source, *, dim, alpha, needs):
        gs = None
        if needs[2]:
            gs = apply(IndexSelect, g, index, dim=dim)
            if alpha != 1:
                gs = gs * alpha
        return (g if needs[0] else None), None, gs


@tensor_method
def index_select(input, dim, index):
    """``input`` restricted to the entries ``index`` (1-d int) along ``dim``."""
    index = _index_arg("index_select", index)
    d = normalize_dim("index_select", dim, input.ndim)
    return apply(IndexSelect, input, index, dim=d)


@tensor_method
def index_add(input, dim, index, source, *, alpha=1):
    index = _index_arg("index_add", index)
    d = normalize_dim("index_add", dim, input.ndim)
    if source.dtype != input.dtype:
        raise DTypeError(f"index_add: source dtype {source.dtype} does not match self dtype "
                         f"{input.dtype}")
    return apply(IndexAdd, input, index, source, dim=d, alpha=alpha)


@tensor_method
def index_add_(input, dim, index, source, *, alpha=1):
    return commit(input, index_add(_alias(input), dim, index, source, alpha=alpha),
                  "index_add_")


@tensor_method
def take_along_dim(input, indices, dim=None):
    """``gather`` with broadcasting of ``input`` and ``indices`` (flattened when dim is None)."""
    indices = _index_arg("take_along_dim", indices)
    if dim is None:
        return gather(reshape(input, (-1,)), 0, reshape(indices, (-1,)))
    if input.ndim == 0:     # PyTorch's rule: a 0-d input has no dim to take along
        raise IndexError(f"take_along_dim: dimension specified as {dim} but the input "
                         f"(shape ()) has no dimensions")
    d = normalize_dim("take_along_dim", dim, input.ndim)
    if indices.ndim != input.ndim:
        raise ShapeError(f"take_along_dim: input and indices should have the same number of "
                         f"dimensions, but got {input.ndim} dimensions for input, and "
                         f"{indices.ndim} dimensions for indices")
    xs, ins = list(input.shape), list(indices.shape)
    xs[d] = ins[d] = 1
    b = broadcast_shapes("take_along_dim", xs, ins)
    xshape = tuple(input.shape[i] if i == d else b[i] for i in range(len(b)))
    ishape = tuple(indices.shape[i] if i == d else b[i] for i in range(len(b)))
    return gather(expand(input, xshape), d, expand(indices, ishape))


# ---- masks ----------------------------------------------------------------------------------------

@register_op("masked_fill", saves="inputs")
class MaskedFill:
    """``value`` where ``mask`` (broadcast), ``x`` elsewhere."""

    def forward(xp, x, mask, value):
        v = xp.asarray(value).astype(x.dtype, copy=False)
        return xp.where(mask, v, x)

    def infer(x, mask, value):
        if mask.dtype is not _dtype.bool:
            raise DTypeError(f"masked_fill: only supports boolean masks, but got mask with "
                             f"dtype {mask.dtype}")
        return Meta(broadcast_shapes("masked_fill", x.shape, mask.shape), x.dtype)

    def vjp(g, out, x, mask, value, *, needs):
        m = mask  # a bool mask never carries a gradient; a graph symbol works here too
        gx = apply(MaskedFill, g, m, 0.0) if needs[0] else None
        gv = None
        if isinstance(value, (Tensor, Meta)) and needs[2]:
            from yingshe.ops.reduce import sum as _sum
            gv = _sum(g * m)
        return gx, None, gv


def _mask_arg(opname, mask):
    if not isinstance(mask, Tensor):
        mask = _wrap(np.asarray(mask))
    if mask._data is not None and mask._data.dtype != np.bool_:
        raise DTypeError(f"{opname}: only supports boolean masks, but got mask with dtype "
                         f"{mask.dtype}")
    return mask


@tensor_method
def masked_fill(input, mask, value):
    """``value`` (a number or a 0-d tensor) where ``mask`` is True."""
    mask = _mask_arg("masked_fill", mask)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(f"masked_fill: only supports a 0-dimensional value tensor, but got "
                             f"tensor with {value.ndim} dimension(s)")
        value = _value_operand(value, input)
    elif not isinstance(value, (bool, int, float)):
        value = float(value)
    return apply(MaskedFill, input, mask, value)


@tensor_method
def masked_fill_(input, mask, value):
    return commit(input, masked_fill(_alias(input), mask, value), "masked_fill_")


@tensor_method
def masked_select(input, mask):
    """The 1-d tensor of the entries of ``input`` where ``mask`` (broadcast) is True."""
    mask = _mask_arg("masked_select", mask)
    if mask._data is None or MODE.tracer is not None:
        # the output's length is the number of True entries: only a concrete mask knows it
        raise UnsupportedError(
            "masked_select: the output shape depends on the mask's values, so the mask must "
            "be a concrete tensor (graphs and compiled functions need masked_fill or where)")
    shape = broadcast_shapes("masked_select", input.shape, mask.shape)
    x = expand(input, shape)
    m = np.broadcast_to(mask._data, shape)
    if not shape:   # 0-d: NumPy's nonzero refuses 0-d arrays
        x = reshape(x, (1,))
        m = m.reshape(1)
    cols = [_wrap(c.astype(np.int64)) for c in np.nonzero(m)]
    return apply(Index, x, *cols, key=tuple(range(len(cols))))


# ---- triangles and diagonals ----------------------------------------------------------------------

@register_op("tril", saves="none")
class Tril:
    """The lower (``upper=False``) or upper triangle of the last two dims."""

    def forward(xp, x, *, diagonal, upper):
        return xp.triu(x, diagonal) if upper else xp.tril(x, diagonal)

    def infer(x, *, diagonal, upper):
        if len(x.shape) < 2:
            raise ShapeError(f"{'triu' if upper else 'tril'}: input tensor must have at least "
                             f"2 dimensions, got shape {shape_str(x.shape)}")
        return x

    def vjp(g, out, x, *, diagonal, upper):
        return apply(Tril, g, diagonal=diagonal, upper=upper)


@tensor_method
def tril(input, diagonal=0):
    if input.ndim < 2:
        raise ShapeError(f"tril: input tensor must have at least 2 dimensions, got shape "
                         f"{shape_str(input.shape)}")
    return apply(Tril, input, diagonal=int(diagonal), upper=False)


@tensor_method
def triu(input, diagonal=0):
    if input.ndim < 2:
        raise ShapeError(f"triu: input tensor must have at least 2 dimensions, got shape "
                         f"{shape_str(input.shape)}")
    return apply(Tril, input, diagonal=int(diagonal), upper=True)


def _diag_len(n1, n2, offset):
    if n1 is None or n2 is None:
        return None
    return max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))


@register_op("diagonal", saves="none", view=True)
class Diagonal:
    """The ``offset`` diagonal of dims ``dim1``/``dim2``, appended as the last dim."""

    def forward(xp, x, *, offset, dim1, dim2):
        # NumPy's diagonal is a read-only view; PyTorch's is writeable
        # (``x.diagonal().fill_(1)`` writes x): the same view, built from strides
        y = xp.moveaxis(x, (dim1, dim2), (-2, -1))[..., max(-offset, 0):, max(offset, 0):]
        n = max(0, min(y.shape[-2], y.shape[-1]))
        return np.lib.stride_tricks.as_strided(
            y, y.shape[:-2] + (n,), y.strides[:-2] + (y.strides[-2] + y.strides[-1],),
            subok=False)

    def infer(x, *, offset, dim1, dim2):
        rest = tuple(s for i, s in enumerate(x.shape) if i not in (dim1, dim2))
        return Meta(rest + (_diag_len(x.shape[dim1], x.shape[dim2], offset),), x.dtype)

    def vjp(g, out, x, *, offset, dim1, dim2):
        return apply(DiagonalBackward, g, shape=tuple(x.shape), offset=offset, dim1=dim1,
                     dim2=dim2)


@register_op("diagonal_backward", saves="none")
class DiagonalBackward:
    """Zeros of ``shape`` with ``g`` written on the diagonal (diagonal's transpose)."""

    def forward(xp, g, *, shape, offset, dim1, dim2):
        z = xp.zeros(shape, g.dtype)
        view = xp.moveaxis(z, (dim1, dim2), (-2, -1))
        i = xp.arange(g.shape[-1])
        view[..., i + max(-offset, 0), i + max(offset, 0)] = g
        return z

    def infer(g, *, shape, offset, dim1, dim2):
        return Meta(tuple(shape), g.dtype)

    def vjp(g, out, gin, *, shape, offset, dim1, dim2):
        return apply(Diagonal, g, offset=offset, dim1=dim1, dim2=dim2)


@tensor_method
def diagonal(input, offset=0, dim1=0, dim2=1):
    d1 = normalize_dim("diagonal", dim1, input.ndim)
    d2 = normalize_dim("diagonal", dim2, input.ndim)
    if d1 == d2:
        raise ShapeError(f"diagonal: dimensions cannot be identical {dim1}, {dim2}")
    return apply(Diagonal, input, offset=int(offset), dim1=d1, dim2=d2)


@tensor_method
def diag(input, diagonal=0):
    """A 1-d input gives the matrix with it on the ``diagonal``; a 2-d one its diagonal."""
    if input.ndim == 1:
        n = input.shape[0] + abs(diagonal)
        return apply(DiagonalBackward, input, shape=(n, n), offset=int(diagonal), dim1=0,
                     dim2=1)
    if input.ndim == 2:     # a copy, as PyTorch's diag (diagonal() is the view)
        return apply(Diagonal, input, offset=int(diagonal), dim1=0, dim2=1).clone()
    raise ShapeError(f"diag: expected a 1-d or 2-d tensor, got shape {shape_str(input.shape)}")


# ---- writing through a view, as a value ------------------------------------------------------------

def _step_attrs(attrs) -> dict:
    return attrs if isinstance(attrs, dict) else dict(attrs)


def view_steps(fn) -> tuple:
    """A view's replay steps (``View.fn``) in hashable form, for a graph attribute."""
    return tuple((op, tuple(sorted(_step_attrs(a).items())), i) for op, a, i in fn)


def _replay_array(xp, a, fn):
    for op, attrs, index in fn:
        a = op.forward(xp, a, **_step_attrs(attrs))
        if index is not None:
            a = a[index]
    return a


@register_op("view_scatter", saves="none")
class ViewScatter:
    """A copy of ``base`` with ``src`` (broadcast, cast) written into the view of it that
    the replay steps ``fn`` select: what an in-place write through a view does to its
    base, as a value (PyTorch's ``CopySlices``; ``diagonal_scatter``/``slice_scatter``/
    ``select_scatter`` below are its one-step forms, PyTorch's functions of those names;
    not yet in the public namespace, whose list of names docs/torch_supported.md records).

    Its VJP is the same pair of maps: the base's gradient is ``g`` with the view's
    region zeroed (that region was overwritten), ``src``'s is the view of ``g``."""

    def forward(xp, base, src, *, fn):
        out = base.copy(order="K")
        view = _replay_array(xp, out, fn)
        if xp.may_share_memory(view, out):
            xp.copyto(view, src, casting="unsafe")
            return out
        # a step copied (a reshape of a layout that no longer allows a view): write
        # through the flat positions the view reads instead
        out = base.copy()
        pos = _replay_array(xp, xp.arange(out.size).reshape(out.shape), fn)
        out.reshape(-1)[pos.reshape(-1)] = xp.broadcast_to(src, pos.shape).reshape(-1)
        return out

    def infer(base, src, *, fn):
        return Meta(tuple(base.shape), base.dtype)

    def vjp(g, out, base, src, *, fn, needs):
        from yingshe.ops._registry import replay_view
        gb = apply(ViewScatter, g, 0.0, fn=fn) if needs[0] else None
        gs = replay_view(g, fn) if needs[1] else None
        return gb, gs


def _scatter_into(opname, input, src, step):
    """``input`` with ``src`` written into its one-step view ``step`` (op, attrs)."""
    from yingshe.ops.elementwise import to_dtype
    op, attrs = step
    want = tuple(op.infer(Meta(tuple(input.shape), input.dtype), **attrs).shape)
    if tuple(src.shape) != want:
        raise ShapeError(f"{opname}: expected src to have a size equal to the slice of self: "
                         f"src size {shape_str(src.shape)}, slice size {shape_str(want)}")
    if src.dtype != input.dtype:
        src = to_dtype(src, input.dtype)
    return apply(ViewScatter, input, src, fn=view_steps(((op, attrs, None),)))


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    """A copy of ``input`` with ``src`` on its diagonal (``input.diagonal(...)``'s place)."""
    d1 = normalize_dim("diagonal_scatter", dim1, input.ndim)
    d2 = normalize_dim("diagonal_scatter", dim2, input.ndim)
    if d1 == d2:
        raise ShapeError(f"diagonal_scatter: dimensions cannot be identical {dim1}, {dim2}")
    return _scatter_into("diagonal_scatter", input, src,
                         (Diagonal, {"offset": int(offset), "dim1": d1, "dim2": d2}))


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """A copy of ``input`` with ``src`` written at ``input[..., start:end:step, ...]``."""
    d = normalize_dim("slice_scatter", dim, input.ndim)
    if step is None or step <= 0:
        raise ShapeError(f"slice_scatter: slice step must be positive, got {step}")
    key = (_FULL,) * d + (("s", start, end, step),)
    return _scatter_into("slice_scatter", input, src, (Getitem, {"key": key}))


def select_scatter(input, src, dim, index):
    """A copy of ``input`` with ``src`` written at ``input.select(dim, index)``."""
    d = normalize_dim("select_scatter", dim, input.ndim)
    key = (_FULL,) * d + (operator.index(index),)
    return _scatter_into("select_scatter", input, src, (Getitem, {"key": key}))


# ---- one_hot --------------------------------------------------------------------------------------

@register_op("one_hot", saves="none")
class OneHot:
    """int64 one-hot encoding along a new last dim of size ``num_classes``."""

    def forward(xp, x, *, num_classes):
        if x.size:
            lo, hi = int(x.min()), int(x.max())
            if lo < 0:
                raise IndexError(f"one_hot: class values must be non-negative, got index {lo}")
            if hi >= num_classes:
                raise IndexError(f"one_hot: class values must be smaller than num_classes: "
                                 f"index {hi} is out of bounds for size {num_classes}")
        return (x[..., None] == xp.arange(num_classes)).astype(xp.int64)

    def infer(x, *, num_classes):
        if x.dtype is not _dtype.int64:
            raise DTypeError(f"one_hot: is only applicable to index tensor of type int64, got "
                             f"{x.dtype}")
        return Meta(tuple(x.shape) + (num_classes,), _dtype.int64)


def one_hot(tensor, num_classes=-1):
    """``tensor`` (int64) as one-hot rows of length ``num_classes`` (-1: max + 1)."""
    if tensor._data is not None and tensor._data.dtype != np.int64:
        raise DTypeError(f"one_hot: is only applicable to index tensor of type int64, got "
                         f"{tensor.dtype}")
    if num_classes == -1:
        if is_graph_value(tensor) or MODE.tracer is not None:
            raise UnsupportedError(
                "one_hot: num_classes=-1 takes the number of classes from the values, which "
                "a graph or compiled function does not have; pass num_classes")
        if tensor._data.size == 0:
            raise ShapeError("one_hot: can not infer total number of classes from empty tensor")
        num_classes = int(tensor._data.max()) + 1
    return apply(OneHot, tensor, num_classes=int(num_classes))


# ---- pad ------------------------------------------------------------------------------------------

_NP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_maps(shape, pads, mode):
    return [np.pad(np.arange(n), p, mode=_NP_MODES[mode]) for n, p in zip(shape, pads)]


def _padded_shape(shape, pads):
    return tuple(None if n is None else n + a + b for n, (a, b) in zip(shape, pads))


@register_op("pad", saves="none")
class Pad:
    """Pad (or crop, with negative constant pads) each dim by ``pads[d] = (before, after)``."""

    def forward(xp, x, *, pads, mode, value):
        if mode == "constant":
            crop = tuple(slice(max(-a, 0), n - max(-b, 0)) for n, (a, b) in zip(x.shape, pads))
            x = x[crop]
            width = tuple((max(a, 0), max(b, 0)) for a, b in pads)
            return xp.pad(x, width, mode="constant", constant_values=xp.asarray(value, x.dtype))
        return x[xp.ix_(*_pad_maps(x.shape, pads, mode))] if x.ndim else x.copy()

    def infer(x, *, pads, mode, value):
        return Meta(_check_pad(x.shape, pads, mode), x.dtype)

    def vjp(g, out, x, *, pads, mode, value):
        if mode == "constant":
            return apply(Pad, g, pads=tuple((-a, -b) for a, b in pads), mode="constant",
                         value=0.0)
        return apply(PadBackward, g, pads=pads, mode=mode, shape=tuple(x.shape))


def _check_pad(in_shape, pads, mode):
    """The padded shape; PyTorch's errors for impossible pads (checked before compute:
    NumPy would reflect a too-wide pad twice instead of failing)."""
    shape = _padded_shape(in_shape, pads)
    x = Meta(tuple(in_shape), None)
    if any(s is not None and s < 0 for s in shape):
        raise ShapeError(f"pad: the input size {shape_str(x.shape)}, plus negative padding "
                         f"{pads} resulted in a negative output size")
    for n, (a, b) in zip(x.shape, pads):
        if n is None or (a == 0 and b == 0) or mode == "constant":
            continue
        if mode == "reflect" and (a >= n or b >= n):
            raise ShapeError(f"pad: padding size should be less than the corresponding "
                             f"input dimension, but got: padding ({a}, {b}) of input "
                             f"{shape_str(x.shape)}")
        if mode == "circular" and (a > n or b > n):
            raise ShapeError(f"pad: padding value ({a}, {b}) should be smaller than or "
                             f"equal to the input size of shape {shape_str(x.shape)}")
        if mode == "replicate" and n == 0:
            raise ShapeError(f"pad: cannot replicate-pad an empty dimension of "
                             f"{shape_str(x.shape)}")
    return shape


@register_op("pad_backward", saves="none")
class PadBackward:
    """The transpose of a reflect/replicate/circular pad: sums the copies back."""

    def forward(xp, g, *, pads, mode, shape):
        z = xp.zeros(shape, g.dtype)
        xp.add.at(z, xp.ix_(*_pad_maps(shape, pads, mode)), g)
        return z

    def infer(g, *, pads, mode, shape):
        return Meta(tuple(shape), g.dtype)

    def vjp(g, out, gin, *, pads, mode, shape):
        return apply(Pad, g, pads=pads, mode=mode, value=0.0)


def pad(input, pad, mode="constant", value=None):
    """Pad the last dims: ``pad = (left, right)`` for the last dim, then the one before...
    (PyTorch's order). Modes: constant (negative pads crop), reflect, replicate, circular."""
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise ShapeError(f"pad: padding length must be divisible by 2, got {len(pad)}")
    if len(pad) // 2 > input.ndim:
        raise ShapeError(f"pad: padding length too large: {len(pad)} entries for a "
                         f"{input.ndim}-d input")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: unsupported padding mode {mode!r} (expected constant, reflect, "
                         "replicate or circular)")
    if mode != "constant":
        if value not in (None, 0):
            raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
        if any(p < 0 for p in pad):
            raise ShapeError(f"pad: negative padding {pad} is only supported in constant mode")
    pads = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pads[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    v = 0.0 if value is None else value
    _check_pad(tuple(input.shape), tuple(pads), mode)
    return apply(Pad, input, pads=tuple(pads), mode=mode, value=v)
