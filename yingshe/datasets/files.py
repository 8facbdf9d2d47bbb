"""Readers (and the download step) of the standard image datasets' files: MNIST and
Fashion-MNIST (IDX), CIFAR-10 (its "python version": pickled batches), Keras' caches.

These are the core's data-decoding helpers; ``yingshe.torchvision.datasets`` and
``yingshe.tf.keras.datasets`` give them their libraries' names and rules.

CIFAR-10's python version is a pickle. yingshe never runs arbitrary pickles: batches are
read by :func:`safe_unpickle`, which accepts only plain data (dicts, lists, strings,
bytes, numbers) and NumPy arrays (``numpy._core.multiarray._reconstruct``,
``numpy.ndarray``, ``numpy.dtype``, and their NumPy 1 names); any other global in the
stream raises ``pickle.UnpicklingError`` before it is looked up, so a file cannot run code.

Downloads (:func:`download`) try each mirror in turn, check the MD5 of what arrived, and
raise ``RuntimeError`` naming the files that were expected and where, when no mirror can
be reached (no network). No hash is checked on files already present: the tests and the
corpus build small files in the same formats.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle  # noqa: S403 - restricted below: no global outside the allow-list is loaded
import shutil
import tarfile
import urllib.error
import urllib.request

import numpy as np

from yingshe.datasets.idx import read_idx

__all__ = ["safe_unpickle", "read_cifar_batch", "read_cifar10", "read_mnist", "download",
           "MNIST_FILES", "CIFAR10_BATCHES"]

MNIST_FILES = {  # split -> (images file, labels file), uncompressed names
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

# (module, name) pairs a CIFAR batch may reference: NumPy's array reconstruction only.
_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from a data file: yingshe reads only "
                "plain data and NumPy arrays from pickles (nothing that can run code)")
        import numpy
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct
            return _reconstruct
        if name == "scalar":
            from numpy._core.multiarray import scalar
            return scalar
        return getattr(numpy, name)


def safe_unpickle(data: bytes, encoding: str = "latin1"):
    """Unpickle ``data`` allowing only plain data and NumPy arrays (see the module
    docstring). ``encoding`` decodes Python 2 strings, as in ``pickle.load``."""
    return _RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()


def _text_keys(d: dict) -> dict:
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def read_cifar_batch(path: str) -> dict:
    """One batch file of CIFAR-10's python version: a dict with ``data`` (N, 3072) uint8,
    ``labels`` (ints) and the other entries, keys as text whether the file has Python 2
    strings, text or bytes keys."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        d = safe_unpickle(raw)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ValueError(f"read_cifar_batch: {path} is not a CIFAR-10 batch ({err})") from None
    if not isinstance(d, dict):
        raise ValueError(f"read_cifar_batch: {path} holds a {type(d).__name__}, not a dict")
    return _text_keys(d)


def read_cifar10(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's ``split`` ("train" or "test") from ``folder`` (``cifar-10-batches-py``):
    images (N, 32, 32, 3) uint8 and labels (N,) int64."""
    images, labels = [], []
    for name in CIFAR10_BATCHES[split]:
        entry = read_cifar_batch(os.path.join(folder, name))
        data = np.asarray(entry["data"], dtype=np.uint8)
        images.append(data.reshape(-1, 3, 32, 32))
        labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
    x = np.ascontiguousarray(np.vstack(images).transpose(0, 2, 3, 1))
    return x, np.asarray(labels, dtype=np.int64)


def cifar10_classes(folder: str) -> list[str]:
    """The class names of ``batches.meta`` in ``folder``."""
    meta = read_cifar_batch(os.path.join(folder, "batches.meta"))
    return [n.decode() if isinstance(n, bytes) else n for n in meta["label_names"]]


def read_mnist(folder: str, split: str, gz: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-format ``split`` from ``folder``: images (N, 28, 28) uint8, labels (N,) uint8
    (``gz``: the ``.gz`` files)."""
    suffix = ".gz" if gz else ""
    img, lab = (os.path.join(folder, f + suffix) for f in MNIST_FILES[split])
    x, y = read_idx(img), read_idx(lab)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"read_mnist: {img} and {lab} hold shapes {x.shape} and {y.shape}; "
                         "expected (N, rows, cols) images and (N,) labels")
    return x, y


def _md5(path: str) -> str:
    h = hashlib.md5()  # noqa: S324 - an integrity check of a public file, not security
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(urls: list[str], dest: str, md5: str | None, expected: str,
             timeout: float = 30.0) -> str:
    """Fetch ``dest`` from the first of ``urls`` that answers, check its MD5, and return
    its path. When none answers, raise ``RuntimeError`` that names ``expected`` (the files
    the caller looks for, and where) so the user can put them there by hand."""
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    errors = []
    for url in urls:
        tmp = dest + ".part"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError, ValueError) as err:
            errors.append(f"{url}: {err}")
            if os.path.exists(tmp):
                os.remove(tmp)
            continue
        if md5 is not None and _md5(tmp) != md5:
            os.remove(tmp)
            errors.append(f"{url}: the file's MD5 is not {md5}")
            continue
        os.replace(tmp, dest)
        return dest
    raise RuntimeError(
        f"could not download {os.path.basename(dest)} ({'; '.join(errors)}). Without a "
        f"network, put the dataset's files there yourself: {expected}")


def gunzip(path: str, dest: str) -> None:
    with gzip.open(path, "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)


def extract_tar(path: str, folder: str) -> None:
    """Extract a .tar.gz archive, refusing members that would land outside ``folder``."""
    with tarfile.open(path, "r:*") as tar:
        tar.extractall(folder, filter="data")
