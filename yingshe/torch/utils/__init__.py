"""``torch.utils`` on yingshe: only ``torch.utils.data`` so far."""

from __future__ import annotations

from yingshe.torch._errors import unsupported_getattr
from yingshe.torch.utils import data  # noqa: F401

__all__ = ["data"]
__getattr__ = unsupported_getattr(__name__)
