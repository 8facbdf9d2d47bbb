"""``yingshe.torch``: PyTorch's front-end on yingshe.

An ordinary PyTorch program runs on yingshe after renaming its imports only::

    import torch                    ->  import yingshe.torch as torch
    import torch.nn as nn           ->  import yingshe.torch.nn as nn
    import torch.nn.functional as F ->  import yingshe.torch.nn.functional as F
    from torch.utils.data import X  ->  from yingshe.torch.utils.data import X
    from torch import nn, optim     ->  from yingshe.torch import nn, optim

This package is a thin adapter layer: every name is the core's own object
(``yingshe.Tensor``, ``yingshe.nn.Linear``, ``yingshe.optim.SGD``...) re-exported under
PyTorch's path, or a one-line adapter where PyTorch's spelling differs from the core's.
There is no maths here. A name that is not supported raises
:class:`~yingshe.torch._unsupported.UnsupportedError` (an ``AttributeError``) naming the
PyTorch API; ``docs/torch_supported.md`` lists what is supported (generated from the
``__all__`` of each module). ``python -m yingshe.torch._runner program.py`` runs a
program on real PyTorch and on yingshe and compares what they print.

Example:
    >>> import yingshe.torch as torch
    >>> x = torch.ones(2, 3, requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.shape == torch.Size([2, 3])
    True
"""

from __future__ import annotations

import builtins as _builtins
import io as _io
import math as _math
import os as _os
import tempfile as _tempfile
import warnings as _warnings

import yingshe as _ys
from yingshe._device import device as _core_device
from yingshe.backend import threads as _core_threads
from yingshe.torch import _out
from yingshe.torch._errors import UnsupportedError, unsupported_getattr  # noqa: F401

# ---- the core's top-level tensor functions, dtypes, grad modes, seeding ---------------------
# Core names that are not PyTorch's top-level names (yingshe's own modules and helpers), or
# that this front-end replaces with PyTorch's spelling below.
_NOT_TORCH = {
    "backend", "ops", "state", "graph", "io", "datasets", "errors", "random", "Variable",
    "ShapeError", "DTypeError", "div_rounded", "to_dtype", "sum_to_size",
    "nn", "optim", "utils", "autograd", "save", "load", "compile",
    # Tensor methods or torch.nn.functional names in PyTorch, not torch.<name> functions:
    "contiguous", "elu", "expand", "leaky_relu", "one_hot", "pad", "repeat", "silu",
    "softplus", "view",
}

__all__: list[str] = []
for _name in dir(_ys):
    if _name.startswith("_") or _name in _NOT_TORCH:
        continue
    _obj = getattr(_ys, _name)
    if type(_obj).__name__ == "module":
        continue
    if callable(_obj) and not isinstance(_obj, type) and _out.takes_out(_obj):
        _obj = _out.with_out(_name, _obj)     # PyTorch's out= (the core computes out of place)
    globals()[_name] = _obj
    __all__.append(_name)
del _name, _obj

from yingshe.torch import accelerator, autograd, cuda, backends, nn, optim, utils  # noqa: E402,F401
from yingshe.torch import distributed, multiprocessing  # noqa: E402,F401
from yingshe.torch import onnx  # noqa: E402,F401 - torch.onnx.export (imports onnx lazily)

inf = _math.inf
nan = _math.nan
pi = _math.pi
e = _math.e
__version__ = f"{_ys.__version__}+yingshe"


class Size(tuple):
    """``torch.Size``: a tuple of ints (equal to the plain tuple with the same ints)."""

    def __new__(cls, iterable=()):
        return super().__new__(cls, (_builtins.int(s) for s in iterable))

    def numel(self) -> int:
        return _math.prod(self)

    def __repr__(self) -> str:
        return f"torch.Size({list(self)!r})"

    def __getitem__(self, key):
        out = super().__getitem__(key)
        return Size(out) if isinstance(key, slice) else out


device = _core_device  # the core's device class, under PyTorch's name


def is_tensor(obj) -> bool:
    """``torch.is_tensor``: whether ``obj`` is a Tensor."""
    return isinstance(obj, _ys.Tensor)


def is_floating_point(input) -> bool:
    return input.is_floating_point()


def numel(input) -> int:
    return input.numel()


# ---- threads ------------------------------------------------------------------------------

def set_num_threads(int) -> None:  # noqa: A002 - PyTorch's parameter name
    """``torch.set_num_threads``: yingshe's thread policy (``yingshe.set_num_threads``:
    BLAS in eager code, the inter-op pool and numba in compiled code)."""
    n = int if isinstance(int, _builtins.int) and not isinstance(int, _builtins.bool) else None
    if n is None or n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {int}")
    _core_threads.set_num_threads(n)


def get_num_threads() -> int:
    """``torch.get_num_threads``: ``yingshe.get_num_threads()``."""
    return _core_threads.get_num_threads()


# ---- compile --------------------------------------------------------------------------------


