"""Op-table records for 3-D convolution and pooling (yingshe/ops/conv3d.py).

``call(m, ...)`` spells the call once for yingshe and torch: ``_F(m)`` is
``yingshe.nn.functional`` or ``torch.nn.functional``. The internal ops (weight
gradient, average-pooling backward) are called through ``apply`` and compared with
PyTorch through its equivalents (``torch.nn.grad.conv3d_weight``,
``aten.avg_pool3d_backward``).

The NumPy references are independent of the implementation: direct loops over kernel
offsets (convolutions) or over output voxels (pooling), no im2col/col2im.
"""

import itertools

import numpy as np

from yingshe.errors import ShapeError
from yingshe.testing.op_db import ErrorCase, OpCase, gen, normal, noncontig


def _F(m):
    if m.__name__ == "yingshe":
        import yingshe.nn.functional as F
        return F
    return m.nn.functional


def _c3():
    from yingshe.ops import conv3d
    return conv3d


def _t3(v):
    return v if isinstance(v, tuple) else (v,) * 3


# ---- independent NumPy references ----------------------------------------------------------------

def _pad(x, p, value=0.0):
    return np.pad(x, ((0, 0), (0, 0)) + tuple((q, q) for q in p), constant_values=value)


def _ref_conv3d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    stride, padding, dilation = _t3(stride), _t3(padding), _t3(dilation)
    N, C = x.shape[:2]
    O, Cg = w.shape[:2]
    out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                for n, k, s, p, d in zip(x.shape[2:], w.shape[2:], stride, padding, dilation))
    xp = _pad(x, padding)
    res = np.zeros((N, groups, O // groups) + out)
    for pos in itertools.product(*(range(k) for k in w.shape[2:])):
        sl = tuple(slice(i * d, i * d + s * (o - 1) + 1, s)
                   for i, d, s, o in zip(pos, dilation, stride, out))
        patch = xp[(slice(None), slice(None)) + sl].reshape((N, groups, Cg) + out)
        wk = w[(slice(None), slice(None)) + pos].reshape(groups, O // groups, Cg)
        res += np.einsum("ngcdhw,goc->ngodhw", patch, wk)
    res = res.reshape((N, O) + out)
    return res if b is None else res + b.reshape(1, -1, 1, 1, 1)


def _ref_conv_transpose3d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                          dilation=1):
    stride, padding, dilation = _t3(stride), _t3(padding), _t3(dilation)
    output_padding = _t3(output_padding)
    N, Cin = x.shape[:2]
    Cog = w.shape[1]
    inner = x.shape[2:]
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1
                for n, s, p, d, k, op in zip(inner, stride, padding, dilation, w.shape[2:],
                                             output_padding))
    full = np.zeros((N, groups, Cog) + tuple(o + 2 * p + s + d * k for o, p, s, d, k in
                                            zip(out, padding, stride, dilation, w.shape[2:])))
    xg = x.reshape((N, groups, Cin // groups) + inner)
    for pos in itertools.product(*(range(k) for k in w.shape[2:])):
        sl = tuple(slice(i * d, i * d + s * (n - 1) + 1, s)
                   for i, d, s, n in zip(pos, dilation, stride, inner))
        wk = w[(slice(None), slice(None)) + pos].reshape(groups, Cin // groups, Cog)
        full[(slice(None),) * 3 + sl] += np.einsum("ngcdhw,gco->ngodhw", xg, wk)
    res = full[(slice(None),) * 3 + tuple(slice(p, p + o) for p, o in zip(padding, out))]
    res = res.reshape((N, groups * Cog) + out)
    return res if b is None else res + b.reshape(1, -1, 1, 1, 1)


def _ref_weight_grad3(x, g, wshape, stride, padding, dilation, groups):
    N = x.shape[0]
    O, Cg = wshape[:2]
    out = g.shape[2:]
    xp = _pad(x, padding)
    gw = np.zeros(wshape)
    gg = g.reshape((N, groups, O // groups) + out)
    for pos in itertools.product(*(range(k) for k in wshape[2:])):
        sl = tuple(slice(i * d, i * d + s * (o - 1) + 1, s)
                   for i, d, s, o in zip(pos, dilation, stride, out))
        patch = xp[(slice(None), slice(None)) + sl].reshape((N, groups, Cg) + out)
        gw[(slice(None), slice(None)) + pos] = np.einsum(
            "ngodhw,ngcdhw->goc", gg, patch).reshape(O, Cg)
    return gw


def _ref_pool3d(x, k, s=None, p=0, d=1, ceil_mode=False, mode="max", count_include_pad=True,
                divisor_override=None):
    """Direct loops over output voxels (small inputs only); max returns (values, flat
    indices over D*H*W) with the first maximum winning."""
    k = _t3(k)
    s = k if s is None else _t3(s)
    p, d = _t3(p), _t3(d)
    N, C = x.shape[:2]
    sizes = x.shape[2:]

    def out_size(n, k_, s_, p_, d_):
        o = (n + 2 * p_ - d_ * (k_ - 1) - 1 + (s_ - 1 if ceil_mode else 0)) // s_ + 1
        if ceil_mode and (o - 1) * s_ >= n + p_:
            o -= 1
        return o

    out = tuple(out_size(*a) for a in zip(sizes, k, s, p, d))
    val = np.zeros((N, C) + out)
    idx = np.zeros((N, C) + out, dtype=np.int64)
    for o in itertools.product(*(range(n) for n in out)):
        starts = [o[i] * s[i] - p[i] for i in range(3)]
        coords = [[starts[i] + j * d[i] for j in range(k[i])] for i in range(3)]
        inside = [(a, b_, c) for a in coords[0] for b_ in coords[1] for c in coords[2]
                  if 0 <= a < sizes[0] and 0 <= b_ < sizes[1] and 0 <= c < sizes[2]]
        if mode == "max":
            best = np.full((N, C), -np.inf)
            arg = np.zeros((N, C), dtype=np.int64)
            for a, b_, c in inside:
                v = x[:, :, a, b_, c]
                better = v > best
                best = np.where(better, v, best)
                arg = np.where(better, (a * sizes[1] + b_) * sizes[2] + c, arg)
            val[(slice(None), slice(None)) + o] = best
            idx[(slice(None), slice(None)) + o] = arg
        else:
            total = sum((x[:, :, a, b_, c] for a, b_, c in inside), np.zeros((N, C)))
            if divisor_override:
                div = divisor_override
            elif count_include_pad:
                div = np.prod([min(starts[i] + k[i], sizes[i] + p[i]) - starts[i]
                               for i in range(3)])
            else:
                div = len(inside)
            val[(slice(None), slice(None)) + o] = total / div
    return (val, idx) if mode == "max" else val


# ---- internal-op call helpers --------------------------------------------------------------------

def _wgrad_call(wshape, stride, padding, dilation, groups):
    def call(m, x, g):
        if m.__name__ == "yingshe":
            c3 = _c3()
            return c3.apply(c3.Conv3dWeightGrad, x, g, weight_shape=wshape, stride=stride,
                            padding=tuple((p, p) for p in padding), dilation=dilation,
                            groups=groups)
        return m.nn.grad.conv3d_weight(x, wshape, g, stride, padding, dilation, groups)
    return call


def _avg_bwd_call(input_shape, k, s, p, ceil_mode, cip, div):
    def call(m, g):
        if m.__name__ == "yingshe":
            c3 = _c3()
            return c3.apply(c3.AvgPool3dBackward, g, input_shape=input_shape, kernel_size=k,
                            stride=s, padding=p, ceil_mode=ceil_mode, count_include_pad=cip,
                            divisor_override=div)
        return m.ops.aten.avg_pool3d_backward(g, m.zeros(input_shape, dtype=g.dtype), list(k),
                                              list(s), list(p), ceil_mode, cip, div)
    return call


def _ref_avg_bwd(input_shape, **kw):
    """The adjoint by brute force: the avg_pool3d reference applied to unit vectors."""
    def ref(g):
        n = int(np.prod(input_shape))
        out = np.zeros(n)
        for i in range(n):
            e = np.zeros(n)
            e[i] = 1.0
            out[i] = np.sum(_ref_pool3d(e.reshape(input_shape), mode="avg", **kw) * g)
        return out.reshape(input_shape)
    return ref


# ---- records -------------------------------------------------------------------------------------

CONV_CASES = [
    # name, x shape, w shape, kwargs
    ("basic", (2, 2, 4, 3, 4), (3, 2, 2, 2, 2), {}),
    ("stride-pad-dilation", (1, 2, 5, 4, 6), (3, 2, 2, 2, 3),
     dict(stride=(2, 1, 2), padding=(1, 0, 2), dilation=(1, 2, 1))),
    ("groups", (1, 4, 3, 4, 3), (4, 2, 2, 1, 2), dict(groups=2, padding=1)),
    ("depthwise-stride3", (1, 2, 5, 4, 4), (2, 1, 2, 2, 2), dict(groups=2, stride=3)),
]

CASES = []
for _name, _xs, _ws, _kw in CONV_CASES:
    CASES.append(OpCase(
        "conv3d", (lambda kw: lambda m, x, w, b: _F(m).conv3d(x, w, b, **kw))(_kw),
        gen(normal(*_xs), normal(*_ws), normal(_ws[0])),
        (lambda kw: lambda x, w, b: _ref_conv3d(x, w, b, **kw))(_kw), name=_name))
CASES += [
    OpCase("conv3d", lambda m, x, w: _F(m).conv3d(x, w, padding="same", dilation=(1, 2, 1)),
           gen(normal(1, 2, 3, 5, 4), normal(2, 2, 2, 2, 3)), None, name="same-even-kernel"),
    OpCase("conv3d", lambda m, x, w: _F(m).conv3d(x, w, padding="valid"),
           gen(noncontig(1, 2, 4, 3, 3), normal(2, 2, 2, 2, 2)),
           lambda x, w: _ref_conv3d(x, w), name="noncontig-valid"),
    OpCase("conv3d", lambda m, x, w, b: _F(m).conv3d(x, w, b, padding=1),
           gen(normal(2, 3, 3, 2), normal(2, 2, 3, 2, 1), normal(2)),
           lambda x, w, b: _ref_conv3d(x[None], w, b, padding=1)[0], name="unbatched"),
    OpCase("conv3d", lambda m, x, w: _F(m).conv3d(x, w),
           gen(normal(0, 2, 3, 3, 3), normal(2, 2, 2, 2, 2)),
           lambda x, w: _ref_conv3d(x, w), name="empty-batch", fd=False),
]

CONVT_CASES = [
    ("basic", (1, 2, 3, 2, 3), (2, 2, 2, 2, 2), {}),
    ("stride-pad-outpad", (1, 2, 2, 3, 2), (2, 2, 3, 2, 2),
     dict(stride=2, padding=1, output_padding=(1, 0, 1))),
    ("groups-dilation", (1, 4, 2, 2, 3), (4, 1, 2, 2, 2),
     dict(groups=2, dilation=(2, 1, 1), stride=(1, 2, 3), output_padding=(0, 1, 2))),
]
for _name, _xs, _ws, _kw in CONVT_CASES:
    _g = _kw.get("groups", 1)
    CASES.append(OpCase(
        "conv_transpose3d",
        (lambda kw: lambda m, x, w, b: _F(m).conv_transpose3d(x, w, b, **kw))(_kw),
        gen(normal(*_xs), normal(*_ws), normal(_ws[1] * _g)),
        (lambda kw: lambda x, w, b: _ref_conv_transpose3d(x, w, b, **kw))(_kw), name=_name))
CASES.append(OpCase(
    "conv_transpose3d", lambda m, x, w: _F(m).conv_transpose3d(x, w, stride=2),
    gen(normal(2, 2, 2, 3), normal(2, 1, 2, 2, 2)),
    lambda x, w: _ref_conv_transpose3d(x[None], w, stride=2)[0], name="unbatched"))

for _name, _xs, _ws, _s, _p, _d, _g in [
        ("basic", (2, 2, 4, 3, 3), (3, 2, 2, 2, 2), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1),
        ("strided-groups", (1, 4, 4, 5, 4), (4, 2, 2, 2, 2), (2, 1, 2), (1, 0, 1), (1, 2, 1),
         2)]:
    _o = [(_xs[2 + i] + 2 * _p[i] - _d[i] * (_ws[2 + i] - 1) - 1) // _s[i] + 1
          for i in range(3)]
    CASES.append(OpCase(
        "conv3d_weight_grad", _wgrad_call(_ws, _s, _p, _d, _g),
        gen(normal(*_xs), normal(_xs[0], _ws[0], *_o)),
        (lambda ws, s, p, d, g: lambda x, gg: _ref_weight_grad3(x, gg, ws, s, p, d, g))(
            _ws, _s, _p, _d, _g), name=_name))

POOL_CASES = [
    ("k2", dict(kernel_size=2), (1, 2, 4, 5, 4)),
    ("k3s2p1-ceil", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (1, 2, 5, 4, 6)),
    ("rect", dict(kernel_size=(2, 3, 1), stride=(1, 2, 1), padding=(1, 1, 0)), (2, 1, 3, 5, 3)),
]
for _name, _kw, _xs in POOL_CASES:
    CASES.append(OpCase(
        "max_pool3d_with_indices",
        (lambda kw: lambda m, x: _F(m).max_pool3d(x, return_indices=True, **kw))(_kw),
        gen(normal(*_xs)),
        (lambda kw: lambda x: _ref_pool3d(x, kw["kernel_size"], kw.get("stride"),
                                          kw.get("padding", 0), 1, kw.get("ceil_mode", False)))(
            _kw), name=_name))
    CASES.append(OpCase(
        "max_pool3d", (lambda kw: lambda m, x: _F(m).max_pool3d(x, **kw))(_kw),
        gen(normal(*_xs)),
        (lambda kw: lambda x: _ref_pool3d(x, kw["kernel_size"], kw.get("stride"),
                                          kw.get("padding", 0), 1,
                                          kw.get("ceil_mode", False))[0])(_kw), name=_name))
    for _cip in (True, False):
        CASES.append(OpCase(
            "avg_pool3d",
            (lambda kw, cip: lambda m, x: _F(m).avg_pool3d(x, count_include_pad=cip, **kw))(
                _kw, _cip),
            gen(normal(*_xs)),
            (lambda kw, cip: lambda x: _ref_pool3d(
                x, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0), 1,
                kw.get("ceil_mode", False), "avg", cip))(_kw, _cip),
            name=f"{_name}-{'incl' if _cip else 'excl'}"))
CASES += [
    OpCase("max_pool3d", lambda m, x: _F(m).max_pool3d(x, 2, 1, 1, dilation=(1, 2, 2)),
           gen(normal(1, 2, 4, 5, 5)),
           lambda x: _ref_pool3d(x, 2, 1, 1, (1, 2, 2))[0], name="dilation"),
    OpCase("max_pool3d_with_indices",
           lambda m, x: _F(m).max_pool3d(x, (1, 2, 2), return_indices=True),
           gen(normal(2, 3, 4, 4)),
           lambda x: tuple(a[0] for a in _ref_pool3d(x[None], (1, 2, 2))), name="unbatched"),
    OpCase("avg_pool3d", lambda m, x: _F(m).avg_pool3d(x, 3, 2, 1, divisor_override=5),
           gen(normal(1, 2, 5, 4, 5)),
           lambda x: _ref_pool3d(x, 3, 2, 1, mode="avg", divisor_override=5),
           name="divisor"),
    OpCase("avg_pool3d", lambda m, x: _F(m).avg_pool3d(x, 2, ceil_mode=True),
           gen(noncontig(2, 3, 3, 5, 3)),
           lambda x: _ref_pool3d(x, 2, ceil_mode=True, mode="avg"), name="noncontig-ceil"),
    OpCase("avg_pool3d_backward", _avg_bwd_call((1, 2, 5, 4, 5), (3, 2, 3), (2, 2, 2),
                                                (1, 1, 1), True, False, None),
           gen(normal(1, 2, 3, 3, 3)),
           _ref_avg_bwd((1, 2, 5, 4, 5), k=(3, 2, 3), s=(2, 2, 2), p=1, ceil_mode=True,
                        count_include_pad=False), name="ceil-excl"),
    OpCase("avg_pool3d_backward", _avg_bwd_call((1, 1, 4, 3, 5), (2, 2, 2), (2, 1, 2),
                                                (1, 0, 1), False, True, None),
           gen(normal(1, 1, 3, 2, 3)),
           _ref_avg_bwd((1, 1, 4, 3, 5), k=2, s=(2, 1, 2), p=(1, 0, 1)), name="incl"),
]

ERRORS = [
    ErrorCase("conv3d", lambda m, x, w: _F(m).conv3d(x, w),
              gen(normal(1, 3, 3, 3, 3), normal(2, 4, 2, 2, 2)), ShapeError,
              "to have 4 channels, but got 3 channels", torch_exc=RuntimeError),
    ErrorCase("conv3d", lambda m, x, w: _F(m).conv3d(x, w),
              gen(normal(1, 2, 2, 4, 4), normal(2, 2, 3, 3, 3)), ShapeError,
              "conv3d: calculated output size", name="kernel-too-big",
              torch_exc=RuntimeError),
    ErrorCase("conv_transpose3d", lambda m, x, w: _F(m).conv_transpose3d(x, w),
              gen(normal(1, 3, 2, 2, 2), normal(2, 2, 2, 2, 2)), ShapeError,
              "to have 2 channels, but got 3 channels", torch_exc=RuntimeError),
    ErrorCase("max_pool3d", lambda m, x: _F(m).max_pool3d(x, 2, padding=2),
              gen(normal(1, 1, 4, 4, 4)), ShapeError, "pad should be at most half",
              torch_exc=RuntimeError),
    ErrorCase("avg_pool3d", lambda m, x: _F(m).avg_pool3d(x, 3), gen(normal(1, 1, 2, 4, 4)),
              ShapeError, "too small", name="too-small", torch_exc=RuntimeError),
]
