"""Every layer against ``torch.nn`` with the same weights: outputs, input gradients and
parameter gradients in float64 and float32 at DESIGN tolerances."""

import numpy as np
import pytest

import yingshe
from yingshe import nn

# torch's own remark about its implementation of padding="same"
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def normal(*shape):
    return ("normal", shape)


def ints(high, *shape):
    return ("ints", high, shape)


def _make(spec, rng):
    if spec[0] == "normal":
        return rng.standard_normal(spec[1])
    return rng.integers(0, spec[1], size=spec[2]).astype(np.int64)


# (id, layer name, args, kwargs, input specs)
CASES = [
    ("linear", "Linear", (4, 3), {}, [normal(5, 4)]),
    ("linear_nobias", "Linear", (4, 3), {"bias": False}, [normal(2, 6, 4)]),
    ("linear_1d", "Linear", (4, 2), {}, [normal(4)]),
    ("bilinear", "Bilinear", (3, 4, 2), {}, [normal(5, 3), normal(5, 4)]),
    ("bilinear_nobias", "Bilinear", (3, 4, 2), {"bias": False}, [normal(2, 5, 3), normal(2, 5, 4)]),
    ("identity", "Identity", (3,), {"x": 1}, [normal(2, 3)]),
    ("conv1d", "Conv1d", (3, 4, 3), {"stride": 2, "padding": 1}, [normal(2, 3, 9)]),
    ("conv2d", "Conv2d", (3, 4, 3), {}, [normal(2, 3, 7, 6)]),
    ("conv2d_strided", "Conv2d", (4, 6, (3, 2)),
     {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2}, [normal(2, 4, 8, 7)]),
    ("conv2d_same", "Conv2d", (2, 3, 4), {"padding": "same", "bias": False}, [normal(1, 2, 6, 6)]),
    ("conv2d_reflect", "Conv2d", (2, 3, 3), {"padding": 1, "padding_mode": "reflect"},
     [normal(2, 2, 5, 6)]),
    ("conv2d_circular", "Conv2d", (2, 3, 3), {"padding": (2, 1), "padding_mode": "circular"},
     [normal(1, 2, 5, 6)]),
    ("conv2d_replicate_same", "Conv2d", (2, 3, 4), {"padding": "same",
                                                    "padding_mode": "replicate"},
     [normal(1, 2, 5, 6)]),
    ("conv1d_circular", "Conv1d", (2, 3, 3), {"padding": 1, "padding_mode": "circular"},
     [normal(2, 2, 7)]),
    ("conv_transpose2d", "ConvTranspose2d", (3, 2, 3), {"stride": 2, "padding": 1,
                                                        "output_padding": 1}, [normal(2, 3, 4, 5)]),
    ("conv_transpose2d_groups", "ConvTranspose2d", (4, 6, 2), {"groups": 2, "bias": False},
     [normal(1, 4, 3, 3)]),
    ("maxpool2d", "MaxPool2d", (2,), {}, [normal(2, 3, 6, 7)]),
    ("maxpool2d_pad", "MaxPool2d", (3,), {"stride": 2, "padding": 1}, [normal(1, 2, 7, 7)]),
    ("avgpool2d", "AvgPool2d", (2,), {"stride": 1}, [normal(2, 3, 5, 4)]),
    ("avgpool2d_pad", "AvgPool2d", (3,), {"stride": 2, "padding": 1,
                                          "count_include_pad": False}, [normal(1, 2, 7, 6)]),
    ("adaptive_avgpool2d", "AdaptiveAvgPool2d", ((2, 3),), {}, [normal(2, 3, 7, 8)]),
    ("adaptive_avgpool2d_1", "AdaptiveAvgPool2d", (1,), {}, [normal(2, 3, 5, 5)]),
    ("upsample_nearest", "Upsample", (), {"scale_factor": 2}, [normal(1, 2, 3, 4)]),
    ("upsample_bilinear", "Upsample", (), {"size": (5, 7), "mode": "bilinear",
                                           "align_corners": False}, [normal(1, 2, 3, 4)]),
    ("flatten", "Flatten", (), {}, [normal(2, 3, 4, 5)]),
    ("flatten_mid", "Flatten", (0, 2), {}, [normal(2, 3, 4, 5)]),
    ("unflatten", "Unflatten", (1, (2, 3)), {}, [normal(4, 6, 2)]),
    ("layernorm", "LayerNorm", (5,), {}, [normal(3, 4, 5)]),
    ("layernorm_2d", "LayerNorm", ((4, 5),), {"eps": 1e-3}, [normal(3, 4, 5)]),
    ("layernorm_noaffine", "LayerNorm", (5,), {"elementwise_affine": False}, [normal(3, 5)]),
    ("groupnorm", "GroupNorm", (2, 4), {}, [normal(3, 4, 5, 2)]),
    ("groupnorm_noaffine", "GroupNorm", (1, 3), {"affine": False}, [normal(2, 3, 6)]),
    ("instancenorm1d", "InstanceNorm1d", (3,), {}, [normal(2, 3, 6)]),
    ("instancenorm2d_affine", "InstanceNorm2d", (3,), {"affine": True}, [normal(2, 3, 4, 5)]),
    ("instancenorm2d_unbatched", "InstanceNorm2d", (3,), {"eps": 1e-3}, [normal(3, 4, 5)]),
    ("instancenorm3d_track", "InstanceNorm3d", (2,), {"affine": True,
                                                      "track_running_stats": True},
     [normal(2, 2, 3, 3, 4)]),
    ("embedding", "Embedding", (10, 4), {}, [ints(10, 3, 5)]),
    ("embedding_pad", "Embedding", (10, 4), {"padding_idx": 0}, [ints(3, 4, 6)]),
    ("relu", "ReLU", (), {}, [normal(3, 4)]),
    ("leaky_relu", "LeakyReLU", (0.2,), {}, [normal(3, 4)]),
    ("elu", "ELU", (), {"alpha": 0.7}, [normal(3, 4)]),
    ("gelu", "GELU", (), {}, [normal(3, 4)]),
    ("gelu_tanh", "GELU", (), {"approximate": "tanh"}, [normal(3, 4)]),
    ("sigmoid", "Sigmoid", (), {}, [normal(3, 4)]),
    ("tanh", "Tanh", (), {}, [normal(3, 4)]),
    ("softmax", "Softmax", (), {"dim": 1}, [normal(3, 4)]),
    ("log_softmax", "LogSoftmax", (), {"dim": -1}, [normal(2, 3, 4)]),
    ("softplus", "Softplus", (), {"beta": 2.0, "threshold": 1.0}, [normal(3, 4)]),
    ("silu", "SiLU", (), {}, [normal(3, 4)]),
    ("hardtanh", "Hardtanh", (-0.5, 0.7), {}, [normal(3, 4)]),
    ("relu6", "ReLU6", (), {}, [normal(3, 4) ]),
    ("dropout_eval", "Dropout", (0.3,), {}, [normal(3, 4)]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_torch(case, dtype, parity, torch):
    _, name, args, kwargs, specs = case
    ym = getattr(nn, name)(*args, **kwargs)
    tm = getattr(torch.nn, name)(*args, **kwargs)
    if name == "Dropout":
        ym.eval()
        tm.eval()
    rng = np.random.default_rng(0)
    inputs = [_make(s, rng) for s in specs]
    parity(ym, tm, inputs, dtype=dtype)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_repr_matches_torch(case, torch):
    _, name, args, kwargs, _ = case
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_parameter_names_shapes_dtypes(case, torch):
    _, name, args, kwargs, _ = case
    ym = getattr(nn, name)(*args, **kwargs)
    tm = getattr(torch.nn, name)(*args, **kwargs)
    ys = {k: tuple(v.shape) for k, v in ym.state_dict().items()}
    ts = {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    assert list(ys) == list(ts) and ys == ts
    assert [k for k, _ in ym.named_parameters()] == [k for k, _ in tm.named_parameters()]
    for p in ym.parameters():
        assert isinstance(p, nn.Parameter) and p.requires_grad
        assert p.dtype is yingshe.float32


def test_conv_transpose2d_output_size(torch):
    from conftest import copy_weights_to_torch
    ym = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    tm = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    copy_weights_to_torch(ym, tm)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    for size in [(8, 10), (7, 9), [1, 3, 8, 9]]:
        yo = ym(yingshe.tensor(x), output_size=size)
        to = tm(torch.tensor(x), output_size=size)
        np.testing.assert_allclose(yo.detach().numpy(), to.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
    with pytest.raises(ValueError, match="output size"):
        ym(yingshe.tensor(x), output_size=(20, 20))


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("name,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                        ("BatchNorm2d", (4, 3, 5, 2)),
                                        ("InstanceNorm1d", (4, 3, 5)),
                                        ("InstanceNorm2d", (4, 3, 5, 2))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_batchnorm_running_stats_and_eval(name, shape, momentum, dtype, torch):
    """BatchNorm, and InstanceNorm with running statistics (not its default)."""
    from conftest import copy_weights_to_torch
    from yingshe.testing.tolerances import tol
    rtol, atol = tol("reference", dtype)
    kw = {"affine": True, "track_running_stats": True} if name.startswith("Instance") else {}
    ym = getattr(nn, name)(3, momentum=momentum, **kw)
    tm = getattr(torch.nn, name)(3, momentum=momentum, **kw)
    rng = np.random.default_rng(0)
    with yingshe.no_grad():  # non-trivial affine parameters
        ym.weight.detach().numpy()[...] = rng.uniform(0.5, 1.5, 3)
        ym.bias.detach().numpy()[...] = rng.standard_normal(3)
    (ym.double(), tm.double()) if dtype == np.float64 else (ym.float(), tm.float())
    copy_weights_to_torch(ym, tm)
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        yx = yingshe.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        yo, to = ym(yx), tm(tx)
        np.testing.assert_allclose(yo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
        g = rng.standard_normal(shape).astype(dtype)
        (yo * yingshe.tensor(g)).sum().backward()
        (to * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(yx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)
        for n in ("weight", "bias"):
            np.testing.assert_allclose(getattr(ym, n).grad.numpy(),
                                       getattr(tm, n).grad.numpy(), rtol=rtol, atol=atol)
    for key, tv in tm.state_dict().items():
        yv = ym.state_dict()[key].numpy()
        np.testing.assert_allclose(yv, tv.numpy(), rtol=rtol, atol=atol, err_msg=key)
        assert yv.dtype == tv.numpy().dtype, key
    ym.eval(), tm.eval()
    x = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_allclose(ym(yingshe.tensor(x)).detach().numpy(),
                               tm(torch.tensor(x)).detach().numpy(),
                               rtol=rtol, atol=atol)
    # eval mode leaves the running statistics alone
    before = {k: v.numpy().copy() for k, v in ym.state_dict().items()}
    ym(yingshe.tensor(x))
    for k, v in ym.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_without_running_stats(affine, parity, torch):
    for train in (True, False):
        ym = nn.BatchNorm2d(3, affine=affine, track_running_stats=False)
        tm = torch.nn.BatchNorm2d(3, affine=affine, track_running_stats=False)
        ym.train(train), tm.train(train)
        assert ym.running_mean is None and "running_mean" not in ym.state_dict()
        x = np.random.default_rng(0).standard_normal((4, 3, 2, 2))
        parity(ym, tm, [x])


def test_batchnorm_repr_and_checks(torch):
    for kw in ({}, {"momentum": None, "affine": False}, {"eps": 1e-3, "track_running_stats": False}):
        assert repr(nn.BatchNorm1d(4, **kw)) == repr(torch.nn.BatchNorm1d(4, **kw))
        assert repr(nn.BatchNorm2d(4, **kw)) == repr(torch.nn.BatchNorm2d(4, **kw))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(yingshe.tensor(np.zeros((2, 3))))
    assert nn.BatchNorm1d(3).num_batches_tracked.dtype is yingshe.int64


def test_dropout_train_and_eval():
    m = nn.Dropout(0.5)
    x = yingshe.tensor(np.ones((200, 50)))
    y = m(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_embedding_padding_idx_zero_row_and_no_grad(torch):
    m = nn.Embedding(6, 3, padding_idx=-1)
    assert m.padding_idx == 5
    np.testing.assert_array_equal(m.weight.detach().numpy()[5], 0)
    assert repr(m) == repr(torch.nn.Embedding(6, 3, padding_idx=-1))
    idx = yingshe.tensor(np.array([[5, 1], [1, 5]]))
    m(idx).sum().backward()
    np.testing.assert_array_equal(m.weight.grad.numpy()[5], 0)
    np.testing.assert_array_equal(m.weight.grad.numpy()[1], 2)


def test_embedding_from_pretrained():
    w = yingshe.tensor(np.arange(6.0).reshape(3, 2))
    m = nn.Embedding.from_pretrained(w)
    assert not m.weight.requires_grad
    np.testing.assert_array_equal(m(yingshe.tensor(np.array([2]))).numpy(), [[4.0, 5.0]])


def test_unsupported_arguments_raise():
    with pytest.raises(NotImplementedError, match="device"):
        nn.Linear(2, 3, device="cuda")
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(3, 2, sparse=True)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")
    m = nn.Linear(2, 3, dtype=yingshe.float64)
    assert m.weight.dtype is yingshe.float64


def test_sequential_of_layers_trains_like_torch(torch):
    """A small CNN, same weights: a few SGD steps give the same losses as PyTorch."""
    from conftest import copy_weights_to_torch

    def build(n):
        return n.Sequential(n.Conv2d(1, 4, 3, padding=1), n.BatchNorm2d(4), n.ReLU(),
                            n.MaxPool2d(2), n.Flatten(), n.Linear(4 * 3 * 3, 5),
                            n.LogSoftmax(dim=1))
    ym, tm = build(nn).double(), build(torch.nn).double()
    copy_weights_to_torch(ym, tm)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((8, 1, 6, 6))
        t = rng.integers(0, 5, 8)
        yout, tout = ym(yingshe.tensor(x)), tm(torch.tensor(x))
        onehot = np.eye(5)[t]
        yl = -(yout * yingshe.tensor(onehot)).sum() / 8
        tl = -(tout * torch.tensor(onehot)).sum() / 8
        np.testing.assert_allclose(yl.item(), tl.item(), rtol=1e-10)
        yl.backward(), tl.backward()
        with yingshe.no_grad():
            for p in ym.parameters():
                p.detach().numpy()[...] -= 0.1 * p.grad.numpy()
                p.grad = None
        with torch.no_grad():
            for p in tm.parameters():
                p -= 0.1 * p.grad
                p.grad = None
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(ym.state_dict()[k].numpy(), v.numpy(), rtol=1e-9, atol=1e-12)
