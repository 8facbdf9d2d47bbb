"""The IDX file format of MNIST (and friends): read, write, and a Dataset over a pair.

Format: two zero bytes, a type code, the number of dimensions, then each dimension
as a big-endian uint32, then the data big-endian. Files may be gzip-compressed
(``.gz``). Malformed files raise ``ValueError`` naming what is wrong.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

__all__ = ["read_idx", "write_idx", "IDXDataset"]

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
          np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def _open(path, mode):
    return gzip.open(path, mode) if os.fspath(path).endswith(".gz") else open(path, mode)


def read_idx(path) -> np.ndarray:
    """Read an IDX file into a NumPy array (native byte order)."""
    with _open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise ValueError(f"read_idx: {path} has unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} is truncated (header)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dt = np.dtype(_TYPES[code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if len(raw) != expected:
        raise ValueError(f"read_idx: {path} has {len(raw)} bytes; shape {shape} of {dt} "
                         f"needs {expected}")
    arr = np.frombuffer(raw, dtype=dt, offset=header).reshape(shape)
    return arr.astype(dt.newbyteorder("="), copy=True)


def write_idx(path, array) -> None:
    """Write a NumPy array as an IDX file (gzip-compressed if the name ends in .gz)."""
    arr = np.asarray(array)
    code = _CODES.get(arr.dtype)
    if code is None:
        raise TypeError(f"write_idx: dtype {arr.dtype} has no IDX type code")
    header = bytes([0, 0, code, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape)
    big = arr.astype(arr.dtype.newbyteorder(">"), copy=False)
    with _open(path, "wb") as fh:
        fh.write(header)
        fh.write(big.tobytes())


class IDXDataset:
    """(image, label) pairs from an images IDX file and a labels IDX file.

    Images are returned as float32 tensors of shape (1, H, W) scaled to [0, 1] (or
    the raw uint8 with ``raw=True``); labels as int64.
    """

    def __init__(self, images_path, labels_path, *, raw: bool = False, transform=None) -> None:
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"IDXDataset: {images.shape[0]} images but {labels.shape[0]} labels")
        self.images = images
        self.labels = labels.astype(np.int64)
        self.raw = raw
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def _image(self, idx):
        img = self.images[idx]
        if not self.raw:
            img = img.astype(np.float32) / np.float32(255.0)
        if img.ndim == 2:
            img = img[None]
        elif img.ndim == 3 and np.ndim(idx) == 1:
            img = img[:, None]
        return img

    def __getitem__(self, idx):
        from yingshe._tensor import _wrap
        img = _wrap(np.ascontiguousarray(self._image(idx)))
        if self.transform is not None:
            img = self.transform(img)
        return img, _wrap(np.asarray(self.labels[idx]))

    def __getitems__(self, indices):
        return [self[i] for i in indices]

    def _batch(self, indices):
        from yingshe._tensor import _wrap
        idx = np.asarray(indices, dtype=np.int64)
        return _wrap(np.ascontiguousarray(self._image(idx))), _wrap(self.labels[idx])
