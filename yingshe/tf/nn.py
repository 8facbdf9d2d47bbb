"""``tf.nn``: activations and the cross-entropy losses (over ``yingshe.nn.functional``)."""

from __future__ import annotations

import yingshe
import yingshe.nn.functional as F
from yingshe import _dtype
from yingshe.tf import _core, errors
from yingshe.tf._core import match, require_float, run, to_tensor
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax",
           "sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
           "sparse_softmax_cross_entropy_with_logits"]


def relu(features, name=None):
    t = to_tensor(features)
    return run(lambda: F.relu(t))


def sigmoid(x, name=None):
    t = to_tensor(x)
    require_float("Sigmoid", t)
    return run(lambda: yingshe.sigmoid(t))


def tanh(x, name=None):
    t = to_tensor(x)
    require_float("Tanh", t)
    return run(lambda: yingshe.tanh(t))


def softmax(logits, axis=None, name=None):
    t = to_tensor(logits)
    require_float("Softmax", t)
    return run(lambda: F.softmax(t, -1 if axis is None else int(axis)))


def log_softmax(logits, axis=None, name=None):
    t = to_tensor(logits)
    require_float("LogSoftmax", t)
    return run(lambda: F.log_softmax(t, -1 if axis is None else int(axis)))


def _same_shape(what, labels, logits, eager_cls=ValueError):
    if tuple(labels.shape) != tuple(logits.shape):
        cls = eager_cls if not _core.is_symbolic(labels, logits) else ValueError
        raise cls(f"{what}: logits and labels must have the same shape, received "
                         f"({_core.TensorShape(logits.shape)} vs "
                         f"{_core.TensorShape(labels.shape)}).")


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Elementwise ``max(x, 0) - x * z + log(1 + exp(-|x|))`` (no reduction)."""
    if labels is None or logits is None:
        raise ValueError("sigmoid_cross_entropy_with_logits: both labels= and logits= "
                         "are required")
    (z, x), _ = match("SigmoidCrossEntropyWithLogits", labels, logits)
    require_float("SigmoidCrossEntropyWithLogits", x)
    _same_shape("sigmoid_cross_entropy_with_logits", z, x)
    return run(lambda: F.binary_cross_entropy_with_logits(x, z, reduction="none"))


def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None):
    """``-sum(labels * log_softmax(logits), axis)`` (labels are probabilities)."""
    (z, x), _ = match("SoftmaxCrossEntropyWithLogits", labels, logits)
    require_float("SoftmaxCrossEntropyWithLogits", x)
    _same_shape("softmax_cross_entropy_with_logits", z, x, errors.InvalidArgumentError)
    ax = int(axis)
    return run(lambda: yingshe.neg(yingshe.sum(yingshe.mul(z, F.log_softmax(x, ax)), ax)))


def sparse_softmax_cross_entropy_with_logits(labels, logits, name=None):
    """Cross entropy of integer class ``labels`` (shape ``logits.shape[:-1]``)."""
    y = to_tensor(labels)
    x = to_tensor(logits)
    require_float("SparseSoftmaxCrossEntropyWithLogits", x)
    if y.dtype.category != _dtype.INT:
        raise TypeError(f"sparse_softmax_cross_entropy_with_logits: labels must be int32 or "
                        f"int64, got {y.dtype.name}")
    if tuple(y.shape) != tuple(x.shape[:-1]):
        raise ValueError(f"Shape mismatch: The shape of labels (received "
                         f"{_core.TensorShape(y.shape)}) should equal the shape of logits "
                         f"except for the last dimension (received "
                         f"{_core.TensorShape(x.shape)}).")
    n_cls = x.shape[-1]
    lab = y.numpy() if not isinstance(y, _core.Symbol) else None
    if lab is not None and lab.size and (lab.min() < 0 or lab.max() >= n_cls):
        raise errors.InvalidArgumentError(
            None, None, f"Received a label value of {int(lab.max() if lab.max() >= n_cls else lab.min())} "
            f"which is outside the valid range of [0, {n_cls}).  Label values: "
            f"{' '.join(str(v) for v in lab.ravel())}")
    batch = tuple(x.shape[:-1])
    return run(lambda: F.cross_entropy(yingshe.reshape(x, (-1, n_cls)),
                                       yingshe.reshape(y.to(_dtype.int64), (-1,)),
                                       reduction="none").reshape(batch))


__getattr__ = unsupported_getattr(__name__)
