"""Op-table records for indexing ops (x[key], x[key] = v, gather/scatter, masks, pad)."""

import builtins

import numpy as np

from yingshe.errors import DTypeError, IndexError, ShapeError
from yingshe.testing.op_db import ErrorCase, OpCase, const, gen, ints, normal, noncontig


def _mask(*shape, p=0.5):
    return lambda rng: np.asarray(rng.random(shape) < p)


def _perm(n, k=None):
    """Distinct indices (scatter without duplicates is deterministic in PyTorch)."""
    return lambda rng: rng.permutation(n)[: k or n].astype(np.int64)


def _setitem(key):
    def call(m, a, v):
        b = a * 1
        b[key] = v
        return b
    return call


def _setitem_idx(m, a, i, v):
    b = a * 1
    b[i] = v
    return b


def _np_setitem(key):
    def ref(a, v):
        b = a.copy()
        b[key] = v
        return b
    return ref


def _scatter(m, name):
    """PyTorch's ``torch.<name>``, or yingshe's (not yet in its public namespace)."""
    if m.__name__ == "torch":
        return getattr(m, name)
    from yingshe.ops import indexing
    return getattr(indexing, name)


def _np_write(a, b, view):
    """``a`` with ``b`` written into ``view(a)`` (a NumPy view)."""
    out = a.copy()
    view(out)[...] = b
    return out


def _np_scatter(a, dim, idx, src):
    out = a.copy()
    grid = list(np.indices(idx.shape, sparse=True))
    grid[dim] = idx
    src = src[tuple(slice(0, s) for s in idx.shape)] if isinstance(src, np.ndarray) else src
    out[tuple(grid)] = src
    return out


def _np_scatter_add(a, dim, idx, src):
    out = a.copy()
    grid = list(np.indices(idx.shape, sparse=True))
    grid[dim] = idx
    np.add.at(out, tuple(grid), src[tuple(slice(0, s) for s in idx.shape)])
    return out


def _np_gather(a, dim, idx):
    grid = list(np.indices(idx.shape, sparse=True))
    grid[dim] = idx
    return a[tuple(grid)]


def _np_index_add(a, dim, idx, src, alpha=1):
    out = a.copy()
    np.add.at(out, (slice(None),) * dim + (idx,), src * alpha)
    return out


def _np_one_hot(x, n):
    return (x[..., None] == np.arange(n)).astype(np.int64)


