"""``torchvision.transforms.functional``: the functions behind the transform classes.

Images are PIL images (when Pillow, the ``vision`` extra, is installed), NumPy arrays
(H, W) or (H, W, C), or tensors (..., C, H, W), as in torchvision. A PIL image is
resized by Pillow itself, which is what torchvision does; a tensor by
``yingshe.nn.functional.interpolate``. Nothing here computes beyond indexing, padding and
that call.
"""

from __future__ import annotations

import numbers

import numpy as np

import yingshe
from yingshe._tensor import Tensor
from yingshe.torch._errors import unsupported_getattr

__all__ = ["to_tensor", "pil_to_tensor", "to_pil_image", "normalize", "resize", "center_crop",
           "crop", "hflip", "vflip", "pad", "get_image_size", "get_dimensions",
           "InterpolationMode"]


class InterpolationMode:
    """``torchvision.transforms.InterpolationMode`` (the names are PIL's and torch's)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return Image


def is_pil(img) -> bool:
    Image = _pil()
    return Image is not None and isinstance(img, Image.Image)


def _check_image(img, fn: str) -> None:
    if not (isinstance(img, (Tensor, np.ndarray)) or is_pil(img)):
        raise TypeError(f"{fn}: img should be PIL Image, ndarray or Tensor. Got {type(img)}")


def get_dimensions(img) -> list[int]:
    """[channels, height, width] of an image."""
    if isinstance(img, Tensor):
        shape = tuple(img.shape)
        if len(shape) < 2:
            raise TypeError(f"Unexpected input: a tensor image needs at least 2 dims, got "
                            f"shape {shape}")
        return [1 if len(shape) == 2 else shape[-3], shape[-2], shape[-1]]
    if is_pil(img):
        return [len(img.getbands()), img.height, img.width]
    arr = np.asarray(img)
    return [1 if arr.ndim == 2 else arr.shape[2], arr.shape[0], arr.shape[1]]


def get_image_size(img) -> list[int]:
    """[width, height] of an image."""
    _, h, w = get_dimensions(img)
    return [w, h]


def to_tensor(pic) -> Tensor:
    """A PIL image or (H, W[, C]) array as a (C, H, W) tensor; uint8 data is scaled to
    [0, 1] float32, other dtypes keep their values."""
    if is_pil(pic):
        arr = np.array(pic, copy=True)
        if pic.mode == "1":
            arr = 255 * arr.astype(np.uint8)
        if arr.ndim == 2:
            arr = arr[:, :, None]
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        arr = pic[:, :, None] if pic.ndim == 2 else pic
    else:
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    if chw.dtype == np.uint8:
        return yingshe.from_numpy((chw.astype(np.float32) / np.float32(255)))
    return yingshe.from_numpy(chw)


def pil_to_tensor(pic) -> Tensor:
    """A PIL image as a (C, H, W) tensor of its own dtype (no scaling)."""
    if not is_pil(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    arr = np.array(pic, copy=True)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return yingshe.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def to_pil_image(pic, mode=None):
    """A (C, H, W) tensor or (H, W[, C]) array as a PIL image (floats are scaled by 255)."""
    Image = _pil()
    if Image is None:
        raise ImportError("to_pil_image needs Pillow: pip install 'yingshe[vision]'")
    if isinstance(pic, Tensor):
        arr = pic.detach().numpy()
        if arr.ndim == 3:
            arr = arr.transpose(1, 2, 0)
        if arr.dtype.kind == "f":
            arr = (arr * 255).astype(np.uint8)
    else:
        arr = np.asarray(pic)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(arr, mode=mode) if mode else Image.fromarray(arr)


def normalize(tensor, mean, std, inplace: bool = False) -> Tensor:
    """``(tensor - mean) / std`` per channel of a (..., C, H, W) float tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got "
                         f"tensor.size() = {tuple(tensor.shape)}")
    dt = tensor.dtype
    m = yingshe.as_tensor(np.asarray(mean, dtype=dt.np))
    s = yingshe.as_tensor(np.asarray(std, dtype=dt.np))
    if bool((s == 0).any()):
        raise ValueError(f"std evaluated to zero after conversion to {dt}, leading to "
                         "division by zero.")
    if m.ndim == 1:
        m = m.view(-1, 1, 1)
    if s.ndim == 1:
        s = s.view(-1, 1, 1)
    if inplace:
        return tensor.sub_(m).div_(s)
    return (tensor - m) / s


def _resized_size(h: int, w: int, size, max_size) -> tuple[int, int]:
    """torchvision's output size: an int (or 1-list) matches the shorter edge and keeps
    the aspect ratio (the longer edge truncated), capped by ``max_size``."""
    if isinstance(size, numbers.Integral) or (isinstance(size, (list, tuple))
                                              and len(size) == 1):
        req = int(size if isinstance(size, numbers.Integral) else size[0])
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = req, int(req * long / short)
        if max_size is not None:
            if max_size <= req:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the "
                                 f"requested size for the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)
    if max_size is not None:
        raise ValueError("max_size should only be passed if size specifies the length of "
                         "the smaller edge, i.e. size should be an int or a sequence of "
                         f"length 1 in torchscript mode, got {size}.")
    return int(size[0]), int(size[1])


