"""yingshe.onnx.load: a callable nn.Module running ONNX on yingshe ops (eagerly, compiled,
trainable), never importing onnxruntime; unsupported ops refused by name; malformed and
hostile files refused with a clear error, no crash and no huge allocation."""

import os
import sys

import numpy as np
import pytest

import yingshe
import yingshe.onnx
from yingshe import nn
from yingshe.testing.hang import run_guarded
from yingshe.testing.reference import require_module

from onnx_helpers import assert_close, export_bytes, ort_run

onnx = require_module("onnx")
require_module("onnxruntime")
helper, TP = onnx.helper, onnx.TensorProto

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
Err = yingshe.onnx.OnnxImportError


def _model(nodes, inputs, outputs, inits=(), opset=18, **kw):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], **kw)


def _vi(name, shape, t=TP.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def _tensor(name, dtype, dims, raw=None, float_data=None):
    """A TensorProto built field by field (onnx.helper refuses inconsistent ones)."""
    t = TP()
    t.name, t.data_type = name, dtype
    t.dims.extend(dims)
    if raw is not None:
        t.raw_data = raw
    if float_data is not None:
        t.float_data.extend(float_data)
    return t


def _bytes(m) -> bytes:
    return m.SerializeToString()


def _mlp_bytes():
    yingshe.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    return model, export_bytes(model, yingshe.randn(2, 4), input_names=["x"],
                               dynamic_axes={"x": {0: "b"}})


# ---- the module ---------------------------------------------------------------------------------

def test_loaded_model_is_a_module_with_the_weights_as_named_parameters(tmp_path):
    model, data = _mlp_bytes()
    path = tmp_path / "mlp.onnx"
    path.write_bytes(data)
    for source in (path, str(path), data, open(path, "rb")):
        back = yingshe.onnx.load(source)
        assert isinstance(back, nn.Module) and isinstance(back, yingshe.onnx.OnnxModule)
    assert back.input_names == ["x"] and back.output_names == ["output"]
    assert set(back.state_dict()) == set(model.state_dict())
    back.load_state_dict(model.state_dict())         # PyTorch-style keys round-trip
    x = yingshe.randn(5, 4)
    with yingshe.no_grad():
        assert_close(back(x).numpy(), model(x).numpy(), "loaded", kind="graph")
        assert_close(back(x=x).numpy(), model(x).numpy(), "by name", kind="graph")
        assert_close(back(x.numpy()).numpy(), model(x).numpy(), "array input", kind="graph")


def test_loaded_model_trains_and_compiles():
    model, data = _mlp_bytes()
    back = yingshe.onnx.load(data)
    x, y = yingshe.randn(16, 4), yingshe.randn(16, 3)
    opt = yingshe.optim.SGD(back.parameters(), lr=0.1)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((back(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    compiled = yingshe.compile(back)
    with yingshe.no_grad():
        assert_close(compiled(x).numpy(), back(x).numpy(), "compiled", kind="graph")


def test_wrong_inputs_are_named():
    _, data = _mlp_bytes()
    back = yingshe.onnx.load(data)
    with pytest.raises(TypeError, match="input 'x' must be float32, got float64"):
        back(yingshe.randn(2, 4, dtype=yingshe.float64))
    with pytest.raises(ValueError, match=r"input 'x' must have shape \('\?', 4\), got \(2, 5\)"):
        back(yingshe.randn(2, 5))
    with pytest.raises(TypeError, match="missing input 'x'"):
        back()
    with pytest.raises(TypeError, match="unexpected or repeated input 'y'"):
        back(y=yingshe.randn(2, 4))


def test_load_never_imports_onnxruntime(tmp_path):
    _, data = _mlp_bytes()
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    code = ("import sys, yingshe, yingshe.onnx; "
            f"m = yingshe.onnx.load({str(path)!r}); m(yingshe.randn(2, 4)); "
            "print('onnxruntime' in sys.modules)")
    out = run_guarded([sys.executable, "-c", code], capture_output=True, text=True,
                      env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]


def test_a_graph_of_shape_arithmetic_runs_eagerly_and_compiled():
    # PyTorch's dynamo=False exporter computes reshape targets with Shape/Gather/Concat
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["y"])]
    inits = [onnx.numpy_helper.from_array(np.asarray(0, np.int64), "zero"),
             onnx.numpy_helper.from_array(np.asarray([0], np.int64), "ax0"),
             onnx.numpy_helper.from_array(np.asarray([-1], np.int64), "minus1"),
             onnx.numpy_helper.from_array(np.ones((6, 2), np.float32), "w")]
    m = _model(nodes, [_vi("x", ["n", 2, 3])], [_vi("y", ["n", 2])], inits)
    back = yingshe.onnx.load(_bytes(m))
    x = yingshe.randn(4, 2, 3)
    want = ort_run(m, {"x": x.numpy()})[0]
    with yingshe.no_grad():
        assert_close(back(x).detach().numpy(), want, "eager")
        assert_close(yingshe.compile(back)(x).numpy(), want, "compiled")


# ---- refusals -----------------------------------------------------------------------------------

def test_unsupported_ops_and_domains_are_refused_by_name():
    nodes = [helper.make_node("NonMaxSuppression", ["x", "x"], ["y"]),
             helper.make_node("Hardmax", ["x"], ["z"])]
    m = _model(nodes, [_vi("x", [1, 2])], [_vi("y", None), _vi("z", None)])
    with pytest.raises(yingshe.onnx.UnsupportedOnnxImport,
                       match="not supported by yingshe: Hardmax, NonMaxSuppression"):
        yingshe.onnx.load(_bytes(m))
    m = _model([helper.make_node("FusedGemm", ["x"], ["y"], domain="com.microsoft")],
               [_vi("x", [1])], [_vi("y", [1])])
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(yingshe.onnx.UnsupportedOnnxImport, match="domain 'com.microsoft'"):
        yingshe.onnx.load(_bytes(m))
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [1])], [_vi("y", [1])],
               opset=11)
    with pytest.raises(Err, match="opset 11 is not supported"):
        yingshe.onnx.load(_bytes(m))


