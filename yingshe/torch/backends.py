"""``torch.backends`` on yingshe: the flags that seeding/reproducibility code sets.

``torch.backends.cudnn.deterministic = True`` and ``.benchmark = False`` are accepted and
recorded (there is no cuDNN: yingshe is deterministic on the CPU); ``cudnn.is_available()``
and ``mps.is_available()`` are False.
"""

from __future__ import annotations

from yingshe.torch._errors import unsupported_getattr


class _Flags:
    def __init__(self, public: str, **flags) -> None:
        self.__dict__.update(flags)
        self._public = public

    def is_available(self) -> bool:
        return False

    def __getattr__(self, name: str):
        raise AttributeError(f"{self._public}.{name} is not supported by yingshe.torch yet; "
                             "see docs/torch_supported.md for the supported names")


cudnn = _Flags("torch.backends.cudnn", enabled=True, deterministic=False, benchmark=False,
               allow_tf32=True)
mps = _Flags("torch.backends.mps")

__all__ = ["cudnn", "mps"]
__getattr__ = unsupported_getattr(__name__)
