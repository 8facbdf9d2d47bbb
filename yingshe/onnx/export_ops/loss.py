"""ONNX mappings of the loss ops (their forward; an exported model has no backward)."""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe.onnx._common import to_onnx_dtype
from yingshe.onnx._export import Call, exports


def _diff(c: Call):
    dt = c.out_dtype()
    return c.b.op("Sub", [c.val(0, dt), c.val(1, dt)]), dt


@exports("mse_loss")
def mse_loss(c: Call):
    """Sub, Mul, ReduceMean / ReduceSum"""
    b = c.b
    d, _ = _diff(c)
    sq = b.op("Mul", [d, d])
    red = c.attrs["reduction"]
    if red == "none":
        return sq
    return b.reduce("ReduceMean" if red == "mean" else "ReduceSum", sq, None, False)


def _smooth_l1(c: Call, beta: float):
    b = c.b
    d, dt = _diff(c)
    ad = b.op("Abs", [d])
    if beta == 0:
        return ad, dt
    quad = b.op("Div", [b.op("Mul", [b.op("Mul", [d, d]), b.scalar(0.5, dt)]), b.scalar(beta, dt)])
    lin = b.op("Sub", [ad, b.scalar(beta / 2, dt)])
    return b.op("Where", [b.op("Less", [ad, b.scalar(beta, dt)]), quad, lin]), dt


@exports("smooth_l1_loss")
def smooth_l1_loss(c: Call):
    """Where(|d| < beta, 0.5 d^2 / beta, |d| - beta / 2)"""
    return _smooth_l1(c, c.attrs["beta"])[0]


@exports("huber_loss")
def huber_loss(c: Call):
    """delta * smooth L1 with beta = delta: Where(|d| < delta, 0.5 d^2, delta (|d| - delta / 2))"""
    delta = c.attrs["delta"]
    out, dt = _smooth_l1(c, delta)
    return c.b.op("Mul", [out, c.b.scalar(delta, dt)])


@exports("binary_cross_entropy")
def binary_cross_entropy(c: Call):
    """-(t Max(Log x, -100) + (1 - t) Max(Log(1 - x), -100))"""
    b, dt = c.b, c.out_dtype()
    x, t = c.val(0, dt), c.val(1, dt)
    one, floor = b.scalar(1, dt), b.scalar(-100, dt)
    log_x = b.op("Max", [b.op("Log", [x]), floor])
    log_1mx = b.op("Max", [b.op("Log", [b.op("Sub", [one, x])]), floor])
    s = b.op("Add", [b.op("Mul", [t, log_x]), b.op("Mul", [b.op("Sub", [one, t]), log_1mx])])
    return b.op("Neg", [s])


@exports("binary_cross_entropy_with_logits")
def bce_with_logits(c: Call):
    """w ((1 - t) x + (1 + (pw - 1) t) (Relu(-x) + Log(1 + Exp(-|x|)))), reduced"""
    b, dt = c.b, c.out_dtype()
    x, t = c.val(0, dt), c.val(1, dt)
    one = b.scalar(1, dt)
    sp = b.op("Add", [b.op("Relu", [b.op("Neg", [x])]), b.op("Log", [b.op("Add", [
        one, b.op("Exp", [b.op("Neg", [b.op("Abs", [x])])])])])])
    if len(c.inputs) > 3 and c.inputs[3] is not None:
        pw = c.val(3, dt)
        sp = b.op("Mul", [b.op("Add", [one, b.op("Mul", [b.op("Sub", [pw, one]), t])]), sp])
    loss = b.op("Add", [b.op("Mul", [b.op("Sub", [one, t]), x]), sp])
    if len(c.inputs) > 2 and c.inputs[2] is not None:
        loss = b.op("Mul", [loss, c.val(2, dt)])
    return reduce_loss(c, loss, dt)


def reduce_loss(c: Call, loss: str, dt) -> str:
    """A pointwise loss reduced as the node's ``reduction`` says ('mean' of nothing is
    NaN, as the eager op's)."""
    red = c.attrs.get("reduction", "none")
    if red == "none":
        return loss
    total = c.b.reduce("ReduceSum", loss, None, False)
    if red == "sum":
        return total
    return c.b.op("Div", [total, c.b.cast(c.b.op("Size", [loss]), _dtype.int64, dt)])


