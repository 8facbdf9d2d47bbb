"""Op-table records for reductions, scans and sorts.

Random normal inputs have no ties, so the finite-difference checks of max/sort/topk/
median are meaningful; tie conventions are tested against PyTorch in
tests/ops/test_reduce.py.
"""

import builtins

import numpy as np

from yingshe.errors import DTypeError, IndexError, ShapeError
from yingshe.ops import reduce as R
from yingshe.ops._registry import apply
from yingshe.testing.op_db import (ErrorCase, OpCase, away_from, gen, ints, noncontig, normal,
                                  positive)


def _with_zeros(*shape, count=1):
    def make(rng):
        a = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        flat = a.reshape(-1)
        flat[rng.choice(flat.size, count, replace=False)] = 0.0
        return flat.reshape(shape)
    return make


def _sparse(*shape):
    return lambda rng: np.where(rng.standard_normal(shape) > 0.3, rng.standard_normal(shape), 0.0)


def _bools(*shape):
    return lambda rng: rng.standard_normal(shape) > 0


def _ties(*shape, levels=3):
    return lambda rng: rng.integers(0, levels, shape).astype(np.float64)


def _np_lse(a, axis=None, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    r = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis) if axis is not None else r.reshape(())


def _np_norm(a, p, axis=None, keepdims=False):
    a = np.abs(a)
    if p == np.inf:
        return a.max(axis=axis, keepdims=keepdims)
    if p == -np.inf:
        return a.min(axis=axis, keepdims=keepdims)
    if p == 0:
        return (a != 0).sum(axis=axis, keepdims=keepdims).astype(a.dtype)
    return (a ** p).sum(axis=axis, keepdims=keepdims) ** (1.0 / p)


def _np_sort(a, axis=-1, descending=False):
    idx = np.argsort(-a if descending else a, axis=axis, kind="stable")
    return np.take_along_axis(a, idx, axis), idx


def _np_topk(a, k, axis=-1, largest=True):
    v, i = _np_sort(a, axis, largest)
    sl = [slice(None)] * a.ndim
    sl[axis] = slice(0, k)
    return v[tuple(sl)], i[tuple(sl)]