CASES = [
    # ---- basic indexing (views)
    OpCase("getitem", lambda m, a: a[1], gen(normal(3, 4)), lambda a: a[1]),
    OpCase("getitem", lambda m, a: a[-1, 1:, ::2], gen(normal(2, 3, 4)),
           lambda a: a[-1, 1:, ::2], name="slices-neg"),
    OpCase("getitem", lambda m, a: a[None, ..., 1:3, None], gen(noncontig(2, 4)),
           lambda a: a[None, ..., 1:3, None], name="none-ellipsis-noncontig"),
    OpCase("getitem", lambda m, a: a[...], gen(normal()), lambda a: a[...], name="0d"),
    OpCase("getitem", lambda m, a: a[2:1], gen(normal(3, 2)), lambda a: a[2:1], name="empty"),
    OpCase("getitem", lambda m, a: a[-10:10:3, 0], gen(normal(7, 2)),
           lambda a: a[-10:10:3, 0], name="clamped-step"),
    OpCase("getitem", lambda m, a: a.narrow(1, -3, 2), gen(normal(2, 4)),
           lambda a: a[:, 1:3], name="narrow"),
    # ---- advanced indexing (copies)
    OpCase("index", lambda m, a, i: a[i], gen(normal(4, 3), ints(-4, 4, 5)),
           lambda a, i: a[i], grad=(0,)),
    OpCase("index", lambda m, a, i: a[:, i], gen(normal(3, 4), ints(0, 4, 2, 6)),
           lambda a, i: a[:, i], name="repeated-2d", grad=(0,)),
    OpCase("index", lambda m, a, i, j: a[i, :, j], gen(normal(3, 2, 4), ints(0, 3, 5),
                                                         ints(0, 4, 1)),
           lambda a, i, j: a[i, :, j], name="separated-broadcast", grad=(0,)),
    OpCase("index", lambda m, a, i, j: a[1:, i, j], gen(normal(3, 3, 4), ints(0, 3, 2),
                                                          ints(0, 4, 2)),
           lambda a, i, j: a[1:, i, j], name="adjacent", grad=(0,)),
    OpCase("index", lambda m, a, k: a[k], gen(normal(3, 4), _mask(3, 4)),
           lambda a, k: a[k], name="mask", grad=(0,)),
    OpCase("index", lambda m, a, k: a[:, k], gen(normal(2, 5), _mask(5)),
           lambda a, k: a[:, k], name="mask-dim1", grad=(0,)),
    OpCase("index", lambda m, a: a[[0, 0, 2]], gen(normal(3)),
           lambda a: a[[0, 0, 2]], name="list"),
    OpCase("index", lambda m, a, i: a[i], gen(normal(3, 2), ints(0, 3, 0)),
           lambda a, i: a[i], name="empty-index", grad=(0,)),
    OpCase("index", lambda m, a: a.masked_select(a > 0), gen(normal(3, 4)),
           lambda a: a[a > 0], name="masked_select"),
    OpCase("index", lambda m, a, b: m.masked_select(a, b), gen(normal(3, 1), _mask(2, 3, 4)),
           lambda a, b: np.broadcast_to(a, (2, 3, 4))[b], name="masked_select-bcast",
           grad=(0,)),
    # ---- x[key] = v and index_put
    # (x[key] = v takes a no-copy path when nothing needs a gradient, so its records
    # live in tests/ops/test_indexing.py; these call index_put itself)
    OpCase("index_put", lambda m, a, i, v: m.index_put(a, (i,), v),
           gen(normal(5, 3), _perm(5, 3), normal(3, 3)),
           lambda a, i, v: _np_setitem(i)(a, v), grad=(0, 2)),
    OpCase("index_put", lambda m, a, k, v: a.index_put((k,), v),
           gen(normal(3, 4), _mask(3, 4), normal()),
           lambda a, k, v: _np_setitem(k)(a, v), name="mask-0d-value", grad=(0, 2)),
    OpCase("index_put", lambda m, a, i, v: m.index_put(a, (i,), v, accumulate=True),
           gen(normal(4, 2), ints(0, 4, 6), normal(6, 2)),
           lambda a, i, v: _np_index_add(a, 0, i, v), name="accumulate", grad=(0, 2)),
    OpCase("index_put", lambda m, a, i, j, v: m.index_put(a, (i, j), v),
           gen(normal(4, 3), _perm(4, 2), _perm(3, 2), normal(2)),
           lambda a, i, j, v: _np_setitem((i, j))(a, v), name="two-indices", grad=(0, 3)),
    # ---- gather / scatter
    OpCase("gather", lambda m, a, i: m.gather(a, 1, i), gen(normal(3, 4), ints(0, 4, 3, 5)),
           lambda a, i: np.take_along_axis(a, i, 1), grad=(0,)),
    OpCase("gather", lambda m, a, i: a.gather(0, i), gen(noncontig(4, 3), ints(0, 4, 2, 2)),
           lambda a, i: _np_gather(a, 0, i), name="smaller-index-noncontig", grad=(0,)),
    OpCase("gather", lambda m, a, i: a.gather(-1, i), gen(normal(3), ints(0, 3, 0)),
           lambda a, i: a[i], name="empty", grad=(0,)),
    OpCase("gather", lambda m, a, i: m.take_along_dim(a, i, 1),
           gen(normal(1, 4), ints(0, 4, 3, 2)),
           lambda a, i: np.take_along_axis(np.broadcast_to(a, (3, 4)), i, 1),
           name="take_along_dim", grad=(0,)),
    OpCase("scatter", lambda m, a, i, s: a.scatter(0, i, s),
           gen(normal(4, 3), lambda rng: np.stack([rng.permutation(4)[:2] for _ in range(3)],
                                                  1).astype(np.int64), normal(2, 3)),
           lambda a, i, s: _np_scatter(a, 0, i, s), grad=(0, 2)),
    # src larger than index: PyTorch's own backward rejects its gradient shape, so
    # these are checked against NumPy and finite differences only
    OpCase("scatter", lambda m, a, i, s: a.scatter(0, i, s),
           gen(normal(4, 3), lambda rng: np.stack([rng.permutation(4)[:2] for _ in range(3)],
                                                  1).astype(np.int64), normal(3, 3)),
           lambda a, i, s: _np_scatter(a, 0, i, s), grad=(0, 2), name="larger-src",
           torch=False),
    OpCase("scatter", lambda m, a, i: m.scatter(a, 1, i, 2.5),
           gen(normal(3, 4), lambda rng: np.stack([rng.permutation(4)[:2] for _ in range(3)])
               .astype(np.int64)),
           lambda a, i: _np_scatter(a, 1, i, 2.5), name="value", grad=(0,)),
    OpCase("scatter_add", lambda m, a, i, s: a.scatter_add(1, i, s),
           gen(normal(3, 4), ints(0, 4, 3, 6), normal(3, 6)),
           lambda a, i, s: _np_scatter_add(a, 1, i, s), grad=(0, 2)),
    OpCase("scatter_add", lambda m, a, i, s: m.scatter_add(a, -1, i, s),
           gen(normal(3, 4), ints(0, 4, 2, 6), normal(3, 7)),
           lambda a, i, s: _np_scatter_add(a, 1, i, s), grad=(0, 2), name="larger-src",
           torch=False),
    OpCase("index_select", lambda m, a, i: a.index_select(1, i),
           gen(normal(3, 4), ints(0, 4, 6)), lambda a, i: a[:, i], grad=(0,)),
    OpCase("index_select", lambda m, a, i: m.index_select(a, -2, i),
           gen(noncontig(3, 2), ints(0, 3, 0)), lambda a, i: a[i], name="empty-noncontig",
           grad=(0,)),
    OpCase("index_add", lambda m, a, i, s: a.index_add(0, i, s, alpha=2.0),
           gen(normal(4, 3), ints(0, 4, 5), normal(5, 3)),
           lambda a, i, s: _np_index_add(a, 0, i, s, 2.0), grad=(0, 2)),
    # ---- masks
    OpCase("masked_fill", lambda m, a, k: a.masked_fill(k, -1.5),
           gen(normal(3, 4), _mask(3, 4)), lambda a, k: np.where(k, -1.5, a), grad=(0,)),
    OpCase("masked_fill", lambda m, a, k, v: m.masked_fill(a, k, v),
           gen(normal(3, 4), _mask(4), normal()), lambda a, k, v: np.where(k, v, a),
           name="tensor-value-bcast", grad=(0, 2)),
    OpCase("masked_fill", lambda m, a, k: a.masked_fill(k, 0.0),
           gen(normal(4), _mask(2, 4)), lambda a, k: np.where(k, 0.0, a),
           name="bcast-input", grad=(0,)),
    OpCase("masked_fill", lambda m, a, k: a.masked_fill(k, 3.0), gen(normal(), _mask()),
           lambda a, k: np.where(k, 3.0, a), name="0d", grad=(0,)),
    # ---- triangles, diagonals
    OpCase("tril", lambda m, a: a.tril(), gen(normal(4, 3)), np.tril),
    OpCase("tril", lambda m, a: m.triu(a, 1), gen(normal(2, 3, 4)),
           lambda a: np.triu(a, 1), name="triu-batched"),
    OpCase("tril", lambda m, a: a.tril(-1), gen(noncontig(3, 3)), lambda a: np.tril(a, -1),
           name="neg-noncontig"),
    OpCase("diagonal", lambda m, a: a.diagonal(), gen(normal(3, 4)), np.diagonal),
    OpCase("diagonal", lambda m, a: m.diagonal(a, -1, 0, 2), gen(normal(3, 2, 4)),
           lambda a: np.diagonal(a, -1, 0, 2), name="offset-dims"),
    OpCase("diagonal", lambda m, a: m.diag(a, 1), gen(normal(3, 3)),
           lambda a: np.diag(a, 1), name="diag-2d"),
    OpCase("diagonal_backward", lambda m, a: m.diag(a), gen(normal(3)), np.diag),
    OpCase("diagonal_backward", lambda m, a: a.diag(-2), gen(normal(2)),
           lambda a: np.diag(a, -2), name="offset"),
    # ---- writing through a view, as a value (also the history of an in-place write
    # through a view: tests/test_views.py)
    OpCase("view_scatter", lambda m, a, b: _scatter(m, "diagonal_scatter")(a, b),
           gen(normal(3, 4), normal(3)),
           lambda a, b: _np_write(a, b, lambda x: np.einsum("ii->i", x[:, :3]))),
    OpCase("view_scatter", lambda m, a, b: _scatter(m, "diagonal_scatter")(a, b, -1, 0, 2),
           gen(noncontig(3, 2, 4), normal(2, 2)),
           lambda a, b: _np_write(a, b, lambda x: np.einsum("iji->ji", x[1:, :, :2])),
           name="diagonal-offset-dims-noncontig"),
    OpCase("view_scatter", lambda m, a, b: _scatter(m, "slice_scatter")(a, b, 1, 1, None, 2),
           gen(normal(2, 5), normal(2, 2)), lambda a, b: _np_write(a, b, lambda x: x[:, 1::2]),
           name="slice"),
    OpCase("view_scatter", lambda m, a, b: _scatter(m, "select_scatter")(a, b, 0, -1),
           gen(normal(3, 2), normal(2)), lambda a, b: _np_write(a, b, lambda x: x[-1]),
           name="select"),
    OpCase("view_scatter", lambda m, a, b: _scatter(m, "slice_scatter")(a, b, 0, 2, 2),
           gen(normal(3, 2), normal(0, 2)), lambda a, b: _np_write(a, b, lambda x: x[2:2]),
           name="empty"),
    # ---- one_hot (integer output)
    OpCase("one_hot", lambda m, i: m.nn.functional.one_hot(i, 5) if m.__name__ == "torch"
           else m.one_hot(i, 5), gen(ints(0, 5, 2, 3)), lambda i: _np_one_hot(i, 5)),
    OpCase("one_hot", lambda m, i: m.one_hot(i), gen(const(np.array([0, 3, 1]))),
           lambda i: _np_one_hot(i, 4), name="infer-classes",
           torch_call=lambda m, i: m.nn.functional.one_hot(i)),
    OpCase("one_hot", lambda m, i: m.one_hot(i, 3), gen(ints(0, 3, 0)),
           lambda i: _np_one_hot(i, 3), name="empty",
           torch_call=lambda m, i: m.nn.functional.one_hot(i, 3)),
    # ---- pad
    OpCase("pad", lambda m, a: m.pad(a, (1, 2)), gen(normal(2, 3)),
           lambda a: np.pad(a, ((0, 0), (1, 2))),
           torch_call=lambda m, a: m.nn.functional.pad(a, (1, 2))),
    OpCase("pad", lambda m, a: m.pad(a, (1, -1, -1, 2), value=0.5), gen(normal(2, 3, 4)),
           lambda a: np.pad(a[:, 1:, :-1], ((0, 0), (0, 2), (1, 0)), constant_values=0.5),
           name="negative-value",
           torch_call=lambda m, a: m.nn.functional.pad(a, (1, -1, -1, 2), value=0.5)),
    OpCase("pad", lambda m, a: m.pad(a, (2, 1), mode="reflect"), gen(normal(2, 4)),
           lambda a: np.pad(a, ((0, 0), (2, 1)), mode="reflect"), name="reflect",
           torch_call=lambda m, a: m.nn.functional.pad(a, (2, 1), mode="reflect")),
    OpCase("pad", lambda m, a: m.pad(a, (1, 3, 2, 0), mode="replicate"),
           gen(noncontig(1, 2, 3)),
           lambda a: np.pad(a, ((0, 0), (2, 0), (1, 3)), mode="edge"), name="replicate",
           torch_call=lambda m, a: m.nn.functional.pad(a, (1, 3, 2, 0), mode="replicate")),
    OpCase("pad", lambda m, a: m.pad(a, (2, 3), mode="circular"), gen(normal(1, 2, 3)),
           lambda a: np.pad(a, ((0, 0), (0, 0), (2, 3)), mode="wrap"), name="circular",
           torch_call=lambda m, a: m.nn.functional.pad(a, (2, 3), mode="circular")),
]



