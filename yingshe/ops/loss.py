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
        if x.ndim == 0:     # exp(x - x): 1, or NaN at a non-finite x, as in PyTorch
            with xp.errstate(invalid="ignore"):
                return xp.exp(x - x)
        if x.size == 0:
            return x.copy()
        # inf - inf at infinite logits is NaN, a huge spread -inf, as in PyTorch
        with xp.errstate(invalid="ignore", over="ignore"):
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
        if x.ndim == 0:     # x - x: 0, or NaN at a non-finite x, as in PyTorch
            with xp.errstate(invalid="ignore"):
                return x - x
        if x.size == 0:
            return xp.zeros_like(x)
        # log(0) cannot happen (the max term is 1); inf - inf at infinite logits is NaN
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = x - x.max(axis=dim, keepdims=True)
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
    with xp.errstate(over="ignore", invalid="ignore"):   # d * d of the unused branch overflows
        return xp.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta)


@register_op("mse_loss", saves="inputs")
class MSELoss:
    """(input - target)^2, reduced in the same op ('none' | 'mean' | 'sum'): the loss of
    every regression, so one op (not sub, mul and mean) on the tape."""

    def forward(xp, x, t, *, reduction):
        with xp.errstate(invalid="ignore", over="ignore"):   # non-finite inputs, as PyTorch
            d = x - t
            # d is a fresh array: square it in place (0-d inputs give a NumPy scalar)
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
        with xp.errstate(over="ignore", invalid="ignore"):   # inf - inf is NaN, silently
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
        with xp.errstate(over="ignore", invalid="ignore"):   # (d * d of the unused branch)
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


def _bce_logits_loss(xp, x, t, weight, pw, reduction):
    sp = xp.abs(x, out=xp.empty(x.shape, x.dtype))   # log(1 + exp(-|x|)), in place
                                                     # (an array even for a 0-d x)
    xp.negative(sp, out=sp)
    xp.exp(sp, out=sp)
    xp.log1p(sp, out=sp)
    if pw is None:                       # max(x, 0) - x t + log1p(exp(-|x|))
        loss = xp.maximum(x, 0)
        loss -= x * t
        loss += sp
    else:                                # (1 - t) x + (1 + (pw - 1) t) softplus(-x)
        sp += xp.maximum(-x, 0)
        lw = (pw - 1) * t
        lw += 1
        loss = (1 - t) * x
        loss += lw * sp
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum" or loss.size:
        total = loss.sum()
        return xp.asarray(total / loss.size if reduction == "mean" else total, dtype=loss.dtype)
    return xp.asarray(xp.nan, dtype=loss.dtype)   # the mean of nothing, as PyTorch


@register_op("binary_cross_entropy_with_logits", saves="inputs")
class BinaryCrossEntropyWithLogits:
    """w ((1 - t) x + (1 + (pw - 1) t) log(1 + exp(-x))) in the stable form, reduced
    ('none' | 'mean' | 'sum') in the same op: ``weight`` (third input) multiplies the
    pointwise loss, ``pos_weight`` (fourth) weighs the positive term; either may be
    None. One op on the tape for the whole loss, as PyTorch's."""

    def forward(xp, x, t, weight=None, pw=None, *, reduction):
        with xp.errstate(invalid="ignore", over="ignore"):   # non-finite inputs, as PyTorch
            return _bce_logits_loss(xp, x, t, weight, pw, reduction)

    def infer(x, t, weight=None, pw=None, *, reduction):
        m = _pointwise_meta("binary_cross_entropy_with_logits", x, t, weight, pw)
        return m if reduction == "none" else Meta((), m.dtype)

    def vjp(g, out, x, t, weight=None, pw=None, *, reduction, needs):
        extra = () if pw is None else (pw,)
        if reduction == "mean":
            n = 1
            for s in x.shape:
                n *= s
            g = g * (1.0 / n) if n else g * float("nan")
        gw = g if weight is None else g * weight
        grads = [apply(BCEWithLogitsBackward, gw, x, t, *extra, wrt=w) if need else None
                 for w, need in zip(("input", "target", "pos_weight"), needs[:2] + needs[3:])]
        d_w = None
        if weight is not None and needs[2]:   # PyTorch refuses it; the product rule is exact
            d_w = g * apply(BinaryCrossEntropyWithLogits, x, t, None, pw, reduction="none")
        return grads[0], grads[1], d_w, (grads[2] if pw is not None else None)


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
        with xp.errstate(invalid="ignore", over="ignore"):   # at non-finite values: NaN/inf
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


