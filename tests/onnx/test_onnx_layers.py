"""Every nn layer that ONNX can express, exported with dynamic axes: onnxruntime on the
example and on a second batch (and sequence) size equals yingshe eager (float32
reference tolerance), and so does the model loaded back with ``yingshe.onnx.load``."""

import collections

import numpy as np
import pytest

import yingshe
import yingshe.onnx
from yingshe import nn
from yingshe.testing.reference import require_module

from onnx_helpers import assert_close, eager, export_bytes, flat, ort_run

onnx = require_module("onnx")
require_module("onnxruntime")


def R(*shape):
    return yingshe.tensor(np.random.default_rng(sum(shape)).standard_normal(shape)
                          .astype(np.float32))


def _batch0(*shapes):
    """(example, second) inputs with a dynamic axis 0."""
    return (tuple(R(*s) for s in shapes), tuple(R(s[0] + 3, *s[1:]) for s in shapes))


def _trained_bn(bn, shape):
    """A BatchNorm/InstanceNorm whose running statistics are not the initial 0/1."""
    bn.train()
    with yingshe.no_grad():
        bn(R(*shape) * 3 + 1)
    return bn


# name, module factory, (example inputs, second inputs), dynamic axes {input index: axes}
LAYERS = [
    ("linear", lambda: nn.Linear(4, 3), _batch0((2, 4)), {0: {0: "b"}}),
    ("linear-3d", lambda: nn.Linear(4, 3), _batch0((2, 5, 4)), {0: {0: "b"}}),
    ("linear-nobias", lambda: nn.Linear(4, 3, bias=False), _batch0((2, 4)), {0: {0: "b"}}),
    ("bilinear", lambda: nn.Bilinear(3, 4, 5), _batch0((2, 3), (2, 4)),
     {0: {0: "b"}, 1: {0: "b"}}),
    ("conv1d", lambda: nn.Conv1d(2, 3, 3, padding=1), _batch0((2, 2, 8)), {0: {0: "b"}}),
    ("conv2d", lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2), _batch0((2, 2, 8, 8)),
     {0: {0: "b"}}),
    ("conv2d-dilated-same", lambda: nn.Conv2d(2, 3, 3, padding="same", dilation=2),
     _batch0((2, 2, 7, 7)), {0: {0: "b"}}),
    ("conv3d", lambda: nn.Conv3d(2, 3, 3, padding=1), _batch0((2, 2, 5, 5, 5)), {0: {0: "b"}}),
    ("conv_transpose1d", lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, output_padding=1),
     _batch0((2, 2, 8)), {0: {0: "b"}}),
    ("conv_transpose2d", lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1,
                                                     output_padding=1),
     _batch0((2, 2, 5, 5)), {0: {0: "b"}}),
    ("conv_transpose3d", lambda: nn.ConvTranspose3d(2, 3, 2, stride=2), _batch0((2, 2, 3, 3, 3)),
     {0: {0: "b"}}),
    ("max_pool1d", lambda: nn.MaxPool1d(2), _batch0((2, 2, 8)), {0: {0: "b"}}),
    ("max_pool2d-ceil-pad", lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
     _batch0((2, 2, 8, 8)), {0: {0: "b"}}),
    ("max_pool2d-indices", lambda: nn.MaxPool2d(2, return_indices=True), _batch0((2, 2, 8, 8)),
     {0: {0: "b"}}),
    ("max_pool3d", lambda: nn.MaxPool3d(2), _batch0((2, 2, 4, 4, 4)), {0: {0: "b"}}),
    ("avg_pool1d", lambda: nn.AvgPool1d(2), _batch0((2, 2, 8)), {0: {0: "b"}}),
    ("avg_pool2d-ceil", lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True),
     _batch0((2, 2, 8, 8)), {0: {0: "b"}}),
    ("avg_pool2d-exclude-pad", lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
     _batch0((2, 2, 8, 8)), {0: {0: "b"}}),
    ("avg_pool3d", lambda: nn.AvgPool3d(2), _batch0((2, 2, 4, 4, 4)), {0: {0: "b"}}),
    ("adaptive_avg_pool1d", lambda: nn.AdaptiveAvgPool1d(4), _batch0((2, 2, 8)), {0: {0: "b"}}),
    ("adaptive_avg_pool2d", lambda: nn.AdaptiveAvgPool2d(3), _batch0((2, 2, 8, 8)),
     {0: {0: "b"}}),
    ("adaptive_max_pool2d", lambda: nn.AdaptiveMaxPool2d(2), _batch0((2, 2, 8, 8)),
     {0: {0: "b"}}),
    ("batch_norm1d", lambda: _trained_bn(nn.BatchNorm1d(3), (6, 3)), _batch0((2, 3)),
     {0: {0: "b"}}),
    ("batch_norm2d", lambda: _trained_bn(nn.BatchNorm2d(3), (6, 3, 4, 4)),
     _batch0((2, 3, 4, 4)), {0: {0: "b"}}),
    ("batch_norm3d", lambda: _trained_bn(nn.BatchNorm3d(2), (4, 2, 3, 3, 3)),
     _batch0((2, 2, 3, 3, 3)), {0: {0: "b"}}),
    ("layer_norm", lambda: nn.LayerNorm(4), _batch0((2, 3, 4)), {0: {0: "b"}}),
    ("layer_norm-2d-no-affine", lambda: nn.LayerNorm((3, 4), elementwise_affine=False),
     _batch0((2, 3, 4)), {0: {0: "b"}}),
    ("group_norm", lambda: nn.GroupNorm(2, 4), _batch0((2, 4, 3)), {0: {0: "b"}}),
    ("instance_norm2d", lambda: nn.InstanceNorm2d(3, affine=True), _batch0((2, 3, 4, 4)),
     {0: {0: "b"}}),
    ("instance_norm1d-running", lambda: _trained_bn(
        nn.InstanceNorm1d(3, track_running_stats=True), (4, 3, 5)), _batch0((2, 3, 5)),
     {0: {0: "b"}}),
    ("dropout", lambda: nn.Dropout(0.5), _batch0((2, 3)), {0: {0: "b"}}),
    ("dropout2d", lambda: nn.Dropout2d(0.5), _batch0((2, 3, 4, 4)), {0: {0: "b"}}),
    ("embedding", lambda: nn.Embedding(5, 3),
     ((yingshe.tensor([[1, 2], [3, 4]]),), (yingshe.tensor([[1, 2], [3, 4], [0, 0]]),)),
     {0: {0: "b"}}),
    ("flatten", lambda: nn.Flatten(), _batch0((2, 3, 4)), {0: {0: "b"}}),
    ("unflatten", lambda: nn.Unflatten(1, (2, 2)), _batch0((2, 4)), {0: {0: "b"}}),
    ("upsample-nearest", lambda: nn.Upsample(scale_factor=2), _batch0((2, 2, 3, 3)),
     {0: {0: "b"}}),
    ("upsample-bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"),
     _batch0((2, 2, 3, 3)), {0: {0: "b"}}),
    ("softmax", lambda: nn.Softmax(1), _batch0((2, 3)), {0: {0: "b"}}),
    ("log_softmax", lambda: nn.LogSoftmax(-1), _batch0((2, 3)), {0: {0: "b"}}),
    ("softmin", lambda: nn.Softmin(1), _batch0((2, 3)), {0: {0: "b"}}),
    ("lstm-2layer-bidirectional", lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True),
     ((R(5, 2, 3),), (R(7, 4, 3),)), {0: {0: "t", 1: "b"}}),
    ("lstm-batch-first-states", lambda: nn.LSTM(3, 4, batch_first=True),
     ((R(2, 5, 3), (R(1, 2, 4), R(1, 2, 4))), (R(4, 6, 3), (R(1, 4, 4), R(1, 4, 4)))),
     {0: {0: "b", 1: "t"}, 1: {1: "b"}, 2: {1: "b"}}),
    ("gru-batch-first", lambda: nn.GRU(3, 4, batch_first=True), ((R(2, 5, 3),), (R(4, 6, 3),)),
     {0: {0: "b", 1: "t"}}),
    ("gru-bidirectional-nobias", lambda: nn.GRU(3, 4, bidirectional=True, bias=False),
     ((R(5, 2, 3),), (R(6, 3, 3),)), {0: {0: "t", 1: "b"}}),
    ("rnn-tanh", lambda: nn.RNN(3, 4), ((R(5, 2, 3),), (R(6, 3, 3),)), {0: {0: "t", 1: "b"}}),
    ("rnn-relu-2layer", lambda: nn.RNN(3, 4, 2, nonlinearity="relu"),
     ((R(5, 2, 3),), (R(6, 3, 3),)), {0: {0: "t", 1: "b"}}),
    ("lstm_cell", lambda: nn.LSTMCell(3, 4), _batch0((2, 3)), {0: {0: "b"}}),
    ("gru_cell", lambda: nn.GRUCell(3, 4), _batch0((2, 3)), {0: {0: "b"}}),
    ("rnn_cell", lambda: nn.RNNCell(3, 4), _batch0((2, 3)), {0: {0: "b"}}),
    ("multihead_attention", lambda: nn.MultiheadAttention(8, 2),
     ((R(5, 2, 8), R(6, 2, 8), R(6, 2, 8)), (R(4, 3, 8), R(7, 3, 8), R(7, 3, 8))),
     {0: {0: "l", 1: "b"}, 1: {0: "s", 1: "b"}, 2: {0: "s", 1: "b"}}),
    ("multihead_attention-batch-first-kdim", lambda: nn.MultiheadAttention(
        8, 4, batch_first=True, kdim=6, vdim=5),
     ((R(2, 5, 8), R(2, 3, 6), R(2, 3, 5)), (R(3, 4, 8), R(3, 2, 6), R(3, 2, 5))),
     {0: {0: "b", 1: "l"}, 1: {0: "b", 1: "s"}, 2: {0: "b", 1: "s"}}),
    ("transformer_encoder_layer", lambda: nn.TransformerEncoderLayer(8, 2, 16),
     ((R(5, 2, 8),), (R(7, 3, 8),)), {0: {0: "t", 1: "b"}}),
    ("transformer_encoder-bf-gelu-norm-first", lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, activation="gelu",
                                   norm_first=True), 2),
     ((R(2, 5, 8),), (R(3, 7, 8),)), {0: {0: "b", 1: "t"}}),
]
ACTIVATIONS = [nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.2), nn.ELU(0.5), nn.CELU(1.5), nn.SELU(),
               nn.GELU(), nn.GELU("tanh"), nn.SiLU(), nn.Mish(), nn.Sigmoid(), nn.Tanh(),
               nn.Softplus(2.0, 3.0), nn.Softsign(), nn.Hardtanh(-0.5, 0.5), nn.Hardsigmoid(),
               nn.Hardswish(), nn.LogSigmoid(), nn.Tanhshrink(), nn.Threshold(0.1, 2.0)]
