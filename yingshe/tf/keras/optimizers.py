"""``tf.keras.optimizers``: ``SGD``, ``Adam``, ``RMSprop`` with Keras' defaults and
maths (``yingshe.optim``'s ``variant="keras"``/``"tf"``), ``apply_gradients(zip(grads,
vars))``, ``learning_rate`` (a Variable: assign to it, or set the attribute) and
``iterations``."""

from __future__ import annotations

import numpy as np

from yingshe import optim as _optim
from yingshe._tensor import Tensor
from yingshe.tf import _core
from yingshe.tf._unsupported import unsupported_getattr
from yingshe.tf._variables import Variable

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "get"]


class Optimizer:
    """Base class: subclasses say which ``yingshe.optim`` class and options they use."""

    def __init__(self, learning_rate, name=None, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, **kwargs):
        for k, v in dict(weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema or None,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps).items():
            if v is not None:
                raise NotImplementedError(f"{type(self).__name__}({k}={v!r}) is not "
                                          "implemented by yingshe.tf.keras")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unrecognized keyword arguments "
                            f"{sorted(kwargs)}")
        if not isinstance(learning_rate, (int, float, np.floating, np.integer, Tensor)):
            raise NotImplementedError(f"{type(self).__name__}: learning-rate schedules are "
                                      "not implemented by yingshe.tf.keras (pass a number)")
        self.name = name or type(self).__name__.lower()
        self._lr = Variable(np.float32(float(learning_rate)), trainable=False,
                            name="learning_rate")
        self._iterations = Variable(np.int64(0), trainable=False, name="iteration")
        self._opt = None

    @property
    def learning_rate(self):
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr.assign(np.float32(float(value)))

    lr = learning_rate

    @property
    def iterations(self):
        return self._iterations

    @property
    def variables(self):
        out = [self._iterations, self._lr]
        if self._opt is not None:
            for st in self._opt.state.values():
                out.extend(v for k, v in st.items() if k != "step")
        return out

    def _make(self, params):
        raise NotImplementedError

    def build(self, var_list):
        if self._opt is None:
            self._opt = self._make(list(var_list))
        else:
            known = {id(p) for g in self._opt.param_groups for p in g["params"]}
            new = [v for v in var_list if id(v) not in known]
            if new:
                self._opt.add_param_group({"params": new})

    def apply_gradients(self, grads_and_vars, name=None, **kwargs):
        """Apply one update: ``grads_and_vars`` is an iterable of (gradient, Variable);
        pairs whose gradient is None are skipped."""
        pairs = [(g, v) for g, v in grads_and_vars]
        for g, v in pairs:
            if not isinstance(v, Tensor):
                raise ValueError(f"apply_gradients: expected a tf.Variable, got "
                                 f"{type(v).__name__}")
        pairs = [(g, v) for g, v in pairs if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        self.build([v for _, v in pairs])
        lr = float(self._lr._data)   # hyper-parameters are read at each step
        for group in self._opt.param_groups:
            group["lr"] = lr
        for g, v in pairs:
            if tuple(g.shape) != tuple(v.shape):
                raise ValueError(f"apply_gradients: gradient shape "
                                 f"{_core.TensorShape(g.shape)} does not match the shape "
                                 f"{v.shape} of variable '{v.name}'")
            v.grad = g if isinstance(g, Tensor) else _core.convert_to_tensor(g)
        _core.CORE_OPERATORS[0] = True     # the core's maths on the Variables
        try:
            self._opt.step()
        finally:
            _core.CORE_OPERATORS[0] = False
            for _, v in pairs:
                v.grad = None
        self._iterations.assign_add(1)
        return self._iterations

    def minimize(self, loss, var_list, tape=None):
        from yingshe.tf._variables import GradientTape
        if not callable(loss):
            if tape is None:
                raise ValueError("`tape` is required when a `Tensor` loss is passed.")
            grads = tape.gradient(loss, var_list)
        else:
            with GradientTape() as t:
                value = loss()
            grads = t.gradient(value, var_list)
        self.apply_gradients(zip(grads, var_list))

    def get_config(self):
        return {"name": self.name, "learning_rate": float(self._lr._data)}


class SGD(Optimizer):
    """``SGD(learning_rate=0.01, momentum=0.0, nesterov=False)`` (Keras' velocity form)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD",
                 **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _make(self, params):
        return _optim.SGD(params, lr=float(self._lr._data), momentum=self.momentum,
                          nesterov=self.nesterov, variant="keras")


class Adam(Optimizer):
    """``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
    amsgrad=False)`` (epsilon outside the bias correction, as Keras)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adam", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)

    def _make(self, params):
        return _optim.Adam(params, lr=float(self._lr._data), betas=(self.beta_1, self.beta_2),
                           eps=self.epsilon, amsgrad=self.amsgrad, variant="keras")


class RMSprop(Optimizer):
    """``RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
    centered=False)``."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, name="rmsprop", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)

    def _make(self, params):
        return _optim.RMSprop(params, lr=float(self._lr._data), alpha=self.rho,
                              eps=self.epsilon, momentum=self.momentum,
                              centered=self.centered, variant="keras")


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier):
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r} "
                     f"(yingshe.tf.keras knows: {', '.join(sorted(_BY_NAME))})")


__getattr__ = unsupported_getattr(__name__)
