"""The ``jit`` extra: kernels compiled by numba, when it is installed.

NumPy runs one pass over memory per operation; a chain of elementwise operations
(an optimizer update, an LSTM cell's gate maths, a fused tail of a compiled step)
makes as many passes and temporaries as it has operations. numba compiles one loop
that does the whole chain per element. This module is the one place that knows
about numba:

* **the backend policy** — ``"numba"`` or ``"numpy"``; the process-wide default is
  numba when it is importable (``set_default_backend``), and with
  ``YINGSHE_REQUIRE_NUMBA=1`` (set by CI) a missing numba is an error instead of a
  silent NumPy fallback, so CI tests the path it claims to;
* **kernels from scalar formulas** — an op that declares ``scalar(*xs, **attrs)``,
  the per-element formula of its forward written with plain arithmetic, comparisons,
  conditional expressions and ``math`` functions, gets a one-pass kernel from
  ``elementwise_kernel``; the compiler's fusion pass composes the same formulas;
* **a disk cache** — numba cannot cache functions made with ``exec``, so generated
  kernel source is written to a file named by its hash under ``cache_dir()`` and
  imported from there (``cache=True``): a second process loads machine code instead
  of recompiling.

numba is imported on first use, never by ``import yingshe``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
import textwrap
import threading
from typing import Callable

__all__ = ["available", "numba_module", "required", "resolve_backend", "set_default_backend",
           "get_default_backend", "cache_dir", "load_source", "elementwise_kernel",
           "BackendUnavailable"]

BACKENDS = ("numba", "numpy")


class BackendUnavailable(ImportError):
    """The numba backend was asked for (or required) but numba cannot be imported."""


_lock = threading.RLock()
_numba: list = []            # [module or None] once probed
_default: list = [None]      # None: numba when importable


def numba_module():
    """The ``numba`` module, or ``None`` when it is not installed (probed once)."""
    if not _numba:
        with _lock:
            if not _numba:
                # numba's prange runs on OpenMP; GNU OpenMP's idle threads spin, and when
                # another process holds a core a spinning thread starves the working one
                # (measured here: an MLP step with prange kernels at two threads went from
                # 48 ms to 160-190 ms while the machine was busy). Passive waiting, unless
                # the user chose otherwise; read when numba loads the OpenMP runtime.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:
                    import numba  # noqa: PLC0415 - optional, imported on first use
                except ImportError:
                    numba = None
                if numba is not None:
                    # the policy set before numba was imported (set_num_threads(1) at the
                    # top of a script) applies to its threads too: numba's own default is
                    # every CPU
                    from yingshe.backend import threads  # noqa: PLC0415
                    threads._numba_set(threads.get_num_threads())
                _numba.append(numba)
    return _numba[0]


def available() -> bool:
    """Whether numba can be imported."""
    return numba_module() is not None


def required() -> bool:
    """``YINGSHE_REQUIRE_NUMBA=1``: a fallback to NumPy is an error (CI sets it)."""
    return os.environ.get("YINGSHE_REQUIRE_NUMBA") == "1"


def _missing(why: str) -> BackendUnavailable:
    return BackendUnavailable(
        f"{why}, but numba cannot be imported; install the extra with "
        f"`pip install \"yingshe[jit]\"` (or choose backend='numpy')")


def resolve_backend(name: str | None = None) -> str:
    """The backend to use for ``name`` (``"numba"``, ``"numpy"`` or ``None`` for the
    process default). ``"numba"`` without numba raises; the default falls back to
    ``"numpy"`` unless ``YINGSHE_REQUIRE_NUMBA=1``."""
    if name is None:
        name = _default[0]
    if name == "numpy":
        return "numpy"
    if name is not None and name != "numba":
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
    if available():
        return "numba"
    if name == "numba":
        raise _missing("backend='numba' was asked for")
    if required():
        raise _missing("YINGSHE_REQUIRE_NUMBA=1 is set")
    return "numpy"


def set_default_backend(name: str | None) -> None:
    """Set the process-wide backend of compiled code and fused kernels: ``"numba"``,
    ``"numpy"``, or ``None`` (numba when importable)."""
    if name is not None and name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
    if name == "numba" and not available():
        raise _missing("set_default_backend('numba') was called")
    _default[0] = name


def get_default_backend() -> str:
    """The backend that code asking for the default gets now."""
    return resolve_backend(None)


class LazyKernels:
    """Hand-written numba functions of an op module, compiled on first use:
    ``kernels()`` gives them (a dict by name), or ``None`` when the backend policy says
    NumPy (numba missing, or ``set_default_backend("numpy")``), and the op runs its NumPy
    code. ``options`` go to ``numba.njit`` (``cache=True`` keeps the machine code on
    disk, so only the first process compiles)."""

    def __init__(self, functions: dict, **options) -> None:
        self._functions = functions
        self._options = options
        self._compiled: dict = {}
        self._lock = threading.Lock()

    def __call__(self):
        if resolve_backend(None) != "numba":
            return None
        if not self._compiled:
            with self._lock:
                if not self._compiled:
                    njit = numba_module().njit(**self._options)
                    self._compiled.update({name: njit(fn)
                                           for name, fn in self._functions.items()})
        return self._compiled


# ---- the kernel cache ------------------------------------------------------------------------

def cache_dir() -> str:
    """Where generated kernel source (and numba's cache of it) lives:
    ``$YINGSHE_CACHE_DIR``, else ``$XDG_CACHE_HOME/yingshe/kernels``, else
    ``~/.cache/yingshe/kernels``."""
    root = os.environ.get("YINGSHE_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                               ".cache")
        root = os.path.join(base, "yingshe", "kernels")
    return root


_modules: dict[str, object] = {}


def load_source(source: str, hint: str = "kernel"):
    """Import ``source`` as a module from a file named by its hash in ``cache_dir()``.

    The file is written once (atomically: a temporary file renamed into place, so a
    concurrent process never imports half a file) and then reused by every process,
    which lets numba's ``cache=True`` find its compiled code next to it.
    """
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"yingshe_{''.join(c if c.isalnum() else '_' for c in hint)}_{digest}"
    mod = _modules.get(name)
    if mod is not None:
        return mod
    with _lock:
        mod = _modules.get(name)
        if mod is not None:
            return mod
        folder = cache_dir()
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name + ".py")
        if not os.path.exists(path):
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(source)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        _modules[name] = mod
        return mod


# ---- kernels from scalar formulas ------------------------------------------------------------

def _import_path(fn: Callable) -> tuple[str, str]:
    """(module, dotted attribute path) under which ``fn`` can be imported again."""
    qual = fn.__qualname__
    if "<locals>" in qual or "<lambda>" in qual:
        raise ValueError(f"scalar formula {qual!r} must be a module-level function or a "
                         "static method of a module-level class (numba imports it by name)")
    return fn.__module__, qual


def _source_of(fn: Callable) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):  # pragma: no cover - built without source
        return fn.__qualname__


def _names(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class _WeakNumbers:
    """Re-types a formula as NumPy computes it on ``dtype`` arrays (NEP 50: Python
    numbers are "weak"): an expression of numbers only (constants, number inputs, locals
    computed from them) is evaluated in float64 and cast once to the kernel's type ``_T``
    where it meets a value that depends on an array element; every such value is then of
    type ``_T``. Without it numba promotes float32 elements to float64 at every constant
    (``1.0 - beta``), and computes ``1 - beta2`` from a float32 ``beta2`` if the numbers
    were cast on entry (for beta2 = 0.999: a relative error of 5e-5)."""

    def __init__(self, func: ast.FunctionDef, array_params) -> None:
        self.arrayish = set(array_params)
        assigns = [n for n in ast.walk(func) if isinstance(n, (ast.Assign, ast.AugAssign))]
        changed = True
        while changed:   # locals computed from array elements (in any branch)
            changed = False
            for a in assigns:
                targets = a.targets if isinstance(a, ast.Assign) else [a.target]
                deps = _names(a.value) | (_names(a.target) if isinstance(a, ast.AugAssign)
                                          else set())
                if deps & self.arrayish:
                    for t in targets:
                        for n in _names(t) - self.arrayish:
                            self.arrayish.add(n)
                            changed = True

    def _array_dependent(self, e) -> bool:
        return bool(_names(e) & self.arrayish)

    def typed(self, e):
        """``e`` where its value meets array elements (an operand, a stored result)."""
        if not self._array_dependent(e):
            if isinstance(e, (ast.Compare, ast.BoolOp)) or (
                    isinstance(e, ast.Constant) and isinstance(e.value, (bool, str))):
                return e
            return ast.Call(ast.Name("_T", ast.Load()), [e], [])
        if isinstance(e, ast.BinOp):
            return ast.BinOp(self.typed(e.left), e.op, self.typed(e.right))
        if isinstance(e, ast.UnaryOp):
            return ast.UnaryOp(e.op, self.typed(e.operand))
        if isinstance(e, ast.Call):
            return ast.Call(e.func, [self.typed(a) for a in e.args], e.keywords)
        if isinstance(e, ast.Compare):
            return ast.Compare(self.typed(e.left), e.ops, [self.typed(c) for c in e.comparators])
        if isinstance(e, ast.BoolOp):
            return ast.BoolOp(e.op, [self.cond(v) for v in e.values])
        if isinstance(e, ast.IfExp):
            return ast.IfExp(self.cond(e.test), self.typed(e.body), self.typed(e.orelse))
        if isinstance(e, ast.Tuple):
            return ast.Tuple([self.typed(x) for x in e.elts], ast.Load())
        return e

    def cond(self, e):
        """A test: left alone unless it reads array elements."""
        return self.typed(e) if self._array_dependent(e) else e

    def statements(self, body):
        for st in body:
            if isinstance(st, ast.Assign) and _names(st.targets[0]) & self.arrayish:
                st.value = self.typed(st.value)
            elif isinstance(st, ast.AugAssign) and _names(st.target) & self.arrayish:
                st.value = self.typed(st.value)
            elif isinstance(st, ast.Return) and st.value is not None:
                st.value = self.typed(st.value)
            elif isinstance(st, ast.If):
                st.test = self.cond(st.test)
                self.statements(st.body)
                self.statements(st.orelse)
        return body


def _typed_formula(fn: Callable, name: str, n_arrays: tuple) -> tuple[str, list[str]]:
    """The source of ``fn`` as a plain function ``name`` computing in the kernel's dtype
    ``_T`` with NumPy's rule for Python numbers (``_WeakNumbers``; ``n_arrays``: per
    input, whether it is an array), and the global names it reads (imported from its
    module)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    func = tree.body[0]
    if not isinstance(func, ast.FunctionDef):
        raise ValueError(f"scalar formula {fn.__qualname__!r}: expected a def")
    func.decorator_list = []
    func.name = name
    params = [a.arg for a in func.args.args]
    _WeakNumbers(func, [p for p, is_arr in zip(params, n_arrays) if is_arr]).statements(
        func.body)
    ast.fix_missing_locations(func)
    local = set(fn.__code__.co_varnames)
    globals_ = sorted(n for n in fn.__code__.co_names
                      if n not in local and n in fn.__globals__)
    return ast.unparse(func), globals_


