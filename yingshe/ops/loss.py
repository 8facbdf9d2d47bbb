"""The softmax family and the loss ops behind ``yingshe.nn.functional``'s losses.

Each loss with a non-trivial gradient is a forward op plus a backward op (as in
PyTorch: ``nll_loss``/``nll_loss_backward``, ...). The forward computes the
unreduced (pointwise) loss in one NumPy pass; its VJP applies the backward op,
whose own VJP is written with yingshe ops, so second derivatives work and the
same rules serve eager mode, graphs and compiled code. ``nll_loss`` reduces inside
the op because its ``'mean'`` divides by the weights of the non-ignored targets;
the pointwise losses are reduced by the functional (``sum``/``mean``).
"""

from __future__ import annotations

import warnings

import numpy as np

from yingshe import _dtype
from yingshe.errors import DTypeError, IndexError, ShapeError
from yingshe.ops._registry import apply, register_op, tensor_method
from yingshe.ops._shapes import Meta, broadcast_shapes, check_float, normalize_dim, shape_str

__all__ = ["softmax", "log_softmax"]


def _pointwise_meta(opname, *args) -> Meta:
    metas = [a for a in args if isinstance(a, Meta)]
    check_float(opname, *metas)
    for m in metas[1:]:
        if m.dtype is not metas[0].dtype:
            raise DTypeError(f"{opname}: expected all tensors to have the same dtype, got "
                             f"{metas[0].dtype} and {m.dtype}")
    return Meta(broadcast_shapes(opname, *(m.shape for m in metas)), metas[0].dtype)


# ---- softmax / log_softmax ------------------------------------------------------------------

@register_op("softmax", saves="output")
class Softmax:
    """exp(x - max) / sum(exp(x - max)) along ``dim`` (finite for any finite logits)."""

    def forward(xp, x, *, dim):
        if x.ndim == 0 or x.size == 0:
            return xp.ones_like(x) if x.size else x.copy()
        z = x - x.max(axis=dim, keepdims=True)
        xp.exp(z, out=z)
        z /= z.sum(axis=dim, keepdims=True)
        return z

    def infer(x, *, dim):
        check_float("softmax", x)
        return x

    def vjp(g, out, x, *, dim):
        from yingshe.ops.reduce import sum as _sum
        return out * (g - _sum(g * out, dim, keepdim=True))


@register_op("log_softmax", saves="output")
class LogSoftmax:
    """x - max - log(sum(exp(x - max))) along ``dim``."""

    def forward(xp, x, *, dim):
        if x.ndim == 0 or x.size == 0:
            return xp.zeros_like(x)
        z = x - x.max(axis=dim, keepdims=True)
        with xp.errstate(divide="ignore"):  # log(0) cannot happen: the max term is 1
            z -= xp.log(xp.exp(z).sum(axis=dim, keepdims=True))
        return z

    def infer(x, *, dim):
        check_float("log_softmax", x)
        return x

    def vjp(g, out, x, *, dim):
        return apply(LogSoftmaxBackward, g, out, dim=dim)


@register_op("log_softmax_backward", saves="inputs")
class LogSoftmaxBackward:
    """``g - exp(out) * g.sum(dim)``: the VJP of log_softmax from its output ``out``."""

    def forward(xp, g, out, *, dim):
        return g - xp.exp(out) * g.sum(axis=dim, keepdims=True)

    def infer(g, out, *, dim):
        return _pointwise_meta("log_softmax_backward", g, out)

    def vjp(gg, _, g, out, *, dim, needs):
        # exp(out) == softmax(out) for a log_softmax output (softmax is shift-invariant and
        # out = x - logsumexp(x)); softmax keeps this rule differentiable to any order.
        from yingshe.ops.reduce import sum as _sum
        p = apply(Softmax, out, dim=dim)
        d_g = gg - _sum(gg * p, dim, keepdim=True) if needs[0] else None
        d_out = -(gg * p) * _sum(g, dim, keepdim=True) if needs[1] else None
        return d_g, d_out


def _softmax_dim(opname: str, input, dim) -> int:
    if dim is None:
        nd = input.ndim
        dim = 0 if nd in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {opname} has been deprecated. Change the "
                      f"call to include dim=X as an argument.", UserWarning, stacklevel=3)
    return normalize_dim(opname, dim, input.ndim)


def _softmax_input(opname, input, dtype):
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{opname}: expected a floating-point input, got {input.dtype} "
                         f"(pass dtype=yingshe.float32 or convert with .float())")
    return input


