"""``torch.optim.lr_scheduler`` on yingshe: the core's schedulers
(``yingshe.optim.lr_scheduler``)."""

from __future__ import annotations

import yingshe.optim.lr_scheduler as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

__all__ = sorted(_reexport(globals(), _core, list(_core.__all__)))
__getattr__ = unsupported_getattr(__name__)
