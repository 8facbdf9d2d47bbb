"""``torch.utils.data`` on yingshe: the core's datasets, samplers and ``DataLoader``
(``yingshe.utils.data``); shuffling draws from yingshe's generator."""

from __future__ import annotations

import yingshe.utils.data as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

__all__ = sorted(_reexport(globals(), _core, list(_core.__all__)))
from yingshe.torch.utils.data import distributed  # noqa: E402,F401
__all__ += ["distributed"]
__getattr__ = unsupported_getattr(__name__)
