"""ONNX mappings of the layers' ops: linear algebra, convolution, pooling, normalisation,
softmax, dropout, embedding and the fused recurrent layers.

Recurrent layers become ONNX's own ``LSTM``/``GRU``/``RNN``. yingshe runs a layer as
``linear`` (the input projection of every step) then ``lstm_layer`` (the recurrence);
when the projection is a ``linear`` of weights, its weight and bias become the ONNX op's
``W`` and ``B`` (the ``linear`` node is then dead and dropped). Gate order is mapped:
PyTorch's LSTM i, f, g, o is ONNX's i, o, f, c; GRU r, z, n is z, r, h, with
``linear_before_reset=1`` (PyTorch's ``r * (W_hn h + b_hn)``).
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe.graph.ir import Symbol
from yingshe.onnx._builder import Dim
from yingshe.onnx._export import Call, exports

# ---- linear algebra -----------------------------------------------------------------------------


@exports("matmul")
def matmul(c: Call):
    """MatMul"""
    return c.b.op("MatMul", [c.x(0), c.x(1)])


@exports("linear")
def linear(c: Call):
    """Gemm (2-d input) or MatMul + Add"""
    b = c.b
    has_bias = len(c.inputs) > 2 and c.inputs[2] is not None
    if c.ndim(0) == 2 and (not has_bias or c.ndim(2) <= 1):
        ins = [c.x(0), c.x(1)] + ([c.x(2)] if has_bias else [])
        return b.op("Gemm", ins, transB=1)
    static = c.static(1)
    wt = b.initializer(static.T, c.hint(1)) if static is not None else \
        b.op("Transpose", [c.x(1)], perm=[1, 0])
    y = b.op("MatMul", [c.x(0), wt])
    return b.op("Add", [y, c.x(2)]) if has_bias else y


@exports("einsum")
def einsum(c: Call):
    """Einsum (operands whose size-1 dims broadcast are Expanded first)"""
    eq = c.attrs["equation"]
    subs = eq.split("->")[0].split(",")
    sizes: dict = {}
    for i, t in enumerate(subs):
        for letter, d in zip(t, c.dims(i)):
            if d != 1:
                sizes.setdefault(letter, d)
    ins = []
    for i, t in enumerate(subs):
        x = c.x(i)
        dims = c.dims(i)
        want = [sizes.get(letter, 1) if d == 1 else d for letter, d in zip(t, dims)]
        if list(want) != list(dims):   # ONNX broadcasts only the ellipsis' dims
            x = c.b.op("Expand", [x, c.b.shape_tensor(want)])
        ins.append(x)
    return c.b.op("Einsum", ins, equation=eq)


# ---- convolution --------------------------------------------------------------------------------

def _conv_pads(padding) -> list:
    return [p[0] for p in padding] + [p[1] for p in padding]


def _conv(c: Call):
    ins = [c.x(0), c.x(1)]
    if len(c.inputs) > 2 and c.inputs[2] is not None:
        ins.append(c.x(2))
    return c.b.op("Conv", ins, strides=list(c.attrs["stride"]),
                  pads=_conv_pads(c.attrs["padding"]), dilations=list(c.attrs["dilation"]),
                  group=c.attrs["groups"])


exports("conv2d", onnx="Conv")(_conv)
exports("conv3d", onnx="Conv")(_conv)


def _conv_transpose(size_attr: str):
    def emit(c: Call):
        ins = [c.x(0), c.x(1)]
        if len(c.inputs) > 2 and c.inputs[2] is not None:
            ins.append(c.x(2))
        stride, dil = c.attrs["stride"], c.attrs["dilation"]
        padding = c.attrs["padding"]
        dims, kdims = c.dims(0), c.dims(1)
        extra = []
        for i, want in enumerate(c.attrs[size_attr]):
            n, k = dims[2 + i], kdims[2 + i]
            if isinstance(n, Dim) or isinstance(want, Dim):
                raise c.error("a dynamic spatial size is not supported")
            extra.append(want - ((n - 1) * stride[i] + dil[i] * (k - 1) + 1
                                 - padding[i][0] - padding[i][1]))
        return c.b.op("ConvTranspose", ins, strides=list(stride), pads=_conv_pads(padding),
                      dilations=list(dil), group=c.attrs["groups"],
                      output_padding=extra if any(extra) else None)
    emit.__doc__ = "ConvTranspose (output_padding from the output size)"
    return emit


exports("conv_transpose2d")(_conv_transpose("out_hw"))
exports("conv_transpose3d")(_conv_transpose("out_dhw"))


# ---- pooling ------------------------------------------------------------------------------------

def _geometry(c: Call, dilation):
    """(pads begin + end, ceil_mode, exact): the end pads take the windows that PyTorch's
    ceil_mode lets run past the input, computed with the op's own geometry rule."""
    from yingshe.ops.nn import _pool_geometry
    k, s, p = c.attrs["kernel_size"], c.attrs["stride"], c.attrs["padding"]
    shape = tuple(None if isinstance(d, Dim) else d for d in c.dims(0))
    if None in shape[2:]:
        # a dynamic spatial size: ONNX's own ceil rule (the same unless a last window
        # would start in the end padding)
        return list(p) + list(p), int(bool(c.attrs["ceil_mode"])), False
    _, pads = _pool_geometry(c.opname, shape, k, s, p, dilation, c.attrs["ceil_mode"])
    return [a for a, _ in pads] + [e for _, e in pads], 0, True


