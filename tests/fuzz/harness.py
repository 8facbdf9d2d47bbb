"""Run a drawn program on yingshe and on PyTorch (or eagerly and compiled) and say how the
two compare: one outcome per draw.

Outcomes (``OUTCOMES``): both agree; both raise; a silent wrong value (a value, dtype,
shape, gradient or written-through input differs beyond DESIGN's tolerance); a raw error
(yingshe raised an exception that is not one of its own: see ``raw_reason``); yingshe
raises where PyTorch succeeds; PyTorch raises where yingshe succeeds; a name the
catalogue reaches for that ``unsupported.py`` lists. The first three marked bad are what
the suite must never see.
"""

from __future__ import annotations

import builtins
import dis
import functools
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

import yingshe
from yingshe import errors as yerrors
from yingshe.testing.tolerances import tol

from .program import FLOAT_DTYPES, Program
from .torch_fixes import fixes_for
from .torch_quirks import quirk_of
from .unsupported import UNSUPPORTED

AGREE = "agree"
BOTH_RAISE = "both raise"
WRONG = "silent wrong value"
RAW = "raw error"
Y_RAISES = "yingshe raises where torch succeeds"
T_RAISES = "torch raises where yingshe succeeds"
LISTED = "unsupported (listed)"
# PyTorch's own kernels are not always right for non-contiguous inputs (batch_norm's input
# gradient with an expanded weight is garbage in torch 2.13): where yingshe differs from
# PyTorch but equals PyTorch on the same values laid out contiguously, PyTorch is wrong
T_LAYOUT = "torch wrong on a non-contiguous input"
# PyTorch accepting what yingshe refuses by a rule of torch_quirks.py (PyTorch's own paths
# disagree about the call)
T_QUIRK = "torch accepts, not sensibly (a quirk rule)"
# PyTorch's ldexp(x, n) differentiates x as g * 2**n with 2**n in integer arithmetic for an
# integer n (torch 2.13): 0 for n < 0 (ldexp(x, tensor([-1])) has gradient 0, not 0.5),
# wrapping from n = 63. Where yingshe differs from PyTorch but equals PyTorch with that
# gradient computed in floating point, PyTorch is wrong
T_LDEXP = "torch wrong: ldexp's gradient for an integer exponent"
# PyTorch's value an artifact of its kernel (a rule of torch_fixes.py): yingshe differs from
# PyTorch but equals a re-run with that function written without the artifact
T_FIXED = "torch wrong: an artifact of its kernel (torch_fixes)"
OUTCOMES = (AGREE, BOTH_RAISE, WRONG, RAW, Y_RAISES, T_RAISES, LISTED, T_LAYOUT, T_QUIRK,
            T_LDEXP, T_FIXED)
BAD = (WRONG, RAW, Y_RAISES)

# compiled vs eager: the same outcomes, with "compiled" for yingshe and "eager" for torch,
# plus a refusal at trace time (then fallback="eager" must give the eager result)
C_REFUSES = "compile refuses at trace time"
C_RAISES = "compiled raises where eager succeeds"
E_RAISES = "eager raises where compiled succeeds"
C_OUTCOMES = (AGREE, BOTH_RAISE, WRONG, RAW, C_RAISES, E_RAISES, C_REFUSES, LISTED)
C_BAD = (WRONG, RAW, C_RAISES, E_RAISES)

_PKG = os.path.dirname(os.path.abspath(yingshe.__file__)) + os.sep
# the classes yingshe raises (its own, and the built-ins it raises as PyTorch does)
_OWN_CLASSES = (yerrors.ShapeError, yerrors.DTypeError, yerrors.IndexError,
                yerrors.UnsupportedError, RuntimeError, ValueError, TypeError,
                builtins.IndexError, NotImplementedError)
_RAISE_OPS = frozenset({"RAISE_VARARGS", "RERAISE"})


def raw_reason(exc: BaseException, _seen: frozenset = frozenset()) -> str | None:
    """Why ``exc`` is not one of yingshe's own errors, or None when it is.

    Own: an instance of the classes yingshe raises, raised by a ``raise`` statement in
    the yingshe package, whose message does not merely repeat a raw error it caught (the
    registry's last-resort wrapper ``"op: <NumPy's message> (inputs: ...)"`` names the
    op but still leaks NumPy's words). Anything raised by NumPy or Python itself (a
    failed reshape, ``list[5]``, a missing attribute, an unexpected keyword) is raw."""
    if not isinstance(exc, _OWN_CLASSES):
        return f"{type(exc).__name__} is not a class yingshe raises"
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    where = f"{os.path.relpath(code.co_filename)}:{tb.tb_lineno}"
    if not os.path.abspath(code.co_filename).startswith(_PKG):
        return f"raised outside yingshe, at {where}"
    opname = next((i.opname for i in dis.get_instructions(code) if i.offset == tb.tb_lasti),
                  None)
    if opname not in _RAISE_OPS:
        return f"raised by Python or NumPy inside yingshe, at {where}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and id(cause) not in _seen and str(cause) and str(cause) in str(exc):
        why = raw_reason(cause, _seen | {id(exc)})
        if why:
            return f"repeats a raw {type(cause).__name__}'s message ({why})"
    return None


