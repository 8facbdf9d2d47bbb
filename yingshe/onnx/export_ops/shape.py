"""ONNX mappings of shape ops and indexing (basic and advanced, gather/scatter, pads)."""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe.onnx._builder import Dim
from yingshe.onnx._export import Call, exports
from yingshe.ops._shapes import sum_to_axes

_BIG = np.iinfo(np.int64).max
_SMALL = np.iinfo(np.int64).min


@exports("reshape", dynamic=("shape",))
def reshape(c: Call):
    """Reshape (allowzero=1 when a size is 0)"""
    shape = list(c.attrs["shape"])
    if any(d is None for d in shape):
        raise c.error("the target shape has an unknown size")
    allow = 1 if 0 in shape else None
    return c.b.op("Reshape", [c.x(), c.b.reshape_target(shape)], allowzero=allow)


@exports("flatten")
def flatten(c: Call):
    """Reshape"""
    dims = c.dims(0)
    if not dims:
        return c.b.op("Reshape", [c.x(), c.b.ints([1])])
    s, e = c.attrs["start_dim"], c.attrs["end_dim"]
    target = list(dims[:s]) + [c.b.prod(dims[s:e + 1])] + list(dims[e + 1:])
    return c.b.op("Reshape", [c.x(), c.b.reshape_target(target)],
                  allowzero=1 if 0 in target else None)


@exports("expand", dynamic=("shape",))
def expand(c: Call):
    """Expand"""
    shape = list(c.attrs["shape"])
    dims = c.dims(0)
    lead = len(shape) - len(dims)
    for i, d in enumerate(shape):        # a graph's unknown size: the input's own
        if d is None or (isinstance(d, int) and d < 0):
            shape[i] = dims[i - lead]
    return c.b.op("Expand", [c.x(), c.b.shape_tensor(shape)])


@exports("sum_to_size")
def sum_to_size(c: Call):
    """ReduceSum over the broadcast axes, Reshape"""
    shape = tuple(c.attrs["shape"])
    axes, lead = sum_to_axes(tuple(c.node.inputs[0].shape), shape)
    x = c.x()
    if axes:
        x = c.b.reduce("ReduceSum", x, axes, True)
    if lead or not axes:
        x = c.b.op("Reshape", [x, c.b.ints(shape)])
    return x


@exports("transpose")
def transpose(c: Call):
    """Transpose"""
    perm = list(range(c.ndim(0)))
    a, b = c.attrs["dim0"], c.attrs["dim1"]
    perm[a], perm[b] = perm[b], perm[a]
    return c.b.op("Transpose", [c.x()], perm=perm)


@exports("permute")
def permute(c: Call):
    """Transpose"""
    return c.b.op("Transpose", [c.x()], perm=list(c.attrs["dims"]))


@exports("squeeze")
def squeeze(c: Call):
    """Squeeze"""
    return c.b.op("Squeeze", [c.x(), c.b.ints(c.attrs["dim"])])


@exports("unsqueeze")
def unsqueeze(c: Call):
    """Unsqueeze"""
    return c.b.op("Unsqueeze", [c.x(), c.b.ints(c.attrs["dim"])])


@exports("repeat")
def repeat(c: Call):
    """Tile (after a Reshape adding the leading dims)"""
    reps = list(c.attrs["repeats"])
    x = c.x()
    lead = len(reps) - c.ndim(0)
    if lead:
        x = c.b.op("Reshape", [x, c.b.shape_tensor([1] * lead + list(c.dims(0)))])
    return c.b.op("Tile", [x, c.b.ints(reps)])


@exports("flip")
def flip(c: Call):
    """Slice with step -1"""
    dims = list(c.attrs["dims"])
    if not dims:
        return c.b.op("Identity", [c.x()])
    n = len(dims)
    return c.b.slice(c.x(), [-1] * n, [_SMALL] * n, dims, [-1] * n)


def _roll(c: Call, x: str, shift: int, dim: int, n) -> str:
    if not isinstance(n, int):
        raise c.error("rolling along a dimension of dynamic size is not supported")
    s = shift % n if n else 0
    if s == 0:
        return x
    b = c.b
    tail = b.slice(x, [n - s], [n], [dim])
    head = b.slice(x, [0], [n - s], [dim])
    return b.op("Concat", [tail, head], axis=dim)


