"""The eager ``Tensor``, the tape ``Node`` and the per-thread mode flags.

A ``Tensor`` wraps one backend array (``_data``). When it is the output of an op
recorded on the tape, ``_node`` points to that op's ``Node``; leaves have
``_node is None``. The ops themselves live in ``yingshe.ops`` and are installed
as methods on this class by ``yingshe.ops._api`` (``x.sum(1)`` is
``yingshe.sum(x, 1)``), so this module holds no maths.

A ``Node`` holds what the backward walk needs: the op, its attributes, an
*edge* per input (the producing node and output index, or the leaf tensor, or
``None`` where no gradient flows), and the values the op's VJP reads (inputs
and/or outputs, as the op declares with ``saves``). Version counters shared
between a tensor and its views detect in-place changes to saved values, so a
stale value raises instead of giving a wrong gradient (as in PyTorch).

A view (the result of a ``view=True`` op: ``x[0]``, ``x.t()``, ``x.view(6)``...)
shares its base's memory and version counter and records, in ``_view``, how to
make itself again from its base (the ops and attributes from the base). An
in-place op through a view rewrites the base's history (``yingshe.ops._inplace``);
every other view of that base then sees its ``_node`` go stale, and replays
itself from the base's new history the next time autograd reads it
(``sync_view``, installed by the ops layer), as PyTorch regenerates a view's
``grad_fn``.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from yingshe import _dtype
from yingshe.errors import format_site

__all__ = ["Tensor", "Node", "MODE", "View", "POST_ACCUMULATE_HOOKS"]


class _Mode(threading.local):
    """Per-thread switches, changed only through context managers. (``apply`` reads them
    through ``MODE.__dict__`` with these defaults: keep the two in step.)"""

    grad_enabled = True
    anomaly = False
    # The active tracer of ``yingshe.compile``/graph building, or None. When set,
    # every op call is routed to it (so reads of parameters become graph nodes).
    tracer = None


MODE = _Mode()

_seq = [0]  # creation order of tape nodes (a later node's backward runs first)

# id(leaf tensor) -> (weakref to it, [hook(tensor), ...]): register_post_accumulate_grad_hook.
# A registry rather than a slot keeps every Tensor as small as it was; the tape walk looks
# here only when it is not empty.
POST_ACCUMULATE_HOOKS: dict = {}


class Node:
    """One recorded op on the tape (what PyTorch calls a ``grad_fn``)."""

    # (``yingshe.ops._registry._record``, the hot path, fills these in place: keep the two
    # in step)
    __slots__ = ("op", "attrs", "edges", "inputs", "saved_versions", "out_data", "out_vcs",
                 "out_versions", "site", "seq", "hooks", "retains", "freed", "ctx",
                 "__weakref__")

    def __init__(self, op, attrs, edges, inputs, out_data, out_vcs, site, ctx=None,
                 saved_versions=None):
        self.op = op
        self.attrs = attrs
        self.edges = edges
        # the inputs the VJP receives: the values it reads (an op that saves them), else
        # their metas (``Saved``)
        self.inputs = inputs
        # versions of the saved inputs at record time (None: nothing to check)
        self.saved_versions = saved_versions
        self.out_data = out_data
        self.out_vcs = out_vcs
        self.out_versions = None if out_vcs is None else tuple([vc[0] for vc in out_vcs])
        # the user's code position (``yingshe.errors.caller_site``): resolved to
        # ``file:line`` only for an error or a drawing
        self.site = site
        _seq[0] += 1
        self.seq = _seq[0]
        self.hooks = None    # {output index: [hook, ...]} for non-leaf register_hook
        self.retains = None  # {output index: weakref to tensor} for retain_grad()
        self.freed = False
        self.ctx = ctx       # per-call state of a user-defined autograd.Function

    def name(self) -> str:
        return self.op.backward_name

    def __repr__(self) -> str:
        where = f" at {format_site(self.site)}" if self.site else ""
        return f"<{self.name()}{where}>"

    # PyTorch's grad_fn exposes next_functions; keep the spelling for familiarity.
    @property
    def next_functions(self):
        out = []
        for e in self.edges:
            if e is None:
                out.append((None, 0))
            elif isinstance(e, tuple):
                out.append(e)
            else:
                out.append(("AccumulateGrad", 0))
        return tuple(out)


class View:
    """How a view tensor is made from its ``base`` (the tensor that owns the memory).

    ``fn`` is the tuple of ``(op, attrs, index)`` steps that replays the view from the
    base (``index``: which output of a multi-output op, else None). ``kind`` is None,
    or why PyTorch forbids in-place writes through the view under autograd:
    ``"multi"`` (it comes from an op returning several views: ``split``, ``unbind``)
    or ``"no_grad"`` (it was made while grad mode was off). ``node`` is the base's
    ``_node`` when the view's own history was last derived from it; another one means
    the base's history was rewritten by an in-place op since: the view's is stale.
    """

    __slots__ = ("base", "fn", "node", "kind")

    def __init__(self, base, fn, node, kind=None) -> None:
        self.base = base
        self.fn = fn
        self.node = node
        self.kind = kind


# Set by yingshe.ops._registry: re-derive a stale view's history from its base's.
sync_view = None


def _not_float_error(dt) -> RuntimeError:
    return RuntimeError(
        f"only tensors of floating point dtype can require gradients, got {dt}"
    )


class Tensor:
    """An n-dimensional array with optional gradient tracking (PyTorch semantics)."""

    __slots__ = ("_data", "requires_grad_flag", "grad", "_node", "_out_index", "_vc",
                 "_view", "_retains_grad", "_hooks", "_name", "__weakref__")

    # Tensors never compare by value in containers: hashing is by identity.
    __hash__ = object.__hash__
    # True on graph-created Variables: ops reading them build graph nodes (TF1 semantics)
    _symbolic_read = False
    # Make NumPy defer to our reflected operators (ndarray + Tensor -> Tensor.__radd__).
    __array_priority__ = 1000

    def __init__(self, *args: Any, requires_grad: bool = False, device: Any = None) -> None:
        # Public construction goes through yingshe.tensor(). Tensor(array or tensor) wraps
        # it without copying (the core's own use); the other forms are PyTorch's legacy
        # constructor (legacy_array): Tensor() empty, Tensor(2, 3) a zero-filled tensor of
        # that size, Tensor([...]) the data in the default float dtype.
        if len(args) == 1 and isinstance(args[0], Tensor):
            arr = args[0]._data
        elif len(args) == 1 and isinstance(args[0], np.ndarray):
            arr = args[0]
        elif len(args) == 1 and args[0] is None:
            arr = np.zeros((0,), _dtype.get_default_dtype().np)
        else:
            arr = legacy_array(args, _dtype.get_default_dtype(), "Tensor", device)
        _dtype.from_numpy_dtype(arr.dtype)
        _init(self, arr, False, None, 0, [0], None)
        if requires_grad:
            self.requires_grad = True

    # ---- attributes ---------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        v = self._view
        if v is not None and v.base._node is not v.node:
            sync_view(self)
        return self.requires_grad_flag

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self._data is not None and self._data.dtype.kind != "f":
            raise _not_float_error(self.dtype)
        if not value and self._node is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf tensors; use .detach() "
                "to get a tensor that does not require grad"
            )
        self.requires_grad_flag = bool(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> _dtype.dtype:
        return _dtype.from_numpy_dtype(self._data.dtype)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def device(self):
        from yingshe._device import CPU
        return CPU

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad_fn(self) -> Node | None:
        v = self._view
        if v is not None and v.base._node is not v.node:
            sync_view(self)
        return self._node

    @property
    def _base(self) -> Tensor | None:
        """The tensor whose memory this view shares (None if this is not a view), as
        PyTorch's ``Tensor._base``."""
        v = self._view
        return None if v is None else v.base

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def data(self) -> Tensor:
        """A tensor sharing this one's storage, detached from the tape (as in PyTorch)."""
        return _wrap(self._data, vc=self._vc)

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    def size(self, dim: int | None = None):
        if dim is None:
            return self._data.shape
        return self._data.shape[_normalize_dim(dim, self._data.ndim, "size")]

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def get_device(self) -> int:
        return -1

    # ---- conversion to Python and NumPy --------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The backing NumPy array (shared memory, as ``torch.Tensor.numpy``)."""
        if self.requires_grad and not force:
            raise RuntimeError(
                "can't call numpy() on a tensor that requires grad; "
                "use tensor.detach().numpy() instead"
            )
        return self._data

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"a tensor with {self._data.size} elements cannot be converted to a "
                "Python scalar (item() needs exactly one element)"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError(
                "can't convert a tensor that requires grad to a NumPy array; "
                "use tensor.detach().numpy() instead"
            )
        arr = self._data
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self._data.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self._data.reshape(()))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __reversed__(self):
        return (self[i] for i in range(self._data.shape[0] - 1, -1, -1))

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __repr__(self) -> str:
        return _repr(self)

    __str__ = __repr__

    # Tensors are not pickled (checkpoints use safetensors); deepcopy still works.
    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError(
                "only leaf tensors (created by the user) support deepcopy; detach() first"
            )
        new = _wrap(self._data.copy(), cls=self.__class__)  # subclasses may have a __dict__
        for slot in ("requires_grad_flag", "_name"):
            setattr(new, slot, getattr(self, slot))
        if self.grad is not None:
            new.grad = _wrap(self.grad._data.copy())
        if hasattr(self, "__dict__"):
            import copy
            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "yingshe tensors are not pickled; save them with yingshe.save (safetensors)"
        )

    # ---- autograd ------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Tensor:
        """A new tensor sharing storage and version counter, cut from the tape (never
        requires grad). As in PyTorch it is not a view for autograd: an in-place op on
        it later records on its own, never on this tensor's history."""
        return _wrap(self._data, vc=self._vc)

    def detach_(self) -> Tensor:
        if self._view is not None:
            raise RuntimeError("detach_: can't detach views in-place; use detach() instead")
        self._node = None
        self.requires_grad_flag = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after ``backward()`` (the gradient of
        its current value: an in-place op moves it to the new history, as in PyTorch)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that does not require grad")
        if self._node is None:
            return  # leaves keep their gradients anyway
        import weakref
        node = self._node
        if node.retains is None:
            node.retains = {}
        node.retains[self._out_index] = weakref.ref(self)
        self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; the hook may
        return a replacement gradient. Returns a handle with ``remove()``."""
        if not self.requires_grad:  # (this also brings a stale view's history up to date)
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self._node is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self._node
            if node.hooks is None:
                node.hooks = {}
            hooks = node.hooks.setdefault(self._out_index, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` once per ``backward()``, after this leaf's ``.grad`` has
        received every gradient of that pass (as PyTorch's hook of the same name; not
        called by ``autograd.grad``, which accumulates nothing). Inside a
        ``yingshe.compile`` trace ``.grad`` is a graph value, and a hook may replace it
        (``DistributedDataParallel`` all-reduces it there). Returns a handle with
        ``remove()``."""
        if self._node is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require "
                               "gradient")
        entry = POST_ACCUMULATE_HOOKS.get(id(self))
        if entry is None:
            import weakref
            key = id(self)
            # the registry holds the tensor weakly: dropping the tensor drops its hooks
            entry = POST_ACCUMULATE_HOOKS[key] = (
                weakref.ref(self, lambda _, key=key: POST_ACCUMULATE_HOOKS.pop(key, None)), [])
        entry[1].append(hook)
        return _HookHandle(entry[1], hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad`` (see ``yingshe.autograd``)."""
        from yingshe import autograd
        autograd.backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # ---- device (CPU only for now) ---------------------------------------------------
    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args, **kwargs):
        raise RuntimeError(
            "yingshe has no CUDA backend yet (a CuPy backend is planned); tensors live on the CPU"
        )


class _HookHandle:
    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        try:
            self._hooks.remove(self._hook)
        except ValueError:
            pass


_new = object.__new__


def legacy_array(args: tuple, dt, name: str, device: Any = None) -> np.ndarray:
    """The array of PyTorch's legacy constructors (``torch.Tensor(...)``,
    ``torch.FloatTensor(...)``...) of dtype ``dt``: no argument gives an empty tensor;
    integers or one ``Size`` give a zero-filled tensor of that size (PyTorch leaves it
    uninitialised); one sequence, NumPy array or same-dtype tensor gives the data. Other
    arguments raise PyTorch's ``TypeError``."""
    if device is not None and str(device).split(":")[0] != "cpu":
        raise RuntimeError(f"{name}: yingshe has no {str(device)!r} device; only 'cpu'")
    npd = dt.np
    if not args:
        return np.zeros((0,), npd)
    ints = all(isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))
               for a in args)
    if len(args) == 1 and isinstance(args[0], tuple) and type(args[0]).__name__ == "Size":
        args, ints = tuple(args[0]), True
    if ints:
        shape = tuple(int(a) for a in args)
        if any(d < 0 for d in shape):
            raise RuntimeError(f"Trying to create tensor with negative dimension "
                               f"{min(shape)}: {list(shape)}")
        return np.zeros(shape, npd)
    if len(args) > 1:
        got = ", ".join(type(a).__name__ for a in args)
        raise TypeError(f"{name}(): new() received an invalid combination of arguments - got "
                        f"({got}); expected (), (int, ...), (Size) or (object data)")
    data = args[0]
    if isinstance(data, Tensor):
        if data._data is None or data._data.dtype != npd:
            have = "a graph value" if data._data is None else str(data._data.dtype)
            raise TypeError(f"{name}(): expected a {np.dtype(npd)} tensor, got {have}; "
                            "use .to(dtype) to convert")
        return data._data
    if isinstance(data, (str, bytes)) or not (isinstance(data, np.ndarray)
                                              or hasattr(data, "__len__")):
        raise TypeError(f"{name}(): new(): data must be a sequence (got "
                        f"{type(data).__name__})")
    try:
        integral = npd.kind in "iub"
        src = np.asarray([_plain_value(v, integral) for v in data]
                         if isinstance(data, (list, tuple)) else data)
    except ValueError as err:
        raise ValueError(f"{name}(): the data is not rectangular (a sequence whose items "
                         f"have different lengths): {err}") from None
    if src.dtype == object:
        raise TypeError(f"{name}(): could not convert the data to numbers")
    if npd.kind in "iu" and src.dtype.kind in "iuf" and src.size:
        # PyTorch checks each value against the integer type's range (-0.2 does not fit
        # uint8) before truncating
        info = np.iinfo(npd)
        if src.min() < info.min or src.max() > info.max:
            raise RuntimeError(f"value cannot be converted to type {np.dtype(npd)} without "
                               "overflow")
    with np.errstate(invalid="ignore"):
        return src.astype(npd)