_PIL_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5,
                 "lanczos": 1}


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
           antialias=True):
    """Resize to ``size`` ((h, w), or an int for the shorter edge). PIL images go through
    Pillow (as in torchvision); tensors through ``interpolate`` ("nearest", "bilinear",
    "bicubic"; antialiased downscaling of a tensor is not supported and says so)."""
    _check_image(img, "resize")
    mode = getattr(interpolation, "value", interpolation)
    _, h, w = get_dimensions(img)
    oh, ow = _resized_size(h, w, size, max_size)
    if (oh, ow) == (h, w):
        return img
    if is_pil(img):
        if mode not in _PIL_RESAMPLE:
            raise ValueError(f"resize: interpolation {mode!r} is not supported for PIL images")
        return img.resize((ow, oh), _PIL_RESAMPLE[mode])
    if isinstance(img, np.ndarray):
        raise TypeError(f"img should be PIL Image or Tensor. Got {type(img)}")
    if mode not in ("nearest", "bilinear", "bicubic"):
        raise NotImplementedError(f"torchvision.transforms.resize: interpolation {mode!r} of "
                                  "a tensor is not supported by yingshe.torchvision")
    if antialias and mode != "nearest" and (oh < h or ow < w):
        raise NotImplementedError(
            "torchvision.transforms.resize: antialiased downscaling of a tensor is not "
            "supported by yingshe.torchvision; pass antialias=False, or resize the PIL image")
    x = img
    squeeze = 0
    while x.ndim < 4:
        x = x.unsqueeze(0)
        squeeze += 1
    out_dtype = x.dtype
    if not x.is_floating_point():
        x = x.float()
    y = yingshe.nn.functional.interpolate(
        x, size=(oh, ow), mode=mode,
        align_corners=None if mode == "nearest" else False)
    if out_dtype != y.dtype:
        y = y.round().clamp(0, 255).to(out_dtype) if not out_dtype.is_floating_point \
            else y.to(out_dtype)
    for _ in range(squeeze):
        y = y.squeeze(0)
    return y


def crop(img, top: int, left: int, height: int, width: int):
    """The (height, width) window at (top, left); out-of-image parts are zero (as PIL's
    crop and torchvision's tensor crop give)."""
    _check_image(img, "crop")
    if is_pil(img):
        return img.crop((left, top, left + width, top + height))
    _, h, w = get_dimensions(img)
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        pads = [max(-left, 0), max(right - w, 0), max(-top, 0), max(bottom - h, 0)]
        img = pad(img, [pads[0], pads[2], pads[1], pads[3]])
        top, left = top + pads[2], left + pads[0]
    if isinstance(img, np.ndarray):
        return img[top:top + height, left:left + width]
    return img[..., top:top + height, left:left + width]


def center_crop(img, output_size):
    """The central (h, w) window (an int for a square); padded with zeros when the image
    is smaller, as torchvision does."""
    if isinstance(output_size, numbers.Integral):
        output_size = (int(output_size), int(output_size))
    elif isinstance(output_size, (list, tuple)) and len(output_size) == 1:
        output_size = (output_size[0], output_size[0])
    th, tw = int(output_size[0]), int(output_size[1])
    _, h, w = get_dimensions(img)
    if tw > w or th > h:
        padding = [(tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                   (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0]
        img = pad(img, padding, fill=0)
        _, h, w = get_dimensions(img)
        if (h, w) == (th, tw):
            return img
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return crop(img, top, left, th, tw)


def hflip(img):
    """The image mirrored left to right."""
    _check_image(img, "hflip")
    if is_pil(img):
        return img.transpose(0)            # PIL.Image.FLIP_LEFT_RIGHT
    if isinstance(img, np.ndarray):
        return img[:, ::-1].copy()
    return img.flip(-1)


def vflip(img):
    """The image mirrored top to bottom."""
    _check_image(img, "vflip")
    if is_pil(img):
        return img.transpose(1)            # PIL.Image.FLIP_TOP_BOTTOM
    if isinstance(img, np.ndarray):
        return img[::-1].copy()
    return img.flip(-2)


def _padding(padding) -> list[int]:
    """torchvision's padding: int, (lr, tb) or (left, top, right, bottom)."""
    if isinstance(padding, numbers.Integral):
        p = int(padding)
        return [p, p, p, p]
    if not isinstance(padding, (list, tuple)) or len(padding) not in (1, 2, 4):
        raise ValueError("Padding must be an int or a 1, 2, or 4 element tuple, not a "
                         f"{len(padding) if isinstance(padding, (list, tuple)) else padding}"
                         " element tuple")
    if len(padding) == 1:
        return [int(padding[0])] * 4
    if len(padding) == 2:
        return [int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])]
    return [int(p) for p in padding]


_NP_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
             "symmetric": "symmetric"}


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pad the borders: ``padding`` is an int, (left/right, top/bottom) or (left, top,
    right, bottom); ``padding_mode`` constant (with ``fill``), edge, reflect or symmetric."""
    _check_image(img, "pad")
    if padding_mode not in _NP_MODES:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    left, top, right, bottom = _padding(padding)
    if is_pil(img):
        arr = np.asarray(img)
        out = pad(arr, [left, top, right, bottom], fill, padding_mode)
        Image = _pil()
        return Image.fromarray(out, mode=img.mode) if img.mode in ("L", "RGB", "RGBA") \
            else Image.fromarray(out)
    if isinstance(img, np.ndarray):
        width = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
        if padding_mode == "constant":
            return np.pad(img, width, mode="constant", constant_values=fill)
        return np.pad(img, width, mode=_NP_MODES[padding_mode])
    if padding_mode == "symmetric":
        raise NotImplementedError("torchvision.transforms.pad: padding_mode='symmetric' of a "
                                  "tensor is not supported by yingshe.torchvision")
    mode = {"edge": "replicate"}.get(padding_mode, padding_mode)
    x = img
    squeeze = 0
    if mode != "constant":
        while x.ndim < 4:
            x = x.unsqueeze(0)
            squeeze += 1
    y = yingshe.nn.functional.pad(x, (left, right, top, bottom), mode=mode,
                                  value=float(fill) if mode == "constant" else None)
    for _ in range(squeeze):
        y = y.squeeze(0)
    return y


__getattr__ = unsupported_getattr(__name__)
