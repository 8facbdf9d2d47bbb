"""Neural-network ops: convolution, pooling, normalisation, dropout, embedding, GELU,
interpolation and attention (NCHW layout, PyTorch's functional names and signatures).

Every registered op here is closed under differentiation, so second derivatives work:

* ``conv2d`` (input grad: ``conv_transpose2d``; weight grad: ``conv2d_weight_grad``),
  ``conv_transpose2d`` and ``conv2d_weight_grad`` are each other's VJPs. Their kernels
  (shared with the 3-D ops) are in ``yingshe.ops._conv``: im2col in cache-sized chunks
  of samples with one GEMM per chunk, "wide" columns at stride 1, and the transposed
  convolution's col2im as one strided sum.
* pooling (kernels in ``yingshe.ops._pool``, shared with 3-D): ``max_pool2d`` keeps the
  window position of each maximum as a hidden output; its VJP ``max_pool_backward`` and
  that op's VJP ``max_pool_gather`` are a linear map and its adjoint (one masked pass per
  kernel position); ``avg_pool2d`` <-> ``avg_pool2d_backward`` likewise.
* batch normalisation in training is one op, ``batch_norm`` (statistics, normalisation,
  scale and shift in a few whole-array passes), whose VJP is ``batch_norm_backward``
  (likewise); layer/group/instance norm and evaluation-mode batch norm are
  ``norm_moments`` (mean and biased variance) followed by ``norm_apply`` ((x - mean) *
  rsqrt(var + eps) * w + b), whose autograd composition gives the gradient.
* ``adaptive_avg_pool2d`` and ``interpolate`` are separable: along each resized axis every
  output reads a few inputs (PyTorch's index formulas), gathered with ``index_select`` and
  combined. Not matmuls with the dense constant matrices: their zeros multiply every input,
  so one NaN or inf pixel made the whole output row NaN (0 * NaN is NaN).

``FUNCTIONAL`` lists the public functions that live only in ``torch.nn.functional``;
``__all__`` those that PyTorch also has at the top level (``torch.conv2d`` ...).
"""

from __future__ import annotations

import math

import numpy as np

from yingshe import _dtype
from yingshe._tensor import MODE, Tensor, _wrap
from yingshe.errors import DTypeError, ShapeError
from yingshe.ops import _conv, _pool
from yingshe.ops._registry import apply, is_graph_value, meta_of, register_op
from yingshe.ops._shapes import Meta, broadcast_shapes, check_index_range, shape_str

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d",
           "max_pool2d", "avg_pool1d", "adaptive_avg_pool1d", "dropout", "embedding",
           "batch_norm", "layer_norm", "group_norm", "instance_norm"]

FUNCTIONAL = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d",
              "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
              "adaptive_avg_pool2d", "interpolate", "dropout", "embedding", "batch_norm",
              "layer_norm", "group_norm", "instance_norm", "gelu",
              "scaled_dot_product_attention"]


# ---- small helpers -------------------------------------------------------------------------------

def _tuple(v, n: int, name: str, opname: str) -> tuple:
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    t = tuple(int(i) for i in v)
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise ValueError(f"{opname}: expected {name} to be a single integer or a tuple of "
                         f"{n} integers, got {v!r}")
    return t


def _check_float_pair(opname: str, *metas) -> None:
    dts = [m.dtype for m in metas if isinstance(m, Meta)]
    for dt in dts:
        if not dt.is_floating_point:
            raise DTypeError(f"{opname}: expected floating-point tensors, got {dt}")
    if any(dt is not dts[0] for dt in dts):
        raise DTypeError(f"{opname}: expected all tensors to have the same dtype, got "
                         + ", ".join(str(d) for d in dts))


def check_same_dtype(opname: str, names: str, *arrays) -> None:
    """The forward-time twin of ``_check_float_pair`` (an eager call runs no ``infer``):
    PyTorch refuses a float64 input against float32 weights here rather than promote
    it, as ``linear`` does; ``names`` says what the arrays are, None entries are absent."""
    dt = arrays[0].dtype
    if any(a is not None and a.dtype != dt for a in arrays[1:]):
        got = ", ".join(str(a.dtype) for a in arrays if a is not None)
        raise DTypeError(f"{opname}: expected {names} to have the same dtype, got {got}")


def _const(array, like: Tensor) -> Tensor:
    """A constant tensor of ``like``'s dtype (no gradient)."""
    return _wrap(np.asarray(array, dtype=like.dtype.np))


# ---- convolution ---------------------------------------------------------------------------------

_conv_out = _conv.out_size


def _conv_check(opname, x, w, b, groups, transposed=False, nd=2):
    """The channel/groups/bias rule of an ``nd``-d (transposed) convolution; returns the
    output channels."""
    _check_float_pair(opname, x, w, *( [b] if b is not None else []))
    if x.ndim != nd + 2 or w.ndim != nd + 2:
        raise ShapeError(f"{opname}: expected a {nd + 2}-D input and a {nd + 2}-D weight, got input "
                         f"{shape_str(x.shape)} and weight {shape_str(w.shape)}")
    C = x.shape[1]
    if transposed:
        if w.shape[0] is not None and w.shape[0] % groups:
            raise ShapeError(f"{opname}: weight {shape_str(w.shape)}: its first dimension "
                             f"must be divisible by groups={groups}")
        if C is not None and w.shape[0] is not None and C != w.shape[0]:
            raise ShapeError(f"{opname}: given weight of size {shape_str(w.shape)}, expected "
                             f"input {shape_str(x.shape)} to have {w.shape[0]} channels, but "
                             f"got {C} channels instead")
        out_c = None if w.shape[1] is None else w.shape[1] * groups
    else:
        if w.shape[0] is not None and w.shape[0] % groups:
            raise ShapeError(f"{opname}: weight {shape_str(w.shape)}: out_channels must be "
                             f"divisible by groups={groups}")
        if C is not None and w.shape[1] is not None and C != w.shape[1] * groups:
            raise ShapeError(f"{opname}: given groups={groups}, weight of size "
                             f"{shape_str(w.shape)}, expected input {shape_str(x.shape)} to "
                             f"have {w.shape[1] * groups} channels, but got {C} channels "
                             "instead")
        out_c = w.shape[0]
    if b is not None and (b.ndim != 1 or (b.shape[0] is not None and out_c is not None
                                          and b.shape[0] != out_c)):
        raise ShapeError(f"{opname}: expected bias of shape ({out_c},), got "
                         f"{shape_str(b.shape)}")
    return out_c


def _conv_infer(opname, x, w, b, stride, padding, dilation, groups):
    """Meta of an N-d convolution's output (N = len(stride)); a kernel larger than the
    padded input fails here, naming the sizes."""
    nd = len(stride)
    O = _conv_check(opname, x, w, b, groups, nd=nd)
    dims = []
    for i in range(nd):
        n, k = x.shape[2 + i], w.shape[2 + i]
        if n is None or k is None:
            dims.append(None)
            continue
        o = _conv_out(n, k, stride[i], padding[i], dilation[i])
        if o <= 0:
            raise ShapeError(
                f"{opname}: calculated output size {o} is too small: the (dilated) kernel "
                f"of size {dilation[i] * (k - 1) + 1} can't be greater than the padded "
                f"input size {n + sum(padding[i])} (input {shape_str(x.shape)}, weight "
                f"{shape_str(w.shape)})")
        dims.append(o)
    return Meta((x.shape[0], O, *dims), x.dtype)


def _bias_grad(g):
    """sum of g over every dim but 1: over the samples first (whole contiguous planes
    added), then over each channel's positions (contiguous rows), about twice as fast as
    one reduction over the strided dims."""
    from yingshe.ops.reduce import sum as _sum
    if g.ndim > 2:
        return _sum(_sum(g, (0,)), tuple(range(1, g.ndim - 1)))
    return _sum(g, (0,))


# The VJPs of an N-d trio (conv, its input-adjoint conv_transpose, its weight gradient),
# each expressed with the other two, so every order of derivative stays in the trio.
# ``trio`` = (conv op, conv_transpose op, weight-grad op, name of the output-size attr).

def _with_bias_grad(gx, gw, g, b, needs):
    """The input and weight gradients, and the bias's (a sum of ``g``) when there is one."""
    if b is None:
        return gx, gw
    return gx, gw, (_bias_grad(g) if len(needs) > 2 and needs[2] else None)


