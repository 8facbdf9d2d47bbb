"""``torch.cuda`` on yingshe: no GPU backend exists yet, so CUDA is never available.

Seeding calls (``manual_seed``, ``manual_seed_all``, ``seed``, ``seed_all``) do nothing,
as in a CPU-only PyTorch build; ``device_count()`` is 0. Everything else raises.
"""

from __future__ import annotations

from yingshe.torch._errors import unsupported_getattr


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def manual_seed(seed) -> None:
    """No CUDA generator exists; like PyTorch without a GPU this does nothing."""


def manual_seed_all(seed) -> None:
    """No CUDA generator exists; like PyTorch without a GPU this does nothing."""


def seed() -> None:
    """No CUDA generator exists; does nothing."""


def seed_all() -> None:
    """No CUDA generator exists; does nothing."""


from yingshe.torch._legacy import CUDA_TYPES as _CUDA_TYPES  # noqa: E402

# torch.cuda.FloatTensor and friends exist (programs test isinstance or pick a type by
# cuda.is_available()); building one says there is no CUDA.
globals().update(_CUDA_TYPES)

__all__ = ["is_available", "device_count", "is_initialized", "manual_seed", "manual_seed_all",
           "seed", "seed_all"] + sorted(_CUDA_TYPES)
__getattr__ = unsupported_getattr(__name__)
