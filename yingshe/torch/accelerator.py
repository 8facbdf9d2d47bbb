"""``torch.accelerator`` on yingshe: no accelerator backend exists, so none is ever
available (as in a CPU-only PyTorch build). The Learn-the-Basics idiom
``torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else
"cpu"`` therefore picks ``"cpu"``. Calls that need a device raise PyTorch's
``RuntimeError``.
"""

from __future__ import annotations

from yingshe.torch._errors import unsupported_getattr

_NONE = "Cannot access accelerator device when none is available."


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def current_accelerator(check_available: bool = False):
    """The accelerator device type, or None: there is none."""
    return None


def current_device_index() -> int:
    raise RuntimeError(_NONE)


current_device_idx = current_device_index


def set_device_index(device) -> None:
    raise RuntimeError(_NONE)


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    raise RuntimeError(_NONE)


__all__ = ["is_available", "device_count", "current_accelerator", "current_device_index",
           "current_device_idx", "set_device_index", "set_device_idx", "synchronize"]
__getattr__ = unsupported_getattr(__name__)
