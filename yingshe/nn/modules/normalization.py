"""Normalisation layers: ``BatchNorm1d/2d/3d``, ``InstanceNorm1d/2d/3d``, ``LayerNorm``,
``GroupNorm``.

BatchNorm follows PyTorch exactly: running statistics updated with ``momentum``
(or a cumulative average when ``momentum=None``, counted by
``num_batches_tracked``) in training mode, used in eval mode; with
``track_running_stats=False`` batch statistics are used in both modes.
"""

from __future__ import annotations

import numbers

import numpy as np

from yingshe._tensor import MODE, Tensor
from yingshe.autograd import no_grad
from yingshe.nn import functional as F
from yingshe.nn import init
from yingshe.nn.modules._common import affine_parameters, factory_dtype
from yingshe.nn.modules.module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "InstanceNorm1d",
           "InstanceNorm2d", "InstanceNorm3d", "LayerNorm", "GroupNorm"]


class _NormBase(Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        npd = factory_dtype(type(self).__name__, device, dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        affine_parameters(self, (num_features,), npd, affine, bias)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=npd)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=npd)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def _load_from_state_dict(self, state_dict, prefix, strict, missing_keys,
                              unexpected_keys, error_msgs, assign) -> None:
        super()._load_from_state_dict(state_dict, prefix, strict, missing_keys,
                                      unexpected_keys, error_msgs, assign)
        # PyTorch accepts a state dict without the counter (one saved before BatchNorm had
        # it, or by code that drops it) even when strict, and keeps the module's own count.
        # Its versioned state dicts raise instead; yingshe's carry no version, so the
        # unversioned rule, which is also what a dict read from a file gets, always applies.
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key in missing_keys and key not in state_dict:
            missing_keys.remove(key)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def forward(self, input):
        self._check_input_dim(input)
        factor = self._count_batch()
        if self.training:
            bn_training = True
        else:
            bn_training = self.running_mean is None and self.running_var is None
        use_stats = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if use_stats else None,
            self.running_var if use_stats else None,
            self.weight, self.bias, bn_training, factor, self.eps,
        )

    def _count_batch(self) -> float:
        """Count a training batch in ``num_batches_tracked``; the running-average factor."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            nbt = self.num_batches_tracked
            if MODE.tracer is not None:   # yingshe.compile: an assign node in the program
                if self.momentum is None:
                    from yingshe.graph.trace import TraceError
                    raise TraceError(
                        "BatchNorm with momentum=None (a cumulative average) takes its factor "
                        "from num_batches_tracked, a value that does not exist while tracing; "
                        "give momentum a number, or compile with fallback=\"eager\"")
                with no_grad():
                    nbt.add_(1)
            else:
                nbt._data[...] += 1
                nbt._vc[0] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(nbt._data)
            else:
                factor = self.momentum
        return factor


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs."""

    def _check_input_dim(self, input) -> None:
        if input.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) inputs."""

    def _check_input_dim(self, input) -> None:
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input)")


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) inputs."""

    def _check_input_dim(self, input) -> None:
        if input.ndim != 5:
            raise ValueError(f"expected 5D input (got {input.ndim}D input)")


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation whose training statistics cover the whole distributed batch:
    the mean and variance over every rank of ``process_group`` (PyTorch's class).

    In training mode with a process group of more than one rank, the per-channel sums
    (and the element counts, which may differ between ranks) are all-reduced, then the
    squared deviations from the global mean (two passes, as ``batch_norm``); the
    gradient flows back through the same all-reduces, so each rank's input gradient is
    that of the global batch. Otherwise (eval mode, no group, one rank) it is
    ``BatchNorm``. Accepts any input of at least 2 dims.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None,
                 device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        bn_training = self.training or (self.running_mean is None and
                                        self.running_var is None)
        group = None
        if bn_training and self.training:
            from yingshe import distributed as dist
            if dist.is_initialized():
                group = dist._group_of(self.process_group, "SyncBatchNorm")
                if group is not None and group.size == 1:
                    group = None
        if group is None:
            return super().forward(input)
        factor = self._count_batch()
        from yingshe.distributed import functional as dfn
        from yingshe.ops.nn import _normalize, _update_running
        from yingshe.ops.shape import cat
        C = input.shape[1]
        dims = (0,) + tuple(range(2, input.ndim))
        bshape = (1, C) + (1,) * (input.ndim - 2)
        local = input.numel() // max(C, 1)
        count = Tensor(np.array([local], dtype=input.dtype.np))
        sums = dfn.all_reduce(cat([input.sum(dims), count]), group=group)
        total = sums[C:]
        mean = sums[:C] / total
        xc = input - mean.reshape(bshape)
        var = dfn.all_reduce((xc * xc).sum(dims), group=group) / total
        if self.track_running_stats:
            if MODE.tracer is None and float(total._data[0]) <= 1:
                raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel "
                                 f"over the ranks when training, got input size "
                                 f"{tuple(input.shape)} on this rank")
            _update_running(self.running_mean, mean, factor, "SyncBatchNorm")
            _update_running(self.running_var, var * (total / (total - 1)), factor,
                            "SyncBatchNorm")
        w = self.weight.reshape(bshape) if self.weight is not None else None
        b = self.bias.reshape(bshape) if self.bias is not None else None
        return _normalize(input, mean.reshape(bshape), var.reshape(bshape), w, b, self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every ``BatchNorm*d`` replaced by a ``SyncBatchNorm`` holding the
        same parameters, buffers and mode (PyTorch's function of the same name)."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group,
                      bias=module.bias is not None or not module.affine)
            if module.affine:
                with no_grad():
                    out.weight = module.weight
                    out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


class _InstanceNorm(_NormBase):
    """Statistics per sample and channel (``F.instance_norm``); PyTorch's defaults:
    no affine parameters, no running statistics. With ``track_running_stats`` the
    running averages are updated in training and used in eval mode."""

    _spatial = 1   # spatial dims after (N, C)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def forward(self, input):
        name = type(self).__name__
        unbatched = self._spatial + 1
        if input.ndim not in (unbatched, unbatched + 1):
            raise ValueError(f"{name}: expected {unbatched}D (unbatched) or "
                             f"{unbatched + 1}D (batched) input (got {input.ndim}D input)")
        channels = input.shape[input.ndim - unbatched]
        if channels != self.num_features:
            if self.affine:
                raise ValueError(f"{name}: expected input's size at dim="
                                 f"{input.ndim - unbatched} to match num_features "
                                 f"({self.num_features}), but got: {channels}.")
            import warnings
            warnings.warn(f"{name}: input's size at dim={input.ndim - unbatched} does not "
                          f"match num_features ({self.num_features}); the input is "
                          "normalised per channel anyway, as PyTorch does", stacklevel=2)
        x = input.unsqueeze(0) if input.ndim == unbatched else input
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              0.0 if self.momentum is None else self.momentum, self.eps)
        return out.squeeze(0) if input.ndim == unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over (N, C, L) or unbatched (C, L) inputs."""
    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over (N, C, H, W) or unbatched (C, H, W) inputs."""
    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation over (N, C, D, H, W) or unbatched (C, D, H, W) inputs."""
    _spatial = 3


class LayerNorm(Module):
    """Normalise over the last ``len(normalized_shape)`` dims; affine weight (ones) and
    bias (zeros) of ``normalized_shape``."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        npd = factory_dtype("LayerNorm", device, dtype)
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        affine_parameters(self, self.normalized_shape, npd, elementwise_affine, bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise over groups of channels of (N, C, *) inputs; per-channel affine."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        npd = factory_dtype("GroupNorm", device, dtype)
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        affine_parameters(self, (num_channels,), npd, affine, bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
