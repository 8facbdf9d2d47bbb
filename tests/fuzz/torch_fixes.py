"""Where PyTorch's *value* is an artifact of its kernel and yingshe's is the exact one.

Each rule replaces one ``torch.nn.functional`` function, for a re-run of a draw only, by
the same maths written without the artifact; where yingshe differs from PyTorch but equals
that re-run, the survey counts the draw as "torch wrong: an artifact of its kernel", with
the rule's name, never as agreement. Rules are narrow (one function, the behaviour named)
and each states its evidence (run against torch 2.13). The ldexp gradient is the same idea
with its own outcome (``harness.T_LDEXP``), kept apart because it is a plain bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class TorchFix:
    name: str
    evidence: str
    attr: str                 # the torch.nn.functional function the re-run replaces
    names: tuple              # the step names (program.names_in) that call it
    make: Callable            # (torch, the real function) -> its replacement


def _hardsigmoid(torch, real):
    class HardSigmoid(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return real(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * ((x > -3) & (x < 3)).to(g.dtype) / 6    # 1/6 in g's own dtype

    def hardsigmoid(x, inplace=False):
        if inplace or not x.is_floating_point():
            return real(x, inplace=inplace)
        return HardSigmoid.apply(x)
    return hardsigmoid


def _max_pool(torch, real):
    def max_pool(x, *args, **kwargs):
        out = real(x, *args, **kwargs)
        if isinstance(out, tuple) or not out.is_floating_point():
            return out
        # a window of padding only: -inf, a constant, so no gradient
        return torch.where(torch.isneginf(out), out.detach(), out)
    return max_pool


def _scale_shift(y, weight, bias, shape):
    """``y * weight + bias`` per channel, unfused (the exact order of operations)."""
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _group_norm(torch, real):
    def group_norm(x, num_groups, weight=None, bias=None, eps=1e-05):
        n, c = x.shape[0], x.shape[1]
        xs = x.reshape(n, num_groups, -1)
        mean = xs.mean(-1, keepdim=True)
        var = xs.var(-1, unbiased=False, keepdim=True)
        y = ((xs - mean) * torch.rsqrt(var + eps)).reshape(x.shape)
        return _scale_shift(y, weight, bias, (1, c) + (1,) * (x.dim() - 2))
    return group_norm


def _bce_with_logits(torch, real):
    def binary_cross_entropy_with_logits(x, t, weight=None, size_average=None, reduce=None,
                                         reduction="mean", pos_weight=None):
        if size_average is not None or reduce is not None:
            return real(x, t, weight, size_average, reduce, reduction, pos_weight)
        sp = torch.nn.functional.softplus
        pos = t * sp(-x)
        if pos_weight is not None:
            pos = pos * pos_weight
        loss = pos + (1 - t) * sp(x)      # -[t log sigmoid(x) + (1 - t) log sigmoid(-x)]
        if weight is not None:
            loss = loss * weight
        return loss.sum() if reduction == "sum" else loss.mean() if reduction == "mean" \
            else loss
    return binary_cross_entropy_with_logits


def _batch_norm(torch, real):
    def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
                   momentum=0.1, eps=1e-05):
        if training:
            return real(x, running_mean, running_var, weight, bias, training, momentum, eps)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = (x - running_mean.reshape(shape)) * torch.rsqrt(running_var.reshape(shape) + eps)
        return _scale_shift(y, weight, bias, shape)
    return batch_norm


FIXES = (
    TorchFix("hardsigmoid's float64 gradient is float32's 1/6",
             "x = tensor([0.5], dtype=float64, requires_grad=True); hardsigmoid(x).backward() "
             "gives 0.1666666716337204 (1/6 rounded to float32), not 1/6: a relative error of "
             "3e-8 in float64; yingshe's is g / 6",
             "hardsigmoid", ("F.hardsigmoid",), _hardsigmoid),
    TorchFix("max pooling: a window of padding only sends its gradient to an input",
             "max_pool2d(x.reshape(1, 1, 3, 1), 2, stride=2, padding=1, dilation=2, "
             "ceil_mode=True) is [-inf, -inf] (both windows cover only padding along W), yet "
             "the gradient of its sum is [0, 0, 2]: the kernel's initial argmax (the first "
             "row and column past the padding) is an element neither window covers; -inf "
             "there is a constant, yingshe's gradient is 0",
             "max_pool1d", ("F.max_pool1d",), _max_pool),
    TorchFix("max pooling (2-D): a window of padding only sends its gradient to an input",
             "as for max_pool1d", "max_pool2d", ("F.max_pool2d",), _max_pool),
    TorchFix("max pooling (3-D): a window of padding only sends its gradient to an input",
             "as for max_pool1d", "max_pool3d", ("F.max_pool3d",), _max_pool),
    TorchFix("group_norm with an infinite weight is NaN where the exact value is +-inf",
             "group_norm(x, 1, tensor([inf, 1., -inf], dtype=float64)) of a normal x is NaN "
             "in channels 0 and 2: the CPU kernel computes x * (rstd * w) + (-mean * rstd * "
             "w), inf - inf; (x - mean) * rstd * w is +-inf, as yingshe gives",
             "group_norm", ("F.group_norm",), _group_norm),
    TorchFix("batch_norm in evaluation with an infinite statistic or weight is NaN where "
             "the exact value is +-inf",
             "batch_norm(x, running_mean, running_var, weight=tensor([inf]), "
             "training=False) is NaN where x differs from the mean: the CPU kernel "
             "computes x * (w rstd) + (b - mean w rstd), inf - inf; (x - mean) * rstd * w "
             "is +-inf, as yingshe gives",
             "batch_norm", ("F.batch_norm",), _batch_norm),
    TorchFix("binary_cross_entropy_with_logits of a -inf logit is NaN where the loss is inf",
             "binary_cross_entropy_with_logits(tensor([-inf]), tensor([0.5])) is NaN: the "
             "stable formula (1 - t) x + max(-x, 0) + log(exp(-max) + exp(-x - max)) meets "
             "inf - inf; the loss t softplus(-x) + (1 - t) softplus(x) is inf (the target "
             "gives weight to log sigmoid(-inf) = -inf), as yingshe gives",
             "binary_cross_entropy_with_logits", ("F.binary_cross_entropy_with_logits",),
             _bce_with_logits),
)


def fixes_for(programs_names) -> tuple:
    """The rules whose function one of the steps calls."""
    names = set(programs_names)
    return tuple(f for f in FIXES if names & set(f.names))
