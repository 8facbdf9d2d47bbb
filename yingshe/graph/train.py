"""``GradientDescentOptimizer`` for graphs (TF1's ``tf.train`` name).

A stop-gap: the optimizer maths is meant to live once, in ``yingshe.optim``, which
will get graph ``minimize``/``apply_gradients``; until then this small SGD builds the
update with graph ops (``var -= lr * grad`` as assign_sub nodes).
"""

from __future__ import annotations

from yingshe.graph import build
from yingshe.graph.gradients import gradients
from yingshe.graph.ir import Symbol

__all__ = ["GradientDescentOptimizer", "Optimizer"]


class Optimizer:
    """TF1's optimizer protocol: ``compute_gradients``, ``apply_gradients``, ``minimize``."""

    def __init__(self, learning_rate: float, name: str) -> None:
        self.learning_rate = learning_rate
        self.name = name

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

    def apply_gradients(self, grads_and_vars, name=None):
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            names = [getattr(v, "name", None) for _, v in grads_and_vars]
            raise ValueError(f"{self.name}: no gradients provided for any variable "
                             f"({names}); does the loss depend on them?")
        g0 = pairs[0][0]
        with g0.graph.as_default(), g0.graph.name_scope(name or self.name):
            updates = [self._apply_one(g, v) for g, v in pairs]
            return build.group(*updates, name=name or self.name)

    def minimize(self, loss: Symbol, var_list=None, name=None):
        """Gradient nodes for the trainable Variables (all of the graph's when
        ``var_list`` is None) and an op applying one update step."""
        return self.apply_gradients(self.compute_gradients(loss, var_list), name=name)

    def _apply_one(self, g, v):
        raise NotImplementedError


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * grad`` for each variable."""

    def __init__(self, learning_rate: float, use_locking: bool = False,
                 name: str = "GradientDescent") -> None:
        super().__init__(learning_rate, name)

    def _apply_one(self, g, v):
        return build.assign_sub(v, g * self.learning_rate)
