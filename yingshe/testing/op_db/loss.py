"""Op-table records for the softmax family and the loss ops (yingshe/ops/loss.py).

Backward ops (``*_backward``) are called through ``apply`` so the table checks their
forward against NumPy and their VJP (the losses' second derivatives) by finite
differences; PyTorch parity of first derivatives comes from the loss records.
"""

import builtins
import importlib

import numpy as np

from yingshe.errors import DTypeError, IndexError, ShapeError
from yingshe.testing.op_db import ErrorCase, OpCase, gen, ints, normal, noncontig, uniform


def _fn(m):
    """``nn.functional`` of ``m`` (yingshe or torch), imported on first use."""
    return importlib.import_module(m.__name__ + ".nn.functional")


def _op(name):
    from yingshe.ops import REGISTRY
    return REGISTRY[name]


def _apply(name, *args, **attrs):
    from yingshe.ops._registry import apply
    return apply(_op(name), *args, **attrs)


# ---- NumPy references ------------------------------------------------------------------

def _softmax(x, dim):
    z = np.exp(x - x.max(axis=dim, keepdims=True))
    return z / z.sum(axis=dim, keepdims=True)


def _log_softmax(x, dim):
    z = x - x.max(axis=dim, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=dim, keepdims=True))


def _reduce(v, reduction):
    return {"none": v, "mean": np.mean(v), "sum": np.sum(v)}[reduction]


def _smooth_l1(d, beta):
    ad = np.abs(d)
    return ad if beta == 0 else np.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta)


def _huber(d, delta):
    ad = np.abs(d)
    return np.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))


def _bce(x, t):
    return -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log1p(-x), -100))


def _bce_logits(x, t, pw=None):
    sp = np.logaddexp(0, -x)
    lw = 1 if pw is None else 1 + (pw - 1) * t
    return (1 - t) * x + lw * sp


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _nll(logp, target, weight=None, ignore_index=-100, reduction="mean", ls=0.0):
    """Straightforward loops over samples: the reference for nll_loss/cross_entropy."""
    cdim = 0 if logp.ndim == 1 else 1
    lp = np.moveaxis(logp, cdim, -1).reshape(-1, logp.shape[cdim])
    tg = target.reshape(-1)
    c = lp.shape[1]
    w = np.ones(c) if weight is None else weight
    losses, wsum = [], 0.0
    for row, t in zip(lp, tg):
        if t == ignore_index:
            losses.append(0.0)
            continue
        losses.append(-(1 - ls) * w[t] * row[t] - ls / c * np.sum(w * row))
        wsum += w[t]
    losses = np.array(losses)
    if reduction == "none":
        return losses.reshape(target.shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / wsum


def _ce_coefficients(logp, target, weight=None, ignore_index=-100, reduction="mean",
                     ls=0.0):
    """d loss / d logp of cross_entropy (index or probability targets), by loops over the
    samples with the class dim moved last: the reference for cross_entropy_backward."""
    cdim = 0 if logp.ndim == 1 else 1
    lp = np.moveaxis(logp, cdim, -1)
    c = lp.shape[-1]
    w = np.ones(c) if weight is None else weight
    a = np.zeros(lp.shape)
    flat, den = a.reshape(-1, c), 0.0
    if target.dtype.kind == "f":
        tg = np.moveaxis(target, cdim, -1).reshape(-1, c)
        for i, row in enumerate(tg):
            flat[i] = -(row * (1 - ls) + ls / c) * w
        den = len(tg)
    else:
        for i, t in enumerate(target.reshape(-1)):
            if t == ignore_index:
                continue
            flat[i] = -ls / c * w
            flat[i, t] -= (1 - ls) * w[t]
            den += w[t]
    if reduction == "mean":
        a = a / den
    return np.moveaxis(a, -1, cdim)


def _ce_backward(g, logp, target, weight=None, ignore_index=-100, reduction="mean", ls=0.0):
    cdim = 0 if logp.ndim == 1 else 1
    a = _ce_coefficients(logp, target, weight, ignore_index, reduction, ls)
    if reduction == "none" and logp.ndim > 1:
        g = np.expand_dims(g, cdim)
    return g * (a - np.exp(logp) * a.sum(cdim, keepdims=True))


def _kl(x, t, log_target=False):
    if log_target:
        return np.exp(t) * (t - x)
    return np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0) - t * x