def _np_median(a, axis, keepdims=False):
    n = a.shape[axis]
    idx = np.argsort(a, axis=axis, kind="stable")
    i = np.take(idx, [(n - 1) // 2], axis=axis)
    v = np.take_along_axis(a, i, axis)
    return (v, i) if keepdims else (v.squeeze(axis), i.squeeze(axis))


def _np_extreme_dim(a, axis, largest=True, keepdims=False):
    i = (np.argmax if largest else np.argmin)(a, axis=axis, keepdims=True)
    v = np.take_along_axis(a, i, axis)
    return (v, i) if keepdims else (v.squeeze(axis), i.squeeze(axis))


def _np_prod_others(a, axis):
    out = np.empty_like(a)
    for idx in np.ndindex(a.shape):
        sl = list(idx)
        sl[axis] = slice(None)
        line = a[tuple(sl)].copy()
        line[idx[axis]] = 1.0
        out[idx] = np.prod(line)
    return out


def _np_prod_others_vjp(h, a):  # 1-d, brute force
    n = a.size
    out = np.zeros_like(a)
    for k in range(n):
        for i in range(n):
            if i != k:
                out[k] += h[i] * np.prod([a[j] for j in range(n) if j not in (i, k)])
    return out


def _np_cumprod_vjp(g, a):  # 1-d, brute force
    n = a.size
    return np.array([sum(g[i] * np.prod([a[j] for j in range(i + 1) if j != k])
                         for i in range(k, n)) for k in range(n)])


def _np_scatter(src, index, axis, size):
    shape = list(src.shape)
    shape[axis] = size
    out = np.zeros(shape, src.dtype)
    for idx in np.ndindex(src.shape):
        tgt = list(idx)
        tgt[axis] = index[idx]
        out[tuple(tgt)] += src[idx]
    return out


def _np_tie_weights(a, axis):
    m = a == a.max(axis=axis, keepdims=True)
    return m / m.sum(axis=axis, keepdims=True)


def _np_var(a, axis=None, ddof=1, keepdims=False):
    return np.var(a, axis=axis, ddof=ddof, keepdims=keepdims)


CASES = [
    # ---- sum / mean
    OpCase("sum", lambda m, a: a.sum(), gen(normal(3, 4)), np.sum),
    OpCase("sum", lambda m, a: a.sum(1), gen(normal(3, 4)), lambda a: a.sum(1), name="dim"),
    OpCase("sum", lambda m, a: m.sum(a, dim=(0, 2), keepdim=True), gen(noncontig(2, 3, 4)),
           lambda a: a.sum((0, 2), keepdims=True), name="dims-keepdim"),
    OpCase("sum", lambda m, a: a.sum(-1), gen(normal(0, 3)), lambda a: a.sum(-1), name="empty"),
    OpCase("sum", lambda m, a: a.sum(), gen(normal()), np.sum, name="0d"),
    OpCase("mean", lambda m, a: a.mean(), gen(normal(3, 4)), np.mean),
    OpCase("mean", lambda m, a: a.mean(dim=0, keepdim=True), gen(normal(3, 4)),
           lambda a: a.mean(0, keepdims=True), name="dim"),
    OpCase("mean", lambda m, a: a.mean((-1, 0)), gen(noncontig(3, 2, 4)),
           lambda a: a.mean((0, 2)), name="dims-neg-noncontig"),

    # ---- prod
    OpCase("prod", lambda m, a: a.prod(), gen(normal(2, 3)), np.prod),
    OpCase("prod", lambda m, a: m.prod(a, 1), gen(normal(3, 4)), lambda a: a.prod(1), name="dim"),
    OpCase("prod", lambda m, a: a.prod(-2, keepdim=True), gen(noncontig(3, 4)),
           lambda a: a.prod(0, keepdims=True), name="neg-keepdim-noncontig"),
    OpCase("prod", lambda m, a: a.prod(), gen(_with_zeros(2, 3)), np.prod, name="one-zero"),
    OpCase("prod", lambda m, a: a.prod(), gen(_with_zeros(2, 3, count=2)), np.prod,
           name="two-zeros"),
    OpCase("prod", lambda m, a: a.prod(1), gen(_with_zeros(3, 4, count=3)),
           lambda a: a.prod(1), name="dim-zeros"),
    OpCase("prod", lambda m, a: a.prod(0), gen(normal()), lambda a: a.prod(), name="0d"),
    OpCase("prod", lambda m, a: a.prod(0), gen(normal(0, 2)), lambda a: a.prod(0),
           name="empty"),
    OpCase("prod", lambda m, a: a.prod(dtype=m.float64), gen(normal(2, 3)),
           lambda a: a.prod(dtype=np.float64), name="dtype"),
    OpCase("prod", lambda m, a: a.prod(1), gen(ints(-3, 4, 2, 3)),
           lambda a: a.prod(1), name="int", dtypes=("float64",)),
    OpCase("_prod_others", lambda m, a: apply(R.ProdOthers, a, dim=(1,)),
           gen(_with_zeros(3, 4, count=2)), lambda a: _np_prod_others(a, 1), torch=False,
           second_order=False),
    OpCase("_prod_others_vjp", lambda m, h, a: apply(R.ProdOthersVjp, h, a, dim=(0,)),
           gen(normal(5), _with_zeros(5, count=2)), _np_prod_others_vjp, torch=False, fd=False),

    # ---- amax / amin / max / min
    OpCase("amax", lambda m, a: a.amax(), gen(normal(3, 4)), np.max),
    OpCase("amax", lambda m, a: m.amax(a, (0, 2), keepdim=True), gen(noncontig(2, 3, 4)),
           lambda a: a.max((0, 2), keepdims=True), name="dims-keepdim-noncontig"),
    OpCase("amax", lambda m, a: a.amax(-1), gen(normal(0, 3)), lambda a: a.max(-1),
           name="empty-kept"),
    OpCase("amax", lambda m, a: a.max(), gen(normal(3, 4)), np.max, name="max-full"),
    OpCase("amax", lambda m, a: a.max(), gen(normal()), np.max, name="0d"),
    OpCase("amin", lambda m, a: a.amin(1), gen(normal(3, 4)), lambda a: a.min(1)),
    OpCase("amin", lambda m, a: m.amin(a, []), gen(normal(2, 3)), np.min, name="empty-list"),
    OpCase("amin", lambda m, a: m.min(a), gen(normal(2, 3)), np.min, name="min-full"),
    OpCase("max_dim", lambda m, a: m.max(a, 1), gen(normal(3, 4)),
           lambda a: _np_extreme_dim(a, 1)),
    OpCase("max_dim", lambda m, a: a.max(-3, keepdim=True), gen(noncontig(2, 3, 4)),
           lambda a: _np_extreme_dim(a, 0, keepdims=True), name="neg-keepdim-noncontig"),
    OpCase("max_dim", lambda m, a: a.max(0), gen(normal()),
           lambda a: (a, np.asarray(0)), name="0d"),
    OpCase("max_dim", lambda m, a: a.max(1), gen(normal(0, 3)),
           lambda a: (np.zeros((0,)), np.zeros((0,), np.int64)), name="empty-batch"),
    OpCase("max_dim", lambda m, a: a.max(1), gen(ints(0, 9, 3, 4)),
           lambda a: _np_extreme_dim(a, 1), name="int", dtypes=("float64",)),
    OpCase("min_dim", lambda m, a: m.min(a, dim=0), gen(normal(3, 4)),
           lambda a: _np_extreme_dim(a, 0, largest=False)),
    OpCase("min_dim", lambda m, a: a.min(1, True), gen(normal(2, 5)),
           lambda a: _np_extreme_dim(a, 1, largest=False, keepdims=True), name="keepdim"),
    OpCase("_tie_weights", lambda m, a: apply(R.TieWeights, a, a.amax(1), dim=(1,),
                                              keepdim=False),
           gen(_ties(4, 5)), lambda a: _np_tie_weights(a, 1), torch=False, fd=False),

    # ---- argmax / argmin
    OpCase("argmax", lambda m, a: a.argmax(), gen(normal(3, 4)), np.argmax, fd=False),
    OpCase("argmax", lambda m, a: m.argmax(a, 1), gen(_ties(3, 5)),
           lambda a: np.argmax(a, 1), name="dim-ties", fd=False),
    OpCase("argmax", lambda m, a: a.argmax(-1, keepdim=True), gen(noncontig(2, 3, 4)),
           lambda a: np.argmax(a, -1, keepdims=True), name="keepdim-noncontig", fd=False),
    OpCase("argmax", lambda m, a: a.argmax(keepdim=True), gen(normal(2, 3)),
           lambda a: np.argmax(a).reshape(1, 1), name="flat-keepdim", fd=False),
    OpCase("argmax", lambda m, a: a.argmax(0), gen(normal()), lambda a: np.asarray(0),
           name="0d", fd=False),
    OpCase("argmin", lambda m, a: a.argmin(0), gen(_ties(5, 3)), lambda a: np.argmin(a, 0),
           fd=False),
    OpCase("argmin", lambda m, a: a.argmin(), gen(normal(4, 2)), np.argmin, name="flat",
           fd=False),

    # ---- all / any / count_nonzero
    OpCase("all", lambda m, a: a.all(), gen(_bools(3, 4)), np.all),
    OpCase("all", lambda m, a: m.all(a, 1, keepdim=True), gen(_sparse(3, 4)),
           lambda a: np.all(a, 1, keepdims=True), name="float-dim", fd=False),
    OpCase("all", lambda m, a: a.all(0), gen(_bools(0, 3)), lambda a: np.all(a, 0),
           name="empty"),
    OpCase("any", lambda m, a: a.any(-1), gen(_bools(3, 4)), lambda a: np.any(a, -1)),
    OpCase("any", lambda m, a: a.any(), gen(ints(0, 2, 3, 2)), np.any, name="int"),
    OpCase("count_nonzero", lambda m, a: a.count_nonzero(), gen(_sparse(3, 4)),
           lambda a: np.asarray(np.count_nonzero(a)), fd=False),
    OpCase("count_nonzero", lambda m, a: m.count_nonzero(a, dim=(0, -1)),
           gen(_sparse(2, 3, 4)), lambda a: np.count_nonzero(a, axis=(0, 2)), name="dims",
           fd=False),

    # ---- var / std
    OpCase("var", lambda m, a: a.var(), gen(normal(3, 4)), lambda a: _np_var(a)),
    OpCase("var", lambda m, a: a.var(1, keepdim=True), gen(normal(3, 4)),
           lambda a: _np_var(a, 1, keepdims=True), name="dim-keepdim"),
    OpCase("var", lambda m, a: m.var(a, (0, -1), correction=0), gen(noncontig(2, 3, 4)),
           lambda a: _np_var(a, (0, 2), ddof=0), name="dims-correction0-noncontig"),
    OpCase("var", lambda m, a: m.var(a, 0, False), gen(normal(4, 2)),
           lambda a: _np_var(a, 0, ddof=0), name="unbiased-positional"),
    OpCase("var", lambda m, a: a.var(1, correction=2), gen(normal(2, 5)),
           lambda a: _np_var(a, 1, ddof=2), name="correction2"),
    OpCase("var", lambda m, a: a.var(unbiased=False), gen(normal()),
           lambda a: _np_var(a, ddof=0), name="0d"),
    OpCase("std", lambda m, a: a.std(), gen(normal(3, 4)), lambda a: np.std(a, ddof=1)),
    OpCase("std", lambda m, a: m.std(a, dim=-1, keepdim=True, correction=0),
           gen(noncontig(3, 4)), lambda a: np.std(a, -1, keepdims=True), name="dim-keepdim"),
    OpCase("std", lambda m, a: a.std((0, 1), unbiased=True), gen(normal(2, 2, 3)),
           lambda a: np.std(a, (0, 1), ddof=1), name="dims"),

    # ---- logsumexp
    OpCase("logsumexp", lambda m, a: m.logsumexp(a, 1), gen(normal(3, 4)),
           lambda a: _np_lse(a, 1)),
    OpCase("logsumexp", lambda m, a: a.logsumexp((0, -1), keepdim=True),
           gen(noncontig(2, 3, 4)), lambda a: _np_lse(a, (0, 2), True), name="dims-keepdim"),
    OpCase("logsumexp", lambda m, a: a.logsumexp(0), gen(normal()), lambda a: a,
           name="0d"),
    OpCase("logsumexp", lambda m, a: a.logsumexp(0), gen(normal(0, 3)),
           lambda a: np.full((3,), -np.inf), name="empty", grad=()),
    OpCase("logsumexp", lambda m, a: (a * 500).logsumexp(-1), gen(normal(2, 3)),
           lambda a: _np_lse(a * 500, -1), name="large"),
    OpCase("_exp_diff", lambda m, a, b: apply(R.ExpDiff, a, b), gen(normal(3, 4), normal(3, 1)),
           lambda a, b: np.exp(a - b), torch=False),

    # ---- norm
    OpCase("vector_norm", lambda m, a: a.norm(), gen(normal(3, 4)), lambda a: _np_norm(a, 2)),
    OpCase("vector_norm", lambda m, a: m.norm(a, p=1, dim=1), gen(away_from([0], 3, 4)),
           lambda a: _np_norm(a, 1, 1), name="p1"),
    OpCase("vector_norm", lambda m, a: a.norm(float("inf"), (0, -1), keepdim=True),
           gen(noncontig(2, 3, 4)), lambda a: _np_norm(a, np.inf, (0, 2), True), name="inf"),
    OpCase("vector_norm", lambda m, a: a.norm(-float("inf"), 0), gen(away_from([0], 3, 4)),
           lambda a: _np_norm(a, -np.inf, 0), name="neg-inf"),
    OpCase("vector_norm", lambda m, a: a.norm(0, 1), gen(_sparse(3, 4)),
           lambda a: _np_norm(a, 0, 1), name="p0"),
    OpCase("vector_norm", lambda m, a: a.norm(3, -1), gen(away_from([0], 3, 4)),
           lambda a: _np_norm(a, 3, -1), name="p3"),
    OpCase("vector_norm", lambda m, a: a.norm(0.5), gen(away_from([0], 2, 3, margin=0.3)),
           lambda a: _np_norm(a, 0.5), name="p0.5"),
    OpCase("vector_norm", lambda m, a: a.norm("fro", (0, 1)), gen(normal(2, 3)),
           lambda a: _np_norm(a, 2), name="fro-dims"),
    OpCase("vector_norm", lambda m, a: a.norm(dim=0), gen(normal(0, 3)),
           lambda a: np.zeros(3), name="empty", fd=False),
    OpCase("vector_norm", lambda m, a: a.norm(), gen(normal()), np.abs, name="0d"),
    OpCase("_norm_weight", lambda m, a, o: apply(R.NormWeight, a, o, ord=3.0, dim=(1,)),
           gen(away_from([0], 3, 4), positive(3, 1)),
           lambda a, o: np.sign(a) * (np.abs(a) / o) ** 2, torch=False, second_order=False),
    OpCase("_norm_weight", lambda m, a, o: apply(R.NormWeight, a, o, ord=2.0, dim=(1,)),
           gen(normal(3, 4), positive(3, 1)), lambda a, o: a / o, name="p2", torch=False,
           second_order=False),
    OpCase("_norm_weight_grad", lambda m, a, o: apply(R.NormWeightGrad, a, o, ord=3.0, wrt="x"),
           gen(away_from([0], 3, 4), positive(3, 1)), lambda a, o: 2 * np.abs(a) / o ** 2,
           torch=False, fd=False),

    # ---- cumsum / cumprod
    OpCase("cumsum", lambda m, a: a.cumsum(1), gen(normal(3, 4)), lambda a: np.cumsum(a, 1)),
    OpCase("cumsum", lambda m, a: m.cumsum(a, dim=-3), gen(noncontig(2, 3, 4)),
           lambda a: np.cumsum(a, 0), name="neg-noncontig"),
    OpCase("cumsum", lambda m, a: a.cumsum(0), gen(normal()), lambda a: a, name="0d"),
    OpCase("cumsum", lambda m, a: a.cumsum(0), gen(normal(0, 2)), lambda a: a, name="empty"),
    OpCase("cumsum", lambda m, a: a.cumsum(1), gen(ints(-5, 5, 2, 3)),
           lambda a: np.cumsum(a, 1), name="int", dtypes=("float64",)),
    OpCase("cumsum", lambda m, a: a.cumsum(0, dtype=m.float64), gen(normal(4)),
           lambda a: np.cumsum(a, dtype=np.float64), name="dtype"),
    OpCase("cumprod", lambda m, a: a.cumprod(1), gen(normal(3, 4)), lambda a: np.cumprod(a, 1)),
    OpCase("cumprod", lambda m, a: m.cumprod(a, 0), gen(_with_zeros(5, 2, count=2)),
           lambda a: np.cumprod(a, 0), name="zeros"),
    OpCase("cumprod", lambda m, a: a.cumprod(0), gen(normal()), lambda a: a, name="0d"),
    OpCase("_cumprod_vjp", lambda m, g, a: apply(R.CumprodVjp, g, a, dim=0),
           gen(normal(5), _with_zeros(5, count=2)), _np_cumprod_vjp, torch=False),

    # ---- sort / argsort / topk
    OpCase("sort", lambda m, a: a.sort(), gen(normal(3, 5)), lambda a: _np_sort(a)),
    OpCase("sort", lambda m, a: m.sort(a, 0, descending=True), gen(noncontig(4, 3)),
           lambda a: _np_sort(a, 0, True), name="desc-noncontig"),
    OpCase("sort", lambda m, a: a.sort(dim=-2, stable=True), gen(_ties(6, 3)),
           lambda a: _np_sort(a, -2), name="stable-ties", fd=False),
    OpCase("sort", lambda m, a: a.sort(0), gen(normal()), lambda a: (a, np.asarray(0)),
           name="0d"),
    OpCase("sort", lambda m, a: a.sort(1), gen(normal(2, 0)),
           lambda a: (a, np.zeros((2, 0), np.int64)), name="empty"),
    OpCase("sort", lambda m, a: m.argsort(a, 1, descending=True), gen(normal(3, 4)),
           lambda a: np.argsort(-a, 1), name="argsort", fd=False),
    OpCase("topk", lambda m, a: a.topk(2), gen(normal(3, 5)), lambda a: _np_topk(a, 2)),
    OpCase("topk", lambda m, a: m.topk(a, 3, dim=0, largest=False), gen(noncontig(4, 3)),
           lambda a: _np_topk(a, 3, 0, False), name="smallest-noncontig"),
    OpCase("topk", lambda m, a: a.topk(0, 1), gen(normal(2, 3)),
           lambda a: (np.zeros((2, 0)), np.zeros((2, 0), np.int64)), name="k0"),
    OpCase("topk", lambda m, a: a.topk(1, 0), gen(normal()), lambda a: (a, np.asarray(0)),
           name="0d"),

    # ---- median
    OpCase("median", lambda m, a: a.median(), gen(normal(3, 4)),
           lambda a: np.sort(a.reshape(-1))[(a.size - 1) // 2]),
    OpCase("median", lambda m, a: m.median(a, 1), gen(normal(3, 5)),
           lambda a: _np_median(a, 1), name="dim-odd"),
    OpCase("median", lambda m, a: a.median(-2, keepdim=True), gen(noncontig(4, 3)),
           lambda a: _np_median(a, 0, True), name="even-keepdim-noncontig"),
    OpCase("median", lambda m, a: a.median(), gen(normal(0, 3)), lambda a: np.asarray(np.nan),
           name="empty", grad=()),
    OpCase("median", lambda m, a: a.median(0), gen(normal()), lambda a: (a, np.asarray(0)),
           name="0d"),

    # ---- private gather/scatter
    OpCase("_take_along_dim", lambda m, a, i: apply(R.TakeAlongDim, a, i, dim=1),
           gen(normal(3, 4), ints(0, 4, 3, 6)), lambda a, i: np.take_along_axis(a, i, 1),
           torch=False),
    OpCase("_scatter_along_dim", lambda m, s, i: apply(R.ScatterAlongDim, s, i, dim=0, size=4),
           gen(normal(3, 2), ints(0, 4, 3, 2)), lambda s, i: _np_scatter(s, i, 0, 4),
           torch=False),
]

ERRORS = [
    ErrorCase("sum", lambda m, a: a.sum(2), gen(normal(3, 4)), IndexError,
              "dimension out of range", torch_exc=builtins.IndexError),
    ErrorCase("mean", lambda m, a: a.mean(), gen(ints(0, 3, 4)), DTypeError, "mean",
              name="int", torch_exc=RuntimeError),
    ErrorCase("var", lambda m, a: a.var(), gen(ints(0, 3, 4)), DTypeError,
              "only support floating point", name="int", torch_exc=RuntimeError),
    ErrorCase("std", lambda m, a: a.std(0), gen(ints(0, 3, 4)), DTypeError,
              "only support floating point", name="int", torch_exc=RuntimeError),
    ErrorCase("amax", lambda m, a: a.amax(-3), gen(normal(3, 4)), IndexError,
              "dimension out of range", name="dim", torch_exc=builtins.IndexError),
    ErrorCase("amax", lambda m, a: a.amax(0), gen(normal(0, 4)), IndexError,
              "non-zero size", name="empty", torch_exc=builtins.IndexError),
    ErrorCase("max_dim", lambda m, a: a.max(2), gen(normal(3, 4)), IndexError,
              "dimension out of range", name="dim", torch_exc=builtins.IndexError),
    ErrorCase("max_dim", lambda m, a: a.max(0), gen(normal(0, 4)), IndexError,
              "non-zero size", name="empty", torch_exc=builtins.IndexError),
    ErrorCase("amax", lambda m, a: a.max(), gen(normal(0, 4)), ShapeError,
              "numel() == 0", name="max-full-empty", torch_exc=RuntimeError),
    ErrorCase("argmax", lambda m, a: a.argmax(0), gen(normal(0, 4)), IndexError,
              "non-zero size", name="empty", torch_exc=builtins.IndexError),
    ErrorCase("prod", lambda m, a: a.prod(5), gen(normal(3)), IndexError,
              "dimension out of range", name="dim", torch_exc=builtins.IndexError),
    ErrorCase("cumsum", lambda m, a: a.cumsum(1), gen(normal(3)), IndexError,
              "dimension out of range", name="dim", torch_exc=builtins.IndexError),
    ErrorCase("sort", lambda m, a: a.sort(-3), gen(normal(3, 4)), IndexError,
              "dimension out of range", name="dim", torch_exc=builtins.IndexError),
    ErrorCase("topk", lambda m, a: a.topk(5), gen(normal(3, 4)), ShapeError,
              "k out of range", name="k", torch_exc=RuntimeError),
    ErrorCase("vector_norm", lambda m, a: a.norm(), gen(ints(0, 3, 4)), DTypeError,
              "floating point", name="int", torch_exc=RuntimeError),
    ErrorCase("median", lambda m, a: a.median(0), gen(normal(0, 2)), IndexError,
              "non-zero size", name="empty", torch_exc=builtins.IndexError),
]


# ---- nansum / nanmean (issue 14) --------------------------------------------------------------

def _with_nans(*shape, frac=0.3):
    """Normal samples with NaN mixed in (NaN counts as zero; perturbing it changes nothing,
    so finite differences see the same zero gradient there as the VJP)."""
    def make(rng):
        a = rng.standard_normal(shape)
        a[rng.random(shape) < frac] = np.nan
        return np.asarray(a)
    return make


def _np_nanmean(a, axis=None, keepdims=False):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(a, axis, keepdims=keepdims) / (~np.isnan(a)).sum(axis, keepdims=keepdims)


CASES += [
    OpCase("nansum", lambda m, a: a.nansum(), gen(_with_nans(3, 4)), np.nansum),
    OpCase("nansum", lambda m, a: m.nansum(a, 1, keepdim=True), gen(_with_nans(3, 4)),
           lambda a: np.nansum(a, 1, keepdims=True), name="dim-keepdim"),
    OpCase("nansum", lambda m, a: m.nansum(a, (0, 2)), gen(noncontig(2, 3, 4)),
           lambda a: np.nansum(a, (0, 2)), name="dims-noncontig"),
    OpCase("nansum", lambda m, a: a.nansum(-1), gen(normal(0, 3)),
           lambda a: np.nansum(a, -1), name="empty"),
    OpCase("nansum", lambda m, a: a.nansum(), gen(normal()), np.nansum, name="0d"),
    OpCase("nansum", lambda m, a: a.nansum(0), gen(ints(-3, 3, 4, 2)),
           lambda a: a.sum(0), name="int", dtypes=("float64",), fd=False),
    OpCase("nansum", lambda m, a: m.nanmean(a), gen(_with_nans(3, 4)), _np_nanmean,
           name="nanmean"),
    OpCase("nansum", lambda m, a: a.nanmean(0, keepdim=True), gen(_with_nans(4, 3)),
           lambda a: _np_nanmean(a, 0, True), name="nanmean-dim"),
    # a column of NaN only: its mean is NaN, its gradient NaN (PyTorch's formula); other
    # columns are checked against PyTorch, not finite differences
    OpCase("nansum", lambda m, a: a.nanmean(0),
           gen(lambda rng: np.array([[1.0, np.nan], [np.nan, np.nan], [2.0, np.nan]])),
           lambda a: _np_nanmean(a, 0), name="nanmean-all-nan", fd=False,
           second_order=False),
]

ERRORS += [
    ErrorCase("nansum", lambda m, a: a.nanmean(), gen(ints(0, 3, 4)), DTypeError,
              "floating point", name="nanmean-int", torch_exc=RuntimeError),
    ErrorCase("nansum", lambda m, a: a.nansum(2), gen(normal(3, 4)), IndexError,
              "dimension out of range", name="dim", torch_exc=builtins.IndexError),
]