@exports("roll")
def roll(c: Call):
    """Slice, Concat (per rolled dim)"""
    b = c.b
    x, dims = c.x(), c.attrs["dims"]
    shifts = c.attrs["shifts"]
    if dims is None:
        flat = b.op("Reshape", [x, b.ints([-1])])
        out = _roll(c, flat, shifts[0], 0, b.prod(c.dims(0)))
        return b.op("Reshape", [out, b.shape(x)])
    for s, d in zip(shifts, dims):
        x = _roll(c, x, s, d, c.dims(0)[d])
    return x if x != c.x() else b.op("Identity", [x])


@exports("cat")
def cat(c: Call):
    """Concat"""
    dt = c.out_dtype()
    ins = [c.val(i, dt) for i, x in enumerate(c.node.inputs)
           if not (len(x.shape) == 1 and x.shape[0] == 0)]
    if not ins:
        return c.b.op("Identity", [c.val(0, dt)])
    return c.b.op("Concat", ins, axis=c.attrs["dim"])


@exports("split", dynamic=("sizes",))
def split(c: Call):
    """Split (and Squeeze for unbind)"""
    sizes, dim = list(c.attrs["sizes"]), c.attrs["dim"]
    outs = c.b.split(c.x(), sizes, dim)
    if c.attrs["squeeze"]:
        outs = tuple(c.b.op("Squeeze", [o, c.b.ints([dim])]) for o in outs)
    return outs


# ---- basic indexing -----------------------------------------------------------------------------

def basic_index(c: Call, x: str, key) -> str:
    """``x[key]`` for a basic key: Slice, then Squeeze (integers) and Unsqueeze (None)."""
    b = c.b
    starts, ends, axes, steps, drop, new = [], [], [], [], [], []
    d = out = 0
    for k in key:
        if k is None:
            new.append(out)
            out += 1
        elif isinstance(k, tuple):
            _, s, e, st = k
            st = 1 if st is None else st
            if not (s in (None, 0) and e is None and st == 1):
                starts.append((0 if st > 0 else _BIG) if s is None else s)
                ends.append((_BIG if st > 0 else _SMALL) if e is None else e)
                axes.append(d)
                steps.append(st)
            d += 1
            out += 1
        else:
            starts.append(k)
            ends.append(_BIG if (isinstance(k, int) and k == -1) else k + 1)
            axes.append(d)
            steps.append(1)
            drop.append(d)
            d += 1
    if axes:
        x = b.slice(x, starts, ends, axes, steps)
    if drop:
        x = b.op("Squeeze", [x, b.ints(drop)])
    if new:
        x = b.op("Unsqueeze", [x, b.ints(new)])
    return x


@exports("getitem", dynamic=("key",))
def getitem(c: Call):
    """Slice, Squeeze, Unsqueeze"""
    out = basic_index(c, c.x(), c.attrs["key"])
    return out if out != c.x() else c.b.op("Identity", [out])


# ---- advanced indexing --------------------------------------------------------------------------

def _nonneg(b, idx: str, size) -> str:
    """Index values made non-negative (idx + size where idx < 0)."""
    sz = b.op("Squeeze", [b.dim_tensor(size), b.ints([0])])
    neg = b.op("Less", [idx, b.const(np.asarray(0, np.int64))])
    return b.op("Where", [neg, b.op("Add", [idx, sz]), idx])


def advanced_index(c: Call, x: str, dims: tuple, key, idx: list, idx_dims: list) -> str:
    """``x[key]`` for an advanced key (one int64 index tensor per indexed dim)."""
    b = c.b
    pos = [d for d, k in enumerate(key) if k is not None]
    idx = [b.cast(i, dt, _dtype.int64) for i, dt in idx]
    if len(pos) == 1:
        return b.op("Gather", [x, idx[key[pos[0]]]], axis=pos[0])
    nd = len(dims)
    rest = [d for d in range(nd) if d not in pos]
    if pos != list(range(len(pos))):
        x = b.op("Transpose", [x], perm=pos + rest)
    # broadcast the index tensors to one shape, stack them along a new last axis
    rank = max(len(s) for s in idx_dims)
    parts = [_nonneg(b, idx[key[d]], dims[d]) for d in pos]
    shape = None
    for p in parts:
        s = b.shape(p)
        shape = s if shape is None else b.op("Shape", [b.op("Expand", [
            b.op("ConstantOfShape", [shape]), s])])
    parts = [b.op("Unsqueeze", [b.op("Expand", [p, shape]), b.ints([rank])]) for p in parts]
    out = b.op("GatherND", [x, b.op("Concat", parts, axis=-1)])
    contiguous = pos == list(range(pos[0], pos[-1] + 1))
    if contiguous and pos[0] > 0:   # NumPy keeps the result's index dims in place
        n_rest_before = pos[0]
        perm = list(range(rank, rank + n_rest_before)) + list(range(rank)) + \
            list(range(rank + n_rest_before, rank + len(rest)))
        out = b.op("Transpose", [out], perm=perm)
    return out


