"""Creation functions vs PyTorch: shapes, dtypes and values of the non-random ones."""

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import torch as import_torch


def _name(dt):
    return str(dt).split(".")[-1]


def _same(y, t, rtol=0.0, atol=0.0):
    assert _name(y.dtype) == _name(t.dtype), f"dtype {y.dtype} vs torch {t.dtype}"
    assert tuple(y.shape) == tuple(t.shape)
    np.testing.assert_allclose(y.numpy(), t.numpy(), rtol=rtol, atol=atol)


FACTORY_CALLS = [
    lambda m: m.zeros(2, 3),
    lambda m: m.zeros((2, 3)),
    lambda m: m.zeros([4]),
    lambda m: m.zeros(size=(1, 2)),
    lambda m: m.zeros(()),
    lambda m: m.zeros(0, 3),
    lambda m: m.ones(3, dtype=m.int64),
    lambda m: m.ones(2, 2, dtype=m.float64),
    lambda m: m.ones(3, dtype=m.bool),
    lambda m: m.full((2, 3), 1),
    lambda m: m.full((2,), True),
    lambda m: m.full((2, 2), 1.5),
    lambda m: m.full((3,), 7, dtype=m.float64),
    lambda m: m.full((), -2.5),
    lambda m: m.full((2,), 2.7, dtype=m.int32),
    lambda m: m.eye(3),
    lambda m: m.eye(2, 4),
    lambda m: m.eye(0),
    lambda m: m.eye(3, 1, dtype=m.int64),
    lambda m: m.arange(5),
    lambda m: m.arange(2, 9, 3),
    lambda m: m.arange(10, 0, -3),
    lambda m: m.arange(0, 1, 0.1),
    lambda m: m.arange(1.0, 2.0, 0.3),
    lambda m: m.arange(-1.5, 2),
    lambda m: m.arange(0.5, 3, dtype=m.int64),
    lambda m: m.arange(0, 10, 3, dtype=m.float64),
    lambda m: m.arange(5, 5),
    lambda m: m.linspace(0, 1, 5),
    lambda m: m.linspace(-3, 7, 11, dtype=m.float64),
    lambda m: m.linspace(0, 1, 1),
    lambda m: m.linspace(0, 1, 0),
    lambda m: m.linspace(0, 10, 5, dtype=m.int64),
    lambda m: m.linspace(2.0, -1.0, 7),
    lambda m: m.logspace(0, 2, 3),
    lambda m: m.logspace(-1, 1, 5, base=2.0, dtype=m.float64),
]


@pytest.mark.parametrize("i", range(len(FACTORY_CALLS)))
def test_factories_match_torch(i):
    torch = import_torch()
    call = FACTORY_CALLS[i]
    _same(call(yingshe), call(torch), rtol=2e-7, atol=1e-7)


LIKE_CALLS = [
    lambda m, x: m.zeros_like(x),
    lambda m, x: m.ones_like(x),
    lambda m, x: m.full_like(x, 3),
    lambda m, x: m.full_like(x, 0.5, dtype=m.float64),
    lambda m, x: m.zeros_like(x, dtype=m.int64),
]


@pytest.mark.parametrize("i", range(len(LIKE_CALLS)))
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_like_factories_match_torch(i, dtype):
    torch = import_torch()
    a = np.arange(6).reshape(2, 3).astype(dtype)
    call = LIKE_CALLS[i]
    _same(call(yingshe, yingshe.tensor(a)), call(torch, torch.tensor(a)))


def test_empty_has_shape_dtype_and_is_writable():
    torch = import_torch()
    for call in (lambda m: m.empty(2, 3), lambda m: m.empty((4,), dtype=m.int64),
                 lambda m: m.empty_like(m.ones(2, dtype=m.float64))):
        y, t = call(yingshe), call(torch)
        assert tuple(y.shape) == tuple(t.shape) and _name(y.dtype) == _name(t.dtype)
        y.fill_(3)
        assert (y.numpy() == 3).all()


def test_requires_grad_argument():
    x = yingshe.zeros(2, 3, requires_grad=True)
    assert x.requires_grad and x.is_leaf
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0, np.float32))
    for make in (lambda: yingshe.ones(2, requires_grad=True, dtype=yingshe.float64),
                 lambda: yingshe.randn(2, requires_grad=True),
                 lambda: yingshe.arange(0.0, 3.0, requires_grad=True)):
        assert make().requires_grad


ERROR_CALLS = [
    (lambda m: m.zeros(2, -1), RuntimeError),
    (lambda m: m.ones(-3), RuntimeError),
    (lambda m: m.zeros(2.0), TypeError),
    (lambda m: m.arange(1, 5, 0), RuntimeError),
    (lambda m: m.arange(5, 1), RuntimeError),
    (lambda m: m.arange(0, 1, -1), RuntimeError),
    (lambda m: m.zeros(2, dtype=m.int64, requires_grad=True), RuntimeError),
    (lambda m: m.full((2,), 1, requires_grad=True), RuntimeError),
    (lambda m: m.rand(2, dtype=m.int64), (RuntimeError, TypeError, NotImplementedError)),
    (lambda m: m.randint(5, 5, (2,)), RuntimeError),
    (lambda m: m.normal(0.0, -1.0, (2,)), RuntimeError),
    (lambda m: m.bernoulli(m.tensor([0.5, 2.0])), RuntimeError),
    (lambda m: m.multinomial(m.tensor([1.0, 2.0]), 3), RuntimeError),
    (lambda m: m.multinomial(m.tensor([0.0, 0.0]), 1, True), RuntimeError),
    (lambda m: m.multinomial(m.tensor([1.0, -1.0]), 1, True), RuntimeError),
]


@pytest.mark.parametrize("i", range(len(ERROR_CALLS)))
def test_errors_like_torch(i):
    torch = import_torch()
    call, exc = ERROR_CALLS[i]
    with pytest.raises(exc):
        call(torch)
    with pytest.raises(exc):
        call(yingshe)


def test_negative_dimension_message():
    with pytest.raises(RuntimeError, match=r"zeros: .*negative dimension -1"):
        yingshe.zeros(2, -1)


def test_device_argument():
    assert yingshe.zeros(2, device="cpu").device == "cpu"
    with pytest.raises(RuntimeError, match="cuda"):
        yingshe.zeros(2, device="cuda")


def test_default_dtype_is_respected():
    yingshe.set_default_dtype(yingshe.float64)
    try:
        for t in (yingshe.zeros(2), yingshe.full((2,), 1.5), yingshe.arange(0.0, 1.0, 0.5),
                  yingshe.linspace(0, 1, 3), yingshe.eye(2), yingshe.rand(2), yingshe.randn(2)):
            assert t.dtype is yingshe.float64
        assert yingshe.arange(3).dtype is yingshe.int64
    finally:
        yingshe.set_default_dtype(yingshe.float32)


def test_factories_are_constants_not_on_the_tape():
    x = yingshe.ones(3)
    assert x.grad_fn is None and not x.requires_grad
    with yingshe.no_grad():
        assert yingshe.rand(2).grad_fn is None
