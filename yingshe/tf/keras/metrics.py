"""``tf.keras.metrics``: running means over the samples of an epoch (Keras' rule: each
batch weighted by its size)."""

from __future__ import annotations

import numpy as np

from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["Metric", "Mean", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "get",
           "categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy"]


def _np(x):
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


class Metric:
    def __init__(self, name=None, dtype=None):
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self):
        self._total = 0.0
        self._count = 0.0

    def _add(self, values):
        v = np.asarray(values, dtype=np.float64).ravel()
        self._total += float(v.sum())
        self._count += v.size

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError(f"{type(self).__name__}.update_state(sample_weight=...) "
                                      "is not implemented by yingshe.tf.keras")
        self._add(self._values(_np(y_true), _np(y_pred)))

    def result(self):
        from yingshe.tf._ops import constant
        return constant(np.float32(self._total / self._count if self._count else 0.0))

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()


class Mean(Metric):
    def update_state(self, values, sample_weight=None):
        v = _np(values).astype(np.float64)
        if sample_weight is None:
            self._add(v)
        else:
            w = np.broadcast_to(_np(sample_weight).astype(np.float64), v.shape)
            self._total += float((v * w).sum())
            self._count += float(w.sum())


def _squeeze_pair(t, p):
    if t.ndim == p.ndim + 1 and t.shape[-1] == 1:
        t = t[..., 0]
    elif p.ndim == t.ndim + 1 and p.shape[-1] == 1:
        p = p[..., 0]
    return t, p


class Accuracy(Metric):
    def _values(self, t, p):
        t, p = _squeeze_pair(t, p)
        return t == p


class BinaryAccuracy(Metric):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name, dtype)

    def _values(self, t, p):
        t, p = _squeeze_pair(t, p)
        return t == (p > self.threshold).astype(t.dtype)


class CategoricalAccuracy(Metric):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def _values(self, t, p):
        return np.argmax(t, -1) == np.argmax(p, -1)


class SparseCategoricalAccuracy(Metric):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def _values(self, t, p):
        if t.ndim == p.ndim and t.shape[-1] == 1:
            t = t[..., 0]
        return t.astype(np.int64) == np.argmax(p, -1)


def _per_sample(values) -> "object":
    from yingshe.tf._core import constant_from_array
    return constant_from_array(np.asarray(values, dtype=np.float32))


def categorical_accuracy(y_true, y_pred):
    """Per sample: 1.0 where argmax(y_true) == argmax(y_pred), else 0.0 (float32)."""
    return _per_sample(CategoricalAccuracy._values(None, _np(y_true), _np(y_pred)))


def sparse_categorical_accuracy(y_true, y_pred):
    """Per sample: 1.0 where the integer label equals argmax(y_pred) (float32)."""
    return _per_sample(SparseCategoricalAccuracy._values(None, _np(y_true), _np(y_pred)))


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Elementwise: 1.0 where (y_pred > threshold) == y_true (float32)."""
    t, p = _np(y_true), _np(y_pred)
    return _per_sample((t == (p > threshold).astype(t.dtype)).astype(np.float32))


class MeanSquaredError(Metric):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def _values(self, t, p):
        t, p = _squeeze_pair(t, p)
        return np.mean((p.astype(np.float64) - t) ** 2, -1)


class MeanAbsoluteError(Metric):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name, dtype)

    def _values(self, t, p):
        t, p = _squeeze_pair(t, p)
        return np.mean(np.abs(p.astype(np.float64) - t), -1)


_BY_NAME = {"binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
            "sparse_categorical_accuracy": SparseCategoricalAccuracy,
            "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
            "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError}


def get(identifier, y_true_shape=None, y_pred_shape=None, loss=None):
    """A metric from a name (``'accuracy'`` picks binary, sparse categorical or
    categorical accuracy from the shapes, as Keras does) or a ``Metric``."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            tr, pr = len(y_true_shape), len(y_pred_shape)
            if y_pred_shape[-1] == 1:
                m = BinaryAccuracy()
            elif tr < pr or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
                m = SparseCategoricalAccuracy()
            else:
                m = CategoricalAccuracy()
            m.name = identifier
            return m
        if identifier in _BY_NAME:
            m = _BY_NAME[identifier]()
            m.name = identifier
            return m
    raise ValueError(f"Could not interpret metric identifier: {identifier!r} "
                     f"(yingshe.tf.keras knows: accuracy, {', '.join(sorted(_BY_NAME))})")


__getattr__ = unsupported_getattr(__name__)
