"""Op-table records for reductions."""

import builtins

import numpy as np

from yingshe.errors import IndexError
from yingshe.testing.op_db import ErrorCase, OpCase, gen, normal, noncontig

CASES = [
    OpCase("sum", lambda m, a: a.sum(), gen(normal(3, 4)), np.sum),
    OpCase("sum", lambda m, a: a.sum(1), gen(normal(3, 4)), lambda a: a.sum(1), name="dim"),
    OpCase("sum", lambda m, a: m.sum(a, dim=(0, 2), keepdim=True), gen(noncontig(2, 3, 4)),
           lambda a: a.sum((0, 2), keepdims=True), name="dims-keepdim"),
    OpCase("sum", lambda m, a: a.sum(-1), gen(normal(0, 3)), lambda a: a.sum(-1), name="empty"),
    OpCase("sum", lambda m, a: a.sum(), gen(normal()), np.sum, name="0d"),
    OpCase("mean", lambda m, a: a.mean(), gen(normal(3, 4)), np.mean),
    OpCase("mean", lambda m, a: a.mean(dim=0, keepdim=True), gen(normal(3, 4)),
           lambda a: a.mean(0, keepdims=True), name="dim"),
]

ERRORS = [
    ErrorCase("sum", lambda m, a: a.sum(2), gen(normal(3, 4)), IndexError,
              "dimension out of range", torch_exc=builtins.IndexError),
]
