"""``torch.nn.parallel`` on yingshe: ``DistributedDataParallel`` (the core's class,
``yingshe.nn.parallel``: bucketed all-reduces over MPI during backward)."""

from __future__ import annotations

from yingshe.nn.parallel import DistributedDataParallel  # noqa: F401
from yingshe.torch._errors import unsupported_getattr

__all__ = ["DistributedDataParallel"]
__getattr__ = unsupported_getattr(__name__)
