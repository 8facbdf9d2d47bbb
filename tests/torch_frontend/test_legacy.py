"""PyTorch's legacy API against real PyTorch: the typed tensor classes (constructors by
size and by data, dtypes, isinstance, errors), ``x.type(...)``, ``torch.Tensor(...)``,
``torch.autograd.Variable`` and ``set_default_device``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import yingshe.torch as torch
from yingshe.testing.reference import torch as import_torch
from yingshe.torch.autograd import Variable

NAMES = ["FloatTensor", "DoubleTensor", "HalfTensor", "ByteTensor", "CharTensor",
         "ShortTensor", "IntTensor", "LongTensor", "BoolTensor"]

# Arguments of the constructors (built fresh for each library: tensors are made by it).
CASES = {
    "empty": lambda m: (),
    "one_size": lambda m: (3,),
    "sizes": lambda m: (2, 3),
    "size_object": lambda m: (m.Size([2, 4]),),
    "zero_size": lambda m: (0, 5),
    "list_ints": lambda m: ([1, 0, 3],),
    "list_floats": lambda m: ([1.7, -0.2, 3.0],),
    "nested": lambda m: ([[1, 2], [3, 4]],),
    "tuple": lambda m: ((1, 2, 3),),
    "bools": lambda m: ([True, False],),
    "ndarray_f64": lambda m: (np.array([1.5, 2.5]),),
    "ndarray_i64": lambda m: (np.array([[1, 2]])),
    "ndarray_f32": lambda m: (np.array([0.25], np.float32),),
    "list_of_0d_tensors": lambda m: ([m.tensor(1.0), m.tensor(2.0)],),
}

BAD = {
    "float_scalar": lambda m: (3.5,),
    "mixed_size": lambda m: (2, 3.0),
    "negative": lambda m: (-1,),
    "ragged": lambda m: ([[1, 2], [3]],),
    "string": lambda m: ("abc",),
}


def _outcome(fn):
    try:
        out = fn()
    except Exception as err:  # noqa: BLE001 - the class is what is compared
        return ("error", type(err))
    return ("ok", out)


def _same_error_kind(ours, theirs):
    """Our exception is (a subclass of) the base Python class PyTorch raised."""
    base = next(c for c in theirs.__mro__ if c.__module__ == "builtins")
    assert issubclass(ours, base), (ours, theirs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_typed_constructor_matches_torch(name, case):
    T = import_torch()
    ref = _outcome(lambda: getattr(T, name)(*CASES[case](T)))
    got = _outcome(lambda: getattr(torch, name)(*CASES[case](torch)))
    assert ref[0] == got[0], (ref, got)
    if ref[0] == "error":
        _same_error_kind(got[1], ref[1])
        return
    r, y = ref[1], got[1]
    assert y.dtype.name == str(r.dtype).split(".")[1]
    assert tuple(y.shape) == tuple(r.shape)
    assert not y.requires_grad
    if case in ("one_size", "sizes", "size_object", "zero_size"):
        return    # PyTorch leaves the memory uninitialised: only the size is defined
    np.testing.assert_array_equal(y.numpy(), r.numpy())


@pytest.mark.parametrize("name", ["FloatTensor", "LongTensor", "ByteTensor"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_typed_constructor_errors_match_torch(name, case):
    T = import_torch()
    ref = _outcome(lambda: getattr(T, name)(*BAD[case](T)))
    got = _outcome(lambda: getattr(torch, name)(*BAD[case](torch)))
    assert ref[0] == got[0] == "error", (ref, got)
    _same_error_kind(got[1], ref[1])


def test_overflow_and_truncation_match_torch():
    T = import_torch()
    with pytest.raises(RuntimeError):
        T.ByteTensor([1, 300])
    with pytest.raises(RuntimeError, match="overflow"):
        torch.ByteTensor([1, 300])
    np.testing.assert_array_equal(torch.LongTensor([1.7, -2.9]).numpy(),
                                  T.LongTensor([1.7, -2.9]).numpy())


def test_constructor_from_a_tensor_aliases_same_dtype_and_refuses_another():
    T = import_torch()
    t = T.tensor([1.0, 2.0])
    assert T.FloatTensor(t).data_ptr() == t.data_ptr()
    with pytest.raises(TypeError):
        T.FloatTensor(T.tensor([1, 2]))
    y = torch.tensor([1.0, 2.0])
    a = torch.FloatTensor(y)
    a[0] = 5.0                         # the same memory, as in PyTorch
    assert y[0].item() == 5.0
    with pytest.raises(TypeError, match="int64"):
        torch.FloatTensor(torch.tensor([1, 2]))


def test_keywords_match_torch():
    T = import_torch()
    with pytest.raises(TypeError):
        T.FloatTensor([1, 2], dtype=T.float64)
    with pytest.raises(TypeError):
        torch.FloatTensor([1, 2], dtype=torch.float64)
    assert torch.FloatTensor([1, 2], device="cpu").dtype == torch.float32
    with pytest.raises(RuntimeError, match="cuda"):
        torch.FloatTensor([1, 2], device="cuda")


@pytest.mark.parametrize("case", sorted(c for c in CASES if not c.startswith("ndarray")))
def test_plain_tensor_constructor_matches_torch(case):
    """``torch.Tensor(...)`` is PyTorch's legacy constructor of the default float dtype
    (NumPy arrays excepted: see the next test)."""
    T = import_torch()
    r = T.Tensor(*CASES[case](T))
    y = torch.Tensor(*CASES[case](torch))
    assert (y.dtype.name, tuple(y.shape)) == (str(r.dtype).split(".")[1], tuple(r.shape))
    if case not in ("one_size", "sizes", "size_object", "zero_size"):
        np.testing.assert_array_equal(y.numpy(), r.numpy())


def test_plain_tensor_of_an_array_wraps_it():
    """yingshe's core wraps an array without copying it (``torch.Tensor(ndarray)`` is
    where it parts from PyTorch, which converts to float32): documented, checked."""
    arr = np.array([1, 2])
    t = torch.Tensor(arr)
    assert t.dtype == torch.int64 and np.shares_memory(t.numpy(), arr)


@pytest.mark.parametrize("name", NAMES)
def test_isinstance_tests_the_dtype(name):
    T = import_torch()
    for dt in ("float32", "float64", "int64", "uint8", "bool"):
        r = isinstance(T.zeros(2, dtype=getattr(T, dt)), getattr(T, name))
        y = isinstance(torch.zeros(2, dtype=getattr(torch, dt)), getattr(torch, name))
        assert r == y, (name, dt)
    assert not isinstance(np.zeros(2), getattr(torch, name))
    assert repr(getattr(torch, name)) == repr(getattr(T, name))


@pytest.mark.parametrize("target", ["FloatTensor", "LongTensor", "DoubleTensor", "ByteTensor",
                                    "torch.IntTensor", "torch.BoolTensor", "float16"])
def test_type_casts_like_torch(target):
    T = import_torch()
    data = [1.5, -2.0, 0.0]

    def arg(m):
        if target.startswith("torch."):
            return target
        return getattr(m, target)
    r = T.tensor(data).type(arg(T))
    y = torch.tensor(data).type(arg(torch))
    assert y.dtype.name == str(r.dtype).split(".")[1]
    np.testing.assert_array_equal(y.numpy(), r.numpy())
    assert y.type() == r.type()


def test_type_to_the_same_type_is_the_tensor_itself():
    T = import_torch()
    t = T.ones(2)
    assert t.type(T.FloatTensor) is t
    y = torch.ones(2)
    assert y.type(torch.FloatTensor) is y


def test_type_errors():
    T = import_torch()
    with pytest.raises(ValueError):
        T.ones(2).type("float")
    with pytest.raises(ValueError):
        torch.ones(2).type("float")
    with pytest.raises(RuntimeError):
        T.ones(2).type(T.cuda.FloatTensor)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.ones(2).type(torch.cuda.FloatTensor)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.cuda.FloatTensor([1.0])
    assert not isinstance(torch.ones(2), torch.cuda.FloatTensor)
    assert torch.cuda.LongTensor.dtype == torch.int64


def test_variable_is_a_detached_alias_with_requires_grad():
    T = import_torch()
    from torch.autograd import Variable as TVariable
    for lib, V in ((T, TVariable), (torch, Variable)):
        t = lib.ones(2)
        v = V(t, requires_grad=True)
        assert v is not t and v.requires_grad and not t.requires_grad
        assert isinstance(t, V) and isinstance(v, lib.Tensor)
        v.data[0] = 3.0                       # shares t's memory, as PyTorch's does
        assert t[0].item() == 3.0
        (v * v).sum().backward()
        np.testing.assert_array_equal(v.grad.numpy(), [6.0, 2.0])
        w = V(lib.ones(2, dtype=lib.int64))
        assert w.dtype == lib.int64 and not w.requires_grad
        assert V().shape == (0,)


def test_variable_cuts_the_graph_like_torch():
    T = import_torch()
    from torch.autograd import Variable as TVariable
    for lib, V in ((T, TVariable), (torch, Variable)):
        x = lib.ones(2, requires_grad=True)
        v = V(x * 2)
        assert not v.requires_grad and v.grad_fn is None


def test_variable_errors_and_volatile_warning():
    T = import_torch()
    from torch.autograd import Variable as TVariable
    for V in (TVariable, Variable):
        with pytest.raises(TypeError, match="Variable data has to be a tensor"):
            V([1, 2])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        Variable(torch.ones(2), volatile=True)
    assert any("volatile was removed" in str(x.message) for x in w)


def test_set_default_device():
    T = import_torch()
    assert T.set_default_device("cpu") is None
    assert torch.set_default_device("cpu") is None
    assert torch.set_default_device(None) is None
    assert str(torch.get_default_device()) == str(T.get_default_device()) == "cpu"
    with pytest.raises(RuntimeError, match="cuda"):
        torch.set_default_device("cuda")


def test_legacy_names_fail_by_name_when_absent():
    from yingshe.torch._errors import UnsupportedError
    with pytest.raises(UnsupportedError, match="torch.BFloat16Tensor"):
        torch.BFloat16Tensor  # noqa: B018 - yingshe has no bfloat16
