"""yingshe's exception classes and the helper that finds the user's line of code.

The classes inherit from both the Python built-in a reader expects and
``RuntimeError`` (what PyTorch raises), so ``except ValueError`` and PyTorch
users' ``except RuntimeError`` both work.
"""

from __future__ import annotations

import builtins
import os
import sys
import warnings

__all__ = ["ShapeError", "DTypeError", "IndexError", "UnsupportedError", "user_site",
           "caller_site", "resolve_site", "format_site"]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _NamesUserLine:
    """Mixin: the message ends with the user's ``file:line`` (the first stack frame
    outside the package), found when the error is created; errors are rare, so the
    stack walk costs nothing on the happy path."""

    def __init__(self, *args) -> None:
        site = user_site(2)
        if args and isinstance(args[0], str) and site is not None:
            args = (f"{args[0]} (at {format_site(site)})",) + args[1:]
            self._yingshe_site = True
        super().__init__(*args)


class ShapeError(_NamesUserLine, ValueError, RuntimeError):
    """Shapes that an op cannot accept (raised when a graph is built, or eagerly)."""


class DTypeError(_NamesUserLine, TypeError, RuntimeError):
    """Dtypes that an op cannot accept."""


class IndexError(_NamesUserLine, builtins.IndexError, RuntimeError):  # noqa: A001
    """An out-of-range dimension or index (a subclass of the built-in IndexError, as
    PyTorch raises)."""


class UnsupportedError(NotImplementedError):
    """A PyTorch/TensorFlow argument or name that yingshe does not implement."""


def no_out(out, name: str) -> None:
    """Refuse an ``out=`` argument by name (an ``UnsupportedError``): functions that take
    PyTorch's signature but write no ``out`` must never ignore it silently."""
    if out is not None:
        raise UnsupportedError(f"{name}: the out= argument is not supported by yingshe")


_internal_files: dict[str, bool] = {}


def _is_internal(filename: str) -> bool:
    try:
        return _internal_files[filename]
    except KeyError:
        inside = os.path.abspath(filename).startswith(_PKG_DIR)
        _internal_files[filename] = inside
        return inside


def user_site(skip: int = 1) -> tuple[str, int] | None:
    """(filename, line) of the first stack frame outside the yingshe package."""
    f = sys._getframe(skip)
    known = _internal_files
    while f is not None:
        filename = f.f_code.co_filename
        inside = known.get(filename)
        if inside is None:
            inside = _is_internal(filename)
        if not inside:
            return (filename, f.f_lineno)
        f = f.f_back
    return None


def caller_site(skip: int = 1):
    """The user's code position, cheaply: (code object, instruction offset) of the first
    stack frame outside the package, resolved to a line only when an error, a drawing or
    ``explain()`` asks (``resolve_site``). Every tape node records one, so this is a hot
    path: computing ``f_lineno`` (a walk of the line table) would cost more than the rest
    of the walk. The frame itself is never kept: it would keep the caller's tensors alive."""
    f = sys._getframe(skip)
    known = _internal_files
    while f is not None:
        code = f.f_code
        inside = known.get(code.co_filename)
        if inside is None:
            inside = _is_internal(code.co_filename)
        if not inside:
            return (code, f.f_lasti)
        f = f.f_back
    return None


def resolve_site(site) -> tuple[str, int] | None:
    """(filename, line) of a site from ``user_site`` or ``caller_site`` (or None)."""
    if site is None:
        return None
    where, pos = site
    if isinstance(where, str):
        return site
    line = None
    for start, end, ln in where.co_lines():  # the range holding the instruction
        if start <= pos < end:
            line = ln
            break
    return (where.co_filename, line if line is not None else where.co_firstlineno)


def format_site(site) -> str:
    """``file:line`` of a site (a path relative to the working directory when inside it)."""
    site = resolve_site(site)
    if site is None:
        return ""
    filename, line = site
    try:
        rel = os.path.relpath(filename)
        if not rel.startswith(".."):
            filename = rel
    except ValueError:
        pass
    return f"{filename}:{line}"


# NumPy's floating-point warnings ("invalid value encountered in multiply" for inf * 0,
# "overflow encountered in add" ...) say that an IEEE special value was made. yingshe's
# arithmetic is IEEE's, as PyTorch's: inf * 0 is NaN and float32 1e30 * 1e30 is inf, with
# no warning. Silencing them per op with ``np.errstate`` costs every op about a
# microsecond; a warnings filter for frames of yingshe's own modules costs nothing until
# a warning is raised, and leaves the user's own NumPy code as it was.
NUMPY_FP_WARNING = r"(invalid value|overflow|divide by zero|underflow) encountered"
OWN_MODULES = r"yingshe(\.|$)"


def silence_numpy_fp_warnings() -> None:
    """Install the filter (at import; again after ``warnings.resetwarnings()`` or inside a
    ``catch_warnings`` block that starts from nothing, as test harnesses do)."""
    warnings.filterwarnings("ignore", message=NUMPY_FP_WARNING, category=RuntimeWarning,
                            module=OWN_MODULES)