LAYERS += [(f"activation-{type(a).__name__}-{i}", (lambda a=a: a), _batch0((2, 3, 4)),
            {0: {0: "b"}}) for i, a in enumerate(ACTIVATIONS)]


def _names(n):
    return [f"in{i}" for i in range(n)]


def _flat_inputs(args):
    out = []
    for a in args:
        out.extend(a if isinstance(a, tuple) else (a,))
    return out


@pytest.mark.parametrize("name,factory,inputs,dyn", LAYERS, ids=[x[0] for x in LAYERS])
def test_layer_exports_runs_in_onnxruntime_and_loads_back(name, factory, inputs, dyn):
    yingshe.manual_seed(0)
    model = factory()
    example, second = inputs
    names = _names(len(_flat_inputs(example)))
    dynamic = {names[i]: axes for i, axes in dyn.items()}
    data = export_bytes(model, example, input_names=names, dynamic_axes=dynamic)
    back = yingshe.onnx.load(data)
    for args in (example, second):
        want = eager(model, args)
        feeds = {n: t.numpy() for n, t in zip(names, _flat_inputs(args))}
        got = ort_run(data, feeds)
        assert len(got) == len(want), f"{name}: {len(got)} outputs, eager has {len(want)}"
        for k, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{name} onnxruntime output {k} at shapes "
                               f"{[v.shape for v in feeds.values()]}")
        with yingshe.no_grad():
            loaded = flat(back(*_flat_inputs(args)))
        for k, (g, w) in enumerate(zip(loaded, want)):
            assert_close(g, w, f"{name} loaded output {k}")


