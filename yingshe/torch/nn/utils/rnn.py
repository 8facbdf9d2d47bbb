"""``torch.nn.utils.rnn`` on yingshe: packed and padded sequences (``yingshe.nn.utils.rnn``)."""

from __future__ import annotations

import yingshe.nn.utils.rnn as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

__all__ = sorted(_reexport(globals(), _core, _core.__all__))
__getattr__ = unsupported_getattr(__name__)
