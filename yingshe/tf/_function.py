"""``tf.function`` over ``yingshe.compile(fn, fallback="eager")``.

The function is traced into a graph on its first call per input signature (shapes and
dtypes of tensor arguments, values of the others), compiled and cached, as
TensorFlow does. What TensorFlow's tracing keeps is kept here too:

* ops outside every ``GradientTape`` are not differentiable (they run with recording
  off, and become stop-gradient points of the trace); a ``GradientTape`` inside the
  function differentiates symbolically (``yingshe.graph.gradients``), so a whole
  TF2 training step (forward, ``tape.gradient``, ``optimizer.apply_gradients`` or
  ``assign_sub``) compiles into one program;
* NumPy array arguments are converted to tensors (they do not re-trace on new values);
  Python values are part of the signature;
* Variables are read and updated by identity (never copied into the program);
* Python side effects (``print``) happen only while tracing.

A function the tracer cannot follow (Python control flow on a tensor value,
``.numpy()`` inside it: what TensorFlow's AutoGraph would convert) runs eagerly
instead, with one warning per function, and gives the same numbers. A call made while
an outer ``GradientTape`` records runs eagerly without a warning (the tape must see
the ops).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from yingshe._tensor import Tensor
from yingshe.autograd import no_grad
from yingshe.graph.trace import CompiledFunction, TraceError
from yingshe.tf import _core

__all__ = ["function", "Function"]

_ACCEPTED = ("input_signature", "autograph", "jit_compile", "reduce_retracing",
             "experimental_implements", "experimental_autograph_options",
             "experimental_attributes", "experimental_relax_shapes",
             "experimental_compile", "experimental_follow_type_hints")


def _convert_args(obj):
    if isinstance(obj, np.ndarray):
        return _core.convert_to_tensor(obj)
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_convert_args(v) for v in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _convert_args(v)) for k, v in obj.items())
    return obj


def _wrap_out(obj):
    if isinstance(obj, Tensor):
        return _core.wrap(obj)
    if isinstance(obj, (list, tuple)):
        vals = [_wrap_out(v) for v in obj]
        return type(obj)(*vals) if hasattr(obj, "_fields") else type(obj)(vals)
    if isinstance(obj, dict):
        return type(obj)((k, _wrap_out(v)) for k, v in obj.items())
    return obj


class Function:
    """What ``tf.function`` returns: call it like the Python function."""

    def __init__(self, python_function, name=None, jit_compile=None, reduce_retracing=False,
                 input_signature=None, autograph=True, **_ignored):
        functools.update_wrapper(self, python_function)
        self.python_function = python_function
        self._name = name or getattr(python_function, "__name__", "function")
        self._jit_compile = jit_compile
        self._reduce_retracing = reduce_retracing
        self.input_signature = input_signature
        self._compiled = CompiledFunction(python_function, fallback=None)
        self._eager_only = False
        self._warned = False
        self._bound: dict = {}

    @property
    def experimental_get_tracing_count(self):
        return lambda: self._compiled.traces

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        # one Function per instance, as TensorFlow binds a method's tf.function
        bound = self._bound.get(id(obj))
        if bound is None or bound[0]() is not obj:
            import weakref
            try:
                ref = weakref.ref(obj)
            except TypeError:
                return functools.partial(self.__call__, obj)
            method = Function(functools.partial(self.python_function, obj), name=self._name)
            bound = (ref, method)
            self._bound[id(obj)] = bound
        return bound[1]

    def __call__(self, *args, **kwargs):
        args, kwargs = _convert_args(args), _convert_args(kwargs)
        if _core._TAPES or _core.GRAPH_MODE[0] or self._eager_only:
            # an outer GradientTape records the ops (TensorFlow differentiates through a
            # tf.function called under a tape): run the Python function itself
            return _wrap_out(self.python_function(*args, **kwargs))
        try:
            with no_grad():
                out = self._compiled(*args, **kwargs)
        except (TraceError, NotImplementedError) as err:
            self._eager_only = True
            if not self._warned:
                self._warned = True
                warnings.warn(f"tf.function: {self._name} runs eagerly in yingshe.tf (its "
                              f"tracing stopped at: {err}); results are the same, only "
                              "slower", stacklevel=2)
            with no_grad():
                out = self.python_function(*args, **kwargs)
        return _wrap_out(out)

    def get_concrete_function(self, *args, **kwargs):
        from yingshe.tf._unsupported import UnsupportedError
        raise UnsupportedError("tf.function(...).get_concrete_function is not supported by "
                               "yingshe.tf")

    def experimental_get_compiler_ir(self, *args, **kwargs):
        from yingshe.tf._unsupported import UnsupportedError
        raise UnsupportedError("experimental_get_compiler_ir is not supported by yingshe.tf")

    def explain(self, file=None) -> str:
        """yingshe's addition: the compiled program and its generated source."""
        return self._compiled.explain(file)


def function(func=None, input_signature=None, autograph=True, jit_compile=None,
             reduce_retracing=False, experimental_implements=None,
             experimental_autograph_options=None, experimental_attributes=None,
             experimental_relax_shapes=None, experimental_compile=None,
             experimental_follow_type_hints=None, name=None):
    """``tf.function``: usable as ``@tf.function``, ``@tf.function(...)`` and
    ``tf.function(fn, ...)``. ``input_signature``, ``jit_compile`` and
    ``reduce_retracing`` are accepted (yingshe traces once per input signature and
    compiles every function to straight-line Python)."""
    def make(f):
        if isinstance(f, Function):
            return f
        return Function(f, name=name, jit_compile=jit_compile,
                        reduce_retracing=reduce_retracing, input_signature=input_signature,
                        autograph=autograph)
    if func is None:
        return make
    return make(func)
