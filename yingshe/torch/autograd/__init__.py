"""``torch.autograd`` on yingshe: the core's tape autograd (``yingshe.autograd``):
``grad``, ``backward``, ``Function`` (with ``ctx.save_for_backward``), grad modes.
``create_graph=True`` gives higher-order derivatives."""

from __future__ import annotations

import yingshe.autograd as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

__all__ = sorted(_reexport(globals(), _core, (
    "grad", "backward", "Function", "no_grad", "enable_grad", "set_grad_enabled",
    "inference_mode", "detect_anomaly", "set_detect_anomaly",
)))
from yingshe.torch._legacy import Variable  # noqa: E402  (PyTorch < 0.4's wrapper: a no-op)

__all__ = sorted(__all__ + ["Variable"])
__getattr__ = unsupported_getattr(__name__)
