"""``Module``: the base class of layers and models (PyTorch's ``torch.nn.Module``).

Assigning a ``Parameter``, a ``Module`` or (after ``register_buffer``) a tensor to
an attribute registers it, so ``parameters()``, ``state_dict()``, ``to()`` and the
repr tree find it. Calling a module runs its pre-hooks, ``forward`` and forward
hooks. A shape, dtype or index error raised anywhere inside a model's forward
names the submodule it came from (``Net.classifier.2 (Linear)``) besides the op.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from yingshe import _dtype
from yingshe._tensor import Tensor
from yingshe.errors import DTypeError, IndexError as YIndexError, ShapeError
from yingshe.nn.parameter import Parameter

__all__ = ["Module", "RemovableHandle"]


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: ``(missing_keys, unexpected_keys)``."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Returned by ``register_*_hook``: ``handle.remove()`` unregisters the hook
    (also usable as a context manager)."""

    _next_id = itertools.count()

    def __init__(self, hooks_dict: dict) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        hooks = self.hooks_dict_ref()
        if hooks is not None and self.id in hooks:
            del hooks[self.id]

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


# ---- the call stack that lets an error name the module it came from ----------------------

class _CallStack(threading.local):
    def __init__(self) -> None:
        self.stack: list = []


_CALLS = _CallStack()
_NAMED_ERRORS = (ShapeError, DTypeError, YIndexError)


def _module_path(stack: list) -> str:
    """``Root.child.grandchild (Class)`` for the modules on the call stack."""
    root = stack[0]
    parts = [root._get_name()]
    parent = root
    for mod in stack[1:]:
        name = None
        for n, m in parent._modules.items():
            if m is mod:
                name = n
                break
        if name is None:
            for n, m in parent.named_modules(remove_duplicate=False):
                if m is mod and n:
                    name = n
                    break
        parts.append(name if name is not None else f"<{mod._get_name()}>")
        parent = mod
    path = ".".join(parts)
    return f"{path} ({stack[-1]._get_name()})" if len(stack) > 1 else path


def _name_module_in_error(err: BaseException, stack: list) -> None:
    if getattr(err, "_yingshe_module", False):
        return
    msg = str(err.args[0]) if err.args else ""
    err.args = (f"in {_module_path(stack)}: {msg}",) + tuple(err.args[1:])
    err._yingshe_module = True  # type: ignore[attr-defined]


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    return first + "\n" + "\n".join(" " * n + line for line in lines)


