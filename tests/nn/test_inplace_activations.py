"""In-place activations on a non-leaf tensor (``F.silu(h, inplace=True)`` inside a model)
then ``backward()``: the result is ``h`` itself, and values and gradients equal PyTorch's.
The op must not save the array the in-place write overwrites (that failed with
"modified by an in-place operation" for the ops whose VJP reads their input)."""

import numpy as np
import pytest

import yingshe as Y
import yingshe.nn.functional as F
from yingshe.testing.reference import torch as import_torch

NAMES = ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "silu", "mish", "hardtanh",
         "hardswish", "hardsigmoid", "threshold"]
ARGS = {"threshold": (0.1, 20.0)}
X = np.array([-3.5, -1.5, -0.2, 0.3, 2.0, 7.0])


@pytest.mark.parametrize("name", NAMES)
def test_inplace_activation_on_a_non_leaf_matches_pytorch(name):
    torch = import_torch()
    results = []
    for m, fn in ((Y, getattr(F, name)), (torch, getattr(torch.nn.functional, name))):
        x = m.tensor(X, dtype=m.float64, requires_grad=True)
        h = x * 1.0
        y = fn(h, *ARGS.get(name, ()), inplace=True)
        assert y is h
        (y * y * m.tensor(np.linspace(1, 2, X.size), dtype=m.float64)).sum().backward()
        results.append((h.detach().numpy(), x.grad.numpy()))
    (ours, our_grad), (ref, ref_grad) = results
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
    # hardsigmoid: PyTorch's float64 backward uses a float32-rounded 1/6 (~1e-8 relative)
    np.testing.assert_allclose(our_grad, ref_grad, rtol=1e-7, atol=1e-14)
