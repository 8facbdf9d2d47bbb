"""Op-table records for the random ops (``rand``, ``randn``, ``randint`` ...).

Random outputs have no NumPy reference: these records check the shape/dtype rule
against eager results and dtypes/shapes against PyTorch; the values are checked
by reproducibility and moments in tests/test_random.py.
"""

from yingshe.testing.op_db import OpCase, gen, normal, positive, uniform

_R = dict(random=True, fd=False, second_order=False, dtypes=("float32",))

CASES = [
    OpCase("uniform", lambda m: m.rand(3, 4), gen(), **_R),
    OpCase("uniform", lambda m: m.rand((2, 0, 3), dtype=m.float64), gen(), name="empty-f64",
           **_R),
    OpCase("uniform", lambda m: m.zeros(5).uniform_(-1.0, 2.0), gen(), name="inplace", **_R),
    OpCase("uniform", lambda m, x: m.rand_like(x), gen(normal(2, 3)), name="like", grad=(),
           **_R),
    OpCase("normal", lambda m: m.randn(2, 3), gen(), **_R),
    OpCase("normal", lambda m: m.randn(()), gen(), name="0d", **_R),
    OpCase("normal", lambda m, x: m.normal(x, 2.0), gen(normal(3, 1)), name="tensor-mean",
           grad=(), **_R),
    OpCase("normal", lambda m, x, s: m.normal(x, s), gen(normal(3, 1), positive(4)),
           name="broadcast", grad=(), **_R),
    OpCase("normal", lambda m: m.normal(1.0, 2.0, (4, 2)), gen(), name="numbers", **_R),
    OpCase("randint", lambda m: m.randint(0, 10, (3, 4)), gen(), **_R),
    OpCase("randint", lambda m: m.randint(5, (6,)), gen(), name="high-only", **_R),
    OpCase("randperm", lambda m: m.randperm(7), gen(), **_R),
    OpCase("bernoulli", lambda m, p: m.bernoulli(p), gen(uniform(0.0, 1.0, 4, 5)), grad=(),
           **_R),
    OpCase("multinomial", lambda m, p: m.multinomial(p, 3), gen(positive(2, 5)), grad=(), **_R),
    OpCase("multinomial", lambda m, p: m.multinomial(p, 8, replacement=True), gen(positive(6)),
           name="replacement", grad=(), **_R),
]
