"""yingshe.torch.onnx.export has PyTorch's signature: `torch.onnx.export(model, dummy,
"m.onnx")` in a renamed program writes a model that onnxruntime runs; arguments yingshe
does not implement are refused by name."""

import inspect
import os
import sys

import numpy as np
import pytest

import yingshe
import yingshe.torch as ytorch
from yingshe.errors import UnsupportedError
from yingshe.testing import reference
from yingshe.testing.hang import run_guarded
from yingshe.testing.reference import require_module

from onnx_helpers import assert_close, ort_run

require_module("onnx")
require_module("onnxruntime")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROGRAM = '''
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))

torch.manual_seed(0)
model = Net()
dummy = torch.randn(1, 1, 6, 6)
torch.onnx.export(model, dummy, "m.onnx", input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
program = torch.onnx.export(model, (dummy,), dynamo=True)
program.save("m2.onnx")
x = torch.randn(3, 1, 6, 6)
torch.save({"x": x, "y": model(x).detach()}, "ref.pt")
'''


def test_a_renamed_pytorch_program_exports_with_torch_onnx_export(tmp_path):
    prog = tmp_path / "export_it.py"
    prog.write_text(PROGRAM.replace("import torch\n", "import yingshe.torch as torch\n", 1)
                    .replace("import torch.nn as nn", "import yingshe.torch.nn as nn"))
    out = run_guarded([sys.executable, str(prog)], capture_output=True, text=True,
                      cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr
    ref = yingshe.load(str(tmp_path / "ref.pt"))
    x, want = ref["x"].numpy(), ref["y"].numpy()
    got = ort_run((tmp_path / "m.onnx").read_bytes(), {"image": x})[0]
    assert_close(got, want, "torch.onnx.export(dynamo=False), batch 3")
    got = ort_run((tmp_path / "m2.onnx").read_bytes(), {"x": x[:1]})[0]
    assert_close(got, want[:1], "torch.onnx.export(dynamo=True).save")


def test_the_signature_is_pytorchs():
    torch = reference.torch()
    want = inspect.signature(torch.onnx.export).parameters
    got = inspect.signature(ytorch.onnx.export).parameters
    assert list(got) == list(want)
    for name, p in want.items():
        assert got[name].kind == p.kind, name


@pytest.mark.parametrize("kw", [
    {"export_params": False}, {"keep_initializers_as_inputs": True},
    {"training": ytorch.onnx.TrainingMode.TRAINING},
    {"operator_export_type": ytorch.onnx.OperatorExportTypes.ONNX_ATEN},
    {"custom_opsets": {"my": 1}}, {"dynamic_shapes": {"x": {0: "b"}}},
    {"do_constant_folding": False}, {"export_modules_as_functions": True},
    {"report": True}, {"verify": True}], ids=lambda kw: next(iter(kw)))
def test_unimplemented_arguments_are_refused_by_name(kw, tmp_path):
    model = ytorch.nn.Linear(2, 2)
    name = next(iter(kw))
    with pytest.raises(UnsupportedError, match=f"torch.onnx.export: {name}="):
        ytorch.onnx.export(model, ytorch.randn(1, 2), str(tmp_path / "m.onnx"), **kw)
    assert not (tmp_path / "m.onnx").exists()


def test_defaults_are_accepted_and_unknown_names_are_unsupported(tmp_path):
    model = ytorch.nn.Linear(2, 2)
    assert ytorch.onnx.export(model, ytorch.randn(1, 2), str(tmp_path / "a.onnx"),
                              dynamo=False, export_params=True, do_constant_folding=True,
                              custom_opsets={}, training=ytorch.onnx.TrainingMode.EVAL) is None
    assert not ytorch.onnx.is_in_onnx_export()
    with pytest.raises(AttributeError, match="torch.onnx.dynamo_export is not supported"):
        ytorch.onnx.dynamo_export
    got = ort_run((tmp_path / "a.onnx").read_bytes(), {"input": np.ones((1, 2), np.float32)})
    with yingshe.no_grad():
        assert_close(got[0], model(ytorch.ones(1, 2)).numpy(), "defaults")