def _conv_vjp(trio, g, x, w, b, stride, padding, dilation, groups, needs):
    conv, transpose, weight_grad, size = trio
    gx = gw = None
    if needs[0]:
        gx = apply(transpose, g, w, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, **{size: tuple(x.shape[2:])})
    if needs[1]:
        gw = apply(weight_grad, x, g, weight_shape=tuple(w.shape), stride=stride,
                   padding=padding, dilation=dilation, groups=groups)
    return _with_bias_grad(gx, gw, g, b, needs)


def _conv_transpose_vjp(trio, g, x, w, b, stride, padding, dilation, groups, out_size,
                        needs):
    conv, transpose, weight_grad, size = trio
    # Output rows/planes beyond the last input's reach (output_padding) get no input
    # contribution: the adjoint conv crops them with a reduced trailing padding.
    pads = []
    for i in range(len(stride)):
        reach = ((x.shape[2 + i] - 1) * stride[i] - sum(padding[i])
                 + dilation[i] * (w.shape[2 + i] - 1) + 1)
        pads.append((padding[i][0], padding[i][1] - (out_size[i] - reach)))
    pads = tuple(pads)
    gx = gw = None
    if needs[0]:
        gx = apply(conv, g, w, stride=stride, padding=pads, dilation=dilation, groups=groups)
    if needs[1]:
        gw = apply(weight_grad, g, x, weight_shape=tuple(w.shape), stride=stride,
                   padding=pads, dilation=dilation, groups=groups)
    return _with_bias_grad(gx, gw, g, b, needs)


def _weight_grad_vjp(trio, h, x, g, stride, padding, dilation, groups, needs):
    conv, transpose, weight_grad, size = trio
    gx = gg = None
    if needs[0]:
        gx = apply(transpose, g, h, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, **{size: tuple(x.shape[2:])})
    if needs[1]:
        gg = apply(conv, x, h, stride=stride, padding=padding, dilation=dilation,
                   groups=groups)
    return gx, gg


@register_op("conv2d", saves="inputs")
class Conv2d:
    """2-D cross-correlation (NCHW); ``padding`` is ((top, bottom), (left, right))."""

    def forward(xp, x, w, b=None, *, stride, padding, dilation, groups):
        check_same_dtype("conv2d", "input, weight and bias", x, w, b)
        return _conv.forward(x, w, b, stride, padding, dilation, groups)

    def infer(x, w, b=None, *, stride, padding, dilation, groups):
        return _conv_infer("conv2d", x, w, b, stride, padding, dilation, groups)

    def vjp(g, out, x, w, b=None, *, stride, padding, dilation, groups, needs):
        return _conv_vjp(_TRIO_2D, g, x, w, b, stride, padding, dilation, groups, needs)


@register_op("conv_transpose2d", saves="inputs")
class ConvTranspose2d:
    """The adjoint of ``conv2d`` w.r.t. its input (weight (Cin, Cout/groups, kh, kw)),
    producing an output of spatial size ``out_hw``."""

    def forward(xp, x, w, b=None, *, stride, padding, dilation, groups, out_hw):
        check_same_dtype("conv_transpose2d", "input, weight and bias", x, w, b)
        return _conv.transpose(x, w, b, stride, padding, dilation, groups, out_hw)

    def infer(x, w, b=None, *, stride, padding, dilation, groups, out_hw):
        O = _conv_check("conv_transpose2d", x, w, b, groups, transposed=True)
        return Meta((x.shape[0], O, *out_hw), x.dtype)

    def vjp(g, out, x, w, b=None, *, stride, padding, dilation, groups, out_hw, needs):
        return _conv_transpose_vjp(_TRIO_2D, g, x, w, b, stride, padding, dilation, groups,
                                   out_hw, needs)


@register_op("conv2d_weight_grad", saves="inputs")
class Conv2dWeightGrad:
    """The gradient of ``conv2d`` w.r.t. its weight: ``(input, grad_output) -> dW``
    (bilinear; its own VJP is a ``conv_transpose2d`` and a ``conv2d``)."""

    def forward(xp, x, g, *, weight_shape, stride, padding, dilation, groups):
        return _conv.weight_grad(x, g, weight_shape, stride, padding, dilation, groups)

    def infer(x, g, *, weight_shape, stride, padding, dilation, groups):
        _check_float_pair("conv2d_weight_grad", x, g)
        return Meta(tuple(weight_shape), x.dtype)

    def vjp(h, out, x, g, *, weight_shape, stride, padding, dilation, groups, needs):
        return _weight_grad_vjp(_TRIO_2D, h, x, g, stride, padding, dilation, groups, needs)


_TRIO_2D = (Conv2d, ConvTranspose2d, Conv2dWeightGrad, "out_hw")


def _unbatched(input, ndim: int, opname: str):
    """PyTorch accepts unbatched inputs (one dim fewer): add the batch dim."""
    if input.ndim == ndim - 1:
        return input.unsqueeze(0), True
    if input.ndim != ndim:
        raise ShapeError(f"{opname}: expected a {ndim - 1}-D (unbatched) or {ndim}-D "
                         f"(batched) input, got {shape_str(input.shape)}")
    return input, False


