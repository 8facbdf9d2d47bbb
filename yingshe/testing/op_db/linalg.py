"""Op-table records for linear algebra."""

import numpy as np

from yingshe.errors import DTypeError, ShapeError
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


def _einsum_ref(eq):
    return lambda *xs: np.einsum(eq, *xs)


def _linear_ref(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def _softmax_ref(x, dim):
    z = np.exp(x - x.max(axis=dim, keepdims=True))
    return z / z.sum(axis=dim, keepdims=True)


def _log_softmax_ref(x, dim):
    z = x - x.max(axis=dim, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=dim, keepdims=True))


def _fn(m):
    """``nn.functional`` of ``m`` (yingshe or torch), imported on first use."""
    import importlib
    return importlib.import_module(m.__name__ + ".nn.functional")


CASES += [
    # checked spellings of matmul
    OpCase("matmul", lambda m, a, b: m.mm(a, b), gen(normal(3, 4), normal(4, 2)), np.matmul,
           name="mm"),
    OpCase("matmul", lambda m, a, b: a.mm(b), gen(noncontig(3, 4), normal(4, 0)), np.matmul,
           name="mm-empty"),
    OpCase("matmul", lambda m, a, b: m.bmm(a, b), gen(normal(2, 3, 4), normal(2, 4, 5)),
           np.matmul, name="bmm"),
    OpCase("matmul", lambda m, a, b: m.mv(a, b), gen(normal(3, 4), normal(4)), np.matmul,
           name="mv"),
    OpCase("matmul", lambda m, a, b: m.dot(a, b), gen(normal(5), normal(5)), np.dot,
           name="dot"),
    OpCase("matmul", lambda m, a, b, c: m.addmm(a, b, c, beta=0.5, alpha=2.0),
           gen(normal(3), normal(2, 4), normal(4, 3)), lambda a, b, c: 0.5 * a + 2 * (b @ c),
           name="addmm"),
    OpCase("mul", lambda m, a, b: m.outer(a, b), gen(normal(3), normal(4)), np.outer,
           name="outer"),
    # linear
    OpCase("linear", lambda m, x, w, b: _fn(m).linear(x, w, b),
           gen(normal(4, 3), normal(5, 3), normal(5)), _linear_ref),
    OpCase("linear", lambda m, x, w: _fn(m).linear(x, w), gen(normal(2, 4, 3), normal(5, 3)),
           _linear_ref, name="3d-nobias"),
    OpCase("linear", lambda m, x, w, b: _fn(m).linear(x, w, b),
           gen(normal(3), noncontig(2, 3), normal(2)), _linear_ref, name="1d-noncontig"),
    OpCase("linear", lambda m, x, w, b: _fn(m).linear(x, w, b),
           gen(normal(0, 3), normal(2, 3), normal(2)), _linear_ref, name="empty-batch"),
    # einsum
    OpCase("einsum", lambda m, a, b: m.einsum("ij,jk->ik", a, b),
           gen(normal(3, 4), normal(4, 2)), _einsum_ref("ij,jk->ik")),
    OpCase("einsum", lambda m, a, b: m.einsum("bij,bjk", a, b),
           gen(normal(2, 3, 4), normal(2, 4, 2)), _einsum_ref("bij,bjk"), name="implicit"),
    OpCase("einsum", lambda m, a: m.einsum("ij->", a), gen(normal(3, 4)),
           _einsum_ref("ij->"), name="full-sum"),
    OpCase("einsum", lambda m, a, b: m.einsum("i,j->ij", a, b), gen(normal(3), normal(4)),
           _einsum_ref("i,j->ij"), name="outer"),
    # one operand summing nothing is a view (permute/diagonal), as in PyTorch
    OpCase("permute", lambda m, a: m.einsum("ij->ji", a), gen(noncontig(3, 4)),
           _einsum_ref("ij->ji"), name="einsum"),
    OpCase("diagonal", lambda m, a: m.einsum("iij->ji", a), gen(normal(3, 3, 2)),
           _einsum_ref("iij->ji"), name="einsum"),
    OpCase("einsum", lambda m, a, b: m.einsum("...ij,...jk->...ik", a, b),
           gen(normal(2, 1, 3, 4), normal(3, 4, 2)), _einsum_ref("...ij,...jk->...ik"),
           name="ellipsis-broadcast"),
    OpCase("einsum", lambda m, a, b, c: m.einsum("ab,bc,cd->ad", a, b, c),
           gen(normal(2, 3), normal(3, 4), normal(4, 2)), _einsum_ref("ab,bc,cd->ad"),
           name="three-operands"),
    OpCase("einsum", lambda m, a, b: m.einsum("ij,j->i", a, b), gen(normal(3, 4), normal(4)),
           _einsum_ref("ij,j->i"), name="summed-in-one"),
    # repeated subscripts (diagonals): the gradient lives on the diagonal
    OpCase("einsum", lambda m, a: m.einsum("ii", a), gen(normal(3, 3)), _einsum_ref("ii"),
           name="trace"),
    OpCase("einsum", lambda m, a, b: m.einsum("iij,j->i", a, b), gen(normal(2, 2, 3),
                                                                      normal(3)),
           _einsum_ref("iij,j->i"), name="diagonal-times-vector"),
    OpCase("einsum", lambda m, a, b: m.einsum("ii,ij->j", a, b), gen(normal(3, 3), normal(3, 2)),
           _einsum_ref("ii,ij->j"), name="two-diagonals"),
]

