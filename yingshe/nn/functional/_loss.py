"""Loss functions of ``yingshe.nn.functional``, with PyTorch's signatures and semantics.

The maths lives in the registered ops of ``yingshe.ops.loss``; these wrappers check
arguments the way PyTorch does, apply weights and the ``reduction``. The legacy
``size_average``/``reduce`` arguments are not supported: pass ``reduction``.
"""

from __future__ import annotations

import warnings

from yingshe._tensor import Tensor
from yingshe.errors import DTypeError, ShapeError, UnsupportedError
from yingshe.ops import loss as _ops
from yingshe.ops._registry import apply
from yingshe.ops.shape import expand

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "kl_div"]

_REDUCTIONS = ("none", "mean", "sum")


def _legacy(name: str, size_average, reduce) -> None:
    if size_average is not None or reduce is not None:
        given = [n for n, v in (("size_average", size_average), ("reduce", reduce))
                 if v is not None]
        raise UnsupportedError(
            f"{name}: the deprecated argument(s) {', '.join(given)} are not supported by "
            f"yingshe; use reduction='none' | 'mean' | 'sum' instead")


def _check_reduction(reduction: str, allowed=_REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"{reduction} is not a valid value for reduction "
                         f"(expected one of {', '.join(repr(r) for r in allowed)})")


def _reduce(loss, reduction: str):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _warn_size(name: str, input, target) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"{name}: Using a target size ({tuple(target.shape)}) that is different to the "
            f"input size ({tuple(input.shape)}). This will likely lead to incorrect results "
            f"due to broadcasting. Please ensure they have the same size.",
            UserWarning, stacklevel=3)


def _same_float_dtype(name: str, input, target) -> None:
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{name}: expected a floating-point input, got {input.dtype}")
    if target.dtype is not input.dtype:
        raise DTypeError(f"{name}: expected input and target to have the same dtype, got "
                         f"{input.dtype} and {target.dtype}")


def _promoted(name: str, input, target, to_input: bool = False):
    """``input`` and ``target`` in one floating dtype, as PyTorch's pointwise losses take
    them: the promoted dtype of the two (a float32 input against a float64 target gives
    a float64 loss; an integer or bool target becomes the input's float dtype), or the
    input's own dtype (``to_input``: huber_loss); the result must be floating point."""
    from yingshe.ops.elementwise import promote
    if to_input:
        if not input.dtype.is_floating_point:
            raise DTypeError(f"{name}: expected a floating-point input, got {input.dtype}")
        return input, (target if target.dtype is input.dtype else target.to(input.dtype))
    a, b, dt = promote(input, target)
    if dt.kind != "f":
        raise DTypeError(f"{name}: expected a floating-point input or target, got "
                         f"{input.dtype} and {target.dtype}")
    return a, b


def _check_weight_size(name, weight, input) -> None:
    if tuple(weight.shape) != tuple(input.shape):
        raise ShapeError(f"{name}: Weights and input must have the same size, got "
                         f"{tuple(weight.shape)} and {tuple(input.shape)}")


# ---- regression losses ------------------------------------------------------------------------

def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error: reduce((input - target)^2 [* weight]); with ``weight`` the
    'mean' divides by the sum of the weights (PyTorch)."""
    _legacy("mse_loss", size_average, reduce)
    _check_reduction(reduction)
    _warn_size("mse_loss", input, target)
    input, target = _promoted("mse_loss", input, target)
    if weight is None:
        return apply(_ops.MSELoss, input, target, reduction=reduction)
    d = input - target
    loss = d * d
    if weight is not None:
        _check_weight_size("mse_loss", weight, input)
        loss = loss * weight
        if reduction == "mean":
            return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error: reduce(|input - target| [* weight]); with ``weight`` the
    'mean' divides by the sum of the weights (PyTorch)."""
    _legacy("l1_loss", size_average, reduce)
    _check_reduction(reduction)
    _warn_size("l1_loss", input, target)
    if (weight is None and isinstance(input, Tensor) and isinstance(target, Tensor)
            and not input.dtype.is_floating_point and not target.dtype.is_floating_point):
        # integers, as PyTorch: |input - target| in their dtype ('mean' then refuses)
        return _reduce((input - target).abs(), reduction)
    input, target = _promoted("l1_loss", input, target)
    loss = apply(_ops.SmoothL1Loss, input, target, beta=0.0)
    if weight is not None:
        _check_weight_size("l1_loss", weight, input)
        loss = loss * weight
        if reduction == "mean":
            return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean",
                   beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (beta = 0: the L1 loss)."""
    _legacy("smooth_l1_loss", size_average, reduce)
    _check_reduction(reduction)
    _warn_size("smooth_l1_loss", input, target)
    input, target = _promoted("smooth_l1_loss", input, target)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss does not support negative values for beta, "
                         f"got {beta}")
    return _reduce(apply(_ops.SmoothL1Loss, input, target, beta=float(beta)), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2); a ``weight`` multiplies
    the pointwise loss and 'mean' averages the weighted loss (PyTorch)."""
    _check_reduction(reduction)
    _warn_size("huber_loss", input, target)
    input, target = _promoted("huber_loss", input, target, to_input=True)
    if not delta > 0:
        raise ValueError(f"huber_loss does not support non-positive values for delta, "
                         f"got {delta}")
    loss = apply(_ops.HuberLoss, input, target, delta=float(delta))
    if weight is not None:
        _check_weight_size("huber_loss", weight, input)
        loss = loss * weight
    return _reduce(loss, reduction)


