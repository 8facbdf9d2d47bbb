"""The adapter layer of ``yingshe.tf``: TensorFlow's dtypes, shapes, tensor classes,
conversion rules and the ``GradientTape``, over yingshe's core tensors and tape.

No maths lives here. An eager TF tensor *is* a yingshe ``Tensor`` (its class is
switched to :class:`EagerTensor`, which adds TensorFlow's printing, ``numpy()``,
``TensorShape`` and TensorFlow's dtype rules on operators); ``tf.Variable`` is a
``yingshe.state.Variable``. Graph tensors (``yingshe.graph.Symbol``) pass through
unchanged, so the same functions build TF1 graphs.

TensorFlow's dtype rules, enforced by :func:`binary`:

* Python floats become float32, Python ints int32 (int64 when they do not fit),
  NumPy arrays keep their dtype;
* two tensors of different dtypes never mix: ``InvalidArgumentError`` eagerly,
  ``TypeError`` while building a graph;
* a Python scalar, list or NumPy array next to a tensor takes the tensor's dtype
  (a non-integral float next to an integer tensor is an ``InvalidArgumentError``).

Recording: eager ops run with the core tape off unless a ``GradientTape`` is
active, so a value computed outside every tape is a constant to later tapes, as in
TensorFlow.
"""

from __future__ import annotations


import numpy as np

import yingshe
from yingshe import _dtype
from yingshe._tensor import MODE, Tensor
from yingshe.autograd import enable_grad, no_grad
from yingshe.errors import DTypeError, IndexError as _YIndexError, ShapeError
from yingshe.graph.ir import Symbol
from yingshe.state import Variable as _StateVariable
from yingshe.tf import errors

# ---- dtypes --------------------------------------------------------------------------------


class DType(_dtype.dtype):
    """A TensorFlow dtype (``tf.float32``): the yingshe dtype with TensorFlow's
    names and printing; equal to the yingshe dtype and NumPy dtype it wraps."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __str__(self) -> str:
        return f"<dtype: '{self.name}'>"

    def __eq__(self, other) -> bool:
        if isinstance(other, _dtype.dtype):
            return other.name == self.name
        try:
            return np.dtype(other) == self.np
        except TypeError:
            return False

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    __hash__ = _dtype.dtype.__hash__

    def __reduce__(self):
        return (as_dtype, (self.name,))

    @property
    def dtype(self) -> np.dtype:      # lets np.dtype(tf.float32) and yingshe accept it
        return self.np

    @property
    def as_numpy_dtype(self):
        return self.np.type

    @property
    def base_dtype(self) -> "DType":
        return self

    @property
    def is_floating(self) -> bool:
        return self.category == _dtype.FLOAT

    @property
    def is_integer(self) -> bool:
        return self.category == _dtype.INT

    @property
    def is_bool(self) -> bool:
        return self.category == _dtype.BOOL

    @property
    def size(self) -> int:
        return self.itemsize

    @property
    def min(self):
        return np.finfo(self.np).min if self.is_floating else np.iinfo(self.np).min

    @property
    def max(self):
        return np.finfo(self.np).max if self.is_floating else np.iinfo(self.np).max


_TF: dict[str, DType] = {d.name: DType(d.name, d.np, d.category) for d in _dtype.ALL_DTYPES}
_ALIASES = {"half": "float16", "float": "float32", "double": "float64"}


def as_dtype(d) -> DType:
    """``tf.as_dtype``: a TF dtype from a TF/yingshe/NumPy dtype, a type or a name."""
    if isinstance(d, DType):
        return d
    if isinstance(d, _dtype.dtype):
        return _TF[d.name]
    if isinstance(d, str):
        name = _ALIASES.get(d, d)
        if name in _TF:
            return _TF[name]
        raise TypeError(f"Cannot convert {d!r} to a dtype")
    if d is float:
        return _TF["float32"]
    if d is int:
        return _TF["int32"]
    if d is bool:
        return _TF["bool"]
    try:
        return _TF[_dtype.from_numpy_dtype(np.dtype(d)).name]
    except TypeError:
        raise TypeError(f"Cannot convert {d!r} to a dtype supported by yingshe.tf "
                        f"(supported: {', '.join(_TF)})") from None


def core_dtype(d) -> _dtype.dtype:
    """The yingshe dtype singleton for any dtype spelling (what core functions take)."""
    return _dtype.as_dtype(as_dtype(d).name)


float16, float32, float64 = _TF["float16"], _TF["float32"], _TF["float64"]
int8, int16, int32, int64 = _TF["int8"], _TF["int16"], _TF["int32"], _TF["int64"]
uint8, bool_ = _TF["uint8"], _TF["bool"]
half, double = float16, float64

# ---- shapes --------------------------------------------------------------------------------


class TensorShape(tuple):
    """``tf.TensorShape``: a tuple of dims (``None`` for unknown) with TF's helpers."""

    def __new__(cls, dims=()):
        if dims is None:
            dims = ()
        if isinstance(dims, int):
            dims = (dims,)
        return super().__new__(cls, (None if d is None else int(d) for d in dims))

    def as_list(self) -> list:
        return list(self)

    @property
    def rank(self) -> int:
        return len(self)

    ndims = rank

    def num_elements(self):
        if any(d is None for d in self):
            return None
        return int(np.prod(self, dtype=np.int64))

    def is_fully_defined(self) -> bool:
        return all(d is not None for d in self)

    def __getitem__(self, key):
        r = super().__getitem__(key)
        return TensorShape(r) if isinstance(key, slice) else r

    def __repr__(self) -> str:
        return f"TensorShape({list(self)})"

    def __str__(self) -> str:
        return "(" + ", ".join("None" if d is None else str(d) for d in self) + \
            ("," if len(self) == 1 else "") + ")"


