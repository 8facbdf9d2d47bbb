"""``tf.math``: the math ops under their ``tf.math`` names."""

from __future__ import annotations

from yingshe.tf._ops import (abs, add, add_n, argmax, argmin, divide, equal, exp,  # noqa: F401
                             greater, greater_equal, less, less_equal, log, maximum, minimum,
                             multiply, negative, not_equal, pow, reduce_max, reduce_mean,
                             reduce_min, reduce_sum, round, sigmoid, sqrt, square, subtract,
                             tanh, truediv)
from yingshe.tf._unsupported import unsupported_getattr

__all__ = ["abs", "add", "add_n", "argmax", "argmin", "divide", "equal", "exp", "greater",
           "greater_equal", "less", "less_equal", "log", "maximum", "minimum", "multiply",
           "negative", "not_equal", "pow", "reduce_max", "reduce_mean", "reduce_min",
           "reduce_sum", "round", "sigmoid", "sqrt", "square", "subtract", "tanh", "truediv"]

__getattr__ = unsupported_getattr(__name__)