# ---- class-index targets: validation and gathers without a one-hot --------------------------

def _class_layout(shape) -> tuple[int, int, int]:
    """(N, C, D) of an input laid out (C,), (N, C) or (N, C, d1, ...): the class dim is 1
    (0 unbatched) and D is the product of the trailing dims, so every case is a view
    (N, C, D) and every per-sample array a view (N, D)."""
    if len(shape) == 1:
        return 1, shape[0], 1
    d = 1
    for s in shape[2:]:
        d *= s
    return shape[0], shape[1], d


def _index_targets(xp, opname, target, n, c, d, ignore_index, check=True):
    """The class-index target as (N, D) views: ``(safe, valid)`` where ``valid`` marks the
    samples not equal to ``ignore_index`` (None when all count) and ``safe`` replaces the
    ignored ones by class 0 (so gathers stay in bounds). With ``check``, an out-of-range
    target raises PyTorch's IndexError; the common case costs two reductions."""
    t = target.reshape(n, d)
    if t.size == 0:
        return t, None
    if not check and ignore_index < 0:
        # the forward checked the targets: with a negative ignore_index, none is ignored
        # exactly when the smallest is a class (one reduction instead of two)
        if t.min() >= 0:
            return t, None
        valid = t != ignore_index
        return xp.where(valid, t, 0), valid
    lo, hi = t.min(), t.max()
    if 0 <= lo and hi < c and not lo <= ignore_index <= hi:
        return t, None            # every target is a class and none is ignored
    valid = t != ignore_index
    if check:
        bad = valid & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"{opname}: Target {int(t[bad][0])} is out of bounds for {c} "
                             f"classes (valid targets are 0..{c - 1}, or "
                             f"ignore_index={ignore_index})")
    return xp.where(valid, t, 0), valid


def _positions(xp, safe, c, d):
    """Flat positions of each sample's target class in the (N, C, D) layout, (N, D)."""
    n = safe.shape[0]
    if d == 1:
        return safe + (xp.arange(n) * c)[:, None]
    return safe * d + ((xp.arange(n) * (c * d))[:, None] + xp.arange(d))


def _target_weights(xp, safe, valid, weight, dtype):
    """w[t] for the counted samples, 0 for the ignored, (N, D); None when all are 1."""
    if weight is None:
        return None if valid is None else valid.astype(dtype)
    tw = weight[safe]
    if valid is not None:
        tw *= valid
    return tw


def _denominator(reduction, tw, count) -> float:
    """What 'mean' divides by: the summed target weights (the sample count without
    weights); 1 for 'sum'/'none'. Zero (all ignored) gives a NaN loss in the forward."""
    if reduction != "mean":
        return 1.0
    return float(tw.sum()) if tw is not None else float(count)


def _finish_loss(xp, per, reduction, den, out_shape, dtype):
    """Reduce the per-sample losses (N, D) as ``reduction`` says, in the input's dtype."""
    if reduction == "none":
        return per.reshape(out_shape).astype(dtype, copy=False)
    total = per.sum(dtype=dtype)
    if reduction == "mean":
        total = total / den if den else xp.nan   # the mean of nothing is NaN, as PyTorch
    return xp.asarray(total, dtype=dtype)


def _check_weight(opname, weight, c, dtype) -> None:
    """The class weights a forward is given: one per class, of the input's dtype (PyTorch
    refuses any other length rather than indexing past it or ignoring the extra classes,
    and another dtype rather than promoting the loss)."""
    if weight.ndim != 1 or weight.shape[0] != c:
        raise ShapeError(f"{opname}: weight should be a 1-d tensor of {c} elements (one "
                         f"per class), got shape {shape_str(weight.shape)}")
    if weight.dtype != dtype:
        raise DTypeError(f"{opname}: expected weight to have dtype {np.dtype(dtype).name}, "
                         f"got {weight.dtype.name}")


