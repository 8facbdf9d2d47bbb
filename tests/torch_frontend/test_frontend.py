"""yingshe.torch: the import forms, the mapping onto the core, honest boundaries, the
generated list of supported names, devices, compile, save/load."""

from __future__ import annotations

import importlib
import io
import warnings

import numpy as np
import pytest

import yingshe
import yingshe.torch as torch
from yingshe.torch import _unsupported
from yingshe.torch._errors import UnsupportedError
from yingshe.testing.reference import torch as import_torch

IMPORT_FORMS = {
    "import torch": ("import yingshe.torch as torch", "torch", "yingshe.torch"),
    "import torch.nn as nn": ("import yingshe.torch.nn as nn", "nn", "yingshe.torch.nn"),
    "import torch.nn.functional as F": ("import yingshe.torch.nn.functional as F", "F",
                                        "yingshe.torch.nn.functional"),
    "import torch.optim as optim": ("import yingshe.torch.optim as optim", "optim",
                                    "yingshe.torch.optim"),
    "import torch.nn.init as init": ("import yingshe.torch.nn.init as init", "init",
                                     "yingshe.torch.nn.init"),
}


@pytest.mark.parametrize("form", sorted(IMPORT_FORMS))
def test_module_import_forms(form):
    stmt, name, modname = IMPORT_FORMS[form]
    ns: dict = {}
    exec(stmt, ns)
    assert ns[name] is importlib.import_module(modname)


def test_from_import_forms_bind_the_core_objects():
    ns: dict = {}
    exec("from yingshe.torch.utils.data import DataLoader, TensorDataset\n"
         "from yingshe.torch import nn, optim\n"
         "from yingshe.torch.optim.lr_scheduler import StepLR\n"
         "from yingshe.torch.nn.utils import clip_grad_norm_\n"
         "from yingshe.torch.autograd import grad, Function\n"
         "from yingshe.torch.nn import functional as F\n", ns)
    assert ns["DataLoader"] is yingshe.utils.data.DataLoader
    assert ns["TensorDataset"] is yingshe.utils.data.TensorDataset
    assert ns["nn"].Linear is yingshe.nn.Linear and ns["nn"].Module is yingshe.nn.Module
    assert ns["optim"].SGD is yingshe.optim.SGD
    assert ns["StepLR"] is yingshe.optim.lr_scheduler.StepLR
    assert ns["clip_grad_norm_"] is yingshe.nn.utils.clip_grad_norm_
    assert ns["grad"] is yingshe.autograd.grad and ns["Function"] is yingshe.autograd.Function
    assert ns["F"].cross_entropy is yingshe.nn.functional.cross_entropy


def test_top_level_maps_onto_the_core():
    assert torch.Tensor is yingshe.Tensor
    assert torch.float32 is yingshe.float32 and torch.long is yingshe.int64
    # functions with PyTorch's out= are the core's, wrapped by the out= adapter
    assert torch.mm.__wrapped__ is yingshe.mm and torch.sigmoid.__wrapped__ is yingshe.sigmoid
    assert torch.cat is yingshe.cat or torch.cat.__wrapped__ is yingshe.cat
    assert torch.no_grad is yingshe.no_grad and torch.manual_seed is yingshe.manual_seed
    assert torch.from_numpy is yingshe.from_numpy
    x = torch.from_numpy(np.arange(6.0).reshape(2, 3))
    assert torch.is_tensor(x) and not torch.is_tensor(np.ones(2))
    assert torch.numel(x) == 6 and torch.is_floating_point(x)
    assert torch.equal(x, x.clone()) and not torch.equal(x, x + 1)
    assert not torch.equal(x, x.reshape(3, 2))


def test_names_exist_in_pytorch(tv):
    """Every supported name is a real PyTorch (or torchvision: the ``tv`` fixture imports
    it) name at the same path (no yingshe extras dressed up as PyTorch)."""
    real = import_torch()
    for modname in _unsupported.MODULES:
        mod = importlib.import_module(modname)
        ref = importlib.import_module(modname[len("yingshe."):])
        missing = [n for n in mod.__all__ if not hasattr(ref, n)]
        assert not missing, f"{modname}: not PyTorch names: {missing}"
    assert real.Size([2, 3]) == torch.Size([2, 3])