def _max_pool(c: Call, with_indices: bool):
    b = c.b
    k, s, d = c.attrs["kernel_size"], c.attrs["stride"], c.attrs["dilation"]
    pads, ceil, _ = _geometry(c, d)
    attrs = dict(kernel_shape=list(k), strides=list(s), pads=pads, dilations=list(d),
                 ceil_mode=ceil)
    if not with_indices:      # the hidden window positions are for the VJP only
        return b.op("MaxPool", [c.x()], **attrs), None
    vals, idx = b.op("MaxPool", [c.x()], outputs=2, **attrs)
    # ONNX counts indices over the whole tensor, PyTorch within each plane
    plane = b.prod(c.dims(0)[2:])
    idx = b.op("Mod", [idx, b.op("Squeeze", [b.dim_tensor(plane), b.ints([0])])
                       if isinstance(plane, Dim) else b.const(np.asarray(plane, np.int64))])
    return vals, idx, None


def max_pool(c: Call):
    """MaxPool"""
    return _max_pool(c, False)


def max_pool_with_indices(c: Call):
    """MaxPool with its Indices output (Mod by the plane size: PyTorch's per-plane indices)"""
    return _max_pool(c, True)


exports("max_pool2d", "max_pool3d")(max_pool)
exports("max_pool2d_with_indices", "max_pool3d_with_indices")(max_pool_with_indices)


@exports("avg_pool2d", "avg_pool3d")
def avg_pool(c: Call):
    """AveragePool (PyTorch's divisor where it differs from ONNX's)"""
    b = c.b
    k, s = c.attrs["kernel_size"], c.attrs["stride"]
    nd = len(k)
    pads, ceil, exact = _geometry(c, (1,) * nd)
    include, override = c.attrs["count_include_pad"], c.attrs["divisor_override"]
    plain = pads[nd:] == list(c.attrs["padding"])
    if not include or (plain and not override):
        return b.op("AveragePool", [c.x()], kernel_shape=list(k), strides=list(s),
                    pads=pads, ceil_mode=ceil, count_include_pad=int(bool(include)))
    if not exact:
        raise c.error("count_include_pad with ceil_mode (or divisor_override) needs fixed "
                      "spatial sizes")
    # window sums (zero padding), divided by PyTorch's divisor for each window
    area = int(np.prod(k))
    sums = b.op("Mul", [b.op("AveragePool", [c.x()], kernel_shape=list(k),
                             strides=list(s), pads=pads, count_include_pad=1),
                        b.scalar(area, c.out_dtype())])
    dims = c.dims(0)
    out = [(len(range(-p0, n + p1 - kk + 1, ss)))
           for n, kk, ss, p0, p1 in zip(dims[2:], k, s, pads[:nd], pads[nd:])]
    from yingshe.ops._pool import _avg_divisor
    div = _avg_divisor(dims, k, s, c.attrs["padding"], out, include, override,
                       c.out_dtype().np)
    return b.op("Div", [sums, b.const(np.asarray(div))])