def _plain_value(v, integral: bool):
    """An item of a legacy constructor's data list (a tensor inside counts by value; a
    float tensor cannot become an integer, as in PyTorch)."""
    if isinstance(v, Tensor):
        if integral and v._data.dtype.kind == "f":
            raise TypeError("only integer tensors of a single element can be converted to "
                            "an index")
        return v._data if v._data.ndim else v._data[()]
    if isinstance(v, (list, tuple)):
        return [_plain_value(x, integral) for x in v]
    return v


def _init(t, data, requires_grad, node, index, vc, view):
    t._data = data
    t.requires_grad_flag = requires_grad
    t.grad = None
    t._node = node
    t._out_index = index
    t._vc = vc
    t._view = view
    t._retains_grad = False
    t._hooks = None
    t._name = None


def _wrap(data, requires_grad=False, node=None, index=0, vc=None, view=None, cls=Tensor):
    """Fast construction of a tensor around a backend array (no checks, no copy)."""
    t = _new(cls)
    t._data = data
    t.requires_grad_flag = requires_grad
    t.grad = None
    t._node = node
    t._out_index = index
    t._vc = [0] if vc is None else vc
    t._view = view
    t._retains_grad = False
    t._hooks = None
    t._name = None
    return t


def _normalize_dim(dim: int, ndim: int, opname: str) -> int:
    from yingshe.errors import IndexError as YIndexError
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise YIndexError(
            f"{opname}: dimension out of range (expected to be in range of [{-n}, {n - 1}], "
            f"but got {dim})"
        )
    return dim % n


def _repr(t: Tensor) -> str:
    arr = t._data
    prefix = "tensor("
    if arr.size == 0:
        body = f"[], size={tuple(arr.shape)}" if arr.ndim > 1 else "[]"
    else:
        body = np.array2string(
            arr, separator=", ", prefix=prefix, precision=4,
            floatmode="maxprec_equal" if arr.dtype.kind == "f" else "maxprec",
            threshold=1000, edgeitems=3,
        )
    extras = []
    dt = t.dtype
    if dt not in (_dtype.get_default_dtype(), _dtype.int64, _dtype.bool):
        extras.append(f"dtype={dt!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t._node.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    tail = "".join(", " + e for e in extras)
    return f"{prefix}{body}{tail})"
