"""Op-table records for shape ops."""

import numpy as np

from yingshe.errors import ShapeError
from yingshe.testing.op_db import ErrorCase, OpCase, gen, normal, noncontig

CASES = [
    OpCase("reshape", lambda m, a: a.reshape(4, 3), gen(normal(3, 4)),
           lambda a: a.reshape(4, 3)),
    OpCase("reshape", lambda m, a: a.view(-1), gen(normal(2, 3, 2)), lambda a: a.reshape(-1),
           name="view-infer"),
    OpCase("reshape", lambda m, a: m.reshape(a, (6, 1)), gen(noncontig(2, 3)),
           lambda a: a.reshape(6, 1), name="noncontig"),
    OpCase("expand", lambda m, a: a.expand(2, 3, 4), gen(normal(3, 1)),
           lambda a: np.broadcast_to(a, (2, 3, 4))),
    OpCase("expand", lambda m, a: a.expand(-1, 5), gen(normal(3, 1)),
           lambda a: np.broadcast_to(a, (3, 5)), name="keep"),
    OpCase("sum_to_size", lambda m, a: a.sum_to_size(3, 1), gen(normal(2, 3, 4)),
           lambda a: a.sum(0).sum(1, keepdims=True)),
    OpCase("clone", lambda m, a: a.clone(), gen(normal(3)), lambda a: a.copy()),
    OpCase("transpose", lambda m, a: a.transpose(0, 2), gen(normal(2, 3, 4)),
           lambda a: a.swapaxes(0, 2)),
    OpCase("transpose", lambda m, a: m.transpose(a, -1, -2), gen(normal(3, 4)),
           lambda a: a.T, name="neg"),
]

ERRORS = [
    ErrorCase("reshape", lambda m, a: a.reshape(5, 2), gen(normal(3, 4)), ShapeError,
              "is invalid for input of shape (3, 4)", torch_exc=RuntimeError),
    ErrorCase("expand", lambda m, a: a.expand(4, 2), gen(normal(3, 1)), ShapeError,
              "expand", torch_exc=RuntimeError),
]