@pytest.mark.parametrize("modname,name", [
    ("yingshe.torch.nn", "TransformerDecoder"),
    ("yingshe.torch", "fft"),
    ("yingshe.torch", "BFloat16Tensor"),
    ("yingshe.torch.nn.functional", "ctc_loss"),
    ("yingshe.torch.optim", "LBFGS"),
    ("yingshe.torch.utils", "checkpoint"),
    ("yingshe.torch.autograd", "functional"),
    ("yingshe.torch.cuda", "synchronize"),
])
def test_unsupported_names_raise_the_documented_error(modname, name):
    mod = importlib.import_module(modname)
    public = modname[len("yingshe."):]
    with pytest.raises(UnsupportedError) as info:
        getattr(mod, name)
    assert isinstance(info.value, AttributeError)
    assert str(info.value) == (f"{public}.{name} is not supported by yingshe.torch yet; see "
                               "docs/torch_supported.md for the supported names")
    assert not hasattr(mod, name)
    assert getattr(mod, name, "default") == "default"


def test_from_import_of_an_unsupported_name_fails():
    with pytest.raises(ImportError, match="TransformerDecoder"):
        exec("from yingshe.torch.nn import TransformerDecoder", {})


def test_supported_names_doc_is_up_to_date():
    with open(_unsupported._doc_file(), encoding="utf-8") as fh:
        current = fh.read()
    assert current == _unsupported.render(), (
        "docs/torch_supported.md is out of date: run python -m yingshe.torch._unsupported")


def test_doc_lists_every_module_and_no_unsupported_name():
    text = _unsupported.render()
    for modname in _unsupported.MODULES:
        assert f"## `{modname[len('yingshe.'):]}`" in text
    assert "`Linear`" in text and "`TransformerDecoder`" not in text


def test_device_cpu_and_no_cuda():
    dev = torch.device("cpu")
    assert dev == "cpu" and dev == torch.device("cpu") and str(dev) == "cpu"
    assert dev.type == "cpu" and dev.index is None and repr(dev) == "device(type='cpu')"
    assert torch.device("cpu:0").index == 0 and torch.device(dev) == dev
    assert hash(torch.device("cpu")) == hash(dev)
    assert torch.cuda.is_available() is False and torch.cuda.device_count() == 0
    torch.cuda.manual_seed_all(0)  # a no-op without a GPU, as in PyTorch
    for bad in ("cuda", "cuda:0", "mps"):
        with pytest.raises(RuntimeError, match="no .* backend"):
            torch.device(bad)
    x = torch.ones(2)
    assert x.to(dev) is x and x.to("cpu") is x and x.device == dev
    assert x.to(dev, torch.float64).dtype == torch.float64
    model = torch.nn.Linear(2, 1)
    assert model.to(dev) is model
    with pytest.raises(RuntimeError, match="CUDA"):
        x.cuda()
    with pytest.raises(RuntimeError, match="CUDA"):
        model.cuda()


def test_device_matches_pytorch_spelling():
    real = import_torch()
    for spec in ("cpu", "cpu:0"):
        assert str(torch.device(spec)) == str(real.device(spec))
        assert repr(torch.device(spec)) == repr(real.device(spec))


def test_size_is_a_tuple():
    s = torch.Size([2, 3, 4])
    assert s == (2, 3, 4) and isinstance(s, tuple) and s.numel() == 24
    assert isinstance(s[1:], torch.Size) and s[1:] == (3, 4)
    assert repr(s) == "torch.Size([2, 3, 4])"
    assert torch.ones(2, 3).shape == torch.Size([2, 3])


def test_compile_maps_onto_yingshe_compile_with_eager_fallback():
    @torch.compile
    def f(x):
        return x * 2

    @torch.compile(dynamic=True)
    def g(x):
        return x + 1

    assert isinstance(f, yingshe.graph.trace.CompiledFunction) and f.fallback == "eager"
    assert f(torch.ones(1)).item() == 2.0 and g(torch.ones(1)).item() == 2.0
    assert f.traces == 1


def test_compile_of_a_module_keeps_it_trainable():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    twin = torch.nn.Linear(2, 1)
    twin.load_state_dict(model.state_dict())
    same = torch.compile(model)
    assert same is model and list(same.state_dict()) == ["weight", "bias"]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.tensor([[1.0, 2.0], [0.5, -1.0]]), torch.tensor([[1.0], [0.0]])
    for m in (model, twin):   # the compiled forward, then eager backward through it
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
    assert model.forward.traces == 1 and model.forward.eager_calls == 0
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)
    opt.step()
    with torch.no_grad():     # inference compiles a program of its own
        out = model(x)
    assert out.shape == (2, 1) and model.forward.traces == 2


