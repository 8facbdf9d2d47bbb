"""``tf.keras.layers``: Keras layers over ``yingshe.tf`` (weights are ``tf.Variable``s;
maths by yingshe's core ops through the front-end, so a ``GradientTape`` sees it).

A layer builds its weights on its first call from the input shape (Keras' rule);
``Dense`` defaults to a Glorot-uniform kernel and a zero bias. An input that does not
fit the layer raises ``ValueError`` naming the layer and the shapes, as Keras does.
"""

from __future__ import annotations

import inspect
import itertools
from collections import defaultdict

import numpy as np

import yingshe
import yingshe.nn.functional as F
from yingshe import _dtype
from yingshe._tensor import Tensor
from yingshe.state import Variable as _StateVariable
from yingshe.tf import _core
from yingshe.tf import nn as _tfnn
from yingshe.tf._core import TensorShape, run
from yingshe.tf._unsupported import unsupported_getattr
from yingshe.tf._variables import Variable
from yingshe.tf.keras import activations, initializers

__all__ = ["Layer", "InputLayer", "Input", "Dense", "Conv2D", "Convolution2D", "MaxPool2D",
           "MaxPooling2D", "Flatten", "Dropout", "LSTM", "Embedding", "ReLU", "Softmax",
           "Activation", "Bidirectional"]

_NAME_COUNTS: dict = defaultdict(itertools.count)


def _snake(name: str) -> str:
    from yingshe.tf._module import camel_to_snake
    return camel_to_snake(name)


def unique_name(base: str) -> str:
    n = next(_NAME_COUNTS[base])
    return base if n == 0 else f"{base}_{n}"