# ---- normalisation ------------------------------------------------------------------------------

@exports("norm_moments")
def norm_moments(c: Call):
    """ReduceMean, Sub, Mul, ReduceMean (mean and biased variance)"""
    b = c.b
    x, dims = c.x(), tuple(c.attrs["dim"])
    mean = b.reduce("ReduceMean", x, dims, True)
    d = b.op("Sub", [x, mean])
    return mean, b.reduce("ReduceMean", b.op("Mul", [d, d]), dims, True)


def _producer(c: Call, i: int):
    x = c.node.inputs[i]
    return x._gnode if isinstance(x, Symbol) else None


def _layer_norm(c: Call, dt):
    """LayerNormalization when the statistics are the input's own over its trailing
    dims and the weight and bias have the normalized shape; else None."""
    m = _producer(c, 1)
    x = c.node.inputs[0]
    if (m is None or m.kind != "op" or m.op.name != "norm_moments" or _producer(c, 2) is not m
            or c.node.inputs[1]._out_index != 0 or c.node.inputs[2]._out_index != 1
            or m.inputs[0] is not x and (m.inputs[0]._gnode is not x._gnode
                                         or m.inputs[0]._out_index != x._out_index)):
        return None
    nd = c.ndim(0)
    axes = tuple(sorted(m.attrs["dim"]))
    if not axes or axes != tuple(range(axes[0], nd)):
        return None
    norm_shape = c.dims(0)[axes[0]:]
    if any(isinstance(d, Dim) for d in norm_shape):
        return None
    affine = c.attrs["affine"]
    wb = list(range(3, len(c.inputs)))
    for i in wb:
        if tuple(c.dims(i))[-len(norm_shape):] != tuple(norm_shape) or \
                any(d != 1 for d in c.dims(i)[:-len(norm_shape)]):
            return None
    b = c.b
    ins = [c.x(0)]
    shape_only = b.ints(list(norm_shape))
    scale = c.x(3) if affine[0] else b.const(np.ones(norm_shape, dt.np))
    ins.append(scale if c.ndim(3 if affine[0] else 0) == len(norm_shape) or not affine[0]
               else b.op("Reshape", [scale, shape_only]))
    if affine[1]:
        j = wb[-1]
        bias = c.x(j)
        ins.append(bias if c.ndim(j) == len(norm_shape) else
                   b.op("Reshape", [bias, shape_only]))
    return b.op("LayerNormalization", ins, axis=axes[0], epsilon=float(c.attrs["eps"]))


def _batch_norm(c: Call, dt):
    """BatchNormalization when the statistics are weights or constants of shape
    (1, C, 1, ...) (inference BatchNorm, or InstanceNorm's running statistics)."""
    mean, var = c.static(1), c.static(2)
    nd = c.ndim(0)
    if mean is None or var is None or nd < 2:
        return None
    C = c.dims(0)[1]
    want = (1, C) + (1,) * (nd - 2)
    for v in [mean, var] + [c.static(i) for i in range(3, len(c.inputs))]:
        if v is None or tuple(v.shape) != want:
            return None
    affine = c.attrs["affine"]
    b = c.b
    wb = [c.static(i) for i in range(3, len(c.inputs))]
    scale = wb[0] if affine[0] else np.ones(C, dt.np)
    bias = wb[-1] if affine[1] else np.zeros(C, dt.np)
    names = [c.hint(3) if affine[0] else "scale", c.hint(len(c.inputs) - 1)
             if affine[1] else "bias", c.hint(1, "mean"), c.hint(2, "var")]
    ins = [c.x(0)] + [b.initializer(np.asarray(v, dt.np).reshape(C), n)
                      for v, n in zip((scale, bias, mean, var), names)]
    return b.op("BatchNormalization", ins, epsilon=float(c.attrs["eps"]))