# ---- input makers ------------------------------------------------------------------------

def _pair_away(shape, kinks, margin=0.1):
    """(input, target) whose difference keeps ``margin`` away from each kink."""
    def make(rng):
        t = rng.standard_normal(shape)
        d = rng.standard_normal(shape) * 1.5
        for k in kinks:
            close = np.abs(d - k) < margin
            d = np.where(close, k + np.sign(d - k + 1e-12) * (margin + np.abs(d - k)), d)
        return [t + d, t]
    return make


def _with(*more):
    """Append constant makers' values to an inputs function."""
    def wrap(base):
        return lambda rng: base(rng) + [m(rng) if callable(m) else m for m in more]
    return wrap


def _targets(c, *shape, ignore=None):
    def make(rng):
        t = rng.integers(0, c, shape)
        if ignore is not None and t.size > 1:
            t.flat[1] = ignore
        return np.asarray(t, dtype=np.int64)
    return make


def _probs(*shape, dim=1):
    def make(rng):
        return _softmax(rng.standard_normal(shape), dim)
    return make


REDUCTIONS = ("none", "mean", "sum")

CASES = [
    # softmax family
    OpCase("softmax", lambda m, x: m.softmax(x, 1), gen(normal(3, 4)), lambda x: _softmax(x, 1)),
    OpCase("softmax", lambda m, x: x.softmax(0), gen(noncontig(3, 4)),
           lambda x: _softmax(x, 0), name="dim0-noncontig"),
    OpCase("softmax", lambda m, x: m.softmax(x * 1000.0, -1), gen(normal(2, 5)),
           lambda x: _softmax(x * 1000.0, -1), name="large-logits", fd=False,
           second_order=False),
    OpCase("softmax", lambda m, x: m.softmax(x, 0), gen(normal()), lambda x: _softmax(x, None),
           name="0d"),
    OpCase("softmax", lambda m, x: m.softmax(x, 1), gen(normal(0, 3)),
           lambda x: np.exp(x), name="empty"),
    OpCase("log_softmax", lambda m, x: m.log_softmax(x, 0), gen(normal()),
           lambda x: np.zeros_like(x), name="0d"),
    OpCase("log_softmax", lambda m, x: m.log_softmax(x, 1), gen(normal(3, 4)),
           lambda x: _log_softmax(x, 1)),
    OpCase("log_softmax", lambda m, x: x.log_softmax(-1), gen(normal(2, 3, 4)),
           lambda x: _log_softmax(x, -1), name="3d"),
    OpCase("log_softmax", lambda m, x: m.log_softmax(x * 1000.0, 1), gen(normal(2, 5)),
           lambda x: _log_softmax(x * 1000.0, 1), name="large-logits", fd=False,
           second_order=False),
    OpCase("log_softmax", lambda m, x: m.log_softmax(x, 1, dtype=m.float64), gen(normal(3, 4)),
           lambda x: _log_softmax(x.astype(np.float64), 1), name="dtype"),
    OpCase("log_softmax_backward", lambda m, g, out: _apply("log_softmax_backward", g, out, dim=1),
           lambda rng: [rng.standard_normal((3, 4)), _log_softmax(rng.standard_normal((3, 4)), 1)],
           lambda g, out: g - np.exp(out) * g.sum(1, keepdims=True), torch=False),
]