def _conv_padding(padding, kernel, dilation, stride, opname):
    """PyTorch's int / tuple / 'same' / 'valid' padding -> ((top, bottom), (left, right))."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{opname}: padding='same' is not supported for strided "
                                 "convolutions")
            out = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                out.append((total // 2, total - total // 2))
            return tuple(out)
        raise ValueError(f"{opname}: invalid padding string {padding!r}, should be one of "
                         "{'valid', 'same'}")
    p = _tuple(padding, n, "padding", opname)
    if any(v < 0 for v in p):
        raise ValueError(f"{opname}: negative padding is not supported, got {padding!r}")
    return tuple((v, v) for v in p)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over an NCHW input, as ``torch.nn.functional.conv2d``."""
    x, squeeze = _unbatched(input, 4, "conv2d")
    stride = _tuple(stride, 2, "stride", "conv2d")
    dilation = _tuple(dilation, 2, "dilation", "conv2d")
    if any(s <= 0 for s in stride) or any(d <= 0 for d in dilation) or groups <= 0:
        raise ValueError(f"conv2d: stride, dilation and groups must be positive, got "
                         f"stride={stride}, dilation={dilation}, groups={groups}")
    pads = _conv_padding(padding, tuple(weight.shape[2:]), dilation, stride, "conv2d")
    args = (x, weight) if bias is None else (x, weight, bias)
    out = apply(Conv2d, *args, stride=stride, padding=pads, dilation=dilation,
                groups=int(groups))
    return out.squeeze(0) if squeeze else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over an NCL input (a ``conv2d`` with a height of one)."""
    x, squeeze = _unbatched(input, 3, "conv1d")
    if weight.ndim != 3:
        raise ShapeError(f"conv1d: expected a 3-D weight, got {shape_str(weight.shape)}")
    if not isinstance(padding, str):
        padding = (0, _tuple(padding, 1, "padding", "conv1d")[0])
    out = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias,
                 (1, _tuple(stride, 1, "stride", "conv1d")[0]), padding,
                 (1, _tuple(dilation, 1, "dilation", "conv1d")[0]), groups)
    out = out.squeeze(2)
    return out.squeeze(0) if squeeze else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """Transposed 2-D convolution, as ``torch.nn.functional.conv_transpose2d``."""
    x, squeeze = _unbatched(input, 4, "conv_transpose2d")
    stride = _tuple(stride, 2, "stride", "conv_transpose2d")
    dilation = _tuple(dilation, 2, "dilation", "conv_transpose2d")
    padding = _tuple(padding, 2, "padding", "conv_transpose2d")
    output_padding = _tuple(output_padding, 2, "output_padding", "conv_transpose2d")
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= s and op_ >= d:
            raise ValueError(f"conv_transpose2d: output padding must be smaller than either "
                             f"stride or dilation, got output_padding={output_padding}, "
                             f"stride={stride}, dilation={dilation}")
    if weight.ndim != 4:
        raise ShapeError(f"conv_transpose2d: expected a 4-D weight, got "
                         f"{shape_str(weight.shape)}")
    out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1
                   for n, s, p, d, k, o in zip(x.shape[2:], stride, padding, dilation,
                                               weight.shape[2:], output_padding))
    if any(o <= 0 for o in out_hw):
        raise ShapeError(f"conv_transpose2d: calculated output size {out_hw} is too small "
                         f"(input {shape_str(x.shape)}, weight {shape_str(weight.shape)})")
    args = (x, weight) if bias is None else (x, weight, bias)
    out = apply(ConvTranspose2d, *args, stride=stride, padding=tuple((p, p) for p in padding),
                dilation=dilation, groups=int(groups), out_hw=out_hw)
    return out.squeeze(0) if squeeze else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """Transposed 1-D convolution (a ``conv_transpose2d`` with a height of one)."""
    x, squeeze = _unbatched(input, 3, "conv_transpose1d")
    def one(v, name):   # (height, length) pair: height 1 (stride/dilation) or 0 (paddings)
        return (0 if "padding" in name else 1, _tuple(v, 1, name, "conv_transpose1d")[0])
    out = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, one(stride, "stride"),
                           one(padding, "padding"), one(output_padding, "output_padding"),
                           groups, one(dilation, "dilation"))
    out = out.squeeze(2)
    return out.squeeze(0) if squeeze else out


# ---- pooling -------------------------------------------------------------------------------------

def _pool_geometry(opname, shape, kernel, stride, padding, dilation, ceil_mode):
    """Output sizes and the (lo, hi) paddings that make every window in range (ceil_mode
    windows may run past the padded input), for len(kernel) spatial dims; the checks
    name the sizes."""
    out, pads = [], []
    for i in range(len(kernel)):
        n, k, s, p, d = shape[2 + i], kernel[i], stride[i], padding[i], dilation[i]
        if p * 2 > k:
            raise ShapeError(f"{opname}: pad should be at most half of effective kernel size, "
                             f"but got pad={p}, kernel_size={k}")
        if n is None:
            out.append(None)
            pads.append(None)
            continue
        o = _pool.pool_out_size(n, k, s, p, d, ceil_mode)
        if o <= 0:
            raise ShapeError(f"{opname}: given input size {shape_str(shape)}, the calculated "
                             f"output size {o} is too small (kernel {kernel}, stride {stride}, "
                             f"padding {padding}, dilation {dilation})")
        extra = max((o - 1) * s + d * (k - 1) + 1 - (n + 2 * p), 0)
        out.append(o)
        pads.append((p, p + extra))
    return tuple(out), tuple(pads)


def _pool_args(opname, kernel_size, stride, padding, dilation, nd=2):
    k = _tuple(kernel_size, nd, "kernel_size", opname)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _tuple(stride, nd, "stride", opname)
    p = _tuple(padding, nd, "padding", opname)
    d = _tuple(dilation, nd, "dilation", opname)
    if any(v <= 0 for v in k + s + d):
        raise ValueError(f"{opname}: kernel_size, stride and dilation must be positive, got "
                         f"kernel_size={k}, stride={s}, dilation={d}")
    if any(v < 0 for v in p):
        raise ValueError(f"{opname}: padding must be non-negative, got padding={p}")
    return k, s, p, d


def _max_pool_infer(opname, nd, x, kernel_size, stride, padding, dilation, ceil_mode):
    if x.ndim != nd + 2:
        raise ShapeError(f"{opname}: expected a {nd + 2}-D input, got {shape_str(x.shape)}")
    if x.dtype is _dtype.bool:      # as PyTorch, which has no bool max pooling kernel
        raise DTypeError(f"{opname}: not implemented for bool inputs (convert with .to(...))")
    out, _ = _pool_geometry(opname, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    return (x.shape[0], x.shape[1], *out)


def _arg_meta(shape, kernel_size):
    return Meta(shape, _dtype.from_numpy_dtype(_pool._arg_dtype(kernel_size)))


def _register_max_pool(nd: int):
    """The ``max_pool{nd}d`` op and its ``_with_indices`` twin (2-D here, 3-D in
    ``conv3d.py``): the same kernel; the twin also returns PyTorch's indices."""
    name = f"max_pool{nd}d"

    def outputs(x, kernel_size, stride, padding, dilation, ceil_mode):
        shape = _max_pool_infer(name, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
        return Meta(shape, x.dtype), shape

    @register_op(name, saves="output", num_outputs=2, hidden=1, reads_visible=False)
    class MaxPool:
        """Max over windows; the window position of each maximum (``yingshe.ops._pool``)
        is a hidden output that the VJP reads (so the values may be changed in place).
        The first maximum wins; a window holding NaNs gives NaN (PyTorch's CPU rule)."""

        def forward(xp, x, *, kernel_size, stride, padding, dilation, ceil_mode):
            return _pool.max_pool(x, kernel_size, stride, padding, dilation, ceil_mode)

        def infer(x, *, kernel_size, **attrs):
            val, shape = outputs(x, kernel_size, **attrs)
            return val, _arg_meta(shape, kernel_size)

        def vjp(g, out, x, **attrs):
            return apply(MaxPoolBackward, g[0], out[1], input_shape=tuple(x.shape), **attrs)

    @register_op(name + "_with_indices", saves="output", num_outputs=3, hidden=1,
                 reads_visible=False)
    class MaxPoolWithIndices:
        """``max_pool`` and PyTorch's indices: flat positions in each input plane or
        volume (a window holding NaNs gives its last NaN's)."""

        def forward(xp, x, *, kernel_size, stride, padding, dilation, ceil_mode):
            val, arg = _pool.max_pool(x, kernel_size, stride, padding, dilation, ceil_mode)
            idx = _pool.flat_indices(arg, x.shape, kernel_size, stride, padding, dilation)
            return val, idx, arg

        def infer(x, *, kernel_size, **attrs):
            val, shape = outputs(x, kernel_size, **attrs)
            return val, Meta(shape, _dtype.int64), _arg_meta(shape, kernel_size)

        def vjp(g, out, x, **attrs):
            return apply(MaxPoolBackward, g[0], out[2], input_shape=tuple(x.shape), **attrs)

    return MaxPool, MaxPoolWithIndices


@register_op("max_pool_backward", saves="inputs")
class MaxPoolBackward:
    """The max pooling gradient (any number of spatial dims): each output gradient lands
    on its window's maximum, given as the window position ``arg``; overlapping windows
    accumulate. Linear in ``g``; its VJP is ``max_pool_gather``."""

    def forward(xp, g, arg, *, input_shape, kernel_size, stride, padding, dilation,
                ceil_mode):
        return _pool.max_pool_backward(g, arg, input_shape, kernel_size, stride, padding,
                                       dilation, ceil_mode)

    def infer(g, arg, *, input_shape, **attrs):
        if tuple(g.shape) != tuple(arg.shape):
            raise ShapeError(f"max_pool_backward: gradient {shape_str(g.shape)} and window "
                             f"positions {shape_str(arg.shape)} differ in shape")
        return Meta(tuple(input_shape), g.dtype)

    def vjp(h, out, g, arg, *, input_shape, **attrs):
        return apply(MaxPoolGather, h, arg, **attrs), None


@register_op("max_pool_gather", saves="inputs")
class MaxPoolGather:
    """Each output reads ``h`` (input-shaped) at its window's maximum: the adjoint of
    ``max_pool_backward``."""

    def forward(xp, h, arg, *, kernel_size, stride, padding, dilation, ceil_mode):
        return _pool.max_pool_gather(h, arg, kernel_size, stride, padding, dilation,
                                     ceil_mode)

    def infer(h, arg, **attrs):
        return Meta(tuple(arg.shape), h.dtype)

    def vjp(k, out, h, arg, **attrs):
        return apply(MaxPoolBackward, k, arg, input_shape=tuple(h.shape), **attrs), None


MaxPool2d, MaxPool2dWithIndices = _register_max_pool(2)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d`` (indices are flat positions
    in each input plane)."""
    x, squeeze = _unbatched(input, 4, "max_pool2d")
    k, s, p, d = _pool_args("max_pool2d", kernel_size, stride, padding, dilation)
    attrs = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=bool(ceil_mode))
    if not return_indices:
        val = apply(MaxPool2d, x, **attrs)[0]
        return val.squeeze(0) if squeeze else val
    val, idx = apply(MaxPool2dWithIndices, x, **attrs)
    if squeeze:
        val, idx = val.squeeze(0), idx.squeeze(0)
    return val, idx


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over an NCL input."""
    x, squeeze = _unbatched(input, 3, "max_pool1d")
    one = lambda v, n: (1 if n else 0, _tuple(v, 1, "size", "max_pool1d")[0])  # noqa: E731
    val, idx = max_pool2d(x.unsqueeze(2), one(kernel_size, 1),
                          None if stride is None else one(stride, 1), one(padding, 0),
                          one(dilation, 1), ceil_mode, True)
    val, idx = val.squeeze(2), idx.squeeze(2)
    if squeeze:
        val, idx = val.squeeze(0), idx.squeeze(0)
    return (val, idx) if return_indices else val


@register_op("avg_pool2d", saves="none")
class AvgPool2d:
    """Average over windows (PyTorch's divisor rules for padding and ceil_mode)."""

    def forward(xp, x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        return _pool.avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                              divisor_override)

    def infer(x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
        if x.ndim != 4:
            raise ShapeError(f"avg_pool2d: expected a 4-D input, got {shape_str(x.shape)}")
        if not (x.dtype.is_floating_point or x.dtype is _dtype.int64):
            # PyTorch averages int64 (truncating) and no other integer dtype
            raise DTypeError(f"avg_pool2d: expected a floating-point or int64 input, got "
                             f"{x.dtype}")
        out, _ = _pool_geometry("avg_pool2d", x.shape, kernel_size, stride, padding, (1, 1),
                                ceil_mode)
        return Meta((x.shape[0], x.shape[1], *out), x.dtype)

    def vjp(g, out, x, **attrs):
        return apply(AvgPool2dBackward, g, input_shape=tuple(x.shape), **attrs)


@register_op("avg_pool2d_backward", saves="none")
class AvgPool2dBackward:
    """The adjoint of ``avg_pool2d`` (spreads each output gradient over its window)."""

    def forward(xp, g, *, input_shape, kernel_size, stride, padding, ceil_mode,
                count_include_pad, divisor_override):
        return _pool.avg_pool_backward(g, input_shape, kernel_size, stride, padding, ceil_mode,
                                       count_include_pad, divisor_override)

    def infer(g, *, input_shape, **attrs):
        return Meta(tuple(input_shape), g.dtype)

    def vjp(h, out, g, *, input_shape, **attrs):
        return apply(AvgPool2d, h, **attrs)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``."""
    x, squeeze = _unbatched(input, 4, "avg_pool2d")
    k, s, p, _ = _pool_args("avg_pool2d", kernel_size, stride, padding, 1)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("avg_pool2d: divisor must be not zero")
    out = apply(AvgPool2d, x, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                count_include_pad=bool(count_include_pad),
                divisor_override=None if divisor_override is None else int(divisor_override))
    return out.squeeze(0) if squeeze else out


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling over an NCL input."""
    x, squeeze = _unbatched(input, 3, "avg_pool1d")
    one = lambda v, n: (1 if n else 0, _tuple(v, 1, "size", "avg_pool1d")[0])  # noqa: E731
    out = avg_pool2d(x.unsqueeze(2), one(kernel_size, 1),
                     None if stride is None else one(stride, 1), one(padding, 0), ceil_mode,
                     count_include_pad).squeeze(2)
    return out.squeeze(0) if squeeze else out


def _taps(x, axis: int, idx: np.ndarray, weights: np.ndarray | None = None,
          valid: np.ndarray | None = None, divisor: np.ndarray | None = None):
    """``out[.., i, ..] = sum_k weights[i, k] * x[.., idx[i, k], ..]`` along ``axis`` (only
    the ``valid`` taps; divided by ``divisor[i]`` when given): each output reads just its
    own inputs, so a non-finite input reaches only the outputs that read it."""
    from yingshe.ops.elementwise_math import where
    from yingshe.ops.indexing import index_select
    axis = axis % x.ndim
    n_out, k = idx.shape
    g = index_select(x, axis, _wrap(np.ascontiguousarray(idx.reshape(-1), dtype=np.int64)))
    if k == 1 and weights is None and divisor is None:
        return g
    shape = tuple(x.shape[:axis]) + (n_out, k) + tuple(x.shape[axis + 1:])
    g = g.reshape(shape)
    trail = (1,) * (x.ndim - axis - 1)
    if valid is not None and not valid.all():
        g = where(_wrap(valid.reshape((n_out, k) + trail)), g, 0.0)
    if weights is not None:
        g = g * _const(weights.reshape((n_out, k) + trail), x)
    out = g.sum(axis + 1)
    if divisor is not None:
        out = out / _const(divisor.reshape((n_out,) + trail), x)
    return out


def _adaptive_windows(n_in: int, n_out: int):
    """PyTorch's adaptive windows input[start:end] as taps: (indices, valid, counts)."""
    start = (np.arange(n_out) * n_in) // n_out
    end = -((-(np.arange(n_out) + 1) * n_in) // n_out)
    k = int((end - start).max())
    idx = start[:, None] + np.arange(k)[None, :]
    valid = idx < end[:, None]
    return np.where(valid, idx, start[:, None]), valid, (end - start)


def _adaptive_avg(x, axis: int, n_out: int):
    idx, valid, counts = _adaptive_windows(x.shape[axis], n_out)
    return _taps(x, axis, idx, valid=valid, divisor=counts.astype(x.dtype.np))


def _sizes(output_size, n: int, in_shape, opname):
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * n
    out = tuple(in_shape[i] if s is None else int(s) for i, s in enumerate(output_size))
    if len(out) != n:
        raise ValueError(f"{opname}: output_size must have {n} elements, got {output_size!r}")
    return out


def check_pooled_dims(opname: str, input, n: int) -> None:
    """An adaptive pooling window needs input: each of the last ``n`` (pooled) dims must
    be non-empty (PyTorch's check and message; empty batch or channel dims are fine)."""
    shape = tuple(input.shape)
    for d in range(len(shape) - n, len(shape)):
        if shape[d] == 0:
            raise ShapeError(f"{opname}(): Expected input to have non-zero size for non-batch "
                             f"dimensions, but input has sizes {list(shape)} with dimension "
                             f"{d} being empty")


def adaptive_avg_pool2d(input, output_size):
    """Adaptive 2-D average pooling (PyTorch's start/end index formula): window sums
    along H, then along W (see ``_taps``)."""
    if input.ndim not in (3, 4):
        raise ShapeError(f"adaptive_avg_pool2d: expected a 3-D or 4-D input, got "
                         f"{shape_str(input.shape)}")
    check_pooled_dims("adaptive_avg_pool2d", input, 2)
    H, W = input.shape[-2:]
    OH, OW = _sizes(output_size, 2, (H, W), "adaptive_avg_pool2d")
    if (OH, OW) == (1, 1):
        from yingshe.ops.reduce import mean
        return mean(input, (-2, -1), keepdim=True)
    return _adaptive_avg(_adaptive_avg(input, -2, OH), -1, OW)


def adaptive_avg_pool1d(input, output_size):
    """Adaptive 1-D average pooling over an NCL (or unbatched CL) input."""
    if input.ndim not in (2, 3):
        raise ShapeError(f"adaptive_avg_pool1d: expected a 2-D or 3-D input, got "
                         f"{shape_str(input.shape)}")
    check_pooled_dims("adaptive_avg_pool1d", input, 1)
    L = input.shape[-1]
    (O,) = _sizes(output_size, 1, (L,), "adaptive_avg_pool1d")
    return _adaptive_avg(input, -1, O)


# ---- interpolation -------------------------------------------------------------------------------

def _interp_taps(n_in, n_out, mode, align_corners, scale, dtype):
    """One axis of PyTorch's nearest/linear resampling as taps (indices (n_out, k), weights
    or None): nearest reads one input, linear two (l0 x[i0] + l1 x[i1], as PyTorch's
    kernel, a zero weight included)."""
    dst = np.arange(n_out)
    if mode == "nearest":
        # PyTorch computes the source index in float32: floor(dst * scale).
        s = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
        src = np.minimum(np.floor(dst.astype(np.float32) * s).astype(np.int64), n_in - 1)
        return src[:, None], None
    acc = np.dtype(dtype).type   # PyTorch's opmath: float for float32, double for float64
    if align_corners:
        s = acc((n_in - 1) / (n_out - 1)) if n_out > 1 else acc(0)
        src = s * dst.astype(dtype)
    else:
        s = acc(1.0 / scale) if scale else acc(n_in) / acc(n_out)
        src = np.maximum(s * (dst.astype(dtype) + acc(0.5)) - acc(0.5), acc(0))
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < n_in - 1)
    l1 = (src - i0.astype(dtype)).astype(dtype)
    l0 = acc(1) - l1
    return np.stack([i0, i1], axis=1), np.stack([l0, l1], axis=1).astype(dtype)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims (1-D or 2-D): ``mode`` 'nearest', 'linear' or 'bilinear',
    with PyTorch's source-index formulas (separable: each resized axis in turn, see
    ``_taps``)."""
    nsp = input.ndim - 2
    if nsp not in (1, 2):
        raise NotImplementedError(f"interpolate: {input.ndim}-D input is not supported "
                                  "(3-D and 4-D inputs are)")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (use "
                                  "'nearest', 'linear' or 'bilinear')")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners option can only be set with the "
                         "interpolating modes: linear | bilinear | bicubic | trilinear")
    if (mode == "linear" and nsp != 1) or (mode == "bilinear" and nsp != 2):
        raise NotImplementedError(f"interpolate: mode {mode!r} expects a "
                                  f"{3 if mode == 'linear' else 4}-D input, got "
                                  f"{shape_str(input.shape)}")
    in_sizes = tuple(input.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: exactly one of size or scale_factor must be defined")
    scales = [None] * nsp
    if size is not None:
        out_sizes = _tuple(size, nsp, "size", "interpolate")
    else:
        sf = (tuple(float(s) for s in scale_factor) if isinstance(scale_factor, (tuple, list))
              else (float(scale_factor),) * nsp)
        if len(sf) != nsp:
            raise ValueError(f"interpolate: scale_factor must have {nsp} elements")
        out_sizes = tuple(int(math.floor(n * s)) for n, s in zip(in_sizes, sf))
        if not recompute_scale_factor:
            scales = list(sf)
    if any(n == 0 for n in in_sizes) or any(o <= 0 for o in out_sizes):
        raise ShapeError(f"interpolate: input and output sizes should be greater than 0, but "
                         f"got input {in_sizes} and output {out_sizes}")
    lin = "nearest" if mode == "nearest" else "linear"
    dt = input.dtype.np
    out = input
    if nsp == 2:
        out = _taps(out, -2, *_interp_taps(in_sizes[0], out_sizes[0], lin, align_corners,
                                           scales[0], dt))
    return _taps(out, -1, *_interp_taps(in_sizes[-1], out_sizes[-1], lin, align_corners,
                                        scales[-1], dt))


# ---- dropout -------------------------------------------------------------------------------------

def _uniform(shape, dtype, generator):
    from yingshe.random import resolve
    return resolve(generator).random(shape, dtype=np.float32 if dtype == np.float32
                                     else np.float64)


@register_op("dropout", saves="output", num_outputs=2, hidden=1, random=True,
             reads_visible=False)
class Dropout:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p); the scaled
    mask is a hidden output that the VJP reuses."""

    def forward(xp, x, *, p, generator):
        if p >= 1.0:
            mask = xp.zeros(x.shape, dtype=x.dtype)
        else:
            keep = _uniform(x.shape, x.dtype, generator) >= p
            mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
        return x * mask, mask

    def infer(x, *, p, generator):
        if not x.dtype.is_floating_point:
            raise DTypeError(f"dropout: expected a floating-point input, got {x.dtype}")
        return x, x

    def vjp(g, out, x, *, p, generator):
        return g[0] * out[1]


def dropout(input, p=0.5, training=True, inplace=False, *, generator=None):
    """Dropout as ``torch.nn.functional.dropout`` (identity when ``training`` is False);
    draws from ``generator`` (default: the framework's default generator)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:   # PyTorch's identity: no draw, no write (in place or not)
        return input
    out = apply(Dropout, input, p=float(p), generator=generator)[0]
    if inplace:
        from yingshe.ops._inplace import commit
        return commit(input, out, "dropout_")
    return out


# ---- embedding -----------------------------------------------------------------------------------

@register_op("embedding", saves="inputs")
class Embedding:
    """Rows of ``weight`` at integer ``indices``: out shape indices.shape + (dim,)."""

    def forward(xp, weight, indices, *, padding_idx):
        # PyTorch refuses negative indices here (IndexError); NumPy's take would wrap them
        # (other dtypes fail in take, and the infer rule explains them)
        if indices.dtype.kind in "iu":
            check_index_range("embedding", indices, 0, weight.shape[0], negative=False)
        return xp.take(weight, indices, axis=0)

    def infer(weight, indices, *, padding_idx):
        if indices.dtype.is_floating_point or indices.dtype is _dtype.bool:
            raise DTypeError(f"embedding: expected indices of an integer dtype (Long or Int), "
                             f"got {indices.dtype}")
        if weight.ndim != 2:
            raise ShapeError(f"embedding: weight must be 2-D, got {shape_str(weight.shape)}")
        return Meta(tuple(indices.shape) + (weight.shape[1],), weight.dtype)

    def vjp(g, out, weight, indices, *, padding_idx):
        return apply(EmbeddingBackward, g, indices, num_weights=weight.shape[0],
                     padding_idx=padding_idx), None


@register_op("embedding_backward", saves="inputs")
class EmbeddingBackward:
    """Scatter-add of output gradients into the weight rows (repeated indices accumulate;
    the ``padding_idx`` row gets zero)."""

    def forward(xp, g, indices, *, num_weights, padding_idx):
        D = g.shape[-1]
        out = xp.zeros((num_weights, D), dtype=g.dtype)
        xp.add.at(out, indices.reshape(-1), g.reshape(-1, D))
        if padding_idx is not None:
            out[padding_idx] = 0
        return out

    def infer(g, indices, *, num_weights, padding_idx):
        return Meta((num_weights, g.shape[-1]), g.dtype)

    def vjp(h, out, g, indices, *, num_weights, padding_idx):
        if padding_idx is not None:
            keep = np.ones((num_weights, 1), dtype=h.dtype.np)
            keep[padding_idx] = 0
            h = h * _wrap(keep)
        return apply(Embedding, h, indices, padding_idx=padding_idx), None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Look up rows of ``weight``, as ``torch.nn.functional.embedding``."""
    if max_norm is not None:
        raise NotImplementedError("embedding: max_norm is not supported by yingshe "
                                  "(renormalise the weight explicitly instead)")
    if scale_grad_by_freq:
        raise NotImplementedError("embedding: scale_grad_by_freq=True is not supported")
    if sparse:
        raise NotImplementedError("embedding: sparse=True is not supported (yingshe has no "
                                  "sparse gradients)")
    if not isinstance(input, Tensor):
        input = _wrap(np.asarray(input, dtype=np.int64))
    if weight.ndim != 2:   # before reading its rows (the shape rule says it for graphs too)
        Embedding.infer(meta_of(weight), meta_of(input), padding_idx=None)
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx must be within num_embeddings ({n}), "
                             f"got {padding_idx}")
        padding_idx = int(padding_idx) % n
    return apply(Embedding, weight, input, padding_idx=padding_idx)


