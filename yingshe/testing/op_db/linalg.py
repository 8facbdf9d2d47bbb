"""Op-table records for linear algebra."""

import numpy as np

from yingshe.errors import ShapeError
from yingshe.testing.op_db import ErrorCase, OpCase, gen, normal, noncontig

CASES = [
    OpCase("matmul", lambda m, a, b: a @ b, gen(normal(3, 4), normal(4, 5)), np.matmul),
    OpCase("matmul", lambda m, a, b: m.matmul(a, b), gen(normal(2, 3, 4), normal(4, 2)),
           np.matmul, name="batched-broadcast"),
    OpCase("matmul", lambda m, a, b: a @ b, gen(normal(4), normal(4, 3)), np.matmul, name="vec-mat"),
    OpCase("matmul", lambda m, a, b: a @ b, gen(normal(2, 3, 4), normal(4)), np.matmul,
           name="mat-vec"),
    OpCase("matmul", lambda m, a, b: a @ b, gen(normal(4), normal(4)), np.matmul, name="dot"),
    OpCase("matmul", lambda m, a, b: a @ b, gen(noncontig(3, 4), noncontig(4, 2)), np.matmul,
           name="noncontig"),
]

ERRORS = [
    ErrorCase("matmul", lambda m, a, b: a @ b, gen(normal(3, 4), normal(5, 2)), ShapeError,
              "matmul: shapes (3, 4) and (5, 2) cannot be multiplied", torch_exc=RuntimeError),
]
