"""Convolutions: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d``."""

from __future__ import annotations

from yingshe.nn import functional as F
from yingshe.nn.modules._common import (_pair, _single, default_init_, factory_dtype,
                                        weight_and_bias)
from yingshe.nn.modules._common import _triple
from yingshe.nn.modules.module import Module

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]
__all__ += ["Conv3d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _n = 2
    _fn_name = "conv2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device, dtype) -> None:
        super().__init__()
        name = type(self).__name__
        npd = factory_dtype(name, device, dtype)
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 "{'valid', 'same'}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {list(_PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        if padding_mode != "zeros" and not hasattr(F, "pad"):
            raise NotImplementedError(
                f"{name}: padding_mode={padding_mode!r} is not supported by yingshe yet "
                "(needs nn.functional.pad)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        n = len(kernel_size)
        if isinstance(padding, str):
            self._reversed_padding_repeated_twice = [0, 0] * n
            if padding == "same":
                for d, k, i in zip(dilation, kernel_size, range(n - 1, -1, -1)):
                    total = d * (k - 1)
                    left = total // 2
                    self._reversed_padding_repeated_twice[2 * i] = left
                    self._reversed_padding_repeated_twice[2 * i + 1] = total - left
        else:
            self._reversed_padding_repeated_twice = [p for p in reversed(padding) for _ in (0, 1)]
        if transposed:
            shape = (in_channels, out_channels // groups) + tuple(kernel_size)
        else:
            shape = (out_channels, in_channels // groups) + tuple(kernel_size)
        weight_and_bias(self, shape, npd, bias, bias_shape=(out_channels,))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # U(-sqrt(k), sqrt(k)) with k = groups / (C_in * prod(kernel_size))
        default_init_(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = ("{in_channels}, {out_channels}, kernel_size={kernel_size}"
             ", stride={stride}")
        if self.padding != (0,) * len(self.kernel_size):
            s += ", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)


class _Conv(_ConvNd):
    def _conv_forward(self, input, weight, bias):
        fn = getattr(F, self._fn_name)
        if self.padding_mode != "zeros":
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            padded = F.pad(input, tuple(self._reversed_padding_repeated_twice), mode=mode)
            return fn(padded, weight, bias, self.stride, (0,) * self._n, self.dilation,
                      self.groups)
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-d convolution over (N, C_in, L) inputs; weight (C_out, C_in/groups, k)."""

    _n = 1
    _fn_name = "conv1d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, _single(kernel_size), _single(stride),
                         padding if isinstance(padding, str) else _single(padding),
                         _single(dilation), False, _single(0), groups, bias, padding_mode,
                         device, dtype)


class Conv2d(_Conv):
    """2-d convolution over (N, C_in, H, W) inputs; weight (C_out, C_in/groups, kH, kW).

    Example:
        >>> nn.Conv2d(16, 33, 3, stride=2)(yingshe.ones(20, 16, 50, 100)).shape
        (20, 33, 24, 49)
    """

    _n = 2
    _fn_name = "conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, _pair(kernel_size), _pair(stride),
                         padding if isinstance(padding, str) else _pair(padding),
                         _pair(dilation), False, _pair(0), groups, bias, padding_mode,
                         device, dtype)


class _ConvTransposeNd(_ConvNd):
    def __init__(self, *args, **kwargs) -> None:
        padding_mode = args[10]
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for '
                             f"{type(self).__name__}")
        super().__init__(*args, **kwargs)

    def _output_padding(self, input, output_size, stride, padding, kernel_size, dilation):
        if output_size is None:
            return tuple(self.output_padding)
        n = self._n
        output_size = [int(s) for s in output_size]
        has_batch = input.ndim == n + 2
        if len(output_size) == n + 2 or (len(output_size) == n + 1 and not has_batch):
            output_size = output_size[-n:]
        if len(output_size) != n:
            raise ValueError(
                f"{type(self).__name__}: output_size must have {n} or {n + 2} elements "
                f"(got {len(output_size)})")
        spatial = input.shape[-n:]
        result = []
        for d in range(n):
            min_size = ((spatial[d] - 1) * stride[d] - 2 * padding[d]
                        + dilation[d] * (kernel_size[d] - 1) + 1)
            max_size = min_size + stride[d] - 1
            if not min_size <= output_size[d] <= max_size:
                raise ValueError(
                    f"requested an output size of {output_size}, but valid sizes range from "
                    f"{min_size} to {max_size} (for an input of {list(spatial)})")
            result.append(output_size[d] - min_size)
        return tuple(result)

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size, self.stride, self.padding,
                                  self.kernel_size, self.dilation)
        fn = getattr(F, self._fn_name)
        return fn(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                  self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution; weight (C_in, C_out/groups, k)."""

    _n = 1
    _fn_name = "conv_transpose1d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, _single(kernel_size), _single(stride),
                         _single(padding), _single(dilation), True, _single(output_padding),
                         groups, bias, padding_mode, device, dtype)


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution ("deconvolution"); weight (C_in, C_out/groups, kH, kW)."""

    _n = 2
    _fn_name = "conv_transpose2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, _pair(kernel_size), _pair(stride),
                         _pair(padding), _pair(dilation), True, _pair(output_padding),
                         groups, bias, padding_mode, device, dtype)


class Conv3d(_Conv):
    """3-d convolution over (N, C_in, D, H, W) inputs; weight (C_out, C_in/groups, kD, kH,
    kW).

    Example:
        >>> nn.Conv3d(4, 6, 3, stride=2)(yingshe.ones(2, 4, 9, 8, 7)).shape
        (2, 6, 4, 3, 3)
    """

    _n = 3
    _fn_name = "conv3d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, _triple(kernel_size), _triple(stride),
                         padding if isinstance(padding, str) else _triple(padding),
                         _triple(dilation), False, _triple(0), groups, bias, padding_mode,
                         device, dtype)


class ConvTranspose3d(_ConvTransposeNd):
    """3-d transposed convolution; weight (C_in, C_out/groups, kD, kH, kW)."""

    _n = 3
    _fn_name = "conv_transpose3d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, _triple(kernel_size), _triple(stride),
                         _triple(padding), _triple(dilation), True, _triple(output_padding),
                         groups, bias, padding_mode, device, dtype)
