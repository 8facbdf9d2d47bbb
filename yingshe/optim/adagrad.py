"""Adagrad.

``variant="torch"`` (default, PyTorch's ``torch.optim.Adagrad``), at step ``t``::

    g = -g if maximize;  g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g * g                          (s starts at initial_accumulator_value)
    p = p - clr * g / (sqrt(s) + eps)

``variant="tf"`` puts ``eps`` inside the square root, ``p - clr * g / sqrt(s + eps)``:
Keras' ``keras.optimizers.Adagrad`` (initial_accumulator_value=0.1, epsilon=1e-7)
and, with ``eps=0``, TF1's ``tf.compat.v1.train.AdagradOptimizer``
(initial_accumulator_value=0.1).

As in PyTorch, the state is created when the optimizer is constructed.
"""

from __future__ import annotations

from yingshe.optim._fused import AdagradUpdate
from yingshe.optim.optimizer import (Optimizer, _as_float, _check_fused, _step_tensor,
                                     _unsupported, _zeros)

__all__ = ["Adagrad", "adagrad_update"]

_VARIANTS = ("torch", "tf")


def adagrad_update(K, p, g, state, step, *, lr, lr_decay, weight_decay, eps, maximize,
                   variant="torch"):
    """One Adagrad update of ``p`` (in place), written once for every kernel."""
    if maximize:
        g = K.neg(g, "g")
    if weight_decay != 0:
        g = K.add(g, p, weight_decay, "g")
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum = state["sum"]
    K.addcmul_(state_sum, g, g, 1.0)
    if variant == "torch":
        std = K.sqrt(state_sum, "std")
        K.add_scalar_(std, eps)
    else:
        std = K.scale(state_sum, 1.0, "std")
        K.add_scalar_(std, eps)
        std = K.sqrt(std, "std")
    K.addcdiv_(p, g, std, -clr)


class Adagrad(Optimizer):
    """PyTorch's ``torch.optim.Adagrad``; ``variant="tf"``: TensorFlow's form.

    The update runs as one fused op per parameter (``yingshe.optim._fused``) unless
    ``fused=False`` or ``foreach=False`` asks for the op-by-op form;
    ``differentiable`` raises ``NotImplementedError``.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None,
                 variant="torch"):
        _check_fused(fused, foreach, differentiable)
        _unsupported("Adagrad", differentiable=differentiable)
        lr = _as_float("lr", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if variant not in _VARIANTS:
            raise ValueError(f"Adagrad: variant must be one of {_VARIANTS}, got {variant!r}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused,
                        variant=variant)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p].update(self._init_state(p, group))

    def _init_state(self, p, group):
        return {"step": _step_tensor(),
                "sum": _zeros(p, float(group["initial_accumulator_value"]))}

    def _fused_call(self, p, state, group, step):
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        attrs = dict(maximize=bool(group["maximize"]), variant=group.get("variant", "torch"))
        return AdagradUpdate, ("sum",), (clr, group["eps"], group["weight_decay"]), attrs

    def _update(self, K, p, g, state, group, step):
        adagrad_update(K, p, g, state, step, lr=group["lr"], lr_decay=group["lr_decay"],
                       weight_decay=group["weight_decay"], eps=group["eps"],
                       maximize=group["maximize"], variant=group.get("variant", "torch"))
