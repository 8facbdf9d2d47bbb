"""Indexing: random index expressions vs NumPy (forward) and PyTorch (forward and
gradient), x[key] = v and its autograd rules, views, and errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import yingshe
from yingshe.errors import IndexError as YIndexError
from yingshe.testing import check_vjp
from yingshe.testing.reference import torch as import_torch

SHAPE = (4, 3, 5)


@st.composite
def slices(draw, n):
    start = draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
    stop = draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
    step = draw(st.one_of(st.none(), st.integers(1, 3)))
    return slice(start, stop, step)


@st.composite
def keys(draw, shape, ints=True, arrays=True):
    """A random index expression over ``shape``: ints, slices, None, one Ellipsis,
    integer lists/arrays (possibly repeated, negative) and boolean masks."""
    parts = []
    d = 0
    used_ellipsis = False
    has_array = False
    first = None
    while d < len(shape) and draw(st.booleans()):
        n = shape[d]
        kinds = ["slice", "none"] + (["int"] if ints else []) + \
            (["array", "mask"] if arrays else []) + ([] if used_ellipsis else ["ellipsis"])
        kind = draw(st.sampled_from(kinds))
        if kind == "slice":
            parts.append(draw(slices(n)))
            d += 1
        elif kind == "none":
            parts.append(None)
        elif kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
            d += 1
        elif kind == "array":
            k = draw(st.integers(0, 4))
            parts.append(np.array(draw(st.lists(st.integers(-n, n - 1), min_size=k,
                                                max_size=k)), dtype=np.int64))
            if has_array:  # two arrays must broadcast: keep them the same length
                parts[-1] = np.resize(parts[-1], len(first)) if len(first) else parts[-1][:0]
            else:
                first = parts[-1]
            has_array = True
            d += 1
        elif kind == "mask":
            if has_array:
                continue
            m = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
            parts.append(m)
            first = np.nonzero(m)[0]
            has_array = True
            d += 1
        else:
            parts.append(Ellipsis)
            used_ellipsis = True
            d = len(shape)  # nothing after it in this generator
    return tuple(parts)


def _x(shape=SHAPE, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _to_ys(key):
    return tuple(yingshe.tensor(k) if isinstance(k, np.ndarray) else k for k in key)


@given(keys(SHAPE, ints=True, arrays=False))
def test_basic_indexing_matches_numpy_and_is_a_view(key):
    a = _x()
    x = yingshe.tensor(a)
    y = x[key]
    np.testing.assert_array_equal(y.numpy(), a[key])
    assert y._vc is x._vc
    assert np.shares_memory(y.numpy(), x.numpy()) or y.numel() == 0


@given(keys(SHAPE, ints=False, arrays=True))
def test_advanced_indexing_matches_numpy(key):
    # without ints, PyTorch's and NumPy's placement of advanced dims agree
    a = _x()
    y = yingshe.tensor(a)[_to_ys(key)]
    want = a[key]
    assert y.shape == want.shape
    np.testing.assert_array_equal(y.numpy(), want)


@given(keys(SHAPE))
def test_indexing_forward_and_gradient_match_torch(key):
    torch = import_torch()
    a = _x()
    x = yingshe.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    tkey = tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
    y, ty = x[_to_ys(key)], tx[tkey]
    assert tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    u = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    (y * yingshe.tensor(u)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_int_and_array_placement_follows_torch():
    torch = import_torch()
    a = _x((2, 3, 4, 5))
    for key in [(slice(None), 0, slice(None), [0, 1]), (0, slice(None), [0, 1]),
                ([0, 1], slice(None), 0), (None, [0, 1], None, [1, 2])]:
        got = yingshe.tensor(a)[key]
        want = torch.tensor(a)[tuple(torch.tensor(k) if isinstance(k, list) else k
                                     for k in key)]
        assert tuple(got.shape) == tuple(want.shape), key
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_python_bools_and_tensor_indices():
    torch = import_torch()
    a = _x((3, 2))
    x, t = yingshe.tensor(a), torch.tensor(a)
    for key in [True, False, (slice(None), True), yingshe.tensor(1)]:
        tkey = torch.tensor(1) if isinstance(key, yingshe.Tensor) else key
        np.testing.assert_array_equal(x[key].numpy(), t[tkey].numpy())


def test_repeated_indices_accumulate_in_the_gradient():
    a = _x((4,))
    check_vjp(lambda t: t[[0, 0, 3, -1, 0]], [a], (0,))
    check_vjp(lambda t: t[yingshe.tensor([[1, 1], [2, 1]])] * 2.0, [a], (0,))
    x = yingshe.tensor(a, requires_grad=True)
    x[[1, 1, 1]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 3, 0, 0])


def test_second_order_through_indexing():
    from yingshe.testing import check_second_order
    a = _x((3, 4))
    check_second_order(lambda t: t[[0, 2, 2], 1:] * t[:, [1, 1, 3]], [a], (0,))


def test_index_errors_match_torch_messages():
    x = yingshe.tensor(_x((3, 4)))
    with pytest.raises(YIndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[3]
    with pytest.raises(YIndexError, match="index -5 is out of bounds for dimension 1 with size 4"):
        x[:, -5]
    with pytest.raises(YIndexError, match="index 7 is out of bounds for dimension 0"):
        x[[0, 7]]
    with pytest.raises(IndexError):  # the built-in, as PyTorch raises
        x[yingshe.tensor([True, False])]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]


# ---- x[key] = v --------------------------------------------------------------------------------

SET_KEYS = [
    (1, slice(None, None, 2)),
    (slice(1, 3),),
    (Ellipsis, 0),
    ([2, 0],),
    (slice(None), [3, 1, 0]),
    (np.array([[True, False, True, False]] * 3),),
]


def _value_shape(a, key):
    return a[key].shape


@pytest.mark.parametrize("key", SET_KEYS, ids=range(len(SET_KEYS)))
def test_setitem_without_grad_matches_numpy_and_bumps_version(key):
    a = _x((3, 4))
    v = _x(_value_shape(a, key), 1)
    x = yingshe.tensor(a)
    view = x[0]
    ver = x._vc[0]
    x[_to_ys(key)] = yingshe.tensor(v)
    want = a.copy()
    want[key] = v
    np.testing.assert_array_equal(x.numpy(), want)
    assert x._vc[0] == ver + 1 and view._vc[0] == ver + 1
    np.testing.assert_array_equal(view.numpy(), want[0])  # the view sees the write


@pytest.mark.parametrize("key", SET_KEYS, ids=range(len(SET_KEYS)))
def test_setitem_gradient_matches_torch_and_finite_differences(key):
    torch = import_torch()
    a = _x((3, 4))
    v = _x(_value_shape(a, key), 1)

    def f(m, t, val, k):
        b = t * 2.0
        b[k] = val * 3.0
        return b * b

    x = yingshe.tensor(a, requires_grad=True)
    vv = yingshe.tensor(v, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    tv = torch.tensor(v, requires_grad=True)
    tkey = tuple(torch.tensor(k) if isinstance(k, (np.ndarray, list)) else k for k in key)
    y, ty = f(yingshe, x, vv, _to_ys(key)), f(torch, tx, tv, tkey)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy())
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(vv.grad.numpy(), tv.grad.numpy())
    check_vjp(lambda t, val: f(yingshe, t, val, _to_ys(key)), [a, v], (0, 1))


def test_setitem_scalar_and_broadcast_value():
    torch = import_torch()
    a = _x((3, 4))
    x = yingshe.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = x * 1.0, tx * 1.0
    y[:, 1] = 0.5
    ty[:, 1] = 0.5
    y[[0, 2]] = yingshe.tensor(_x((4,), 2))
    ty[[0, 2]] = torch.tensor(_x((4,), 2))
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_setitem_on_leaf_requiring_grad_raises_like_torch():
    torch = import_torch()
    x = yingshe.tensor(_x((3,)), requires_grad=True)
    tx = torch.tensor(_x((3,)), requires_grad=True)
    with pytest.raises(RuntimeError):
        tx[0] = 1.0
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 1.0
    with yingshe.no_grad():
        x[0] = 1.0  # allowed without recording, as in PyTorch
    assert x.numpy(force=True)[0] == 1.0


def test_setitem_casts_and_checks():
    x = yingshe.tensor([1, 2, 3])
    x[0] = 7.9
    assert x.tolist() == [7, 2, 3] and x.dtype is yingshe.int64
    e = yingshe.tensor(_x((1, 3))).expand(2, 3)
    with pytest.raises(RuntimeError, match="refers to a single memory location"):
        e[0, 0] = 1.0  # PyTorch's message for a write into overlapping memory
    z = yingshe.tensor(_x((3,)))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        z[[0, 1]] = yingshe.tensor(_x((3,)))


def test_saved_tensor_then_setitem_is_detected():
    x = yingshe.tensor(_x((3,)), requires_grad=True)
    y = x * 1.0
    z = (y * y).sum()  # saves y
    y[0] = 2.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()


def test_in_place_variants_match_torch():
    torch = import_torch()
    a = _x((3, 4))
    idx = np.array([[0, 1, 2, 0]])
    mask = a > 0
    for fn in [lambda m, t, i, k: t.masked_fill_(k, 2.0),
               lambda m, t, i, k: t.scatter_(0, i, 1.5),
               lambda m, t, i, k: t.scatter_add_(0, i, t[:1].clone()),
               lambda m, t, i, k: t.index_add_(1, i[0], t.clone() * 2.0),
               lambda m, t, i, k: t.index_put_((i[0],), t[0, 0].clone(), accumulate=True)]:
        x = yingshe.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        y, ty = x * 1.0, tx * 1.0
        fn(yingshe, y, yingshe.tensor(idx), yingshe.tensor(mask))
        fn(torch, ty, torch.tensor(idx), torch.tensor(mask))
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy())
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_infer_of_index_ops_accepts_unknown_dims():
    from yingshe.ops import REGISTRY
    from yingshe.ops._shapes import Meta
    f32, i64 = yingshe.float32, yingshe.int64
    m = Meta((None, 5), f32)
    assert REGISTRY["getitem"].infer(m, key=(("s", 1, None, 2),)).shape == (None, 5)
    assert REGISTRY["getitem"].infer(m, key=(None, 0)).shape == (1, 5)
    idx = Meta((None,), i64)
    assert REGISTRY["index"].infer(m, idx, key=(None, 0)).shape == (None, None)
    assert REGISTRY["gather"].infer(m, Meta((None, 2), i64), dim=1).shape == (None, 2)
    assert REGISTRY["pad"].infer(m, pads=((0, 0), (1, 2)), mode="constant",
                                 value=0.0).shape == (None, 8)
    assert REGISTRY["one_hot"].infer(Meta((None,), i64), num_classes=4).shape == (None, 4)


# ---- found by the fuzz suite (tests/fuzz) ---------------------------------------------------

@pytest.mark.parametrize("shape,key,value_shape", [((), Ellipsis, (1, 1)), ((3,), -1, (1,)),
                                                   ((2, 3), 0, (1, 1, 3)),
                                                   ((2, 3), (slice(None), 1), (1, 2))])
@pytest.mark.parametrize("grad", [False, True])
def test_setitem_drops_leading_size_one_dims_of_the_value_like_torch(shape, key, value_shape,
                                                                    grad):
    torch = import_torch()
    rng = np.random.default_rng(0)
    a, v = rng.standard_normal(shape), rng.standard_normal(value_shape)
    out = []
    for m in (yingshe, torch):
        x = m.tensor(a.copy(), requires_grad=grad)
        x = x.clone() if grad else x
        x[key] = m.tensor(v)
        out.append(x.detach().numpy())
    np.testing.assert_array_equal(out[0], out[1])


def test_setitem_of_a_value_that_does_not_fit_the_mask_is_our_own_error():
    torch = import_torch()
    mask = np.random.default_rng(0).random((2, 1, 4, 5)) > 0.5
    with pytest.raises(RuntimeError, match="shape mismatch"):
        torch.zeros(2, 1, 4, 5)[torch.tensor(mask)] = torch.ones(1, 4, 5)
    x = yingshe.zeros(2, 1, 4, 5)
    with pytest.raises(yingshe.ShapeError, match=r"index_put: shape mismatch: value tensor of "
                                                 r"shape \(1, 4, 5\)"):
        x[yingshe.tensor(mask)] = yingshe.ones(1, 4, 5)


@pytest.mark.parametrize("keep", [True, False])
def test_masked_select_of_a_0d_tensor_like_torch(keep):
    torch = import_torch()
    t = torch.masked_select(torch.tensor(3.0, requires_grad=True), torch.tensor(keep))
    x = yingshe.tensor(3.0, requires_grad=True)
    y = yingshe.masked_select(x, yingshe.tensor(keep))
    np.testing.assert_array_equal(y.detach().numpy(), t.detach().numpy())
    y.sum().backward()
    assert x.grad.item() == (1.0 if keep else 0.0)


@pytest.mark.parametrize("index", [[0, 0], []])
def test_index_select_into_a_0d_tensor_takes_one_index_like_torch(index):
    torch = import_torch()
    with pytest.raises(RuntimeError, match="can have only 1 value"):
        torch.index_select(torch.tensor(1.0), -1, torch.tensor(index, dtype=torch.int64))
    with pytest.raises(yingshe.ShapeError, match=r"index_select: .*can have only 1 value, got "
                                                 rf"{len(index)} value"):
        yingshe.index_select(yingshe.tensor(1.0), -1, yingshe.tensor(index, dtype=yingshe.int64))


@pytest.mark.parametrize("dim", [0, -1])
def test_take_along_dim_of_a_0d_tensor_is_refused_like_torch(dim):
    torch = import_torch()
    with pytest.raises(IndexError, match="has no dimensions"):
        torch.take_along_dim(torch.tensor(1.0), torch.tensor(0), dim=dim)
    with pytest.raises(YIndexError, match="take_along_dim: .*no dimensions"):
        yingshe.take_along_dim(yingshe.tensor(1.0), yingshe.tensor(0), dim=dim)
    # without a dim the input is flattened first, as in PyTorch
    got = yingshe.take_along_dim(yingshe.tensor(1.0), yingshe.tensor(0))
    assert got.numpy().tolist() == torch.take_along_dim(torch.tensor(1.0),
                                                        torch.tensor(0)).numpy().tolist()


def test_diag_of_a_matrix_is_a_copy_like_torch():
    """Found by the fuzz suite: torch.diag copies (diagonal() is the view); ours was a view,
    so an in-place write on it changed the matrix (and was refused on a leaf's view)."""
    torch = import_torch()
    out = []
    for m in (yingshe, torch):
        a = m.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        x = a * 1
        d = m.diag(x)
        d.add_(10)
        d.sum().backward()
        m.diag(m.zeros(0, 4, requires_grad=True).t()).reciprocal_()   # a leaf's diag
        out.append((x.detach().numpy(), d.detach().numpy(), a.grad.numpy()))
    for got, want in zip(out[0], out[1]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("write", [
    lambda m, a, c: c.__setitem__(0, a[0] ** 2),
    lambda m, a, c: c.__setitem__(m.tensor([0, 2]), a[:2] * 2),
    lambda m, a, c: c.masked_fill_(c == 0, (a * 2).sum()),
    lambda m, a, c: c.scatter_(0, m.zeros(1, 4, dtype=m.int64), a[:1] * 3),
    lambda m, a, c: c.index_put_((m.tensor([1]),), a[0] * 3),
], ids=["setitem", "setitem-advanced", "masked_fill_", "scatter_", "index_put_"])
def test_a_write_of_a_differentiable_value_into_a_fresh_tensor_backpropagates_like_torch(write):
    """``c = zeros(3, 4); c[0] = a[0] ** 2; c.sum().backward()`` raised "modified by an
    in-place operation" (the write's own version bump made its saved target look stale
    when the target was a leaf without grad). Found writing the compile version tests."""
    torch = import_torch()
    grads = []
    for m in (yingshe, torch):
        a = m.ones(3, 4, dtype=m.float64, requires_grad=True)
        c = m.zeros(3, 4, dtype=m.float64)
        write(m, a, c)
        (c * c).sum().backward()
        grads.append(a.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