def _shape_str(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _no_extras(layer: str, **kwargs) -> None:
    """Arguments Keras accepts that yingshe.tf.keras does not implement: refuse them by
    name when they are set."""
    for k, v in kwargs.items():
        if v is not None:
            raise NotImplementedError(f"{layer}({k}={v!r}) is not implemented by "
                                      "yingshe.tf.keras (leave it at its default)")


def to_input(x):
    """A layer input as a tensor: NumPy/Python floats become float32 (Keras' autocast),
    float tensors are cast to float32, integer tensors are kept."""
    if isinstance(x, (list, tuple)):
        return type(x)(to_input(v) for v in x)
    if isinstance(x, _core.Symbol):
        return x
    if not isinstance(x, Tensor):
        arr = np.asarray(x)
        if arr.dtype.kind == "f" or arr.dtype.kind == "O":
            arr = arr.astype(np.float32)
        x = _core.convert_to_tensor(arr)
    elif x._data.dtype.kind == "f" and x._data.dtype != np.float32:
        t = x
        x = run(lambda: t.to(_dtype.float32))
    return x


class Layer:
    """``tf.keras.layers.Layer``: subclass it with ``build(input_shape)`` (create weights
    with ``add_weight``) and ``call(inputs)``. Sub-layers and Variables assigned as
    attributes are tracked."""

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None,
                 input_dim=None, batch_input_shape=None, **kwargs):
        unknown = set(kwargs) - {"autocast", "dynamic", "input_length"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unrecognized keyword arguments: "
                            f"{sorted(unknown)}")
        object.__setattr__(self, "_layers", [])
        object.__setattr__(self, "_own_weights", [])
        self.name = name or unique_name(_snake(type(self).__name__))
        self._trainable = trainable
        self.built = False
        self.dtype = "float32" if dtype is None else str(getattr(dtype, "name", dtype))
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self._call_takes_training = "training" in inspect.signature(self.call).parameters

    # ---- tracking --------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if not name.startswith("_") or name in ("_layers",):
            self._track(value)
        object.__setattr__(self, name, value)

    def _track(self, value):
        layers = self.__dict__.get("_layers")
        if layers is None:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               "assigning attributes")
        if isinstance(value, Layer):
            if not any(value is l for l in layers):
                layers.append(value)
        elif isinstance(value, _StateVariable):
            if not any(value is w for w in self._own_weights):
                self._own_weights.append(value)
        elif isinstance(value, (list, tuple)):
            for v in value:
                self._track(v)
        elif isinstance(value, dict):
            for v in value.values():
                self._track(v)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    @property
    def layers(self):
        return list(self._layers)

    def _all_weights(self):
        seen, out = set(), []
        for w in self._own_weights:
            if id(w) not in seen:
                seen.add(id(w))
                out.append((w, self._trainable))
        for layer in self._layers:
            for w, tr in layer._all_weights():
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append((w, tr and self._trainable))
        return out

    @property
    def trainable_weights(self):
        return [w for w, tr in self._all_weights() if tr and w.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w, tr in self._all_weights() if not (tr and w.trainable)]

    @property
    def weights(self):
        return self.trainable_weights + self.non_trainable_weights

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(f"Layer {self.name} expects {len(mine)} weights, but the "
                             f"given weights list has {len(weights)} entries")
        for v, w in zip(mine, weights):
            arr = np.asarray(w)
            if tuple(arr.shape) != tuple(v.shape):
                raise ValueError(f"Layer {self.name} weight shape {_shape_str(v.shape)} is "
                                 f"not compatible with provided weight shape "
                                 f"{_shape_str(arr.shape)}.")
            v.assign(arr.astype(v._data.dtype))

    def count_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    def add_weight(self, name=None, shape=None, dtype=None, initializer=None,
                   regularizer=None, trainable=True, constraint=None, **kwargs):
        _no_extras(f"{type(self).__name__}.add_weight", regularizer=regularizer,
                   constraint=constraint)
        shape = () if shape is None else tuple(int(s) for s in shape)
        if initializer is None:
            floating = dtype is None or _core.as_dtype(dtype).is_floating
            initializer = "glorot_uniform" if floating else "zeros"
        init = initializers.get(initializer)
        value = init(shape, dtype=_core.core_dtype(dtype or "float32"))
        if isinstance(value, Tensor):
            value = value.numpy()
        v = Variable(np.asarray(value, dtype=_core.as_dtype(dtype or "float32").np),
                     trainable=trainable, name=name)
        self._own_weights.append(v)
        return v

    # ---- calling ---------------------------------------------------------------------------
    def build(self, input_shape):
        self.built = True

    def call(self, inputs, *args, **kwargs):
        return inputs

    def _check_input(self, x) -> None:
        """Overridden by layers with an input spec."""

    def __call__(self, inputs, *args, **kwargs):
        x = to_input(inputs)
        if not self.built:
            shape = [TensorShape(v.shape) for v in x] if isinstance(x, (list, tuple)) \
                else TensorShape(x.shape)
            self._check_input(x)
            self.build(shape)
            self.built = True
        self._check_input(x)
        if "training" in kwargs and not self._call_takes_training:
            kwargs.pop("training")
        return self.call(x, *args, **kwargs)

    def _incompatible(self, msg: str):
        return ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the layer: "
                          f"{msg}")

    def _require_ndim(self, x, ndim=None, min_ndim=None):
        if isinstance(x, (list, tuple)):
            raise self._incompatible(f"expected one tensor, received a {type(x).__name__} "
                                     f"of {len(x)}")
        n = len(x.shape)
        if ndim is not None and n != ndim:
            raise self._incompatible(f"expected ndim={ndim}, found ndim={n}. Full shape "
                                     f"received: {_shape_str(x.shape)}")
        if min_ndim is not None and n < min_ndim:
            raise self._incompatible(f"expected min_ndim={min_ndim}, found ndim={n}. Full "
                                     f"shape received: {_shape_str(x.shape)}")

    def _require_axis(self, x, axis: int, value: int):
        if x.shape[axis] is not None and x.shape[axis] != value:
            raise self._incompatible(f"expected axis {axis} of input shape to have value "
                                     f"{value}, but received input with shape "
                                     f"{_shape_str(x.shape)}")

    def compute_output_shape(self, input_shape):
        raise NotImplementedError(f"{type(self).__name__}.compute_output_shape")

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# ---- Input -------------------------------------------------------------------------------------

class KerasInput:
    """What ``keras.Input(shape)`` returns: a symbolic input description, used by
    ``Sequential`` to build its layers ahead of the first call."""

    def __init__(self, shape, batch_size=None, dtype=None, name=None):
        self.shape = TensorShape((batch_size,) + tuple(shape))
        self.dtype = _core.as_dtype(dtype or "float32")
        self.name = name or unique_name("input_layer")

    def __repr__(self) -> str:
        return (f"<KerasTensor shape={_shape_str(self.shape)}, dtype={self.dtype.name}, "
                f"name={self.name}>")


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
          name=None, tensor=None, ragged=None, optional=False):
    """``keras.Input(shape)``: a symbolic input for ``Sequential`` (the functional
    ``Model(inputs, outputs)`` API is not implemented by yingshe.tf.keras)."""
    _no_extras("Input", sparse=sparse or None, tensor=tensor, ragged=ragged or None)
    if batch_shape is not None:
        batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
    if shape is None:
        raise ValueError("Input: a shape is required (shape=(...) without the batch size)")
    if isinstance(shape, int):
        shape = (shape,)
    return KerasInput(tuple(shape), batch_size, dtype, name)


