"""The Tensor API against PyTorch: dtypes, construction and dtype inference, memory
sharing, conversions, properties, repr and the type-promotion table."""

import itertools

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import torch as import_torch


def _name(dt):
    return str(dt).split(".")[-1]


# ---- dtypes ---------------------------------------------------------------------------------

def test_dtype_names_and_aliases():
    torch = import_torch()
    for name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                 "bool"):
        d = getattr(yingshe, name)
        assert d.name == name and repr(d) == f"yingshe.{name}"
        assert _name(getattr(torch, name)) == name
    for alias, target in (("half", "float16"), ("float", "float32"), ("double", "float64"),
                          ("short", "int16"), ("int", "int32"), ("long", "int64")):
        assert getattr(yingshe, alias) is getattr(yingshe, target)
        assert getattr(torch, alias) is getattr(torch, target)
    assert yingshe.float32.is_floating_point and not yingshe.int64.is_floating_point
    assert yingshe.float32.itemsize == 4 and yingshe.get_default_dtype() is yingshe.float32


INFER_DATA = [
    1.5, 3, True, [1.0, 2.0], [1, 2], [True, False], [[1, 2], [3, 4]], [1, 2.5], [True, 2],
    [], np.float64(2.0), np.arange(3, dtype=np.float64), np.arange(3, dtype=np.int32),
    np.array([1, 2], dtype=np.uint8), np.array([0.5], dtype=np.float16),
    np.array([True, False]), np.float32(1.0), np.int64(3),
]


@pytest.mark.parametrize("i", range(len(INFER_DATA)))
def test_tensor_dtype_inference_matches_torch(i):
    torch = import_torch()
    data = INFER_DATA[i]
    y = yingshe.tensor(data)
    t = torch.tensor(data)
    assert _name(y.dtype) == _name(t.dtype), f"{data!r}: {y.dtype} vs {t.dtype}"
    assert tuple(y.shape) == tuple(t.shape)
    np.testing.assert_array_equal(y.numpy(), t.numpy())
    if isinstance(data, np.ndarray):
        ya, ta = yingshe.as_tensor(data), torch.as_tensor(data)
        assert _name(ya.dtype) == _name(ta.dtype)
        yf, tf = yingshe.from_numpy(data), torch.from_numpy(data)
        assert _name(yf.dtype) == _name(tf.dtype)


def test_tensor_with_dtype_argument():
    torch = import_torch()
    for data, dt in (([1, 2], "float64"), ([1.7, -2.2], "int32"), ([0, 3], "bool"),
                     (np.arange(3.0), "float32")):
        y = yingshe.tensor(data, dtype=getattr(yingshe, dt))
        t = torch.tensor(data, dtype=getattr(torch, dt))
        assert _name(y.dtype) == dt
        np.testing.assert_array_equal(y.numpy(), t.numpy())


def test_tensor_from_list_of_tensors_and_ragged_data():
    torch = import_torch()
    y = yingshe.tensor([yingshe.tensor(1.0), yingshe.tensor(2.0)])
    t = torch.tensor([torch.tensor(1.0), torch.tensor(2.0)])
    assert _name(y.dtype) == _name(t.dtype) and y.tolist() == t.tolist()
    with pytest.raises((TypeError, ValueError)):
        yingshe.tensor([[1, 2], [3]])


def test_unsupported_numpy_dtype_is_a_clear_error():
    with pytest.raises(TypeError, match="not supported"):
        yingshe.from_numpy(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        yingshe.from_numpy([1, 2])


# ---- memory sharing ------------------------------------------------------------------------

def test_from_numpy_shares_memory_both_ways():
    a = np.arange(4.0)
    t = yingshe.from_numpy(a)
    a[0] = 10.0
    assert t.tolist()[0] == 10.0
    t.add_(1.0)
    assert a[1] == 2.0
    assert np.shares_memory(t.numpy(), a)


def test_as_tensor_shares_when_it_can_and_tensor_copies():
    torch = import_torch()
    a = np.arange(3.0)
    for m in (yingshe, torch):
        assert np.shares_memory(m.as_tensor(a).numpy(), a)
        assert not np.shares_memory(m.tensor(a).numpy(), a)
        # a dtype change forces a copy
        assert not np.shares_memory(m.as_tensor(a, dtype=m.float32).numpy(), a)
    x = yingshe.ones(2)
    assert yingshe.as_tensor(x) is x


def test_numpy_shares_memory_and_refuses_requires_grad():
    torch = import_torch()
    for m in (yingshe, torch):
        x = m.zeros(3)
        n = x.numpy()
        n[1] = 5.0
        assert x.tolist() == [0.0, 5.0, 0.0]
        w = m.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError):
            w.numpy()
        assert w.detach().numpy().tolist() == [1.0, 1.0]


