"""``torch.optim`` on yingshe: the core's optimizers (``yingshe.optim``), same formulas,
defaults and ``state_dict`` layout as PyTorch."""

from __future__ import annotations

import yingshe.optim as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

__all__ = _reexport(globals(), _core, [n for n in _core.__all__ if n != "lr_scheduler"])

from yingshe.torch.optim import lr_scheduler  # noqa: E402

__all__ = sorted(__all__ + ["lr_scheduler"])
__getattr__ = unsupported_getattr(__name__)