class InputLayer(Layer):
    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None,
                 **kwargs):
        super().__init__(name=name)
        self.input = Input(shape if shape is not None else input_shape, batch_size, dtype)
        self.built = True


# ---- core layers -------------------------------------------------------------------------------

class Dense(Layer):
    """``Dense(units, activation=None, use_bias=True)``: ``activation(x @ kernel + bias)``
    on the last axis; kernel [in, units] Glorot-uniform, bias zeros."""

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        _no_extras("Dense", kernel_regularizer=kernel_regularizer,
                   bias_regularizer=bias_regularizer,
                   activity_regularizer=activity_regularizer,
                   kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                   lora_rank=lora_rank)
        super().__init__(**kwargs)
        self.units = int(units)
        if self.units <= 0:
            raise ValueError(f"Received an invalid value for `units`, expected a positive "
                             f"integer. Received: units={units}")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _check_input(self, x):
        self._require_ndim(x, min_ndim=2)
        if self.built:
            self._require_axis(x, -1, self.kernel.shape[0])
        elif x.shape[-1] is None:
            raise self._incompatible("the last dimension of the input must be known")

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.kernel = self.add_weight("kernel", (d, self.units), initializer=self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.units,), initializer=self.bias_initializer) \
            if self.use_bias else None
        self.built = True

    def call(self, inputs):
        k, b = self.kernel, self.bias

        def fn():
            y = yingshe.matmul(inputs, k)
            return y if b is None else yingshe.add(y, b)
        return self.activation(run(fn))

    def compute_output_shape(self, input_shape):
        return TensorShape(tuple(input_shape)[:-1] + (self.units,))


def _pair(name, v):
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(e) for e in v)
    if len(v) != 2:
        raise ValueError(f"The `{name}` argument must be a tuple of 2 integers. Received: {v}")
    return v


def _padding(layer, padding):
    p = str(padding).lower()
    if p not in ("valid", "same"):
        raise ValueError(f"{layer}: the `padding` argument must be one of 'valid', 'same'. "
                         f"Received: {padding}")
    return p


def _channels_last(layer, data_format):
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(f"{layer}(data_format={data_format!r}): yingshe.tf.keras "
                                  "supports channels_last (NHWC) only")


class Conv2D(Layer):
    """``Conv2D(filters, kernel_size, strides=(1, 1), padding='valid')`` on NHWC inputs;
    kernel [kh, kw, in_channels, filters]."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        _no_extras("Conv2D", kernel_regularizer=kernel_regularizer,
                   bias_regularizer=bias_regularizer,
                   activity_regularizer=activity_regularizer,
                   kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                   groups=None if groups == 1 else groups)
        _channels_last("Conv2D", data_format)
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        self.padding = _padding("Conv2D", padding)
        self.dilation_rate = _pair("dilation_rate", dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _check_input(self, x):
        self._require_ndim(x, ndim=4)
        if self.built:
            self._require_axis(x, -1, self.kernel.shape[2])

    def build(self, input_shape):
        c = int(input_shape[-1])
        self.kernel = self.add_weight("kernel", self.kernel_size + (c, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), initializer=self.bias_initializer) \
            if self.use_bias else None
        self.built = True

    def call(self, inputs):
        for n, k, d in zip(inputs.shape[1:3], self.kernel_size, self.dilation_rate):
            if self.padding == "valid" and n is not None and n < (k - 1) * d + 1:
                raise ValueError(f"Conv2D \"{self.name}\": the input is smaller than the "
                                 f"kernel: input shape {_shape_str(inputs.shape)}, kernel "
                                 f"size {self.kernel_size} (padding='valid')")
        y = _tfnn.conv2d(inputs, self.kernel, self.strides, self.padding.upper(),
                         dilations=self.dilation_rate)
        if self.bias is not None:
            b = self.bias
            y = run(lambda: yingshe.add(y, b))
        return self.activation(y)


Convolution2D = Conv2D


class MaxPooling2D(Layer):
    """``MaxPooling2D(pool_size=(2, 2), strides=None, padding='valid')`` on NHWC inputs."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        _channels_last("MaxPooling2D", data_format)
        super().__init__(**kwargs)
        self.pool_size = _pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _pair("strides", strides)
        self.padding = _padding("MaxPooling2D", padding)

    def _check_input(self, x):
        self._require_ndim(x, ndim=4)

    def call(self, inputs):
        return _tfnn.max_pool2d(inputs, self.pool_size, self.strides, self.padding.upper())


