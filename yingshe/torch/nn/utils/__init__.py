"""``torch.nn.utils`` on yingshe: gradient clipping from the core (``yingshe.nn.utils``)
and ``rnn`` (packed and padded sequences)."""

from __future__ import annotations

import yingshe.nn.utils as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

__all__ = sorted(_reexport(globals(), _core, (
    "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
    "parameters_to_vector", "vector_to_parameters",
)))
from yingshe.torch.nn.utils import rnn  # noqa: E402

__all__ = sorted(__all__ + ["rnn"])
__getattr__ = unsupported_getattr(__name__)
