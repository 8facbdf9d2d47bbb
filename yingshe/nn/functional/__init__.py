"""``yingshe.nn.functional``: PyTorch's functional API over yingshe's op registry.

Nothing here computes: every name is the registry's public op function, re-exported
under PyTorch's functional name, or a thin adapter where PyTorch's functional
signature differs from the op's (``F.relu(input, inplace=False)``). A name whose op
is not implemented raises an ``AttributeError`` that says so.

Example:
    >>> import yingshe.nn.functional as F
    >>> F.relu(yingshe.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

import importlib
import warnings

from yingshe import _dtype
from yingshe._tensor import Tensor
from yingshe.errors import DTypeError

# PyTorch's functional names that the registry may provide, by the module providing them.
_SOURCES = {
    "yingshe.ops.nn": (
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
        "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
        "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_pool2d_with_indices",
        "lp_pool2d", "fold", "unfold", "batch_norm", "layer_norm", "group_norm",
        "instance_norm", "rms_norm", "local_response_norm", "normalize", "dropout",
        "dropout1d", "dropout2d", "alpha_dropout", "embedding", "embedding_bag", "gelu",
        "interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle",
        "scaled_dot_product_attention", "multi_head_attention_forward", "bilinear",
        "glu", "softmin", "gumbel_softmax", "grid_sample", "affine_grid", "cosine_similarity",
        "pairwise_distance", "pdist",
    ),
    "yingshe.ops.conv3d": ("conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d"),
    "yingshe.ops.elementwise_math": (
        "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "softplus", "softsign",
        "sigmoid", "tanh", "silu", "mish", "hardtanh", "hardsigmoid", "hardswish",
        "logsigmoid", "tanhshrink", "softshrink", "hardshrink", "threshold", "prelu",
        "rrelu",
    ),
    "yingshe.ops.linalg": ("linear", "softmax", "log_softmax", "bilinear", "softmin"),
    "yingshe.ops.loss": ("softmax", "log_softmax", "softmin"),
    "yingshe.ops.shape": ("pad", "one_hot"),
    "yingshe.ops.indexing": ("one_hot", "pad"),
}

_ops: dict[str, object] = {}   # the registry function behind each name
_exported: list[str] = []


def _collect() -> None:
    for modname, names in _SOURCES.items():
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        extra = tuple(getattr(mod, "FUNCTIONAL", ()))
        for name in names + extra:
            fn = getattr(mod, name, None)
            if fn is not None and callable(fn) and name not in _ops:
                _ops[name] = fn


_collect()
for _name, _fn in _ops.items():
    globals()[_name] = _fn
    _exported.append(_name)


# ---- adapters where PyTorch's functional signature differs from the op's ---------------

def _source(input, inplace: bool):
    """The tensor a composition reads. For an in-place call that autograd records, a
    clone: the composed ops save what they read for their VJPs, and the in-place write
    must not overwrite that (the clone's VJP passes the gradient on to ``input``)."""
    if inplace:
        from yingshe._tensor import MODE
        from yingshe.ops._inplace import needs_autograd
        if MODE.tracer is not None:     # traced: the value under another name (the same
            return MODE.tracer.alias(input)   # role; a graph value is never overwritten)
        if needs_autograd(input):
            return input.clone()
    return input


def _in_place(input: Tensor, out: Tensor, opname: str) -> Tensor:
    from yingshe.ops._inplace import commit
    return commit(input, out, opname)


_adapters: dict[str, object] = {}


def _adapter(name: str):
    def deco(fn):
        _adapters[name] = fn
        if name in _ops:
            fn.__doc__ = (fn.__doc__ or "") or getattr(_ops[name], "__doc__", None)
            globals()[name] = fn
            if name not in _exported:
                _exported.append(name)
        return fn
    return deco


@_adapter("relu")
def relu(input, inplace: bool = False):
    """max(0, x) elementwise; ``inplace`` writes the result into ``input``."""
    out = _ops["relu"](_source(input, inplace))
    return _in_place(input, out, "relu_") if inplace else out


@_adapter("relu6")
def relu6(input, inplace: bool = False):
    out = _ops["relu6"](_source(input, inplace))
    return _in_place(input, out, "relu6_") if inplace else out


@_adapter("leaky_relu")
def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    out = _ops["leaky_relu"](_source(input, inplace), negative_slope)
    return _in_place(input, out, "leaky_relu_") if inplace else out


@_adapter("elu")
def elu(input, alpha: float = 1.0, inplace: bool = False):
    out = _ops["elu"](_source(input, inplace), alpha)
    return _in_place(input, out, "elu_") if inplace else out


@_adapter("selu")
def selu(input, inplace: bool = False):
    out = _ops["selu"](_source(input, inplace))
    return _in_place(input, out, "selu_") if inplace else out


@_adapter("celu")
def celu(input, alpha: float = 1.0, inplace: bool = False):
    out = _ops["celu"](_source(input, inplace), alpha)
    return _in_place(input, out, "celu_") if inplace else out


@_adapter("silu")
def silu(input, inplace: bool = False):
    out = _ops["silu"](_source(input, inplace))
    return _in_place(input, out, "silu_") if inplace else out


@_adapter("mish")
def mish(input, inplace: bool = False):
    out = _ops["mish"](_source(input, inplace))
    return _in_place(input, out, "mish_") if inplace else out


@_adapter("hardtanh")
def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    out = _ops["hardtanh"](_source(input, inplace), min_val, max_val)
    return _in_place(input, out, "hardtanh_") if inplace else out


@_adapter("hardswish")
def hardswish(input, inplace: bool = False):
    out = _ops["hardswish"](_source(input, inplace))
    return _in_place(input, out, "hardswish_") if inplace else out


@_adapter("hardsigmoid")
def hardsigmoid(input, inplace: bool = False):
    out = _ops["hardsigmoid"](_source(input, inplace))
    return _in_place(input, out, "hardsigmoid_") if inplace else out


@_adapter("threshold")
def threshold(input, threshold: float, value: float, inplace: bool = False):
    out = _ops["threshold"](_source(input, inplace), threshold, value)
    return _in_place(input, out, "threshold_") if inplace else out


def _softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to "
        "include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


@_adapter("softmax")
def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (PyTorch's implicit ``dim`` rule when None)."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim)
    if dtype is not None:
        return _ops["softmax"](input, dim, dtype=dtype)
    return _ops["softmax"](input, dim)


@_adapter("log_softmax")
def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """log(softmax(x)) along ``dim``, computed stably."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim)
    if dtype is not None:
        return _ops["log_softmax"](input, dim, dtype=dtype)
    return _ops["log_softmax"](input, dim)


@_adapter("softmin")
def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim)
    if dtype is not None:
        return _ops["softmin"](input, dim, dtype=dtype)
    return _ops["softmin"](input, dim)


for _name in _adapters:  # adapters of ops that do not exist are removed again
    if _name not in _ops:
        del globals()[_name]

if "hardtanh" not in _ops and hasattr(importlib.import_module("yingshe.ops.elementwise_math"),
                                      "clamp"):
    # Until the registry has a ``hardtanh`` op: it is ``clamp`` (they differ only in the
    # subgradient chosen exactly at the two corners).
    def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        """clamp(x, min_val, max_val)."""
        from yingshe.ops.elementwise_math import clamp
        out = clamp(_source(input, inplace), min_val, max_val)
        return _in_place(input, out, "hardtanh_") if inplace else out

    def relu6(input, inplace: bool = False):
        """min(max(0, x), 6)."""
        return hardtanh(input, 0.0, 6.0, inplace)

    _exported.extend(["hardtanh", "relu6"])


# ---- activations without a registered op: compositions of registered ops -----------------
# PyTorch's formulas and defaults; gradients come from the composed ops' VJPs (checked
# against PyTorch, values and gradients, in tests/nn/test_more_activations.py). A registered
# op of the same name, if one is added, takes precedence over the composition.

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _composed(name: str):
    def deco(fn):
        if name in _ops:
            return globals()[name]
        _exported.append(name)
        return fn
    return deco


def _em():
    return importlib.import_module("yingshe.ops.elementwise_math")


@_composed("selu")
def selu(input, inplace: bool = False):
    """scale * elu(x, alpha) with PyTorch's constants (alpha 1.6732..., scale 1.0507...)."""
    out = _em().elu(_source(input, inplace), _SELU_ALPHA) * _SELU_SCALE
    return _in_place(input, out, "selu_") if inplace else out


@_composed("celu")
def celu(input, alpha: float = 1.0, inplace: bool = False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    alpha = float(alpha)
    if alpha == 0.0:
        raise RuntimeError("celu: ZeroDivisionError (alpha must not be 0)")
    em, x = _em(), _source(input, inplace)
    neg = em.elu(x * (1.0 / alpha), 1.0) * alpha
    out = em.where(em.gt(x, 0), x, neg)
    return _in_place(input, out, "celu_") if inplace else out


@_composed("mish")
def mish(input, inplace: bool = False):
    """x * tanh(softplus(x)) (softplus without PyTorch's linear threshold, as ``mish``)."""
    em, x = _em(), _source(input, inplace)
    out = x * em.tanh(em.softplus(x, 1.0, float("inf")))
    return _in_place(input, out, "mish_") if inplace else out


@_composed("softsign")
def softsign(input):
    """x / (1 + |x|)."""
    return input / (_em().abs(input) + 1)


@_composed("hardswish")
def hardswish(input, inplace: bool = False):
    """x * relu6(x + 3) / 6, as x * hardsigmoid(x): the gradient is x / 3 + 1/2 strictly
    inside (-3, 3), 0 at and below -3, 1 at and above 3 (PyTorch's; clamp's gradient
    counted the ends)."""
    em, x = _em(), _source(input, inplace)
    out = x * em.where(em.le(x, -3), 0.0, em.where(em.ge(x, 3), 1.0, (x + 3) / 6))
    return _in_place(input, out, "hardswish_") if inplace else out


@_composed("hardsigmoid")
def hardsigmoid(input, inplace: bool = False):
    """relu6(x + 3) / 6; the gradient is 1/6 strictly inside (-3, 3), 0 elsewhere."""
    em, x = _em(), _source(input, inplace)
    out = em.where(em.le(x, -3), 0.0, em.where(em.ge(x, 3), 1.0, (x + 3) / 6))
    return _in_place(input, out, "hardsigmoid_") if inplace else out


@_composed("logsigmoid")
def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), computed without overflow for any x."""
    return -_em().softplus(-input, 1.0, float("inf"))


@_composed("tanhshrink")
def tanhshrink(input):
    """x - tanh(x)."""
    return input - _em().tanh(input)


@_composed("threshold")
def threshold(input, threshold: float, value: float, inplace: bool = False):
    """x where x > threshold, else value. An integer input keeps its dtype, with the
    threshold and the value converted to it first (truncated), as in PyTorch."""
    em, x = _em(), _source(input, inplace)
    if not x.dtype.is_floating_point:
        if x.dtype is _dtype.bool:
            raise DTypeError("threshold: not implemented for bool tensors")
        threshold, value = int(threshold), int(value)
    out = em.where(em.gt(x, threshold), x, value)
    return _in_place(input, out, "threshold_") if inplace else out

if "linear" not in _ops:
    # Until the registry has a fused ``linear`` op: the same maths as a composition of
    # registered ops (matmul, transpose, add), so gradients come from their VJPs.
    def linear(input, weight, bias=None):
        """y = x W^T + b (composition of matmul and add)."""
        from yingshe.ops.linalg import matmul
        out = matmul(input, weight.transpose(0, 1) if weight.ndim == 2 else weight)
        return out if bias is None else out + bias

    _exported.append("linear")


# ---- more compositions: softmin, channel dropout, adaptive max pooling ------------------

@_composed("softmin")
def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):
    """softmax(-x) along ``dim`` (PyTorch's implicit ``dim`` rule when None)."""
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim)
    return softmax(-input, dim, dtype=dtype)


def _channel_dropout(name: str, input, p: float, training: bool, inplace: bool, spatial: int):
    """Zero whole channels with probability ``p`` (one draw per (sample, channel)), scale
    the rest by 1/(1-p): PyTorch's dropout1d/dropout2d. Inputs without a batch dim are
    accepted, as in PyTorch."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"{name}: Expected {spatial + 1}D or {spatial + 2}D input, but "
                           f"received a {input.ndim}D input")
    if not training or p == 0.0:
        return input
    import yingshe
    channels = tuple(input.shape[:input.ndim - spatial])
    keep = yingshe.rand(*channels, dtype=input.dtype) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = (keep.to(input.dtype) * scale).reshape(*channels, *([1] * spatial))
    out = _source(input, inplace) * mask
    return _in_place(input, out, f"{name}_") if inplace else out


@_composed("dropout1d")
def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Channel dropout over (N, C, L) or (C, L) inputs."""
    return _channel_dropout("dropout1d", input, p, training, inplace, 1)


@_composed("dropout2d")
def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Channel dropout over (N, C, H, W) or (C, H, W) inputs."""
    return _channel_dropout("dropout2d", input, p, training, inplace, 2)


@_composed("adaptive_max_pool2d")
def adaptive_max_pool2d(input, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive windows (rows floor(i*H/oh) .. ceil((i+1)*H/oh), the
    same for columns); ``return_indices`` gives flat indices into each input plane. A
    composition of slices and ``max`` (the first maximum of a window wins)."""
    import yingshe
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_max_pool2d(): Expected 3D or 4D tensor, but got "
                           f"{tuple(input.shape)}")
    from yingshe.ops.nn import check_pooled_dims
    check_pooled_dims("adaptive_max_pool2d", input, 2)
    H, W = input.shape[-2], input.shape[-1]
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    oh = H if oh is None else oh
    ow = W if ow is None else ow
    rows, idx_rows = [], []
    for i in range(oh):
        h0, h1 = (i * H) // oh, -((-(i + 1) * H) // oh)
        vals, idxs = [], []
        for j in range(ow):
            w0, w1 = (j * W) // ow, -((-(j + 1) * W) // ow)
            v, k = input[..., h0:h1, w0:w1].flatten(-2).max(-1)
            vals.append(v)
            idxs.append((h0 + k // (w1 - w0)) * W + w0 + k % (w1 - w0))
        rows.append(yingshe.stack(vals, -1))
        idx_rows.append(yingshe.stack(idxs, -1))
    out = yingshe.stack(rows, -2)
    return (out, yingshe.stack(idx_rows, -2)) if return_indices else out


# ---- losses (written in _loss.py by the losses work) -------------------------------------
try:
    from yingshe.nn.functional import _loss as _loss_mod
    from yingshe.nn.functional._loss import *  # noqa: F401,F403
    _exported.extend(getattr(_loss_mod, "__all__", ()))
except ImportError:  # pragma: no cover - while the losses are being written
    pass
for _name, _fn in _adapters.items():  # the adapters win over any plain re-export
    if _name in _ops:
        globals()[_name] = _fn


def _inplace_variant(name: str):
    """PyTorch's ``F.<name>_(input, ...)``: ``F.<name>(input, ..., inplace=True)``."""
    fn = globals()[name]

    def variant(input, *args, **kwargs):
        return fn(input, *args, inplace=True, **kwargs)

    variant.__name__ = variant.__qualname__ = name + "_"
    variant.__doc__ = f"``{name}(input, ..., inplace=True)``: the activation in place."
    return variant


for _name in ("relu", "leaky_relu", "elu", "selu", "celu", "hardtanh", "threshold"):
    globals()[_name + "_"] = _inplace_variant(_name)
    _exported.append(_name + "_")


class _NotImplementedName(AttributeError):
    """An ``AttributeError`` (so ``hasattr`` works) saying a functional is missing."""


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise _NotImplementedName(
        f"yingshe.nn.functional.{name} is not implemented: no registered op provides it"
    )


__all__ = sorted(set(_exported))