# ---- normalisation -------------------------------------------------------------------------------

@register_op("norm_moments", saves="both", num_outputs=2)
class NormMoments:
    """Mean and biased variance over ``dim`` (kept as size-1 dims)."""

    def forward(xp, x, *, dim):
        if x.size == 0:   # NaN statistics of nothing, without NumPy's "empty slice" warning
            shape = tuple(1 if i in dim else d for i, d in enumerate(x.shape))
            return xp.full(shape, xp.nan, x.dtype), xp.full(shape, xp.nan, x.dtype)
        # narrower floats accumulate in float64 and round once, as var does (PyTorch's CPU
        # kernels accumulate in double): a group of nearly equal float32 values normalises
        # to what float64 statistics give, not to float32's rounding of its tiny variance
        wide = x.astype(np.float64) if x.dtype.itemsize < 8 else x
        with xp.errstate(invalid="ignore", over="ignore"):   # non-finite inputs: NaN stats
            mean = xp.mean(wide, axis=dim, keepdims=True)
            xc = wide - mean
            var = xp.mean(xc * xc, axis=dim, keepdims=True)
        return mean.astype(x.dtype, copy=False), var.astype(x.dtype, copy=False)

    def infer(x, *, dim):
        if not x.dtype.is_floating_point:
            raise DTypeError(f"norm_moments: expected a floating-point input, got {x.dtype}")
        shape = tuple(1 if i in dim else d for i, d in enumerate(x.shape))
        return Meta(shape, x.dtype), Meta(shape, x.dtype)

    def vjp(g, out, x, *, dim):
        g_mean, g_var = g
        n = 1
        for d in dim:
            n *= x.shape[d]
        inv_n = 1.0 / n if n else 0.0   # n = 0: x is empty, and so is its gradient
        return (x - out[0]) * (g_var * (2.0 * inv_n)) + g_mean * inv_n