@tensor_method
def softmax(input, dim=None, dtype=None):
    """Softmax along ``dim`` (``torch.softmax``); ``dtype`` casts the input first."""
    d = _softmax_dim("softmax", input, dim)
    input = _softmax_input("softmax", input, dtype)
    return apply(Softmax, input, dim=d if input.ndim else None)


@tensor_method
def log_softmax(input, dim=None, dtype=None):
    """Log-softmax along ``dim`` (``torch.log_softmax``); ``dtype`` casts the input first."""
    d = _softmax_dim("log_softmax", input, dim)
    input = _softmax_input("log_softmax", input, dtype)
    return apply(LogSoftmax, input, dim=d if input.ndim else None)


# ---- smooth L1 / Huber / L1 -----------------------------------------------------------------

def _smooth_l1_np(xp, d, beta):
    ad = xp.abs(d)
    if beta == 0:
        return ad
    return xp.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta)


@register_op("mse_loss", saves="inputs")
class MSELoss:
    """(input - target)^2, reduced in the same op ('none' | 'mean' | 'sum'): the loss of
    every regression, so one op (not sub, mul and mean) on the tape."""

    def forward(xp, x, t, *, reduction):
        d = x - t
        # d is a fresh array: square it in place (0-d inputs give a NumPy scalar, no out=)
        sq = xp.multiply(d, d, out=d) if d.ndim else d * d
        if reduction == "none":
            return sq
        if reduction == "sum":
            return xp.sum(sq)
        if sq.size == 0:  # the mean of nothing is nan, silently, as in PyTorch
            return xp.asarray(xp.nan, dtype=sq.dtype)
        return xp.mean(sq)

    def infer(x, t, *, reduction):
        m = _pointwise_meta("mse_loss", x, t)
        return m if reduction == "none" else Meta((), m.dtype)

    def vjp(g, out, x, t, *, reduction, needs):
        # d/dx = 2 (x - t) g, divided by the element count for 'mean'
        d = x - t
        scale = 2.0
        if reduction == "mean":
            n = 1
            for s in d.shape:
                n *= s   # an unknown (None) dim: the graph defers until feeds fix it
            scale = 2.0 / n if n else float("nan")
        gx = d * (g * scale)
        return (gx if needs[0] else None), (-gx if needs[1] else None)


@register_op("smooth_l1_loss", saves="inputs")
class SmoothL1Loss:
    """Pointwise smooth L1: 0.5 d^2 / beta where |d| < beta, else |d| - beta / 2
    (d = input - target; beta = 0 gives |d|, the L1 loss)."""

    def forward(xp, x, t, *, beta):
        return _smooth_l1_np(xp, x - t, beta)

    def infer(x, t, *, beta):
        return _pointwise_meta("smooth_l1_loss", x, t)

    def vjp(g, out, x, t, *, beta, needs):
        gx = apply(PointwiseLossBackward, g, x, t, kind="smooth_l1", param=beta, order=1)
        return (gx if needs[0] else None), (-gx if needs[1] else None)


@register_op("huber_loss", saves="inputs")
class HuberLoss:
    """Pointwise Huber loss: 0.5 d^2 where |d| < delta, else delta (|d| - delta / 2)."""

    def forward(xp, x, t, *, delta):
        d = x - t
        ad = xp.abs(d)
        return xp.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))

    def infer(x, t, *, delta):
        return _pointwise_meta("huber_loss", x, t)

    def vjp(g, out, x, t, *, delta, needs):
        gx = apply(PointwiseLossBackward, g, x, t, kind="huber", param=delta, order=1)
        return (gx if needs[0] else None), (-gx if needs[1] else None)


@register_op("pointwise_loss_backward", saves="inputs")
class PointwiseLossBackward:
    """``g * phi^(order)(input - target)`` for the smooth L1 (``param`` = beta) and Huber
    (``param`` = delta) losses; order 1 is the gradient, order 2 the (piecewise
    constant) second derivative, whose own derivative in the inputs is zero."""

    def forward(xp, g, x, t, *, kind, param, order):
        d = x - t
        if order == 1:
            if kind == "huber":
                return g * xp.clip(d, -param, param)
            if param == 0:
                return g * xp.sign(d)
            return g * xp.clip(d / param, -1.0, 1.0)
        if param == 0:
            return g * xp.zeros_like(d)
        inside = (xp.abs(d) < param).astype(d.dtype)
        return g * (inside if kind == "huber" else inside / param)

    def infer(g, x, t, *, kind, param, order):
        return _pointwise_meta("pointwise_loss_backward", g, x, t)

    def vjp(gg, out, g, x, t, *, kind, param, order, needs):
        attrs = dict(kind=kind, param=param)
        d_g = apply(PointwiseLossBackward, gg, x, t, order=order, **attrs) if needs[0] else None
        if order == 2 or not (needs[1] or needs[2]):
            return d_g, None, None
        h = apply(PointwiseLossBackward, gg * g, x, t, order=2, **attrs)
        return d_g, (h if needs[1] else None), (-h if needs[2] else None)