@exports("index")
def index(c: Call):
    """Gather (one index tensor) or Transpose + GatherND"""
    key = c.attrs["key"]
    n = len(c.inputs) - 1
    idx = [(c.x(1 + i), c.dtype(1 + i)) for i in range(n)]
    return advanced_index(c, c.x(), c.dims(0), key, idx, [c.dims(1 + i) for i in range(n)])


@exports("index_select")
def index_select(c: Call):
    """Gather"""
    b = c.b
    if c.ndim(0) == 0:
        return b.op("Identity", [c.x()])
    i = b.op("Reshape", [b.cast(c.x(1), c.dtype(1), _dtype.int64), b.ints([-1])])
    return b.op("Gather", [c.x(), i], axis=c.attrs["dim"])


@exports("gather")
def gather(c: Call):
    """GatherElements"""
    if c.ndim(0) == 0:
        return c.b.op("Identity", [c.x()])
    i = c.b.cast(c.x(1), c.dtype(1), _dtype.int64)
    return c.b.op("GatherElements", [c.x(), i], axis=c.attrs["dim"])


def _scatter(c: Call, reduction):
    b = c.b
    x, dt = c.x(), c.out_dtype()
    if c.ndim(0) == 0:
        raise c.error("scatter into a 0-d tensor is not supported")
    i = b.cast(c.x(1), c.dtype(1), _dtype.int64)
    if c.is_tensor(2):
        src = c.val(2, dt)
        sd, idd = c.dims(2), c.dims(1)
        if tuple(sd) != tuple(idd):
            src = b.slice(src, [0] * len(idd), list(idd), list(range(len(idd))))
    else:
        src = b.op("Expand", [c.val(2, dt), b.shape(i)])
    return b.op("ScatterElements", [x, i, src], axis=c.attrs["dim"], reduction=reduction)


@exports("scatter")
def scatter(c: Call):
    """ScatterElements"""
    return _scatter(c, None)


@exports("scatter_add")
def scatter_add(c: Call):
    """ScatterElements with reduction='add'"""
    return _scatter(c, "add")


@exports("index_add")
def index_add(c: Call):
    """ScatterElements with reduction='add' (the index expanded to the source's shape)"""
    b, dt = c.b, c.out_dtype()
    dim, nd = c.attrs["dim"], c.ndim(0)
    if nd == 0:
        raise c.error("index_add on a 0-d tensor is not supported")
    src = c.val(2, dt)
    if c.attrs["alpha"] != 1:
        src = b.op("Mul", [src, b.scalar(c.attrs["alpha"], dt)])
    i = b.op("Reshape", [b.cast(c.x(1), c.dtype(1), _dtype.int64),
                         b.ints([-1 if d == dim else 1 for d in range(nd)])])
    i = b.op("Expand", [i, b.shape(src)])
    return b.op("ScatterElements", [c.x(), i, src], axis=dim, reduction="add")


@exports("index_put")
def index_put(c: Call):
    """ScatterElements into the flattened tensor at positions found by indexing an arange
    of the same shape with the same key (reduction 'add' when accumulating)"""
    b, dt = c.b, c.out_dtype()
    dims = c.dims(0)
    if any(isinstance(d, Dim) for d in dims):
        raise c.error("index_put into a tensor of dynamic shape is not supported")
    basic, adv = c.attrs["basic"], c.attrs["adv"]
    grid = b.const(np.arange(int(np.prod(dims)), dtype=np.int64).reshape(dims))
    pos = basic_index(c, grid, basic) if basic else grid
    if adv is not None:
        sub = list(np.arange(int(np.prod(dims))).reshape(dims)[
            tuple(slice(k[1], k[2], k[3]) if isinstance(k, tuple) else k for k in basic)].shape
            if basic else dims)
        n = len(c.inputs) - 2
        idx = [(c.x(2 + i), c.dtype(2 + i)) for i in range(n)]
        pos = advanced_index(c, pos, tuple(sub), adv, idx, [c.dims(2 + i) for i in range(n)])
    flat_pos = b.op("Reshape", [pos, b.ints([-1])])
    vals = b.op("Reshape", [b.op("Expand", [c.val(1, dt), b.shape(pos)]), b.ints([-1])])
    flat = b.op("Reshape", [c.x(), b.ints([-1])])
    red = "add" if c.attrs["accumulate"] else None
    out = b.op("ScatterElements", [flat, flat_pos, vals], axis=0, reduction=red)
    return b.op("Reshape", [out, b.ints(dims)])