for _red in REDUCTIONS:
    CASES += [
        OpCase("smooth_l1_loss",
               lambda m, x, t, r=_red: _fn(m).smooth_l1_loss(x, t, reduction=r, beta=0.5),
               _pair_away((3, 4), (-0.5, 0, 0.5)),
               lambda x, t, r=_red: _reduce(_smooth_l1(x - t, 0.5), r), name=_red),
        OpCase("smooth_l1_loss", lambda m, x, t, r=_red: _fn(m).l1_loss(x, t, reduction=r),
               _pair_away((3, 4), (0,)), lambda x, t, r=_red: _reduce(np.abs(x - t), r),
               name="l1-" + _red),
        OpCase("huber_loss",
               lambda m, x, t, r=_red: _fn(m).huber_loss(x, t, reduction=r, delta=0.7),
               _pair_away((3, 4), (-0.7, 0.7)),
               lambda x, t, r=_red: _reduce(_huber(x - t, 0.7), r), name=_red),
        OpCase("mse_loss", lambda m, x, t, r=_red: _fn(m).mse_loss(x, t, reduction=r),
               gen(normal(3, 4), normal(3, 4)), lambda x, t, r=_red: _reduce((x - t) ** 2, r),
               name="mse-" + _red),
        OpCase("binary_cross_entropy",
               lambda m, x, t, w, r=_red: _fn(m).binary_cross_entropy(x, t, w, reduction=r),
               gen(uniform(0.05, 0.95, 3, 4), uniform(0, 1, 3, 4), uniform(0.5, 2, 4)),
               lambda x, t, w, r=_red: _reduce(_bce(x, t) * w, r), name=_red, grad=(0, 1)),
        OpCase("binary_cross_entropy_with_logits",
               lambda m, x, t, w, pw, r=_red: _fn(m).binary_cross_entropy_with_logits(
                   x, t, w, reduction=r, pos_weight=pw),
               gen(normal(3, 4), uniform(0, 1, 3, 4), uniform(0.5, 2, 4), uniform(0.5, 3, 4)),
               lambda x, t, w, pw, r=_red: _reduce(_bce_logits(x, t, pw) * w, r), name=_red,
               grad=(0, 1)),
        OpCase("nll_loss",
               lambda m, x, t, w, r=_red: _fn(m).nll_loss(x, t, w, reduction=r),
               gen(normal(5, 4), _targets(4, 5, ignore=-100), uniform(0.5, 2, 4)),
               lambda x, t, w, r=_red: _nll(x, t, w, reduction=r), name=_red, grad=(0,)),
        OpCase("cross_entropy",
               lambda m, x, t, w, r=_red: _fn(m).cross_entropy(x, t, w, reduction=r,
                                                               label_smoothing=0.2),
               gen(normal(5, 4), _targets(4, 5, ignore=-100), uniform(0.5, 2, 4)),
               lambda x, t, w, r=_red: _nll(_log_softmax(x, 1), t, w, reduction=r, ls=0.2),
               name="ce-smoothing-" + _red, grad=(0,)),
        OpCase("cross_entropy",
               lambda m, x, t, r=_red: _fn(m).cross_entropy(x, t, reduction=r, ignore_index=1),
               gen(normal(2, 3, 4, 5), _targets(3, 2, 4, 5)),
               lambda x, t, r=_red: _nll(_log_softmax(x, 1), t, ignore_index=1, reduction=r),
               name="ce-4d-" + _red),
        OpCase("cross_entropy",
               lambda m, x, p, r=_red: _fn(m).cross_entropy(x, p, reduction=r),
               gen(normal(4, 3), _probs(4, 3)),
               lambda x, p, r=_red: {"none": -(_log_softmax(x, 1) * p).sum(1),
                                     "sum": -(_log_softmax(x, 1) * p).sum(),
                                     "mean": -(_log_softmax(x, 1) * p).sum() / 4}[r],
               name="ce-probs-" + _red),
        OpCase("kl_div",
               lambda m, x, t, r=_red: _fn(m).kl_div(x, t, reduction=r),
               gen(normal(3, 4), _probs(3, 4)), lambda x, t, r=_red: _reduce(_kl(x, t), r),
               name=_red),
        OpCase("kl_div",
               lambda m, x, t, r=_red: _fn(m).kl_div(x, t, reduction=r, log_target=True),
               gen(normal(3, 4), normal(3, 4)),
               lambda x, t, r=_red: _reduce(_kl(x, t, True), r), name="log-target-" + _red),
    ]