ERRORS += [
    ErrorCase("matmul", lambda m, a, b: m.mm(a, b.double()), gen(normal(3, 4), normal(4, 2)),
              DTypeError, "yingshe.float32 and yingshe.float64", name="mm-mixed-dtype", torch_exc=RuntimeError),
    ErrorCase("matmul", lambda m, a, b: a @ b.double(), gen(normal(3, 4), normal(4, 2)),
              DTypeError, "yingshe.float32 and yingshe.float64", name="mixed-dtype", torch_exc=RuntimeError),
    ErrorCase("matmul", lambda m, a, b: m.bmm(a, b.double()),
              gen(normal(2, 3, 4), normal(2, 4, 2)), DTypeError, "yingshe.float32 and yingshe.float64",
              name="bmm-mixed-dtype", torch_exc=RuntimeError),
    ErrorCase("matmul", lambda m, a, b: m.mm(a, b), gen(normal(2, 3, 4), normal(4, 2)),
              ShapeError, "mm: self must be a 2-d tensor", name="mm-3d",
              torch_exc=RuntimeError),
    ErrorCase("matmul", lambda m, a, b: m.bmm(a, b), gen(normal(2, 3, 4), normal(3, 4, 2)),
              ShapeError, "bmm: batch sizes differ", name="bmm-batch",
              torch_exc=RuntimeError),
    ErrorCase("matmul", lambda m, a, b: m.bmm(a, b), gen(normal(3, 4), normal(4, 2)),
              ShapeError, "bmm: batch1 must be a 3-d tensor", name="bmm-2d",
              torch_exc=RuntimeError),
    ErrorCase("matmul", lambda m, a, b: m.dot(a, b), gen(normal(3), normal(4)),
              ShapeError, "dot: inconsistent tensor size", name="dot-size",
              torch_exc=RuntimeError),
    ErrorCase("linear", lambda m, x, w: _fn(m).linear(x, w), gen(normal(4, 3), normal(5, 2)),
              ShapeError, "linear: input shape (4, 3) and weight shape (5, 2)",
              torch_exc=RuntimeError),
    ErrorCase("einsum", lambda m, a, b: m.einsum("ij,jk->ik", a, b),
              gen(normal(3, 4), normal(5, 2)), ShapeError, "einsum: subscript 'j'",
              name="size-mismatch", torch_exc=RuntimeError),
    ErrorCase("einsum", lambda m, a: m.einsum("ijk->i", a), gen(normal(3, 4)), ShapeError,
              "einsum: subscripts 'ijk'", name="ndim", torch_exc=RuntimeError),
]