# ---- binary cross entropy on probabilities --------------------------------------------------

@register_op("binary_cross_entropy", saves="inputs")
class BinaryCrossEntropy:
    """Pointwise -(t log x + (1 - t) log(1 - x)), each log clamped at -100 (PyTorch)."""

    def forward(xp, x, t):
        if x.size and not (x.min() >= 0 and x.max() <= 1):
            # RuntimeError as PyTorch's; apply() prefixes the op name and the shapes
            raise RuntimeError("all elements of input should be between 0 and 1")
        with xp.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        return -(t * log_x + (1 - t) * log_1mx)

    def infer(x, t):
        return _pointwise_meta("binary_cross_entropy", x, t)

    def vjp(g, out, x, t, *, needs):
        gx = apply(BinaryCrossEntropyBackward, g, x, t, wrt="input") if needs[0] else None
        gt = apply(BinaryCrossEntropyBackward, g, x, t, wrt="target") if needs[1] else None
        return gx, gt


# PyTorch's clamp for (1 - x) x: 1e-12 as a C float (9.99999996e-13), so a saturated
# input gives exactly PyTorch's large finite gradient
_BCE_EPS = float(np.float32(1e-12))


@register_op("binary_cross_entropy_backward", saves="inputs")
class BinaryCrossEntropyBackward:
    """The gradient of binary_cross_entropy times ``g``: for the input
    ``g (x - t) / max((1 - x) x, 1e-12)`` (large and finite for a saturated sigmoid),
    for the target ``g (log(1 - x) - log(x))`` (PyTorch's rules)."""

    def forward(xp, g, x, t, *, wrt):
        if wrt == "input":
            return g * (x - t) / xp.maximum((1 - x) * x, _BCE_EPS)
        with xp.errstate(divide="ignore", invalid="ignore"):
            return g * (xp.log1p(-x) - xp.log(x))

    def infer(g, x, t, *, wrt):
        return _pointwise_meta("binary_cross_entropy_backward", g, x, t)

    def vjp(gg, out, g, x, t, *, wrt, needs):
        d_g = apply(BinaryCrossEntropyBackward, gg, x, t, wrt=wrt) if needs[0] else None
        q = (1 - x) * x
        if wrt == "input":
            # d/dx (x - t) / ((1 - x) x) = (x^2 - 2 x t + t) / ((1 - x) x)^2
            d_x = gg * g * (x * x - 2 * x * t + t) / (q * q) if needs[1] else None
            d_t = -(gg * g) / q if needs[2] else None
            return d_g, d_x, d_t
        d_x = -(gg * g) / q if needs[1] else None
        return d_g, d_x, None


# ---- binary cross entropy on logits ---------------------------------------------------------

def _softplus_neg(xp, x):
    """log(1 + exp(-x)), stable for any x."""
    return xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _sigmoid_np(xp, x):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


@register_op("binary_cross_entropy_with_logits", saves="inputs")
class BinaryCrossEntropyWithLogits:
    """Pointwise (1 - t) x + (1 + (pw - 1) t) log(1 + exp(-x)), in the stable form
    (``pw``, the optional third input, weighs the positive term)."""

    def forward(xp, x, t, pw=None):
        sp = _softplus_neg(xp, x)
        if pw is None:
            return (1 - t) * x + sp
        return (1 - t) * x + (1 + (pw - 1) * t) * sp

    def infer(x, t, pw=None):
        return _pointwise_meta("binary_cross_entropy_with_logits", x, t, pw)

    def vjp(g, out, x, t, pw=None, *, needs):
        extra = () if pw is None else (pw,)
        grads = tuple(apply(BCEWithLogitsBackward, g, x, t, *extra, wrt=w) if need else None
                      for w, need in zip(("input", "target", "pos_weight"), needs))
        return grads