def test_unsupported_attribute_values_are_refused_by_name():
    m = _model([helper.make_node("ArgMax", ["x"], ["y"], select_last_index=1)],
               [_vi("x", [2, 3])], [_vi("y", None, TP.INT64)])
    back = yingshe.onnx.load(_bytes(m))
    with pytest.raises(Err, match="ArgMax.*select_last_index=1"):
        back(yingshe.randn(2, 3))
    m = _model([helper.make_node("Relu", ["x"], ["y"], mystery=3)], [_vi("x", [1])],
               [_vi("y", [1])])
    with pytest.raises(Err, match="attribute 'mystery' is not supported"):
        yingshe.onnx.load(_bytes(m))


# ---- malformed and hostile files ----------------------------------------------------------------

def test_truncated_files_are_refused_at_every_length():
    _, data = _mlp_bytes()
    rng = np.random.default_rng(0)
    for cut in sorted(set(rng.integers(1, len(data), 40).tolist()) | {0, 1, 8, len(data) - 1}):
        try:
            back = yingshe.onnx.load(data[:cut])
        except Err:
            continue
        # a cut exactly at a field boundary can leave a smaller valid model: it must run
        # or refuse cleanly, never crash
        try:
            back(yingshe.randn(2, 4))
        except (Err, TypeError, ValueError, RuntimeError):
            pass


def test_garbage_and_other_protobufs_are_refused():
    for data in (b"", b"\x00" * 64, os.urandom(256), b"not an onnx file at all",
                 _bytes(onnx.numpy_helper.from_array(np.ones(3, np.float32), "t"))):
        with pytest.raises(Err):
            yingshe.onnx.load(data)


