"""Real datasets that ship inside scikit-learn (no download), and an IDX reader.

Each loader returns ``(X_train, y_train), (X_test, y_test)`` as tensors: float32
features, int64 class labels (float32 targets for regression), from a seeded
80/20 split, stratified for classification. scikit-learn is an optional
dependency (``pip install yingshe[datasets]``).
"""

from __future__ import annotations

import numpy as np

from yingshe.datasets.idx import IDXDataset, read_idx, write_idx  # noqa: F401

__all__ = ["iris", "digits", "wine", "breast_cancer", "diabetes", "load", "NAMES",
           "read_idx", "write_idx", "IDXDataset"]

NAMES = ("iris", "digits", "wine", "breast_cancer", "diabetes")
_CLASSIFICATION = {"iris", "digits", "wine", "breast_cancer"}


def _sklearn():
    try:
        import sklearn.datasets as skd
        from sklearn.model_selection import train_test_split
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "yingshe.datasets needs scikit-learn: pip install 'yingshe[datasets]'"
        ) from err
    return skd, train_test_split


def load(name: str, *, test_size: float = 0.2, seed: int = 0, as_numpy: bool = False):
    """Load a bundled dataset by name; see the module docstring for the format."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(NAMES)}")
    skd, split = _sklearn()
    X, y = getattr(skd, f"load_{name}")(return_X_y=True)
    X = np.asarray(X, dtype=np.float32)
    classification = name in _CLASSIFICATION
    y = np.asarray(y, dtype=np.int64 if classification else np.float32)
    X_tr, X_te, y_tr, y_te = split(X, y, test_size=test_size, random_state=seed,
                                   stratify=y if classification else None)
    if as_numpy:
        return (X_tr, y_tr), (X_te, y_te)
    from yingshe._creation import from_numpy
    return ((from_numpy(np.ascontiguousarray(X_tr)), from_numpy(np.ascontiguousarray(y_tr))),
            (from_numpy(np.ascontiguousarray(X_te)), from_numpy(np.ascontiguousarray(y_te))))


def iris(**kw):
    """Iris: 150 flowers, 4 features, 3 classes."""
    return load("iris", **kw)


def digits(**kw):
    """Digits: 1,797 8x8 grey images (64 features in [0, 16]), 10 classes."""
    return load("digits", **kw)


def wine(**kw):
    """Wine: 178 samples, 13 features, 3 classes."""
    return load("wine", **kw)


def breast_cancer(**kw):
    """Breast cancer Wisconsin: 569 samples, 30 features, 2 classes."""
    return load("breast_cancer", **kw)


def diabetes(**kw):
    """Diabetes: 442 patients, 10 (already centred and scaled) features, a regression target."""
    return load("diabetes", **kw)