def test_array_protocol():
    torch = import_torch()
    y = yingshe.tensor([[1.0, 2.0], [3.0, 4.0]])
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    for v in (y, t):
        a = np.asarray(v)
        assert a.dtype == np.float32 and a.shape == (2, 2)
        assert np.asarray(v, dtype=np.float64).dtype == np.float64
    assert np.shares_memory(np.asarray(y), y.numpy())
    with pytest.raises(RuntimeError):
        np.asarray(yingshe.ones(2, requires_grad=True))
    # NumPy binary ops with a tensor on the right defer to the tensor
    r = np.ones(2, dtype=np.float32) + yingshe.ones(2)
    assert isinstance(r, yingshe.Tensor)


def test_dlpack_roundtrip():
    y = yingshe.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=yingshe.float64)
    a = np.from_dlpack(y)
    np.testing.assert_array_equal(a, y.numpy())
    assert np.shares_memory(a, y.numpy())
    torch = import_torch()
    t = torch.from_dlpack(yingshe.arange(5))
    assert t.tolist() == [0, 1, 2, 3, 4] and t.dtype == torch.int64


# ---- conversions and properties ---------------------------------------------------------------

def test_item_and_tolist_match_torch():
    torch = import_torch()
    for data in ([[1.5, 2.0], [3.0, 4.0]], [1, 2, 3], [True, False], 2.5, 7):
        y, t = yingshe.tensor(data), torch.tensor(data)
        assert y.tolist() == t.tolist()
        assert type(y.tolist()) is type(t.tolist())
    for data in (2.5, [7], [[True]]):
        y, t = yingshe.tensor(data), torch.tensor(data)
        assert y.item() == t.item() and type(y.item()) is type(t.item())
    for m in (yingshe, torch):
        with pytest.raises((RuntimeError, ValueError)):
            m.tensor([1.0, 2.0]).item()
    assert float(yingshe.tensor(2.5)) == 2.5 and int(yingshe.tensor([3])) == 3


def test_size_shape_numel_dim():
    torch = import_torch()
    for shape in ((), (0,), (2, 3), (1, 4, 1)):
        y, t = yingshe.zeros(shape), torch.zeros(shape)
        assert tuple(y.size()) == tuple(t.size()) and tuple(y.shape) == tuple(t.shape)
        assert y.numel() == t.numel() and y.dim() == t.dim() and y.ndim == t.ndim
        for d in range(-len(shape), len(shape)):
            assert y.size(d) == t.size(d)
    for m in (yingshe, torch):
        with pytest.raises(IndexError):
            m.zeros(2, 3).size(2)
    assert len(yingshe.zeros(4, 2)) == 4
    with pytest.raises(TypeError):
        len(yingshe.tensor(1.0))


CONVERSIONS = [
    lambda x: x.float(), lambda x: x.double(), lambda x: x.long(), lambda x: x.int(),
    lambda x: x.bool(), lambda x: x.half(), lambda x: x.byte(), lambda x: x.short(),
]


@pytest.mark.parametrize("i", range(len(CONVERSIONS)))
def test_dtype_conversion_methods_match_torch(i):
    torch = import_torch()
    a = np.array([-1.7, 0.0, 0.4, 2.6, 300.2], dtype=np.float64)
    a = a[:4] if i == 6 else a  # uint8 overflow is implementation-defined
    y, t = CONVERSIONS[i](yingshe.tensor(a)), CONVERSIONS[i](torch.tensor(a))
    assert _name(y.dtype) == _name(t.dtype)
    np.testing.assert_array_equal(y.numpy(), t.numpy())