# ---- negative log likelihood ----------------------------------------------------------------

@register_op("nll_loss", saves="inputs")
class NLLLoss:
    """Negative log likelihood of class-index targets: -w[t] logp[t] per sample, with
    ``ignore_index``, optional class weights (third input) and ``label_smoothing``
    (mixes in -sum_c w_c logp_c / C); 'mean' divides by the summed weights of the
    non-ignored targets (NaN when all are ignored), as PyTorch does."""

    def forward(xp, logp, target, weight=None, *, ignore_index, reduction, label_smoothing):
        n, c, d = _class_layout(logp.shape)
        if weight is not None:
            _check_weight("nll_loss", weight, c, logp.dtype)
        safe, valid = _index_targets(xp, "nll_loss", target, n, c, d, ignore_index)
        lp = logp.reshape(n, c, d)
        tw = _target_weights(xp, safe, valid, weight, logp.dtype)
        per = lp.reshape(-1)[_positions(xp, safe, c, d)]
        if tw is not None:
            per *= tw
        per *= -(1 - label_smoothing)
        if label_smoothing:
            smooth = (lp * weight[:, None]).sum(1) if weight is not None else lp.sum(1)
            if valid is not None:
                smooth *= valid
            per -= (label_smoothing / c) * smooth
        return _finish_loss(xp, per, reduction, _denominator(reduction, tw, n * d),
                            target.shape, logp.dtype)

    def infer(logp, target, weight=None, *, ignore_index, reduction, label_smoothing):
        return _nll_meta("nll_loss", logp, target, weight, reduction)

    def vjp(g, out, logp, target, weight=None, *, ignore_index, reduction, label_smoothing,
            needs):
        if not needs[0]:
            return (None,) * (2 if weight is None else 3)
        extra = () if weight is None else (weight,)
        gl = apply(NLLLossBackward, g, target, *extra, shape=tuple(logp.shape),
                   ignore_index=ignore_index, reduction=reduction,
                   label_smoothing=label_smoothing)
        return (gl, None) + ((None,) if weight is not None else ())


def _nll_meta(opname, logp, target, weight, reduction) -> Meta:
    check_float(opname, logp)
    if target.dtype.is_floating_point or target.dtype is _dtype.bool:
        raise DTypeError(f"{opname}: expected an integer (int64) class-index target, got "
                         f"{target.dtype}")
    if logp.ndim == 0:
        raise ShapeError(f"{opname}: input must have at least 1 dimension (classes), got ()")
    cdim = 0 if logp.ndim == 1 else 1
    want = tuple(logp.shape[:cdim]) + tuple(logp.shape[cdim + 1:])
    if len(want) != target.ndim or any(a is not None and b is not None and a != b
                                       for a, b in zip(want, target.shape)):
        raise ShapeError(f"{opname}: expected target of shape {shape_str(want)} for input of "
                         f"shape {shape_str(logp.shape)}, got {shape_str(target.shape)}")
    _class_weight_meta(opname, logp, weight)
    shape = tuple(target.shape) if reduction == "none" else ()
    return Meta(shape, logp.dtype)


def _class_weight_meta(opname, logp, weight) -> None:
    if weight is None:
        return
    c = logp.shape[0 if logp.ndim == 1 else 1]
    if weight.ndim != 1 or (c is not None and weight.shape[0] not in (None, c)):
        raise ShapeError(f"{opname}: weight should be a 1-d tensor of {c} elements (one "
                         f"per class), got shape {shape_str(weight.shape)}")
    if weight.dtype is not logp.dtype:
        raise DTypeError(f"{opname}: expected weight to have dtype {logp.dtype}, got "
                         f"{weight.dtype}")


