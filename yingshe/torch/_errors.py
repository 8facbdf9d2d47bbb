"""The error that every front-end module raises for a PyTorch name it does not provide."""

from __future__ import annotations

DOC_PATH = "docs/torch_supported.md"


def public_name(modname: str) -> str:
    """``yingshe.torch.nn`` -> ``torch.nn`` (the name a PyTorch user knows)."""
    return modname[len("yingshe."):] if modname.startswith("yingshe.torch") else modname


class UnsupportedError(AttributeError):
    """A PyTorch name that ``yingshe.torch`` does not provide (yet)."""


def unsupported_getattr(modname: str):
    """A module-level ``__getattr__`` for front-end module ``modname``."""

    def __getattr__(name: str):
        if name.startswith("__") and name.endswith("__"):
            # Python's own probes (__path__, __wrapped__, ...): a plain AttributeError.
            raise AttributeError(f"module {modname!r} has no attribute {name!r}")
        raise UnsupportedError(
            f"{public_name(modname)}.{name} is not supported by yingshe.torch yet; see "
            f"{DOC_PATH} for the supported names"
        )

    return __getattr__