@register_op("norm_apply", saves="both", num_outputs=2, hidden=1, reads_visible=False)
class NormApply:
    """``(x - mean) * rsqrt(var + eps) [* weight] [+ bias]`` with broadcasting; the
    inverse standard deviation is a hidden output the VJP reuses."""

    def forward(xp, x, mean, var, *wb, eps, affine):
        check_same_dtype("norm_apply", "the input, statistics, weight and bias", x, mean, var,
                         *wb)
        with xp.errstate(invalid="ignore", over="ignore", divide="ignore"):   # non-finite x
            invstd = 1.0 / xp.sqrt(var + eps)
            y = (x - mean) * invstd
            i = 0
            if affine[0]:
                y *= wb[0]
                i = 1
            if affine[1]:
                y += wb[i]
        return y, invstd

    def infer(x, mean, var, *wb, eps, affine):
        _check_float_pair("norm_apply", x, mean, var, *wb)
        shape = broadcast_shapes("norm_apply", x.shape, mean.shape, var.shape,
                                 *(m.shape for m in wb))
        return Meta(shape, x.dtype), var

    def vjp(g, out, x, mean, var, *wb, eps, affine, needs):
        from yingshe.ops.shape import sum_to_size
        gy, ginv = g
        invstd = out[1]
        w = wb[0] if affine[0] else None
        gyw = gy * w if w is not None else gy
        xc = x - mean
        grads = [None] * (3 + len(wb))
        if needs[0] or needs[1]:
            gx = gyw * invstd
            grads[0] = gx if needs[0] else None
            if needs[1]:
                grads[1] = sum_to_size(-gx, tuple(mean.shape))
        if needs[2]:
            c = invstd * invstd * invstd * -0.5
            grads[2] = (sum_to_size(gyw * xc, tuple(var.shape)) + ginv) * c
        if affine[0] and needs[3]:
            grads[3] = gy * (xc * invstd)
        if affine[1] and needs[-1]:
            grads[-1] = gy
        return tuple(grads)