# ---- one run -------------------------------------------------------------------------------

@dataclass
class Run:
    """What one library did with a program."""

    error: BaseException | None = None
    phase: str = "done"          # where it stopped: "forward", "backward" or "done"
    step: int = 0                # the step that raised (forward)
    out: np.ndarray | None = None
    requires_grad: bool = False
    grads: list | None = None
    inputs_after: list = field(default_factory=list)   # inputs after the run (writes)
    warnings: list = field(default_factory=list)

    @property
    def position(self) -> tuple:
        """How far the run got, ordered: a forward error at step i < backward < done."""
        return {"forward": (0, self.step), "backward": (1, 0), "done": (2, 0)}[self.phase]


def _np(t) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


def cotangent(program: Program, out: np.ndarray) -> np.ndarray:
    return np.random.default_rng(program.ct_seed).standard_normal(out.shape).astype(out.dtype)


def run(m, program: Program, cast64: bool = False, compiled: str | None = None,
        dense: bool = False) -> Run:
    """Run ``program`` with library ``m`` (forward, then the gradient of every leaf that
    requires grad along a fixed random cotangent). ``compiled``: "trace" runs it
    through ``yingshe.compile``, "fallback" through ``compile(fallback="eager")``;
    ``cast64`` and ``dense``: see ``Program.make_inputs``."""
    r = Run()
    tensors = program.make_inputs(m, cast64, dense)
    leaves = [t for t in tensors if t.requires_grad]
    step = [0]

    def on_step(i):
        step[0] = i

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if m is yingshe:    # a leak is a warning a user sees: not the IEEE ones yingshe's
            yingshe.errors.silence_numpy_fp_warnings()    # import silences
        try:
            if compiled:
                out, grads = _run_compiled(program, tensors, leaves, compiled)
                r.phase = "done"
            else:
                out = program.body(m, tensors, on_step=on_step)
                grads = None
        except Exception as err:  # noqa: BLE001 - the outcome of the draw
            r.error, r.phase, r.step = err, "forward", -1 if compiled else step[0]
            r.warnings = list(caught)
            r.inputs_after = [_np(t) for t in tensors]
            return r
        if not isinstance(out, m.Tensor):
            r.error, r.phase, r.step = TypeError(f"the program returned {type(out)}"), \
                "forward", len(program.steps) - 1
            return r
        r.out = _np(out)
        r.requires_grad = bool(out.requires_grad)
        r.inputs_after = [_np(t) for t in tensors]
        if compiled:
            r.grads = grads
        elif program.grad and leaves and out.requires_grad:
            try:
                ct = m.from_numpy(cotangent(program, r.out))
                gs = m.autograd.grad(out, leaves, grad_outputs=ct, allow_unused=True)
                r.grads = [None if g is None else _np(g) for g in gs]
            except Exception as err:  # noqa: BLE001
                r.error, r.phase = err, "backward"
        r.warnings = list(caught)
    return r


def _run_compiled(program: Program, tensors, leaves, how: str):
    """The program and its gradients as one compiled function (called twice: the second
    call runs the cached program), returning the second call's results."""
    n = len(tensors)
    grad_at = [i for i, t in enumerate(tensors) if t.requires_grad]
    # an eager run says whether there are gradients to take, and the cotangent's shape
    probe = program.body(yingshe, program.make_inputs(yingshe))
    ct_arr = cotangent(program, _np(probe))
    want_grads = program.grad and bool(leaves) and probe.requires_grad

    def fn(*args):
        out = program.body(yingshe, list(args[:n]))
        grads = None
        if want_grads:
            grads = yingshe.autograd.grad(out, [args[i] for i in grad_at],
                                          grad_outputs=args[n], allow_unused=True)
        return out, grads

    cfn = yingshe.compile(fn, fallback="eager" if how == "fallback" else None)
    cfn(*program.make_inputs(yingshe), yingshe.from_numpy(ct_arr.copy()))
    out, grads = cfn(*tensors, yingshe.from_numpy(ct_arr.copy()))
    if grads is not None:
        grads = [None if g is None else _np(g) for g in grads]
    return out, grads


