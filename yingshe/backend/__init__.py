"""Array backends: the ``xp`` namespace that op forwards compute with.

An op's ``forward(xp, *arrays, **attrs)`` sees only ``xp`` and raw arrays, so a
new backend (CuPy for ``device="cuda"``) is a new module here, not a rewrite of
the ops. A backend module re-exports its array library's namespace and adds the
few operations the array API standard does not cover (scatter-add, erf, ...).
"""

from __future__ import annotations

from yingshe.backend import _allocator
from yingshe.backend import numpy as numpy_backend

_allocator.tune()   # see _allocator: freed temporaries stay mapped for the next step

__all__ = ["numpy_backend", "get", "default"]

_BACKENDS = {"cpu": numpy_backend, "numpy": numpy_backend}

default = numpy_backend


def get(name: str = "cpu"):
    """The backend module for a device name ("cpu"); a clear error for others."""
    try:
        return _BACKENDS[name]
    except KeyError:
        if name.startswith("cuda"):
            raise RuntimeError(
                "device 'cuda' needs the CuPy backend, which yingshe does not ship yet; "
                "use device='cpu'"
            ) from None
        raise ValueError(f"unknown device {name!r}; yingshe supports 'cpu'") from None