def test_to_dtype_device_and_copy():
    torch = import_torch()
    x = yingshe.tensor([1.5, 2.5])
    tx = torch.tensor([1.5, 2.5])
    for args in ((yingshe.float64,), ("cpu",), ("cpu", yingshe.int32)):
        targs = tuple(getattr(torch, a.name) if isinstance(a, yingshe.dtype) else a
                      for a in args)
        y, t = x.to(*args), tx.to(*targs)
        assert _name(y.dtype) == _name(t.dtype)
        np.testing.assert_array_equal(y.numpy(), t.numpy())
    assert x.to("cpu") is x and x.to(yingshe.float32) is x and x.cpu() is x
    assert x.to(yingshe.float32, copy=True) is not x
    assert x.to(dtype=yingshe.float64).dtype is yingshe.float64
    assert x.to(yingshe.zeros(1, dtype=yingshe.int64)).dtype is yingshe.int64
    assert x.device == "cpu" and not x.is_cuda


def test_cuda_raises_a_clear_error():
    x = yingshe.ones(2)
    with pytest.raises(RuntimeError, match="CUDA|cuda"):
        x.cuda()
    with pytest.raises(RuntimeError, match="cuda"):
        x.to("cuda")


def test_transpose_properties_match_torch():
    torch = import_torch()
    a = np.arange(6.0).reshape(2, 3)
    y, t = yingshe.tensor(a), torch.tensor(a)
    if hasattr(y, "t"):
        np.testing.assert_array_equal(y.t().numpy(), t.t().numpy())
    if hasattr(yingshe.Tensor, "T"):
        np.testing.assert_array_equal(y.T.numpy(), t.T.numpy())
    np.testing.assert_array_equal(y.transpose(0, 1).numpy(), t.transpose(0, 1).numpy())


def test_bool_of_tensors():
    torch = import_torch()
    for m in (yingshe, torch):
        with pytest.raises(RuntimeError):
            bool(m.tensor([1.0, 2.0]))
        assert bool(m.tensor([3.0])) and not bool(m.tensor(0))
        with pytest.raises(RuntimeError):
            if m.zeros(0):
                pass


def test_repr_is_readable():
    r = repr(yingshe.tensor([1.5, -2.25]))
    assert r.startswith("tensor(") and "1.5" in r and "-2.25" in r and "dtype" not in r
    assert "dtype=yingshe.float64" in repr(yingshe.tensor([1.0], dtype=yingshe.float64))
    assert "dtype=yingshe.int32" in repr(yingshe.tensor([1], dtype=yingshe.int32))
    assert "dtype" not in repr(yingshe.tensor([1, 2]))
    w = yingshe.ones(2, requires_grad=True)
    assert "requires_grad=True" in repr(w)
    assert "grad_fn=<MulBackward" in repr(w * 2)
    assert str(yingshe.tensor(3)) == "tensor(3)"
    assert "size=(0, 3)" in repr(yingshe.zeros(0, 3))
    big = repr(yingshe.zeros(10000))
    assert "..." in big and len(big) < 500


def test_tensors_hash_by_identity_and_are_not_pickled():
    import pickle
    x, y = yingshe.ones(2), yingshe.ones(2)
    assert len({x, y}) == 2
    with pytest.raises(TypeError):
        pickle.dumps(x)


def test_deepcopy_of_leaf():
    import copy
    w = yingshe.tensor([1.0, 2.0], requires_grad=True)
    (w * 2).sum().backward()
    c = copy.deepcopy(w)
    assert c is not w and c.requires_grad and c.grad.tolist() == [2.0, 2.0]
    assert not np.shares_memory(c.detach().numpy(), w.detach().numpy())
    with pytest.raises(RuntimeError):
        copy.deepcopy(w * 2)


def test_requires_grad_and_leaf_properties():
    torch = import_torch()
    for m in (yingshe, torch):
        w = m.ones(2, requires_grad=True)
        y = w * 2
        assert w.is_leaf and not y.is_leaf and y.grad_fn is not None and w.grad_fn is None
        assert m.ones(2).is_leaf
        assert w.requires_grad_(False) is w and not w.requires_grad


# ---- type promotion ---------------------------------------------------------------------------

PROMO_DTYPES = ["bool", "uint8", "int32", "int64", "float32", "float64"]


def _example(m, dt, ndim):
    val = [1, 0] if dt == "bool" else [3, 2]
    data = val if ndim else val[0]
    return m.tensor(data, dtype=getattr(m, dt))


