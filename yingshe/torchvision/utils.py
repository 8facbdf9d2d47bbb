"""``torchvision.utils``: ``make_grid`` (a batch of images laid out in one image) and
``save_image`` (that image written to a file with Pillow, the ``vision`` extra).

The grid is layout, not maths: it is assembled from the images' values (detached, as
torchvision's in-place copies are), with torchvision's rules for single-channel images,
``normalize``, ``value_range``, ``scale_each``, ``padding`` and ``pad_value``.
"""

from __future__ import annotations

import math

import numpy as np

import yingshe
from yingshe._tensor import Tensor
from yingshe.torch._errors import unsupported_getattr

__all__ = ["make_grid", "save_image"]


def _normalized(arr: np.ndarray, value_range, scale_each: bool) -> np.ndarray:
    def norm(a):
        low, high = (value_range if value_range is not None
                     else (float(a.min()), float(a.max())))
        a = np.clip(a, low, high)
        return (a - np.asarray(low, a.dtype)) / np.asarray(max(high - low, 1e-5), a.dtype)

    if scale_each:
        return np.stack([norm(a) for a in arr])
    return norm(arr)


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range=None, scale_each: bool = False, pad_value: float = 0.0) -> Tensor:
    """Images (B, C, H, W) (or a list of (C, H, W)) in a grid of ``nrow`` per row, as one
    (C', H', W') tensor; one-channel images become three-channel."""
    if isinstance(tensor, list):
        for t in tensor:
            if not isinstance(t, Tensor):
                raise TypeError(f"tensor or list of tensors expected, got a list containing "
                                f"{type(t)}")
        tensor = yingshe.stack(tensor, 0)
    elif not isinstance(tensor, Tensor):
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    arr = tensor.detach().numpy()
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 3:
        if arr.shape[0] == 1:
            arr = np.concatenate([arr] * 3, 0)
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = np.concatenate([arr] * 3, 1)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and "
                            "max are numbers")
        arr = _normalized(arr, value_range, scale_each).astype(arr.dtype, copy=False)
    if arr.shape[0] == 1:
        return yingshe.from_numpy(np.ascontiguousarray(arr[0]))
    nmaps = arr.shape[0]
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = arr.shape[2] + padding, arr.shape[3] + padding
    grid = np.full((arr.shape[1], height * ymaps + padding, width * xmaps + padding),
                   pad_value, dtype=arr.dtype)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid[:, y * height + padding:(y + 1) * height,
                 x * width + padding:(x + 1) * width] = arr[k]
            k += 1
    return yingshe.from_numpy(grid)


def save_image(tensor, fp, format=None, **kwargs) -> None:  # noqa: A002 - torchvision's name
    """``make_grid(tensor, **kwargs)`` written as an 8-bit image file (``fp``: a path or a
    binary file object; ``format`` as Pillow's)."""
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("save_image writes images with Pillow: pip install "
                          "'yingshe[vision]'") from err
    grid = make_grid(tensor, **kwargs).numpy()
    # torchvision's rounding: mul(255).add_(0.5).clamp_(0, 255) then truncation to uint8
    ndarr = np.clip(grid * 255 + 0.5, 0, 255).transpose(1, 2, 0).astype(np.uint8)
    Image.fromarray(ndarr).save(fp, format=format)


__getattr__ = unsupported_getattr(__name__)