def _index_coefficients(xp, shape, dtype, g, target, weight, ignore_index, reduction,
                        label_smoothing, check=True):
    """d loss / d logp times ``g`` for class-index targets, built by a scatter at the
    target positions (no one-hot): -(1 - ls) w[t] g / den at each sample's target class,
    minus ls/C w_c g / den at every class of a counted sample."""
    n, c, d = _class_layout(shape)
    safe, valid = _index_targets(xp, "nll_loss", target, n, c, d, ignore_index, check)
    tw = _target_weights(xp, safe, valid, weight, dtype)
    den = _denominator(reduction, tw, n * d) or 1.0   # all ignored: the gradient is 0
    gs = g.reshape(n, 1, d) if reduction == "none" else g
    scale = gs * (-1.0 / den)                         # (N, 1, D) or 0-d
    if label_smoothing:
        wc = (weight if weight is not None else xp.ones(c, dtype)).reshape(1, c, 1)
        out = xp.empty((n, c, d), dtype)   # C order: scattered into through a flat view
        xp.multiply(scale * (label_smoothing / c), wc, out=out)
        if valid is not None:
            out *= valid[:, None, :]
    else:
        out = xp.zeros((n, c, d), dtype)
    hit = (scale.reshape(n, d) if scale.ndim else scale) * (1 - label_smoothing)
    if tw is not None:
        hit = hit * tw
    out.reshape(-1)[_positions(xp, safe, c, d)] += hit
    return out.reshape(shape)


@register_op("nll_loss_backward", saves="inputs")
class NLLLossBackward:
    """The VJP of nll_loss: ``g`` (broadcast along the class dim) times the loss's
    coefficients. nll_loss is linear in its input, so this op's VJP in ``g`` is
    nll_loss itself."""

    def forward(xp, g, target, weight=None, *, shape, ignore_index, reduction,
                label_smoothing):
        return _index_coefficients(xp, shape, g.dtype, g, target, weight, ignore_index,
                                   reduction, label_smoothing, check=False)

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
    """Apply the nll_loss op (``label_smoothing`` serves cross_entropy's derivatives)."""
    if not input.dtype.is_floating_point:   # the forward would sum integers silently
        raise DTypeError(f"nll_loss: expected floating-point log-probabilities, got "
                         f"{input.dtype}")
    if target.dtype.is_floating_point:
        raise DTypeError(f"nll_loss: expected an integer (int64) class-index target, got "
                         f"{target.dtype}")
    extra = () if weight is None else (weight,)
    return apply(NLLLoss, input, target, *extra, ignore_index=int(ignore_index),
                 reduction=reduction, label_smoothing=float(label_smoothing))


# ---- cross entropy: log_softmax + nll_loss as one op pair -----------------------------------

def _is_zero_grad(g) -> bool:
    """Whether ``g`` is the engine's stand-in gradient of an output nobody differentiated
    (a read-only broadcast zero eagerly; in a graph a ``zeros_like`` node, or the constant
    of zeros it is when the shape is known)."""
    d = g._data
    if d is not None:
        return not d.flags.writeable and not any(d.strides) and (d.size == 0 or d.flat[0] == 0)
    node = getattr(g, "_gnode", None)
    if node is None:
        return False
    if node.kind == "constant":
        return node.value is not None and not node.value.any()
    return getattr(node.op, "name", None) == "zeros_like"


def _soft_coefficients(xp, target, weight, label_smoothing, c):
    """-(d loss / d logp) per sample, before ``g`` and the mean: the smoothed target
    probabilities times the class weights, (N, C, D)."""
    wt = target
    if label_smoothing:
        wt = target * (1 - label_smoothing) + label_smoothing / c
    if weight is not None:
        wt = wt * weight[:, None]
    return wt


