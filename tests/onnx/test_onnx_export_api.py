"""yingshe.onnx.export's contract: names, weights as initializers, dynamic axes, the
standard domain only, clear errors that name the op and the user's line, no partial or
half-written file; and export_graph for a TF1-style graph."""

import inspect
import io
import os
import sys

import numpy as np
import pytest

import yingshe
import yingshe.graph as G
import yingshe.onnx
from yingshe import nn
from yingshe.testing.hang import run_guarded
from yingshe.testing.reference import require_module

from onnx_helpers import assert_close, eager, export_bytes, ort_run

onnx = require_module("onnx")
require_module("onnxruntime")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _mlp():
    yingshe.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def _dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_names_initializers_and_dynamic_axes():
    model = _mlp()
    proto = yingshe.onnx.export(model, yingshe.randn(2, 4), None, input_names=["x"],
                                output_names=["logits"], dynamic_axes={"x": {0: "batch"}})
    g = proto.graph
    assert [i.name for i in g.input] == ["x"] and [o.name for o in g.output] == ["logits"]
    assert _dims(g.input[0]) == ["batch", 4]
    assert _dims(g.output[0]) == ["batch", 3]      # the output follows the input's axis
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer}
    assert set(inits) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    for name, p in model.state_dict().items():
        np.testing.assert_array_equal(inits[name], p.numpy())
    assert all(n.domain == "" for n in g.node)
    assert [(o.domain, o.version) for o in proto.opset_import] == \
        [("", yingshe.onnx.DEFAULT_OPSET)]
    assert proto.producer_name == "yingshe"


def test_default_names_come_from_forward_and_torch_list_format_of_dynamic_axes():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, features, mask):
            return self.fc(features) * mask, features.sum(1)

    proto = yingshe.onnx.export(Two(), (yingshe.randn(2, 3), yingshe.ones(2, 2)), None,
                                dynamic_axes={"features": {0: "n"}, "mask": {0: "n"}})
    g = proto.graph
    assert [i.name for i in g.input] == ["features", "mask"]
    assert [o.name for o in g.output] == ["output_0", "output_1"]
    assert _dims(g.input[0]) == ["n", 3] and _dims(g.input[1]) == ["n", 2]
    assert _dims(g.output[1]) == ["n"]
    proto = yingshe.onnx.export(nn.Linear(3, 2), yingshe.randn(2, 3), None,
                                dynamic_axes={"input": [0]})      # PyTorch's list format
    assert _dims(proto.graph.input[0]) == ["input_dim0", 3]


def test_a_second_batch_size_runs_where_the_example_size_was_traced_into_the_code():
    # x.view(x.size(0), -1) and zeros(x.shape[0], ...) read the batch size in Python: the
    # exporter re-traces with other sizes and computes them from the input's shape
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 2)

        def forward(self, x):
            h = x.view(x.size(0), -1)
            pad = yingshe.zeros(x.shape[0], 2)
            return yingshe.cat([self.fc(h), pad], 1) + x[:, :1, 0, :].reshape(x.shape[0], 3)[:, :1]

    model = M()
    data = export_bytes(model, yingshe.randn(3, 2, 2, 3), input_names=["x"],
                        dynamic_axes={"x": {0: "n"}})
    for n in (3, 1, 8):
        x = yingshe.randn(n, 2, 2, 3)
        assert_close(ort_run(data, {"x": x.numpy()})[0], eager(model, (x,))[0], f"batch {n}")


