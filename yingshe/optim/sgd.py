"""Stochastic gradient descent, with momentum and Nesterov momentum.

``variant="torch"`` (default, PyTorch's ``torch.optim.SGD``)::

    g = -g if maximize;  g = g + weight_decay * p
    buf = g (first step) | momentum * buf + (1 - dampening) * g
    g = g + momentum * buf (nesterov) | buf
    p = p - lr * g

TF1's ``tf.compat.v1.train.GradientDescentOptimizer`` and ``MomentumOptimizer``
(``accum = momentum * accum + g; var -= lr * accum``, and with ``use_nesterov``
``var -= lr * g + lr * momentum * accum``) are this same formula with
``dampening=0``: use ``variant="torch"``.

``variant="keras"`` (``keras.optimizers.SGD``) keeps the velocity with the
learning rate inside it, which differs from the above when the learning rate
changes during training::

    v = momentum * v - lr * g                  (v starts at zero)
    p = p + momentum * v - lr * g (nesterov) | p + v
"""

from __future__ import annotations

from yingshe.optim._fused import SgdUpdate
from yingshe.optim.optimizer import Optimizer, _as_float, _check_fused, _unsupported, _zeros

__all__ = ["SGD", "sgd_update"]

_VARIANTS = ("torch", "keras")


def sgd_update(K, p, g, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
               variant="torch"):
    """One SGD update of ``p`` (in place) with gradient ``g``, written once for every kernel."""
    if maximize:
        g = K.neg(g, "g")
    if weight_decay != 0:
        g = K.add(g, p, weight_decay, "g")
    if momentum == 0:
        K.add_(p, g, -lr)
        return
    buf = state.get("momentum_buffer")
    if variant == "keras":
        if buf is None:
            state["momentum_buffer"] = K.zeros_like(p)
            buf = state["momentum_buffer"]
        K.mul_(buf, momentum)
        K.add_(buf, g, -lr)
        if nesterov:
            K.add_(p, buf, momentum)
            K.add_(p, g, -lr)
        else:
            K.add_(p, buf)
        return
    if buf is None:
        state["momentum_buffer"] = K.clone(g)
        buf = state["momentum_buffer"]
    else:
        K.mul_(buf, momentum)
        K.add_(buf, g, 1 - dampening)
    if nesterov:
        g = K.add(g, buf, momentum, "g")
    else:
        g = buf
    K.add_(p, g, -lr)


class SGD(Optimizer):
    """PyTorch's ``torch.optim.SGD`` (``variant="keras"``: Keras' velocity form).

    The update runs as one fused op per parameter (``yingshe.optim._fused``) unless
    ``fused=False`` or ``foreach=False`` asks for the op-by-op form;
    ``differentiable=True`` raises ``NotImplementedError``.
    """

    _counts_steps = False

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None,
                 variant="torch"):
        _check_fused(fused, foreach, differentiable)
        _unsupported("SGD", differentiable=differentiable)
        lr = _as_float("lr", lr)
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if variant not in _VARIANTS:
            raise ValueError(f"SGD: variant must be one of {_VARIANTS}, got {variant!r}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused, variant=variant)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _init_state(self, p, group):
        return {}

    def _fused_call(self, p, state, group, step):
        momentum = group["momentum"]
        variant = group.get("variant", "torch")
        buffered = momentum != 0
        first = False
        if buffered and "momentum_buffer" not in state:
            # PyTorch's first momentum step makes the buffer the gradient (Keras' starts at
            # zero); the op writes it into this fresh buffer
            state["momentum_buffer"] = _zeros(p)
            first = variant != "keras"
        attrs = dict(nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]),
                     variant=variant, buffered=buffered, first=first)
        scalars = (group["lr"], momentum, group["dampening"], group["weight_decay"])
        return SgdUpdate, ("momentum_buffer" if buffered else None,), scalars, attrs

    def _update(self, K, p, g, state, group, step):
        sgd_update(K, p, g, state, lr=group["lr"], momentum=group["momentum"],
                   dampening=group["dampening"], weight_decay=group["weight_decay"],
                   nesterov=group["nesterov"], maximize=group["maximize"],
                   variant=group.get("variant", "torch"))
