"""Records of ``searchsorted``/``bucketize`` (the data-dependent ``nonzero``, ``unique``,
``bincount`` are functions, not ops: tests/ops/test_search.py)."""

import numpy as np

from yingshe.errors import ShapeError
from yingshe.testing.op_db import ErrorCase, OpCase, gen, normal


def _sorted(*shape):
    return lambda rng: np.sort(rng.standard_normal(shape), axis=-1)


def _with_ties(rng):
    return np.array([-1.0, 0.0, 0.0, 0.5, 2.0])


def _np_search(seq, v, right=False):
    side = "right" if right else "left"
    if seq.ndim == 1:
        return np.searchsorted(seq, v, side=side)
    return np.stack([np.searchsorted(s, x, side=side) for s, x in zip(seq, v)])


CASES = [
    OpCase("searchsorted", lambda m, s, v: m.searchsorted(s, v), gen(_sorted(6), normal(3, 4)),
           _np_search, grad=()),
    OpCase("searchsorted", lambda m, s, v: m.searchsorted(s, v, right=True),
           gen(_with_ties, lambda rng: np.array([0.0, 2.0, -3.0, 0.25])),
           lambda s, v: _np_search(s, v, True), grad=(), name="right-ties"),
    OpCase("searchsorted", lambda m, s, v: m.searchsorted(s, v, side="right"),
           gen(_sorted(2, 5), normal(2, 3)), lambda s, v: _np_search(s, v, True), grad=(),
           name="batched"),
    OpCase("searchsorted", lambda m, v, b: m.bucketize(v, b), gen(normal(4, 2), _with_ties),
           lambda v, b: np.searchsorted(b, v), grad=(), name="bucketize"),
    OpCase("searchsorted", lambda m, s, v: m.searchsorted(s, v, out_int32=True),
           gen(_sorted(4), normal(0)), lambda s, v: _np_search(s, v).astype(np.int32),
           grad=(), name="empty-int32"),
]

ERRORS = [
    ErrorCase("searchsorted", lambda m, s, v: m.searchsorted(s, v),
              gen(_sorted(2, 5), normal(3, 2)), ShapeError, "same leading dims"),
]