def test_a_huge_declared_size_is_refused_before_any_allocation():
    t = _tensor("w", TP.FLOAT, [1 << 20, 1 << 20], raw=b"\x00" * 16)
    m = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [1])],
               [_vi("y", None)], [t])
    with pytest.raises(Err, match=r"declares shape \[1048576, 1048576\].*holds 16 bytes"):
        yingshe.onnx.load(_bytes(m))
    t = _tensor("w", TP.FLOAT, [1 << 40], float_data=[1.0, 2.0])
    m = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [1])],
               [_vi("y", None)], [t])
    with pytest.raises(Err, match=r"1099511627776 elements\) but holds 2 values"):
        yingshe.onnx.load(_bytes(m))
    # a size asked for at run time
    shape = onnx.numpy_helper.from_array(np.asarray([1 << 30, 1 << 30], np.int64), "shape")
    m = _model([helper.make_node("ConstantOfShape", ["shape"], ["z"]),
                helper.make_node("Add", ["x", "z"], ["y"])],
               [_vi("x", [1])], [_vi("y", None)], [shape])
    back = yingshe.onnx.load(_bytes(m))
    with pytest.raises(Err, match="ConstantOfShape.*refused"):
        back(yingshe.ones(1))
    big = onnx.numpy_helper.from_array(np.asarray([0, 1 << 40, 0, 0], np.int64), "pads")
    m = _model([helper.make_node("Pad", ["x", "pads"], ["y"])], [_vi("x", [1, 1])],
               [_vi("y", None)], [big])
    with pytest.raises(Err, match="Pad.*refused"):
        yingshe.onnx.load(_bytes(m))(yingshe.ones(1, 1))
    shape = onnx.numpy_helper.from_array(np.asarray([2.0, -1.0], np.float32), "shape")
    m = _model([helper.make_node("Reshape", ["x", "shape"], ["y"])], [_vi("x", [2, 2])],
               [_vi("y", None)], [shape])
    with pytest.raises(Err, match="the target shape must be an integer tensor, got float32"):
        yingshe.onnx.load(_bytes(m))(yingshe.ones(2, 2))


def test_wrong_types_are_refused():
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], strides=[1.5, 1.5])],
               [_vi("x", [1, 1, 3, 3]), _vi("w", [1, 1, 1, 1])], [_vi("y", None)])
    with pytest.raises(Err, match="attribute 'strides' must be of type 'ints', got FLOATS"):
        yingshe.onnx.load(_bytes(m))
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [1], TP.STRING)],
               [_vi("y", [1])])
    with pytest.raises(Err, match="input 'x': element type string is not supported"):
        yingshe.onnx.load(_bytes(m))
    t = _tensor("w", TP.COMPLEX64, [1], float_data=[1.0, 0.0])
    m = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [1])],
               [_vi("y", None)], [t])
    with pytest.raises(Err, match="initializer 'w': element type complex64"):
        yingshe.onnx.load(_bytes(m))


def test_cycles_undefined_values_and_redefinitions_are_refused():
    m = _model([helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])],
               [_vi("x", [1])], [_vi("b", [1])])
    with pytest.raises(Err, match="cycle"):
        yingshe.onnx.load(_bytes(m))
    m = _model([helper.make_node("Relu", ["ghost"], ["y"])], [_vi("x", [1])], [_vi("y", [1])])
    with pytest.raises(Err, match="'ghost' is not defined"):
        yingshe.onnx.load(_bytes(m))
    m = _model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])],
               [_vi("x", [1])], [_vi("y", [1])])
    with pytest.raises(Err, match="'y' is defined twice"):
        yingshe.onnx.load(_bytes(m))
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [1])], [_vi("z", [1])])
    with pytest.raises(Err, match="output 'z' is not computed"):
        yingshe.onnx.load(_bytes(m))


def test_an_error_while_running_names_the_onnx_node():
    m = _model([helper.make_node("MatMul", ["x", "w"], ["y"], name="proj")],
               [_vi("x", [2, 3]), _vi("w", [4, 5])], [_vi("y", None)])
    back = yingshe.onnx.load(_bytes(m))
    with pytest.raises(yingshe.ShapeError, match=r"in ONNX node 'proj' \(MatMul\): matmul"):
        back(yingshe.randn(2, 3), yingshe.randn(4, 5))


