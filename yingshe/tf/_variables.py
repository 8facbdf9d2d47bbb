"""``tf.Variable`` and ``tf.GradientTape`` over yingshe's state and tape.

``tf.Variable`` is a ``yingshe.state.Variable`` (the one storage class), so
``yingshe.optim`` optimizers and checkpoints work on it directly. While graph
building is on (``tf.compat.v1.disable_eager_execution()``), ``tf.Variable(...)``
makes a graph Variable (``yingshe.graph.Variable``) instead.

``GradientTape`` does not keep a tape of its own: the core tape records every op run
while at least one GradientTape is active (outside all tapes, front-end ops run with
recording off). ``gradient`` asks the core for the gradients of the targets with
respect to the sources this tape watches: trainable Variables (when
``watch_accessed_variables``) and the tensors given to ``watch``. Other sources,
unconnected ones and non-float ones get ``None`` (or zeros with
``unconnected_gradients="zero"``). Called while a tape is active, ``gradient``
records its own computation, which is how nested tapes give higher derivatives.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import weakref

import numpy as np

import yingshe
from yingshe import _dtype
from yingshe._tensor import MODE, Tensor, _seq
from yingshe.autograd import enable_grad, grad as _core_grad, no_grad
from yingshe.state import Variable as _StateVariable
from yingshe.tf import _core
from yingshe.tf._core import (_TAPES, _TFTensorMixin, as_dtype, convert_to_tensor, errors,
                              run, wrap)

__all__ = ["Variable", "GradientTape", "UnconnectedGradients", "VariableSynchronization",
           "VariableAggregation"]

_var_ids = itertools.count()


class Variable(_TFTensorMixin, _StateVariable):
    """``tf.Variable(initial_value, trainable=True, name=None, dtype=None, shape=None)``."""

    def __new__(cls, initial_value=None, trainable=None, validate_shape=True,
                caching_device=None, name=None, variable_def=None, dtype=None, *args,
                **kwargs):
        if _core.GRAPH_MODE[0]:
            from yingshe import graph
            value = initial_value() if callable(initial_value) else initial_value
            if not isinstance(value, Tensor):
                value = convert_to_tensor(value, dtype)._data
            return graph.Variable(value, trainable=True if trainable is None else trainable,
                                  name=name, dtype=None if dtype is None
                                  else _core.core_dtype(dtype))
        return super().__new__(cls)

    def __init__(self, initial_value=None, trainable=None, validate_shape=True,
                 caching_device=None, name=None, variable_def=None, dtype=None,
                 import_scope=None, constraint=None, synchronization=None,
                 aggregation=None, shape=None, experimental_enable_variable_lifting=True):
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        if callable(initial_value):
            initial_value = initial_value()
        value = convert_to_tensor(initial_value, dtype)
        arr = np.array(value._data, copy=True)
        trainable = True if trainable is None else bool(trainable)
        n = next(_var_ids)
        base = name if name is not None else "Variable"
        super().__init__(arr, name=f"{base}:0", trainable=trainable)
        self._unique_id = n
        self.constraint = constraint

    @property
    def initial_value(self):
        return None

    def value(self):
        """The current value as a tensor (recorded by an active tape)."""
        return run(lambda: yingshe.clone(self))

    read_value = value

    def _check_value(self, value, what: str):
        if isinstance(value, Tensor):
            if _core._tensor_np_dtype(value) != self._data.dtype:
                raise errors.InvalidArgumentError(
                    None, None, f"{what}: cannot write a {_core._tensor_dtype(value).name} "
                    f"value into Variable '{self.name}' of dtype {self.dtype.name}")
            return value
        return yingshe.tensor(_core._cast_value(value, self.dtype, what))

    def assign(self, value, use_locking=False, name=None, read_value=True):
        v = self._check_value(value, "assign")
        if tuple(v.shape) != tuple(self._data.shape):
            raise ValueError(f"Cannot assign value to variable '{self.name}': Shape mismatch. "
                             f"The variable shape {self.shape}, and the assigned value shape "
                             f"{_core.TensorShape(v.shape)} are incompatible.")
        _StateVariable.assign(self, v)
        return self

    def assign_add(self, delta, use_locking=False, name=None, read_value=True):
        d = self._check_value(delta, "assign_add")
        with no_grad():
            return self.assign(yingshe.add(self, d))

    def assign_sub(self, delta, use_locking=False, name=None, read_value=True):
        d = self._check_value(delta, "assign_sub")
        with no_grad():
            return self.assign(yingshe.sub(self, d))

    def __getitem__(self, key):
        """``v[key]``: the values, as a tensor that can also ``assign`` into that part of
        the Variable (``v[0, 0].assign(10)``), as in TensorFlow."""
        out = _TFTensorMixin.__getitem__(self, key)
        if isinstance(out, _core.EagerTensor) and not _core.GRAPH_MODE[0]:
            out.__class__ = _VariableSlice
            # by identity (tensors compare elementwise), forgotten with the tensor
            _SLICES[id(out)] = (self, _core._unwrap_key(key))
            weakref.finalize(out, _SLICES.pop, id(out), None)
        return out

    def __repr__(self) -> str:
        return (f"<tf.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}, "
                f"numpy={_core._np_repr(self._data)}>")

    def __str__(self) -> str:
        return self.__repr__()

    def __reduce__(self):
        return (Variable, (np.array(self._data),), None)

    def __deepcopy__(self, memo):
        v = Variable(np.array(self._data), trainable=self.trainable,
                     name=self.name.rsplit(":", 1)[0])
        memo[id(self)] = v
        return v


_SLICES: dict = {}     # id(slice tensor) -> (Variable, key)


class _VariableSlice(_core.EagerTensor):
    """What indexing a ``tf.Variable`` gives: the values, plus ``assign`` into that part."""

    __slots__ = ()

    def assign(self, value, use_locking=None, name=None, read_value=True):
        var, key = _SLICES[id(self)]
        v = var._check_value(value, "assign")
        new = np.array(var._data, copy=True)
        try:
            new[key] = np.asarray(v._data)
        except (ValueError, IndexError) as err:
            raise errors.InvalidArgumentError(
                None, None, f"assign to Variable '{var.name}'[{key}]: {err}") from None
        _StateVariable.assign(var, yingshe.tensor(new))
        return var


class UnconnectedGradients(enum.Enum):
    NONE = "none"
    ZERO = "zero"


class VariableSynchronization(enum.Enum):
    AUTO = 0
    NONE = 1
    ON_WRITE = 2
    ON_READ = 3


class VariableAggregation(enum.Enum):
    NONE = 0
    SUM = 1
    MEAN = 2
    ONLY_FIRST_REPLICA = 3


# ---- nested structures ---------------------------------------------------------------------

def _flatten(x, out: list):
    if isinstance(x, dict):
        keys = sorted(x)
        parts = [_flatten(x[k], out) for k in keys]
        return lambda vals: type(x)((k, p(vals)) for k, p in zip(keys, parts))
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        parts = [_flatten(v, out) for v in x]
        return lambda vals: type(x)(p(vals) for p in parts)
    i = len(out)
    out.append(x)
    return lambda vals: vals[i]


class GradientTape:
    """``tf.GradientTape(persistent=False, watch_accessed_variables=True)``."""

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self._persistent = persistent
        self._watch_vars = watch_accessed_variables
        self._watched: dict[int, Tensor] = {}
        self._used = False
        self._start = None
        self._recording = False

    def __enter__(self):
        if self._recording:
            raise ValueError("Tape is still recording, This can happen if you try to "
                             "re-enter an already-active tape.")
        self._start = _seq[0]
        self._recording = True
        _TAPES.append(self)
        return self

    def __exit__(self, *exc):
        self._pop()
        return False

    def _pop(self):
        if self in _TAPES:
            _TAPES.remove(self)
        self._recording = False

    @contextlib.contextmanager
    def stop_recording(self):
        """Ops inside are not recorded (by any active tape: yingshe has one core tape)."""
        if not self._recording:
            raise ValueError("Tape must be recording.")
        saved = list(_TAPES)
        _TAPES.clear()
        try:
            with no_grad():
                yield
        finally:
            _TAPES.extend(saved)

    def reset(self):
        self._watched.clear()
        self._start = _seq[0]

    def watch(self, tensor):
        """Watch tensors (any nesting): gradients with respect to them become available
        for the ops recorded after this call. Non-float tensors are ignored (as in TF,
        whose gradients for them are None)."""
        flat: list = []
        _flatten(tensor, flat)
        for t in flat:
            if not isinstance(t, Tensor):
                raise ValueError(f"Passed in object {t!r} of type {type(t).__name__!r}, not "
                                 "tf.Tensor or tf.Variable")
            if isinstance(t, _core.Symbol) and MODE.tracer is not None:
                if t.dtype.category == _dtype.FLOAT:   # traced by tf.function
                    self._watched[id(t)] = t
                continue
            if t._data is None or t._data.dtype.kind != "f":
                continue
            if not t.requires_grad_flag:
                t.requires_grad_flag = True
            self._watched[id(t)] = t

    def watched_variables(self):
        return tuple(t for t in self._watched.values() if isinstance(t, _StateVariable))

    def _is_watched(self, s) -> bool:
        if id(s) in self._watched:
            return True
        if isinstance(s, _StateVariable):
            return self._watch_vars and s.trainable
        # an intermediate result computed while this tape was recording
        return s._node is not None and self._start is not None and s._node.seq > self._start

    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients=UnconnectedGradients.NONE):
        """d(sum of targets)/d(source) for each source, in the structure of ``sources``."""
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute "
                               "one set of gradients (or jacobians)")
        self._used = True
        unconnected = UnconnectedGradients(unconnected_gradients) if not isinstance(
            unconnected_gradients, UnconnectedGradients) else unconnected_gradients
        tgts: list = []
        _flatten(target, tgts)
        srcs: list = []
        rebuild = _flatten(sources, srcs)
        for s in srcs:
            if not isinstance(s, Tensor):
                raise ValueError(f"GradientTape.gradient: a source is a "
                                 f"{type(s).__name__}, not a tf.Tensor or tf.Variable")
        if MODE.tracer is not None:
            return rebuild(self._traced_gradient(tgts, srcs, output_gradients, unconnected))
        outs, grads_out = [], []
        ogs: list = []
        if output_gradients is not None:
            _flatten(output_gradients, ogs)
            if len(ogs) != len(tgts):
                raise ValueError(f"output_gradients has {len(ogs)} entries for "
                                 f"{len(tgts)} targets")
        for i, t in enumerate(tgts):
            t = _core.to_tensor(t)
            if t.requires_grad_flag and t._data.dtype.kind == "f":
                outs.append(t)
                # TensorFlow differentiates the sum of a non-scalar target's elements
                grads_out.append(yingshe.ones_like(t) if not ogs
                                 else _core.to_tensor(ogs[i], t.dtype))
        want = [s for s in srcs if s._data.dtype.kind == "f" and s.requires_grad_flag
                and self._is_watched(s)]
        self._check_cut(outs, want)
        result = {}
        if outs and want:
            create = bool(_TAPES)
            ctx = enable_grad() if create else no_grad()
            with ctx:
                got = _core_grad(outs, want, grad_outputs=grads_out,
                                 retain_graph=True, create_graph=create, allow_unused=True)
            for s, g in zip(want, got):
                result[id(s)] = g
        vals = []
        for s in srcs:
            g = result.get(id(s))
            if g is None and unconnected is UnconnectedGradients.ZERO:
                g = yingshe.zeros_like(s)
            vals.append(wrap(g))
        return rebuild(vals)

    def _traced_gradient(self, tgts, srcs, output_gradients, unconnected):
        """Inside ``tf.function``: symbolic gradients added to the traced graph. Ops run
        outside every tape (recording off) are stop-gradient points of the trace, so
        values computed before the tape are constants to it, as in TensorFlow."""
        from yingshe.graph.gradients import gradients
        tracer = MODE.tracer
        ogs: list = []
        if output_gradients is not None:
            _flatten(output_gradients, ogs)
            if len(ogs) != len(tgts):
                raise ValueError(f"output_gradients has {len(ogs)} entries for "
                                 f"{len(tgts)} targets")
        ys, gys = [], []
        for i, t in enumerate(tgts):
            sym = tracer.sym(_core.to_tensor(t))
            if isinstance(sym, _core.Symbol) and sym.dtype.category == _dtype.FLOAT:
                ys.append(sym)
                gys.append(None if not ogs else tracer.sym(_core.to_tensor(ogs[i])))
        want, idx = [], []
        for j, s in enumerate(srcs):
            if isinstance(s, _core.Symbol):
                ok = s.dtype.category == _dtype.FLOAT and (
                    id(s) in self._watched or s._gnode.kind != "placeholder")
            else:
                ok = s._data.dtype.kind == "f" and (
                    id(s) in self._watched or (isinstance(s, _StateVariable) and
                                               self._watch_vars and s.trainable))
            if ok:
                want.append(tracer.sym(s))
                idx.append(j)
        vals = [None] * len(srcs)
        if ys and want:
            stops = list(tracer.no_grad_nodes)
            got = gradients(ys, want, grad_ys=gys if ogs else None,
                            stop_gradients=stops or None)
            for j, g in zip(idx, got):
                vals[j] = g
        for j, s in enumerate(srcs):
            if vals[j] is None and unconnected is UnconnectedGradients.ZERO:
                vals[j] = yingshe.zeros_like(s)
        return [wrap(v) for v in vals]

    def _check_cut(self, outs, sources) -> None:
        """TensorFlow cuts a tape's graph at values computed before the tape began; the
        core tape does not. Refuse (instead of answering differently) when such a
        value depends on a source."""
        if self._start is None:
            return
        src_ids = {id(s) for s in sources}
        src_nodes = {(id(s._node), s._out_index) for s in sources if s._node is not None}
        old, seen = [], set()
        stack = [t._node for t in outs if t._node is not None]
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            if n.seq <= self._start:
                old.append(n)
                continue
            for e in n.edges:
                if isinstance(e, tuple):
                    stack.append(e[0])
        if not old:
            return
        stack, seen = list(old), set()
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            for e in n.edges:
                if e is None:
                    continue
                if isinstance(e, tuple):
                    if (id(e[0]), e[1]) in src_nodes:
                        break
                    stack.append(e[0])
                elif id(e) in src_ids:
                    break
            else:
                continue
            raise NotImplementedError(
                "GradientTape.gradient: the target depends on a source through a value "
                "computed before this tape started (inside an outer tape). TensorFlow treats "
                "that value as a constant; yingshe.tf does not support this yet. Compute it "
                "inside this tape, or wrap it in tf.stop_gradient.")

    def _rows(self, what: str, target, source, rows, unconnected):
        """Stack ``gradient(target, source, output_gradients=row)`` over ``rows`` (one-hot
        cotangents): each row of a Jacobian, computed on one use of this tape."""
        if MODE.tracer is not None:
            from yingshe.graph.trace import TraceError
            raise TraceError(f"GradientTape.{what} inside tf.function")
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute "
                               "one set of gradients (or jacobians)")
        persistent, self._persistent = self._persistent, True
        try:
            out = []
            for row in rows:
                g = self.gradient(target, source, output_gradients=row,
                                  unconnected_gradients=unconnected)
                out.append(g)
        finally:
            self._persistent = persistent
            self._used = True
        return out

    def jacobian(self, target, sources, unconnected_gradients=UnconnectedGradients.NONE,
                 parallel_iterations=None, experimental_use_pfor=True):
        """d target / d source for every element pair: for each source, a tensor of shape
        ``target.shape + source.shape`` (``None`` where unconnected), in the structure of
        ``sources``."""
        t = _core.to_tensor(target)
        srcs: list = []
        rebuild = _flatten(sources, srcs)
        n = int(np.prod(t.shape, dtype=np.int64))
        eye = np.eye(n, dtype=t._data.dtype)
        rows = [yingshe.tensor(eye[i].reshape(t.shape)) for i in range(n)]
        grads = self._rows("jacobian", t, srcs, rows, unconnected_gradients) if n else []
        vals = []
        for j, s in enumerate(srcs):
            parts = [g[j] for g in grads]
            if n and any(p is None for p in parts):
                vals.append(None)
                continue
            shape = tuple(t.shape) + tuple(s.shape)
            vals.append(wrap(yingshe.stack(parts).reshape(shape)) if n else
                        wrap(yingshe.zeros(shape, dtype=s.dtype)))
        return rebuild(vals)

    def batch_jacobian(self, target, source, unconnected_gradients=UnconnectedGradients.NONE,
                       parallel_iterations=None, experimental_use_pfor=True):
        """For each example ``b``: d target[b] / d source[b], of shape ``target.shape +
        source.shape[1:]``, assuming (as TensorFlow does) that examples do not mix."""
        t = _core.to_tensor(target)
        s = source
        if t.ndim < 1 or s.ndim < 1 or t.shape[0] != s.shape[0]:
            raise ValueError(f"Need first dimension of target shape ({_core.TensorShape(t.shape)}"
                             f") and source shape ({_core.TensorShape(s.shape)}) to match.")
        b = t.shape[0]
        inner = tuple(t.shape[1:])
        n = int(np.prod(inner, dtype=np.int64))
        eye = np.eye(n, dtype=t._data.dtype)
        rows = [yingshe.tensor(np.broadcast_to(eye[i].reshape((1,) + inner),
                                               tuple(t.shape)).copy()) for i in range(n)]
        grads = self._rows("batch_jacobian", t, [s], rows, unconnected_gradients) if n else []
        parts = [g[0] for g in grads]
        if n and any(p is None for p in parts):
            return None
        shape = (b,) + inner + tuple(s.shape[1:])
        if not n:
            return wrap(yingshe.zeros(shape, dtype=s.dtype))
        # parts[i] is (b, *source[1:]): d sum_b target[b, i] / d source, one row per b
        return wrap(yingshe.stack(parts, 1).reshape(shape))
