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


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("name", ["mlp", "cnn", "lstm"])
def test_a_model_exported_by_pytorch_runs_on_yingshe(name, dynamo):
    torch = _torch()
    if dynamo:
        require_module("onnxscript")
    torch.manual_seed(0)
    model, shape = _models(torch)[name]
    if name == "cnn":       # non-trivial running statistics
        model.train()
        with torch.no_grad():
            model(torch.randn(8, *shape[1:]) * 2 + 1)
    model.eval()
    x = torch.randn(*shape)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = ({"dynamic_axes": {"x": {0: "batch"}}} if not dynamo else {})
        prog = torch.onnx.export(model, (x,), None if dynamo else buf, input_names=["x"],
                                 output_names=["y"], dynamo=dynamo, verbose=False, **kw)
    data = prog.model_proto.SerializeToString() if dynamo else buf.getvalue()
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