@register_op("cross_entropy", saves="both", num_outputs=2, hidden=1, reads_visible=False)
class CrossEntropy:
    """log_softmax over the class dim (1, or 0 for an unbatched (C,) input) and the
    negative log likelihood in one op: class-index targets (integers, with
    ``ignore_index``) or class probabilities (floats, the input's shape), optional class
    weights (third input), ``label_smoothing`` and ``reduction`` as PyTorch defines them.
    The hidden output is the log-softmax, which the backward reads: its gradient is
    ``g (p sum_c A - A)`` with p = softmax and A the loss's coefficients in logp, one
    pass over the input without a one-hot."""

    def forward(xp, x, target, weight=None, *, ignore_index, reduction, label_smoothing):
        n, c, d = _class_layout(x.shape)
        if weight is not None:
            _check_weight("cross_entropy", weight, c, x.dtype)
        x3 = x.reshape(n, c, d)
        logp = xp.empty((n, c, d), x.dtype)     # C order: gathered through a flat view
        # (infinite logits give NaN, as in PyTorch, silently)
        with xp.errstate(invalid="ignore", over="ignore"):
            if c:
                xp.subtract(x3, x3.max(axis=1, keepdims=True), out=logp)
                lse = xp.exp(logp).sum(axis=1, keepdims=True)   # >= 1: the max term is 1
                xp.log(lse, out=lse)
                logp -= lse
        if c == 0 and target.dtype.kind != "f":
            # no classes: every counted target is out of range; what is left is a sum over
            # no classes, and label smoothing's mean over them is NaN (PyTorch's 0/0)
            _index_targets(xp, "cross_entropy", target, n, c, d, ignore_index)
            per = xp.full((n, d), xp.nan if label_smoothing else 0.0, x.dtype)
            shape = () if x.ndim == 1 else target.shape
            return (_finish_loss(xp, per, reduction, _denominator(reduction, None, 0), shape,
                                 x.dtype), logp.reshape(x.shape))
        if target.dtype.kind == "f":
            per = (logp * _soft_coefficients(xp, target.reshape(n, c, d), weight,
                                             label_smoothing, c)).sum(1)
            xp.negative(per, out=per)
            den = float(n * d)
        else:
            safe, valid = _index_targets(xp, "cross_entropy", target, n, c, d, ignore_index)
            tw = _target_weights(xp, safe, valid, weight, x.dtype)
            per = logp.reshape(-1)[_positions(xp, safe, c, d)]
            if tw is not None:
                per *= tw
            per *= -(1 - label_smoothing)
            if label_smoothing:
                smooth = (logp * weight[:, None]).sum(1) if weight is not None else logp.sum(1)
                if valid is not None:
                    smooth *= valid
                per -= (label_smoothing / c) * smooth
            den = _denominator(reduction, tw, n * d)
        shape = target.shape if target.dtype.kind != "f" else target.shape[:1] + target.shape[2:]
        if x.ndim == 1:
            shape = ()
        loss = _finish_loss(xp, per, reduction, den, shape, x.dtype)
        return loss, logp.reshape(x.shape)

    def infer(x, target, weight=None, *, ignore_index, reduction, label_smoothing):
        if target.dtype.is_floating_point:
            check_float("cross_entropy", x)
            if x.ndim == 0:
                raise ShapeError("cross_entropy: input must have at least 1 dimension "
                                 "(classes), got ()")
            if len(x.shape) != len(target.shape) or any(
                    a is not None and b is not None and a != b
                    for a, b in zip(x.shape, target.shape)):
                raise ShapeError(f"cross_entropy: a floating-point (probability) target must "
                                 f"have the input's shape {shape_str(x.shape)}, got "
                                 f"{shape_str(target.shape)}")
            if target.dtype is not x.dtype:
                raise DTypeError(f"cross_entropy: expected input and target to have the same "
                                 f"dtype, got {x.dtype} and {target.dtype}")
            _class_weight_meta("cross_entropy", x, weight)
            per = tuple(x.shape[:1]) + tuple(x.shape[2:]) if x.ndim > 1 else ()
            loss = Meta(per if reduction == "none" else (), x.dtype)
        else:
            loss = _nll_meta("cross_entropy", x, target, weight, reduction)
        return loss, Meta(tuple(x.shape), x.dtype)

    def vjp(g, out, x, target, weight=None, *, ignore_index, reduction, label_smoothing,
            needs):
        g_loss, g_logp = g
        logp = out[1]
        attrs = dict(ignore_index=ignore_index, reduction=reduction,
                     label_smoothing=label_smoothing)
        extra = () if weight is None else (weight,)
        dx = dt = None
        if needs[0]:
            dx = apply(CrossEntropyBackward, g_loss, logp, target, *extra, **attrs)
            if not _is_zero_grad(g_logp):   # second order: the log-softmax was differentiated
                dx = dx + apply(LogSoftmaxBackward, g_logp, logp,
                                dim=0 if logp.ndim == 1 else 1)
        if needs[1]:   # probability targets: d loss / d target = -(1 - ls) w_c logp g / den
            dt = _soft_target_grad(g_loss, logp, weight, reduction, label_smoothing)
        dw = None
        if weight is not None and needs[2] and target.dtype.is_floating_point:
            # probability targets (PyTorch differentiates these in the weight; index targets
            # it refuses to): d loss / d w_c = -sum over samples of t'_c logp_c g / den
            dw = _soft_weight_grad(g_loss, logp, target, reduction, label_smoothing)
        return (dx, dt) + ((dw,) if weight is not None else ())


