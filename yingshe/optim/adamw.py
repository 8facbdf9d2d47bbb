"""AdamW: Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` before
the Adam update), PyTorch's ``torch.optim.AdamW``; default ``weight_decay=1e-2``.
Keras' ``keras.optimizers.AdamW`` is ``variant="tf"`` (see ``yingshe.optim.adam``)."""

from __future__ import annotations

from yingshe.optim.adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    """PyTorch's ``torch.optim.AdamW`` (the maths is ``adam_update``'s)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None, variant="torch"):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True, variant=variant)
