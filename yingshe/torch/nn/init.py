"""``torch.nn.init`` on yingshe: the core's initialisers (``yingshe.nn.init``), which draw
from yingshe's generator (``torch.manual_seed`` seeds it)."""

from __future__ import annotations

import yingshe.nn.init as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

__all__ = sorted(_reexport(globals(), _core, list(_core.__all__)))
__getattr__ = unsupported_getattr(__name__)