def test_num_threads():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert torch.get_num_threads() == 1
        with pytest.raises(RuntimeError):
            torch.set_num_threads(0)
    finally:
        torch.set_num_threads(before)


def test_save_load_state_dict_path_and_file_object(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    sd = model.state_dict()
    path = tmp_path / "m.pt"
    torch.save(sd, path)
    buf = io.BytesIO()
    torch.save({"model": sd, "epoch": 3}, buf)
    buf.seek(0)
    for loaded in (torch.load(path, weights_only=True),
                   torch.load(buf, map_location=torch.device("cpu"))["model"]):
        assert list(loaded) == list(sd)
        for k in sd:
            np.testing.assert_array_equal(loaded[k].numpy(), sd[k].numpy())
    with pytest.raises(NotImplementedError, match="pickle_module"):
        torch.save(sd, tmp_path / "x.pt", pickle_module=object())
    with pytest.raises(NotImplementedError, match="map_location"):
        torch.load(path, map_location=lambda s, loc: s)


def test_checkpoint_loads_into_pytorch(tmp_path):
    """A state dict saved by yingshe.torch is a safetensors file PyTorch can read."""
    real = import_torch()
    from safetensors.torch import load_file
    model = torch.nn.Linear(3, 2)
    torch.save(model.state_dict(), tmp_path / "m.safetensors")
    sd = load_file(str(tmp_path / "m.safetensors"))
    ref = real.nn.Linear(3, 2)
    ref.load_state_dict({k: v for k, v in sd.items() if k in ("weight", "bias")})
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(ref(real.from_numpy(x)).detach().numpy(),
                               model(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_backends_flags_are_accepted():
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    assert torch.backends.cudnn.is_available() is False
    assert torch.backends.mps.is_available() is False


# ---- out=, torch.accelerator, Tensor.type, compile's arguments ---------------------------------

def _same_error(fn_t, fn_y):
    """Both calls raise, and the yingshe error is (a subclass of) PyTorch's class."""
    with pytest.raises(Exception) as et:
        fn_t()
    with pytest.raises(Exception) as ey:
        fn_y()
    base = et.type if et.type.__module__ == "builtins" else et.type.__mro__[1]
    assert isinstance(ey.value, base), (et.value, ey.value)
    return ey.value


def test_out_argument_writes_into_out_like_torch():
    real = import_torch()
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
    for name, args in [("mul", (a, a)), ("add", (a, a)), ("matmul", (a, a.T)),
                       ("exp", (a,)), ("clamp", (a, 0.5, 2.0)), ("cat", ([a, a], 1))]:
        def conv(m, x):
            if isinstance(x, list):
                return [m.from_numpy(v) for v in x]
            return m.from_numpy(x) if isinstance(x, np.ndarray) else x
        ref = getattr(real, name)(*(conv(real, x) for x in args))
        out = torch.full(tuple(ref.shape), 7.0)
        res = getattr(torch, name)(*(conv(torch, x) for x in args), out=out)
        assert res is out, name
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, err_msg=name)
    # creation functions take out's dtype; an integer result casts into a float out
    out = torch.zeros(5, dtype=torch.float64)
    torch.arange(5, out=out)
    t_out = real.zeros(5, dtype=real.float64)
    real.arange(5, out=t_out)
    np.testing.assert_array_equal(out.numpy(), t_out.numpy())
    assert out.dtype == torch.float64
    f = torch.zeros(3)
    torch.add(torch.tensor([1, 2, 3]), 1, out=f)
    np.testing.assert_array_equal(f.numpy(), [2, 3, 4])
    # tuple outputs
    x = np.array([[1.0, 3.0], [5.0, 2.0]], dtype=np.float32)
    v, i = torch.zeros(2), torch.zeros(2, dtype=torch.int64)
    torch.max(torch.from_numpy(x), 1, out=(v, i))
    rv, ri = real.max(real.from_numpy(x), 1)
    np.testing.assert_array_equal(v.numpy(), rv.numpy())
    np.testing.assert_array_equal(i.numpy(), ri.numpy())


def test_out_argument_errors_like_torch():
    real = import_torch()
    # a float result into an integer out
    _same_error(lambda: real.add(real.ones(2), real.ones(2), out=real.zeros(2, dtype=real.int64)),
                lambda: torch.add(torch.ones(2), torch.ones(2),
                                  out=torch.zeros(2, dtype=torch.int64)))
    # autograd does not flow through out=
    err = _same_error(
        lambda: real.mul(real.ones(2, requires_grad=True), 2, out=real.zeros(2)),
        lambda: torch.mul(torch.ones(2, requires_grad=True), 2, out=torch.zeros(2)))
    assert "automatic differentiation" in str(err)
    with torch.no_grad():
        out = torch.zeros(2)
        torch.mul(torch.ones(2, requires_grad=True), 2, out=out)
    assert out.tolist() == [2.0, 2.0] and not out.requires_grad
    # out of another shape: PyTorch resizes it; yingshe says it does not
    with pytest.raises(NotImplementedError, match=r"torch\.add: out= .*\(1,\).*\(2, 3\)"):
        torch.add(torch.ones(2, 3), 1, out=torch.zeros(1))


def test_accelerator_is_absent_like_a_cpu_build():
    real = import_torch()
    assert torch.accelerator.is_available() is real.accelerator.is_available() is False
    assert torch.accelerator.current_accelerator() is real.accelerator.current_accelerator()
    assert torch.accelerator.device_count() == real.accelerator.device_count() == 0
    _same_error(real.accelerator.current_device_index, torch.accelerator.current_device_index)
    _same_error(real.accelerator.synchronize, torch.accelerator.synchronize)
    device = (torch.accelerator.current_accelerator().type
              if torch.accelerator.is_available() else "cpu")
    assert torch.ones(2).to(device).device.type == "cpu"
    with pytest.raises(UnsupportedError, match="torch.accelerator.Graph"):
        torch.accelerator.Graph


def test_tensor_type_like_torch():
    real = import_torch()
    for dt in ("float32", "float64", "int64", "int32", "uint8", "bool", "int8", "int16",
               "float16"):
        assert torch.zeros(2, dtype=getattr(torch, dt)).type() == \
            real.zeros(2, dtype=getattr(real, dt)).type(), dt
    b = torch.tensor([1, 2]) == torch.tensor([1, 3])
    f = b.type(torch.float)
    assert f.dtype == torch.float32 and f.tolist() == [1.0, 0.0]
    assert f.type(torch.float32) is f
    assert torch.ones(2).type("torch.LongTensor").dtype == torch.int64
    with pytest.raises(ValueError):
        torch.ones(2).type("torch.NoSuchTensor")


def test_compile_arguments_are_honest():
    real = import_torch()
    f = torch.compile(lambda x: x + 1, backend="aot_eager", mode="max-autotune", dynamic=True)
    assert f(torch.ones(1)).item() == 2.0
    assert torch.compile(lambda x: x, fullgraph=True).fallback is None
    assert torch.compile(lambda x: x).fallback == "eager"
    _same_error(lambda: real.compile(lambda x: x, mode="bogus"),
                lambda: torch.compile(lambda x: x, mode="bogus"))
    _same_error(lambda: real.compile(lambda x: x, mode="default", options={}),
                lambda: torch.compile(lambda x: x, mode="default", options={}))
    with pytest.raises(NotImplementedError, match="backend='tensorrt'"):
        torch.compile(lambda x: x, backend="tensorrt")
    with pytest.raises(NotImplementedError, match="options"):
        torch.compile(lambda x: x, options={"trace.enabled": True})


def test_saving_a_whole_module_says_it_is_not_supported(tmp_path):
    model = torch.nn.Linear(2, 2)
    with pytest.raises(NotImplementedError, match=r"whole nn\.Module.*state_dict"):
        torch.save(model, str(tmp_path / "model.pth"))
    with pytest.raises(NotImplementedError, match="whole nn.Module"):
        torch.save({"model": model}, str(tmp_path / "model.pth"))
    torch.save(model.state_dict(), str(tmp_path / "w.pth"))      # the supported form
    assert list(torch.load(str(tmp_path / "w.pth"), weights_only=True)) == ["weight", "bias"]


def test_reductions_write_into_out_like_torch():
    torch_ref = import_torch()
    x = np.arange(6.0).reshape(2, 3)
    for name, args in (("sum", (0,)), ("mean", (1,)), ("prod", (0,)), ("amax", (0,)),
                       ("cumsum", (1,))):
        results = []
        for m in (torch, torch_ref):
            ref_shape = getattr(m, name)(m.tensor(x), *args).shape
            out = m.zeros(tuple(ref_shape), dtype=m.float64)
            got = getattr(m, name)(m.tensor(x), *args, out=out)
            assert got is out
            results.append(out.numpy())
        np.testing.assert_allclose(results[0], results[1], rtol=1e-12)