# ---- comparing values ----------------------------------------------------------------------

def _first_bad(mask: np.ndarray, y, t) -> str:
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return f"at {idx}: yingshe {y[idx]!r}, reference {t[idx]!r} ({int(mask.sum())} elements)"


def _float32_values(a: np.ndarray) -> bool:
    """Whether every finite element of a float64 array is a float32 number, not all of
    them small integers (which any precision represents)."""
    f = a[np.isfinite(a)]
    with np.errstate(over="ignore"):
        exact = np.array_equal(f, f.astype(np.float32).astype(np.float64))
    return exact and not np.array_equal(f, np.round(f))


def compare(y: np.ndarray, t: np.ndarray, kind: str = "reference", ref: np.ndarray | None = None,
            nan_rule: bool = False) -> str | None:
    """None when ``y`` equals ``t`` under DESIGN's ``kind`` tolerance, else what differs.

    NaN and infinity positions must agree. ``nan_rule``: a NaN in ``y`` where ``t`` has a
    number is accepted (DESIGN: where PyTorch's vectorised and scalar paths disagree at
    NaN inputs, yingshe gives NaN value and NaN gradient). ``ref``: a float64 evaluation
    of the same program; a float32 element outside the tolerance is accepted when it is no
    further from ``ref`` than twice PyTorch's own float32 error plus the tolerance
    (rounding amplified along a chain is the same for both libraries). That tolerance is
    DESIGN's "reference" one for every ``kind``: compiled code may round differently from
    eager (another order of the same sums), and is held to the accuracy asked of any float32
    result, not to the closeness of two runs of one formula."""
    if y is None or t is None:
        return None if y is None and t is None else "one side has no value"
    if y.shape != t.shape:
        return f"shape {y.shape} vs reference {t.shape}"
    if y.dtype != t.dtype:
        return f"dtype {y.dtype} vs reference {t.dtype}"
    if y.dtype.kind != "f":
        bad = y != t
        return _first_bad(bad, y, t) if bad.any() else None
    rtol, atol = tol(kind, y.dtype)
    if y.dtype == np.float64 and _float32_values(y) and _float32_values(t):
        # float64 results that are all float32 numbers were computed in float32 (a cast
        # inside the program, softmax(..., dtype=float32)): float32's tolerance
        rtol, atol = tol(kind, np.float32)
    yn, tn = np.isnan(y), np.isnan(t)
    if nan_rule:
        yn_only = yn & ~tn
        t = np.where(yn_only, np.nan, t)
        tn = tn | yn_only
    if (yn != tn).any():
        return "NaN positions differ: " + _first_bad(yn != tn, y, t)
    fin_y, fin_t = np.isfinite(y), np.isfinite(t)
    inf_bad = (~yn) & ((fin_y != fin_t) | (~fin_y & (y != t)))
    if inf_bad.any():
        return "infinities differ: " + _first_bad(inf_bad, y, t)
    both = fin_y & fin_t
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(y.astype(np.float64) - t.astype(np.float64))
        bad = both & ~(diff <= atol + rtol * np.abs(t.astype(np.float64)))
        if bad.any() and ref is not None and ref.shape == y.shape and y.dtype == np.float32:
            r64 = ref.astype(np.float64)
            err_y = np.abs(y - r64)
            err_t = np.abs(t - r64)
            r_rtol, r_atol = tol("reference", y.dtype)
            bad &= ~(err_y <= 2 * err_t + r_atol + r_rtol * np.abs(r64))
    if bad.any():
        return f"values differ beyond rtol={rtol}, atol={atol}: " + _first_bad(bad, y, t)
    return None


def _non_finite_inputs(program: Program) -> bool:
    return any(s.dtype in FLOAT_DTYPES and not np.isfinite(s.values()).all()
               for s in program.inputs)


# ---- one draw ------------------------------------------------------------------------------

@dataclass
class Result:
    outcome: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.outcome}: {self.detail}" if self.detail else self.outcome


def _describe(r: Run, program: Program) -> str:
    if r.error is None:
        return "succeeds"
    where = (f"step {r.step} ({program.steps[r.step].text!r})" if r.phase == "forward"
             and program.steps and r.step >= 0 else r.phase)
    return f"{type(r.error).__name__} at {where}: {str(r.error)[:300]}"


def _leaked_warning(r: Run) -> str | None:
    for w in r.warnings:
        if issubclass(w.category, (RuntimeWarning, DeprecationWarning)) and (
                os.path.abspath(w.filename).startswith(_PKG) or "numpy" in w.filename):
            return f"{w.category.__name__} {w.message} ({w.filename}:{w.lineno})"
    return None