def _bce_logits_sigmoid(x):
    """sigmoid(x) as this family's input gradient at g = 1, t = 0 (differentiable)."""
    return apply(BCEWithLogitsBackward, 1.0, x, 0.0, wrt="input")


@register_op("binary_cross_entropy_with_logits_backward", saves="inputs")
class BCEWithLogitsBackward:
    """``g`` times the derivative of binary_cross_entropy_with_logits in ``wrt``:
    input: (1 + (pw - 1) t) sigmoid(x) - pw t   (sigmoid(x) - t without pw);
    target: -x + (pw - 1) softplus(-x)        (-x without pw);
    pos_weight: t softplus(-x)."""

    def forward(xp, g, x, t, pw=None, *, wrt):
        if wrt == "input":
            s = _sigmoid_np(xp, x)
            if pw is None:
                return g * (s - t)
            return g * ((1 + (pw - 1) * t) * s - pw * t)
        if wrt == "target":
            if pw is None:
                return g * -x
            return g * ((pw - 1) * _softplus_neg(xp, x) - x)
        return g * t * _softplus_neg(xp, x)

    def infer(g, x, t, pw=None, *, wrt):
        return _pointwise_meta("binary_cross_entropy_with_logits_backward", g, x, t, pw)

    def vjp(gg, out, g, x, t, pw=None, *, wrt, needs):
        extra = () if pw is None else (pw,)
        d_g = apply(BCEWithLogitsBackward, gg, x, t, *extra, wrt=wrt) if needs[0] else None
        a = gg * g
        need_x, need_t = needs[1], needs[2]
        need_pw = len(needs) > 3 and needs[3]
        d_x = d_t = d_pw = None
        if wrt == "input":
            s = _bce_logits_sigmoid(x)
            if need_x:
                lw = 1 if pw is None else 1 + (pw - 1) * t
                d_x = a * lw * s * (1 - s)
            if need_t:
                d_t = -a if pw is None else a * ((pw - 1) * s - pw)
            if need_pw:
                d_pw = a * t * (s - 1)
        elif wrt == "target":
            if need_x:
                d_x = -a if pw is None else a * ((1 - pw) * (1 - _bce_logits_sigmoid(x)) - 1)
            if need_pw:
                d_pw = apply(BCEWithLogitsBackward, a, x, 1.0, wrt="pos_weight")
        else:  # pos_weight: g t softplus(-x)
            if need_x:
                d_x = -a * t * (1 - _bce_logits_sigmoid(x))
            if need_t:
                d_t = apply(BCEWithLogitsBackward, a, x, 1.0, wrt="pos_weight")
        return (d_g, d_x, d_t) + ((d_pw,) if pw is not None else ())


# ---- KL divergence --------------------------------------------------------------------------

@register_op("kl_div", saves="inputs")
class KLDiv:
    """Pointwise KL term: t (log t - x), 0 where t = 0; with ``log_target``
    exp(t) (t - x)."""

    def forward(xp, x, t, *, log_target):
        if log_target:
            return xp.exp(t) * (t - x)
        with xp.errstate(divide="ignore", invalid="ignore"):
            xlogx = xp.where(t == 0, 0.0, t * xp.log(t)).astype(x.dtype, copy=False)
        return xlogx - t * x

    def infer(x, t, *, log_target):
        return _pointwise_meta("kl_div", x, t)

    def vjp(g, out, x, t, *, log_target, needs):
        gx = apply(KLDivBackward, g, x, t, log_target=log_target, wrt="input") \
            if needs[0] else None
        gt = apply(KLDivBackward, g, x, t, log_target=log_target, wrt="target") \
            if needs[1] else None
        return gx, gt


