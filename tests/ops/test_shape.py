"""Shape ops: round trips (hypothesis), views and version counters, multi-output split,
and parity with PyTorch for the joining/splitting family."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import yingshe
from yingshe.errors import IndexError as YIndexError
from yingshe.errors import ShapeError
from yingshe.testing import check_vjp
from yingshe.testing.reference import torch as import_torch

shapes = st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple)


def _arr(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@given(shapes, st.data())
def test_permute_inverse_round_trip(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    x = yingshe.tensor(_arr(shape))
    y = x.permute(*perm) if perm else x
    np.testing.assert_array_equal(y.numpy(), np.transpose(x.numpy(), perm))
    inv = np.argsort(perm).tolist()
    back = y.permute(*inv) if inv else y
    np.testing.assert_array_equal(back.numpy(), x.numpy())


@given(shapes, st.data())
def test_reshape_and_transpose_round_trip(shape, data):
    x = yingshe.tensor(_arr(shape))
    flat = x.reshape(-1)
    assert flat.shape == (int(np.prod(shape)),)
    np.testing.assert_array_equal(flat.reshape(shape).numpy(), x.numpy())
    if len(shape) >= 2:
        i = data.draw(st.integers(-len(shape), len(shape) - 1))
        j = data.draw(st.integers(-len(shape), len(shape) - 1))
        np.testing.assert_array_equal(x.transpose(i, j).transpose(i, j).numpy(), x.numpy())


@given(shapes, st.data())
def test_flatten_unflatten_round_trip(shape, data):
    x = yingshe.tensor(_arr(shape))
    if not shape:
        assert x.flatten().shape == (1,)
        return
    s = data.draw(st.integers(0, len(shape) - 1))
    e = data.draw(st.integers(s, len(shape) - 1))
    f = x.flatten(s, e)
    assert f.shape == shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:]
    back = f.unflatten(s, shape[s:e + 1])
    np.testing.assert_array_equal(back.numpy(), x.numpy())


@given(shapes.filter(lambda s: len(s) >= 1), st.data())
def test_cat_split_round_trip(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    sizes = np.diff([0] + cuts + [n]).tolist()
    x = yingshe.tensor(_arr(shape), requires_grad=True)
    pieces = x.split(sizes, dim)
    assert len(pieces) == len(sizes)
    for p, s in zip(pieces, sizes):
        assert p.shape[dim] == s
    y = yingshe.cat(pieces, dim)
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())
    if x.numel():
        (y * 2.0).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, 2.0))


@given(shapes, st.data())
def test_stack_unbind_round_trip(shape, data):
    k = data.draw(st.integers(1, 3))
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    ts = [yingshe.tensor(_arr(shape, i)) for i in range(k)]
    s = yingshe.stack(ts, dim)
    np.testing.assert_array_equal(s.numpy(), np.stack([t.numpy() for t in ts], dim))
    for a, b in zip(s.unbind(dim), ts):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@given(shapes, st.data())
def test_squeeze_unsqueeze_round_trip(shape, data):
    x = yingshe.tensor(_arr(shape))
    d = data.draw(st.integers(-len(shape) - 1, len(shape)))
    u = x.unsqueeze(d)
    np.testing.assert_array_equal(u.numpy(), np.expand_dims(x.numpy(), d))
    np.testing.assert_array_equal(u.squeeze(d).numpy(), x.numpy())
    np.testing.assert_array_equal(x.squeeze().numpy(), np.squeeze(x.numpy()))


def test_views_share_the_version_counter():
    x = yingshe.tensor(_arr((2, 3, 4)))
    for v in (x.permute(2, 0, 1), x.flatten(1), x.unsqueeze(0), x.view(6, 4), x.mT,
              x.split(1, 0)[1], x.unbind(2)[0], x[0]):
        assert v._vc is x._vc
    a, b = x.split(1)
    a[...] = 5.0  # writes through to x, like PyTorch's split views
    assert (x.numpy()[0] == 5.0).all()
    assert x.flip(0)._vc is not x._vc  # flip copies, as in PyTorch


def test_in_place_write_to_a_split_view_is_detected():
    x = yingshe.tensor(_arr((4,)))
    w = yingshe.tensor(_arr((4,), 1), requires_grad=True)
    z = (x * w).sum()  # saves x
    a, b = x.split(2)
    a[0] = 1.0  # writes x's memory: x's version moves
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()
    y = w * 1.0
    c, d = y.split(2)
    with pytest.raises(RuntimeError, match="output of a function that returns multiple views"):
        c[0] = 1.0  # PyTorch refuses in-place writes through split's views under autograd


def test_split_gradient_when_only_some_outputs_are_used():
    x = yingshe.tensor(_arr((5, 2)), requires_grad=True)
    a, b, c = x.split(2)
    (b * 3.0).sum().backward()
    want = np.zeros((5, 2))
    want[2:4] = 3.0
    np.testing.assert_array_equal(x.grad.numpy(), want)


@pytest.mark.parametrize("how", ["unbind", "split", "chunk"])
def test_a_split_into_one_piece_is_a_one_tuple_eagerly_in_graphs_and_compiled(how):
    # a one-output Split node made graphs and compiled code return a bare tensor there,
    # so an LSTM given (h0, c0) failed to compile (it indexes h0.unbind(0)[layer])
    import yingshe.graph as G
    x = _arr((1, 3))

    def pieces(t):
        return {"unbind": lambda: t.unbind(0), "split": lambda: t.split(1, 0),
                "chunk": lambda: t.chunk(1, 0)}[how]()

    eager = pieces(yingshe.tensor(x))
    assert isinstance(eager, tuple) and len(eager) == 1
    compiled = yingshe.compile(lambda t: pieces(t))(yingshe.tensor(x))
    assert isinstance(compiled, tuple) and len(compiled) == 1
    np.testing.assert_array_equal(compiled[0].numpy(), eager[0].numpy())
    with G.Graph().as_default():
        p = G.placeholder(yingshe.float64, [1, 3])
        sym = pieces(p)
        assert isinstance(sym, tuple) and len(sym) == 1
        with G.Session() as s:
            np.testing.assert_array_equal(s.run(sym[0], {p: x}), eager[0].numpy())
    w = yingshe.tensor(x, requires_grad=True)   # still differentiable
    (pieces(w)[0] * 2.0).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((1, 3), 2.0))


def test_chunk_and_tensor_split_counts_match_numpy():
    x = yingshe.tensor(_arr((7, 2)))
    assert [p.shape[0] for p in x.chunk(3)] == [3, 3, 1]
    assert [p.shape[0] for p in x.chunk(7)] == [1] * 7
    assert [p.shape[0] for p in yingshe.tensor_split(x, 3)] == [3, 2, 2]
    got = yingshe.tensor_split(x, [1, 5, 9])
    want = np.array_split(x.numpy(), [1, 5, 9])
    assert [p.shape for p in got] == [w.shape for w in want]


def test_errors_name_op_and_shapes():
    x = yingshe.tensor(_arr((2, 3)))
    with pytest.raises(ShapeError, match=r"cat.*Expected size 2 but got size 3"):
        yingshe.cat([x, yingshe.tensor(_arr((3, 3)))], 1)
    with pytest.raises(YIndexError, match="dimension out of range"):
        x.permute(0, 5)
    with pytest.raises(ShapeError, match="repeat"):
        x.repeat(2)


def test_infer_accepts_unknown_dims():
    from yingshe.ops._shapes import Meta
    from yingshe.ops import REGISTRY
    f32 = yingshe.float32
    m = Meta((None, 3, 4), f32)
    assert REGISTRY["permute"].infer(m, dims=(2, 0, 1)).shape == (4, None, 3)
    assert REGISTRY["flatten"].infer(m, start_dim=0, end_dim=1).shape == (None, 4)
    assert REGISTRY["flatten"].infer(m, start_dim=1, end_dim=2).shape == (None, 12)
    assert REGISTRY["repeat"].infer(m, repeats=(2, 1, 1)).shape == (None, 3, 4)
    assert REGISTRY["squeeze"].infer(Meta((None, 1), f32), dim=(1,)).shape == (None,)
    cat = REGISTRY["cat"].infer(m, Meta((2, 3, 4), f32), dim=0)
    assert cat.shape == (None, 3, 4)
    cat1 = REGISTRY["cat"].infer(m, Meta((None, 5, 4), f32), dim=1)
    assert cat1.shape == (None, 8, 4)
    parts = REGISTRY["split"].infer(m, sizes=(1, 2), dim=1, squeeze=False)
    assert [p.shape for p in parts] == [(None, 1, 4), (None, 2, 4)]
    with pytest.raises(ShapeError):
        REGISTRY["cat"].infer(m, Meta((2, 4, 5), f32), dim=0)


def test_cat_promotes_and_matches_torch():
    torch = import_torch()
    a = np.arange(3, dtype=np.int32)
    b = np.ones((2,), np.float64)
    c = np.array([True])
    y = yingshe.cat([yingshe.tensor(a), yingshe.tensor(b), yingshe.tensor(c)])
    t = torch.cat([torch.tensor(a), torch.tensor(b), torch.tensor(c)])
    assert str(y.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(y.numpy(), t.numpy())


@pytest.mark.parametrize("fn", [
    lambda m, x: m.movedim(x, (0, 2), (1, 0)),
    lambda m, x: x.repeat(1, 2, 1, 2),
    lambda m, x: x.tile((2, 1)),
    lambda m, x: m.roll(x, (1, -2), (0, 2)),
    lambda m, x: x.flip(1).flatten(0, 1),
    lambda m, x: m.stack(m.unbind(x, 1), 2),
    lambda m, x: m.cat(m.chunk(x, 3, 2)[::-1], 0),
    lambda m, x: x.T,
    lambda m, x: x[:, None].expand(2, 4, 3, 4).squeeze(),
])
def test_forward_and_gradient_match_torch(fn):
    torch = import_torch()
    a = _arr((2, 3, 4))
    x = yingshe.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = fn(yingshe, x), fn(torch, tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy())
    u = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    (y * yingshe.tensor(u)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    check_vjp(lambda t: fn(yingshe, t), [a], (0,))


# ---- found by the fuzz suite (tests/fuzz) ---------------------------------------------------

@pytest.mark.parametrize("call", [lambda m, x: x.tile(2, 1, 2), lambda m, x: x.tile((2,)),
                                  lambda m, x: m.tile(x, (2, 1, 2)), lambda m, x: x.tile(3)])
def test_tile_takes_separate_ints_as_a_method_like_torch(call):
    torch = import_torch()
    a = _arr((3, 2))
    np.testing.assert_array_equal(call(yingshe, yingshe.tensor(a)).numpy(),
                                  call(torch, torch.tensor(a)).numpy())


@pytest.mark.parametrize("sections,dim", [(3, 0), (2, 1), ([1, 3], 0)])
def test_tensor_split_pieces_take_in_place_writes_like_torch(sections, dim):
    """PyTorch's pieces are narrow() views: a write into one reaches the base, also under
    autograd (split's pieces, outputs of one multi-view op, refuse it)."""
    torch = import_torch()
    a = _arr((4, 3))
    g = _arr((4, 3), seed=1)
    res = []
    for m in (yingshe, torch):
        leaf = m.tensor(a.copy(), requires_grad=True)
        x = leaf * 1
        m.tensor_split(x, sections, dim)[-1].mul_(3)
        grad, = m.autograd.grad(x, leaf, m.tensor(g))
        res.append((x.detach().numpy(), grad.numpy()))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])


def test_summing_a_broadcast_gradient_of_opposite_infinities_is_nan_without_warnings():
    """Found by the fuzz suite (a compiled matmul's gradient): sum_to_size, the transpose
    of a broadcast, leaked NumPy's RuntimeWarning at inf + -inf; the values are PyTorch's."""
    torch = import_torch()
    out = []
    for m in (yingshe, torch):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        g = m.tensor([[np.inf, 0.0], [-np.inf, 1.0]])
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            (x * m.tensor([[1.0, 2.0], [3.0, 4.0]])).backward(g)
            s = m.tensor([[np.inf], [-np.inf]]).sum_to_size(1, 1)
        out.append((x.grad.numpy(), s.numpy()))
    for got, want in zip(out[0], out[1]):
        np.testing.assert_array_equal(got, want)