# ---- binary classification --------------------------------------------------------------------

def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-w (t log x + (1 - t) log(1 - x)) for probabilities ``input`` in [0, 1]; each log
    is clamped at -100, so the loss stays finite at 0 and 1."""
    _legacy("binary_cross_entropy", size_average, reduce)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(
            f"binary_cross_entropy: Using a target size ({tuple(target.shape)}) that is "
            f"different to the input size ({tuple(input.shape)}) is deprecated. Please "
            f"ensure they have the same size.")
    _same_float_dtype("binary_cross_entropy", input, target)
    loss = apply(_ops.BinaryCrossEntropy, input, target)
    if weight is not None:
        loss = loss * expand(weight, tuple(input.shape))
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross entropy in one stable op: w ((1 - t) x + l softplus(-x)),
    l = 1 + (pos_weight - 1) t; finite for logits of any magnitude."""
    _legacy("binary_cross_entropy_with_logits", size_average, reduce)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"binary_cross_entropy_with_logits: Target size "
                         f"({tuple(target.shape)}) must be the same as input size "
                         f"({tuple(input.shape)})")
    _same_float_dtype("binary_cross_entropy_with_logits", input, target)
    return apply(_ops.BinaryCrossEntropyWithLogits, input, target, weight, pos_weight,
                 reduction=reduction)


# ---- classification ---------------------------------------------------------------------------

def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log likelihood of class-index targets; ``input`` holds log-probabilities,
    (C,), (N, C) or (N, C, d1, ...), with the target (), (N,) or (N, d1, ...)."""
    _legacy("nll_loss", size_average, reduce)
    _check_reduction(reduction)
    return _ops.nll_loss(input, target, weight, ignore_index, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """log_softmax over the class dim (1, or 0 for an unbatched input) + nll_loss, as one
    fused op (``yingshe.ops.loss.CrossEntropy``).

    ``target`` holds class indices (integer, the input's shape without the class dim)
    or class probabilities (floating point, the input's shape). ``label_smoothing``
    mixes the target with the uniform distribution, as in PyTorch.
    """
    _legacy("cross_entropy", size_average, reduce)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    if input.ndim == 0:
        raise ShapeError("cross_entropy: input must have at least 1 dimension (classes), "
                         "got shape ()")
    if target.dtype.is_floating_point:   # class probabilities: one promoted dtype
        if tuple(target.shape) != tuple(input.shape):
            raise ShapeError(f"cross_entropy: a floating-point (probability) target must "
                             f"have the input's shape {tuple(input.shape)}, got "
                             f"{tuple(target.shape)}")
        input, target = _promoted("cross_entropy", input, target)
    return _ops.cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)


# ---- distributions ----------------------------------------------------------------------------

def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: t (log t - input), with ``input`` holding
    log-probabilities (``target`` too when ``log_target``). 'batchmean' divides the
    sum by the batch size (the mathematical KL divergence); 'mean' by every element."""
    _legacy("kl_div", size_average, reduce)
    _check_reduction(reduction, _REDUCTIONS + ("batchmean",))
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.", UserWarning, stacklevel=2)
    if not (input.dtype.is_floating_point and target.dtype.is_floating_point):
        raise DTypeError(f"kl_div: integral inputs are not supported, got {input.dtype} and "
                         f"{target.dtype}")
    input, target = _promoted("kl_div", input, target)
    loss = apply(_ops.KLDiv, input, target, log_target=bool(log_target))
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim != 0 else total
    return _reduce(loss, reduction)
