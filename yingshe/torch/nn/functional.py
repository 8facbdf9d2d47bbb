"""``torch.nn.functional`` on yingshe: the core's functional API (``yingshe.nn.functional``,
the op registry's public functions under PyTorch's names)."""

from __future__ import annotations

import yingshe.nn.functional as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

__all__ = sorted(_reexport(globals(), _core, list(_core.__all__)))
__getattr__ = unsupported_getattr(__name__)
