"""Models exported by real PyTorch (an MLP, a CNN, an LSTM), with its default exporter
(dynamo=True, which needs onnxscript) and with dynamo=False, load and run on yingshe with
PyTorch's outputs (float32 reference tolerance), eagerly and compiled. Torch runs in this
process: tests/onnx never imports TensorFlow."""

import io
import warnings

import numpy as np
import pytest

import yingshe
import yingshe.onnx
from yingshe.testing.reference import require_module, torch as _torch

from onnx_helpers import assert_close

require_module("onnx")


def _models(torch):
    nn = torch.nn

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4 * 4 * 4, 10)

        def forward(self, x):
            x = nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
            return self.fc(x.flatten(1))

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 8, batch_first=True)
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out[:, -1])

    mlp = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3), nn.LogSoftmax(1))
    return {"mlp": (mlp, (2, 5)), "cnn": (CNN(), (2, 1, 8, 8)), "lstm": (LSTMNet(), (2, 6, 4))}


def _exported(torch, model, args, dynamo: bool, **kw) -> bytes:
    """``model`` written by PyTorch's exporter (its default one, or the TorchScript one)."""
    if dynamo:
        require_module("onnxscript")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(model, args, None if dynamo else buf, dynamo=dynamo,
                                 verbose=False, **kw)
    return prog.model_proto.SerializeToString() if dynamo else buf.getvalue()


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("name", ["mlp", "cnn", "lstm"])
def test_a_model_exported_by_pytorch_runs_on_yingshe(name, dynamo):
    torch = _torch()
    torch.manual_seed(0)
    model, shape = _models(torch)[name]
    if name == "cnn":       # non-trivial running statistics
        model.train()
        with torch.no_grad():
            model(torch.randn(8, *shape[1:]) * 2 + 1)
    model.eval()
    x = torch.randn(*shape)
    kw = {"dynamic_axes": {"x": {0: "batch"}}} if not dynamo else {}
    data = _exported(torch, model, (x,), dynamo, input_names=["x"], output_names=["y"], **kw)
    back = yingshe.onnx.load(data)
    batches = [x] if dynamo else [x, torch.randn(5, *shape[1:])]
    for xb in batches:
        with torch.no_grad():
            want = model(xb).numpy()
        with yingshe.no_grad():
            got = back(yingshe.tensor(xb.numpy())).numpy()
            fast = yingshe.compile(back)(yingshe.tensor(xb.numpy())).numpy()
        assert_close(got, want, f"{name} exported by torch (dynamo={dynamo}), batch {len(xb)}")
        assert_close(fast, got, f"{name} compiled", kind="graph")
    np.testing.assert_equal(len(back.output_names), 1)


def _layers(torch):
    nn = torch.nn

    class Emb(nn.Module):
        def __init__(self):
            super().__init__()
            self.e = nn.Embedding(10, 4)
            self.fc = nn.Linear(4, 2)

        def forward(self, i):
            return self.fc(self.e(i).mean(1))

    r = torch.randn
    return {
        "gru-bidirectional": (nn.GRU(3, 4, 2, batch_first=True, bidirectional=True),
                              (r(2, 5, 3),)),
        "rnn": (nn.RNN(3, 4), (r(5, 2, 3),)),
        "batchnorm1d": (nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU()),
                        (r(4, 3),)),
        "layernorm-gelu": (nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.GELU()),
                           (r(4, 3),)),
        "embedding": (Emb(), (torch.tensor([[1, 2, 3], [4, 5, 6]]),)),
        "upsample-nearest": (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1),
                                           nn.Upsample(scale_factor=2)), (r(2, 1, 4, 4),)),
        "upsample-bilinear": (nn.Upsample(scale_factor=2, mode="bilinear"), (r(2, 1, 4, 4),)),
        "adaptive-avg-pool": (nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1),
                                            nn.Flatten()), (r(2, 1, 6, 6),)),
        "conv-transpose": (nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
                           (r(2, 2, 5, 5),)),
        "avg-pool-conv1d": (nn.Sequential(nn.Conv1d(2, 3, 3), nn.AvgPool1d(2, padding=1)),
                            (r(2, 2, 9),)),
        "multihead-attention": (nn.MultiheadAttention(8, 2, batch_first=True), (r(2, 5, 8),) * 3),
        "activations": (nn.Sequential(nn.SiLU(), nn.Hardswish(), nn.ELU(), nn.LeakyReLU(),
                                      nn.Softplus(), nn.Mish(), nn.Hardsigmoid(), nn.Softmax(1)),
                        (r(2, 6),)),
        "group-instance-norm": (nn.Sequential(nn.GroupNorm(2, 4),
                                              nn.InstanceNorm1d(4, affine=True)), (r(2, 4, 3),)),
    }


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("name", [
    "gru-bidirectional", "rnn", "batchnorm1d", "layernorm-gelu", "embedding", "upsample-nearest",
    "upsample-bilinear", "adaptive-avg-pool", "conv-transpose", "avg-pool-conv1d",
    "multihead-attention", "activations", "group-instance-norm"])
def test_more_layers_exported_by_pytorch_run_on_yingshe(name, dynamo):
    torch = _torch()
    torch.manual_seed(0)
    model, args = _layers(torch)[name]
    model.eval()
    back = yingshe.onnx.load(_exported(torch, model, args, dynamo))
    with torch.no_grad():
        want = model(*args)
    want = want[0] if isinstance(want, tuple) else want
    with yingshe.no_grad():
        got = back(*[yingshe.tensor(a.numpy()) for a in args])
    got = got[0] if isinstance(got, tuple) else got
    assert_close(got.numpy(), want.numpy(), f"{name} exported by torch (dynamo={dynamo})")
