"""``yingshe.nn.functional``: PyTorch's names re-exported from the registry, the
signature adapters, and a clear error for what is not implemented."""

import numpy as np
import pytest

import yingshe
import yingshe.nn.functional as F

ACTIVATIONS = [("relu", {}), ("leaky_relu", {"negative_slope": 0.3}), ("elu", {"alpha": 0.5}),
               ("silu", {}), ("hardtanh", {"min_val": -0.5, "max_val": 0.2}), ("relu6", {}),
               ("sigmoid", {}), ("tanh", {}), ("softplus", {"beta": 2.0}),
               ("gelu", {"approximate": "tanh"})]


@pytest.mark.parametrize("name,kw", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_functionals_match_torch(name, kw, torch):
    x = np.random.default_rng(0).standard_normal((3, 5)) * 4
    yx, tx = yingshe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, to = getattr(F, name)(yx, **kw), getattr(torch.nn.functional, name)(tx, **kw)
    np.testing.assert_allclose(yo.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    yo.sum().backward(), to.sum().backward()
    np.testing.assert_allclose(yx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "silu", "hardtanh", "relu6"])
def test_inplace_adapters_write_into_input(name, torch):
    x = np.random.default_rng(1).standard_normal((4, 3))
    y = yingshe.tensor(x)
    out = getattr(F, name)(y, inplace=True)
    t = torch.tensor(x)
    getattr(torch.nn.functional, name)(t, inplace=True)
    assert out is y
    np.testing.assert_allclose(y.numpy(), t.numpy(), rtol=1e-12)
    leaf = yingshe.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(F, name)(leaf, inplace=True)


def test_inplace_relu_on_non_leaf_backpropagates(torch):
    x = np.random.default_rng(2).standard_normal((3, 3))
    yx, tx = yingshe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yh, th = yx * 2, tx * 2
    F.relu(yh, inplace=True), torch.nn.functional.relu(th, inplace=True)
    (yh * yh).sum().backward(), (th * th).sum().backward()
    np.testing.assert_allclose(yx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_dim_and_implicit_dim_rule(name, torch):
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    for dim in (0, 1, -1):
        np.testing.assert_allclose(getattr(F, name)(yingshe.tensor(x), dim).numpy(),
                                   getattr(torch.nn.functional, name)(torch.tensor(x), dim).numpy(),
                                   rtol=1e-10, atol=1e-12)
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 2)]:
        x = np.random.default_rng(4).standard_normal(shape)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            yo = getattr(F, name)(yingshe.tensor(x))
        with pytest.warns(UserWarning):
            to = getattr(torch.nn.functional, name)(torch.tensor(x))
        np.testing.assert_allclose(yo.numpy(), to.numpy(), rtol=1e-10, atol=1e-12)


def test_functional_names_exist_like_torch(torch):
    required = ["linear", "conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
                "adaptive_avg_pool2d", "interpolate", "dropout", "batch_norm", "layer_norm",
                "group_norm", "embedding", "relu", "leaky_relu", "elu", "gelu", "sigmoid",
                "tanh", "silu", "softplus", "softmax", "log_softmax"]
    for name in required:
        assert hasattr(F, name), name
        assert hasattr(torch.nn.functional, name), name
        assert name in F.__all__
    for name in F.__all__:
        assert hasattr(torch.nn.functional, name), f"F.{name} is not a torch functional name"


def test_missing_functional_is_a_clear_attribute_error():
    assert not hasattr(F, "surely_not_an_op")
    with pytest.raises(AttributeError, match="not implemented"):
        F.surely_not_an_op


def test_linear_functional_matches_torch(torch):
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    np.testing.assert_allclose(
        F.linear(yingshe.tensor(x), yingshe.tensor(w), yingshe.tensor(b)).numpy(),
        torch.nn.functional.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b)).numpy(),
        rtol=1e-10, atol=1e-12)


# ---- found by the fuzz suite (tests/fuzz) ---------------------------------------------------

def test_embedding_of_a_weight_that_is_not_2d_is_our_own_error():
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    for w in (3.0, [1.0, 2.0]):
        with pytest.raises(RuntimeError, match="must be 2-D"):
            torch.nn.functional.embedding(torch.tensor([0]), torch.tensor(w))
        with pytest.raises(yingshe.ShapeError, match="embedding: weight must be 2-D"):
            F.embedding(yingshe.tensor([0]), yingshe.tensor(w))


@pytest.mark.parametrize("inplace", [False, True])
def test_dropout_with_p_zero_is_the_identity_like_torch(inplace):
    """No draw from the generator and no write: even an expanded tensor takes it in place,
    and the result is the input itself, as in PyTorch."""
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    for m in (yingshe, torch):
        m.manual_seed(0)
        first = m.rand(1).item()
        m.manual_seed(0)
        x = m.ones(1, 3).expand(2, 3)
        assert F.dropout(x, p=0.0, inplace=inplace) is x if m is yingshe else \
            torch.nn.functional.dropout(x, p=0.0, inplace=inplace) is x
        assert m.rand(1).item() == first


@pytest.mark.parametrize("th,value", [(-0.5, 9.0), (-1.5, 9.7), (0.9, -2.5), (0.0, 0.0)])
@pytest.mark.parametrize("dtype", ["int16", "int64", "uint8"])
def test_threshold_of_an_integer_tensor_keeps_its_dtype_like_torch(th, value, dtype):
    """The threshold and the value are converted (truncated) to the input's dtype; the
    result was float32."""
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    a = np.array([0, -1, 1, 3] if dtype != "uint8" else [0, 3, 1, 7], dtype=dtype)
    if dtype == "uint8":   # (a negative value does not fit: PyTorch refuses it)
        th, value = abs(th), abs(value)
    t = torch.nn.functional.threshold(torch.tensor(a), th, value)
    y = F.threshold(yingshe.tensor(a), th, value)
    assert y.dtype.name == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(y.numpy(), t.numpy())


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 2.5])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_of_a_0d_tensor_like_torch(name, value, torch):
    """Found by the fuzz suite: a 0-d NaN or infinity gives NaN value and gradient, as in
    PyTorch (the 0-d case returned 1 / 0 whatever the value)."""
    out = []
    for m, fn in ((yingshe, getattr(F, name)), (torch, getattr(torch.nn.functional, name))):
        x = m.tensor(value, dtype=m.float64, requires_grad=True)
        y = fn(x, dim=0)
        y.backward()
        out.append((y.detach().numpy(), x.grad.numpy()))
    for a, b in zip(out[0], out[1]):
        np.testing.assert_array_equal(a, b)
