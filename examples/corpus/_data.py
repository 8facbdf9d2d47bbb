"""The corpus programs' data: files in the formats they download, built from bundled data.

The programs download MNIST, Fashion-MNIST, CIFAR-10, the Penn Treebank text or text8. Here
nothing is downloaded: each file is written in the original format, from data that ships
inside scikit-learn, at the place where the program (or its library) looks for it:

- images: scikit-learn's 1,797 hand-written digits (8x8, values 0..16), scaled to 0..255
  and enlarged 3x (24x24, centred in 28x28, as MNIST centres its digits in a 20x20 box)
  for MNIST and Fashion-MNIST, 4x and tinted in three channels (32x32x3) for CIFAR-10.
  The first 1,500 are the training set, the other 297 the test set; labels are the digits.
- text: the descriptions of scikit-learn's bundled datasets (English prose, ~47 kB).

Formats, as the libraries read them:

- ``torchvision-mnist ROOT``: ``ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
  (IDX, and the ``.gz`` copies a download leaves);
- ``torchvision-fashion ROOT``: the same under ``ROOT/FashionMNIST/raw``;
- ``torchvision-cifar10 ROOT``: ``ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,
  batches.meta}``, CIFAR-10's Python version (pickled dicts of bytes/lists/NumPy arrays,
  written here with protocol 2 as the original; readers must restrict what they unpickle);
- ``keras-mnist``: ``$KERAS_HOME/datasets/mnist.npz``; ``keras-fashion``:
  ``$KERAS_HOME/datasets/fashion-mnist/*.gz``; ``keras-cifar10``:
  ``$KERAS_HOME/datasets/cifar-10-batches-py-target/cifar-10-batches-py/`` (what Keras 3
  extracts to);
- ``text ROOT/NAME``: a plain text file of the descriptions, one sentence a line.

The original files carry hashes that these do not match; the corpus runner bypasses the
reference libraries' hash checks (see ``run.py``). yingshe's readers check no hashes.
"""

from __future__ import annotations

import os
import pickle  # noqa: S403 - only to *write* CIFAR-10's original format for the reference
import re

import numpy as np

N_TRAIN = 1500


def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    return images, d.target.astype(np.uint8)


def mnist_arrays():
    """(x_train, y_train), (x_test, y_test): uint8 (N, 28, 28) images and uint8 labels."""
    images, labels = _digits()
    big = np.kron(images, np.ones((3, 3), np.uint8))          # 24x24
    x = np.zeros((len(images), 28, 28), np.uint8)
    x[:, 2:26, 2:26] = big
    return (x[:N_TRAIN], labels[:N_TRAIN]), (x[N_TRAIN:], labels[N_TRAIN:])


def cifar_arrays():
    """(x_train, y_train), (x_test, y_test): uint8 (N, 32, 32, 3) images, int labels."""
    images, labels = _digits()
    big = np.kron(images, np.ones((4, 4), np.uint8)).astype(np.float32)   # 32x32
    rng = np.random.default_rng(0)
    tint = rng.uniform(0.4, 1.0, size=(len(images), 1, 1, 3)).astype(np.float32)
    x = np.clip(big[..., None] * tint + 20, 0, 255).astype(np.uint8)
    return (x[:N_TRAIN], labels[:N_TRAIN]), (x[N_TRAIN:], labels[N_TRAIN:])


def _write_idx(path, arr, gz=False):
    from yingshe.datasets.idx import write_idx
    write_idx(path + (".gz" if gz else ""), arr)


def _idx_set(folder, gz_only=False):
    os.makedirs(folder, exist_ok=True)
    (xtr, ytr), (xte, yte) = mnist_arrays()
    for name, arr in (("train-images-idx3-ubyte", xtr), ("train-labels-idx1-ubyte", ytr),
                      ("t10k-images-idx3-ubyte", xte), ("t10k-labels-idx1-ubyte", yte)):
        path = os.path.join(folder, name)
        if not gz_only:
            _write_idx(path, arr)
        _write_idx(path, arr, gz=True)


def _cifar_py(folder, keys=str):
    """The original batches are Python 2 pickles whose text keys torchvision reads as
    ``str`` (encoding="latin1") and Keras as ``bytes`` (encoding="bytes"); Python 3 cannot
    write such keys, so each library gets its own kind (``keys``: str or bytes). Protocol 3
    stores the NumPy arrays as raw bytes."""
    os.makedirs(folder, exist_ok=True)
    (xtr, ytr), (xte, yte) = cifar_arrays()

    def key(k):
        return k.encode() if keys is bytes else k

    def dump(name, x, y):
        batch = {key("batch_label"): name, key("labels"): [int(v) for v in y],
                 key("data"): np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(len(x),
                                                                                    -1),
                 key("filenames"): [f"img_{i}.png" for i in range(len(x))]}
        with open(os.path.join(folder, name), "wb") as fh:
            pickle.dump(batch, fh, protocol=3)

    for i, part in enumerate(np.array_split(np.arange(len(xtr)), 5), 1):
        dump(f"data_batch_{i}", xtr[part], ytr[part])
    dump("test_batch", xte, yte)
    meta = {key("label_names"): ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                 "frog", "horse", "ship", "truck"],
            key("num_cases_per_batch"): len(xtr) // 5, key("num_vis"): 3072}
    with open(os.path.join(folder, "batches.meta"), "wb") as fh:
        pickle.dump(meta, fh, protocol=3)


def text() -> str:
    """Bundled English prose: scikit-learn's dataset descriptions, one sentence a line."""
    import sklearn
    folder = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "descr")
    words = []
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".rst")):
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            words += re.findall(r"[a-z]+|[.]", fh.read().lower())
    lines, cur = [], []
    for w in words:
        if w == ".":
            if cur:
                lines.append(" ".join(cur))
            cur = []
        else:
            cur.append(w)
    return "\n".join(lines) + "\n"


def build(kind: str, where: str, keras_home: str) -> None:
    """Write data set ``kind`` at ``where`` (a folder relative to the program's working
    folder, or a file for ``text``); Keras' caches go under ``keras_home``."""
    if kind == "torchvision-mnist":
        _idx_set(os.path.join(where, "MNIST", "raw"))
    elif kind == "torchvision-fashion":
        _idx_set(os.path.join(where, "FashionMNIST", "raw"))
    elif kind == "torchvision-cifar10":
        _cifar_py(os.path.join(where, "cifar-10-batches-py"))
    elif kind == "keras-mnist":
        os.makedirs(os.path.join(keras_home, "datasets"), exist_ok=True)
        (xtr, ytr), (xte, yte) = mnist_arrays()
        np.savez_compressed(os.path.join(keras_home, "datasets", "mnist.npz"),
                            x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    elif kind == "keras-fashion":
        _idx_set(os.path.join(keras_home, "datasets", "fashion-mnist"), gz_only=True)
    elif kind == "keras-cifar10":
        _cifar_py(os.path.join(keras_home, "datasets", "cifar-10-batches-py-target",
                               "cifar-10-batches-py"), keys=bytes)
    elif kind == "text":
        os.makedirs(os.path.dirname(where) or ".", exist_ok=True)
        with open(where, "w", encoding="utf-8") as fh:
            fh.write(text())
    else:
        raise ValueError(f"unknown corpus data kind {kind!r}")


__all__ = ["build", "mnist_arrays", "cifar_arrays", "text"]
