"""Linear algebra: matmul (batched, broadcasting), mm, bmm, mv, dot, outer, linear, einsum."""

from __future__ import annotations

from yingshe.errors import DTypeError, ShapeError, no_out as _no_out
from yingshe.ops._registry import apply, register_op, tensor_method
from yingshe.ops._shapes import Meta, broadcast_shapes, shape_str
from yingshe.ops.loss import log_softmax, softmax  # noqa: F401  (yingshe.softmax, F.softmax)

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "outer", "ger", "addmm",
           "einsum", "softmax", "log_softmax"]


def _matmul(xp, a, b):
    """``xp.matmul``, with a stack of rows times one matrix as one GEMM: NumPy runs a
    3-d @ 2-d product as one small GEMM per leading index (measured 1.6x slower for
    (32, 32, 32) @ (32, 512), the LSTM benchmark's input projection)."""
    with xp.errstate(invalid="ignore", over="ignore"):   # inf * 0 is NaN, silently
        if a.ndim > 2 and b.ndim == 2:
            rows = 1
            for n in a.shape[:-1]:
                rows *= n
            return xp.matmul(a.reshape(rows, a.shape[-1]), b).reshape(a.shape[:-1]
                                                                      + b.shape[1:])
        return xp.matmul(a, b)


@register_op("matmul", saves="other")
class Matmul:
    """Matrix product with NumPy/PyTorch semantics for 1-d and batched operands."""

    def forward(xp, a, b):
        return _matmul(xp, a, b)

    def infer(a, b):
        if a.dtype is not b.dtype:
            raise DTypeError(f"matmul: expected both operands to have the same dtype, got "
                             f"{a.dtype} and {b.dtype}")
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError("matmul: both arguments need at least 1 dimension, got shapes "
                             f"{shape_str(a.shape)} and {shape_str(b.shape)}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
        if ka is not None and kb is not None and ka != kb:
            raise ShapeError(f"matmul: shapes {shape_str(a.shape)} and {shape_str(b.shape)} "
                             f"cannot be multiplied ({ka} != {kb})")
        batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
        rows = (a.shape[-2],) if a.ndim >= 2 else ()
        cols = (b.shape[-1],) if b.ndim >= 2 else ()
        return Meta(tuple(batch) + rows + cols, a.dtype)

    def vjp(g, out, a, b, needs):
        # Promote 1-d operands to matrices, as the forward does implicitly, so one rule
        # covers every case: then each gradient is summed back over broadcast batch dims
        # and reshaped to the operand's own shape.
        from yingshe.ops.shape import reshape, sum_to_size
        a2_shape = (1,) + tuple(a.shape) if a.ndim == 1 else tuple(a.shape)
        b2_shape = tuple(b.shape) + (1,) if b.ndim == 1 else tuple(b.shape)
        batch = broadcast_shapes("matmul", a2_shape[:-2], b2_shape[:-2])
        g2 = reshape(g, tuple(batch) + (a2_shape[-2], b2_shape[-1]))
        ga = gb = None
        if needs[0]:
            b2 = reshape(b, b2_shape) if b.ndim == 1 else b
            ga = matmul(g2, b2.transpose(-1, -2))
            ga = reshape(sum_to_size(ga, a2_shape), tuple(a.shape))
        if needs[1]:
            a2 = reshape(a, a2_shape) if a.ndim == 1 else a
            gb = matmul(a2.transpose(-1, -2), g2)
            gb = reshape(sum_to_size(gb, b2_shape), tuple(b.shape))
        return ga, gb


@tensor_method("__matmul__")
@tensor_method
def matmul(input, other, *, out=None):
    """Matrix product (``@``), batched and broadcasting over leading dims."""
    _no_out(out, "matmul")
    from yingshe.ops.elementwise import _as_operand
    other = _as_operand(other)
    if input.dtype != other.dtype:
        raise DTypeError(f"matmul: expected both operands to have the same dtype, got "
                         f"{input.dtype} and {other.dtype}")
    return apply(Matmul, input, other)


@tensor_method("__rmatmul__")
def _rmatmul(self, other):
    from yingshe.ops.elementwise import _as_operand
    return matmul(_as_operand(other), self)


# ---- mm, bmm, mv, dot, outer, addmm: checked spellings of matmul ---------------------------

def _check_same_dtype(opname, a, b):
    if a.dtype is not b.dtype:
        raise DTypeError(f"{opname}: expected both operands to have the same dtype, got "
                         f"{a.dtype} and {b.dtype}")


def _check_ndim(opname, x, ndim, what):
    if x.ndim != ndim:
        raise ShapeError(f"{opname}: {what} must be a {ndim}-d tensor, got shape "
                         f"{shape_str(x.shape)}")


@tensor_method
def mm(input, mat2, *, out=None):
    """Matrix product of two 2-d tensors (no broadcasting)."""
    _check_ndim("mm", input, 2, "self")
    _check_ndim("mm", mat2, 2, "mat2")
    _check_same_dtype("mm", input, mat2)
    if None not in (input.shape[1], mat2.shape[0]) and input.shape[1] != mat2.shape[0]:
        raise ShapeError(f"mm: shapes {shape_str(input.shape)} and {shape_str(mat2.shape)} "
                         f"cannot be multiplied ({input.shape[1]} != {mat2.shape[0]})")
    return matmul(input, mat2, out=out)


@tensor_method
def bmm(input, mat2, *, out=None):
    """Batched matrix product of two 3-d tensors with equal batch sizes."""
    _check_ndim("bmm", input, 3, "batch1")
    _check_ndim("bmm", mat2, 3, "batch2")
    _check_same_dtype("bmm", input, mat2)
    (b1, _, k1), (b2, k2, _) = input.shape, mat2.shape
    if None not in (b1, b2) and b1 != b2:
        raise ShapeError(f"bmm: batch sizes differ: shapes {shape_str(input.shape)} and "
                         f"{shape_str(mat2.shape)}")
    if None not in (k1, k2) and k1 != k2:
        raise ShapeError(f"bmm: shapes {shape_str(input.shape)} and {shape_str(mat2.shape)} "
                         f"cannot be multiplied ({k1} != {k2})")
    return matmul(input, mat2, out=out)


@tensor_method
def mv(input, vec, *, out=None):
    """Matrix (2-d) times vector (1-d)."""
    _check_ndim("mv", input, 2, "self")
    _check_ndim("mv", vec, 1, "vec")
    _check_same_dtype("mv", input, vec)
    if None not in (input.shape[1], vec.shape[0]) and input.shape[1] != vec.shape[0]:
        raise ShapeError(f"mv: shapes {shape_str(input.shape)} and {shape_str(vec.shape)} "
                         f"cannot be multiplied ({input.shape[1]} != {vec.shape[0]})")
    return matmul(input, vec, out=out)


@tensor_method
def dot(input, tensor, *, out=None):
    """Inner product of two 1-d tensors of the same size."""
    _check_ndim("dot", input, 1, "self")
    _check_ndim("dot", tensor, 1, "tensor")
    _check_same_dtype("dot", input, tensor)
    if None not in (input.shape[0], tensor.shape[0]) and input.shape[0] != tensor.shape[0]:
        raise ShapeError(f"dot: inconsistent tensor size, expected tensors of the same size, "
                         f"got {shape_str(input.shape)} and {shape_str(tensor.shape)}")
    return matmul(input, tensor, out=out)


@tensor_method
def outer(input, vec2, *, out=None):
    """Outer product of two 1-d tensors: ``out[i, j] = input[i] * vec2[j]``."""
    from yingshe.ops.elementwise import mul
    from yingshe.ops.shape import reshape
    _no_out(out, "outer")
    _check_ndim("outer", input, 1, "self")
    _check_ndim("outer", vec2, 1, "vec2")
    return mul(reshape(input, (input.shape[0], 1)), vec2)


ger = outer
tensor_method("ger")(outer)


@tensor_method
def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    """``beta * input + alpha * (mat1 @ mat2)``; ``input`` broadcasts to the product."""
    from yingshe.ops.elementwise import add, mul
    prod = mm(mat1, mat2, out=out)
    if alpha != 1:
        prod = mul(prod, alpha)
    if beta == 0:  # PyTorch ignores input then: nan and inf in it do not propagate
        return prod
    return add(mul(input, beta) if beta != 1 else input, prod)


# ---- linear: the hot path of every MLP -----------------------------------------------------

@register_op("linear", saves="other")
class Linear:
    """``input @ weight.T (+ bias)``: ``input`` (*, in), ``weight`` (out, in), ``bias`` (out,).

    The bias is an optional third input. Forward: one matmul and one add; VJP: two
    matmuls (input, weight) and one sum (bias) over the flattened leading dims.
    """

    def forward(xp, x, w, b=None):
        y = _matmul(xp, x, w.T)
        if b is not None:
            y += b  # y is a fresh array: adding in place saves an allocation
        return y

    def infer(x, w, b=None):
        _check_same_dtype("linear", x, w)
        if w.ndim != 2:
            raise ShapeError(f"linear: weight must be 2-d (out_features, in_features), got "
                             f"shape {shape_str(w.shape)}")
        if x.ndim == 0:
            raise ShapeError("linear: input must have at least 1 dimension, got shape ()")
        if None not in (x.shape[-1], w.shape[1]) and x.shape[-1] != w.shape[1]:
            raise ShapeError(f"linear: input shape {shape_str(x.shape)} and weight shape "
                             f"{shape_str(w.shape)} cannot be multiplied "
                             f"({x.shape[-1]} != {w.shape[1]}: input features vs in_features)")
        if b is not None:
            _check_same_dtype("linear", x, b)
            if b.ndim > 1 or (b.ndim == 1 and None not in (b.shape[0], w.shape[0])
                              and b.shape[0] not in (1, w.shape[0])):
                raise ShapeError(f"linear: bias of shape {shape_str(b.shape)} does not match "
                                 f"out_features {w.shape[0]}")
        return Meta(tuple(x.shape[:-1]) + (w.shape[0],), x.dtype)

    def vjp(g, out, x, w, b=None, needs=(True, True, True)):
        from yingshe.ops.reduce import sum as _sum
        from yingshe.ops.shape import reshape
        gx = gw = gb = None
        if needs[0]:
            gx = matmul(g, w)
        if needs[1]:
            if x.ndim == 1:
                gw = matmul(reshape(g, (g.shape[0], 1)), reshape(x, (1, x.shape[0])))
            else:
                g2 = reshape(g, (-1, g.shape[-1])) if g.ndim != 2 else g
                x2 = reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x
                gw = matmul(g2.transpose(0, 1), x2)
        if b is not None and len(needs) > 2 and needs[2]:
            gb = _sum(g, tuple(range(g.ndim - 1))) if g.ndim > 1 else g
        return (gx, gw) if b is None else (gx, gw, gb)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (``torch.nn.functional.linear``)."""
    _check_same_dtype("linear", input, weight)
    if bias is None:
        return apply(Linear, input, weight)
    _check_same_dtype("linear", input, bias)
    return apply(Linear, input, weight, bias)


# ---- einsum ---------------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parse_einsum(equation: str, ndims: list[int]) -> tuple[list[str], str]:
    """Explicit form of ``equation`` for operands of ``ndims``: ellipses replaced by
    unused letters, the implicit output (letters seen once, sorted, after the
    ellipsis dims) made explicit. Returns (input subscripts, output subscripts)."""
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
        if "->" in rhs:
            raise ValueError(f"einsum: equation {equation!r} has more than one '->'")
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: equation {equation!r} has {len(terms)} operand(s) but "
                         f"{len(ndims)} were given")
    used = set(c for c in eq if c.isalpha())
    for c in eq:
        if not (c.isalpha() or c in ",.->"):
            raise ValueError(f"einsum: invalid subscript {c!r} in equation {equation!r}")
    free = [c for c in _LETTERS if c not in used]
    ell_n = 0
    for t, nd in zip(terms, ndims):
        if "..." in t:
            ell_n = max(ell_n, nd - (len(t) - 3))
    ell = "".join(free[:ell_n])
    subs = []
    for t, nd in zip(terms, ndims):
        if "..." in t:
            n = nd - (len(t) - 3)
            if n < 0:
                raise ShapeError(f"einsum: subscripts {t!r} have more dimensions than the "
                                 f"operand ({nd})")
            t = t.replace("...", ell[ell_n - n:])
        if "." in t:
            raise ValueError(f"einsum: invalid ellipsis in equation {equation!r}")
        if len(t) != nd:
            raise ShapeError(f"einsum: subscripts {t!r} do not match an operand of "
                             f"{nd} dimension(s)")
        subs.append(t)
    if rhs is None:
        counts = {}
        for t in subs:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted((c for c, n in counts.items() if n == 1 and c not in ell),
                                   key=lambda c: (c.isupper(), c)))
    else:
        out = rhs.replace("...", ell) if "..." in rhs else rhs
        if "." in out:
            raise ValueError(f"einsum: invalid ellipsis in equation {equation!r}")
        seen = set("".join(subs))
        for c in out:
            if c not in seen:
                raise ValueError(f"einsum: output subscript {c!r} does not appear in the "
                                 f"inputs of {equation!r}")
        if len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscripts of {equation!r} repeat a letter")
    return subs, out


@register_op("einsum", saves="inputs")
class Einsum:
    """Einstein summation; ``equation`` is explicit (no ellipsis, output given)."""

    def forward(xp, *operands, equation):
        # NumPy may return a view of an operand ("ab->ba"); the public einsum routes those
        # equations through view ops, so what reaches here is always copied by NumPy or
        # made a copy: a registered non-view op never aliases its input
        with xp.errstate(invalid="ignore", over="ignore", divide="ignore"):
            out = xp.einsum(equation, *operands, optimize=len(operands) > 2)
        if any(xp.may_share_memory(out, o) for o in operands):
            out = out.copy()
        return out

    def infer(*operands, equation):
        lhs, out = equation.split("->")
        subs = lhs.split(",")
        sizes: dict = {}
        for k, (t, m) in enumerate(zip(subs, operands)):
            if m.dtype is not operands[0].dtype:
                raise DTypeError(f"einsum: expected all operands to have the same dtype, got "
                                 f"{operands[0].dtype} and {m.dtype}")
            _check_repeated(t, m.shape, k)
            for c, d in zip(t, m.shape):
                prev = sizes.get(c, 1)
                if d is None:  # unknown: stays unknown unless another operand knows it
                    if prev == 1:
                        sizes[c] = None
                elif prev is None or prev == 1:
                    sizes[c] = d if prev == 1 or d != 1 else prev
                elif d != 1 and d != prev:
                    raise ShapeError(
                        f"einsum: subscript {c!r} has size {d} for an operand of shape "
                        f"{shape_str(m.shape)}, which does not match size {prev} in {equation!r}")
        return Meta(tuple(sizes.get(c, 1) for c in out), operands[0].dtype)

    def vjp(g, out, *operands, equation, needs):
        from yingshe.ops.shape import expand, reshape
        lhs, out_subs = equation.split("->")
        subs = lhs.split(",")
        grads = []
        for k, x in enumerate(operands):
            if not needs[k]:
                grads.append(None)
                continue
            sk = subs[k]
            uk = "".join(dict.fromkeys(sk))   # a repeated letter (a diagonal) once
            others = [(s, o) for i, (s, o) in enumerate(zip(subs, operands)) if i != k]
            avail = set(out_subs).union(*(set(s) for s, _ in others))
            target = "".join(c for c in uk if c in avail)
            eq = ",".join([out_subs] + [s for s, _ in others]) + "->" + target
            h = apply(Einsum, g, *[o for _, o in others], equation=eq)
            if target != sk:  # letters summed only within operand k, or repeated in it
                first = {c: sk.index(c) for c in uk}
                h = reshape(h, tuple(h.shape[target.index(c)] if c in target
                                     and first[c] == p else 1 for p, c in enumerate(sk)))
            # h and x broadcast: a size-1 dim of h (a letter summed within x, repeated in
            # it, or of size 1 in the other operands) spreads over x's; a dim of x that was
            # broadcast from size 1 is summed back by the engine (sum_to_size)
            want = tuple(xd if hd == 1 else hd for hd, xd in zip(h.shape, x.shape))
            if want != tuple(h.shape):
                h = expand(h, want)
            if uk != sk:  # the gradient lives on the diagonal only
                h = h * _diagonal_mask(tuple(x.shape), sk, x.dtype.np)
            grads.append(h)
        return tuple(grads)


def _check_repeated(subs: str, shape, k: int) -> None:
    """A letter repeated within one operand (a diagonal) needs equal sizes: no broadcast."""
    for p, c in enumerate(subs):
        q = subs.index(c)
        if q != p and None not in (shape[p], shape[q]) and shape[p] != shape[q]:
            raise ShapeError(f"einsum: subscript {c!r} is repeated for operand {k} but the "
                             f"sizes don't match, {shape[q]} != {shape[p]} (operand shape "
                             f"{shape_str(shape)})")


def _einsum_view(x, subs: str, out: str):
    """``einsum`` of one operand that sums nothing (every letter kept): PyTorch's result is
    a view of the operand (diagonals of repeated letters, then a permutation), and so is
    this one, built from ``diagonal`` and ``permute``."""
    from yingshe.ops.indexing import diagonal
    from yingshe.ops.shape import permute
    letters = list(subs)
    for c in dict.fromkeys(subs):
        while letters.count(c) > 1:
            p = letters.index(c)
            q = letters.index(c, p + 1)
            x = diagonal(x, 0, p, q)            # removes dims p, q; the diagonal goes last
            letters = [d for i, d in enumerate(letters) if i not in (p, q)] + [c]
    return permute(x, *[letters.index(c) for c in out])


def _int_einsum_dtypes(operands, subs: list, out: str):
    """PyTorch's einsum sums a letter found in one operand only (and not in the output)
    with ``sum``, which gives integer and bool operands int64; the contraction after it
    needs equal dtypes. Returns the operands so promoted, refusing a mix it leaves."""
    from yingshe import _dtype
    promoted = []
    for k, (o, t) in enumerate(zip(operands, subs)):
        others = set(out).union(*(set(s) for i, s in enumerate(subs) if i != k))
        private = any(c not in others for c in t)
        if private and not o.dtype.is_floating_point and o.dtype is not _dtype.int64:
            o = o.to(_dtype.int64)
        promoted.append(o)
    for o in promoted[1:]:
        if o.dtype is not promoted[0].dtype:
            raise DTypeError(f"einsum: expected all operands to have the same dtype, got "
                             f"{promoted[0].dtype} and {o.dtype} (an integer operand with a "
                             f"subscript summed within it is summed to int64 first, as in "
                             f"PyTorch)")
    return promoted


def _diagonal_mask(shape, subs, dtype):
    """A constant 0/1 array of ``shape``: 1 where the indices of each repeated letter of
    ``subs`` agree (the diagonal an operand like ``x`` in ``"ii->i"`` contributes from)."""
    import numpy as np
    from yingshe._tensor import _wrap
    if None in shape:
        from yingshe.errors import UnsupportedError
        raise UnsupportedError(f"einsum: the gradient of an operand with a repeated subscript "
                               f"({subs!r}) needs its shape, got {shape_str(shape)}")
    idx = np.indices(shape, sparse=True)
    mask = np.ones(shape, dtype=bool)
    for p, c in enumerate(subs):
        q = subs.index(c)
        if q != p:
            mask &= idx[p] == idx[q]
    return _wrap(mask.astype(dtype))


def einsum(equation, *operands):
    """Einstein summation (``torch.einsum``): implicit or explicit output, ``...``
    for broadcast dimensions; operands may also be passed as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {type(equation).__name__}")
    if not operands:
        raise ValueError("einsum: must provide at least one operand")
    subs, out = _parse_einsum(equation, [o.ndim for o in operands])
    for o in operands[1:]:
        if o.dtype is not operands[0].dtype:
            raise DTypeError(f"einsum: expected all operands to have the same dtype, got "
                             f"{operands[0].dtype} and {o.dtype}")
    for k, (t, o) in enumerate(zip(subs, operands)):
        _check_repeated(t, tuple(o.shape), k)
    if len(operands) == 1 and set(out) == set(subs[0]):
        return _einsum_view(operands[0], subs[0], out)
    if not operands[0].dtype.is_floating_point:
        operands = _int_einsum_dtypes(operands, subs, out)
    return apply(Einsum, *operands, equation=",".join(subs) + "->" + out)