# ---- tensor classes ------------------------------------------------------------------------


def _op_name(fn) -> str:
    return getattr(fn, "_tf_name", getattr(fn, "__name__", "op"))


class _TFOperators:
    """Operators with TensorFlow's dtype rules, then the core op."""

    __slots__ = ()

    # operators: TensorFlow's dtype rules, then the core op
    def __add__(self, o): return binary("add", yingshe.add, self, o)
    def __radd__(self, o): return binary("add", yingshe.add, o, self)
    def __sub__(self, o): return binary("sub", yingshe.sub, self, o)
    def __rsub__(self, o): return binary("sub", yingshe.sub, o, self)
    def __mul__(self, o): return binary("mul", yingshe.mul, self, o)
    def __rmul__(self, o): return binary("mul", yingshe.mul, o, self)
    def __truediv__(self, o): return truediv(self, o)
    def __rtruediv__(self, o): return truediv(o, self)
    def __floordiv__(self, o): return binary("floordiv", yingshe.floor_divide, self, o)
    def __rfloordiv__(self, o): return binary("floordiv", yingshe.floor_divide, o, self)
    def __pow__(self, o): return binary("pow", yingshe.pow, self, o)
    def __rpow__(self, o): return binary("pow", yingshe.pow, o, self)
    def __matmul__(self, o): return binary("matmul", yingshe.matmul, self, o)
    def __rmatmul__(self, o): return binary("matmul", yingshe.matmul, o, self)
    def __lt__(self, o): return binary("less", yingshe.lt, self, o)
    def __le__(self, o): return binary("less_equal", yingshe.le, self, o)
    def __gt__(self, o): return binary("greater", yingshe.gt, self, o)
    def __ge__(self, o): return binary("greater_equal", yingshe.ge, self, o)
    def __eq__(self, o): return binary("equal", yingshe.eq, self, o)
    def __ne__(self, o): return binary("not_equal", yingshe.ne, self, o)
    __hash__ = Tensor.__hash__

    def __neg__(self): return unary(yingshe.neg, self)
    def __abs__(self): return unary(yingshe.abs, self)



