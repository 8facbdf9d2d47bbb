"""``yingshe.torchvision``: torchvision's datasets, transforms and utils on yingshe.

    import torchvision                          ->  import yingshe.torchvision as torchvision
    import torchvision.transforms as transforms ->  import yingshe.torchvision.transforms as transforms
    from torchvision import datasets            ->  from yingshe.torchvision import datasets

A front-end: names and rules only (PyTorch's runner renames these imports too). The
datasets read the standard files (``yingshe.datasets.files`` decodes them); images are
PIL images when Pillow, the ``vision`` extra, is installed. A torchvision name that is
not here (``torchvision.models``, ``torchvision.ops``...) raises an error naming it.
"""

from __future__ import annotations

from yingshe.torch._errors import unsupported_getattr
from yingshe.torchvision import datasets, transforms, utils  # noqa: F401

__version__ = "0.28.0+yingshe"
__all__ = ["datasets", "transforms", "utils"]

__getattr__ = unsupported_getattr(__name__)