def _op(m, name, *inputs, **attrs):
    """Call a registered op directly (the transposes that VJPs use; yingshe only)."""
    return m.ops.apply(m.ops.REGISTRY[name], *inputs, **attrs)


def _np_index_backward(g, i, shape, axis):
    z = np.zeros(shape, g.dtype)
    np.add.at(z, (slice(None),) * axis + (i,), g)
    return z


def _np_pad_backward(g, pads, mode, shape):
    maps = [np.pad(np.arange(n), p, mode=mode) for n, p in zip(shape, pads)]
    z = np.zeros(shape, g.dtype)
    np.add.at(z, np.ix_(*maps), g)
    return z


CASES += [
    OpCase("getitem_backward",
           lambda m, g: _op(m, "getitem_backward", g, key=(1, ("s", None, None, 2)),
                            shape=(3, 4)),
           gen(normal(2)), lambda g: _np_setitem((1, slice(None, None, 2)))(np.zeros((3, 4)),
                                                                             g),
           torch=False),
    OpCase("index_backward",
           lambda m, g, i: _op(m, "index_backward", g, i, key=(None, 0), shape=(2, 3)),
           gen(normal(2, 5), ints(0, 3, 5)), lambda g, i: _np_index_backward(g, i, (2, 3), 1),
           grad=(0,), torch=False),
    OpCase("pad_backward",
           lambda m, g: _op(m, "pad_backward", g, pads=((0, 0), (2, 1)), mode="reflect",
                            shape=(2, 4)),
           gen(normal(2, 7)), lambda g: _np_pad_backward(g, ((0, 0), (2, 1)), "reflect",
                                                         (2, 4)), torch=False),
    OpCase("pad_backward",
           lambda m, g: _op(m, "pad_backward", g, pads=((1, 2),), mode="circular",
                            shape=(3,)),
           gen(normal(6)), lambda g: _np_pad_backward(g, ((1, 2),), "wrap", (3,)),
           name="circular", torch=False),
]