def _channels(x):
    """An (N, C, ...) array as (N, C, L), a view where the layout allows."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))


def _per_channel(v):
    return v.reshape(1, -1, 1)


def _channel_dot(a, b):
    """sum over samples and positions of a * b, per channel (N, C, L) -> (C,): a dot
    product per row (SIMD partial sums), then a sum over samples; no temporary."""
    return np.vecdot(a, b).sum(axis=0)


def _bn_numba(x):
    """The numba kernels when they serve this dtype, else None (NumPy)."""
    if x.dtype not in (np.float32, np.float64):
        return None
    from yingshe.ops._numba_kernels import kernels
    return kernels()


def _affine_arrays(x, w, b):
    C = x.shape[1]
    return (np.ones(C, x.dtype) if w is None else np.ascontiguousarray(w),
            np.zeros(C, x.dtype) if b is None else np.ascontiguousarray(b))


def _batch_norm_forward(xp, x, wb, eps, affine):
    """``batch_norm``'s forward (see the op)."""
    N, C = x.shape[:2]
    x3 = _channels(x)
    n = N * x3.shape[2]
    if n == 0:   # an empty batch has no statistics: zeros (batch_norm updates nothing)
        zero = xp.zeros(C, dtype=x.dtype)
        return (xp.empty_like(x), zero, zero.copy(), zero.copy(),
                1.0 / xp.sqrt(zero + x.dtype.type(eps)))
    nb = _bn_numba(x)
    if nb is not None:
        w, b = _affine_arrays(x, wb[0] if affine[0] else None, wb[-1] if affine[1] else None)
        y = xp.empty(x3.shape, dtype=x.dtype)
        mean, var, invstd = (xp.empty(C, dtype=x.dtype) for _ in range(3))
        nb["bn_forward"](xp.ascontiguousarray(x3), w, b, float(eps), y, mean, var, invstd)
        return y.reshape(x.shape), mean, var, mean.copy(), invstd
    mean = xp.add.reduce(xp.add.reduce(x3, axis=0), axis=1) / x.dtype.type(n)
    y = xp.subtract(x3, _per_channel(mean))
    var = _channel_dot(y, y) / x.dtype.type(n)
    invstd = 1.0 / xp.sqrt(var + x.dtype.type(eps))
    scale = invstd * wb[0] if affine[0] else invstd
    xp.multiply(y, _per_channel(scale), out=y)
    if affine[1]:
        xp.add(y, _per_channel(wb[-1]), out=y)
    return y.reshape(x.shape), mean, var, mean.copy(), invstd


def _batch_norm_backward(xp, gy, x, mean, invstd, gmean, gvar, w, affine):
    """``batch_norm_backward``'s forward (see the op)."""
    N, C = x.shape[:2]
    g3, x3 = _channels(gy), _channels(x)
    n = N * x3.shape[2]
    dt = x.dtype.type
    if n == 0:
        zero = xp.zeros(C, dtype=x.dtype)
        return xp.empty_like(x), zero, zero.copy()
    nb = _bn_numba(x)
    if nb is not None:
        wa, _ = _affine_arrays(x, w[0] if affine else None, None)
        dx = xp.empty(x3.shape, dtype=x.dtype)
        dw, db = xp.empty(C, dtype=x.dtype), xp.empty(C, dtype=x.dtype)
        cast = [xp.ascontiguousarray(xp.broadcast_to(v, (C,)), dtype=x.dtype)
                for v in (mean, invstd, gmean, gvar)]
        nb["bn_backward"](xp.ascontiguousarray(g3), xp.ascontiguousarray(x3), *cast, wa, dx,
                          dw, db)
        return dx.reshape(x.shape), dw, db
    xc = xp.subtract(x3, _per_channel(mean))
    s1 = xp.add.reduce(xp.add.reduce(g3, axis=0), axis=1)
    s2 = _channel_dot(g3, xc)
    a = invstd * w[0] if affine else invstd
    coef_xc = (dt(2) * gvar - a * invstd * invstd * s2) / dt(n)
    coef_1 = (gmean - a * s1) / dt(n)
    xp.multiply(xc, _per_channel(coef_xc), out=xc)
    xp.add(xc, _per_channel(coef_1), out=xc)
    dx = xp.multiply(g3, _per_channel(a))
    xp.add(dx, xc, out=dx)
    return dx.reshape(x.shape), invstd * s2, s1


@register_op("batch_norm", saves="both", num_outputs=5, hidden=2, reads_visible=False)
class BatchNorm:
    """Batch normalisation with the batch's statistics (training mode): per channel
    (dim 1), the mean and biased variance over every other dim, then ``(x - mean) /
    sqrt(var + eps) [* w] [+ b]``. Outputs ``(y, mean, var)`` (the statistics (C,), for
    the running averages) and, hidden, the mean and inverse standard deviation the VJP
    reads (PyTorch's ``save_mean``/``save_invstd``; separate arrays, so nothing a user
    changes in place reaches the VJP).

    A few whole-array passes: the mean, ``x - mean`` (into the output's buffer), the
    variance as a dot product of that with itself, then scale and shift in place; with
    the ``jit`` extra one numba loop per channel (``yingshe.ops._numba_kernels``)."""

    def forward(xp, x, *wb, eps, affine):
        with xp.errstate(invalid="ignore", over="ignore"):    # inf in, NaN out, by design
            return _batch_norm_forward(xp, x, wb, eps, affine)

    def infer(x, *wb, eps, affine):
        _check_float_pair("batch_norm", x, *wb)
        if x.ndim < 2:
            raise ShapeError(f"batch_norm: expected an input with at least 2 dims, got "
                             f"{shape_str(x.shape)}")
        C = x.shape[1]
        for m in wb:
            if m.ndim != 1 or (C is not None and m.shape[0] is not None and m.shape[0] != C):
                raise ShapeError(f"batch_norm: expected weight and bias of shape "
                                 f"{shape_str((C,))}, got {shape_str(m.shape)}")
        stat = Meta((C,), x.dtype)
        return Meta(tuple(x.shape), x.dtype), stat, stat, stat, stat

    def vjp(g, out, x, *wb, eps, affine, needs):
        gy, gmean, gvar, gsaved_mean, gsaved_invstd = g
        _, _, _, mean, invstd = out
        # the visible var and the hidden invstd are both functions of the batch variance;
        # the hidden mean is the mean: fold their gradients into (gmean, gvar)
        gmean = gmean + gsaved_mean
        gvar = gvar + gsaved_invstd * (invstd * invstd * invstd * -0.5)
        w = wb[0] if affine[0] else None
        dx, dw, db = apply(BatchNormBackward, gy, x, mean, invstd, gmean, gvar,
                           *([w] if w is not None else []), affine=affine[0])
        grads = [dx if needs[0] else None]
        if affine[0]:
            grads.append(dw if needs[1] else None)
        if affine[1]:
            grads.append(db if needs[-1] else None)
        return tuple(grads)