class _TFTensorMixin(_TFOperators):
    """TensorFlow's face on a yingshe tensor: printing, ``numpy()``, ``TensorShape``,
    TF dtypes and operators with TensorFlow's dtype rules."""

    __slots__ = ()

    @property
    def dtype(self) -> DType:
        return _TF[_dtype.from_numpy_dtype(self._data.dtype).name]

    @property
    def shape(self) -> TensorShape:
        return TensorShape(self._data.shape)

    def get_shape(self) -> TensorShape:
        return self.shape

    def numpy(self, **_):
        """A copy of the value as a NumPy array (a NumPy scalar for 0-d tensors)."""
        arr = np.array(self._data, copy=True)
        return arr[()] if arr.ndim == 0 else arr

    def __array__(self, dtype=None, copy=None):
        arr = np.asarray(self._data)
        return arr.astype(dtype) if dtype is not None else arr

    def __float__(self) -> float:
        return float(self._data)

    def __int__(self) -> int:
        return int(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("Scalar tensor has no `len()`")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("Cannot iterate over a scalar tensor.")
        return (self[i] for i in range(self._data.shape[0]))

    def _np_str(self) -> str:
        return np.array2string(self._data, separator=" ") if self._data.ndim else \
            str(self._data[()])

    def __str__(self) -> str:
        return f"tf.Tensor({self._np_str()}, shape={self.shape}, dtype={self.dtype.name})"

    def __repr__(self) -> str:
        return (f"<tf.Tensor: shape={self.shape}, dtype={self.dtype.name}, "
                f"numpy={_np_repr(self._data)}>")

    def __getitem__(self, key):
        return run(lambda: Tensor.__getitem__(self, _unwrap_key(key)))


def _np_repr(arr) -> str:
    arr = np.asarray(arr)
    return str(arr[()]) if arr.ndim == 0 else repr(arr)


def _unwrap_key(key):
    if isinstance(key, tuple):
        return tuple(_unwrap_key(k) for k in key)
    return key


class EagerTensor(_TFTensorMixin, Tensor):
    """An eager TensorFlow tensor: a yingshe ``Tensor`` with TensorFlow's face."""

    __slots__ = ()

    def ref(self):
        return self

    def __reduce__(self):
        return (constant_from_array, (np.array(self._data),))

    # TensorFlow's eager tensors are immutable: a copy is the tensor itself (matplotlib,
    # for one, copies what it plots)
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class GraphTensor(_TFOperators, Symbol):
    """A graph tensor (``yingshe.graph.Symbol``) with TensorFlow's operator dtype rules
    (mixing dtypes while building is a ``TypeError``). ``==`` is identity, as for
    TensorFlow 1 graph tensors (they are feed_dict keys)."""

    __slots__ = ()
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = Tensor.__hash__


def constant_from_array(arr) -> "EagerTensor":
    return wrap(yingshe.tensor(np.array(arr)))


def wrap(x):
    """Give a core result TensorFlow's face (in place: the tape keeps its identity)."""
    if x is None or isinstance(x, (GraphTensor, _TFTensorMixin)):
        return x
    if type(x) is Symbol:
        x.__class__ = GraphTensor
        return x
    if type(x) is Tensor:
        x.__class__ = EagerTensor
        return x
    if isinstance(x, tuple):
        return tuple(wrap(v) for v in x)
    if isinstance(x, list):
        return [wrap(v) for v in x]
    return x


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def is_symbolic(*xs) -> bool:
    return any(isinstance(x, Symbol) or (isinstance(x, _StateVariable) and x._symbolic_read)
               for x in xs)


# ---- recording -----------------------------------------------------------------------------

_TAPES: list = []          # the active (recording) GradientTapes, innermost last
GRAPH_MODE = [False]       # set by tf.compat.v1.disable_eager_execution()


def _recording():
    # inside a tape ops record even under an outer no_grad (tf.function runs its body
    # with recording off: only the tapes opened inside it record)
    return no_grad() if not _TAPES else enable_grad()


def run(fn, name: str | None = None):
    """Run a core computation as a TF op: the tape records only inside a GradientTape,
    the core's eager errors become ``InvalidArgumentError``, results get TF's face."""
    try:
        with _recording():
            out = fn()
    except (ShapeError, DTypeError, _YIndexError) as err:
        if MODE.tracer is not None:
            raise
        if GRAPH_MODE[0]:
            raise ValueError(str(err)) from err   # TF: a bad graph is a ValueError
        raise errors.InvalidArgumentError(None, None, str(err)) from err
    return wrap(out)


# ---- conversion ----------------------------------------------------------------------------

_INT32 = np.iinfo(np.int32)


def _infer_array(value) -> np.ndarray:
    """TF's conversion of Python values: floats -> float32, ints -> int32 (int64 when
    out of range), bools -> bool; NumPy arrays and scalars keep their dtype."""
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    arr = np.asarray(_plain(value))
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < _INT32.min or arr.max() > _INT32.max):
            return arr.astype(np.int64)
        return arr.astype(np.int32)
    if arr.dtype.kind == "b":
        return arr
    raise TypeError(f"Can't convert {value!r} to a tensor (dtype {arr.dtype} is not "
                    "supported by yingshe.tf)")


def _plain(value):
    if isinstance(value, Tensor):
        return np.asarray(value._data)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _cast_value(value, dt: DType, op_name: str) -> np.ndarray:
    """A non-tensor operand converted to the tensor dtype ``dt`` (TF refuses a
    non-integral float for an integer tensor)."""
    arr = np.asarray(_plain(value))
    if arr.dtype.kind == "f" and dt.category != _dtype.FLOAT:
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or \
                dt.category == _dtype.BOOL:
            raise errors.InvalidArgumentError(
                None, None, f"cannot compute {op_name}: a {arr.dtype} value {value!r} can't "
                f"be converted to the {dt.name} tensor dtype")
    return arr.astype(dt.np)