def test_nodes_out_of_order_are_sorted():
    m = _model([helper.make_node("Neg", ["a"], ["y"]), helper.make_node("Relu", ["x"], ["a"])],
               [_vi("x", [3])], [_vi("y", [3])])
    x = yingshe.randn(3)
    assert_close(yingshe.onnx.load(_bytes(m))(x).numpy(), -np.maximum(x.numpy(), 0), "sorted")


def _external_model(folder, location, offset=0, length=None, n=4):
    t = onnx.numpy_helper.from_array(np.zeros(n, np.float32), "w")
    t.ClearField("raw_data")
    t.data_location = TP.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset))) + \
            ((("length", str(length)),) if length is not None else ()):
        e = t.external_data.add()
        e.key, e.value = k, v
    m = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [n])], [_vi("y", [n])],
               [t])
    path = os.path.join(folder, "m.onnx")
    with open(path, "wb") as fh:
        fh.write(_bytes(m))
    return path


def test_external_data_inside_the_folder_loads_and_outside_is_refused(tmp_path):
    inner = tmp_path / "model"
    inner.mkdir()
    (inner / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 16)
    back = yingshe.onnx.load(_external_model(inner, "w.bin", length=16))
    assert_close(back(yingshe.zeros(4)).detach().numpy(), np.arange(4, dtype=np.float32), "ext")
    for loc in ("../secret.bin", str(tmp_path / "secret.bin"), "sub/../../secret.bin"):
        with pytest.raises(Err, match="outside the model's folder|invalid external data"):
            yingshe.onnx.load(_external_model(inner, loc))
    os.symlink(tmp_path / "secret.bin", inner / "link.bin")
    with pytest.raises(Err, match="outside the model's folder"):
        yingshe.onnx.load(_external_model(inner, "link.bin"))
    with pytest.raises(Err, match="holds 8 bytes"):
        yingshe.onnx.load(_external_model(inner, "w.bin", length=8))
    with pytest.raises(Err, match="offset 8 of an external file of 16 bytes"):
        yingshe.onnx.load(_external_model(inner, "w.bin", offset=8))
    with pytest.raises(Err, match="cannot read external data"):
        yingshe.onnx.load(_external_model(inner, "missing.bin"))
    with open(_external_model(inner, "w.bin"), "rb") as fh:
        with pytest.raises(Err, match="no folder"):
            yingshe.onnx.load(fh.read())


@pytest.mark.parametrize("mode,coord,nearest", [
    ("nearest", "asymmetric", "floor"), ("nearest", "half_pixel", "round_prefer_floor"),
    ("nearest", "align_corners", "round_prefer_ceil"), ("nearest", "asymmetric", "ceil"),
    ("linear", "half_pixel", None), ("linear", "pytorch_half_pixel", None),
    ("linear", "align_corners", None), ("linear", "asymmetric", None)])
@pytest.mark.parametrize("by", ["scales", "sizes"])
def test_resize_matches_onnxruntime(mode, coord, nearest, by):
    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    if nearest:
        attrs["nearest_mode"] = nearest
    if by == "scales":
        extra = [onnx.numpy_helper.from_array(np.asarray([1, 1, 2.5, 0.5], np.float32), "s")]
        ins = ["x", "", "s"]
    else:
        extra = [onnx.numpy_helper.from_array(np.asarray([2, 3, 7, 2], np.int64), "s")]
        ins = ["x", "", "", "s"]
    m = _model([helper.make_node("Resize", ins, ["y"], **attrs)], [_vi("x", [2, 3, 4, 5])],
               [_vi("y", None)], extra)
    x = yingshe.randn(2, 3, 4, 5)
    want = ort_run(m, {"x": x.numpy()})[0]
    assert_close(yingshe.onnx.load(_bytes(m))(x).detach().numpy(), want, "Resize")
