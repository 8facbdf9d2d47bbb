"""3-D convolution and pooling over NCDHW inputs (PyTorch's ``conv3d``,
``conv_transpose3d``, ``max_pool3d``, ``avg_pool3d``).

Every registered op is closed under differentiation, so second derivatives work:

* ``conv3d`` (input grad: ``conv_transpose3d``; weight grad: ``conv3d_weight_grad``),
  ``conv_transpose3d`` and ``conv3d_weight_grad`` are each other's VJPs, like the 2-D
  trio in ``yingshe.ops.nn``. Forward and weight grad are im2col (one strided
  ``sliding_window_view``, one copy, columns ``(N, C*kd*kh*kw, L)``) + one ``matmul``
  batched over samples and groups, whose output is already NCDHW; the transposed
  convolution is one matmul to columns + col2im (one strided slice-add per kernel
  position, never a loop over voxels).
* ``max_pool3d`` (values + flat indices over D*H*W) has ``pool_scatter_add`` /
  ``pool_gather`` (shared with the 2-D pooling) as its VJP pair;
  ``avg_pool3d`` <-> ``avg_pool3d_backward`` (a linear map and its adjoint).

``FUNCTIONAL`` lists the public functions of ``torch.nn.functional``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from yingshe import _dtype
from yingshe.errors import ShapeError, DTypeError
from yingshe.ops._registry import apply, register_op
from yingshe.ops._shapes import Meta, shape_str
from yingshe.ops.nn import (PoolScatterAdd, _check_float_pair, _conv_check, _conv_infer,
                            _conv_out, _conv_padding, _conv_transpose_vjp, _conv_vjp,
                            check_same_dtype, _pool_args, _pool_geometry, _sum_of_products, _tuple,
                            _unbatched, _weight_grad_vjp)

__all__ = ["conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d"]

FUNCTIONAL = ["conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d"]

_SP = (2, 3, 4)   # the spatial axes of an NCDHW array


# ---- kernels (NumPy) -----------------------------------------------------------------------------

def _pad3(xp, x, pads, value=0.0):
    """Pad the last three dims of an NCDHW array by ((lo, hi),) * 3; a negative ``hi``
    crops (the adjoint of an output_padding, see ``ConvTranspose3d.vjp``)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    if any(hi < 0 for _, hi in pads):
        x = x[(slice(None), slice(None))
              + tuple(slice(0, n + min(hi, 0)) for n, (_, hi) in zip(x.shape[2:], pads))]
        pads = tuple((lo, max(hi, 0)) for lo, hi in pads)
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
    out = xp.full(shape, value, dtype=x.dtype)
    out[(slice(None), slice(None))
        + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads))] = x
    return out


def _windows3(x, kernel, stride, dilation, out):
    """A read-only view (N, C, kd, kh, kw, OD, OH, OW) of the windows of a padded array."""
    v = sliding_window_view(x, tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation)),
                            axis=_SP)
    v = v[(slice(None), slice(None))
          + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride))
          + tuple(slice(None, None, d) for d in dilation)]
    return v.transpose(0, 1, 5, 6, 7, 2, 3, 4)


def _im2col3(xp, x, kernel, stride, pads, dilation, out):
    """C-contiguous columns (N, C*kd*kh*kw, OD*OH*OW), rows ordered like the weight's
    (Cg, kd, kh, kw)."""
    N, C = x.shape[:2]
    win = _windows3(_pad3(xp, x, pads), kernel, stride, dilation, out)
    return xp.ascontiguousarray(win).reshape(N, C * int(np.prod(kernel)), int(np.prod(out)))