CASES += [
    OpCase("cross_entropy", lambda m, x, t: _fn(m).cross_entropy(x, t),
           gen(normal(5), ints(0, 5)), lambda x, t: _nll(_log_softmax(x, 0), t),
           name="ce-unbatched"),
    OpCase("cross_entropy", lambda m, x, t: _fn(m).cross_entropy(x * 1000.0, t),
           gen(normal(3, 5), _targets(5, 3)),
           lambda x, t: _nll(_log_softmax(x * 1000.0, 1), t), name="ce-large-logits",
           fd=False, second_order=False),
    OpCase("cross_entropy", lambda m, x, t, w: _fn(m).cross_entropy(x, t, w, label_smoothing=0.1),
           gen(normal(2, 3, 4), _targets(3, 2, 4, ignore=-100), uniform(0.5, 2, 3)),
           lambda x, t, w: _nll(_log_softmax(x, 1), t, w, ls=0.1), name="ce-3d-weight-smooth",
           grad=(0,)),
    OpCase("cross_entropy",
           lambda m, x, p, w: _fn(m).cross_entropy(x, p, w, label_smoothing=0.3),
           gen(normal(2, 3, 4), _probs(2, 3, 4), uniform(0.5, 2, 3)),
           lambda x, p, w: -(_log_softmax(x, 1) * (p * 0.7 + 0.1)
                             * w[:, None]).sum() / 8, name="probs-3d-weight-smooth",
           grad=(0, 1)),
    OpCase("cross_entropy",
           lambda m, x, t: _fn(m).cross_entropy(x, t, reduction="none"),
           gen(normal(4), ints(0, 4)), lambda x, t: _nll(_log_softmax(x, 0), t, reduction="none"),
           name="unbatched-none"),
    OpCase("cross_entropy", lambda m, x, t: _fn(m).cross_entropy(x, t),
           gen(noncontig(6, 5), _targets(5, 6)),
           lambda x, t: _nll(_log_softmax(x, 1), t), name="noncontig"),
    OpCase("cross_entropy", lambda m, x, t, w: _fn(m).cross_entropy(x, t, w, ignore_index=2),
           gen(normal(4, 3), lambda rng: np.array([2, 2, 2, 2]), uniform(0.5, 2, 3)),
           lambda x, t, w: np.float64("nan"), name="all-ignored", grad=(0,), fd=False,
           torch=True),
    OpCase("cross_entropy", lambda m, x, t: _fn(m).cross_entropy(x, t, reduction="sum"),
           gen(normal(0, 3), _targets(3, 0)), lambda x, t: np.float64(0.0), name="empty-sum",
           fd=False),
    OpCase("nll_loss",
           lambda m, x, t, w: _apply("nll_loss", x, t, w, ignore_index=-100, reduction="mean",
                                     label_smoothing=0.25),
           gen(normal(2, 3, 4), _targets(3, 2, 4, ignore=-100), uniform(0.5, 2, 3)),
           lambda x, t, w: _nll(x, t, w, ls=0.25), name="smoothing", grad=(0,), torch=False),
    OpCase("kl_div", lambda m, x, t: _fn(m).kl_div(x, t, reduction="batchmean"),
           gen(normal(3, 4), _probs(3, 4)), lambda x, t: _kl(x, t).sum() / 3,
           name="batchmean"),
    OpCase("binary_cross_entropy_with_logits",
           lambda m, x, t, pw: _fn(m).binary_cross_entropy_with_logits(x, t, pos_weight=pw),
           gen(normal(3, 4), uniform(0, 1, 3, 4), uniform(0.5, 3, 4)),
           lambda x, t, pw: np.mean(_bce_logits(x, t, pw)), name="pos-weight-grad",
           torch=False),  # PyTorch does not differentiate pos_weight
    OpCase("binary_cross_entropy_with_logits",
           lambda m, x, t: _fn(m).binary_cross_entropy_with_logits(x * 1000.0, t),
           gen(normal(3, 4), uniform(0, 1, 3, 4)),
           lambda x, t: np.mean(_bce_logits(x * 1000.0, t)), name="large-logits",
           fd=False, second_order=False),
    OpCase("binary_cross_entropy_with_logits",
           lambda m, x, t, w: _fn(m).binary_cross_entropy_with_logits(x, t, w, reduction="sum"),
           gen(normal(2, 3, 4), uniform(0, 1, 2, 3, 4), uniform(0.5, 2, 3, 1)),
           lambda x, t, w: np.sum(_bce_logits(x, t) * w), name="weight-only", grad=(0, 1)),
    OpCase("binary_cross_entropy_with_logits",
           lambda m, x, t: _fn(m).binary_cross_entropy_with_logits(x, t),
           gen(normal(0, 3), uniform(0, 1, 0, 3)), lambda x, t: np.float64("nan"),
           name="empty", fd=False),
    OpCase("binary_cross_entropy", lambda m, x, t: _fn(m).binary_cross_entropy(x, t),
           gen(uniform(0.05, 0.95, 0, 3), uniform(0, 1, 0, 3)),
           lambda x, t: np.float64("nan"), name="empty", grad=(0,), fd=False),
    # backward ops, applied directly
    OpCase("pointwise_loss_backward",
           lambda m, g, x, t: _apply("pointwise_loss_backward", g, x, t, kind="smooth_l1",
                                     param=0.5, order=1),
           lambda rng: [rng.standard_normal((3, 4))] + _pair_away((3, 4), (-0.5, 0.5))(rng),
           lambda g, x, t: g * np.clip((x - t) / 0.5, -1, 1), torch=False),
    OpCase("pointwise_loss_backward",
           lambda m, g, x, t: _apply("pointwise_loss_backward", g, x, t, kind="huber",
                                     param=0.7, order=2),
           lambda rng: [rng.standard_normal((3, 4))] + _pair_away((3, 4), (-0.7, 0.7))(rng),
           lambda g, x, t: g * (np.abs(x - t) < 0.7), name="huber-order2", torch=False),
    OpCase("binary_cross_entropy_backward",
           lambda m, g, x, t: _apply("binary_cross_entropy_backward", g, x, t, wrt="input"),
           gen(normal(3, 4), uniform(0.1, 0.9, 3, 4), uniform(0, 1, 3, 4)),
           lambda g, x, t: g * (x - t) / ((1 - x) * x), torch=False),
    OpCase("binary_cross_entropy_backward",
           lambda m, g, x, t: _apply("binary_cross_entropy_backward", g, x, t, wrt="target"),
           gen(normal(3, 4), uniform(0.1, 0.9, 3, 4), uniform(0, 1, 3, 4)),
           lambda g, x, t: g * (np.log1p(-x) - np.log(x)), name="target", torch=False),
    OpCase("binary_cross_entropy_with_logits_backward",
           lambda m, g, x, t, pw: _apply("binary_cross_entropy_with_logits_backward",
                                         g, x, t, pw, wrt="input"),
           gen(normal(3, 4), normal(3, 4), uniform(0, 1, 3, 4), uniform(0.5, 3, 4)),
           lambda g, x, t, pw: g * ((1 + (pw - 1) * t) * _sigmoid(x) - pw * t), torch=False),
    OpCase("binary_cross_entropy_with_logits_backward",
           lambda m, g, x, t, pw: _apply("binary_cross_entropy_with_logits_backward",
                                         g, x, t, pw, wrt="target"),
           gen(normal(3, 4), normal(3, 4), uniform(0, 1, 3, 4), uniform(0.5, 3, 4)),
           lambda g, x, t, pw: g * ((pw - 1) * np.logaddexp(0, -x) - x), name="target",
           torch=False),
    OpCase("binary_cross_entropy_with_logits_backward",
           lambda m, g, x, t, pw: _apply("binary_cross_entropy_with_logits_backward",
                                         g, x, t, pw, wrt="pos_weight"),
           gen(normal(3, 4), normal(3, 4), uniform(0, 1, 3, 4), uniform(0.5, 3, 4)),
           lambda g, x, t, pw: g * t * np.logaddexp(0, -x), name="pos-weight", torch=False),
    OpCase("binary_cross_entropy_with_logits_backward",
           lambda m, g, x, t: _apply("binary_cross_entropy_with_logits_backward",
                                     g, x, t, wrt="input"),
           gen(normal(3, 4), normal(3, 4), uniform(0, 1, 3, 4)),
           lambda g, x, t: g * (_sigmoid(x) - t), name="no-pos-weight", torch=False),
    OpCase("kl_div_backward",
           lambda m, g, x, t: _apply("kl_div_backward", g, x, t, log_target=False, wrt="target"),
           gen(normal(3, 4), normal(3, 4), uniform(0.2, 1, 3, 4)),
           lambda g, x, t: g * (np.log(t) + 1 - x), torch=False),
    OpCase("kl_div_backward",
           lambda m, g, x, t: _apply("kl_div_backward", g, x, t, log_target=True, wrt="target"),
           gen(normal(3, 4), normal(3, 4), normal(3, 4)),
           lambda g, x, t: g * np.exp(t) * (t - x + 1), name="log-target", torch=False),
    OpCase("nll_loss_backward",
           lambda m, g, t, w: _apply("nll_loss_backward", g, t, w, shape=(5, 4),
                                     ignore_index=-100, reduction="none", label_smoothing=0.1),
           gen(normal(5), _targets(4, 5, ignore=-100), uniform(0.5, 2, 4)),
           lambda g, t, w: g[:, None] * (t != -100)[:, None] * (
               -0.9 * w[np.where(t == -100, 0, t)][:, None] * (np.arange(4) == t[:, None])
               - 0.1 / 4 * w[None, :]),
           torch=False, grad=(0,)),
]