def _check_name(kind: str, module: "Module", name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')


def _copy_into(dst: Tensor, src: Tensor) -> None:
    """Copy ``src``'s values into ``dst``'s own memory (no history; casts dtype)."""
    arr = src._data
    dd = dst._data
    if arr.dtype.kind == "f" and dd.dtype.kind in "iub":
        arr = arr.astype(dd.dtype)
    np.copyto(dd, arr, casting="unsafe")
    dst._vc[0] += 1


class Module:
    """Base class for all neural-network modules (PyTorch's ``nn.Module``).

    Subclasses call ``super().__init__()`` first, assign parameters and submodules
    as attributes, and define ``forward``.

    Example:
        >>> class Net(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = nn.Linear(4, 2)
        ...     def forward(self, x):
        ...         return self.fc(x).relu()
    """

    training: bool
    _version: int = 1
    call_super_init: bool = False

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments: Module.__init__ "
                "takes no arguments"
            )
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = {}
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = {}

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    # ---- registration ----------------------------------------------------------------
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or ``None``, a declared-but-absent parameter) by name."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", self, name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(yingshe.nn.Parameter or None required)"
            )
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must "
                "be created explicitly. To express '" + name + "' as a function of another "
                "Tensor, compute the value in the forward() method."
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (BatchNorm's running mean).

        Non-persistent buffers are left out of ``state_dict()``.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", self, name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(yingshe Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Add a child module (``self.name`` then returns it)."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name("module", self, name)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            for store in (d, self._buffers, self._modules):
                store.pop(name, None)
            self._non_persistent_buffers_set.discard(name)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(yingshe.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            for store in (d, self._parameters, self._buffers):
                store.pop(name, None)
            self._non_persistent_buffers_set.discard(name)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(yingshe.nn.Module or None expected)"
                )
            modules[name] = value
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(yingshe Tensor or None expected)"
                )
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        attrs = set(super().__dir__())
        attrs.update(self._parameters, self._buffers, self._modules)
        return sorted(a for a in attrs if not a[0].isdigit())

    def __setstate__(self, state) -> None:
        self.__dict__.update(state)

    # ---- traversal ---------------------------------------------------------------------
    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield (module_prefix + ("." if module_prefix else "") + k), v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs, e.g. ``("0.weight", ...)`` (shared ones once)."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                       remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                       remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        memo = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in memo:
                memo.add(id(m))
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """``(path, module)`` for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def get_submodule(self, target: str) -> "Module":
        """The descendant at dotted path ``target`` (``""`` is this module)."""
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        p = getattr(mod, name)
        if not isinstance(p, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return p

    def get_buffer(self, target: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    # ---- modes and gradients ----------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode on this module and every descendant (returns self)."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad`` (to ``None`` by default, as PyTorch 2)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                g = p.grad
                if g.grad_fn is not None:
                    p.grad = g.detach()
                    g = p.grad
                g.requires_grad_flag = False
                g._data.fill(0)
                g._vc[0] += 1

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call ``fn`` on every descendant, then on this module (returns self)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- dtype / device ------------------------------------------------------------------
    def _apply_to_tensors(self, convert: Callable[[np.ndarray], np.ndarray]) -> "Module":
        """Convert every parameter, gradient and buffer array in place of its tensor
        (Parameters keep their identity, so optimizers keep their references)."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is None:
                    continue
                new = convert(p._data)
                if new is not p._data:
                    p._data = new
                    p._vc[0] += 1
                if p.grad is not None:
                    g = convert(p.grad._data)
                    if g is not p.grad._data:
                        p.grad = Tensor(g)
            for name, b in m._buffers.items():
                if b is None:
                    continue
                new = convert(b._data)
                if new is not b._data:
                    b._data = new
                    b._vc[0] += 1
        return self

    def to(self, *args, **kwargs) -> "Module":
        """``to(dtype)``, ``to("cpu")``, ``to("cpu", dtype)``, ``to(tensor)``: floating
        point parameters and buffers take the dtype (in place); only the CPU exists."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs.pop("memory_format", None) is not None:
            raise NotImplementedError("Module.to: the memory_format argument is not supported")
        if kwargs:
            raise TypeError(f"Module.to() got unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, _dtype.dtype):
                dtype = a
            elif isinstance(a, str) or hasattr(a, "type"):
                device = a
            elif isinstance(a, bool):  # to(device, dtype, non_blocking)
                continue
            else:
                raise TypeError(f"Module.to() received an invalid argument {a!r}")
        if device is not None:
            from yingshe.backend import get
            get(str(getattr(device, "type", device)).split(":")[0])
        if dtype is None:
            return self
        dt = _dtype.as_dtype(dtype)
        if not dt.is_floating_point:
            raise TypeError(
                f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dt!r}"
            )
        return self._cast_floats(dt)

    def _cast_floats(self, dt) -> "Module":
        npd = dt.np

        def convert(a):
            if a.dtype.kind == "f" and a.dtype != npd:
                return a.astype(npd)
            return a
        return self._apply_to_tensors(convert)

    def float(self) -> "Module":
        return self._cast_floats(_dtype.float32)

    def double(self) -> "Module":
        return self._cast_floats(_dtype.float64)

    def half(self) -> "Module":
        return self._cast_floats(_dtype.float16)

    def type(self, dst_type) -> "Module":
        dt = _dtype.as_dtype(dst_type)
        npd = dt.np
        return self._apply_to_tensors(lambda a: a if a.dtype == npd else a.astype(npd))

    def cpu(self) -> "Module":
        return self

    def cuda(self, device=None) -> "Module":
        raise RuntimeError(
            "yingshe has no CUDA backend yet (a CuPy backend is planned); modules live on "
            "the CPU"
        )

    # ---- state dict ---------------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ordered dict from dotted names to parameters and persistent buffers.

        Values are detached tensors sharing memory with the module's own (unless
        ``keep_vars``); the keys match PyTorch's for the same architecture.
        """
        if args:  # PyTorch's deprecated positional form (destination, prefix, keep_vars)
            names = ("destination", "prefix", "keep_vars")
            vals = dict(zip(names, args))
            destination = vals.get("destination", destination)
            prefix = vals.get("prefix", prefix)
            keep_vars = vals.get("keep_vars", keep_vars)
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix, strict, missing_keys,
                              unexpected_keys, error_msgs, assign) -> None:
        from yingshe.ops._shapes import shape_str
        persistent = [(k, v) for k, v in self._buffers.items()
                      if k not in self._non_persistent_buffers_set]
        local = [(k, v, True) for k, v in self._parameters.items()]
        local += [(k, v, False) for k, v in persistent]
        for name, param, is_param in local:
            if param is None:
                continue
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            src = state_dict[key]
            if not isinstance(src, Tensor):
                try:
                    src = Tensor(np.asarray(src))
                except Exception:  # noqa: BLE001
                    error_msgs.append(
                        f'While copying the parameter named "{key}", expected a tensor from '
                        f"the checkpoint but received {type(src).__name__}"
                    )
                    continue
            if tuple(src.shape) != tuple(param.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {shape_str(src.shape)} "
                    f"from checkpoint, the shape in current model is {shape_str(param.shape)}."
                )
                continue
            if assign:
                if is_param:
                    new = Parameter(src.detach(), requires_grad=param.requires_grad)
                    self._parameters[name] = new
                else:
                    self._buffers[name] = src.detach()
            else:
                try:
                    _copy_into(param, src)
                except Exception as err:  # noqa: BLE001
                    error_msgs.append(
                        f'While copying the parameter named "{key}", whose dimensions in the '
                        f"model are {shape_str(param.shape)} and whose dimensions in the "
                        f"checkpoint are {shape_str(src.shape)}, an exception occurred : "
                        f"{err.args}."
                    )
        if strict:
            local_names = {k for k, v, _ in local if v is not None}
            for key in state_dict.keys():
                if not key.startswith(prefix):
                    continue
                head = key[len(prefix):].split(".", 1)[0]
                if head not in self._modules and head not in local_names:
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values from ``state_dict`` into this module's parameters and buffers, in
        place (optimizers keep their references). Returns ``(missing_keys,
        unexpected_keys)``; with ``strict`` any missing or unexpected key raises, and a
        shape mismatch always raises, naming every offending key."""
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        from yingshe.autograd import no_grad

        def load(module: Module, prefix: str = "") -> None:
            module._load_from_state_dict(state_dict, prefix, True, missing, unexpected,
                                         errors, assign)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        with no_grad():
            load(self)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                self._get_name(), "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)

    # ---- hooks and calling --------------------------------------------------------------
    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` before ``forward``; it may return new args (a tuple or
        a single value). With ``with_kwargs``: ``hook(module, args, kwargs)`` returning
        ``None`` or ``(args, kwargs)``."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` after ``forward``; a non-None return value
        replaces the output."""
        if always_call:
            raise NotImplementedError(
                "register_forward_hook: the always_call argument is not supported by yingshe")
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_hook(self, hook, *, prepend: bool = False):
        raise NotImplementedError(
            "register_full_backward_hook is not supported by yingshe yet; register a hook on "
            "the output tensor instead (output.register_hook(fn))"
        )

    register_backward_hook = register_full_backward_hook

    def _call_with_hooks(self, args, kwargs):
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {res}.")
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hid, hook in list(self._forward_hooks.items()):
            if hid in self._forward_hooks_with_kwargs:
                res = hook(self, args, kwargs, out)
            else:
                res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    def __call__(self, *args, **kwargs):
        stack = _CALLS.stack
        stack.append(self)
        try:
            if self._forward_hooks or self._forward_pre_hooks:
                return self._call_with_hooks(args, kwargs)
            return self.forward(*args, **kwargs)
        except _NAMED_ERRORS as err:
            _name_module_in_error(err, stack)
            raise
        finally:
            stack.pop()

    # ---- repr -------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in its repr (override it)."""
        return ""

    def __repr__(self) -> str:
        extra_lines = []
        extra = self.extra_repr()
        if extra:
            extra_lines = extra.split("\n")
        child_lines = []
        for key, module in self._modules.items():
            mod_str = _addindent(repr(module), 2)
            child_lines.append("(" + key + "): " + mod_str)
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
