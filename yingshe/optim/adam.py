"""Adam (and, through ``decoupled_weight_decay``, AdamW).

``variant="torch"`` (default, PyTorch's ``torch.optim.Adam``), at step ``t``::

    g = -g if maximize
    p = p * (1 - lr * wd) (decoupled) | g = g + wd * p
    m = lerp(m, g, 1 - beta1);   v = beta2 * v + (1 - beta2) * g * g
    v_max = max(v_max, v) (amsgrad, used in place of v below)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

``variant="tf"`` ("epsilon hat": TF1's ``tf.compat.v1.train.AdamOptimizer``,
default eps 1e-8, and Keras' ``keras.optimizers.Adam``/``AdamW``, default eps
1e-7; ``"tf1"`` and ``"keras"`` are accepted as aliases) adds ``eps`` to the
uncorrected ``sqrt(v)``::

    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    p = p - lr_t * m / (sqrt(v) + eps)

The moment updates are the same in both (TF writes ``m += (g - m) * (1 - beta1)``).
"""

from __future__ import annotations

from yingshe.optim._fused import AdamUpdate
from yingshe.optim.optimizer import (Optimizer, _as_float, _check_fused, _sqrt, _step_tensor,
                                     _unsupported, _zeros)

__all__ = ["Adam", "adam_update"]

_VARIANTS = {"torch": "torch", "tf": "tf", "tf1": "tf", "keras": "tf"}


def adam_update(K, p, g, state, step, *, lr, beta1, beta2, eps, weight_decay, amsgrad,
                maximize, decoupled_weight_decay=False, variant="torch"):
    """One Adam update of ``p`` (in place), written once for every kernel."""
    if maximize:
        g = K.neg(g, "g")
    if weight_decay != 0:
        if decoupled_weight_decay:
            K.mul_(p, 1 - lr * weight_decay)
        else:
            g = K.add(g, p, weight_decay, "g")
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    K.lerp_(exp_avg, g, 1 - beta1)
    K.mul_(exp_avg_sq, beta2)
    K.addcmul_(exp_avg_sq, g, g, 1 - beta2)
    v = exp_avg_sq
    if amsgrad:
        v = state["max_exp_avg_sq"]
        K.maximum_(v, exp_avg_sq)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    denom = K.sqrt(v, "denom")
    if variant == "torch":
        K.div_(denom, _sqrt(bias_correction2))
        K.add_scalar_(denom, eps)
        K.addcdiv_(p, exp_avg, denom, -(lr / bias_correction1))
    else:
        K.add_scalar_(denom, eps)
        K.addcdiv_(p, exp_avg, denom, -(lr * _sqrt(bias_correction2) / bias_correction1))


class Adam(Optimizer):
    """PyTorch's ``torch.optim.Adam``; ``variant="tf"`` gives TensorFlow's epsilon
    placement (see the module docstring).

    The update runs as one fused op per parameter (``yingshe.optim._fused``) unless
    ``fused=False`` or ``foreach=False`` asks for the op-by-op form (PyTorch's rules:
    both ``True`` is an error); ``capturable`` and ``differentiable`` raise
    ``NotImplementedError``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False,
                 variant="torch"):
        name = type(self).__name__
        _check_fused(fused, foreach, differentiable)
        _unsupported(name, capturable=capturable, differentiable=differentiable)
        lr = _as_float("lr", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        betas = tuple(_as_float("betas", b) for b in betas)
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if variant not in _VARIANTS:
            raise ValueError(f"{name}: variant must be one of {tuple(_VARIANTS)}, got {variant!r}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay,
                        variant=_VARIANTS[variant])
        super().__init__(params, defaults)

    def _init_state(self, p, group):
        state = {"step": _step_tensor(), "exp_avg": _zeros(p), "exp_avg_sq": _zeros(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = _zeros(p)
        return state

    def _fused_call(self, p, state, group, step):
        beta1, beta2 = group["betas"]
        amsgrad = bool(group["amsgrad"])
        scalars = (group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                   1 - beta1 ** step, 1 - beta2 ** step)
        attrs = dict(amsgrad=amsgrad, maximize=bool(group["maximize"]),
                     decoupled_weight_decay=bool(group.get("decoupled_weight_decay", False)),
                     variant=_VARIANTS[group.get("variant", "torch")])
        names = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
        return AdamUpdate, names + (None,) * (3 - len(names)), scalars, attrs

    def _update(self, K, p, g, state, group, step):
        beta1, beta2 = group["betas"]
        adam_update(K, p, g, state, step, lr=group["lr"], beta1=beta1, beta2=beta2,
                    eps=group["eps"], weight_decay=group["weight_decay"],
                    amsgrad=group["amsgrad"], maximize=group["maximize"],
                    decoupled_weight_decay=group.get("decoupled_weight_decay", False),
                    variant=_VARIANTS[group.get("variant", "torch")])