def _ce_backward_call(reduction, ls):
    return lambda m, g, lp, t, w: _apply("cross_entropy_backward", g, lp, t, w,
                                         ignore_index=-100, reduction=reduction,
                                         label_smoothing=ls)


for _red in REDUCTIONS:
    _per = _red == "none"   # a per-sample incoming gradient
    CASES += [
        OpCase("cross_entropy_backward", _ce_backward_call(_red, 0.2),
               lambda rng, per=_per: [rng.standard_normal((2, 4) if per else ()),
                                      _log_softmax(rng.standard_normal((2, 3, 4)), 1),
                                      _targets(3, 2, 4, ignore=-100)(rng),
                                      rng.uniform(0.5, 2, 3)],
               lambda g, lp, t, w, r=_red: _ce_backward(g, lp, t, w, reduction=r, ls=0.2),
               name="index-" + _red, torch=False, grad=(0, 1)),
        OpCase("cross_entropy_backward", _ce_backward_call(_red, 0.1),
               lambda rng, per=_per: [rng.standard_normal((4,) if per else ()),
                                      _log_softmax(rng.standard_normal((4, 5)), 1),
                                      _probs(4, 5)(rng), rng.uniform(0.5, 2, 5)],
               lambda g, lp, p, w, r=_red: _ce_backward(g, lp, p, w, reduction=r, ls=0.1),
               name="probs-" + _red, torch=False, grad=(0, 1, 2)),
    ]

