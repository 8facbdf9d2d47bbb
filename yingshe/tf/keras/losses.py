"""``tf.keras.losses``: Keras 3's losses (reduction ``sum_over_batch_size``: the mean of
the per-sample losses), with ``from_logits``; probabilities are clipped to
``[1e-7, 1 - 1e-7]`` as Keras does."""

from __future__ import annotations

import yingshe
import yingshe.nn.functional as F
from yingshe import _dtype
from yingshe.tf import _core
from yingshe.tf._core import run
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "mean_squared_error",
           "mse", "mean_absolute_error", "mae", "binary_crossentropy",
           "categorical_crossentropy", "sparse_categorical_crossentropy", "get"]

EPSILON = 1e-7


def _pair(y_true, y_pred):
    p = _core.to_tensor(y_pred)
    t = y_true
    if not isinstance(t, yingshe.Tensor):
        t = _core.convert_to_tensor(t)
    if t._data is not None and t._data.dtype != p._data.dtype and p._data.dtype.kind == "f":
        tt = t
        t = run(lambda: tt.to(_dtype.from_numpy_dtype(p._data.dtype)))
    return t, p


def _same_rank(t, p):
    """Keras' squeeze_or_expand_to_same_rank."""
    if len(t.shape) == len(p.shape) + 1 and t.shape[-1] == 1:
        return run(lambda: yingshe.squeeze(t, -1)), p
    if len(p.shape) == len(t.shape) + 1 and p.shape[-1] == 1:
        if len(t.shape) == 1:
            return run(lambda: yingshe.unsqueeze(t, -1)), p
        return t, run(lambda: yingshe.squeeze(p, -1))
    return t, p


def _check_same(name, t, p):
    if tuple(t.shape) != tuple(p.shape):
        raise ValueError(f"{name}: y_true and y_pred have incompatible shapes "
                         f"{_core.TensorShape(t.shape)} and {_core.TensorShape(p.shape)}")


def mean_squared_error(y_true, y_pred):
    t, p = _same_rank(*_pair(y_true, y_pred))
    _check_same("mean_squared_error", t, p)
    return run(lambda: yingshe.mean(yingshe.square(yingshe.sub(p, t)), -1))


def mean_absolute_error(y_true, y_pred):
    t, p = _same_rank(*_pair(y_true, y_pred))
    _check_same("mean_absolute_error", t, p)
    return run(lambda: yingshe.mean(yingshe.abs(yingshe.sub(p, t)), -1))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    t, p = _same_rank(*_pair(y_true, y_pred))
    _check_same("binary_crossentropy", t, p)
    if label_smoothing:
        t = run(lambda: t * (1.0 - label_smoothing) + 0.5 * label_smoothing)
    if from_logits:
        return run(lambda: yingshe.mean(
            F.binary_cross_entropy_with_logits(p, t, reduction="none"), axis))

    def fn():
        q = yingshe.clamp(p, EPSILON, 1.0 - EPSILON)
        bce = yingshe.add(yingshe.mul(t, yingshe.log(q)),
                          yingshe.mul(yingshe.sub(1.0, t), yingshe.log(yingshe.sub(1.0, q))))
        return yingshe.neg(yingshe.mean(bce, axis))
    return run(fn)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    t, p = _pair(y_true, y_pred)
    if len(t.shape) != len(p.shape) or t.shape[-1] != p.shape[-1]:
        raise ValueError(f"Arguments `target` and `output` must have the same shape. "
                         f"Received: target.shape={_core.TensorShape(t.shape)}, "
                         f"output.shape={_core.TensorShape(p.shape)}")
    if label_smoothing:
        k = p.shape[-1]
        t = run(lambda: t * (1.0 - label_smoothing) + label_smoothing / k)
    if from_logits:
        return run(lambda: yingshe.neg(yingshe.sum(yingshe.mul(t, F.log_softmax(p, axis)),
                                                   axis)))

    def fn():
        q = yingshe.div(p, yingshe.sum(p, axis, keepdim=True))
        q = yingshe.clamp(q, EPSILON, 1.0 - EPSILON)
        return yingshe.neg(yingshe.sum(yingshe.mul(t, yingshe.log(q)), axis))
    return run(fn)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    if ignore_class is not None:
        raise NotImplementedError("sparse_categorical_crossentropy(ignore_class=...) is not "
                                  "implemented by yingshe.tf.keras")
    p = _core.to_tensor(y_pred)
    t = y_true if isinstance(y_true, yingshe.Tensor) else _core.convert_to_tensor(y_true)
    if len(t.shape) == len(p.shape) and t.shape[-1] == 1:
        t = run(lambda: yingshe.squeeze(t, -1))
    if tuple(t.shape) != tuple(p.shape[:-1]):
        raise ValueError(f"Arguments `target` and `output` must have the same shape up until "
                         f"the last dimension: target.shape={_core.TensorShape(t.shape)}, "
                         f"output.shape={_core.TensorShape(p.shape)}")
    ti = run(lambda: t.to(_dtype.int64))
    if t._data is not None and t._data.size:
        lo, hi = int(t._data.min()), int(t._data.max())
        if lo < 0 or hi >= p.shape[-1]:
            from yingshe.tf import errors
            raise errors.InvalidArgumentError(
                None, None, f"Received a label value of {hi if hi >= p.shape[-1] else lo} "
                f"which is outside the valid range of [0, {p.shape[-1]}).")
    n_cls = p.shape[-1]
    batch = tuple(p.shape[:-1])

    def fn():
        if from_logits:
            lp = F.log_softmax(p, axis)
        else:
            # Keras: normalise, clip, then the log-probabilities act as logits
            q = yingshe.div(p, yingshe.sum(p, axis, keepdim=True))
            q = yingshe.clamp(q, EPSILON, 1.0 - EPSILON)
            lp = F.log_softmax(yingshe.log(q), axis)
        flat = yingshe.reshape(lp, (-1, n_cls))
        picked = yingshe.gather(flat, 1, yingshe.reshape(ti, (-1, 1)))
        return yingshe.reshape(yingshe.neg(picked), batch)
    return run(fn)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