MaxPool2D = MaxPooling2D


class Flatten(Layer):
    """``Flatten()``: [batch, ...] -> [batch, prod(...)]."""

    def __init__(self, data_format=None, **kwargs):
        _channels_last("Flatten", data_format)
        super().__init__(**kwargs)

    def _check_input(self, x):
        self._require_ndim(x, min_ndim=1)

    def call(self, inputs):
        n = inputs.shape[0]
        rest = int(np.prod(inputs.shape[1:], dtype=np.int64))
        return run(lambda: yingshe.reshape(inputs, (n if n is not None else -1, rest)))


class Dropout(Layer):
    """``Dropout(rate)``: active only when called with ``training=True`` (``fit`` does)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        _no_extras("Dropout", noise_shape=noise_shape)
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"Invalid value received for argument `rate`. Expected a float "
                             f"value between 0 and 1. Received: rate={rate}")
        self.rate = float(rate)

    def call(self, inputs, training=None):
        if training and self.rate > 0:
            if self.rate >= 1.0:
                return run(lambda: yingshe.zeros_like(inputs))
            return _tfnn.dropout(inputs, self.rate)
        return inputs


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)


class ReLU(Layer):
    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        _no_extras("ReLU", max_value=max_value, negative_slope=negative_slope or None,
                   threshold=threshold or None)
        super().__init__(**kwargs)

    def call(self, inputs):
        return activations.relu(inputs)


class Softmax(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is not None:
            raise NotImplementedError("Softmax(mask=...) is not implemented by yingshe.tf.keras")
        return activations.softmax(inputs, self.axis)


class Embedding(Layer):
    """``Embedding(input_dim, output_dim)``: integer ids -> rows of ``embeddings``
    (initialised uniform in [-0.05, 0.05], Keras' default)."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, **kwargs):
        _no_extras("Embedding", embeddings_regularizer=embeddings_regularizer,
                   embeddings_constraint=embeddings_constraint, mask_zero=mask_zero or None,
                   lora_rank=lora_rank)
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self._initial_weights = weights

    def build(self, input_shape=None):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
        self.built = True

    def call(self, inputs):
        ids = inputs
        if ids._data is not None and ids._data.dtype.kind == "f":
            ids = run(lambda: inputs.to(_dtype.int64))
        if ids._data is not None and ids._data.dtype.kind in "iu" and ids._data.size:
            lo, hi = int(ids._data.min()), int(ids._data.max())
            if lo < 0 or hi >= self.input_dim:
                from yingshe.tf import errors
                bad = hi if hi >= self.input_dim else lo
                raise errors.InvalidArgumentError(
                    None, None, f"Embedding \"{self.name}\": indices[...] = {bad} is not in "
                    f"[0, {self.input_dim})")
        w = self.embeddings
        return run(lambda: F.embedding(ids.to(_dtype.int64), w))


class LSTM(Layer):
    """``LSTM(units, return_sequences=False, return_state=False)`` on [batch, time,
    features]: Keras' gates (i, f, c, o) from ``x @ kernel + h @ recurrent_kernel + bias``;
    kernel Glorot-uniform, recurrent kernel orthogonal, bias zeros with ones for the
    forget gate (``unit_forget_bias``)."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", **kwargs):
        _no_extras("LSTM", kernel_regularizer=kernel_regularizer,
                   recurrent_regularizer=recurrent_regularizer,
                   bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                   kernel_constraint=kernel_constraint,
                   recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
                   dropout=dropout or None, recurrent_dropout=recurrent_dropout or None,
                   stateful=stateful or None)
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.unit_forget_bias = unit_forget_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = bool(go_backwards)
        # what Bidirectional needs to build this layer's twin
        self._init_args = dict(units=units, activation=activation,
                               recurrent_activation=recurrent_activation, use_bias=use_bias,
                               kernel_initializer=kernel_initializer,
                               recurrent_initializer=recurrent_initializer,
                               bias_initializer=bias_initializer,
                               unit_forget_bias=unit_forget_bias,
                               return_sequences=return_sequences, return_state=return_state)

    def _check_input(self, x):
        self._require_ndim(x, ndim=3)
        if self.built:
            self._require_axis(x, -1, self.kernel.shape[0])

    def build(self, input_shape):
        d, u = int(input_shape[-1]), self.units
        self.kernel = self.add_weight("kernel", (d, 4 * u), initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (u, 4 * u),
                                                initializer=self.recurrent_initializer)
        if self.use_bias:
            if self.unit_forget_bias:
                bi = self.bias_initializer
                init = lambda shape, dtype=None: np.concatenate(  # noqa: E731
                    [bi((u,), dtype), np.ones(u, np.float32), bi((2 * u,), dtype)])
            else:
                init = self.bias_initializer
            self.bias = self.add_weight("bias", (4 * u,), initializer=init)
        else:
            self.bias = None
        self.built = True

    def call(self, inputs, initial_state=None, mask=None, training=None):
        if mask is not None:
            raise NotImplementedError("LSTM(mask=...) is not implemented by yingshe.tf.keras")
        u = self.units
        k, rk, b = self.kernel, self.recurrent_kernel, self.bias
        act, ract = self.activation, self.recurrent_activation
        n, steps = inputs.shape[0], inputs.shape[1]
        if initial_state is not None:
            h, c = (to_input(s) for s in initial_state)
        else:
            h = run(lambda: yingshe.zeros((n, u), dtype=_dtype.float32))
            c = h
        xs = run(lambda: yingshe.matmul(inputs, k) if b is None
                 else yingshe.add(yingshe.matmul(inputs, k), b))
        outs = []
        # go_backwards reads the sequence from its end; the outputs come in that order
        for t in (reversed(range(steps)) if self.go_backwards else range(steps)):
            z = run(lambda: yingshe.add(xs[:, t, :], yingshe.matmul(h, rk)))
            i = ract(z[:, :u])
            f = ract(z[:, u:2 * u])
            g = act(z[:, 2 * u:3 * u])
            o = ract(z[:, 3 * u:])
            c = run(lambda: yingshe.add(yingshe.mul(f, c), yingshe.mul(i, g)))
            h = run(lambda: yingshe.mul(o, act(c)))
            if self.return_sequences:
                outs.append(h)
        out = run(lambda: yingshe.stack(outs, 1)) if self.return_sequences else h
        return [out, h, c] if self.return_state else out


class Bidirectional(Layer):
    """``Bidirectional(layer, merge_mode="concat")``: the recurrent ``layer`` over the
    sequence and a twin over it backwards (``go_backwards``), outputs merged ("concat",
    "sum", "mul", "ave" or None for a pair); a backward sequence output is reversed back
    into time order before merging, as in Keras. Weights: the forward layer's, then the
    backward one's."""

    _MERGES = ("concat", "sum", "mul", "ave", None)

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        if not isinstance(layer, LSTM):
            raise NotImplementedError(f"Bidirectional({type(layer).__name__}) is not "
                                      "implemented by yingshe.tf.keras (LSTM only)")
        if merge_mode not in self._MERGES:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode}. Merge mode "
                             "should be one of {'sum', 'mul', 'ave', 'concat', None}")
        _no_extras("Bidirectional", weights=weights)
        super().__init__(**kwargs)
        if layer.return_state:
            raise NotImplementedError("Bidirectional(LSTM(return_state=True)) is not "
                                      "implemented by yingshe.tf.keras")
        if backward_layer is None:
            backward_layer = LSTM(**layer._init_args, go_backwards=not layer.go_backwards,
                                  name="backward_" + layer.name)
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=None):
        y = self.forward_layer(inputs)
        y_rev = self.backward_layer(inputs)
        if self.return_sequences:
            y_rev = run(lambda: yingshe.flip(y_rev, (1,)))
        if self.merge_mode == "concat":
            return run(lambda: yingshe.cat([y, y_rev], -1))
        if self.merge_mode == "sum":
            return run(lambda: yingshe.add(y, y_rev))
        if self.merge_mode == "mul":
            return run(lambda: yingshe.mul(y, y_rev))
        if self.merge_mode == "ave":
            return run(lambda: yingshe.mul(yingshe.add(y, y_rev), 0.5))
        return (y, y_rev)


__getattr__ = unsupported_getattr(__name__)
