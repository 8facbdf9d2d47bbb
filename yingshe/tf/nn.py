"""``tf.nn``: activations, the cross-entropy losses, ``conv2d``/``max_pool2d`` (NHWC)
and ``dropout`` (over ``yingshe.nn.functional``)."""

from __future__ import annotations

import yingshe
import yingshe.nn.functional as F
from yingshe import _dtype
from yingshe.tf import _core, errors
from yingshe.tf._core import match, require_float, run, to_tensor
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax",
           "sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
           "sparse_softmax_cross_entropy_with_logits", "conv2d", "max_pool2d", "max_pool",
           "dropout", "softplus", "leaky_relu", "bias_add"]


def relu(features, name=None):
    t = to_tensor(features)
    return run(lambda: F.relu(t))


def softplus(features, name=None):
    """``log(1 + exp(x))`` (float dtypes)."""
    t = to_tensor(features)
    require_float("Softplus", t)
    return run(lambda: F.softplus(t))


def leaky_relu(features, alpha=0.2, name=None):
    """``x`` where positive, ``alpha * x`` elsewhere (TensorFlow's default alpha 0.2)."""
    t = to_tensor(features)
    require_float("LeakyRelu", t)
    return run(lambda: F.leaky_relu(t, float(alpha)))


def bias_add(value, bias, data_format=None, name=None):
    """``value + bias`` with ``bias`` (1-D) on the last axis (channels last). A
    channels-first ``data_format`` is refused by name (TensorFlow's CPU kernels do not
    take it either)."""
    if data_format is not None and not str(data_format).endswith("C"):
        from yingshe.tf._unsupported import UnsupportedError
        raise UnsupportedError(f"tf.nn.bias_add(data_format={data_format!r}) is not "
                               "supported by yingshe.tf (channels last only)")
    (v, b), _ = match("BiasAdd", to_tensor(value), bias)
    if b.ndim != 1:
        raise errors.InvalidArgumentError(None, None, f"Biases must be 1D: {list(b.shape)}")
    if v.ndim < 2:
        raise errors.InvalidArgumentError(None, None, "Input tensor must be at least 2D: "
                                          f"{list(v.shape)}")
    if v.shape[-1] != b.shape[0]:
        raise errors.InvalidArgumentError(
            None, None, f"Must provide as many biases as the last dimension of the input "
            f"tensor: {list(b.shape)} vs. {list(v.shape)}")
    return run(lambda: yingshe.add(v, b))


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


# ---- convolution and pooling (NHWC; transposed to the core's NCHW) -------------------------

def _pair_arg(name, value, n_spatial=2):
    """TF's ``strides``/``ksize``: an int, a list of 2 (H, W) or of 4 (N, H, W, C)."""
    if isinstance(value, int):
        return (value,) * n_spatial
    v = [int(s) for s in value]
    if len(v) == 1:
        return (v[0],) * n_spatial
    if len(v) == n_spatial:
        return tuple(v)
    if len(v) == n_spatial + 2:
        if v[0] != 1 or v[-1] != 1:
            raise errors.InvalidArgumentError(
                None, None, f"{name}: strides and window sizes in the batch and depth "
                f"dimensions must be 1 (NHWC), got {v}")
        return tuple(v[1:-1])
    raise ValueError(f"{name} should be of length 1, {n_spatial} or {n_spatial + 2}, got {v}")


