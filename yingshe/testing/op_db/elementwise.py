"""Op-table records for elementwise ops."""

import numpy as np

from yingshe.errors import ShapeError
from yingshe.testing.op_db import ErrorCase, OpCase, gen, normal, noncontig, positive

CASES = [
    OpCase("add", lambda m, a, b: m.add(a, b), gen(normal(3, 4), normal(3, 4)), np.add),
    OpCase("add", lambda m, a, b: a + b, gen(normal(2, 3, 4), normal(3, 1)), np.add,
           name="broadcast"),
    OpCase("add", lambda m, a, b: a + b, gen(normal(), normal(2, 3)), np.add, name="0d"),
    OpCase("add", lambda m, a, b: a + b, gen(normal(0, 3), normal(3)), np.add, name="empty"),
    OpCase("add", lambda m, a, b: m.add(a, b, alpha=2.0), gen(noncontig(3, 4), normal(4)),
           lambda a, b: a + 2 * b, name="alpha-noncontig"),
    OpCase("add", lambda m, a: a + 1.5, gen(normal(3)), lambda a: a + 1.5, name="scalar"),
    OpCase("add", lambda m, a: 2 + a, gen(normal(3)), lambda a: 2 + a, name="rscalar"),
    OpCase("sub", lambda m, a, b: a - b, gen(normal(3, 4), normal(4)), np.subtract),
    OpCase("sub", lambda m, a: 1.0 - a, gen(normal(2, 2)), lambda a: 1.0 - a, name="rscalar"),
    OpCase("mul", lambda m, a, b: a * b, gen(normal(3, 4), normal(3, 4)), np.multiply),
    OpCase("mul", lambda m, a, b: m.mul(a, b), gen(normal(5, 1, 3), normal(4, 1)), np.multiply,
           name="broadcast"),
    OpCase("mul", lambda m, a: a * 3, gen(normal(3)), lambda a: a * 3, name="scalar"),
    OpCase("div", lambda m, a, b: a / b, gen(normal(3, 4), positive(3, 4)), np.divide),
    OpCase("div", lambda m, a, b: m.div(a, b), gen(normal(3, 4), positive(4)), np.divide,
           name="broadcast"),
    OpCase("div", lambda m, a: 2.0 / a, gen(positive(3)), lambda a: 2.0 / a, name="rscalar"),
    OpCase("neg", lambda m, a: -a, gen(normal(3, 2)), np.negative),
    OpCase("cast", lambda m, a: a.to(m.float64), gen(normal(3)), lambda a: a.astype(np.float64),
           dtypes=("float32",)),
    OpCase("cast", lambda m, a: a.float().double(), gen(normal(3)), lambda a: a.astype(np.float32).astype(np.float64), name="roundtrip",
           dtypes=("float64",), fd=False),
]

ERRORS = [
    ErrorCase("add", lambda m, a, b: a + b, gen(normal(3, 4), normal(5)), ShapeError,
              "add: cannot broadcast shapes (3, 4) and (5,)", torch_exc=RuntimeError),
    ErrorCase("mul", lambda m, a, b: a * b, gen(normal(2, 3), normal(3, 2)), ShapeError,
              "mul: cannot broadcast", torch_exc=RuntimeError),
]