@exports("kl_div")
def kl_div(c: Call):
    """t (Log t - x) with 0 where t = 0; Exp(t) (t - x) for log targets"""
    b, dt = c.b, c.out_dtype()
    x, t = c.val(0, dt), c.val(1, dt)
    if c.attrs["log_target"]:
        return b.op("Mul", [b.op("Exp", [t]), b.op("Sub", [t, x])])
    zero = b.scalar(0, dt)
    is0 = b.op("Equal", [t, zero])
    safe = b.op("Where", [is0, b.scalar(1, dt), t])
    xlogx = b.op("Where", [is0, zero, b.op("Mul", [t, b.op("Log", [safe])])])
    return b.op("Sub", [xlogx, b.op("Mul", [t, x])])


@exports("nll_loss")
def nll_loss(c: Call):
    """NegativeLogLikelihoodLoss; with label_smoothing also ReduceSum of the weighted
    log-probabilities and the mean's weight total"""
    return _nll(c, c.x(0))


def _nll(c: Call, logp: str) -> str:
    """The negative log likelihood of ``logp`` (input 0's layout) at the class-index
    target (input 1), with the class weights (input 2) and the node's attributes."""
    b, dt = c.b, c.out_dtype()
    target = b.cast(c.x(1), c.dtype(1), _dtype.int64)
    nd = c.ndim(0)
    if nd == 1:        # one sample: (C,) and a 0-d target
        logp = b.op("Unsqueeze", [logp, b.ints([0])])
        target = b.op("Unsqueeze", [target, b.ints([0])])
    has_w = len(c.inputs) > 2 and c.inputs[2] is not None
    ins = [logp, target] + ([c.x(2)] if has_w else [])
    ignore, red = int(c.attrs["ignore_index"]), c.attrs["reduction"]
    eps = c.attrs["label_smoothing"]
    if not eps:
        out = b.op("NegativeLogLikelihoodLoss", ins, reduction=red, ignore_index=ignore)
        return b.op("Squeeze", [out, b.ints([0])]) if red == "none" and nd == 1 else out
    # (1 - eps) NLL + eps / C * (-sum_c w_c logp_c) on the counted targets; 'mean' divides
    # by the summed weights of the targets (as the eager op)
    C = c.dims(0)[0 if nd == 1 else 1]
    if not isinstance(C, int):
        raise c.error("label_smoothing needs a fixed number of classes")
    nll = b.op("NegativeLogLikelihoodLoss", ins, reduction="none", ignore_index=ignore)
    valid = b.op("Not", [b.op("Equal", [target, b.const(np.asarray(ignore, np.int64))])])
    valid_f = b.op("Cast", [valid], to=to_onnx_dtype(dt))
    weighted = logp
    if has_w:
        shape = [C] + [1] * (max(nd, 2) - 2)
        weighted = b.op("Mul", [logp, b.op("Reshape", [c.x(2), b.ints(shape)])])
    smooth = b.op("Neg", [b.reduce("ReduceSum", weighted, (1,), False)])
    per = b.op("Add", [b.op("Mul", [nll, b.scalar(1 - eps, dt)]), b.op("Mul", [
        b.op("Mul", [smooth, valid_f]), b.scalar(eps / C, dt)])])
    if red == "none":
        return b.op("Squeeze", [per, b.ints([0])]) if nd == 1 else per
    total = b.reduce("ReduceSum", per, None, False)
    if red == "sum":
        return total
    tw = valid_f
    if has_w:
        safe = b.op("Where", [valid, target, b.const(np.asarray(0, np.int64))])
        tw = b.op("Mul", [b.op("Gather", [c.x(2), safe], axis=0), valid_f])
    return b.op("Div", [total, b.reduce("ReduceSum", tw, None, False)])


@exports("cross_entropy")
def cross_entropy(c: Call):
    """LogSoftmax over the class dim, then as nll_loss (class indices), or -ReduceSum of
    the log-probabilities times the (smoothed, weighted) target probabilities"""
    b, dt = c.b, c.out_dtype()
    nd = c.ndim(0)
    axis = 0 if nd == 1 else 1
    logp = b.op("LogSoftmax", [c.x(0)], axis=axis)
    if not c.dtype(1).is_floating_point:
        return _nll(c, logp), None
    C = c.dims(0)[axis]
    eps = c.attrs["label_smoothing"]
    coef = c.val(1, dt)
    if eps:
        if not isinstance(C, int):
            raise c.error("label_smoothing needs a fixed number of classes")
        coef = b.op("Add", [b.op("Mul", [coef, b.scalar(1 - eps, dt)]), b.scalar(eps / C, dt)])
    if len(c.inputs) > 2 and c.inputs[2] is not None:
        shape = b.shape_tensor([C] + [1] * (nd - axis - 1))
        coef = b.op("Mul", [coef, b.op("Reshape", [c.x(2), shape])])
    per = b.op("Neg", [b.reduce("ReduceSum", b.op("Mul", [logp, coef]), (axis,), False)])
    return reduce_loss(c, per, dt), None
