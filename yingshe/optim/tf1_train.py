"""TF1's ``tf.train`` optimizers for graphs, over ``yingshe.optim``.

Each is a thin adapter: TF1's constructor (hyper-parameters first, Variables later)
and protocol (``compute_gradients``, ``apply_gradients``, ``minimize`` with
``global_step``) over the ``yingshe.optim`` optimizer with TensorFlow's variant of the
maths, whose update is written into the graph by ``yingshe.optim.graph`` (the same
op as an eager ``step()``; no second copy of any formula here). ``yingshe.graph.train``
and ``tf.compat.v1.train`` are this module (``yingshe.optim`` registers the first name:
the compiler does not import the optimizers):

=============================  =================================================
``GradientDescentOptimizer``   ``optim.SGD(lr)``
``MomentumOptimizer``          ``optim.SGD(lr, momentum, nesterov)`` (TF1's accumulator
                               is PyTorch's buffer without dampening)
``AdamOptimizer``              ``optim.Adam(..., variant="tf1")`` (epsilon hat)
``RMSPropOptimizer``           ``optim.RMSprop(..., variant="tf1")`` (mean square starts
                               at one, epsilon inside the root)
``AdagradOptimizer``           ``optim.Adagrad(..., eps=0, variant="tf")``
=============================  =================================================
"""

from __future__ import annotations

from yingshe.graph import build
from yingshe.graph.gradients import gradients
from yingshe.graph.ir import Symbol

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "RMSPropOptimizer", "AdagradOptimizer"]


class Optimizer:
    """TF1's optimizer protocol: ``compute_gradients``, ``apply_gradients``, ``minimize``."""

    def __init__(self, learning_rate, name: str) -> None:
        if isinstance(learning_rate, Symbol):
            raise NotImplementedError(f"{name}: a graph tensor as learning_rate (a schedule "
                                      "in the graph) is not supported yet; pass a number")
        self.learning_rate = float(learning_rate)
        self.name = name
        self._optimizers: dict = {}   # the Variables it updates -> its yingshe.optim optimizer

    def _make(self, var_list):
        raise NotImplementedError

    def compute_gradients(self, loss: Symbol, var_list=None):
        if not isinstance(loss, Symbol):
            raise TypeError(f"minimize: loss must be a graph tensor, got {type(loss).__name__}")
        if var_list is None:
            var_list = loss.graph.trainable_variables()
        var_list = list(var_list)
        if not var_list:
            raise ValueError("minimize: no variables to optimize")
        grads = gradients(loss, var_list)
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        from yingshe.optim.graph import apply_gradients
        pairs = list(grads_and_vars)
        key = tuple(id(v) for _, v in pairs)
        opt = self._optimizers.get(key)
        if opt is None:
            opt = self._optimizers[key] = self._make([v for _, v in pairs])
        if not any(g is not None for g, _ in pairs):
            names = [getattr(v, "name", None) for _, v in pairs]
            raise ValueError(f"{self.name}: no gradients provided for any variable "
                             f"({names}); does the loss depend on them?")
        graph = next(g for g, _ in pairs if g is not None).graph
        with graph.as_default(), graph.name_scope(name or self.name):
            op = apply_gradients(opt, pairs, name=name or self.name)
            if global_step is None:
                return op
            # the update never reads global_step, so the order of the two is free
            return build.group(op, build.assign_add(global_step, 1), name=name or self.name)

    def minimize(self, loss: Symbol, global_step=None, var_list=None, gate_gradients=1,
                 aggregation_method=None, colocate_gradients_with_ops=False, name=None,
                 grad_loss=None):
        """Gradient nodes for the trainable Variables (all of the graph's when
        ``var_list`` is None) and an op applying one update step (and incrementing
        ``global_step`` when given)."""
        if aggregation_method is not None or grad_loss is not None:
            raise NotImplementedError(f"{self.name}.minimize: aggregation_method and "
                                      "grad_loss are not supported by yingshe")
        return self.apply_gradients(self.compute_gradients(loss, var_list),
                                    global_step=global_step, name=name)


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * grad`` for each variable."""

    def __init__(self, learning_rate, use_locking: bool = False,
                 name: str = "GradientDescent") -> None:
        super().__init__(learning_rate, name)

    def _make(self, var_list):
        from yingshe.optim import SGD
        return SGD(var_list, lr=self.learning_rate)


class MomentumOptimizer(Optimizer):
    """``accum = momentum * accum + grad; var -= lr * accum`` (with ``use_nesterov``:
    ``var -= lr * (grad + momentum * accum)``)."""

    def __init__(self, learning_rate, momentum, use_locking: bool = False,
                 name: str = "Momentum", use_nesterov: bool = False) -> None:
        super().__init__(learning_rate, name)
        self.momentum = float(momentum)
        self.use_nesterov = bool(use_nesterov)

    def _make(self, var_list):
        from yingshe.optim import SGD
        return SGD(var_list, lr=self.learning_rate, momentum=self.momentum,
                   nesterov=self.use_nesterov)


class AdamOptimizer(Optimizer):
    """TF1's Adam (epsilon added to the uncorrected root: "epsilon hat")."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08,
                 use_locking: bool = False, name: str = "Adam") -> None:
        super().__init__(learning_rate, name)
        self.betas = (float(beta1), float(beta2))
        self.epsilon = float(epsilon)

    def _make(self, var_list):
        from yingshe.optim import Adam
        return Adam(var_list, lr=self.learning_rate, betas=self.betas, eps=self.epsilon,
                    variant="tf1")


class RMSPropOptimizer(Optimizer):
    """TF1's RMSProp: the mean square starts at one; epsilon inside the root; the
    learning rate inside the momentum accumulator."""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10,
                 use_locking: bool = False, centered: bool = False,
                 name: str = "RMSProp") -> None:
        super().__init__(learning_rate, name)
        self.decay, self.momentum, self.epsilon = float(decay), float(momentum), float(epsilon)
        self.centered = bool(centered)

    def _make(self, var_list):
        from yingshe.optim import RMSprop
        return RMSprop(var_list, lr=self.learning_rate, alpha=self.decay, eps=self.epsilon,
                       momentum=self.momentum, centered=self.centered, variant="tf1")


class AdagradOptimizer(Optimizer):
    """TF1's Adagrad: ``accum += grad^2; var -= lr * grad / sqrt(accum)``, the
    accumulator starting at ``initial_accumulator_value``."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking: bool = False,
                 name: str = "Adagrad") -> None:
        super().__init__(learning_rate, name)
        if initial_accumulator_value <= 0:
            raise ValueError(f"initial_accumulator_value must be positive: "
                             f"{initial_accumulator_value}")
        self.initial_accumulator_value = float(initial_accumulator_value)

    def _make(self, var_list):
        from yingshe.optim import Adagrad
        return Adagrad(var_list, lr=self.learning_rate, eps=0.0, variant="tf",
                       initial_accumulator_value=self.initial_accumulator_value)
