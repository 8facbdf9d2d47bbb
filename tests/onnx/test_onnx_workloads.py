"""The tutorial models and the speed workloads' models, from their workload weights:
exported (dynamic batch), run in onnxruntime, equal to yingshe eager; loaded back into
yingshe, equal again, eagerly and under yingshe.compile."""

import numpy as np
import pytest

import yingshe
import yingshe.onnx
from yingshe.compare.engines.pytorch_style import build_model
from yingshe.compare.workloads import SPEED, TUTORIAL, WORKLOADS, build
from yingshe.testing.reference import require_module

from onnx_helpers import assert_close, export_bytes, ort_run

require_module("onnx")
require_module("onnxruntime")

# every model the comparison trains (cnnbn joins SPEED/WORKLOADS when it lands on main)
NAMES = list(TUTORIAL) + [n for n in SPEED] + [n for n in ("cnnbn",)
                                               if n in dict.keys(WORKLOADS) and n not in SPEED]


@pytest.mark.parametrize("name", NAMES)
def test_workload_model_exports_runs_in_onnxruntime_and_loads_back(name):
    if WORKLOADS[name].data is not None:
        require_module("sklearn")     # the tutorial data sets ship with scikit-learn
    w = WORKLOADS[name]
    arrays = build(name)
    params = {k[len("param."):]: v for k, v in arrays.items() if k.startswith("param.")}
    model = build_model(yingshe, w, params)
    model.eval()
    x = arrays["x"]
    data = export_bytes(model, yingshe.tensor(x[:8]), input_names=["x"],
                        dynamic_axes={"x": {0: "batch"}})
    back = yingshe.onnx.load(data)
    compiled = yingshe.compile(back)
    for n in (8, 3):
        xb = np.ascontiguousarray(x[:n])
        with yingshe.no_grad():
            want = model(yingshe.tensor(xb)).numpy()
            loaded = back(yingshe.tensor(xb)).numpy()
            fast = compiled(yingshe.tensor(xb)).numpy()
        assert_close(ort_run(data, {"x": xb})[0], want, f"{name} onnxruntime, batch {n}")
        assert_close(loaded, want, f"{name} loaded, batch {n}")
        assert_close(fast, loaded, f"{name} loaded and compiled, batch {n}", kind="graph")
    # the loaded weights are the model's (by name, as PyTorch's state dict keys)
    sd = back.state_dict()
    for key, value in model.state_dict().items():
        if key in sd:
            np.testing.assert_array_equal(sd[key].numpy(), value.numpy())