@register_op("kl_div_backward", saves="inputs")
class KLDivBackward:
    """``g`` times the derivative of kl_div: input: -t (-exp(t) with log_target);
    target: log(t) + 1 - x, NaN at t = 0 as in PyTorch (exp(t) (t - x + 1) with
    log_target)."""

    def forward(xp, g, x, t, *, log_target, wrt):
        if wrt == "input":
            return -g * (xp.exp(t) if log_target else t)
        if log_target:
            return g * xp.exp(t) * (t - x + 1)
        # PyTorch's rule (the derivative of xlogy(t, t) - t x): NaN where t = 0
        with xp.errstate(divide="ignore", invalid="ignore"):
            return g * (xp.where(t == 0, 0, xp.log(t)) + t / t - x)

    def infer(g, x, t, *, log_target, wrt):
        return _pointwise_meta("kl_div_backward", g, x, t)

    def vjp(gg, out, g, x, t, *, log_target, wrt, needs):
        attrs = dict(log_target=log_target)
        d_g = apply(KLDivBackward, gg, x, t, wrt=wrt, **attrs) if needs[0] else None
        a = gg * g
        d_x = d_t = None
        if wrt == "input":
            if needs[2]:  # d/dt of -exp(t) is itself; of -t it is -1
                d_t = apply(KLDivBackward, a, x, t, wrt="input", **attrs) if log_target else -a
        else:
            if needs[1]:
                d_x = apply(KLDivBackward, a, x, t, wrt="input", **attrs) if log_target else -a
            if needs[2]:
                if log_target:  # d/dt exp(t)(t - x + 1) = exp(t)(t - x + 1) + exp(t)
                    d_t = (apply(KLDivBackward, a, x, t, wrt="target", **attrs)
                           - apply(KLDivBackward, a, x, t, wrt="input", **attrs))
                else:
                    d_t = a / t
        return d_g, d_x, d_t


# ---- negative log likelihood (with label smoothing, for cross_entropy) ----------------------

def _nll_coefficients(xp, shape, dtype, target, weight, ignore_index, reduction,
                      label_smoothing):
    """The loss is linear in the log-probabilities: loss = reduce(sum_c A[.., c, ..] *
    logp[.., c, ..]). Returns (A, per-sample weight sum) with the class dim at axis 1
    (axis 0 for an unbatched (C,) input)."""
    cdim = 0 if len(shape) == 1 else 1
    c = shape[cdim]
    valid = target != ignore_index
    safe = xp.where(valid, target, 0)
    tw = (weight[safe] if weight is not None else xp.ones(target.shape, dtype)) * valid
    tw = tw.astype(dtype, copy=False)
    onehot = xp.expand_dims(safe, cdim) == xp.arange(c).reshape(
        (c,) + (1,) * (len(shape) - cdim - 1))
    a = -(1 - label_smoothing) * onehot * xp.expand_dims(tw, cdim)
    if label_smoothing:
        wc = weight if weight is not None else xp.ones(c, dtype)
        wc = wc.reshape((c,) + (1,) * (len(shape) - cdim - 1))
        a = a - (label_smoothing / c) * wc * xp.expand_dims(valid, cdim)
    a = a.astype(dtype, copy=False)
    if reduction == "mean":
        total = tw.sum()
        if total != 0:  # all ignored (or zero weights): the loss is NaN, its gradient 0
            a = a / total
    return a


def _check_targets(xp, target, c, ignore_index):
    if target.size:
        bad = (target != ignore_index) & ((target < 0) | (target >= c))
        if bad.any():
            value = int(target[bad].flat[0])
            raise IndexError(f"nll_loss: target {value} is out of bounds for {c} classes "
                             f"(valid targets are 0..{c - 1}, or ignore_index={ignore_index})")


def _check_class_weight(shape, c) -> None:
    """One weight per class (PyTorch refuses any other length rather than indexing past
    it or ignoring the extra classes); ``c`` or the length may be unknown (None)."""
    if len(shape) != 1 or (c is not None and shape[0] not in (None, c)):
        raise ShapeError(f"nll_loss: weight should be a 1-d tensor of {c} elements (one "
                         f"per class), got shape {shape_str(shape)}")