@register_op("batch_norm_backward", saves="inputs", num_outputs=3)
class BatchNormBackward:
    """The VJP of ``batch_norm`` in a few whole-array passes: ``(dx, sum(gy * xhat),
    sum(gy))`` (the last two are the weight's and bias's gradients) from the output's
    gradient ``gy``, the input, the saved mean and inverse std ``s`` and the gradients of
    the mean and variance outputs (zero unless they feed a loss). Per channel, with
    ``xc = x - mean``, ``S1 = sum(gy)``, ``S2 = sum(gy * xc)``, ``a = w * s`` and n
    values per channel:

        dx = a * gy + (2 * gvar - a * s**2 * S2) / n * xc + (gmean - a * S1) / n

    Its own VJP (for second derivatives) is written out below with yingshe's ops."""

    def forward(xp, gy, x, mean, invstd, gmean, gvar, *w, affine):
        with xp.errstate(invalid="ignore", over="ignore"):    # inf in, NaN out, by design
            return _batch_norm_backward(xp, gy, x, mean, invstd, gmean, gvar, w, affine)

    def infer(gy, x, mean, invstd, gmean, gvar, *w, affine):
        _check_float_pair("batch_norm_backward", gy, x, mean, invstd, *w)
        if tuple(gy.shape) != tuple(x.shape):
            raise ShapeError(f"batch_norm_backward: gradient {shape_str(gy.shape)} and input "
                             f"{shape_str(x.shape)} differ in shape")
        stat = Meta((x.shape[1],), x.dtype)
        return Meta(tuple(x.shape), x.dtype), stat, stat

    def vjp(h, out, gy, x, mean, invstd, gmean, gvar, *w, affine, needs):
        # L = <H, dx> + hw * dw + hb * db, with the per-channel sums S1 = sum(gy),
        # S2 = sum(gy * xc), T1 = sum(H), T2 = sum(H * xc), T3 = sum(H * gy); every
        # coefficient below is per channel. A cotangent that is None is zero.
        from yingshe.ops.reduce import sum as _sum
        hx, hw, hb = h
        nd = x.ndim
        dims = (0,) + tuple(range(2, nd))
        n = 1
        for d in dims:
            n *= x.shape[d]
        inv_n = 1.0 / max(n, 1)

        def bc(v):    # (C,) -> (1, C, 1, ...)
            return v.reshape((1, -1) + (1,) * (nd - 2))

        def csum(v):
            return _sum(v, dims)

        s = invstd
        wt = w[0] if affine else None
        a = s * wt if affine else s
        xc = x - bc(mean)
        s1, s2 = csum(gy), csum(gy * xc)
        # dL/dS2 and dL/dS1
        l_s2 = l_s1 = None
        if hx is not None:
            t1, t2 = csum(hx), csum(hx * xc)
            l_s2 = a * s * s * t2 * -inv_n
            l_s1 = a * t1 * -inv_n
        if hw is not None:
            l_s2 = hw * s if l_s2 is None else l_s2 + hw * s
        if hb is not None:
            l_s1 = hb if l_s1 is None else l_s1 + hb
        grads = [None] * (6 + len(w))
        if needs[0]:
            terms = [hx * bc(a)] if hx is not None else []
            if l_s2 is not None:
                terms.append(xc * bc(l_s2))
            if l_s1 is not None:
                terms.append(bc(l_s1))
            grads[0] = _sum_terms(terms, gy)
        if needs[1] or needs[2]:
            terms = [hx * bc((gvar * 2.0 - a * s * s * s2) * inv_n)] if hx is not None else []
            if l_s2 is not None:
                terms.append(gy * bc(l_s2))
            l_xc = _sum_terms(terms, x)
            if needs[1]:
                grads[1] = l_xc
            if needs[2]:
                grads[2] = -csum(l_xc)
        w_ = wt if affine else 1.0
        if hx is not None:
            t3 = csum(hx * gy)
            # s enters through a = w s, a s^2 = w s^3 and a = w s again in the constant
            ds = w_ * t3 - w_ * s * s * s2 * t2 * (3.0 * inv_n) - w_ * s1 * t1 * inv_n
            da = t3 - s * s * s2 * t2 * inv_n - s1 * t1 * inv_n     # dL/da
            if needs[4]:
                grads[4] = t1 * inv_n
            if needs[5]:
                grads[5] = t2 * (2.0 * inv_n)
        else:
            ds = da = None
        if needs[3]:
            parts = [p for p in (ds, hw * s2 if hw is not None else None) if p is not None]
            grads[3] = _sum_terms(parts, s)
        if affine and needs[6]:
            grads[6] = s * da if da is not None else _sum_terms([], wt)
        return tuple(grads)


def _sum_terms(terms, like):
    """The sum of a list of tensors, or zeros like ``like`` for an empty list."""
    if not terms:
        from yingshe.ops.elementwise import mul
        return mul(like, 0.0)
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def _normalize(x, mean, var, weight, bias, eps):
    wb = tuple(t for t in (weight, bias) if t is not None)
    return apply(NormApply, x, mean, var, *wb, eps=float(eps),
                 affine=(weight is not None, bias is not None))[0]


def _update_running(buf, stat, momentum, opname):
    """buf <- (1 - momentum) * buf + momentum * stat, a state update outside autograd."""
    from yingshe.autograd import no_grad
    from yingshe.ops._inplace import commit
    with no_grad():
        new = buf * (1.0 - momentum) + stat.detach().to(buf.dtype) * momentum
        commit(buf, new, opname)