def _attr_literal(v) -> str:
    if v is None or isinstance(v, (bool, int, float, str)):
        return repr(v)
    raise TypeError(f"a kernel attribute must be a bool, int, float, str or None, got {v!r}")


def elementwise_kernel(scalar: Callable, arrays: tuple[bool, ...], n_out: int,
                       parallel: bool = False, attrs: dict | None = None,
                       error_model: str = "numpy", dtype: str | None = None):
    """A compiled one-pass kernel ``k(*inputs, *outputs)`` applying ``scalar`` per element.

    Args:
        scalar: the per-element formula; it takes one value per input and returns one
            value, or a tuple of ``n_out`` values.
        arrays: per input, ``True`` for a 1-D array (indexed per element) and ``False``
            for a number passed through (a hyper-parameter such as ``lr``).
        n_out: the number of outputs, each a 1-D array as long as the array inputs
            (an output may be the same array as an input: updates run in place).
        parallel: loop with ``numba.prange`` over the cores (worth it above ~10^5
            elements; the caller decides).
        attrs: the op's attributes, passed to ``scalar`` as keyword constants written
            into the kernel's source (so numba compiles one variant per value: a
            branch on ``nesterov`` or ``amsgrad`` costs nothing in the loop). numba
            passes them by keyword but cannot type keyword-only parameters: declare
            them as ordinary parameters after the inputs.
        error_model: numba's ``error_model``. ``"numpy"`` (the default) gives NumPy's
            results where Python would raise (``1.0 / 0.0`` is inf, ``0.0 / 0.0`` NaN), which
            is what a formula must agree with, and lets the loop vectorise (the
            ``"python"`` model checks every division for zero).
        dtype: ``"float32"`` or ``"float64"``: compute in this type with NumPy's rule
            for Python numbers (NEP 50): the formula is re-emitted so that expressions of
            numbers only (constants, number inputs) are evaluated in float64 and cast
            once where they meet array values, which are then all of this type. Float32
            data is thus computed in float32 as NumPy computes it, and agrees with NumPy's
            passes to round-off (numba would otherwise promote each element to float64
            at every constant, converting both ways and halving the vector width:
            measured 2.6x slower on an SGD update). ``None``: the formula as written.

    Returns:
        The numba dispatcher (compiled on first call per argument types).
    """
    nb = numba_module()
    if nb is None:
        raise _missing("a fused kernel was asked for")
    if error_model not in ("numpy", "python"):
        raise ValueError(f"error_model must be 'numpy' or 'python', got {error_model!r}")
    if dtype not in (None, "float32", "float64"):
        raise ValueError(f"dtype must be None, 'float32' or 'float64', got {dtype!r}")
    mod_name, qual = _import_path(scalar)
    head, _, attr = qual.partition(".")
    ins = [f"a{i}" for i in range(len(arrays))]
    outs = [f"o{j}" for j in range(n_out)]
    call = ", ".join([f"{a}[i]" if is_arr else a for a, is_arr in zip(ins, arrays)]
                     + [f"{k}={_attr_literal(v)}" for k, v in sorted((attrs or {}).items())])
    loop = "numba.prange" if parallel else "range"
    lines = [
        "# generated by yingshe.backend.jit.elementwise_kernel; safe to delete",
        f"# scalar formula: {mod_name}.{qual}",
        *("# " + ln for ln in _source_of(scalar).splitlines()),
        "import numba",
    ]
    njit = f"numba.njit(cache=True, nogil=True, error_model={error_model!r})"
    if dtype is None:
        lines += [f"from {mod_name} import {head} as _owner",
                  f"_scalar = {njit}(_owner{'.' + attr if attr else ''})"]
    else:
        src, names = _typed_formula(scalar, "_formula", arrays)
        if names:
            lines.append(f"from {mod_name} import {', '.join(names)}")
        lines += [f"_T = numba.{dtype}", "", src, f"_scalar = {njit}(_formula)"]
    lines += [
        "",
        f"@numba.njit(cache=True, nogil=True, parallel={parallel}, "
        f"error_model={error_model!r})",
        f"def kernel({', '.join(ins + outs)}):",
    ]
    lines.append(f"    for i in {loop}(o0.shape[0]):")
    if n_out == 1:
        lines.append(f"        o0[i] = _scalar({call})")
    else:
        lines.append(f"        r = _scalar({call})")
        lines += [f"        o{j}[i] = r[{j}]" for j in range(n_out)]
    source = "\n".join(lines) + "\n"
    return load_source(source, f"ew_{qual}" + (f"_{dtype}" if dtype else "")).kernel
