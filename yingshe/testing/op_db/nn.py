"""Op-table records for the neural-network ops (yingshe/ops/nn.py).

``call(m, ...)`` spells the call once for yingshe and torch: ``_F(m)`` is
``yingshe.ops.nn`` or ``torch.nn.functional``. Internal ops (weight gradients, pooling
scatters, the normalisation halves) are called through ``apply`` and compared with
PyTorch through ``torch_call`` where PyTorch has an equivalent.

The NumPy references here are deliberately independent of the op implementations
(direct loops over kernel offsets, no im2col/col2im).
"""

import builtins
import math

import numpy as np

from yingshe.errors import DTypeError, IndexError, ShapeError
from yingshe.testing.op_db import ErrorCase, OpCase, const, gen, ints, normal, noncontig, \
    positive


def _F(m):
    if m.__name__ == "yingshe":
        from yingshe.ops import nn
        return nn
    return m.nn.functional


def _ys():
    from yingshe.ops import nn
    return nn


# ---- independent NumPy references ----------------------------------------------------------------

def _pad(x, p, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=value)


def _ref_conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = _pad(x, padding)
    OH = (H + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    OW = (W + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((N, groups, O // groups, OH, OW))
    for i in range(kh):
        for j in range(kw):
            r, c = i * dilation[0], j * dilation[1]
            patch = xp[:, :, r:r + stride[0] * (OH - 1) + 1:stride[0],
                       c:c + stride[1] * (OW - 1) + 1:stride[1]]
            out += np.einsum("ngchw,goc->ngohw", patch.reshape(N, groups, Cg, OH, OW),
                             w[:, :, i, j].reshape(groups, O // groups, Cg))
    out = out.reshape(N, O, OH, OW)
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def _ref_conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                          groups=1, dilation=(1, 1)):
    N, Cin, H, W = x.shape
    _, Cog, kh, kw = w.shape
    OH = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    OW = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    full = np.zeros((N, groups, Cog, OH + 2 * padding[0] + stride[0] + dilation[0] * kh,
                     OW + 2 * padding[1] + stride[1] + dilation[1] * kw))
    xg = x.reshape(N, groups, Cin // groups, H, W)
    for i in range(kh):
        for j in range(kw):
            r, c = i * dilation[0], j * dilation[1]
            full[:, :, :, r:r + stride[0] * (H - 1) + 1:stride[0],
                 c:c + stride[1] * (W - 1) + 1:stride[1]] += np.einsum(
                "ngchw,gco->ngohw", xg, w[:, :, i, j].reshape(groups, Cin // groups, Cog))
    out = full[:, :, :, padding[0]:padding[0] + OH, padding[1]:padding[1] + OW]
    out = out.reshape(N, groups * Cog, OH, OW)
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def _ref_weight_grad(x, g, wshape, stride, padding, dilation, groups):
    N, C, H, W = x.shape
    O, Cg, kh, kw = wshape
    OH, OW = g.shape[2:]
    xp = _pad(x, padding)
    gw = np.zeros(wshape)
    gg = g.reshape(N, groups, O // groups, OH, OW)
    for i in range(kh):
        for j in range(kw):
            r, c = i * dilation[0], j * dilation[1]
            patch = xp[:, :, r:r + stride[0] * (OH - 1) + 1:stride[0],
                       c:c + stride[1] * (OW - 1) + 1:stride[1]]
            gw[:, :, i, j] = np.einsum("ngohw,ngchw->goc", gg,
                                       patch.reshape(N, groups, Cg, OH, OW)).reshape(O, Cg)
    return gw


def _ref_pool(x, k, s, p, d=(1, 1), ceil_mode=False, mode="max", count_include_pad=True,
              divisor_override=None):
    """Direct loops over output positions (small inputs only)."""
    N, C, H, W = x.shape

    def out_size(n, k_, s_, p_, d_):
        o = (n + 2 * p_ - d_ * (k_ - 1) - 1 + (s_ - 1 if ceil_mode else 0)) // s_ + 1
        if ceil_mode and (o - 1) * s_ >= n + p_:
            o -= 1
        return o

    OH, OW = out_size(H, k[0], s[0], p[0], d[0]), out_size(W, k[1], s[1], p[1], d[1])
    val = np.zeros((N, C, OH, OW))
    idx = np.zeros((N, C, OH, OW), dtype=np.int64)
    for oh in range(OH):
        for ow in range(OW):
            rows = [oh * s[0] - p[0] + i * d[0] for i in range(k[0])]
            cols = [ow * s[1] - p[1] + j * d[1] for j in range(k[1])]
            if mode == "max":
                best = np.full((N, C), -np.inf)
                for r in rows:
                    for c in cols:
                        if 0 <= r < H and 0 <= c < W:
                            better = x[:, :, r, c] > best
                            best = np.where(better, x[:, :, r, c], best)
                            idx[:, :, oh, ow] = np.where(better, r * W + c, idx[:, :, oh, ow])
                val[:, :, oh, ow] = best
            else:
                total = np.zeros((N, C))
                inside = 0
                for r in rows:
                    for c in cols:
                        if 0 <= r < H and 0 <= c < W:
                            total += x[:, :, r, c]
                            inside += 1
                h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
                padded = ((min(h0 + k[0], H + p[0]) - h0) * (min(w0 + k[1], W + p[1]) - w0))
                div = divisor_override or (padded if count_include_pad else inside)
                val[:, :, oh, ow] = total / div
    return (val, idx) if mode == "max" else val


def _ref_layer_norm(x, k, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def _ref_batch_norm(x, w, b, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    return y * w.reshape(shp) + b.reshape(shp)


def _batch_norm_all(m, x, w, b):
    nn = _ys()
    return nn.apply(nn.BatchNorm, x, w, b, eps=1e-5, affine=(True, True))


def _ref_batch_norm_all(x, w, b):
    axes = (0,) + tuple(range(2, x.ndim))
    return _ref_batch_norm(x, w, b), x.mean(axes), x.var(axes)


def _bn_backward_call(affine):
    def call(m, gy, x, mean, invstd, gmean, gvar, *w):
        nn = _ys()
        return nn.apply(nn.BatchNormBackward, gy, x, mean, invstd, gmean, gvar, *w,
                        affine=affine)
    return call


def _ref_bn_backward(gy, x, mean, invstd, gmean, gvar, w):
    """batch_norm_backward's outputs from the definition: the VJP of (y, mean, var) with
    the statistics and inverse std taken as given."""
    axes = (0,) + tuple(range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    n = x.size // x.shape[1]
    xc = x - mean.reshape(shp)
    s1, s2 = gy.sum(axes), (gy * xc).sum(axes)
    a = (w * invstd).reshape(shp)
    dx = (a * gy + ((2 * gvar - w * invstd ** 3 * s2) / n).reshape(shp) * xc
          + ((gmean - w * invstd * s1) / n).reshape(shp))
    return dx, invstd * s2, s1


def _ref_group_norm(x, G, w, b, eps=1e-5):
    N, C = x.shape[:2]
    xr = x.reshape(N, G, -1)
    y = ((xr - xr.mean(-1, keepdims=True)) / np.sqrt(xr.var(-1, keepdims=True) + eps))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    return y.reshape(x.shape) * w.reshape(shp) + b.reshape(shp)


_erf = np.vectorize(math.erf)


def _ref_gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _ref_gelu_grad(x, order):
    pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    if order == 1:
        return 0.5 * (1 + _erf(x / math.sqrt(2))) + x * pdf
    if order == 2:
        return pdf * (2 - x * x)
    if order == 3:
        return pdf * (x ** 3 - 4 * x)
    raise ValueError(order)


def _ref_softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _ref_sdpa(q, k, v, mask=None, causal=False):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], dtype=bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    return _ref_softmax(s) @ v


def _interp_ref_nearest(x, size):
    H, W = x.shape[2:]
    ih = np.minimum((np.arange(size[0]) * (H / size[0])).astype(int), H - 1)
    iw = np.minimum((np.arange(size[1]) * (W / size[1])).astype(int), W - 1)
    return x[:, :, ih][:, :, :, iw]


def _interp_ref_bilinear(x, size, align_corners):
    def axis(n_in, n_out):
        d = np.arange(n_out, dtype=np.float64)
        if align_corners:
            src = d * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        else:
            src = np.maximum((d + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0
    H, W = x.shape[2:]
    h0, h1, lh = axis(H, size[0])
    w0, w1, lw = axis(W, size[1])
    lh, lw = lh[:, None], lw[None, :]
    top = x[:, :, h0][:, :, :, w0] * (1 - lw) + x[:, :, h0][:, :, :, w1] * lw
    bot = x[:, :, h1][:, :, :, w0] * (1 - lw) + x[:, :, h1][:, :, :, w1] * lw
    return top * (1 - lh) + bot * lh


# ---- internal-op call helpers --------------------------------------------------------------------

def _wgrad_call(wshape, stride, padding, dilation, groups):
    def call(m, x, g):
        if m.__name__ == "yingshe":
            nn = _ys()
            return nn.apply(nn.Conv2dWeightGrad, x, g, weight_shape=wshape, stride=stride,
                            padding=tuple((p, p) for p in padding), dilation=dilation,
                            groups=groups)
        return m.nn.grad.conv2d_weight(x, wshape, g, stride, padding, dilation, groups)
    return call


def _avg_bwd_call(input_shape, k, s, p, ceil_mode, cip, div):
    def call(m, g):
        if m.__name__ == "yingshe":
            nn = _ys()
            return nn.apply(nn.AvgPool2dBackward, g, input_shape=input_shape, kernel_size=k,
                            stride=s, padding=p, ceil_mode=ceil_mode, count_include_pad=cip,
                            divisor_override=div)
        return m.ops.aten.avg_pool2d_backward(g, m.zeros(input_shape, dtype=g.dtype), list(k),
                                              list(s), list(p), ceil_mode, cip, div)
    return call


def _seeded_dropout(p, inplace=False):
    def call(m, x):
        if m.__name__ == "yingshe":
            m.random.manual_seed(1234)
            return _ys().dropout(x * 1.0 if inplace else x, p, True, inplace)
        m.manual_seed(1234)
        return m.nn.functional.dropout(x * 1.0 if inplace else x, p, True, inplace)
    return call


def _moments_torch(dims):
    def call(m, x):
        var, mean = m.var_mean(x, dim=dims, correction=0, keepdim=True)
        return mean, var
    return call


def _norm_apply_call(m, x, mean, var, w, b):
    if m.__name__ == "yingshe":
        return _ys()._normalize(x, mean, var, w, b, 1e-5)
    return (x - mean) / m.sqrt(var + 1e-5) * w + b


# (kernel, stride, padding, dilation, ceil_mode): 2x3 windows with overlap, padding, a
# stride and a dilated height (output 3x6 from 5x6), and tiling 2x2 windows (output 2x2
# from 5x4: the last row is in no window)
_POOL_GEOM = ((2, 3), (2, 1), (1, 1), (2, 1), False)
_POOL_TILE = ((2, 2), (2, 2), (0, 0), (1, 1), False)


def _pool_attrs(geom):
    k, s, p, d, c = geom
    return dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=c)


def _pool_bwd_call(shape, geom):
    def call(m, g, arg):
        nn = _ys()
        return nn.apply(nn.MaxPoolBackward, g, arg, input_shape=shape, **_pool_attrs(geom))
    return call


def _pool_gather_call(geom):
    def call(m, h, arg):
        nn = _ys()
        return nn.apply(nn.MaxPoolGather, h, arg, **_pool_attrs(geom))
    return call


def _pool_source(o, pos, k, s, p, d):
    """The input (row, col) that window position ``pos`` of output ``o`` reads."""
    i, j = divmod(int(pos), k[1])
    return o[0] * s[0] - p[0] + i * d[0], o[1] * s[1] - p[1] + j * d[1]


def _ref_pool_scatter(g, arg, shape, k, s, p, d, ceil_mode):
    out = np.zeros(shape)
    for n, c, oh, ow in np.ndindex(*g.shape):
        r, q = _pool_source((oh, ow), arg[n, c, oh, ow], k, s, p, d)
        if 0 <= r < shape[2] and 0 <= q < shape[3]:
            out[n, c, r, q] += g[n, c, oh, ow]
    return out


def _ref_pool_gather(h, arg, k, s, p, d, ceil_mode):
    out = np.zeros(arg.shape)
    for n, c, oh, ow in np.ndindex(*arg.shape):
        r, q = _pool_source((oh, ow), arg[n, c, oh, ow], k, s, p, d)
        if 0 <= r < h.shape[2] and 0 <= q < h.shape[3]:
            out[n, c, oh, ow] = h[n, c, r, q]
    return out


def _emb_bwd_call(num, padding_idx):
    def call(m, g, idx):
        nn = _ys()
        return nn.apply(nn.EmbeddingBackward, g, idx, num_weights=num, padding_idx=padding_idx)
    return call


def _ref_emb_bwd(g, idx, num, padding_idx):
    out = np.zeros((num, g.shape[-1]))
    for i, row in zip(idx.reshape(-1), g.reshape(-1, g.shape[-1])):
        out[i] += row
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


def _gelu_grad_call(approximate, order):
    def call(m, x):
        nn = _ys()
        return nn.apply(nn.GeluGrad, x, approximate=approximate, order=order)
    return call


def _softmax_call(m, s):
    if m.__name__ == "yingshe":
        nn = _ys()
        return nn.apply(nn.AttentionSoftmax, s)
    return m.softmax(s, -1)


def _bool_mask(*shape, seed=3):
    r = np.random.default_rng(seed).random(shape) > 0.4
    r[..., 0] = True   # no fully-masked row (checked separately in tests/ops/test_nn_ops.py)
    return lambda rng: r


# ---- records -------------------------------------------------------------------------------------

CONV_CASES = [
    # name, x shape, w shape, kwargs
    ("basic", (2, 3, 6, 5), (4, 3, 3, 3), {}),
    ("stride-pad", (2, 3, 7, 6), (4, 3, 3, 2), dict(stride=2, padding=1)),
    ("dilation", (1, 2, 8, 7), (3, 2, 3, 2), dict(dilation=(2, 3), padding=(2, 1))),
    ("groups", (2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2, stride=(1, 2))),
    ("depthwise", (2, 3, 5, 5), (6, 1, 3, 3), dict(groups=3, padding=1)),
    ("1x1", (2, 4, 3, 3), (5, 4, 1, 1), {}),
    ("odd-stride3", (1, 2, 9, 8), (2, 2, 2, 3), dict(stride=3, padding=(0, 1))),
]

CASES = []
for _name, _xs, _ws, _kw in CONV_CASES:
    _kw2 = {k: (v if isinstance(v, tuple) else (v, v)) for k, v in _kw.items() if k != "groups"}
    _g = _kw.get("groups", 1)
    CASES.append(OpCase(
        "conv2d", (lambda kw: lambda m, x, w, b: _F(m).conv2d(x, w, b, **kw))(_kw),
        gen(normal(*_xs), normal(*_ws), normal(_ws[0])),
        (lambda kw2, g: lambda x, w, b: _ref_conv2d(x, w, b, groups=g, **kw2))(_kw2, _g),
        name=_name))
CASES += [
    OpCase("conv2d", lambda m, x, w: _F(m).conv2d(x, w, padding="same", dilation=2),
           gen(normal(1, 2, 5, 6), normal(3, 2, 2, 3)), None, name="same-even-kernel"),
    OpCase("conv2d", lambda m, x, w: _F(m).conv2d(x, w, stride=2),
           gen(noncontig(2, 3, 5, 5), normal(2, 3, 2, 2)),
           lambda x, w: _ref_conv2d(x, w, stride=(2, 2)), name="noncontig-nobias"),
    OpCase("conv2d", lambda m, x, w, b: _F(m).conv1d(x, w, b, stride=2, padding=1, dilation=2),
           gen(normal(2, 3, 11), normal(4, 3, 3), normal(4)),
           lambda x, w, b: _ref_conv2d(x[:, :, None], w[:, :, None], b, (1, 2), (0, 1),
                                       (1, 2))[:, :, 0], name="conv1d"),
    OpCase("conv2d", lambda m, x, w: _F(m).conv2d(x, w, padding=1),
           gen(normal(3, 5, 4), normal(2, 3, 3, 3)),
           lambda x, w: _ref_conv2d(x[None], w, padding=(1, 1))[0], name="unbatched"),
]

CONVT_CASES = [
    ("basic", (2, 3, 4, 5), (3, 2, 3, 3), {}),
    ("stride-pad-outpad", (2, 4, 3, 4), (4, 3, 3, 2), dict(stride=2, padding=1,
                                                            output_padding=1)),
    ("groups-dilation", (1, 4, 4, 3), (4, 2, 2, 3), dict(groups=2, dilation=(2, 1),
                                                         stride=(1, 3), output_padding=(0, 2))),
]
for _name, _xs, _ws, _kw in CONVT_CASES:
    _kw2 = {k: (v if isinstance(v, tuple) else (v, v)) for k, v in _kw.items() if k != "groups"}
    _g = _kw.get("groups", 1)
    CASES.append(OpCase(
        "conv_transpose2d",
        (lambda kw: lambda m, x, w, b: _F(m).conv_transpose2d(x, w, b, **kw))(_kw),
        gen(normal(*_xs), normal(*_ws), normal(_ws[1] * _g)),
        (lambda kw2, g: lambda x, w, b: _ref_conv_transpose2d(x, w, b, groups=g, **kw2))(
            _kw2, _g), name=_name))
CASES.append(OpCase(
    "conv_transpose2d", lambda m, x, w: _F(m).conv_transpose1d(x, w, stride=2, padding=1),
    gen(normal(2, 3, 5), normal(3, 2, 3)),
    lambda x, w: _ref_conv_transpose2d(x[:, :, None], w[:, :, None], stride=(1, 2),
                                       padding=(0, 1))[:, :, 0], name="1d"))

for _name, _xs, _ws, _s, _p, _d, _g in [
        ("basic", (2, 3, 6, 5), (4, 3, 3, 2), (1, 1), (0, 0), (1, 1), 1),
        ("strided-groups", (2, 4, 7, 7), (6, 2, 3, 3), (2, 2), (1, 1), (1, 2), 2)]:
    _oh = [(_xs[2 + i] + 2 * _p[i] - _d[i] * (_ws[2 + i] - 1) - 1) // _s[i] + 1
           for i in range(2)]
    CASES.append(OpCase(
        "conv2d_weight_grad", _wgrad_call(_ws, _s, _p, _d, _g),
        gen(normal(*_xs), normal(_xs[0], _ws[0], *_oh)),
        (lambda ws, s, p, d, g: lambda x, gg: _ref_weight_grad(x, gg, ws, s, p, d, g))(
            _ws, _s, _p, _d, _g), name=_name))

POOL_CASES = [
    ("k2", dict(kernel_size=2), (2, 3, 6, 7)),
    ("k2-tiles", dict(kernel_size=2), (2, 3, 6, 8)),              # tiling: the reshape path
    ("k2x3-tiles", dict(kernel_size=(2, 3)), (1, 2, 4, 9)),
    ("k3s2p1-ceil", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 2, 7, 8)),
    ("rect-stride", dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), (1, 3, 7, 5)),
]
for _name, _kw, _xs in POOL_CASES:
    _k = _kw["kernel_size"]
    _k = _k if isinstance(_k, tuple) else (_k, _k)
    _s = _kw.get("stride", _k)
    _s = _s if isinstance(_s, tuple) else (_s, _s)
    _p = _kw.get("padding", 0)
    _p = _p if isinstance(_p, tuple) else (_p, _p)
    CASES.append(OpCase(
        "max_pool2d_with_indices",
        (lambda kw: lambda m, x: _F(m).max_pool2d(x, return_indices=True, **kw))(_kw),
        gen(normal(*_xs)),
        (lambda k, s, p, c: lambda x: _ref_pool(x, k, s, p, ceil_mode=c))(
            _k, _s, _p, _kw.get("ceil_mode", False)), name=_name))
    CASES.append(OpCase(
        "max_pool2d", (lambda kw: lambda m, x: _F(m).max_pool2d(x, **kw))(_kw),
        gen(normal(*_xs)),
        (lambda k, s, p, c: lambda x: _ref_pool(x, k, s, p, ceil_mode=c)[0])(
            _k, _s, _p, _kw.get("ceil_mode", False)), name=_name))
    for _cip in (True, False):
        CASES.append(OpCase(
            "avg_pool2d",
            (lambda kw, cip: lambda m, x: _F(m).avg_pool2d(x, count_include_pad=cip, **kw))(
                _kw, _cip),
            gen(normal(*_xs)),
            (lambda k, s, p, c, cip: lambda x: _ref_pool(x, k, s, p, ceil_mode=c, mode="avg",
                                                         count_include_pad=cip))(
                _k, _s, _p, _kw.get("ceil_mode", False), _cip),
            name=f"{_name}-{'incl' if _cip else 'excl'}"))
CASES += [
    OpCase("max_pool2d", lambda m, x: _F(m).max_pool2d(x, 3, 1, 1, dilation=2),
           gen(normal(2, 2, 7, 6)), lambda x: _ref_pool(x, (3, 3), (1, 1), (1, 1), (2, 2))[0],
           name="dilation"),
    OpCase("max_pool2d_with_indices",
           lambda m, x: _F(m).max_pool1d(x, 3, 2, 1, return_indices=True),
           gen(normal(2, 3, 9)),
           lambda x: tuple(a[:, :, 0] for a in _ref_pool(x[:, :, None], (1, 3), (1, 2),
                                                         (0, 1))), name="1d"),
    OpCase("avg_pool2d", lambda m, x: _F(m).avg_pool2d(x, 3, 2, 1, divisor_override=4),
           gen(normal(2, 2, 6, 5)),
           lambda x: _ref_pool(x, (3, 3), (2, 2), (1, 1), mode="avg", divisor_override=4),
           name="divisor"),
    OpCase("avg_pool2d", lambda m, x: _F(m).avg_pool1d(x, 2),
           gen(normal(2, 3, 7)),
           lambda x: _ref_pool(x[:, :, None], (1, 2), (1, 2), (0, 0), mode="avg")[:, :, 0],
           name="1d"),
    OpCase("avg_pool2d_backward", _avg_bwd_call((2, 2, 7, 8), (3, 3), (2, 2), (1, 1), True,
                                                False, None),
           gen(normal(2, 2, 4, 5)), None, name="ceil-excl"),
    OpCase("avg_pool2d_backward", _avg_bwd_call((1, 3, 6, 5), (2, 2), (2, 1), (0, 1), False,
                                                True, None),
           gen(normal(1, 3, 3, 6)), None, name="incl"),
    # window positions (0..k*k-1) of overlapping, padded and dilated windows, and tiling ones
    OpCase("max_pool_backward", _pool_bwd_call((2, 3, 5, 6), _POOL_GEOM),
           gen(normal(2, 3, 3, 6), ints(0, 6, 2, 3, 3, 6)),
           lambda g, a: _ref_pool_scatter(g, a, (2, 3, 5, 6), *_POOL_GEOM), torch=False,
           name="overlap"),
    OpCase("max_pool_backward", _pool_bwd_call((2, 2, 5, 4), _POOL_TILE),
           gen(normal(2, 2, 2, 2), ints(0, 4, 2, 2, 2, 2)),
           lambda g, a: _ref_pool_scatter(g, a, (2, 2, 5, 4), *_POOL_TILE), torch=False,
           name="tiling"),
    OpCase("max_pool_gather", _pool_gather_call(_POOL_GEOM),
           gen(normal(2, 3, 5, 6), ints(0, 6, 2, 3, 3, 6)),
           lambda h, a: _ref_pool_gather(h, a, *_POOL_GEOM), torch=False, name="overlap"),
    OpCase("max_pool_gather", _pool_gather_call(_POOL_TILE),
           gen(normal(2, 2, 5, 4), ints(0, 4, 2, 2, 2, 2)),
           lambda h, a: _ref_pool_gather(h, a, *_POOL_TILE), torch=False, name="tiling"),
]

for _name, _os, _xs in [("3x4", (3, 4), (2, 3, 7, 9)), ("global", 1, (2, 3, 5, 4)),
                        ("none", (None, 2), (1, 2, 5, 5))]:
    CASES.append(OpCase(
        "index_select" if _os != 1 else "mean",   # windows gathered (nn._taps)
        (lambda os_: lambda m, x: _F(m).adaptive_avg_pool2d(x, os_))(_os), gen(normal(*_xs)),
        None, name=f"adaptive_avg_pool2d-{_name}"))

CASES += [
    OpCase("index_select", lambda m, x: _F(m).interpolate(x, size=(7, 9)), gen(normal(2, 2, 4, 5)),
           lambda x: _interp_ref_nearest(x, (7, 9)), name="interpolate-nearest"),
    OpCase("index_select", lambda m, x: _F(m).interpolate(x, scale_factor=(1.5, 0.5)),
           gen(normal(1, 2, 6, 6)), None, name="interpolate-nearest-scale"),
    OpCase("index_select", lambda m, x: _F(m).interpolate(x, size=(7, 9), mode="bilinear"),
           gen(normal(2, 2, 4, 5)), lambda x: _interp_ref_bilinear(x, (7, 9), False),
           name="interpolate-bilinear"),
    OpCase("index_select", lambda m, x: _F(m).interpolate(x, size=(3, 8), mode="bilinear",
                                                    align_corners=True),
           gen(normal(2, 2, 5, 5)), lambda x: _interp_ref_bilinear(x, (3, 8), True),
           name="interpolate-bilinear-align"),
    OpCase("index_select", lambda m, x: _F(m).interpolate(x, scale_factor=2, mode="bilinear"),
           gen(normal(1, 2, 3, 4)), lambda x: _interp_ref_bilinear(x, (6, 8), False),
           name="interpolate-bilinear-scale"),
]

CASES += [
    OpCase("dropout", _seeded_dropout(0.3), gen(normal(4, 5)), None, random=True,
           name="p0.3"),
    OpCase("dropout", _seeded_dropout(1.0), gen(normal(3, 4)), lambda x: np.zeros_like(x),
           name="p1"),
    OpCase("embedding", lambda m, w, i: _F(m).embedding(i, w),
           gen(normal(6, 4), const(np.array([[0, 2, 5], [2, 2, 1]]))),
           lambda w, i: w[i]),
    OpCase("embedding", lambda m, w, i: _F(m).embedding(i, w, padding_idx=2),
           gen(normal(6, 3), const(np.array([4, 2, 0, 2, 4]))), lambda w, i: w[i],
           name="padding", fd=False),   # the padding row's gradient is zero by definition
    OpCase("embedding", lambda m, w, i: _F(m).embedding(i, w, padding_idx=-1),
           gen(normal(5, 3), const(np.array([[4], [2], [4]]))), lambda w, i: w[i],
           name="padding-negative", fd=False),
    OpCase("embedding_backward", _emb_bwd_call(5, 1),
           gen(normal(2, 3, 4), const(np.array([[0, 1, 3], [3, 3, 1]]))),
           lambda g, i: _ref_emb_bwd(g, i, 5, 1), torch=False),
    OpCase("embedding_backward", _emb_bwd_call(4, None),
           gen(normal(5, 2), const(np.array([0, 3, 3, 1, 3]))),
           lambda g, i: _ref_emb_bwd(g, i, 4, None), torch=False, name="nopad"),
]

CASES += [
    OpCase("norm_moments", lambda m, x: _F(m).layer_norm(x, (4,)), gen(normal(3, 4)),
           lambda x: _ref_layer_norm(x, 1), name="layer_norm"),
    OpCase("norm_moments",
           lambda m, x, w, b: _F(m).layer_norm(x, (3, 4), w, b), gen(normal(2, 3, 4),
                                                                   normal(3, 4), normal(3, 4)),
           lambda x, w, b: _ref_layer_norm(x, 2, w, b), name="layer_norm-affine"),
    OpCase("batch_norm",
           lambda m, x, w, b: _F(m).batch_norm(x, None, None, w, b, training=True),
           gen(normal(4, 3, 2, 3), normal(3), normal(3)), _ref_batch_norm, name="train"),
    OpCase("batch_norm",
           lambda m, x, w, b: _F(m).batch_norm(x, None, None, w, b, training=True),
           gen(normal(5, 3), normal(3), normal(3)), _ref_batch_norm, name="1d"),
    OpCase("batch_norm",
           lambda m, x, w: _F(m).batch_norm(x, None, None, w, None, training=True),
           gen(noncontig(3, 2, 3, 2, 2), normal(2)),
           lambda x, w: _ref_batch_norm(x, w, np.zeros(2)), name="3d-noncontig-nobias"),
    OpCase("batch_norm", lambda m, x: _F(m).batch_norm(x, None, None, training=True, eps=0.1),
           gen(normal(2, 4, 5)), lambda x: _ref_batch_norm(x, np.ones(4), np.zeros(4), 0.1),
           name="no-affine-eps"),
    # every output: the batch statistics feed the loss too (their gradients reach x)
    OpCase("batch_norm", _batch_norm_all, gen(normal(3, 2, 4), normal(2), normal(2)),
           _ref_batch_norm_all, torch=False, name="with-statistics"),
    OpCase("batch_norm_backward", _bn_backward_call(True),
           gen(normal(3, 2, 4), normal(3, 2, 4), normal(2), positive(2), normal(2), normal(2),
               normal(2)), _ref_bn_backward, torch=False, name="affine"),
    OpCase("batch_norm_backward", _bn_backward_call(False),
           gen(normal(4, 3), normal(4, 3), normal(3), positive(3), normal(3), normal(3)),
           lambda gy, x, m, s, gm, gv: _ref_bn_backward(gy, x, m, s, gm, gv, np.ones(3)),
           torch=False, name="plain"),
    OpCase("norm_moments",
           lambda m, x, w, b: _F(m).group_norm(x, 2, w, b),
           gen(normal(2, 4, 3, 2), normal(4), normal(4)),
           lambda x, w, b: _ref_group_norm(x, 2, w, b), name="group_norm"),
    OpCase("norm_moments", lambda m, x: _F(m).instance_norm(x), gen(normal(2, 3, 4, 3)),
           lambda x: _ref_group_norm(x.reshape(1, 6, 4, 3), 6, np.ones(6),
                                     np.zeros(6)).reshape(x.shape), name="instance_norm"),
    OpCase("norm_moments", lambda m, x: m.var_mean(x, (0, 2), correction=0, keepdim=True)[::-1]
           if m.__name__ == "torch" else _ys().apply(_ys().NormMoments, x, dim=(0, 2)),
           gen(normal(3, 2, 4)),
           lambda x: (x.mean((0, 2), keepdims=True), x.var((0, 2), keepdims=True)),
           name="direct"),
    OpCase("norm_apply",
           lambda m, x, rm, rv, w, b: _F(m).batch_norm(x, rm, rv, w, b, training=False),
           gen(normal(3, 2, 4), normal(2), positive(2), normal(2), normal(2)),
           lambda x, rm, rv, w, b: (x - rm[:, None]) / np.sqrt(rv[:, None] + 1e-5)
           * w[:, None] + b[:, None], grad=(0, 3, 4), name="batch_norm-eval"),
    OpCase("norm_apply", _norm_apply_call,
           gen(normal(3, 4), normal(3, 1), positive(3, 1), normal(4), normal(4)),
           lambda x, mu, v, w, b: (x - mu) / np.sqrt(v + 1e-5) * w + b, name="direct"),
]

CASES += [
    OpCase("gelu", lambda m, x: _F(m).gelu(x), gen(normal(3, 5)), _ref_gelu),
    OpCase("gelu", lambda m, x: _F(m).gelu(x, approximate="tanh"), gen(normal(3, 5)),
           lambda x: _ref_gelu(x, "tanh"), name="tanh"),
    OpCase("gelu", lambda m, x: _F(m).gelu(x), gen(noncontig(2, 3)), _ref_gelu,
           name="noncontig"),
    OpCase("gelu_grad", _gelu_grad_call("none", 1), gen(normal(4, 3)),
           lambda x: _ref_gelu_grad(x, 1), torch=False),
    OpCase("gelu_grad", _gelu_grad_call("none", 2), gen(normal(4, 3)),
           lambda x: _ref_gelu_grad(x, 2), torch=False, name="order2"),
    OpCase("gelu_grad", _gelu_grad_call("tanh", 1), gen(normal(4, 3)), None, torch=False,
           second_order=False, name="tanh"),
    OpCase("attention_softmax", _softmax_call, gen(normal(2, 3, 5)), _ref_softmax),
    OpCase("attention_softmax",
           lambda m, q, k, v: _F(m).scaled_dot_product_attention(q, k, v),
           gen(normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 3)), _ref_sdpa, name="sdpa"),
    OpCase("attention_softmax",
           lambda m, q, k, v: _F(m).scaled_dot_product_attention(q, k, v, is_causal=True),
           gen(normal(1, 2, 4, 3), normal(1, 2, 4, 3), normal(1, 2, 4, 2)),
           lambda q, k, v: _ref_sdpa(q, k, v, causal=True), name="sdpa-causal"),
    OpCase("attention_softmax",
           lambda m, q, k, v, mask: _F(m).scaled_dot_product_attention(
               q, k, v, attn_mask=mask),
           gen(normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 3), _bool_mask(3, 5)),
           lambda q, k, v, mask: _ref_sdpa(q, k, v, mask), grad=(0, 1, 2),
           name="sdpa-bool-mask"),
    OpCase("attention_softmax",
           lambda m, q, k, v, mask: _F(m).scaled_dot_product_attention(q, k, v,
                                                                       attn_mask=mask),
           gen(normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 3), normal(3, 5)),
           _ref_sdpa, name="sdpa-float-mask"),
]

ERRORS = [
    ErrorCase("conv2d", lambda m, x, w: _F(m).conv2d(x, w),
              gen(normal(1, 3, 5, 5), normal(2, 4, 3, 3)), ShapeError,
              "to have 4 channels, but got 3 channels", torch_exc=RuntimeError),
    ErrorCase("conv2d", lambda m, x, w: _F(m).conv2d(x, w),
              gen(normal(1, 2, 2, 2), normal(2, 2, 3, 3)), ShapeError,
              "conv2d: calculated output size", name="kernel-too-big",
              torch_exc=RuntimeError),
    ErrorCase("embedding", lambda m, w, i: _F(m).embedding(i, w),
              gen(normal(4, 2), const(np.array([1, 4]))), IndexError, "embedding",
              torch_exc=builtins.IndexError, name="out-of-range"),
    ErrorCase("embedding", lambda m, w, i: _F(m).embedding(i, w),
              gen(normal(4, 2), normal(3)), DTypeError, "integer", name="float-indices",
              torch_exc=RuntimeError),
    ErrorCase("norm_moments", lambda m, x: _F(m).layer_norm(x, (3,)), gen(normal(2, 4)),
              ShapeError, "normalized_shape=[3]", torch_exc=RuntimeError, name="layer_norm"),
    ErrorCase("norm_moments", lambda m, x: _F(m).group_norm(x, 3), gen(normal(2, 4, 3)),
              ShapeError, "divisible by num_groups", torch_exc=RuntimeError,
              name="group_norm"),
    ErrorCase("max_pool2d", lambda m, x: _F(m).max_pool2d(x, 2, padding=2),
              gen(normal(1, 1, 4, 4)), ShapeError, "pad should be at most half",
              torch_exc=RuntimeError),
    ErrorCase("max_pool2d", lambda m, x: _F(m).max_pool2d(x, 3), gen(normal(1, 1, 2, 2)),
              ShapeError, "too small", name="too-small", torch_exc=RuntimeError),
]
