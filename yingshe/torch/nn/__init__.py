"""``torch.nn`` on yingshe: the core's modules (``yingshe.nn``) under PyTorch's path.

``nn.Module``, ``nn.Parameter`` and every layer are the core's classes themselves, so
subclassing, ``isinstance`` and ``state_dict`` keys are exactly the core's (which follow
PyTorch). ``functional``, ``init`` and ``utils`` are this package's submodules.
"""

from __future__ import annotations

import yingshe.nn as _core
from yingshe.torch._export import reexport as _reexport
from yingshe.torch._errors import unsupported_getattr

# yingshe.nn has no __all__: its public classes are the layers, containers and losses.
# RemovableHandle lives in torch.utils.hooks and NonDynamicallyQuantizableLinear in
# torch.nn.modules.linear, not in torch.nn.
_names = [n for n in dir(_core)
          if not n.startswith("_") and isinstance(getattr(_core, n), type)
          and n not in ("RemovableHandle", "NonDynamicallyQuantizableLinear")]
__all__ = _reexport(globals(), _core, _names)

from yingshe.torch.nn import functional, init, utils  # noqa: E402

__all__ += ["functional", "init", "utils"]
from yingshe.torch.nn import parallel  # noqa: E402
__all__ += ["parallel"]
__all__ = sorted(set(__all__))
del _names
__getattr__ = unsupported_getattr(__name__)