def same_padding(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TF's 'SAME' padding of one dimension: output ceil(size / s), the extra padding
    (when odd) at the end."""
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _pads(padding, hw, ksize, strides, dilations, name):
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return ((0, 0), (0, 0))
        if mode == "SAME":
            return tuple(same_padding(n, k, s, d) for n, k, s, d in
                         zip(hw, ksize, strides, dilations))
        raise ValueError(f"{name}: padding must be 'SAME' or 'VALID', got {padding!r}")
    pads = [tuple(int(x) for x in p) for p in padding]     # explicit [[0,0],[t,b],[l,r],[0,0]]
    if len(pads) != 4:
        raise ValueError(f"{name}: explicit padding must have 4 pairs (NHWC), got {padding!r}")
    return pads[1], pads[2]


def _check_nhwc(name, data_format):
    if data_format not in (None, "NHWC"):
        raise NotImplementedError(f"tf.nn.{name}(data_format={data_format!r}): yingshe.tf "
                                  "supports NHWC only")


def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, name=None):
    """``tf.nn.conv2d``: ``input`` [batch, height, width, in_channels], ``filters``
    [kh, kw, in_channels, out_channels]; 'SAME' pads as TensorFlow does (extra at the
    bottom/right)."""
    _check_nhwc("conv2d", data_format)
    (x, w), _ = match("Conv2D", input, filters)
    require_float("Conv2D", x)
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise ValueError(f"conv2d: input must be 4-D NHWC and filters 4-D [kh, kw, in, out], "
                         f"got input shape {_core.TensorShape(x.shape)} and filters shape "
                         f"{_core.TensorShape(w.shape)}")
    if x.shape[3] is not None and x.shape[3] != w.shape[2]:
        cls = ValueError if _core.is_symbolic(x, w) else errors.InvalidArgumentError
        raise cls(f"conv2d: input depth must be evenly divisible by filter depth: input "
                  f"shape {_core.TensorShape(x.shape)}, filters shape "
                  f"{_core.TensorShape(w.shape)} ({x.shape[3]} vs {w.shape[2]})")
    st = _pair_arg("strides", strides)
    dl = _pair_arg("dilations", 1 if dilations is None else dilations)
    (pt, pb), (pl, pr) = _pads(padding, x.shape[1:3], w.shape[:2], st, dl, "conv2d")

    def fn():
        xc = yingshe.permute(x, (0, 3, 1, 2))
        if pt or pb or pl or pr:
            xc = F.pad(xc, (pl, pr, pt, pb))
        y = F.conv2d(xc, yingshe.permute(w, (3, 2, 0, 1)), None, st, 0, dl)
        return yingshe.permute(y, (0, 2, 3, 1))
    return run(fn)


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):
    """``tf.nn.max_pool2d`` (NHWC); 'SAME' pads with -inf as TensorFlow does."""
    _check_nhwc("max_pool2d", data_format)
    x = to_tensor(input)
    if len(x.shape) != 4:
        raise ValueError(f"max_pool2d: input must be 4-D NHWC, got shape "
                         f"{_core.TensorShape(x.shape)}")
    ks = _pair_arg("ksize", ksize)
    st = _pair_arg("strides", strides)
    (pt, pb), (pl, pr) = _pads(padding, x.shape[1:3], ks, st, (1, 1), "max_pool2d")

    def fn():
        xc = yingshe.permute(x, (0, 3, 1, 2))
        if pt or pb or pl or pr:
            xc = F.pad(xc, (pl, pr, pt, pb), value=float("-inf"))
        return yingshe.permute(F.max_pool2d(xc, ks, st), (0, 2, 3, 1))
    return run(fn)


def max_pool(input, ksize, strides, padding, data_format=None, name=None):
    """``tf.nn.max_pool`` (the 2-D NHWC case)."""
    x = to_tensor(input)
    if len(x.shape) != 4:
        raise NotImplementedError("tf.nn.max_pool: yingshe.tf supports 4-D (NHWC) inputs only")
    return max_pool2d(x, ksize, strides, padding, data_format or "NHWC")


def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """``tf.nn.dropout(x, rate)``: zeroes each element with probability ``rate`` and
    scales the others by ``1 / (1 - rate)`` (draws from yingshe's generator)."""
    if noise_shape is not None:
        raise NotImplementedError("tf.nn.dropout(noise_shape=...) is not supported by "
                                  "yingshe.tf")
    t = to_tensor(x)
    require_float("Dropout", t)
    r = float(rate)
    if not 0.0 <= r < 1.0:
        raise ValueError(f"rate must be a scalar tensor or a float in the range [0, 1), "
                         f"got {rate}")
    if r == 0.0:
        return run(lambda: yingshe.clone(t))
    return run(lambda: F.dropout(t, r, True))


__getattr__ = unsupported_getattr(__name__)