def _ops(model_proto) -> collections.Counter:
    return collections.Counter(n.op_type for n in model_proto.graph.node)


def test_recurrent_layers_are_onnx_recurrent_ops_with_mapped_gates():
    # the ONNX LSTM/GRU/RNN ops compute the layer (onnxruntime's result is compared with
    # yingshe's above); here: one op per layer and direction, PyTorch's GRU form
    for layer, op, count in ((nn.LSTM(3, 4, 2, bidirectional=True), "LSTM", 4),
                             (nn.GRU(3, 4), "GRU", 1), (nn.RNN(3, 4, 3), "RNN", 3)):
        proto = yingshe.onnx.export(layer, R(5, 2, 3), None)
        assert _ops(proto)[op] == count
        assert "MatMul" not in _ops(proto) and "Gemm" not in _ops(proto)
        for n in proto.graph.node:
            if n.op_type == "GRU":
                attrs = {a.name: a for a in n.attribute}
                assert attrs["linear_before_reset"].i == 1


def test_layer_export_uses_the_onnx_normalization_ops():
    cases = [(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), R(2, 1, 5, 5),
              "BatchNormalization"),
             (nn.LayerNorm(4), R(2, 4), "LayerNormalization"),
             (nn.TransformerEncoderLayer(8, 2, 16), R(5, 2, 8), "LayerNormalization")]
    for model, x, op in cases:
        assert _ops(yingshe.onnx.export(model, x, None))[op] >= 1


@pytest.mark.parametrize("opset", [17, 18, 21, "max"])
def test_models_export_at_each_supported_opset(opset):
    opset = yingshe.onnx._common.max_opset() if opset == "max" else opset
    yingshe.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(18, 4), nn.LayerNorm(4), nn.Softmax(1))
    x = R(2, 1, 5, 5)
    proto = yingshe.onnx.export(model, x, None, opset_version=opset)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", opset)]
    onnx.checker.check_model(proto, full_check=True)
    got = ort_run(proto, {"input": x.numpy()})
    assert_close(got[0], eager(model, (x,))[0], f"opset {opset}")