def test_positions_from_arange_of_a_dynamic_length_become_a_range():
    class Positional(nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = nn.Embedding(64, 8)
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            t = yingshe.arange(x.shape[1])                     # a constant while tracing
            scale = yingshe.arange(x.shape[1], dtype=yingshe.float32).reshape(1, -1, 1)
            return (self.fc(x) + self.pos(t)) * scale / 10

    yingshe.manual_seed(0)
    model = Positional()
    data = export_bytes(model, yingshe.randn(2, 5, 8), input_names=["x"],
                        dynamic_axes={"x": {0: "b", 1: "t"}})
    assert "Range" in {n.op_type for n in onnx.load_from_string(data).graph.node}
    back = yingshe.onnx.load(data)
    for shape in ((2, 5, 8), (3, 9, 8)):
        x = yingshe.randn(*shape)
        want = eager(model, (x,))[0]
        assert_close(ort_run(data, {"x": x.numpy()})[0], want, f"onnxruntime at {shape}")
        with yingshe.no_grad():
            assert_close(back(x).numpy(), want, f"loaded at {shape}")


def test_an_example_batch_of_one_exports_a_dynamic_batch():
    # torch.onnx.export(model, torch.randn(1, ...), dynamic_axes=...) is the common call;
    # size 1 broadcasts, so the graph is traced at another size
    class M(nn.Module):
        def forward(self, x, y):
            return x.view(x.size(0), -1) * y   # y (b, 1) broadcasts against (b, 6)

    x, y = yingshe.randn(1, 2, 3), yingshe.randn(1, 1)
    data = export_bytes(M(), (x, y), input_names=["x", "y"],
                        dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
    for n in (1, 4):
        x, y = yingshe.randn(n, 2, 3), yingshe.randn(n, 1)
        got = ort_run(data, {"x": x.numpy(), "y": y.numpy()})[0]
        assert_close(got, eager(M(), (x, y))[0], f"batch {n}")


def test_export_of_a_function_nested_outputs_and_keyword_arguments():
    w = yingshe.randn(3, 3)

    def f(x, y, *, scale):
        return {"a": x @ w * scale, "b": (y.exp(), [x + y])}

    x, y = yingshe.randn(2, 3), yingshe.randn(2, 3)
    data = export_bytes(f, (x, y, {"scale": yingshe.tensor(2.0)}),
                        output_names=["a", "b", "c"])
    got = ort_run(data, {"x": x.numpy(), "y": y.numpy(), "scale": np.array(2.0, np.float32)})
    want = [x @ w * 2.0, y.exp(), x + y]
    for g, v in zip(got, want):
        assert_close(g, v.numpy(), "function output")


def test_an_op_without_mapping_is_named_with_the_users_line_and_nothing_is_written(tmp_path):
    def f(x):
        return x.cumprod(0)   # no ONNX op computes a cumulative product
    line = inspect.getsourcelines(f)[1] + 1
    path = tmp_path / "f.onnx"
    with pytest.raises(yingshe.onnx.UnsupportedOnnxOp) as info:
        yingshe.onnx.export(f, yingshe.randn(3), path)
    msg = str(info.value)
    assert "'cumprod'" in msg and f"test_onnx_export_api.py:{line}" in msg
    assert "cumulative product" in msg
    assert isinstance(info.value, NotImplementedError)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_a_failed_export_leaves_an_existing_file_intact(tmp_path):
    path = tmp_path / "m.onnx"
    yingshe.onnx.export(_mlp(), yingshe.randn(2, 4), path)
    before = path.read_bytes()
    with pytest.raises(yingshe.onnx.UnsupportedOnnxOp):
        yingshe.onnx.export(lambda x: x.cumprod(0), yingshe.randn(3), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_the_write_is_atomic_a_crash_before_the_rename_keeps_the_old_file(tmp_path,
                                                                          monkeypatch):
    from yingshe.io import checkpoint
    path = tmp_path / "m.onnx"
    yingshe.onnx.export(_mlp(), yingshe.randn(2, 4), path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before the rename")
    monkeypatch.setattr(checkpoint, "_replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        yingshe.onnx.export(nn.Linear(4, 1), yingshe.randn(2, 4), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]    # the temporary is gone too


def test_every_exported_file_passes_the_full_checker(tmp_path):
    path = tmp_path / "m.onnx"
    yingshe.onnx.export(nn.TransformerEncoderLayer(8, 2, 16), yingshe.randn(5, 2, 8), path,
                        dynamic_axes={"src": {0: "t", 1: "b"}})
    onnx.checker.check_model(str(path), full_check=True)


def test_argument_errors_are_clear():
    x = yingshe.randn(2, 4)
    with pytest.raises(ValueError, match="opset_version must be an int from 17"):
        yingshe.onnx.export(_mlp(), x, None, opset_version=13)
    with pytest.raises(ValueError, match="neither an input"):
        yingshe.onnx.export(_mlp(), x, None, dynamic_axes={"nope": {0: "b"}})
    with pytest.raises(ValueError, match="out of range"):
        yingshe.onnx.export(_mlp(), x, None, input_names=["x"], dynamic_axes={"x": {2: "b"}})
    with pytest.raises(ValueError, match="2 input_names given for 1"):
        yingshe.onnx.export(_mlp(), x, None, input_names=["a", "b"])
    with pytest.raises(TypeError, match="eager tensors"):
        yingshe.onnx.export(_mlp(), G.placeholder(yingshe.float32, [2, 4]), None)
    with pytest.raises(yingshe.onnx.OnnxExportError, match="returned a str"):
        yingshe.onnx.export(lambda t: "x", x, None)


def test_a_size_used_in_a_way_onnx_cannot_compute_is_refused_by_op_and_line():
    def f(x):
        return x.reshape(x.shape[0] // 2, -1)   # half the batch: not an integer multiple
    with pytest.raises(yingshe.onnx.OnnxExportError, match="reshape.*test_onnx_export_api.py"):
        yingshe.onnx.export(f, yingshe.randn(4, 3), None, input_names=["x"],
                            dynamic_axes={"x": {0: "b"}})

    def g(x):
        return x * 2 if x.shape[0] < 5 else x     # a Python branch on the size
    with pytest.raises(yingshe.onnx.OnnxExportError, match="different graph"):
        yingshe.onnx.export(g, yingshe.randn(4, 3), None, input_names=["x"],
                            dynamic_axes={"x": {0: "b"}})


def test_an_in_place_write_through_a_view_is_refused_with_the_line():
    # the tracer does not follow writes through views (yingshe.compile refuses them too);
    # export says so, not that the model reads a value
    def f(x):
        y = x * 2
        y.diagonal().mul_(3)
        return y + 1
    line = inspect.getsourcelines(f)[1] + 2
    buf = io.BytesIO()
    with pytest.raises(yingshe.onnx.OnnxExportError,
                       match=f"cannot be traced: mul_: an in-place write through a view "
                             f".*test_onnx_export_api.py:{line}") as info:
        yingshe.onnx.export(f, yingshe.randn(3, 4), buf)
    assert "reads a tensor's value" not in str(info.value) and buf.getvalue() == b""


def test_python_control_flow_on_a_value_is_refused_with_the_line():
    def f(x):
        if x.sum() > 0:          # needs the value: ONNX has no Python
            return x
        return -x
    line = inspect.getsourcelines(f)[1] + 1
    with pytest.raises(yingshe.onnx.OnnxExportError,
                       match=f"reads a tensor's value in Python .*test_onnx_export_api.py:{line}"):
        yingshe.onnx.export(f, yingshe.randn(3), None)


def test_modules_are_traced_in_eval_mode_and_their_modes_restored():
    yingshe.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9), nn.BatchNorm1d(4))
    model.train()
    x = yingshe.randn(8, 4)
    data = export_bytes(model, x, input_names=["x"])
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    with yingshe.no_grad():
        want = model(x).numpy()   # no dropping, running statistics
    assert_close(ort_run(data, {"x": x.numpy()})[0], want, "eval-mode export")


def test_export_graph_of_a_tf1_session():
    G.reset_default_graph()
    rng = np.random.default_rng(0)
    x = G.placeholder(yingshe.float32, [None, 4], name="features")
    W = G.Variable(yingshe.tensor(rng.standard_normal((4, 3)).astype(np.float32)), name="W")
    b = G.Variable(yingshe.zeros(3), name="b")
    logits = yingshe.matmul(x, W) + b
    probs = yingshe.softmax(logits, 1)
    y = G.placeholder(yingshe.int64, [None], name="labels")   # fed only for the loss
    loss = yingshe.nn.functional.cross_entropy(logits, y)
    train = G.train.GradientDescentOptimizer(0.1).minimize(loss)
    with G.Session() as sess:
        sess.run(G.global_variables_initializer())
        data = rng.standard_normal((6, 4)).astype(np.float32)
        sess.run(train, {x: data, y: np.array([0, 1, 2, 0, 1, 2])})
        buf = io.BytesIO()
        yingshe.onnx.export_graph([probs, logits], [x], buf, output_names=["probs", "logits"])
        for n in (6, 2):
            want = sess.run([probs, logits], {x: data[:n]})
            got = ort_run(buf.getvalue(), {"features": data[:n]})
            for g_, w_ in zip(got, want):
                assert_close(g_, w_, f"graph output at batch {n}")
    proto = onnx.load_from_string(buf.getvalue())
    assert _dims(proto.graph.input[0]) == ["features_dim0", 4]
    assert {t.name for t in proto.graph.initializer} >= {"W", "b"}
    with pytest.raises(yingshe.onnx.OnnxExportError, match="'assign'"):
        yingshe.onnx.export_graph([G.assign(W, W * 2)], [x], None)
    with pytest.raises(TypeError, match="placeholders"):
        yingshe.onnx.export_graph([probs], [logits], None)


def _python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = run_guarded([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                      cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_yingshe_imports_neither_onnx_nor_yingshe_onnx():
    out = _python("import sys, yingshe, yingshe.torch; "
                  "print('onnx' in sys.modules, 'yingshe.onnx' in sys.modules)")
    assert out.split() == ["False", "False"]


def test_the_readme_onnx_example_runs(tmp_path, monkeypatch):
    import re
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
                 if "yingshe.onnx.export" in b)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert tuple(scope["back"](yingshe.randn(32, 1, 28, 28)).shape) == (32, 10)
    assert os.listdir(tmp_path) == ["net.onnx"]


TF1_PROGRAM = '''
import io, sys
import numpy as np
import yingshe.tf as tf
import yingshe.onnx
v1 = tf.compat.v1
v1.disable_eager_execution()
x = v1.placeholder(tf.float32, [None, 3], name="x")
W = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 6, name="W")
y = tf.nn.softmax(tf.matmul(x, W) - 1.0)
with v1.Session() as s:
    s.run(v1.global_variables_initializer())
    buf = io.BytesIO()
    yingshe.onnx.export_graph([y], [x], buf, output_names=["probs"])
    d = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(sys.argv[1] + "/want.npy", s.run(y, {x: d}))
    np.save(sys.argv[1] + "/x.npy", d)
open(sys.argv[1] + "/m.onnx", "wb").write(buf.getvalue())
assert "tensorflow" not in sys.modules
'''


def test_export_graph_of_a_yingshe_tf_compat_v1_session(tmp_path):
    # in its own process: disable_eager_execution() is global to the front-end
    out = run_guarded([sys.executable, "-c", TF1_PROGRAM, str(tmp_path)],
                      capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT),
                      cwd=ROOT)
    assert out.returncode == 0, out.stderr
    x = np.load(tmp_path / "x.npy")
    got = ort_run((tmp_path / "m.onnx").read_bytes(), {"x": x})[0]
    assert_close(got, np.load(tmp_path / "want.npy"), "tf.compat.v1 graph")


def test_a_yingshe_tf_keras_model_exports():
    import yingshe.tf as tf      # the front-end only: real TensorFlow is never imported
    model = tf.keras.Sequential([tf.keras.layers.Dense(4, activation="relu"),
                                 tf.keras.layers.Dropout(0.5), tf.keras.layers.Dense(2)])
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    want = np.asarray(model(x))     # builds the layers; Keras calls run in inference mode
    data = export_bytes(model, yingshe.tensor(x), input_names=["x"],
                        dynamic_axes={"x": {0: "b"}})
    assert_close(ort_run(data, {"x": x})[0], want, "keras model")
    assert "tensorflow" not in sys.modules