def _per_sample(g, reduction, ndim):
    """``g`` broadcastable against the (N, C, ...) input: a per-sample gradient gets its
    class dim back."""
    return g.unsqueeze(1) if reduction == "none" and ndim > 1 else g


def _soft_scale(logp, reduction, label_smoothing, c_factor=True) -> float:
    """The constant of d A / d target for probability targets: -(1 - ls) / den."""
    den = 1
    if reduction == "mean":
        for i, s in enumerate(logp.shape):
            if i != (0 if logp.ndim == 1 else 1):
                den *= s
    return -(1 - label_smoothing) / den if den else float("nan")


def _soft_weight_grad(g, logp, target, reduction, label_smoothing):
    from yingshe.ops.reduce import sum as _sum
    cdim = 0 if logp.ndim == 1 else 1
    smoothed = target * (1 - label_smoothing) + label_smoothing / logp.shape[cdim]
    t = logp * smoothed * _per_sample(g, reduction, logp.ndim) * _soft_scale(logp, reduction,
                                                                             0.0)
    dims = tuple(i for i in range(logp.ndim) if i != cdim)
    return _sum(t, dims) if dims else t


def _soft_target_grad(g, logp, weight, reduction, label_smoothing):
    from yingshe.ops.shape import reshape
    t = logp * _per_sample(g, reduction, logp.ndim) * _soft_scale(logp, reduction,
                                                                  label_smoothing)
    if weight is not None:
        t = t * reshape(weight, (-1,) + (1,) * (logp.ndim - 2 if logp.ndim > 1 else 0))
    return t


