"""Module mechanics against PyTorch: registration, traversal, state_dict and its
errors, modes, hooks, dtype conversion, repr trees, module paths in errors."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import yingshe
from yingshe import nn


def _mlp(n):
    return n.Sequential(n.Linear(2, 3), n.ReLU(), n.Linear(3, 1))


class _Net:
    """The same nested architecture built from yingshe.nn or torch.nn."""

    @staticmethod
    def build(n):
        class Block(n.Module):
            def __init__(self):
                super().__init__()
                self.conv = n.Conv2d(1, 2, 3)
                self.bn = n.BatchNorm2d(2)
                self.register_buffer("scale", None)
                self.register_buffer("step", yingshe_or_torch(n).zeros(1), persistent=False)

            def forward(self, x):
                return self.bn(self.conv(x)).relu()

        class Net(n.Module):
            def __init__(self):
                super().__init__()
                self.features = Block()
                self.heads = n.ModuleList([n.Linear(8, 4), n.Linear(8, 4), n.Linear(4, 2)])
                self.table = n.ModuleDict({"a": n.Embedding(5, 3, padding_idx=1),
                                           "b": n.LayerNorm(3)})
                self.classifier = n.Sequential(OrderedDict([
                    ("flat", n.Flatten()), ("drop", n.Dropout(0.1)), ("fc", n.Linear(8, 3)),
                    ("act", n.GELU(approximate="tanh")), ("out", n.Linear(3, 2))]))
                self.temperature = n.Parameter(yingshe_or_torch(n).ones(1))

            def forward(self, x):
                return self.classifier(self.features(x))
        return Net()


def yingshe_or_torch(n):
    if n is nn:
        class Z:
            @staticmethod
            def zeros(k):
                return yingshe.tensor(np.zeros(k, np.float32))

            @staticmethod
            def ones(k):
                return yingshe.tensor(np.ones(k, np.float32))
        return Z
    import torch
    return torch


@pytest.fixture
def nets(torch):
    return _Net.build(nn), _Net.build(torch.nn)


def test_repr_tree_equals_torch(nets):
    y, t = nets
    assert repr(y) == repr(t)
    assert repr(_mlp(nn)) == repr(_mlp(__import__("torch").nn))


def test_module_list_repr_groups_repeats_like_torch(torch):
    ym = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU(), nn.ReLU(), nn.Tanh()])
    tm = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)]
                             + [torch.nn.ReLU(), torch.nn.ReLU(), torch.nn.Tanh()])
    assert repr(ym) == repr(tm)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_state_dict_keys_shapes_and_traversal_equal_torch(nets):
    y, t = nets
    ys, ts = y.state_dict(), t.state_dict()
    assert list(ys) == list(ts)
    assert all(tuple(ys[k].shape) == tuple(ts[k].shape) for k in ts)
    assert [k for k, _ in y.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert [k for k, _ in y.named_buffers()] == [k for k, _ in t.named_buffers()]
    assert [k for k, _ in y.named_modules()] == [k for k, _ in t.named_modules()]
    assert [k for k, _ in y.named_children()] == [k for k, _ in t.named_children()]
    assert [type(m).__name__ for m in y.modules()] == [type(m).__name__ for m in t.modules()]
    assert ([k for k, _ in y.named_parameters(prefix="m", recurse=False)]
            == [k for k, _ in t.named_parameters(prefix="m", recurse=False)])
    assert len(list(y.parameters())) == len(list(t.parameters()))
    # non-persistent buffers are buffers but not state
    assert "features.step" in dict(y.named_buffers()) and "features.step" not in ys


def test_state_dict_shares_memory_and_is_detached():
    m = nn.Linear(2, 3)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad and sd["weight"].grad_fn is None
    with yingshe.no_grad():
        m.weight.detach().numpy()[0, 0] = 42.0
    assert sd["weight"].numpy()[0, 0] == 42.0
    assert m.state_dict(keep_vars=True)["weight"] is m.weight


def test_state_dict_round_trip_in_place_keeps_identity():
    a, b = _mlp(nn), _mlp(nn)
    w = b[0].weight
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    assert b[0].weight is w  # optimizers keep their references
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k].numpy(), v.numpy())
    x = yingshe.tensor(np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32))
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    # values were copied, not aliased
    with yingshe.no_grad():
        a[0].weight.detach().numpy()[...] = 0
    assert np.any(b[0].weight.detach().numpy() != 0)


def test_load_state_dict_errors_match_torch(torch):
    ym, tm = _mlp(nn), _mlp(torch.nn)
    sd = {k: v for k, v in ym.state_dict().items() if k != "0.bias"}
    sd["extra.weight"] = yingshe.tensor(np.zeros(2, np.float32))
    sd["2.weight"] = yingshe.tensor(np.zeros((5, 3), np.float32))
    tsd = {k: torch.from_numpy(np.array(v.numpy())) for k, v in sd.items()}
    with pytest.raises(RuntimeError) as ye:
        ym.load_state_dict(sd)
    with pytest.raises(RuntimeError) as te:
        tm.load_state_dict(tsd)
    ymsg, tmsg = str(ye.value), str(te.value)
    assert ymsg.splitlines()[:3] == tmsg.splitlines()[:3]
    assert 'Missing key(s) in state_dict: "0.bias".' in ymsg
    assert 'Unexpected key(s) in state_dict: "extra.weight".' in ymsg
    assert "size mismatch for 2.weight" in ymsg and "(5, 3)" in ymsg and "(1, 3)" in ymsg
    # non-strict: missing/unexpected are returned, a size mismatch still raises
    del sd["2.weight"], tsd["2.weight"]
    yr, tr = ym.load_state_dict(sd, strict=False), tm.load_state_dict(tsd, strict=False)
    assert yr.missing_keys == tr.missing_keys == ["0.bias", "2.weight"]
    assert yr.unexpected_keys == tr.unexpected_keys == ["extra.weight"]


def test_load_state_dict_from_torch_and_assign(torch):
    ym, tm = _mlp(nn), _mlp(torch.nn)
    ym.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    for k, v in tm.state_dict().items():
        np.testing.assert_array_equal(ym.state_dict()[k].numpy(), v.numpy())
    new = {k: yingshe.tensor(np.ones(v.shape, np.float64)) for k, v in ym.state_dict().items()}
    old = ym[0].weight
    ym.load_state_dict(new, assign=True)
    assert ym[0].weight is not old and isinstance(ym[0].weight, nn.Parameter)
    assert ym[0].weight.requires_grad and ym[0].weight.dtype is yingshe.float64


def test_load_state_dict_does_not_record_history():
    m = nn.Linear(2, 2)
    m.load_state_dict({k: v.detach().numpy() * 2 for k, v in m.state_dict().items()})
    assert m.weight.is_leaf and m.weight.grad_fn is None and m.weight.requires_grad


def test_registration_rules(torch):
    m = nn.Module()
    m.p = nn.Parameter(yingshe.tensor([1.0]))
    m.sub = nn.Linear(1, 1)
    m.register_buffer("b", yingshe.tensor([0.0]))
    m.plain = yingshe.tensor([3.0])
    assert [k for k, _ in m.named_parameters()] == ["p", "sub.weight", "sub.bias"]
    assert list(m.state_dict()) == ["p", "b", "sub.weight", "sub.bias"]
    assert "plain" not in m.state_dict()
    with pytest.raises(TypeError, match="parameter 'p'"):
        m.p = yingshe.tensor([1.0])
    with pytest.raises(TypeError, match="child module 'sub'"):
        m.sub = 3
    with pytest.raises(TypeError, match="buffer 'b'"):
        m.b = 3
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("plain", yingshe.tensor([1.0]))
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        m.nope
    m.p = None
    assert "p" not in dict(m.named_parameters())
    del m.sub
    assert not hasattr(m, "sub")
    m.b = yingshe.tensor([7.0])
    assert m.state_dict()["b"].item() == 7.0
    assert "p" in dir(m) and "b" in dir(m)

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(yingshe.tensor([1.0]))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_shared_parameters_listed_once(torch):
    lin = nn.Linear(2, 2)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    t_lin = torch.nn.Linear(2, 2)
    t = torch.nn.Sequential(t_lin, torch.nn.ReLU(), t_lin)
    assert [k for k, _ in m.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert len(list(m.named_parameters(remove_duplicate=False))) == 4
    assert list(m.state_dict()) == list(t.state_dict())


def test_train_eval_propagate_and_requires_grad(nets):
    y, _ = nets
    assert all(m.training for m in y.modules())
    assert y.eval() is y
    assert not any(m.training for m in y.modules())
    y.train()
    assert all(m.training for m in y.modules())
    y.classifier.train(False)
    assert y.training and not y.classifier.fc.training
    with pytest.raises(ValueError, match="boolean"):
        y.train("yes")
    y.requires_grad_(False)
    assert not any(p.requires_grad for p in y.parameters())


def test_zero_grad():
    m = _mlp(nn)
    x = yingshe.tensor(np.ones((3, 2), np.float32))
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad.numpy()) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_to_dtype_keeps_parameter_identity(torch):
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    params = list(m.parameters())
    assert m.double() is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    assert all(p.dtype is yingshe.float64 for p in m.parameters())
    assert m[1].running_mean.dtype is yingshe.float64
    assert m[1].num_batches_tracked.dtype is yingshe.int64  # integers untouched
    m.to(yingshe.float32)
    assert all(p.dtype is yingshe.float32 for p in m.parameters())
    assert m.to("cpu") is m and m.cpu() is m
    m.to(yingshe.tensor(np.zeros(1)))  # a float64 tensor
    assert m[0].weight.dtype is yingshe.float64
    with pytest.raises(RuntimeError, match="CUDA"):
        m.cuda()
    with pytest.raises(RuntimeError, match="cuda"):
        m.to("cuda")
    with pytest.raises(TypeError, match="floating point"):
        m.to(yingshe.int64)


def test_apply_and_init_order(torch):
    seen = []
    m = _mlp(nn)
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    tseen = []
    _mlp(torch.nn).apply(lambda mod: tseen.append(type(mod).__name__))
    assert seen == tseen


def test_forward_hooks_fire_and_remove():
    m = nn.Linear(2, 2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return (args[0] * 0,)

    def post(mod, args, out):
        calls.append("post")
        return out + 1

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_hook(post)
    x = yingshe.tensor(np.ones((1, 2), np.float32))
    out = m(x)
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(out.detach().numpy(), m.bias.detach().numpy()[None] + 1, rtol=1e-6)
    h1.remove()
    h2.remove()
    calls.clear()
    m(x)
    assert calls == []
    with m.register_forward_hook(lambda mod, a, o: calls.append(o.shape)):
        m(x)
    m(x)
    assert calls == [(1, 2)]


def test_forward_hooks_with_kwargs_and_prepend():
    m = nn.Identity()
    order = []
    m.register_forward_hook(lambda mod, a, o: order.append("a"))
    m.register_forward_hook(lambda mod, a, o: order.append("b"), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, kw: ((a[0] + 1,), kw), with_kwargs=True)
    out = m(yingshe.tensor([1.0]))
    assert order == ["b", "a"] and out.item() == 2.0


def test_error_inside_sequential_names_module_path():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Linear(4, 8)
            self.classifier = nn.Sequential(nn.ReLU(), nn.Linear(8, 5), nn.Linear(6, 2))

        def forward(self, x):
            return self.classifier(self.features(x))

    x = yingshe.tensor(np.ones((3, 4), np.float32))
    with pytest.raises(yingshe.ShapeError) as e:
        Net()(x)
    msg = str(e.value)
    assert "Net.classifier.2 (Linear)" in msg
    assert msg.count("Net.classifier") == 1
    assert "linear" in msg.lower() and "test_module.py" in msg
    assert isinstance(e.value, RuntimeError)
    with pytest.raises(yingshe.ShapeError, match=r"in Sequential.1 \(Linear\)"):
        nn.Sequential(nn.Identity(), nn.Linear(3, 2))(x)
    with pytest.raises(yingshe.ShapeError, match=r"in Linear: "):
        nn.Linear(3, 2)(x)


def test_submodule_parameter_buffer_lookup(nets):
    y, t = nets
    assert y.get_submodule("classifier.fc") is y.classifier.fc
    assert y.get_submodule("heads.1") is y.heads[1]
    assert y.get_parameter("heads.2.bias") is y.heads[2].bias
    assert y.get_buffer("features.bn.running_mean") is y.features.bn.running_mean
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        y.get_submodule("classifier.nope")
    with pytest.raises(AttributeError, match="not an nn.Parameter"):
        y.get_parameter("features.bn.running_mean")


def test_parameter_class():
    t = yingshe.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, yingshe.Variable) and isinstance(p, yingshe.Tensor)
    assert p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    with yingshe.no_grad():
        p.detach().numpy()[0] = 5.0
    assert t.numpy()[0] == 5.0  # shares memory, as in PyTorch
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q is not p and q.requires_grad


def test_deepcopy_module():
    m = _mlp(nn)
    m2 = copy.deepcopy(m)
    assert repr(m2) == repr(m)
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert a.numpy() is not b.numpy()
    assert isinstance(m2[0].weight, nn.Parameter)


def test_forward_missing_raises():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)


def test_state_dict_through_a_checkpoint_file(tmp_path):
    a = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    a(yingshe.tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)))
    path = tmp_path / "m.safetensors"
    yingshe.save(a.state_dict(), str(path))
    b = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    b.load_state_dict(yingshe.load(str(path)))
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k].numpy(), v.numpy(), err_msg=k)
        assert b.state_dict()[k].dtype is v.dtype


def test_half_and_type_conversions():
    m = nn.Linear(2, 2).half()
    assert m.weight.dtype is yingshe.float16
    m.float()
    assert m.weight.dtype is yingshe.float32
    x = yingshe.tensor(np.ones((1, 2), np.float32))
    m(x).sum().backward()
    m.double()  # gradients follow the parameters' dtype
    assert m.weight.grad.dtype is yingshe.float64
