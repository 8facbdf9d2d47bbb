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


@pytest.mark.parametrize("norm", ["BatchNorm2d", "GroupNorm", "InstanceNorm2d", "LayerNorm"])
def test_inplace_relu_after_a_normalisation_matches_pytorch(norm):
    """ResNet's ``relu(bn(x), inplace=True)``: the normalisation's VJP reads only its
    hidden inverse std, so writing over its visible output must not fail at backward
    (it did: "the output of op 'norm_apply' ... modified by an inplace operation")."""
    torch = import_torch()
    args = {"BatchNorm2d": (3,), "GroupNorm": (1, 3), "InstanceNorm2d": (3,),
            "LayerNorm": ((3, 4, 5),)}[norm]
    x0 = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    w = np.linspace(-1, 1, x0.size).reshape(x0.shape)
    results = []
    for m in (Y, torch):
        layer = getattr(m.nn, norm)(*args).double()
        x = m.tensor(x0, dtype=m.float64, requires_grad=True)
        y = m.nn.functional.relu(layer(x * 1.0), inplace=True)
        (y * m.tensor(w, dtype=m.float64)).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy()))
    (ours, our_grad), (ref, ref_grad) = results
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(our_grad, ref_grad, rtol=1e-8, atol=1e-12)


def test_inplace_relu_after_dropout_keeps_the_dropout_rule():
    """``relu(dropout(h), inplace=True)``: the mask is a hidden output; the gradient is
    the mask's scale where the (scaled) output is positive, else 0 (the masks are random,
    so the rule is the oracle, not PyTorch's numbers)."""
    x = Y.tensor(np.linspace(-1.0, 1.0, 400), dtype=Y.float64, requires_grad=True)
    y = F.relu(F.dropout(x * 1.0, 0.25, True), inplace=True)
    y.sum().backward()
    kept = y.detach().numpy() > 0
    assert 0 < kept.sum() < 400
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, 1 / 0.75, 0.0))


def test_changing_an_output_the_vjp_reads_is_still_refused():
    """The check stays where the VJP reads the visible output: exp's gradient is its
    output, as in PyTorch."""
    x = Y.tensor([0.5, 1.0], dtype=Y.float64, requires_grad=True)
    y = Y.exp(x)
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


@pytest.mark.parametrize("batch_first", [False, True])
def test_inplace_relu_on_an_lstm_output_matches_pytorch(batch_first):
    """``out, _ = lstm(x); F.relu(out, inplace=True)``: the fused layer's backward
    recomputes h_t = o_t * tanh(c_t) instead of reading the output PyTorch lets you
    overwrite; gradients of the input and every weight equal PyTorch's."""
    from conftest import copy_weights_to_torch
    torch = import_torch()
    x0 = np.random.default_rng(0).standard_normal((3, 4, 5) if batch_first else (4, 3, 5))
    ym = Y.nn.LSTM(5, 6, batch_first=batch_first).double()
    tm = torch.nn.LSTM(5, 6, batch_first=batch_first).double()
    copy_weights_to_torch(ym, tm)
    results = []
    for m, layer in ((Y, ym), (torch, tm)):
        x = m.tensor(x0, dtype=m.float64, requires_grad=True)
        out, _ = layer(x)
        y = m.nn.functional.relu(out, inplace=True)
        (y * m.tensor(np.linspace(-1, 2, y.numel()).reshape(tuple(y.shape)))).sum().backward()
        results.append([x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()])
    for ours, ref in zip(*results):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_elu_gradient_keeps_its_digits_far_below_zero():
    """alpha * exp(x) for x <= 0, not out + alpha (which cancels to 0 below x = -37 and
    keeps no digits below about -17 in float64): equal to PyTorch's, relatively."""
    torch = import_torch()
    a = np.array([-60.0, -40.0, -25.0, -18.0, -3.0, 2.0])
    grads = []
    for m, fn in ((Y, F.elu), (torch, torch.nn.functional.elu)):
        x = m.tensor(a, dtype=m.float64, requires_grad=True)
        fn(x, 1.5).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-14, atol=0)