ERRORS = [
    ErrorCase("cross_entropy", lambda m, x, t: _fn(m).cross_entropy(x, t),
              gen(normal(3, 4), lambda rng: np.array([0, 7, 1])), IndexError,
              "Target 7 is out of bounds for 4 classes", name="target-out-of-range",
              torch_exc=builtins.IndexError),
    ErrorCase("nll_loss", lambda m, x, t: _fn(m).nll_loss(x, t),
              gen(normal(3, 4), lambda rng: np.array([0, 1])), ShapeError,
              "expected target of shape (3,)", name="batch-mismatch", torch_exc=ValueError),
    ErrorCase("nll_loss", lambda m, x, t: _fn(m).nll_loss(x, t),
              gen(normal(3, 4), normal(3)), DTypeError, "integer", name="float-target",
              torch_exc=RuntimeError),
    ErrorCase("binary_cross_entropy", lambda m, x, t: _fn(m).binary_cross_entropy(x, t),
              gen(uniform(0.1, 0.9, 3, 4), uniform(0, 1, 3, 1)), ValueError,
              "different to the input size", name="size", torch_exc=ValueError),
    ErrorCase("binary_cross_entropy", lambda m, x, t: _fn(m).binary_cross_entropy(x * 3, t),
              gen(uniform(0.5, 0.9, 3, 4), uniform(0, 1, 3, 4)), RuntimeError,
              "between 0 and 1", name="range", torch_exc=RuntimeError),
    ErrorCase("binary_cross_entropy_with_logits",
              lambda m, x, t: _fn(m).binary_cross_entropy_with_logits(x, t),
              gen(normal(3, 4), uniform(0, 1, 4)), ValueError,
              "must be the same as input size", torch_exc=ValueError),
    ErrorCase("log_softmax", lambda m, x: m.log_softmax(x, 2), gen(normal(3, 4)), IndexError,
              "dimension out of range", torch_exc=builtins.IndexError),
]