def _col2im3(xp, cols, out, stride, pads, dilation):
    """The adjoint of ``_windows3``: cols (N, C, kd, kh, kw, ID, IH, IW) (any strides)
    summed into an (N, C, D, H, W) array, one strided slice-add per kernel position."""
    N, C = cols.shape[:2]
    kernel, inner = cols.shape[2:5], cols.shape[5:]
    buf_shape = tuple(max((k - 1) * d + (i - 1) * s + 1, lo + n)
                      for k, d, i, s, (lo, _), n in zip(kernel, dilation, inner, stride, pads,
                                                        out))
    buf = xp.zeros((N, C) + buf_shape, dtype=cols.dtype)
    if all(i > 0 for i in inner):
        for pos in np.ndindex(*kernel):
            sl = tuple(slice(p * d, p * d + (i - 1) * s + 1, s)
                       for p, d, i, s in zip(pos, dilation, inner, stride))
            buf[(slice(None), slice(None)) + sl] += cols[(slice(None), slice(None)) + pos]
    res = buf[(slice(None), slice(None))
              + tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, out))]
    return xp.ascontiguousarray(res)


def _conv3d_forward(xp, x, w, b, stride, padding, dilation, groups):
    N = x.shape[0]
    O, Cg = w.shape[:2]
    kernel = w.shape[2:]
    out = tuple(_conv_out(n, k, s, p, d)
                for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation))
    cols = _im2col3(xp, x, kernel, stride, padding, dilation, out)
    K, L, G = cols.shape[1] // groups, cols.shape[2], groups
    res = xp.matmul(w.reshape(G, O // G, K), cols.reshape(N, G, K, L))   # (N, G, Og, L)
    res = res.reshape((N, O) + out)
    if b is not None:
        res += b.reshape(1, O, 1, 1, 1)
    return res


def _conv_transpose3d_forward(xp, x, w, b, stride, padding, dilation, groups, out):
    """x (N, Cin, ID, IH, IW), w (Cin, Cout/G, kd, kh, kw) -> (N, Cout, *out): one matmul
    to columns, then col2im."""
    N, Cin = x.shape[:2]
    inner = x.shape[2:]
    Cog = w.shape[1]
    kernel = w.shape[2:]
    G, K = groups, int(np.prod(kernel))
    wg = w.reshape(G, Cin // G, Cog * K).transpose(0, 2, 1)            # (G, Cog*K, Cin/G)
    cols = xp.matmul(wg, x.reshape(N, G, Cin // G, int(np.prod(inner))))
    cols = cols.reshape((N, G * Cog) + tuple(kernel) + tuple(inner))
    res = _col2im3(xp, cols, out, stride, padding, dilation)
    if b is not None:
        res += b.reshape(1, -1, 1, 1, 1)
    return res


def _conv3d_weight_grad(xp, x, g, wshape, stride, padding, dilation, groups):
    O, Cg = wshape[:2]
    N = g.shape[0]
    out = tuple(g.shape[2:])
    cols = _im2col3(xp, x, tuple(wshape[2:]), stride, padding, dilation, out)
    G, K, L = groups, cols.shape[1] // groups, cols.shape[2]
    cols = cols.reshape(N, G, K, L).swapaxes(-1, -2)                    # (N, G, L, K)
    gg = g.reshape(N, G, O // G, L)
    return _sum_of_products(xp, gg, cols, (G, O // G, K)).reshape(wshape)  # g[n] @ cols[n]^T


@register_op("conv3d", saves="inputs")
class Conv3d:
    """3-D cross-correlation (NCDHW); ``padding`` is ((lo, hi),) per spatial dim."""

    def forward(xp, x, w, b=None, *, stride, padding, dilation, groups):
        check_same_dtype("conv3d", "input, weight and bias", x, w, b)
        return _conv3d_forward(xp, x, w, b, stride, padding, dilation, groups)

    def infer(x, w, b=None, *, stride, padding, dilation, groups):
        return _conv_infer("conv3d", x, w, b, stride, padding, dilation, groups)

    def vjp(g, out, x, w, b=None, *, stride, padding, dilation, groups, needs):
        return _conv_vjp(_TRIO_3D, g, x, w, b, stride, padding, dilation, groups, needs)


@register_op("conv_transpose3d", saves="inputs")
class ConvTranspose3d:
    """The adjoint of ``conv3d`` w.r.t. its input (weight (Cin, Cout/groups, kd, kh, kw)),
    producing an output of spatial size ``out_dhw``."""

    def forward(xp, x, w, b=None, *, stride, padding, dilation, groups, out_dhw):
        check_same_dtype("conv_transpose3d", "input, weight and bias", x, w, b)
        return _conv_transpose3d_forward(xp, x, w, b, stride, padding, dilation, groups,
                                         out_dhw)

    def infer(x, w, b=None, *, stride, padding, dilation, groups, out_dhw):
        O = _conv_check("conv_transpose3d", x, w, b, groups, transposed=True, nd=3)
        return Meta((x.shape[0], O, *out_dhw), x.dtype)

    def vjp(g, out, x, w, b=None, *, stride, padding, dilation, groups, out_dhw, needs):
        return _conv_transpose_vjp(_TRIO_3D, g, x, w, b, stride, padding, dilation, groups,
                                   out_dhw, needs)


@register_op("conv3d_weight_grad", saves="inputs")
class Conv3dWeightGrad:
    """The gradient of ``conv3d`` w.r.t. its weight: ``(input, grad_output) -> dW``
    (bilinear; its own VJP is a ``conv_transpose3d`` and a ``conv3d``)."""

    def forward(xp, x, g, *, weight_shape, stride, padding, dilation, groups):
        return _conv3d_weight_grad(xp, x, g, weight_shape, stride, padding, dilation, groups)

    def infer(x, g, *, weight_shape, stride, padding, dilation, groups):
        _check_float_pair("conv3d_weight_grad", x, g)
        if x.ndim != 5 or g.ndim != 5:
            raise ShapeError(f"conv3d_weight_grad: expected 5-D input and grad_output, got "
                             f"{shape_str(x.shape)} and {shape_str(g.shape)}")
        return Meta(tuple(weight_shape), x.dtype)

    def vjp(h, out, x, g, *, weight_shape, stride, padding, dilation, groups, needs):
        return _weight_grad_vjp(_TRIO_3D, h, x, g, stride, padding, dilation, groups, needs)


_TRIO_3D = (Conv3d, ConvTranspose3d, Conv3dWeightGrad, "out_dhw")


def _positive(opname, **kw):
    for name, v in kw.items():
        if any(i <= 0 for i in v):
            raise ValueError(f"{opname}: {name} must be positive, got {name}={v}")


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) over an NCDHW input, as
    ``torch.nn.functional.conv3d`` (padding: int, triple, 'same' or 'valid')."""
    x, squeeze = _unbatched(input, 5, "conv3d")
    if weight.ndim != 5:
        raise ShapeError(f"conv3d: expected a 5-D weight, got {shape_str(weight.shape)}")
    stride = _tuple(stride, 3, "stride", "conv3d")
    dilation = _tuple(dilation, 3, "dilation", "conv3d")
    _positive("conv3d", stride=stride, dilation=dilation, groups=(groups,))
    pads = _conv_padding(padding, tuple(weight.shape[2:]), dilation, stride, "conv3d")
    args = (x, weight) if bias is None else (x, weight, bias)
    out = apply(Conv3d, *args, stride=stride, padding=pads, dilation=dilation,
                groups=int(groups))
    return out.squeeze(0) if squeeze else out


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """Transposed 3-D convolution, as ``torch.nn.functional.conv_transpose3d``."""
    x, squeeze = _unbatched(input, 5, "conv_transpose3d")
    stride = _tuple(stride, 3, "stride", "conv_transpose3d")
    dilation = _tuple(dilation, 3, "dilation", "conv_transpose3d")
    padding = _tuple(padding, 3, "padding", "conv_transpose3d")
    output_padding = _tuple(output_padding, 3, "output_padding", "conv_transpose3d")
    _positive("conv_transpose3d", stride=stride, dilation=dilation, groups=(groups,))
    if any(p < 0 for p in padding + output_padding):
        raise ValueError(f"conv_transpose3d: negative padding is not supported, got "
                         f"padding={padding}, output_padding={output_padding}")
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= s and op_ >= d:
            raise ValueError(f"conv_transpose3d: output padding must be smaller than either "
                             f"stride or dilation, got output_padding={output_padding}, "
                             f"stride={stride}, dilation={dilation}")
    if weight.ndim != 5:
        raise ShapeError(f"conv_transpose3d: expected a 5-D weight, got "
                         f"{shape_str(weight.shape)}")
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1
                for n, s, p, d, k, o in zip(x.shape[2:], stride, padding, dilation,
                                            weight.shape[2:], output_padding))
    if any(o <= 0 for o in out):
        raise ShapeError(f"conv_transpose3d: calculated output size {out} is too small "
                         f"(input {shape_str(x.shape)}, weight {shape_str(weight.shape)})")
    args = (x, weight) if bias is None else (x, weight, bias)
    res = apply(ConvTranspose3d, *args, stride=stride, padding=tuple((p, p) for p in padding),
                dilation=dilation, groups=int(groups), out_dhw=out)
    return res.squeeze(0) if squeeze else res


# ---- pooling -------------------------------------------------------------------------------------

def _check_pool_input(opname, x):
    if x.ndim != 5:
        raise ShapeError(f"{opname}: expected a 5-D input, got {shape_str(x.shape)}")


@register_op("max_pool3d", saves="output", num_outputs=2)
class MaxPool3d:
    """Max over windows; outputs (values, flat indices into each input D*H*W volume).
    The first maximum wins; a window holding NaNs gives NaN and the last NaN's index
    (PyTorch's CPU rule)."""

    def forward(xp, x, *, kernel_size, stride, padding, dilation, ceil_mode):
        D, H, W = x.shape[2:]
        out, pads = _pool_geometry("max_pool3d", x.shape, kernel_size, stride, padding,
                                    dilation, ceil_mode)
        fill = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        win = _windows3(_pad3(xp, x, pads, fill), kernel_size, stride, dilation, out)
        cands = [win[(slice(None), slice(None)) + pos] for pos in np.ndindex(*kernel_size)]
        val = cands[0].copy()
        for c in cands[1:]:
            xp.maximum(val, c, out=val)        # NaN propagates
        # the position of the first maximum = the number of leading candidates that miss it
        arg = xp.zeros(val.shape, dtype=xp.int64)
        if len(cands) > 1:
            miss = xp.not_equal(cands[0], val)
            arg += miss
            for c in cands[1:-1]:
                xp.logical_and(miss, xp.not_equal(c, val), out=miss)
                arg += miss
        if x.dtype.kind == "f":
            nan = xp.isnan(val)
            if nan.any():
                for k, c in enumerate(cands):      # walking forward: the last NaN wins
                    arg = xp.where(nan & xp.isnan(c), k, arg)
        kd, kh, kw = kernel_size
        a, rest = xp.divmod(arg, kh * kw)
        bb, cc = xp.divmod(rest, kw)
        od, oh, ow = (xp.arange(o) * s - p for o, s, p in zip(out, stride, padding))
        idx = (od.reshape(-1, 1, 1) + a * dilation[0]) * (H * W)
        idx += (oh.reshape(-1, 1) + bb * dilation[1]) * W
        idx += ow + cc * dilation[2]
        return val, idx

    def infer(x, *, kernel_size, stride, padding, dilation, ceil_mode):
        _check_pool_input("max_pool3d", x)
        out, _ = _pool_geometry("max_pool3d", x.shape, kernel_size, stride, padding,
                                 dilation, ceil_mode)
        shape = (x.shape[0], x.shape[1], *out)
        return Meta(shape, x.dtype), Meta(shape, _dtype.int64)

    def vjp(g, out, x, *, kernel_size, stride, padding, dilation, ceil_mode):
        return apply(PoolScatterAdd, g[0], out[1], shape=tuple(x.shape))


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling, as ``torch.nn.functional.max_pool3d`` (indices are flat positions
    in each input D*H*W volume)."""
    x, squeeze = _unbatched(input, 5, "max_pool3d")
    k, s, p, d = _pool_args("max_pool3d", kernel_size, stride, padding, dilation, nd=3)
    val, idx = apply(MaxPool3d, x, kernel_size=k, stride=s, padding=p, dilation=d,
                     ceil_mode=bool(ceil_mode))
    if squeeze:
        val, idx = val.squeeze(0), idx.squeeze(0)
    return (val, idx) if return_indices else val


def _avg_divisor3(shape, kernel, stride, padding, out, count_include_pad, divisor_override,
                  dtype):
    """PyTorch's divisor per output voxel: the window clipped to the padded input (or to
    the input itself without ``count_include_pad``), or ``divisor_override``."""
    if divisor_override:
        return np.asarray(divisor_override, dtype=dtype)
    sizes = []
    for i in range(3):
        n, k, s, p = shape[2 + i], kernel[i], stride[i], padding[i]
        start = np.arange(out[i]) * s - p
        end = np.minimum(start + k, n + p)
        size = end - start
        if not count_include_pad:
            size = np.minimum(end, n) - np.maximum(start, 0)
        sizes.append(size)
    return (sizes[0][:, None, None] * sizes[1][:, None] * sizes[2]).astype(dtype)


@register_op("avg_pool3d", saves="none")
class AvgPool3d:
    """Average over windows (PyTorch's divisor rules for padding and ceil_mode)."""

    def forward(xp, x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        out, pads = _pool_geometry("avg_pool3d", x.shape, kernel_size, stride, padding,
                                    (1, 1, 1), ceil_mode)
        win = _windows3(_pad3(xp, x, pads), kernel_size, stride, (1, 1, 1), out)
        acc = None
        for pos in np.ndindex(*kernel_size):
            c = win[(slice(None), slice(None)) + pos]
            if acc is None:
                acc = c.copy()
            else:
                acc += c
        acc /= _avg_divisor3(x.shape, kernel_size, stride, padding, out, count_include_pad,
                             divisor_override, x.dtype)
        return acc

    def infer(x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
        _check_pool_input("avg_pool3d", x)
        if not x.dtype.is_floating_point:
            raise DTypeError(f"avg_pool3d: expected a floating-point input, got {x.dtype}")
        out, _ = _pool_geometry("avg_pool3d", x.shape, kernel_size, stride, padding,
                                 (1, 1, 1), ceil_mode)
        return Meta((x.shape[0], x.shape[1], *out), x.dtype)

    def vjp(g, out, x, **attrs):
        return apply(AvgPool3dBackward, g, input_shape=tuple(x.shape), **attrs)


@register_op("avg_pool3d_backward", saves="none")
class AvgPool3dBackward:
    """The adjoint of ``avg_pool3d`` (spreads each output gradient over its window)."""

    def forward(xp, g, *, input_shape, kernel_size, stride, padding, ceil_mode,
                count_include_pad, divisor_override):
        out, pads = _pool_geometry("avg_pool3d", input_shape, kernel_size, stride, padding,
                                    (1, 1, 1), ceil_mode)
        gd = g / _avg_divisor3(input_shape, kernel_size, stride, padding, out,
                               count_include_pad, divisor_override, g.dtype)
        cols = xp.broadcast_to(gd[:, :, None, None, None],
                               gd.shape[:2] + tuple(kernel_size) + gd.shape[2:])
        return _col2im3(xp, cols, tuple(input_shape[2:]), stride, pads, (1, 1, 1))

    def infer(g, *, input_shape, **attrs):
        if g.ndim != 5:
            raise ShapeError(f"avg_pool3d_backward: expected a 5-D gradient, got "
                             f"{shape_str(g.shape)}")
        return Meta(tuple(input_shape), g.dtype)

    def vjp(h, out, g, *, input_shape, **attrs):
        return apply(AvgPool3d, h, **attrs)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """3-D average pooling, as ``torch.nn.functional.avg_pool3d``."""
    x, squeeze = _unbatched(input, 5, "avg_pool3d")
    k, s, p, _ = _pool_args("avg_pool3d", kernel_size, stride, padding, 1, nd=3)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("avg_pool3d: divisor must be not zero")
    out = apply(AvgPool3d, x, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                count_include_pad=bool(count_include_pad),
                divisor_override=None if divisor_override is None else int(divisor_override))
    return out.squeeze(0) if squeeze else out
