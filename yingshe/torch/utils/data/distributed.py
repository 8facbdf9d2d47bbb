"""``torch.utils.data.distributed`` on yingshe: ``DistributedSampler`` (PyTorch's
partitioning; shuffled orders come from yingshe's generator)."""

from __future__ import annotations

from yingshe.torch._errors import unsupported_getattr
from yingshe.utils.data.distributed import DistributedSampler  # noqa: F401

__all__ = ["DistributedSampler"]
__getattr__ = unsupported_getattr(__name__)