@pytest.mark.parametrize("a,b", list(itertools.product(PROMO_DTYPES, repeat=2)))
def test_promotion_table_matches_torch(a, b):
    torch = import_torch()
    for nda, ndb in ((1, 1), (1, 0), (0, 1), (0, 0)):
        ya, yb = _example(yingshe, a, nda), _example(yingshe, b, ndb)
        ta, tb = _example(torch, a, nda), _example(torch, b, ndb)
        want = _name(torch.result_type(ta, tb))
        assert _name(yingshe.add(ya, yb).dtype) == want, (a, b, nda, ndb)
        assert _name(yingshe.mul(ya, yb).dtype) == want, (a, b, nda, ndb)
        assert _name(yingshe.promote_types(getattr(yingshe, a), getattr(yingshe, b))) == \
            _name(torch.promote_types(getattr(torch, a), getattr(torch, b)))


@pytest.mark.parametrize("dt", PROMO_DTYPES)
@pytest.mark.parametrize("scalar", [True, 2, 2.5])
def test_promotion_with_python_scalars_matches_torch(dt, scalar):
    torch = import_torch()
    for nd in (1, 0):
        y, t = _example(yingshe, dt, nd), _example(torch, dt, nd)
        want = _name(torch.result_type(t, scalar))
        assert _name(yingshe.mul(y, scalar).dtype) == want, (dt, scalar, nd)
        assert _name((scalar * y).dtype) == want, (dt, scalar, nd)
        assert _name(yingshe.add(y, scalar).dtype) == _name((t + scalar).dtype)


def test_promotion_values_match_torch():
    torch = import_torch()
    a = np.array([250, 3], dtype=np.uint8)
    y = yingshe.tensor(a) + yingshe.tensor([10], dtype=yingshe.int32)
    t = torch.tensor(a) + torch.tensor([10], dtype=torch.int32)
    np.testing.assert_array_equal(y.numpy(), t.numpy())
    y = yingshe.tensor([1, 2]) * 2.5
    t = torch.tensor([1, 2]) * 2.5
    assert _name(y.dtype) == _name(t.dtype)
    np.testing.assert_array_equal(y.numpy(), t.numpy())


# ---- in-place methods: values and dtype rules vs PyTorch ------------------------------------