@register_op("nll_loss", saves="inputs")
class NLLLoss:
    """Negative log likelihood of class-index targets: -w[t] logp[t] per sample, with
    ``ignore_index``, optional class weights (third input) and ``label_smoothing``
    (mixes in -sum_c w_c logp_c / C); 'mean' divides by the summed weights of the
    non-ignored targets (NaN when all are ignored), as PyTorch does."""

    def forward(xp, logp, target, weight=None, *, ignore_index, reduction, label_smoothing):
        cdim = 0 if logp.ndim == 1 else 1
        _check_targets(xp, target, logp.shape[cdim], ignore_index)
        if weight is not None:
            _check_class_weight(weight.shape, logp.shape[cdim])
            if weight.dtype != logp.dtype:   # PyTorch refuses; NumPy would promote the loss
                raise DTypeError(f"nll_loss: expected weight to have dtype {logp.dtype}, got "
                                 f"{weight.dtype}")
        if label_smoothing == 0 and reduction != "none":
            # fast path: gather the target log-probabilities
            valid = target != ignore_index
            safe = xp.where(valid, target, 0)
            picked = xp.squeeze(xp.take_along_axis(logp, xp.expand_dims(safe, cdim), cdim),
                                cdim)
            tw = weight[safe] * valid if weight is not None else valid.astype(logp.dtype)
            total = -(picked * tw).sum(dtype=logp.dtype)
            if reduction == "sum":
                return xp.asarray(total, dtype=logp.dtype)
            with xp.errstate(divide="ignore", invalid="ignore"):
                return xp.asarray(total / xp.sum(tw, dtype=logp.dtype), dtype=logp.dtype)
        a = _nll_coefficients(xp, logp.shape, logp.dtype, target, weight, ignore_index,
                              reduction, label_smoothing)
        per = (a * logp).sum(axis=cdim)
        if reduction == "none":
            return per.astype(logp.dtype, copy=False)
        return xp.asarray(per.sum(), dtype=logp.dtype)

    def infer(logp, target, weight=None, *, ignore_index, reduction, label_smoothing):
        return _nll_meta(logp, target, weight, reduction)

    def vjp(g, out, logp, target, weight=None, *, ignore_index, reduction, label_smoothing,
            needs):
        if not needs[0]:
            return (None,) * (2 if weight is None else 3)
        extra = () if weight is None else (weight,)
        gl = apply(NLLLossBackward, g, target, *extra, shape=tuple(logp.shape),
                   ignore_index=ignore_index, reduction=reduction,
                   label_smoothing=label_smoothing)
        return (gl, None) + ((None,) if weight is not None else ())


def _nll_meta(logp, target, weight, reduction) -> Meta:
    check_float("nll_loss", logp)
    if target.dtype.is_floating_point or target.dtype is _dtype.bool:
        raise DTypeError(f"nll_loss: expected an integer (int64) class-index target, got "
                         f"{target.dtype}")
    if logp.ndim == 0:
        raise ShapeError("nll_loss: input must have at least 1 dimension (classes), got ()")
    cdim = 0 if logp.ndim == 1 else 1
    want = tuple(logp.shape[:cdim]) + tuple(logp.shape[cdim + 1:])
    if len(want) != target.ndim or any(a is not None and b is not None and a != b
                                       for a, b in zip(want, target.shape)):
        raise ShapeError(f"nll_loss: expected target of shape {shape_str(want)} for input of "
                         f"shape {shape_str(logp.shape)}, got {shape_str(target.shape)}")
    if weight is not None:
        _check_class_weight(weight.shape, logp.shape[cdim])
        if weight.dtype is not logp.dtype:
            raise DTypeError(f"nll_loss: expected weight to have dtype {logp.dtype}, got "
                             f"{weight.dtype}")
    shape = tuple(target.shape) if reduction == "none" else ()
    return Meta(shape, logp.dtype)


@register_op("nll_loss_backward", saves="inputs")
class NLLLossBackward:
    """The VJP of nll_loss: ``g`` (broadcast along the class dim) times the loss's
    coefficients. nll_loss is linear in its input, so this op's VJP in ``g`` is
    nll_loss itself."""

    def forward(xp, g, target, weight=None, *, shape, ignore_index, reduction,
                label_smoothing):
        a = _nll_coefficients(xp, shape, g.dtype, target, weight, ignore_index, reduction,
                              label_smoothing)
        if reduction == "none":
            g = xp.expand_dims(g, 0 if len(shape) == 1 else 1)
        return a * g

    def infer(g, target, weight=None, *, shape, ignore_index, reduction, label_smoothing):
        return Meta(shape, g.dtype)

    def vjp(gg, out, g, target, weight=None, *, shape, ignore_index, reduction,
            label_smoothing, needs):
        extra = () if weight is None else (weight,)
        d_g = apply(NLLLoss, gg, target, *extra, ignore_index=ignore_index,
                    reduction=reduction, label_smoothing=label_smoothing) if needs[0] else None
        return (d_g, None) + ((None,) if weight is not None else ())


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean",
             label_smoothing=0.0):
    """Apply the nll_loss op (``label_smoothing`` serves cross_entropy)."""
    if not input.dtype.is_floating_point:   # the forward would sum integers silently
        raise DTypeError(f"nll_loss: expected floating-point log-probabilities, got "
                         f"{input.dtype}")
    if target.dtype.is_floating_point:
        raise DTypeError(f"nll_loss: expected an integer (int64) class-index target, got "
                         f"{target.dtype}")
    extra = () if weight is None else (weight,)
    return apply(NLLLoss, input, target, *extra, ignore_index=int(ignore_index),
                 reduction=reduction, label_smoothing=float(label_smoothing))