@register_op("cross_entropy_backward", saves="inputs")
class CrossEntropyBackward:
    """The gradient of cross_entropy in its logits, from the saved log-softmax:
    ``g (p sum_c A - A)`` (A: the loss's coefficients in logp, which never become an
    array for index targets: ``p`` is scaled per sample and the target classes are
    corrected by a scatter). Equal to ``log_softmax_backward(nll_loss_backward(g))``,
    whose VJPs it reuses for the second derivatives."""

    def forward(xp, g, logp, target, weight=None, *, ignore_index, reduction,
                label_smoothing):
        n, c, d = _class_layout(logp.shape)
        if c == 0:   # no classes: no logits to differentiate
            return xp.zeros(logp.shape, logp.dtype)
        dx = xp.empty((n, c, d), logp.dtype)   # C order: scattered into through a flat view
        xp.exp(logp.reshape(n, c, d), out=dx)  # p = softmax(x)
        gs = g.reshape(n, 1, d) if reduction == "none" else g
        if target.dtype.kind == "f":
            wt = _soft_coefficients(xp, target.reshape(n, c, d), weight, label_smoothing, c)
            den = float(n * d) if reduction == "mean" else 1.0
            scale = gs / den if den else gs * xp.nan
            dx *= wt.sum(1, keepdims=True)
            dx -= wt
            dx *= scale
            return dx.reshape(logp.shape)
        safe, valid = _index_targets(xp, "cross_entropy", target, n, c, d, ignore_index,
                                     check=False)
        tw = _target_weights(xp, safe, valid, weight, logp.dtype)
        den = _denominator(reduction, tw, n * d) or 1.0   # all ignored: the gradient is 0
        scale = gs * (1.0 / den)                           # (N, 1, D) or 0-d
        ls = label_smoothing
        # per sample: -sum_c A = (1 - ls) w[t] + ls/C sum_c w_c (counted samples)
        if tw is None and not ls:
            dx *= scale                                    # the common case: p / N - onehot
        else:
            row = (tw if tw is not None else xp.ones((n, d), logp.dtype)) * (1 - ls)
            if ls:
                wsum = float(weight.sum()) if weight is not None else float(c)
                row = row + (ls / c * wsum) * (valid if valid is not None else 1.0)
            dx *= row[:, None, :] * scale
        if ls:
            wc = (weight if weight is not None else xp.ones(c, logp.dtype)).reshape(1, c, 1)
            smooth = wc * (scale * (ls / c))
            if valid is not None:
                smooth = smooth * valid[:, None, :]
            dx -= smooth
        hit = (scale.reshape(n, d) if scale.ndim else scale) * (1 - ls)
        if tw is not None:
            hit = hit * tw
        dx.reshape(-1)[_positions(xp, safe, c, d)] -= hit
        return dx.reshape(logp.shape)

    def infer(g, logp, target, weight=None, *, ignore_index, reduction, label_smoothing):
        return Meta(tuple(logp.shape), logp.dtype)

    def vjp(gg, out, g, logp, target, weight=None, *, ignore_index, reduction,
            label_smoothing, needs):
        # this op is log_softmax_backward(u, logp) with u = d loss / d logp (linear in g):
        # its VJP is log_softmax_backward's, then nll_loss_backward's (nll_loss) for g
        from yingshe.ops.reduce import sum as _sum
        cdim = 0 if logp.ndim == 1 else 1
        extra = () if weight is None else (weight,)
        attrs = dict(ignore_index=ignore_index, reduction=reduction,
                     label_smoothing=label_smoothing)
        soft = target.dtype.is_floating_point
        gs = _per_sample(g, reduction, logp.ndim)
        if soft:
            a = target * (1 - label_smoothing) + label_smoothing / logp.shape[cdim] \
                if label_smoothing else target
            if weight is not None:
                from yingshe.ops.shape import reshape
                a = a * reshape(weight, (-1,) + (1,) * (logp.ndim - cdim - 1))
            a = a * (-_soft_scale(logp, reduction, 0.0))   # -A / g, the coefficients
            u = -(gs * a)
        else:
            u = apply(NLLLossBackward, g, target, *extra, shape=tuple(logp.shape), **attrs)
        d_u, d_logp = LogSoftmaxBackward.vjp(gg, None, u, logp, dim=cdim,
                                             needs=(needs[0] or needs[2], needs[1]))
        d_g = d_t = None
        if needs[0]:
            if soft:
                d_g = -(d_u * a)
                d_g = _sum(d_g, cdim) if reduction == "none" and logp.ndim > 1 else _sum(d_g)
            else:
                d_g = apply(NLLLoss, d_u, target, *extra, **attrs)
        if soft and needs[2]:
            d_t = d_u * gs * _soft_scale(logp, reduction, label_smoothing)
            if weight is not None:
                from yingshe.ops.shape import reshape
                d_t = d_t * reshape(weight, (-1,) + (1,) * (logp.ndim - cdim - 1))
        return (d_g, d_logp, d_t) + ((None,) if weight is not None else ())


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Apply the cross_entropy op (the arguments are checked by the functional)."""
    extra = () if weight is None else (weight,)
    (loss,) = apply(CrossEntropy, input, target, *extra, ignore_index=int(ignore_index),
                    reduction=reduction, label_smoothing=float(label_smoothing))
    return loss