INPLACE = {
    "add_": lambda m, x, o: x.add_(o),
    "add_alpha": lambda m, x, o: x.add_(o, alpha=-0.5),
    "add_scalar": lambda m, x, o: x.add_(2),
    "sub_": lambda m, x, o: x.sub_(o),
    "mul_": lambda m, x, o: x.mul_(o),
    "mul_scalar": lambda m, x, o: x.mul_(1.5),
    "div_": lambda m, x, o: x.div_(o),
    "iadd": lambda m, x, o: x.__iadd__(o),
    "isub": lambda m, x, o: x.__isub__(3),
    "imul": lambda m, x, o: x.__imul__(o),
    "itruediv": lambda m, x, o: x.__itruediv__(o),
    "neg_": lambda m, x, o: x.neg_(),
    "copy_": lambda m, x, o: x.copy_(o),
    "copy_f64": lambda m, x, o: x.copy_(o.double()),
    "fill_": lambda m, x, o: x.fill_(-1.25),
    "fill_0d": lambda m, x, o: x.fill_(m.tensor(4.0)),
    "zero_": lambda m, x, o: x.zero_(),
    "pow_": lambda m, x, o: x.pow_(2),
    "exp_": lambda m, x, o: x.exp_(),
    "sqrt_": lambda m, x, o: x.abs().sqrt_() if hasattr(x, "abs") else x.sqrt_(),
    "clamp_": lambda m, x, o: x.clamp_(-0.5, 0.5),
    "clamp_min_": lambda m, x, o: x.clamp_min_(0.1),
    "clamp_max_": lambda m, x, o: x.clamp_max_(0.1),
    "masked_fill_": lambda m, x, o: x.masked_fill_(o > 0.5, 9.0),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
@pytest.mark.parametrize("grad_mode", [False, True])
def test_inplace_values_match_torch(name, grad_mode):
    torch = import_torch()
    rng = np.random.default_rng(3)
    a = rng.uniform(0.2, 2.0, (3, 4)).astype(np.float32)
    o = rng.uniform(0.2, 2.0, (4,)).astype(np.float32)
    res = []
    for m in (yingshe, torch):
        x = m.tensor(a)
        other = m.tensor(o, requires_grad=grad_mode) if name.startswith(("copy", "add_")) \
            else m.tensor(o)
        out = INPLACE[name](m, x, other)
        res.append((x, out))
    (y, yo), (t, to) = res
    if name != "sqrt_":
        assert yo is y, "in-place methods return self"
    assert _name(y.dtype) == _name(t.dtype)
    np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_inplace_fast_path_is_bit_identical_to_out_of_place():
    rng = np.random.default_rng(0)
    for dt in (np.float32, np.float64, np.int64):
        a = (rng.standard_normal((5, 3)) * 10).astype(dt)
        b = (rng.standard_normal((3,)) * 10).astype(dt)
        for method, op in (("add_", yingshe.add), ("sub_", yingshe.sub), ("mul_", yingshe.mul)):
            x = yingshe.tensor(a)
            getattr(x, method)(yingshe.tensor(b))
            np.testing.assert_array_equal(x.numpy(), op(yingshe.tensor(a), yingshe.tensor(b)).numpy())
        if dt != np.int64:
            x = yingshe.tensor(a)
            x.div_(yingshe.tensor(b))
            np.testing.assert_array_equal(x.numpy(), (yingshe.tensor(a) / yingshe.tensor(b)).numpy())
    # a float64 0-d operand does not widen a float32 update (rounding as the out-of-place op)
    x = yingshe.tensor(rng.standard_normal(4).astype(np.float32))
    s = yingshe.tensor(np.float64(1) / 3)
    want = (x + s).numpy()
    x.add_(s)
    np.testing.assert_array_equal(x.numpy(), want)


def test_inplace_dtype_and_shape_rules_match_torch():
    torch = import_torch()
    cases = [
        lambda m: m.tensor([1, 2]).add_(1.5),                # float result into int64
        lambda m: m.tensor([1, 2]).div_(2),                  # true division into int64
        lambda m: m.zeros(3).add_(m.ones(2, 3)),             # result larger than self
        lambda m: m.zeros(2, 3).copy_(m.ones(4)),            # not broadcastable
        lambda m: m.zeros(2).fill_(m.ones(2)),               # fill_ needs a 0-d value
    ]
    for call in cases:
        with pytest.raises(RuntimeError):
            call(torch)
        with pytest.raises(RuntimeError):
            call(yingshe)
    # allowed: lower category into higher, copy_ casts anything, float64 into float32
    for call in (lambda m: m.zeros(2).add_(m.tensor([1, 2])),
                 lambda m: m.zeros(2, dtype=m.int64).copy_(m.tensor([1.7, -2.7])),
                 lambda m: m.zeros(2).add_(m.tensor([0.1, 0.2], dtype=m.float64)),
                 lambda m: m.zeros(2, 3).copy_(m.tensor([1.0, 2.0, 3.0])),
                 lambda m: m.zeros(2, dtype=m.int64).fill_(2.9)):
        y, t = call(yingshe), call(torch)
        assert _name(y.dtype) == _name(t.dtype)
        np.testing.assert_array_equal(y.numpy(), t.numpy())


def test_inplace_on_views_writes_through():
    torch = import_torch()
    for m in (yingshe, torch):
        x = m.zeros(2, 3)
        v = x.reshape(6)
        v.add_(1.0)
        x.transpose(0, 1).mul_(3.0)
        assert x.tolist() == [[3.0] * 3] * 2
    e = yingshe.zeros(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="read-only|expand"):
        e.add_(1.0)


def test_inplace_random_fills_respect_generator_and_dtype():
    g = yingshe.Generator().manual_seed(1)
    a = yingshe.empty(4, dtype=yingshe.float64).uniform_(0, 1, generator=g).numpy().copy()
    g.manual_seed(1)
    b = yingshe.empty(4, dtype=yingshe.float64).uniform_(generator=g).numpy()
    np.testing.assert_array_equal(a, b)
    with pytest.raises((TypeError, RuntimeError)):
        yingshe.zeros(2, dtype=yingshe.int64).normal_()
    with pytest.raises(RuntimeError):
        yingshe.zeros(2).normal_(0.0, -1.0)