def _known_prod(dims):
    """The product of ``dims``, or None when one is unknown (a graph placeholder's)."""
    return None if None in dims else math.prod(dims)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over dim 1 (as ``torch.nn.functional.batch_norm``). In training
    mode uses the batch statistics and updates ``running_mean``/``running_var`` in place:
    ``r = (1 - momentum) * r + momentum * stat`` with the unbiased batch variance."""
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected an input with at least 2 dims, got "
                         f"{shape_str(input.shape)}")
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ShapeError(f"batch_norm: expected {name} to have shape ({C},) for input "
                             f"{shape_str(input.shape)}, got {shape_str(t.shape)}")
    # before the running statistics are touched: a refused call changes nothing
    _check_float_pair("batch_norm", *(meta_of(t) for t in (input, running_mean, running_var,
                                                           weight, bias) if t is not None))
    if training:
        # values per channel; PyTorch refuses exactly one (an empty batch is fine, and
        # leaves the running statistics as they are)
        count = _known_prod((input.shape[0],) + tuple(input.shape[2:]))
        if count == 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input size {shape_str(input.shape)}")
        wb = tuple(t for t in (weight, bias) if t is not None)
        y, mean, var = apply(BatchNorm, input, *wb, eps=float(eps),
                             affine=(weight is not None, bias is not None))
        if count != 0 and (running_mean is not None or running_var is not None):
            if momentum is None:
                raise ValueError("batch_norm: momentum=None (cumulative average) is handled by "
                                 "the BatchNorm module; pass the effective momentum")
            if MODE.tracer is None and any(is_graph_value(t) for t in
                                           (input, running_mean, running_var)):
                raise NotImplementedError(
                    "batch_norm: updating running_mean/running_var in place is not supported "
                    "while building a yingshe.graph graph; pass running statistics of None "
                    "and update them with assign ops (TF1's tf.nn.moments + assign), or "
                    "trace the eager code with yingshe.compile")
            if running_mean is not None:
                _update_running(running_mean, mean, momentum, "batch_norm")
            if running_var is not None:
                _update_running(running_var, var * (count / (count - 1)), momentum,
                                "batch_norm")
        return y
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var must be defined in "
                         "evaluation mode")
    bshape = (1, C) + (1,) * (input.ndim - 2)
    w = weight.reshape(bshape) if weight is not None else None
    b = bias.reshape(bshape) if bias is not None else None
    return _normalize(input, running_mean.reshape(bshape), running_var.reshape(bshape), w, b,
                      eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance normalisation (statistics per sample and channel), as
    ``torch.nn.functional.instance_norm``."""
    if input.ndim < 3:
        raise ShapeError(f"instance_norm: expected an input with at least 3 dims, got "
                         f"{shape_str(input.shape)}")
    N, C = input.shape[:2]
    _check_float_pair("instance_norm", *(meta_of(t) for t in (input, running_mean, running_var,
                                                              weight, bias) if t is not None))
    bshape = (1, C) + (1,) * (input.ndim - 2)
    w = weight.reshape(bshape) if weight is not None else None
    b = bias.reshape(bshape) if bias is not None else None
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: expected running_mean and running_var to be "
                             "defined when use_input_stats is false")
        return _normalize(input, running_mean.reshape(bshape), running_var.reshape(bshape),
                          w, b, eps)
    dims = tuple(range(2, input.ndim))
    count = _known_prod(input.shape[2:])
    if count == 1:   # PyTorch refuses exactly one spatial element (0 is fine)
        raise ValueError(f"instance_norm: expected more than 1 spatial element when "
                         f"training, got input size {shape_str(input.shape)}")
    mean, var = apply(NormMoments, input, dim=dims)
    if count is None:
        count = input.numel() // max(N * C, 1)
    if not (count and N):
        # no statistics to average: the running ones stay as they are (PyTorch makes them
        # NaN for an empty batch, its mean over no instances; BatchNorm keeps them)
        running_mean = running_var = None
    if running_mean is not None:
        _update_running(running_mean, mean.reshape(N, C).mean(0), momentum, "instance_norm")
    if running_var is not None:
        _update_running(running_var, (var.reshape(N, C) * (count / (count - 1))).mean(0),
                        momentum, "instance_norm")
    return _normalize(input, mean, var, w, b, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the trailing ``normalized_shape`` dims."""
    ns = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(s) for s in normalized_shape)
    k = len(ns)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != ns:
        raise ShapeError(f"layer_norm: given normalized_shape={list(ns)}, expected input with "
                         f"shape [*, {', '.join(map(str, ns))}], but got input of size "
                         f"{shape_str(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != ns:
            raise ShapeError(f"layer_norm: expected {name} of shape {shape_str(ns)}, got "
                             f"{shape_str(t.shape)}")
    mean, var = apply(NormMoments, input, dim=tuple(range(input.ndim - k, input.ndim)))
    return _normalize(input, mean, var, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation: channels split into ``num_groups`` groups, each normalised
    over its channels and spatial positions."""
    if input.ndim < 2:
        raise ShapeError(f"group_norm: expected an input with at least 2 dims, got "
                         f"{shape_str(input.shape)}")
    N, C = input.shape[:2]
    if C % num_groups:
        raise ShapeError(f"group_norm: expected number of channels in input to be divisible "
                         f"by num_groups, but got input of shape {shape_str(input.shape)} "
                         f"and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ShapeError(f"group_norm: expected {name} of shape ({C},), got "
                             f"{shape_str(t.shape)}")
    G = num_groups
    spatial = _known_prod(input.shape[2:])   # not -1 where known: N or C may be 0
    grouped = input.reshape(N, G, C // G, -1 if spatial is None else spatial)
    mean, var = apply(NormMoments, grouped, dim=(2, 3))
    # statistics per group, spread to per channel: the result is then computed in the
    # input's own layout, a fresh array rather than a view (so relu(gn(x), inplace=True)
    # works, as in PyTorch)
    per_channel = (N, C) + (1,) * (input.ndim - 2)
    mean = mean.expand(N, G, C // G, 1).reshape(per_channel)
    var = var.expand(N, G, C // G, 1).reshape(per_channel)
    bshape = (1, C) + (1,) * (input.ndim - 2)
    w = weight.reshape(bshape) if weight is not None else None
    b = bias.reshape(bshape) if bias is not None else None
    return _normalize(input, mean, var, w, b, eps)


# ---- GELU ----------------------------------------------------------------------------------------

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_A = 0.044715


def _gelu_poly(order: int) -> np.ndarray:
    """P_n with d^n/dx^n [x Phi(x)] = phi(x) P_n(x) for n >= 2 (coefficients, low first)."""
    from numpy.polynomial import polynomial as P
    p = np.array([2.0, 0.0, -1.0])
    for _ in range(order - 2):
        p = P.polysub(P.polyder(p), P.polymulx(p))
    return p


def _gelu_derivative(xp, x, approximate, order):
    dt = x.dtype.type
    if approximate == "tanh":
        u = dt(_SQRT_2_OVER_PI) * (x + dt(_GELU_A) * x * x * x)
        t = xp.tanh(u)
        if order == 0:
            return dt(0.5) * x * (dt(1) + t)
        du = dt(_SQRT_2_OVER_PI) * (dt(1) + dt(3 * _GELU_A) * x * x)
        sech2 = dt(1) - t * t
        if order == 1:
            return dt(0.5) * (dt(1) + t) + dt(0.5) * x * sech2 * du
        if order == 2:
            d2u = dt(6 * _GELU_A * _SQRT_2_OVER_PI) * x
            return sech2 * (du + dt(0.5) * x * (d2u - dt(2) * t * du * du))
        raise NotImplementedError("gelu(approximate='tanh'): derivatives of order > 2 are "
                                  "not implemented")
    if order == 0:
        return x * dt(0.5) * (dt(1) + xp.erf(x * dt(1 / math.sqrt(2.0))))
    pdf = dt(_INV_SQRT_2PI) * xp.exp(-dt(0.5) * x * x)
    if order == 1:
        return dt(0.5) * (dt(1) + xp.erf(x * dt(1 / math.sqrt(2.0)))) + x * pdf
    return pdf * np.polynomial.polynomial.polyval(x, _gelu_poly(order).astype(x.dtype))


@register_op("gelu", saves="inputs")
class Gelu:
    """x * Phi(x) (``approximate='none'``) or its tanh approximation."""

    def forward(xp, x, *, approximate):
        return _gelu_derivative(xp, x, approximate, 0)

    def infer(x, *, approximate):
        if not x.dtype.is_floating_point:
            raise DTypeError(f"gelu: expected a floating-point input, got {x.dtype}")
        return x

    def vjp(g, out, x, *, approximate):
        return g * apply(GeluGrad, x, approximate=approximate, order=1)


@register_op("gelu_grad", saves="inputs")
class GeluGrad:
    """The ``order``-th derivative of GELU, elementwise (its VJP is order + 1)."""

    def forward(xp, x, *, approximate, order):
        return _gelu_derivative(xp, x, approximate, order)

    def infer(x, *, approximate, order):
        return x

    def vjp(g, out, x, *, approximate, order):
        return g * apply(GeluGrad, x, approximate=approximate, order=order + 1)


def gelu(input, approximate="none"):
    """GELU, as ``torch.nn.functional.gelu`` (exact via erf, or ``approximate='tanh'``)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate argument must be either none or tanh, got "
                         f"{approximate!r}")
    return apply(Gelu, input, approximate=approximate)


# ---- attention -----------------------------------------------------------------------------------

@register_op("attention_softmax", saves="output")
class AttentionSoftmax:
    """Softmax over the last dim; rows that are entirely -inf (fully masked) give zeros,
    as PyTorch's scaled_dot_product_attention does."""

    def forward(xp, s):
        m = xp.max(s, axis=-1, keepdims=True) if s.shape[-1] else s
        m = xp.where(xp.isfinite(m), m, 0)
        e = xp.exp(s - m)
        total = xp.sum(e, axis=-1, keepdims=True)
        with xp.errstate(invalid="ignore", divide="ignore"):
            out = e / total
        return xp.where(total > 0, out, 0).astype(s.dtype, copy=False)

    def infer(s):
        if not s.dtype.is_floating_point:
            raise DTypeError(f"attention_softmax: expected a floating-point input, got {s.dtype}")
        return s

    def vjp(g, out, s):
        from yingshe.ops.reduce import sum as _sum
        return out * (g - _sum(g * out, -1, keepdim=True))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(Q K^T * scale + mask) V, as ``torch.nn.functional.scaled_dot_product_attention``
    (boolean masks: True takes part; float masks are added)."""
    from yingshe.ops.linalg import matmul
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported")
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ShapeError("scaled_dot_product_attention: query, key and value need at least 2 "
                         f"dims, got {shape_str(query.shape)}, {shape_str(key.shape)}, "
                         f"{shape_str(value.shape)}")
    if query.shape[-1] != key.shape[-1]:
        raise ShapeError(f"scaled_dot_product_attention: query {shape_str(query.shape)} and key "
                         f"{shape_str(key.shape)} must have the same embedding dimension")
    L, S = query.shape[-2], key.shape[-2]
    sc = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = matmul(query, key.transpose(-2, -1)) * sc
    dt = query.dtype.np
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: explicit attn_mask should not be "
                             "set when is_causal=True")
        causal = np.where(np.tril(np.ones((L, S), dtype=bool)), 0, -np.inf).astype(dt)
        scores = scores + _wrap(causal)
    if attn_mask is not None:
        if attn_mask.dtype is _dtype.bool:
            from yingshe.ops.elementwise_math import where
            scores = where(attn_mask, scores, -math.inf)   # also for a graph mask
        else:
            scores = scores + attn_mask
    attn = apply(AttentionSoftmax, scores)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, True)
    return matmul(attn, value)