ERRORS = [
    ErrorCase("view_scatter", lambda m, a, b: _scatter(m, "slice_scatter")(a, b, 0, 0, 2),
              gen(normal(3, 2), normal(3, 2)), ShapeError,
              "expected src to have a size equal to the slice of self", torch_exc=RuntimeError),
    ErrorCase("getitem", lambda m, a: a[3], gen(normal(3)), IndexError,
              "index 3 is out of bounds for dimension 0 with size 3",
              torch_exc=builtins.IndexError),
    ErrorCase("getitem", lambda m, a: a[0, 0, 0], gen(normal(3, 4)), IndexError,
              "too many indices for tensor of dimension 2", name="too-many",
              torch_exc=builtins.IndexError),
    ErrorCase("getitem", lambda m, a: a[..., ...], gen(normal(3, 4)), IndexError,
              "single ellipsis", name="ellipsis"),  # NumPy's rule; PyTorch accepts it
    ErrorCase("index", lambda m, a, i: a[i], gen(normal(3), const(np.array([0, 5]))),
              IndexError, "index 5 is out of bounds for dimension 0 with size 3",
              torch_exc=builtins.IndexError),
    ErrorCase("index", lambda m, a, i: a[i], gen(normal(3, 4), const(np.array([1.0]))),
              IndexError, "tensors used as indices must be long, int, byte or bool",
              name="float", torch_exc=builtins.IndexError),
    ErrorCase("index", lambda m, a, k: a[k], gen(normal(3, 4), _mask(2)), IndexError,
              "The shape of the mask [2] at index 0 does not match", name="mask",
              torch_exc=builtins.IndexError),
    ErrorCase("index_put", lambda m, a, i, v: m.index_put(a, (i,), v),
              gen(normal(3), const(np.array([0, 1])), normal(3)), ShapeError,
              "shape mismatch", torch_exc=RuntimeError),
    ErrorCase("gather", lambda m, a, i: a.gather(0, i), gen(normal(3), const(np.array([4]))),
              IndexError, "index 4 is out of bounds for dimension 0 with size 3",
              torch_exc=RuntimeError),
    ErrorCase("gather", lambda m, a, i: a.gather(0, i), gen(normal(3, 2),
                                                            const(np.array([0, 1]))),
              ShapeError, "same number of dimensions", name="ndim", torch_exc=RuntimeError),
    ErrorCase("index_select", lambda m, a, i: a.index_select(0, i),
              gen(normal(3), const(np.array([3]))), IndexError, "index 3 is out of bounds",
              torch_exc=builtins.IndexError),
    ErrorCase("scatter", lambda m, a, i, s: a.scatter(0, i, s, reduce="multiply"),
              gen(normal(3), const(np.array([0])), normal(1)), NotImplementedError,
              "reduce='multiply'", name="reduce"),
    ErrorCase("masked_fill", lambda m, a, k: a.masked_fill(k, 1.0),
              gen(normal(3), normal(3)), DTypeError, "boolean masks",
              torch_exc=RuntimeError),
    ErrorCase("masked_fill", lambda m, a, k, v: a.masked_fill(k, v),
              gen(normal(3), _mask(3), normal(2)), ShapeError, "0-dimensional value",
              name="value-dims", torch_exc=RuntimeError),
    ErrorCase("tril", lambda m, a: a.tril(), gen(normal(3)), ShapeError,
              "at least 2 dimensions", torch_exc=RuntimeError),
    ErrorCase("one_hot", lambda m, i: m.one_hot(i, 3), gen(const(np.array([0, 3]))),
              IndexError, "index 3 is out of bounds for size 3"),
    ErrorCase("one_hot", lambda m, i: m.one_hot(i, 3), gen(const(np.array([-1]))),
              IndexError, "non-negative", name="negative"),
    ErrorCase("pad", lambda m, a: (m.nn.functional.pad if m.__name__ == "torch" else m.pad)(
              a, (3, 0), mode="reflect"), gen(normal(1, 3)),
              ShapeError, "should be less than",
              torch_exc=RuntimeError),
    ErrorCase("pad", lambda m, a: m.pad(a, (1, 1, 1)), gen(normal(3, 3)), ShapeError,
              "divisible by 2", name="odd"),
]


# ---- select (issue 14): a view through getitem -------------------------------------------------

CASES += [
    OpCase("getitem", lambda m, a: a.select(1, -1), gen(normal(2, 4)), lambda a: a[:, -1],
           name="select"),
    OpCase("getitem", lambda m, a: m.select(a, 0, 2), gen(noncontig(3, 2)), lambda a: a[2],
           name="select-noncontig"),
    OpCase("getitem", lambda m, a: a.select(0, 0), gen(normal(1)), lambda a: a[0],
           name="select-to-0d"),
]

ERRORS += [
    ErrorCase("getitem", lambda m, a: a.select(0, 3), gen(normal(3, 2)), IndexError,
              "index 3 out of range", name="select-range", torch_exc=builtins.IndexError),
    ErrorCase("getitem", lambda m, a: a.select(0, 0), gen(normal()), IndexError,
              "0-dim", name="select-0d", torch_exc=builtins.IndexError),
]