def compare_runs(y: Run, t: Run, program: Program, kind: str, ref_fn=None,
                 nan_rule: bool = False) -> str | None:
    """What differs between two runs that both got at least through the forward."""
    ref = ref_fn() if ref_fn is not None else None
    ref_ok = ref is not None and ref.error is None
    # a reference whose forward finished arbitrates the values even where its backward
    # then failed (PyTorch's unique has no derivative): the forward was still computed
    ref_fwd = ref is not None and ref.out is not None and (ref.error is None
                                                            or ref.phase == "backward")
    msg = compare(y.out, t.out, kind, ref.out if ref_fwd else None)
    if msg:
        return f"output {msg}"
    for i, (a, b) in enumerate(zip(y.inputs_after, t.inputs_after)):
        msg = compare(a, b, kind, ref.inputs_after[i] if ref_fwd else None)
        if msg:
            return f"input {i} after the run (a write through a view or in place): {msg}"
    # (no history where the reference has one that its backward then refuses is the same
    # refusal, made earlier)
    if y.requires_grad != t.requires_grad and not (t.requires_grad and t.phase == "backward"):
        return (f"output requires_grad={y.requires_grad}, reference "
                f"requires_grad={t.requires_grad}")
    if y.phase == "done" and t.phase == "done" and (y.grads or t.grads):
        ys = y.grads or [None] * len(t.grads)
        ts = t.grads or [None] * len(ys)
        refs = ref.grads if ref_ok and ref.grads else [None] * len(ys)
        for i, (a, b, c) in enumerate(zip(ys, ts, refs)):
            if a is None and b is None:
                continue
            # an input the output does not depend on: None on one side, zeros on the other
            a = np.zeros_like(b) if a is None else a
            b = np.zeros_like(a) if b is None else b
            msg = compare(a, b, kind, c, nan_rule=nan_rule)
            if msg:
                return f"gradient of leaf {i}: {msg}"
    return None


def _torch_run(program: Program, **kw) -> Run:
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(torch, program, **kw)


def _torch_run_with_float_ldexp_gradient(program: Program) -> Run:
    """PyTorch's run with ``ldexp``'s input gradient for an integer exponent computed as
    ``ldexp(g, n)`` (exact, in g's floating dtype): see ``T_LDEXP``."""
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    real = torch.ldexp

    class Ldexp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, n):
            ctx.save_for_backward(n)
            return real(x, n)

        @staticmethod
        def backward(ctx, g):
            (n,) = ctx.saved_tensors
            return real(g, n), None

    def ldexp(x, n, **kw):
        if (isinstance(x, torch.Tensor) and isinstance(n, torch.Tensor) and not kw
                and x.is_floating_point() and not n.is_floating_point()
                and n.dtype is not torch.bool):
            return Ldexp.apply(x, n)
        return real(x, n, **kw)

    own = torch.Tensor.__dict__.get("ldexp")     # (the method is TensorBase's)
    torch.ldexp, torch.Tensor.ldexp = ldexp, ldexp
    try:
        return _torch_run(program)
    finally:
        torch.ldexp = real
        if own is None:
            del torch.Tensor.ldexp
        else:
            torch.Tensor.ldexp = own


def _torch_run_with_fixes(program: Program, fixes) -> Run:
    """PyTorch's run with each rule's function replaced (see ``torch_fixes``)."""
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    functional = torch.nn.functional
    real = {f.attr: getattr(functional, f.attr) for f in fixes}
    try:
        for f in fixes:
            setattr(functional, f.attr, f.make(torch, real[f.attr]))
        return _torch_run(program)
    finally:
        for attr, fn in real.items():
            setattr(functional, attr, fn)


def _program_error(r: Run) -> bool:
    """Raised by the drawn program's own text (a tuple index past the pieces of a split),
    not inside either library."""
    tb = r.error.__traceback__ if r.error is not None else None
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename == "<fuzz step>"