@exports("masked_fill")
def masked_fill(c: Call):
    """Where"""
    dt = c.out_dtype()
    return c.b.op("Where", [c.val(1, _dtype.bool), c.val(2, dt), c.x()])


@exports("tril")
def tril(c: Call):
    """Trilu"""
    return c.b.op("Trilu", [c.x(), c.b.const(np.asarray(c.attrs["diagonal"], np.int64))],
                  upper=int(bool(c.attrs["upper"])))


@exports("diagonal")
def diagonal(c: Call):
    """Transpose, Reshape, Gather of the diagonal's flat positions"""
    b = c.b
    d1, d2, off = c.attrs["dim1"], c.attrs["dim2"], c.attrs["offset"]
    dims = c.dims(0)
    n1, n2 = dims[d1], dims[d2]
    if isinstance(n1, Dim) or isinstance(n2, Dim):
        raise c.error("the diagonal of dimensions of dynamic size is not supported")
    rest = [d for d in range(len(dims)) if d not in (d1, d2)]
    x = b.op("Transpose", [c.x()], perm=rest + [d1, d2])
    x = b.op("Reshape", [x, b.shape_tensor([dims[d] for d in rest] + [n1 * n2])])
    L = max(0, min(n1 + min(off, 0), n2 - max(off, 0)))
    i = np.arange(L)
    flat = (i + max(-off, 0)) * n2 + i + max(off, 0)
    return b.op("Gather", [x, b.const(flat.astype(np.int64))], axis=len(rest))


@exports("one_hot")
def one_hot(c: Call):
    """OneHot"""
    b = c.b
    return b.op("OneHot", [c.x(), b.ints([c.attrs["num_classes"]]),
                           b.const(np.asarray([0, 1], np.int64))], axis=-1)


@exports("pad")
def pad(c: Call):
    """Pad (constant / reflect / edge; wrap for circular needs opset 19), Slice for crops"""
    b = c.b
    pads, mode = c.attrs["pads"], c.attrs["mode"]
    x = c.x()
    nd = c.ndim(0)
    if any(a < 0 or e < 0 for a, e in pads):     # negative constant pads crop
        axes = [d for d, (a, e) in enumerate(pads) if a < 0 or e < 0]
        dims = c.dims(0)
        ends = []
        for d in axes:
            e = pads[d][1]
            ends.append(_BIG if e >= 0 else (dims[d] + e if isinstance(dims[d], int) else e))
        x = b.slice(x, [max(-pads[d][0], 0) for d in axes], ends, axes)
        pads = tuple((max(a, 0), max(e, 0)) for a, e in pads)
    if not any(a or e for a, e in pads):
        return x if x != c.x() else b.op("Identity", [x])
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
                 "circular": "wrap"}[mode]
    if onnx_mode == "wrap" and b.opset < 19:
        raise c.error(f"circular padding needs opset 19 or later (exporting opset {b.opset})")
    ins = [x, b.ints([p[0] for p in pads] + [p[1] for p in pads])]
    if mode == "constant" and nd:
        ins.append(b.scalar(c.attrs["value"], c.out_dtype()))
    return b.op("Pad", ins, mode=onnx_mode)


@exports("view_scatter")
def view_scatter(c: Call):
    """ScatterElements into the flattened base, at the positions the view's steps select
    (replayed on an arange of the base's shape while exporting)"""
    from yingshe.ops.indexing import _replay_array
    b, dt = c.b, c.out_dtype()
    dims = c.dims(0)
    if any(isinstance(d, Dim) for d in dims):
        raise c.error("a write through a view of a tensor of dynamic shape is not supported "
                      "(its positions are computed when exporting: export with fixed sizes)")
    pos = np.asarray(_replay_array(np, np.arange(int(np.prod(dims))).reshape(dims),
                                   c.attrs["fn"]))
    vals = b.op("Expand", [c.val(1, dt), b.ints(pos.shape)])
    out = b.op("ScatterElements", [b.op("Reshape", [c.x(0), b.ints([-1])]),
                                   b.const(pos.reshape(-1).astype(np.int64)),
                                   b.op("Reshape", [vals, b.ints([-1])])], axis=0)
    return b.op("Reshape", [out, b.ints(dims)])
