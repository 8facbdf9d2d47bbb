"""isclose / allclose against PyTorch, including infinities and NaN."""

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import torch as import_torch

A = [1.0, np.inf, np.nan, 2.0, -np.inf, 0.0, 1e-9, -np.inf]
B = [1.0 + 1e-6, np.inf, np.nan, 2.1, np.inf, 1e-9, 0.0, -np.inf]


@pytest.mark.parametrize("equal_nan", [False, True])
@pytest.mark.parametrize("rtol,atol", [(1e-5, 1e-8), (0.1, 0.0), (0.0, 1e-8)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_isclose_matches_torch(equal_nan, rtol, atol, dtype):
    torch = import_torch()
    a, b = np.array(A, dtype=dtype), np.array(B, dtype=dtype)
    got = yingshe.isclose(yingshe.tensor(a), yingshe.tensor(b), rtol, atol, equal_nan)
    want = torch.isclose(torch.tensor(a), torch.tensor(b), rtol, atol, equal_nan)
    assert got.dtype is yingshe.bool
    assert got.tolist() == want.tolist()
    for i in range(len(A)):
        assert yingshe.allclose(yingshe.tensor(a[i:i + 1]), yingshe.tensor(b[i:i + 1]), rtol,
                                atol, equal_nan) == torch.allclose(
            torch.tensor(a[i:i + 1]), torch.tensor(b[i:i + 1]), rtol, atol, equal_nan)


def test_allclose_broadcasts_and_is_a_method():
    x = yingshe.tensor([[1.0, 2.0], [1.0, 2.0]])
    assert x.allclose(yingshe.tensor([1.0, 2.0 + 1e-7]))
    assert not x.allclose(yingshe.tensor([1.0, 2.1]))