def classify(program: Program) -> Result:
    """yingshe against PyTorch on one program."""
    t = _torch_run(program)
    y = run(yingshe, program)

    @functools.cache     # one float64 run, however many re-runs it arbitrates
    def ref64():
        if not any(s.dtype == "float32" for s in program.inputs):
            return None
        return _torch_run(program, cast64=True)

    if y.error is not None and y.phase == "forward":
        names = set(program.steps[y.step].names) & UNSUPPORTED if program.steps else set()
        if names and y.position <= t.position:
            return Result(LISTED, ", ".join(sorted(names)))
    if (y.position == t.position and _program_error(y) and _program_error(t)
            and type(y.error) is type(t.error)):
        return Result(BOTH_RAISE, f"the program's own {type(y.error).__name__}")
    if y.error is not None:
        why = raw_reason(y.error)
        if why:
            return Result(RAW, f"{why}; yingshe {_describe(y, program)}; torch "
                               f"{_describe(t, program)}")
    leaked = _leaked_warning(y)
    if leaked:
        return Result(RAW, f"NumPy warning leaked: {leaked}")
    if y.phase != "forward" and t.phase != "forward":
        nan_rule = _non_finite_inputs(program)
        msg = compare_runs(y, t, program, "reference", ref64, nan_rule)
        if msg:
            dense = _torch_run(program, dense=True)
            if (any(s.layout != "contiguous" for s in program.inputs)
                    and dense.position == t.position
                    and compare_runs(y, dense, program, "reference", ref64, nan_rule) is None):
                return Result(T_LAYOUT, msg)
            if any({"ldexp", "Tensor.ldexp"} & set(s.names) for s in program.steps):
                fixed = _torch_run_with_float_ldexp_gradient(program)
                if (fixed.position == t.position
                        and compare_runs(y, fixed, program, "reference", ref64, nan_rule)
                        is None):
                    return Result(T_LDEXP, msg)
            fixes = fixes_for(n for s in program.steps for n in s.names)
            if fixes:
                fixed = _torch_run_with_fixes(program, fixes)
                if (fixed.position == t.position
                        and compare_runs(y, fixed, program, "reference", ref64, nan_rule)
                        is None):
                    return Result(T_FIXED, f"{'; '.join(f.name for f in fixes)}: {msg}")
            return Result(WRONG, msg)
    if y.position < t.position:
        if y.phase == "forward":
            quirk = quirk_of(program.steps[y.step].names, y.error, _torch_before(program, y.step))
            if quirk is not None:
                return Result(T_QUIRK, f"{quirk.name}: yingshe {_describe(y, program)}")
        return Result(Y_RAISES, f"yingshe {_describe(y, program)}")
    if y.position > t.position:
        return Result(T_RAISES, f"torch {_describe(t, program)}")
    if y.error is not None:
        return Result(BOTH_RAISE, type(y.error).__name__)
    return Result(AGREE)


def _torch_before(program: Program, step: int):
    """PyTorch's current tensor before ``step`` (the quirk rules look at it)."""
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return program.body(torch, program.make_inputs(torch), upto=step)


def classify_compiled(program: Program) -> Result:
    """``yingshe.compile`` against eager yingshe on one program."""
    e = run(yingshe, program)
    if e.error is not None and e.phase == "forward" and program.steps:
        names = set(program.steps[e.step].names) & UNSUPPORTED
        if names:
            return Result(LISTED, ", ".join(sorted(names)))
    c = run(yingshe, program, compiled="trace")
    if e.error is not None and c.error is not None:
        # the same refusal either way (whether eager's error is yingshe's own is the
        # comparison with PyTorch's business)
        return Result(BOTH_RAISE, type(c.error).__name__)
    if c.error is not None:
        why = raw_reason(c.error)
        if why:
            return Result(RAW, f"{why}; compiled {_describe(c, program)}")
        # a refusal while tracing (what fallback="eager" catches): a TraceError, or an
        # UnsupportedError for a shape that depends on values
        if isinstance(c.error, (yingshe.graph.trace.TraceError, NotImplementedError)):
            f = run(yingshe, program, compiled="fallback")
            if f.error is not None:
                return Result(C_RAISES, f"with fallback='eager': {_describe(f, program)}")
            msg = compare_runs(f, e, program, "graph")
            if msg:
                return Result(WRONG, f"with fallback='eager': {msg}")
            return Result(C_REFUSES, str(c.error)[:200])
        return Result(C_RAISES, f"compiled {_describe(c, program)}")
    leaked = _leaked_warning(c)
    if leaked:
        return Result(RAW, f"NumPy warning leaked: {leaked}")
    if e.error is not None:
        if e.phase == "backward":   # compiled ran the gradient too: compare the forward
            msg = compare(c.out, e.out, "graph")
            if msg:
                return Result(WRONG, f"output {msg}")
        return Result(E_RAISES, f"eager {_describe(e, program)}")
    def ref64():    # eager in float64: the float32 rounding rule of compare(), as vs torch
        if not any(s.dtype == "float32" for s in program.inputs):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run(yingshe, program, cast64=True)

    msg = compare_runs(c, e, program, "graph", ref64)
    if msg:
        return Result(WRONG, msg)
    return Result(AGREE)
