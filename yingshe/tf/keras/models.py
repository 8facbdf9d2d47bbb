"""``tf.keras.Model`` (subclassing) and ``tf.keras.Sequential`` with ``compile``, ``fit``,
``evaluate``, ``predict``, ``summary`` and weight files.

``fit`` follows Keras 3's loop: per batch, the forward pass with ``training=True``
inside a ``GradientTape``, the loss, ``optimizer.apply_gradients``, then the metrics on
that forward's predictions; the epoch's ``loss`` is the mean over samples (batches
weighted by their size); ``validation_split`` takes the *last* fraction of the data
before any shuffling. Arguments Keras accepts that are not implemented raise
``NotImplementedError`` naming them.
"""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np

from yingshe._tensor import Tensor
from yingshe.tf import _core
from yingshe.tf._unsupported import unsupported_getattr
from yingshe.tf._variables import GradientTape
from yingshe.tf.keras import callbacks as callbacks_module
from yingshe.tf.keras import losses as losses_module
from yingshe.tf.keras import metrics as metrics_module
from yingshe.tf.keras import optimizers as optimizers_module
from yingshe.tf.keras.layers import KerasInput, Layer, TensorShape, _shape_str, to_input

__all__ = ["Model", "Sequential", "load_model"]


def _no(fn: str, **kwargs):
    for k, v in kwargs.items():
        if v is not None:
            raise NotImplementedError(f"Model.{fn}({k}=...) is not implemented by "
                                      "yingshe.tf.keras (leave it at its default)")


def _array(x, what: str):
    if x is None:
        return None
    if isinstance(x, Tensor):
        return np.asarray(x.numpy())
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], (np.ndarray, Tensor)):
        raise NotImplementedError(f"{what}: several input arrays (multi-input models) are "
                                  "not implemented by yingshe.tf.keras")
    if hasattr(x, "__next__"):
        raise NotImplementedError(f"{what}: Python generators are not implemented by "
                                  "yingshe.tf.keras (pass arrays, tensors or a tf.data.Dataset)")
    return np.asarray(x)


def _is_dataset(x) -> bool:
    from yingshe.tf.data import Dataset
    return isinstance(x, Dataset)


def _dataset_batches(ds, what: str, steps=None, endless: bool = False):
    """(x, y) batches of a ``tf.data.Dataset`` of (inputs, targets) pairs, as arrays;
    at most ``steps`` of them (an infinite dataset needs ``steps``, unless ``endless``:
    the caller takes what it needs)."""
    if steps is None and ds._cardinality == -1 and not endless:
        raise ValueError(f"{what}: when using an infinitely repeating dataset you must "
                         "specify the number of steps to run (steps_per_epoch / steps).")
    it = iter(ds)
    if steps is not None:
        it = itertools.islice(it, int(steps))
    for element in it:
        if isinstance(element, dict) or not isinstance(element, tuple) or \
                len(element) not in (1, 2):
            raise NotImplementedError(f"{what}: a dataset of {type(element).__name__} "
                                      "elements (yingshe.tf.keras takes (x, y) pairs)")
        xb = np.asarray(element[0].numpy())
        yb = np.asarray(element[1].numpy()) if len(element) == 2 else None
        yield xb, yb


def _array_batches(x, y, batch_size, order=None):
    n = x.shape[0]
    idx = np.arange(n) if order is None else order
    for b in range(max(1, math.ceil(n / batch_size))):
        sel = idx[b * batch_size:(b + 1) * batch_size]
        yield x[sel], y[sel]