def convert_to_tensor(value, dtype=None, name=None, dtype_hint=None):
    """``tf.convert_to_tensor``: tensors pass (a dtype mismatch is a ``ValueError``);
    other values follow TF's conversion rules."""
    if isinstance(value, Tensor):
        if dtype is not None and core_dtype(dtype).np != _tensor_np_dtype(value):
            raise ValueError(f"Tensor conversion requested dtype {as_dtype(dtype).name} for "
                             f"Tensor with dtype {_tensor_dtype(value).name}: {value!r}")
        return wrap(value) if not isinstance(value, Symbol) else value
    if dtype is not None:
        arr = _cast_value(value, as_dtype(dtype), "convert_to_tensor")
    else:
        arr = _infer_array(value)
        if dtype_hint is not None and not isinstance(value, (np.ndarray, np.generic)):
            try:
                arr = _cast_value(value, as_dtype(dtype_hint), "convert_to_tensor")
            except errors.InvalidArgumentError:
                pass
    return wrap(yingshe.tensor(np.array(arr, copy=True)))


def _tensor_np_dtype(t) -> np.dtype:
    return t._meta.dtype.np if isinstance(t, Symbol) else t._data.dtype


def _tensor_dtype(t) -> DType:
    return _TF[_dtype.from_numpy_dtype(_tensor_np_dtype(t)).name]


def _operand(x, dt: DType, op_name: str):
    if isinstance(x, Tensor):
        return x
    return yingshe.tensor(_cast_value(x, dt, op_name))


def match(op_name: str, *xs):
    """Apply TF's dtype rule to the operands of one op: every tensor has one dtype,
    non-tensors are converted to it. Returns (operands, dtype)."""
    tensors = [x for x in xs if isinstance(x, Tensor)]
    if tensors:
        dt = _tensor_dtype(tensors[0])
        for i, x in enumerate(xs):
            if isinstance(x, Tensor) and _tensor_np_dtype(x) != dt.np:
                msg = (f"cannot compute {op_name} as input #{i}(zero-based) was expected to "
                       f"be a {dt.name} tensor but is a {_tensor_dtype(x).name} tensor")
                if is_symbolic(*xs):
                    raise TypeError(msg)
                raise errors.InvalidArgumentError(None, None, msg)
    else:
        dt = as_dtype(_infer_array(xs[0]).dtype)
    ops = [_operand(x, dt, op_name) for x in xs]
    if is_symbolic(*xs) and MODE.tracer is None:   # (a trace captures eager operands)
        ops = [as_graph(x) for x in ops]
    return ops, dt


def as_graph(x):
    """An eager tensor next to graph tensors becomes a graph constant (Variables are
    read by the core itself)."""
    if isinstance(x, (Symbol, _StateVariable)):
        return x
    from yingshe import graph
    return graph.constant(np.array(x._data, copy=True))


CORE_OPERATORS = [False]   # set while yingshe's core (an optimizer step) computes on Variables


def binary(op_name: str, fn, x, y):
    """A two-input op under TF's dtype rules (the core's rules while ``CORE_OPERATORS``
    is set: core code such as ``yingshe.optim`` updating a ``tf.Variable``)."""
    if CORE_OPERATORS[0]:
        return fn(x, y)
    (a, b), _ = match(op_name, x, y)
    return run(lambda: fn(a, b))


def unary(fn, x, *args, **kwargs):
    t = x if isinstance(x, Tensor) else convert_to_tensor(x)
    return run(lambda: fn(t, *args, **kwargs))


def truediv(x, y):
    """``x / y``: integer tensors divide to float64 (int8/16 to float32), as TF does."""
    if CORE_OPERATORS[0]:
        return yingshe.div(x, y)
    (a, b), dt = match("truediv", x, y)
    if dt.category != _dtype.FLOAT:
        to = _dtype.float32 if dt.itemsize <= 2 else _dtype.float64
        return run(lambda: yingshe.div(a.to(to), b.to(to)))
    return run(lambda: yingshe.div(a, b))


def to_tensor(x, dtype=None):
    """Any operand as a core tensor (Symbols and Variables unchanged)."""
    if isinstance(x, Tensor):
        return x
    return convert_to_tensor(x, dtype)


def require_float(op_name: str, t) -> None:
    dt = _tensor_dtype(t)
    if dt.category != _dtype.FLOAT:
        msg = (f"Value for attr 'T' of {dt.name} is not in the list of allowed values: "
               f"half, float, double; NodeDef: {{{{node {op_name}}}}}")
        if isinstance(t, Symbol):
            raise TypeError(msg)
        raise errors.InvalidArgumentError(None, None, msg)