@exports("batch_norm")
def batch_norm(c: Call):
    """ReduceMean over every dim but the channels (the batch's statistics), then as
    norm_apply; the statistics as (C,) outputs"""
    b, dt = c.b, c.out_dtype()
    x, nd = c.x(), c.ndim(0)
    axes = (0,) + tuple(range(2, nd))
    mean = b.reduce("ReduceMean", x, axes, True)
    xc = b.op("Sub", [x, mean])
    var = b.reduce("ReduceMean", b.op("Mul", [xc, xc]), axes, True)
    inv = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [var, b.scalar(c.attrs["eps"], dt)])])])
    y = b.op("Mul", [xc, inv])
    shape = b.ints([1, -1] + [1] * (nd - 2))
    affine = c.attrs["affine"]
    if affine[0]:
        y = b.op("Mul", [y, b.op("Reshape", [c.x(1), shape])])
    if affine[1]:
        y = b.op("Add", [y, b.op("Reshape", [c.x(len(c.inputs) - 1), shape])])
    flat = b.ints([-1])
    return (y, b.op("Reshape", [mean, flat]), b.op("Reshape", [var, flat]), None, None)


@exports("norm_apply")
def norm_apply(c: Call):
    """LayerNormalization, BatchNormalization, or (x - mean) / Sqrt(var + eps) * w + b"""
    dt = c.out_dtype()
    out = _layer_norm(c, dt) or _batch_norm(c, dt)
    if out is not None:
        return out, None
    b = c.b
    x, mean, var = c.x(0), c.x(1), c.x(2)
    inv = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [var, b.scalar(c.attrs["eps"], dt)])])])
    y = b.op("Mul", [b.op("Sub", [x, mean]), inv])
    affine = c.attrs["affine"]
    if affine[0]:
        y = b.op("Mul", [y, c.x(3)])
    if affine[1]:
        y = b.op("Add", [y, c.x(len(c.inputs) - 1)])
    return y, None


# ---- softmax, dropout, embedding ----------------------------------------------------------------

def _softmax(onnx_op: str):
    def emit(c: Call):
        if c.attrs["dim"] is None:      # 0-d: softmax 1, log_softmax 0
            return c.b.op("Expand", [c.b.scalar(1 if onnx_op == "Softmax" else 0,
                                                c.out_dtype()), c.b.shape(c.x())])
        return c.b.op(onnx_op, [c.x()], axis=c.attrs["dim"])
    emit.__doc__ = onnx_op
    return emit


exports("softmax")(_softmax("Softmax"))
exports("log_softmax")(_softmax("LogSoftmax"))


@exports("attention_softmax")
def attention_softmax(c: Call):
    """Softmax over the last axis; rows that are all -inf give 0 (Where IsNaN)"""
    b = c.b
    s = b.op("Softmax", [c.x()], axis=-1)
    return b.op("Where", [b.op("IsNaN", [s]), b.scalar(0, c.out_dtype()), s])


@exports("dropout")
def dropout(c: Call):
    """(no node: an exported model is an inference model, where dropout is the identity)"""
    return c.x(), None


@exports("embedding", dynamic=("padding_idx",))   # padding_idx matters for gradients only
def embedding(c: Call):
    """Gather"""
    idx = c.b.cast(c.x(1), c.dtype(1), _dtype.int64)
    return c.b.op("Gather", [c.x(0), idx], axis=0)


# ---- recurrent layers ---------------------------------------------------------------------------

_LSTM_ORDER = (0, 3, 1, 2)   # PyTorch i, f, g, o -> ONNX i, o, f, c
_GRU_ORDER = (1, 0, 2)       # PyTorch r, z, n -> ONNX z, r, h


def _reorder(c: Call, value, static, order, H: int, dt, name: str = "const") -> str:
    """Gate blocks of the first axis in ONNX's order, with a leading direction axis."""
    b = c.b
    if static is not None:
        blocks = [static[g * H:(g + 1) * H] for g in order]
        return b.initializer(np.concatenate(blocks, axis=0)[None].astype(dt.np), name)
    parts = b.split(value, [H] * len(order), 0)
    return b.op("Unsqueeze", [b.op("Concat", [parts[g] for g in order], axis=0), b.ints([0])])


