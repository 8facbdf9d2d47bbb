"""Property tests (hypothesis): broadcasting and its gradients, expand/sum_to_size,
reshape round trips and non-contiguous inputs, against NumPy and PyTorch."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import yingshe
from yingshe.testing.reference import torch as import_torch

FEW = settings(max_examples=40)

pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0,
                                          max_side=3)
OPS = {"add": (np.add, lambda m, a, b: m.add(a, b)),
       "mul": (np.multiply, lambda m, a, b: m.mul(a, b)),
       "sub": (np.subtract, lambda m, a, b: a - b),
       "radd": (np.add, lambda m, a, b: a + b)}


def _arrays(seed, *shapes, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@FEW
@given(pairs, st.sampled_from(sorted(OPS)), st.integers(0, 2 ** 16),
       st.sampled_from([np.float32, np.float64]))
def test_broadcasting_forward_matches_numpy(shapes, op, seed, dtype):
    (sa, sb), out_shape = shapes.input_shapes, shapes.result_shape
    a, b = _arrays(seed, sa, sb, dtype=dtype)
    ref, call = OPS[op]
    y = call(yingshe, yingshe.tensor(a), yingshe.tensor(b))
    want = ref(a, b)
    assert tuple(y.shape) == out_shape == want.shape
    assert y.numpy().dtype == want.dtype
    np.testing.assert_array_equal(y.numpy(), want)


@FEW
@given(pairs, st.sampled_from(sorted(OPS)), st.integers(0, 2 ** 16))
def test_broadcast_gradients_sum_back_like_torch(shapes, op, seed):
    torch = import_torch()
    sa, sb = shapes.input_shapes
    a, b = _arrays(seed, sa, sb)
    _, call = OPS[op]
    ya, yb = yingshe.tensor(a, requires_grad=True), yingshe.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    u = np.random.default_rng(seed + 1).standard_normal(shapes.result_shape)
    (call(yingshe, ya, yb) * yingshe.tensor(u)).sum().backward()
    (call(torch, ta, tb) * torch.tensor(u)).sum().backward()
    for y, t, shape in ((ya, ta, sa), (yb, tb, sb)):
        assert tuple(y.grad.shape) == shape
        np.testing.assert_allclose(y.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


@FEW
@given(pairs, st.integers(0, 2 ** 16))
def test_grad_with_python_scalar_and_0d_operands(shapes, seed):
    torch = import_torch()
    sa, _ = shapes.input_shapes
    (a,) = _arrays(seed, sa)
    s = np.float64(1.7)
    y = yingshe.tensor(a, requires_grad=True)
    z = yingshe.tensor(s, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    tz = torch.tensor(s, requires_grad=True)
    ((y * z + 2.0) * y).sum().backward()
    ((t * tz + 2.0) * t).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert z.grad.shape == ()


@FEW
@given(pairs, st.integers(0, 2 ** 16))
def test_sum_to_size_after_expand(shapes, seed):
    (small, _), big = shapes.input_shapes, shapes.result_shape
    (a,) = _arrays(seed, small)
    x = yingshe.tensor(a)
    e = x.expand(*big) if big else x.expand(())
    assert tuple(e.shape) == big
    np.testing.assert_array_equal(e.numpy(), np.broadcast_to(a, big))
    back = e.sum_to_size(*small) if small else e.sum_to_size(())
    assert tuple(back.shape) == small
    # summing n copies gives n times the value
    n = int(np.prod(big)) // max(int(np.prod(small)), 1) if np.prod(small) else 0
    if np.prod(small):
        np.testing.assert_allclose(back.numpy(), a * n, rtol=1e-12)
    # and it is the transpose of expand: <expand(x), u> == <x, sum_to_size(u)>
    u = np.random.default_rng(seed).standard_normal(big)
    lhs = float((np.broadcast_to(a, big) * u).sum())
    rhs = float((a * yingshe.tensor(u).sum_to_size(*small).numpy()).sum()) if small else \
        float(a * yingshe.tensor(u).sum_to_size(()).numpy())
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


shapes_st = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@FEW
@given(shapes_st, st.integers(0, 2 ** 16), st.data())
def test_reshape_round_trip_and_gradient(shape, seed, data):
    torch = import_torch()
    (a,) = _arrays(seed, shape)
    n = a.size
    # a random factorisation of n into a new shape (possibly with a -1)
    new = data.draw(st.sampled_from(_factorisations(n)))
    x = yingshe.tensor(a, requires_grad=True)
    r = x.reshape(*new) if new else x.reshape(())
    np.testing.assert_array_equal(r.detach().numpy(), a.reshape(new))
    assert tuple(r.shape) == a.reshape(new).shape
    back = r.reshape(*shape) if shape else r.reshape(())
    np.testing.assert_array_equal(back.detach().numpy(), a)
    u = np.random.default_rng(seed).standard_normal(tuple(r.shape))
    (r * yingshe.tensor(u)).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    (t.reshape(new) * torch.tensor(u)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def _factorisations(n):
    out = [(n,), (1, n), (n, 1)]
    for d in range(2, 5):
        if n % d == 0:
            out += [(d, n // d), (n // d, d), (-1, d)]
    if n == 1:
        out.append(())
    return out


@FEW
@given(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4), st.integers(0, 2 ** 16))
def test_non_contiguous_inputs(shape, seed):
    torch = import_torch()
    base = np.random.default_rng(seed).standard_normal(shape[::-1])
    a = base.T  # non-contiguous view
    b = np.random.default_rng(seed + 1).standard_normal(shape[-1:])
    x = yingshe.from_numpy(a).requires_grad_()
    assert not x.is_contiguous() or a.flags.c_contiguous
    y = yingshe.tensor(b, requires_grad=True)
    out = x * y + x
    np.testing.assert_array_equal(out.detach().numpy(), a * b + a)
    u = np.random.default_rng(seed + 2).standard_normal(shape)
    (out * yingshe.tensor(u)).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    ty = torch.tensor(b, requires_grad=True)
    ((tx * ty + tx) * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12, atol=1e-12)
    # contiguous() copies into C order and keeps values
    c = x.detach().contiguous()
    assert c.is_contiguous()
    np.testing.assert_array_equal(c.numpy(), a)
    # a transposed view of a tensor is consistent with NumPy too
    tr = yingshe.tensor(base).transpose(0, -1)
    np.testing.assert_array_equal(tr.numpy(), np.swapaxes(base, 0, -1))


@FEW
@given(pairs, st.integers(0, 2 ** 16))
def test_inplace_add_broadcasts_into_self(shapes, seed):
    (sa, sb), out_shape = shapes.input_shapes, shapes.result_shape
    a, b = _arrays(seed, out_shape, sb)
    x = yingshe.tensor(a)
    x.add_(yingshe.tensor(b))
    np.testing.assert_array_equal(x.numpy(), a + b)
    assert tuple(x.shape) == out_shape