class Model(Layer):
    """``tf.keras.Model``: subclass it (layers in ``__init__``, the forward in
    ``call``); it builds on its first call. The functional ``Model(inputs, outputs)``
    form is not implemented."""

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise NotImplementedError("the functional API Model(inputs, outputs) is not "
                                      "implemented by yingshe.tf.keras: subclass Model or "
                                      "use Sequential")
        super().__init__(**kwargs)
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._metric_specs = []

    # ---- compile -------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        _no("compile", loss_weights=loss_weights, weighted_metrics=weighted_metrics,
            steps_per_execution=None if steps_per_execution == 1 else steps_per_execution)
        self.optimizer = optimizers_module.get(optimizer)
        if isinstance(loss, (list, dict)):
            raise NotImplementedError("Model.compile(loss=[...]/{...}): several losses are not "
                                      "implemented by yingshe.tf.keras")
        self.loss = loss
        self._loss_fn = losses_module.get(loss) if loss is not None else None
        if isinstance(metrics, dict):
            raise NotImplementedError("Model.compile(metrics={...}) is not implemented")
        self._metric_specs = list(metrics or [])
        self._metrics = None
        self.compiled = True

    def _make_metrics(self, y, y_pred):
        if self._metrics is None:
            self._metrics = [metrics_module.get(m, tuple(y.shape), tuple(y_pred.shape))
                             for m in self._metric_specs]
        return self._metrics

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in (self._metrics or [])]

    def _compute_loss(self, y, y_pred):
        if self._loss_fn is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        return self._loss_fn(y, y_pred)

    # ---- steps ---------------------------------------------------------------------------
    def train_step(self, x, y):
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(y, y_pred)
        variables = self.trainable_variables
        if variables:
            grads = tape.gradient(loss, variables)
            self.optimizer.apply_gradients(zip(grads, variables))
        return loss, y_pred

    def _check_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before using the model "
                               f"({what}).")

    def _run_epoch(self, batches, train: bool, callbacks=()):
        """One pass over ``batches`` ((x, y) arrays); the epoch's logs."""
        loss_sum, count = 0.0, 0
        mets = None
        for b, (xb, yb) in enumerate(batches):
            if yb is None:
                raise NotImplementedError("yingshe.tf.keras: a dataset without targets "
                                          "(y) cannot be used to train or evaluate")
            for cb in callbacks:
                cb.on_train_batch_begin(b)
            if train:
                loss, y_pred = self.train_step(xb, yb)
            else:
                y_pred = self(xb, training=False)
                loss = self._compute_loss(yb, y_pred)
            k = len(xb)
            loss_sum += float(np.asarray(loss.numpy(), dtype=np.float64)) * k
            count += k
            mets = self._make_metrics(yb, y_pred)
            for m in mets:
                m.update_state(yb, y_pred)
            logs = {"loss": loss_sum / count}
            for m in mets:
                logs[m.name] = float(m.result().numpy())
            for cb in callbacks:
                cb.on_train_batch_end(b, logs)
        logs = {"loss": float(np.float32(loss_sum / max(count, 1)))}
        for m in mets or []:
            logs[m.name] = float(m.result().numpy())
        return logs

    def _reset_metrics(self):
        for m in self._metrics or []:
            m.reset_state()

    # ---- fit / evaluate / predict ------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns a ``History``."""
        self._check_compiled("fit")
        _no("fit", class_weight=class_weight, sample_weight=sample_weight,
            validation_freq=None if validation_freq == 1 else validation_freq)
        if _is_dataset(x):
            return self._fit_dataset(x, y, epochs, verbose, callbacks, validation_data,
                                     initial_epoch, steps_per_epoch, validation_steps,
                                     batch_size, validation_split)
        if steps_per_epoch is not None or validation_steps is not None:
            raise NotImplementedError("Model.fit(steps_per_epoch=/validation_steps=) with "
                                      "arrays is not implemented by yingshe.tf.keras")
        x, y = _array(x, "fit(x)"), _array(y, "fit(y)")
        if y is None:
            raise NotImplementedError("Model.fit without y (datasets) is not implemented by "
                                      "yingshe.tf.keras")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"Data cardinality is ambiguous: x sizes: {x.shape[0]}, "
                             f"y sizes: {y.shape[0]}. Make sure all arrays contain the same "
                             "number of samples.")
        batch_size = 32 if batch_size is None else int(batch_size)
        if validation_data is None and validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            split = int(math.floor(x.shape[0] * (1.0 - validation_split)))
            if split == 0 or split == x.shape[0]:
                raise ValueError(f"Training data contains {x.shape[0]} samples, which is not "
                                 f"sufficient to split it into a validation and training set "
                                 f"as specified by `validation_split={validation_split}`.")
            x, xv = x[:split], x[split:]
            y, yv = y[:split], y[split:]
            validation_data = (xv, yv)
        if validation_data is not None and not _is_dataset(validation_data):
            if len(validation_data) != 2:
                raise NotImplementedError("fit(validation_data=...) with sample weights is "
                                          "not implemented by yingshe.tf.keras")
            xv, yv = (_array(v, "fit(validation_data)") for v in validation_data)
        from yingshe import random as _random
        steps = max(1, math.ceil(x.shape[0] / batch_size))

        def train_batches(epoch):
            order = _random.resolve(None).permutation(x.shape[0]) if shuffle else None
            return _array_batches(x, y, batch_size, order)

        def val_batches():
            if _is_dataset(validation_data):
                return _dataset_batches(validation_data, "fit(validation_data)",
                                        validation_steps)
            return _array_batches(xv, yv, validation_batch_size or batch_size)
        return self._train(epochs, initial_epoch, verbose, callbacks, steps, train_batches,
                           val_batches if validation_data is not None else None)

    def _train(self, epochs, initial_epoch, verbose, callbacks, steps, train_batches,
               val_batches):
        """The epochs of ``fit``: ``train_batches(epoch)`` and ``val_batches()`` (or None)
        give each epoch's (x, y) batches; callbacks, logs and the History as Keras."""
        verbose = 1 if verbose == "auto" else int(verbose)
        history = callbacks_module.History()
        cbs = list(callbacks or []) + [history]
        for cb in cbs:
            cb.set_model(self)
            cb.set_params({"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        for cb in cbs:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            self._reset_metrics()
            logs = self._run_epoch(train_batches(epoch), True, cbs)
            if val_batches is not None:
                self._reset_metrics()
                vlogs = self._run_epoch(val_batches(), False)
                logs.update({"val_" + k: v for k, v in vlogs.items()})
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
                print((f"{steps}/{steps} - " if steps else "")
                      + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
                sys.stdout.flush()
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end()
        self.history = history
        return history

    def _fit_dataset(self, ds, y, epochs, verbose, callbacks, validation_data, initial_epoch,
                     steps_per_epoch, validation_steps, batch_size, validation_split):
        """``fit`` on a ``tf.data.Dataset`` of (x, y) batches: each epoch is a pass over it
        (or ``steps_per_epoch`` batches of one continuing pass, as Keras does)."""
        if y is not None:
            raise ValueError("`y` argument is not supported when using dataset as input.")
        if batch_size is not None:
            raise ValueError("The `batch_size` argument must not be specified for the given "
                             "input type (a dataset is already batched).")
        if validation_split:
            raise ValueError("`validation_split` is only supported for Tensors or NumPy "
                             "arrays, found a dataset.")
        stream = None
        if steps_per_epoch is not None:
            # one pass that continues from epoch to epoch (Keras 3's rule; training stops
            # early when a finite dataset runs out)
            stream = _dataset_batches(ds, "fit", endless=True)

        def train_batches(epoch):
            if stream is not None:
                return itertools.islice(stream, int(steps_per_epoch))
            return _dataset_batches(ds, "fit")

        def val_batches():
            if _is_dataset(validation_data):
                return _dataset_batches(validation_data, "fit(validation_data)",
                                        validation_steps)
            xv, yv = (_array(v, "fit(validation_data)") for v in validation_data)
            return _array_batches(xv, yv, 32)
        return self._train(epochs, initial_epoch, verbose, callbacks, steps_per_epoch,
                           train_batches, val_batches if validation_data is not None else None)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """The loss (and metrics) over ``x``, ``y``: a float, a list, or a dict."""
        self._check_compiled("evaluate")
        _no("evaluate", sample_weight=sample_weight, callbacks=callbacks)
        self._reset_metrics()
        if _is_dataset(x):
            if y is not None:
                raise ValueError("`y` argument is not supported when using dataset as input.")
            n_batches = [0]

            def counted():
                for pair in _dataset_batches(x, "evaluate", steps):
                    n_batches[0] += 1
                    yield pair
            logs = self._run_epoch(counted(), False)
            n = n_batches[0]
        else:
            if steps is not None:
                raise NotImplementedError("Model.evaluate(steps=) with arrays is not "
                                          "implemented by yingshe.tf.keras")
            x, y = _array(x, "evaluate(x)"), _array(y, "evaluate(y)")
            bs = 32 if batch_size is None else int(batch_size)
            logs = self._run_epoch(_array_batches(x, y, bs), False)
            n = max(1, math.ceil(x.shape[0] / bs))
        if verbose not in (0, "0") and verbose != "auto" or verbose == "auto":
            if verbose != 0:
                print(f"{n}/{n} - " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The outputs for ``x`` as a NumPy array (batched, ``training=False``)."""
        _no("predict", callbacks=callbacks)
        if _is_dataset(x):
            outs = [np.asarray(self(xb, training=False).numpy())
                    for xb, _ in _dataset_batches(x, "predict", steps)]
            return np.concatenate(outs, 0) if outs else np.zeros((0,), np.float32)
        if steps is not None:
            raise NotImplementedError("Model.predict(steps=) with arrays is not implemented "
                                      "by yingshe.tf.keras")
        x = _array(x, "predict(x)")
        bs = 32 if batch_size is None else int(batch_size)
        outs = [np.asarray(self(x[i:i + bs], training=False).numpy())
                for i in range(0, x.shape[0], bs)]
        return np.concatenate(outs, 0) if outs else np.zeros((0,), np.float32)

    def predict_on_batch(self, x):
        return np.asarray(self(_array(x, "predict_on_batch(x)"), training=False).numpy())

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        self._check_compiled("train_on_batch")
        _no("train_on_batch", sample_weight=sample_weight, class_weight=class_weight)
        loss, _ = self.train_step(_array(x, "x"), _array(y, "y"))
        value = float(loss.numpy())
        return {"loss": value} if return_dict else value

    # ---- weights files (yingshe checkpoints: safetensors, no pickle) ---------------------------
    def save_weights(self, filepath, overwrite=True):
        from yingshe.io import checkpoint
        import os
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(filepath)
        checkpoint.save({f"w{i}": w.numpy() for i, w in enumerate(self.weights)}, filepath)

    def load_weights(self, filepath, skip_mismatch=False):
        from yingshe.io import checkpoint
        data = checkpoint.load(filepath)
        self.set_weights([np.asarray(data[f"w{i}"].numpy() if hasattr(data[f"w{i}"], "numpy")
                                     else data[f"w{i}"]) for i in range(len(data))])

    def save(self, filepath, overwrite=True, **kwargs):
        raise NotImplementedError("Model.save (the .keras/.h5 formats) is not implemented by "
                                  "yingshe.tf.keras: use save_weights/load_weights")

    # ---- summary ------------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs):
        print_fn = print_fn or print
        if not self.built:
            raise ValueError(f"Model {self.name} has not yet been built. Build the model "
                             "first by calling `build()` or by calling the model on a batch "
                             "of data.")
        lines = [f'Model: "{self.name}"', f"{'Layer (type)':<30}{'Output Shape':<26}Param #"]
        for layer in self._layers:
            shape = getattr(layer, "_output_shape", None)
            lines.append(f"{layer.name + ' (' + type(layer).__name__ + ')':<30}"
                         f"{_shape_str(shape) if shape is not None else '?':<26}"
                         f"{layer.count_params()}")
        total = self.count_params()
        tr = int(sum(int(np.prod(w.shape)) for w in self.trainable_weights))
        lines += [f"Total params: {total}", f"Trainable params: {tr}",
                  f"Non-trainable params: {total - tr}"]
        for line in lines:
            print_fn(line)


class Sequential(Model):
    """``tf.keras.Sequential([layers...])``: layers applied in order; an ``Input`` first
    (or ``input_shape=`` on the first layer) builds the weights at once."""

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name)
        self._input_spec = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasInput):
            if self._layers:
                raise ValueError("Sequential: an Input must come first")
            self._input_spec = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"The added layer must be an instance of class Layer. Received: "
                            f"layer={layer!r} of type {type(layer)}.")
        if not self._layers and layer._input_shape_arg is not None and self._input_spec is None:
            self._input_spec = KerasInput(layer._input_shape_arg)
        self._track(layer)
        self.built = False
        if self._input_spec is not None:
            self.build(self._input_spec.shape)

    def pop(self):
        if not self._layers:
            raise TypeError("There are no layers in the model.")
        self._layers.pop()

    def build(self, input_shape=None):
        if input_shape is None:
            if self._input_spec is None:
                raise ValueError("Sequential.build: give an input shape")
            input_shape = self._input_spec.shape
        shape = TensorShape(input_shape)
        if shape and shape[0] is not None and self._input_spec is None:
            shape = TensorShape((None,) + tuple(shape[1:]))
        # build the layers on a zero batch of one sample (shapes only)
        import yingshe
        dt = self._input_spec.dtype if self._input_spec is not None else _core.float32
        x = _core.wrap(yingshe.zeros((1,) + tuple(shape[1:]), dtype=_core.core_dtype(dt)))
        self._forward(x, training=False)
        self.built = True

    def _forward(self, x, training=None):
        for layer in self._layers:
            x = layer(x, training=training)
            layer._output_shape = (None,) + tuple(x.shape[1:])
        return x

    def call(self, inputs, training=None, mask=None):
        if mask is not None:
            raise NotImplementedError("Sequential(mask=...) is not implemented")
        return self._forward(inputs, training)

    def __call__(self, inputs, *args, **kwargs):
        x = to_input(inputs)
        if self._input_spec is not None:
            want = tuple(self._input_spec.shape[1:])
            got = tuple(x.shape[1:])
            if len(want) != len(got) or any(w is not None and w != g for w, g in zip(want, got)):
                raise ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the "
                                 f"layer: expected shape={_shape_str(self._input_spec.shape)}, "
                                 f"found shape={_shape_str(x.shape)}")
        self.built = True
        return self.call(x, *args, **kwargs)


def load_model(*args, **kwargs):
    raise NotImplementedError("keras.models.load_model is not implemented by yingshe.tf.keras "
                              "(use Model.save_weights/load_weights)")


__getattr__ = unsupported_getattr(__name__)