class Loss:
    """Base class: ``loss(y_true, y_pred)`` is the mean of ``call(y_true, y_pred)``."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in ("sum_over_batch_size", "auto", "sum", "none", None, "mean"):
            raise ValueError(f"Invalid value for argument `reduction`: {reduction!r}")
        self.name = name or type(self).__name__
        self.reduction = reduction

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError(f"{type(self).__name__}(sample_weight=...) is not "
                                      "implemented by yingshe.tf.keras")
        per = self.call(y_true, y_pred)
        if self.reduction in ("none", None):
            return per
        if self.reduction == "sum":
            return run(lambda: yingshe.sum(per))
        return run(lambda: yingshe.mean(per))


class _Fn(Loss):
    _fn = None
    _default = ""

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name or self._default, reduction, dtype)
        self._kwargs = kwargs

    def call(self, y_true, y_pred):
        return type(self)._fn(y_true, y_pred, **self._kwargs)


class MeanSquaredError(_Fn):
    _fn = staticmethod(mean_squared_error)
    _default = "mean_squared_error"


class MeanAbsoluteError(_Fn):
    _fn = staticmethod(mean_absolute_error)
    _default = "mean_absolute_error"


class BinaryCrossentropy(_Fn):
    _fn = staticmethod(binary_crossentropy)
    _default = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(reduction, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class CategoricalCrossentropy(_Fn):
    _fn = staticmethod(categorical_crossentropy)
    _default = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(reduction, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_Fn):
    _fn = staticmethod(sparse_categorical_crossentropy)
    _default = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy",
                 dtype=None):
        super().__init__(reduction, name, dtype, from_logits=from_logits,
                         ignore_class=ignore_class)


_BY_NAME = {"mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
            "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
            "binary_crossentropy": BinaryCrossentropy,
            "categorical_crossentropy": CategoricalCrossentropy,
            "sparse_categorical_crossentropy": SparseCategoricalCrossentropy}


def get(identifier):
    """A loss object from a name, a ``Loss`` or a function ``f(y_true, y_pred)``."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        raise ValueError(f"Could not interpret loss identifier: {identifier!r} "
                         f"(yingshe.tf.keras knows: {', '.join(sorted(_BY_NAME))})")
    if callable(identifier):
        fn = identifier

        class _Wrapped(Loss):
            def call(self, y_true, y_pred):
                return fn(y_true, y_pred)
        return _Wrapped(name=getattr(fn, "__name__", "loss"))
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


__getattr__ = unsupported_getattr(__name__)
