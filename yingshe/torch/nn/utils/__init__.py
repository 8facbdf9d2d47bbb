"""``torch.nn.utils`` on yingshe: gradient clipping from the core (``yingshe.nn.utils``)."""

from __future__ import annotations

import yingshe.nn.utils as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

__all__ = sorted(_reexport(globals(), _core, (
    "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
    "parameters_to_vector", "vector_to_parameters",
)))
__getattr__ = unsupported_getattr(__name__)
