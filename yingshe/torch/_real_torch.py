"""A warning when the real PyTorch shares a process with ``yingshe.torch``.

A program half renamed (``import yingshe.torch as torch`` in one file, ``import torch``
or ``from torch import nn`` left in another) mixes two libraries whose tensors do not
mix, and PyTorch's own message for that is baffling ("argument 'input' (position 1) must
be Tensor, not Tensor"). So ``yingshe.torch`` warns once, in either order of import: at
its own import when the real ``torch`` is already loaded, or when the real one is
imported later: a watcher on ``sys.meta_path`` that finds nothing itself sees the real
``torch`` import its own submodules (so looking ``torch`` up, as ``find_spec`` does, or
an ``import torch`` that fails, is no mix and no warning).
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import warnings

__all__ = ["RealTorchWarning", "watch"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
MESSAGE = (
    "the real PyTorch (`torch`) is imported in the same process as yingshe.torch: their "
    "tensors do not mix (PyTorch then fails with \"argument 'input' must be Tensor, not "
    "Tensor\"). Rename every import: `import torch` -> `import yingshe.torch as torch`, "
    "`from torch import nn` -> `from yingshe.torch import nn`")


class RealTorchWarning(UserWarning):
    """The real ``torch`` and ``yingshe.torch`` are both imported in this process."""


_warned = False


def _user_site():
    """(filename, line, globals) of the first frame outside yingshe, the real torch and
    the import machinery: the line that imported the second library."""
    real = getattr(sys.modules.get("torch"), "__file__", None)
    inside = (_PACKAGE,) + ((os.path.dirname(os.path.abspath(real)) + os.sep,) if real else ())
    f = sys._getframe(1)
    while f is not None:
        name = f.f_code.co_filename
        if not (name.startswith("<frozen") or os.path.abspath(name).startswith(inside)
                or os.sep + "importlib" + os.sep in name):
            return name, f.f_lineno, f.f_globals
        f = f.f_back
    return None


def _warn_once() -> None:
    global _warned
    if _warned:
        return
    _warned = True
    site = _user_site()
    if site is None:
        warnings.warn(MESSAGE, RealTorchWarning, stacklevel=3)
    else:
        filename, line, module_globals = site
        warnings.warn_explicit(MESSAGE, RealTorchWarning, filename, line,
                               module=module_globals.get("__name__"),
                               registry=module_globals.setdefault("__warningregistry__", {}))


class _Watch(importlib.abc.MetaPathFinder):
    """Warns when the real ``torch``, being imported, imports its first submodule. It
    stays on ``sys.meta_path`` (removing a finder while the import system walks the list
    would skip the next one) and finds nothing."""

    def find_spec(self, name, path=None, target=None):
        if not _warned and name.startswith("torch.") \
                and _is_real_torch(sys.modules.get("torch")):
            _warn_once()
        return None


def _is_real_torch(module) -> bool:
    return module is not None and not getattr(module, "__name__", "").startswith("yingshe")


def watch() -> None:
    """Called by ``yingshe.torch`` at import: warn now if the real ``torch`` is loaded,
    else when it is imported."""
    if _warned:
        return
    if _is_real_torch(sys.modules.get("torch")):
        _warn_once()
    elif not any(isinstance(f, _Watch) for f in sys.meta_path):
        sys.meta_path.insert(0, _Watch())