def _projection(c: Call, gates: int, H: int, dt):
    """(X, W, W's value or None, bias symbol or None, W's name) of the recurrence's input
    projection: the ``linear`` node's input, weight and bias when it is one, else the
    projected input with an identity W."""
    lin = _producer(c, 0)
    if lin is not None and lin.kind == "op" and lin.op.name == "linear":
        x, w = lin.inputs[0], lin.inputs[1]
        bias = lin.inputs[2] if len(lin.inputs) > 2 else None
        if bias is None or (isinstance(bias, Symbol) and len(bias.shape) == 1):
            static = c.static_of(w)
            return (c.name_of(x), c.name_of(w) if static is None else None, static, bias,
                    c.hint_of(w, "weight_ih"))
    return c.x(0), None, np.eye(gates * H, dtype=dt.np), None, "identity"


def _recurrent(c: Call, onnx_op: str, gates: int, order, w_hh: int, b_hh_index=None,
               **attrs):
    b = c.b
    dt = c.out_dtype()
    H = c.dims(w_hh)[1]
    X, W, W_static, bias, w_name = _projection(c, gates, H, dt)
    bf, rev = c.attrs["batch_first"], c.attrs["reverse"]
    # the weights in ONNX's layout get names of their own (not the parameters': a state
    # dict loaded by name must never meet a reordered array)
    tag = {"LSTM": "_iofc", "GRU": "_zrh", "RNN": "_onnx"}[onnx_op]
    Wd = _reorder(c, W, W_static, order, H, dt, w_name + tag)
    R = _reorder(c, c.x(w_hh), c.static(w_hh), order, H, dt, c.hint(w_hh, "weight_hh") + tag)
    # B: [input bias (the projection's), recurrent bias (GRU's b_hh)] in ONNX gate order
    wb = np.zeros(gates * H, dt.np) if bias is None else c.static_of(bias)
    rb = c.static(b_hh_index) if b_hh_index is not None and len(c.inputs) > b_hh_index \
        and c.inputs[b_hh_index] is not None else np.zeros(gates * H, dt.np)
    if wb is not None and rb is not None:
        bias_name = c.hint_of(bias, "bias") if bias is not None else "bias"
        gated = [np.concatenate([v[g * H:(g + 1) * H] for g in order]) for v in (wb, rb)]
        B = b.initializer(np.concatenate(gated)[None].astype(dt.np), bias_name + tag)
    else:
        wb_name = c.name_of(bias) if bias is not None else b.const(np.zeros(gates * H, dt.np))
        rb_name = c.x(b_hh_index) if rb is None else b.const(rb)
        B = b.op("Concat", [_reorder(c, wb_name, None, order, H, dt),
                            _reorder(c, rb_name, None, order, H, dt)], axis=1)
    if bf:
        X = b.op("Transpose", [X], perm=[1, 0, 2])
    h0 = b.op("Unsqueeze", [c.x(1), b.ints([0])])
    ins = [X, Wd, R, B, "", h0]
    if onnx_op == "LSTM":
        ins.append(b.op("Unsqueeze", [c.x(2), b.ints([0])]))
    outs = b.op(onnx_op, ins, outputs=3 if onnx_op == "LSTM" else 2, hidden_size=H,
                direction="reverse" if rev else "forward", **attrs)
    y = b.op("Squeeze", [outs[0], b.ints([1])])
    if bf:
        y = b.op("Transpose", [y], perm=[1, 0, 2])
    states = [b.op("Squeeze", [o, b.ints([0])]) for o in outs[1:]]
    return (y, *states)


@exports("lstm_layer")
def lstm_layer(c: Call):
    """LSTM (gates i, f, g, o -> i, o, f, c)"""
    if len(c.inputs) > 4 and c.inputs[4] is not None:
        raise c.error("an LSTM with projections (proj_size) has no ONNX LSTM equivalent")
    return _recurrent(c, "LSTM", 4, _LSTM_ORDER, w_hh=3) + (None, None, None)


@exports("gru_layer")
def gru_layer(c: Call):
    """GRU (gates r, z, n -> z, r, h; linear_before_reset=1)"""
    return _recurrent(c, "GRU", 3, _GRU_ORDER, w_hh=2, b_hh_index=3,
                      linear_before_reset=1) + (None, None)


@exports("rnn_layer")
def rnn_layer(c: Call):
    """RNN (Tanh or Relu)"""
    act = "Tanh" if c.attrs["nonlinearity"] == "tanh" else "Relu"
    return _recurrent(c, "RNN", 1, (0,), w_hh=2, activations=[act])
