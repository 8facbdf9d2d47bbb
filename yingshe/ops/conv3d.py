"""3-D convolution and pooling over NCDHW inputs (PyTorch's ``conv3d``,
``conv_transpose3d``, ``max_pool3d``, ``avg_pool3d``).

Every registered op is closed under differentiation, so second derivatives work:

* ``conv3d`` (input grad: ``conv_transpose3d``; weight grad: ``conv3d_weight_grad``),
  ``conv_transpose3d`` and ``conv3d_weight_grad`` are each other's VJPs, like the 2-D
  trio in ``yingshe.ops.nn``, on the same N-d kernels (``yingshe.ops._conv``: chunked
  im2col with one GEMM per chunk, wide stride-1 columns over the flattened padded
  volume, and the stride-1 transposed convolution's col2im as one strided sum).
* ``max_pool3d`` (the window position of each maximum a hidden output) has the N-d
  ``max_pool_backward`` / ``max_pool_gather`` (shared with the 2-D pooling) as its VJP
  pair; ``avg_pool3d`` <-> ``avg_pool3d_backward`` (a linear map and its adjoint). The
  pooling kernels are ``yingshe.ops._pool``'s, shared with 2-D.

``FUNCTIONAL`` lists the public functions of ``torch.nn.functional``.
"""

from __future__ import annotations

from yingshe import _dtype
from yingshe.errors import ShapeError, DTypeError
from yingshe.ops import _conv, _pool
from yingshe.ops._registry import apply, register_op
from yingshe.ops._shapes import Meta, shape_str
from yingshe.ops.nn import (_check_float_pair, _conv_check, _conv_infer, _conv_padding,
                            _conv_transpose_vjp, _conv_vjp, _pool_args, _pool_geometry,
                            _register_max_pool, _tuple, _unbatched, _weight_grad_vjp,
                            check_same_dtype)

__all__ = ["conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d"]

FUNCTIONAL = ["conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d"]


@register_op("conv3d", saves="inputs")
class Conv3d:
    """3-D cross-correlation (NCDHW); ``padding`` is ((lo, hi),) per spatial dim."""

    def forward(xp, x, w, b=None, *, stride, padding, dilation, groups):
        check_same_dtype("conv3d", "input, weight and bias", x, w, b)
        return _conv.forward(x, w, b, stride, padding, dilation, groups)

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
        return _conv.transpose(x, w, b, stride, padding, dilation, groups, out_dhw)

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
        return _conv.weight_grad(x, g, weight_shape, stride, padding, dilation, groups)

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


MaxPool3d, MaxPool3dWithIndices = _register_max_pool(3)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling, as ``torch.nn.functional.max_pool3d`` (indices are flat positions
    in each input D*H*W volume)."""
    x, squeeze = _unbatched(input, 5, "max_pool3d")
    k, s, p, d = _pool_args("max_pool3d", kernel_size, stride, padding, dilation, nd=3)
    attrs = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=bool(ceil_mode))
    if not return_indices:
        val = apply(MaxPool3d, x, **attrs)[0]
        return val.squeeze(0) if squeeze else val
    val, idx = apply(MaxPool3dWithIndices, x, **attrs)
    if squeeze:
        val, idx = val.squeeze(0), idx.squeeze(0)
    return val, idx


@register_op("avg_pool3d", saves="none")
class AvgPool3d:
    """Average over windows (PyTorch's divisor rules for padding and ceil_mode)."""

    def forward(xp, x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        return _pool.avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                              divisor_override)

    def infer(x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
        _check_pool_input("avg_pool3d", x)
        if not (x.dtype.is_floating_point or x.dtype is _dtype.int64):
            # PyTorch averages int64 (truncating) and no other integer dtype
            raise DTypeError(f"avg_pool3d: expected a floating-point or int64 input, got "
                             f"{x.dtype}")
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
        return _pool.avg_pool_backward(g, input_shape, kernel_size, stride, padding, ceil_mode,
                                       count_include_pad, divisor_override)

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
