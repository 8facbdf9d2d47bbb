"""RMSprop.

``variant="torch"`` (default, PyTorch's ``torch.optim.RMSprop``; state starts at zero)::

    g = -g if maximize;  g = g + weight_decay * p
    s = alpha * s + (1 - alpha) * g * g
    a = lerp(a, g, 1 - alpha);  d = sqrt(s - a * a) + eps       (centered)
                                d = sqrt(s) + eps                 (otherwise)
    buf = momentum * buf + g / d;  p = p - lr * buf              (momentum > 0)
    p = p - lr * g / d                                            (otherwise)

``variant="tf1"`` (``tf.compat.v1.train.RMSPropOptimizer``: defaults decay=0.9,
momentum=0, epsilon=1e-10; the mean square starts at **one**) and
``variant="keras"`` (``keras.optimizers.RMSprop``: rho=0.9, epsilon=1e-7; the mean
square starts at zero) put ``eps`` inside the square root and the learning rate
inside the momentum buffer::

    d = sqrt(s - a * a + eps) (centered) | sqrt(s + eps)
    buf = momentum * buf + lr * g / d;  p = p - buf

(``alpha`` is TF's ``decay``/``rho``.) The front-ends pick the defaults.
"""

from __future__ import annotations

from yingshe.optim._fused import RmspropUpdate
from yingshe.optim.optimizer import Optimizer, _as_float, _step_tensor, _unsupported, _zeros

__all__ = ["RMSprop", "rmsprop_update"]

_VARIANTS = ("torch", "tf1", "keras")


def rmsprop_update(K, p, g, state, *, lr, alpha, eps, weight_decay, momentum, centered,
                   maximize, variant="torch"):
    """One RMSprop update of ``p`` (in place), written once for every kernel."""
    if maximize:
        g = K.neg(g, "g")
    if weight_decay != 0:
        g = K.add(g, p, weight_decay, "g")
    square_avg = state["square_avg"]
    K.mul_(square_avg, alpha)
    K.addcmul_(square_avg, g, g, 1 - alpha)
    torch_form = variant == "torch"
    if centered:
        grad_avg = state["grad_avg"]
        K.lerp_(grad_avg, g, 1 - alpha)
        avg = K.addcmul(square_avg, grad_avg, grad_avg, -1, "avg")
        if not torch_form:
            K.add_scalar_(avg, eps)
        avg = K.sqrt(avg, "avg")
    elif torch_form:
        avg = K.sqrt(square_avg, "avg")
    else:
        avg = K.scale(square_avg, 1.0, "avg")
        K.add_scalar_(avg, eps)
        avg = K.sqrt(avg, "avg")
    if torch_form:
        K.add_scalar_(avg, eps)
        if momentum > 0:
            buf = state["momentum_buffer"]
            K.mul_(buf, momentum)
            K.addcdiv_(buf, g, avg)
            K.add_(p, buf, -lr)
        else:
            K.addcdiv_(p, g, avg, -lr)
    elif momentum > 0:
        buf = state["momentum_buffer"]
        K.mul_(buf, momentum)
        K.addcdiv_(buf, g, avg, lr)
        K.add_(p, buf, -1.0)
    else:
        K.addcdiv_(p, g, avg, -lr)


class RMSprop(Optimizer):
    """PyTorch's ``torch.optim.RMSprop``; ``variant="tf1"``/``"keras"`` give
    TensorFlow's forms (see the module docstring).

    The update runs as one fused op per parameter (``yingshe.optim._fused``) unless
    ``foreach=False`` asks for the op-by-op form (PyTorch's RMSprop has no ``fused``
    argument); ``capturable`` and ``differentiable`` raise ``NotImplementedError``.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False, *, variant="torch"):
        _unsupported("RMSprop", capturable=capturable, differentiable=differentiable)
        lr = _as_float("lr", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        if variant not in _VARIANTS:
            raise ValueError(f"RMSprop: variant must be one of {_VARIANTS}, got {variant!r}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, variant=variant)
        super().__init__(params, defaults)

    def _init_state(self, p, group):
        variant = group.get("variant", "torch")
        state = {"step": _step_tensor(),
                 "square_avg": _zeros(p, 1.0 if variant == "tf1" else 0.0)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = _zeros(p)
        if group["centered"]:
            state["grad_avg"] = _zeros(p)
        return state

    def _fused_call(self, p, state, group, step):
        centered = bool(group["centered"])
        buffered = group["momentum"] > 0
        attrs = dict(centered=centered, maximize=bool(group["maximize"]),
                     variant=group.get("variant", "torch"), buffered=buffered)
        scalars = (group["lr"], group["alpha"], group["eps"], group["weight_decay"],
                   group["momentum"])
        names = ("square_avg", "grad_avg" if centered else None,
                 "momentum_buffer" if buffered else None)
        return RmspropUpdate, names, scalars, attrs

    def _update(self, K, p, g, state, group, step):
        rmsprop_update(K, p, g, state, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                       weight_decay=group["weight_decay"], momentum=group["momentum"],
                       centered=group["centered"], maximize=group["maximize"],
                       variant=group.get("variant", "torch"))
