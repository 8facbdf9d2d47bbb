"""max_pool2d's two forwards (tiling windows: reshape + argmax; otherwise a loop over
kernel positions) agree with PyTorch on values and indices, ties and NaNs included."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import yingshe as Y
from yingshe.testing.reference import torch as import_torch


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), oh=st.integers(1, 4), ow=st.integers(1, 4),
       k=st.sampled_from([(2, 2), (1, 3), (3, 2)]), extra=st.sampled_from([0, 1]),
       nan=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pool2d_matches_torch_with_ties_and_nans(n, c, oh, ow, k, extra, nan, seed):
    torch = import_torch()
    rng = np.random.default_rng(seed)
    shape = (n, c, oh * k[0], ow * k[1] + extra)   # extra=1: not tiling, the loop path
    x = rng.integers(-2, 3, shape).astype(np.float64)   # few values: many ties
    if nan:
        x[rng.random(shape) < 0.15] = np.nan
    val, idx = Y.nn.functional.max_pool2d(Y.from_numpy(x), k, return_indices=True)
    tv, ti = torch.nn.functional.max_pool2d(torch.from_numpy(x), k, return_indices=True)
    np.testing.assert_array_equal(val.numpy(), tv.numpy())
    np.testing.assert_array_equal(idx.numpy(), ti.numpy())


# ---- found by the fuzz suite (tests/fuzz) ---------------------------------------------------

@pytest.mark.parametrize("call", [lambda F, x: F.max_pool2d(x, 1),
                                  lambda F, x: F.max_pool2d(x, 1, return_indices=True),
                                  lambda F, x: F.max_pool1d(x[0], 1),
                                  lambda F, x: F.max_pool3d(x[None], 1)])
def test_max_pooling_of_bool_is_refused_like_torch(call):
    """PyTorch has no bool max pooling; ours failed inside with NumPy's iinfo message."""
    torch = import_torch()
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        call(torch.nn.functional, torch.ones(1, 1, 2, 2, dtype=torch.bool))
    with pytest.raises(Y.errors.DTypeError, match=r"max_pool[23]d: not implemented for bool"):
        call(Y.nn.functional, Y.ones(1, 1, 2, 2, dtype=Y.bool))