_COMPILE_BACKENDS = ("inductor", "eager", "aot_eager")
_COMPILE_MODES = (None, "default", "lite", "reduce-overhead", "max-autotune",
                  "max-autotune-no-cudagraphs")


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor",  # noqa: A001
            mode=None, options=None, name=None, disable: bool = False, recompile_limit=None,
            isolate_recompiles: bool = False, shapes_spec=None):
    """``torch.compile``: ``yingshe.compile(..., fallback="eager")``. A function becomes a
    compiled function; a module keeps its identity (parameters, ``state_dict``) and gets a
    compiled ``forward``; ``backward()`` through it runs a compiled backward. Where
    yingshe cannot compile (Python control flow on values, ``.item()``) the code runs
    eagerly, with one warning, as PyTorch's graph breaks do; with ``fullgraph=True``
    that raises instead, as in PyTorch. Usable as a decorator with or without arguments.

    ``backend`` may be ``"inductor"`` (the default), ``"eager"`` or ``"aot_eager"`` (one
    compiler serves them all); ``mode`` is a performance hint (accepted, same program);
    ``dynamic`` is accepted (yingshe traces once per input signature); ``name`` is a
    label. Other backends, non-empty ``options``, ``recompile_limit``,
    ``isolate_recompiles=True`` and ``shapes_spec`` raise ``NotImplementedError``."""
    for arg, given in (("recompile_limit", recompile_limit is not None),
                       ("isolate_recompiles", _builtins.bool(isolate_recompiles)),
                       ("shapes_spec", shapes_spec is not None)):
        if given:
            raise NotImplementedError(f"torch.compile: the {arg} argument is not supported "
                                      "by yingshe.torch")
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if mode not in _COMPILE_MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: "
                           + ", ".join(m for m in _COMPILE_MODES if m))
    if not (isinstance(backend, str) and backend in _COMPILE_BACKENDS):
        raise NotImplementedError(
            f"torch.compile: backend={backend!r} is not supported by yingshe.torch (one of "
            f"{', '.join(map(repr, _COMPILE_BACKENDS))})")
    if options:
        raise NotImplementedError(
            f"torch.compile: the options argument ({sorted(options)}) is not supported by "
            "yingshe.torch")
    if model is None:
        def decorate(fn):
            return compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                           mode=mode, options=options, disable=disable)
        return decorate
    if disable:
        return model
    fallback = None if fullgraph else "eager"
    if isinstance(model, nn.Module):
        model.forward = _ys.compile(model.forward, fallback=fallback)
        return model
    return _ys.compile(model, fallback=fallback)


# ---- save / load (safetensors, never pickle) ------------------------------------------------
def save(obj, f, pickle_module=None, pickle_protocol=2,
         _use_new_zipfile_serialization=True, _disable_byteorder_record=False) -> None:
    """``torch.save``: writes a safetensors checkpoint (state dicts, tensors, nested
    dicts/lists of tensors and plain numbers) to a path or a writable binary file object.
    Pickling arbitrary objects is not supported (``pickle_module`` raises)."""
    if pickle_module is not None:
        raise NotImplementedError(
            "torch.save: the pickle_module argument is not supported (yingshe writes "
            "safetensors, never pickle)")
    if isinstance(obj, nn.Module) or (isinstance(obj, dict) and _builtins.any(
            isinstance(v, nn.Module) for v in obj.values())):
        raise NotImplementedError(
            "torch.save: saving a whole nn.Module (pickling it) is not supported by "
            "yingshe.torch; save model.state_dict() and load it with "
            "model.load_state_dict(torch.load(path, weights_only=True))")
    if hasattr(f, "write"):
        with _tempfile.TemporaryDirectory() as tmp:
            path = _os.path.join(tmp, "obj.safetensors")
            _ys.save(obj, path)
            with open(path, "rb") as fh:
                f.write(fh.read())
        return
    _ys.save(obj, f)


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """``torch.load``: reads a checkpoint written by ``save`` (a path or a readable binary
    file object). Loading is always weights-only (no unpickling), so ``weights_only`` is
    accepted either way; ``map_location`` may be ``None``, ``"cpu"`` or ``device("cpu")``."""
    if pickle_module is not None or pickle_load_args:
        raise NotImplementedError(
            "torch.load: pickle_module and pickle load arguments are not supported (yingshe "
            "reads safetensors, never pickle)")
    if mmap:
        raise NotImplementedError("torch.load: the mmap argument is not supported")
    if map_location is not None and not isinstance(map_location, (str, device)):
        raise NotImplementedError(
            f"torch.load: map_location={map_location!r} is not supported (only 'cpu')")
    if hasattr(f, "read"):
        with _tempfile.TemporaryDirectory() as tmp:
            path = _os.path.join(tmp, "obj.safetensors")
            with open(path, "wb") as fh:
                fh.write(f.read())
            return _ys.load(path, map_location=map_location)
    return _ys.load(f, map_location=map_location)


# ---- the legacy API of tutorials written before PyTorch 0.4 (_legacy) --------------------
from yingshe.torch._legacy import (LEGACY_TYPES as _LEGACY_TYPES,  # noqa: E402
                                   get_default_device, set_default_device)

globals().update(_LEGACY_TYPES)
__all__ += list(_LEGACY_TYPES) + ["set_default_device", "get_default_device"]

__all__ += [
    "Size", "device", "equal", "is_tensor", "is_floating_point", "numel", "set_num_threads",
    "get_num_threads", "compile", "save", "load", "inf", "nan", "pi", "e",
    "accelerator", "autograd", "cuda", "backends", "nn", "optim", "utils",
    "distributed", "multiprocessing",
]
__all__ += ["onnx"]
__all__ = sorted(set(__all__))

del _io
__getattr__ = unsupported_getattr(__name__)

# the real torch in this process too (either order of import): warn once, with the renames
from yingshe.torch._real_torch import RealTorchWarning, watch as _watch_real_torch  # noqa: E402
_watch_real_torch()
