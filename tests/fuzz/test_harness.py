"""The fuzz harness is an oracle: these tests show it can fail. A wrong value, a raw NumPy
error, a refusal PyTorch does not make, a listed name and a starved category are each
detected on a program built by hand (yingshe sabotaged where needed)."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import yingshe
from yingshe.errors import ShapeError
from yingshe.testing.reference import require_module

from . import harness
from .catalogue import CATEGORIES
from .conftest import MIN_SHARE
from .program import InputSpec, Program, Step, names_in
from .strategies import programs
from .unsupported import UNSUPPORTED

require_module("torch")


def _program(*texts, shape=(2, 3), dtype="float64", profile="normal", extras=()):
    first = InputSpec(shape, dtype, profile, seed=1)
    steps = [Step(t, "elementwise", tuple(extras) if i == 0 else ())
             for i, t in enumerate(texts)]
    return Program(first, steps, grad=True, ct_seed=2)


def test_an_agreeing_program_agrees():
    p = _program("x = m.sin(x) * 2", "x = x.sum(0)")
    assert harness.classify(p).outcome == harness.AGREE


def test_a_wrong_value_is_caught(monkeypatch):
    monkeypatch.setattr(yingshe, "sin", lambda x: yingshe.cos(x))
    result = harness.classify(_program("x = m.sin(x)"))
    assert result.outcome == harness.WRONG and "output values differ" in result.detail


def test_a_wrong_gradient_is_caught(monkeypatch):
    # the forward is right; the gradient is 0
    real = yingshe.sin
    monkeypatch.setattr(yingshe, "sin", lambda x: real(x.detach()) + 0 * x)
    result = harness.classify(_program("x = m.sin(x)"))
    assert result.outcome == harness.WRONG and "gradient" in result.detail


def test_a_wrong_dtype_is_caught(monkeypatch):
    real = yingshe.sin
    monkeypatch.setattr(yingshe, "sin", lambda x: real(x).float())
    result = harness.classify(_program("x = m.sin(x)"))
    assert result.outcome == harness.WRONG and "dtype" in result.detail


def test_a_lost_write_through_a_view_is_caught(monkeypatch):
    # x.t() made a copy: the write never reaches the input
    monkeypatch.setattr(yingshe.Tensor, "t", lambda self: self.clone().transpose(0, 1))
    p = _program("x.t().fill_(1.0)", shape=(2, 3), dtype="int64", profile="small")
    assert harness.classify(p).outcome == harness.WRONG


def test_a_raw_numpy_error_is_caught(monkeypatch):
    def broken(x):
        return np.zeros(2).reshape(3)    # NumPy's own ValueError
    monkeypatch.setattr(yingshe, "sin", broken)
    result = harness.classify(_program("x = m.sin(x)"))
    assert result.outcome == harness.RAW and "outside yingshe" in result.detail


def test_the_registry_wrapping_a_numpy_message_is_still_raw():
    # an op whose forward fails inside NumPy: the registry's last-resort error names the
    # op and the shapes but repeats NumPy's message
    from yingshe.ops._registry import OpDef, apply

    def forward(xp, x):
        return x.reshape(7)

    def infer(x):
        return x

    broken = OpDef("broken", forward, infer, None)
    with pytest.raises(ShapeError, match="broken: cannot reshape") as info:
        apply(broken, yingshe.ones(2))
    assert "repeats a raw ValueError's message" in harness.raw_reason(info.value)


def test_own_errors_are_not_raw():
    with pytest.raises(ShapeError) as info:
        yingshe.ones(3) + yingshe.ones(4)
    assert harness.raw_reason(info.value) is None
    with pytest.raises(AttributeError) as info:
        yingshe.no_such_function  # noqa: B018
    assert "not a class yingshe raises" in harness.raw_reason(info.value)


def test_yingshe_refusing_what_torch_accepts_is_caught(monkeypatch):
    # yingshe's own error (raised inside yingshe), where torch has none
    monkeypatch.setattr(yingshe, "sin", lambda x: x + yingshe.ones(7))
    assert harness.classify(_program("x = m.sin(x)")).outcome == harness.Y_RAISES


def test_both_raising_and_torch_alone_raising_are_told_apart(monkeypatch):
    p = _program("x = x + m.ones(4)")
    assert harness.classify(p).outcome == harness.BOTH_RAISE
    monkeypatch.setattr(yingshe, "sin", lambda x, *more: x)  # takes anything
    p = _program("x = m.sin(x, 3)")                          # torch: unexpected argument
    assert harness.classify(p).outcome == harness.T_RAISES


def test_a_listed_name_is_counted_apart():
    name = sorted(n for n in UNSUPPORTED if "." not in n and "(" not in n)[0]
    p = _program(f"x = m.{name}(x)")
    result = harness.classify(p)
    assert result.outcome == harness.LISTED and name in result.detail


def test_compiled_differing_from_eager_is_caught(monkeypatch):
    from yingshe.graph import trace
    p = _program("x = m.sin(x) + 1")
    assert harness.classify_compiled(p).outcome == harness.AGREE
    real = trace.compile

    def wrong_compile(fn, **kw):
        compiled = real(fn, **kw)
        return lambda *a: (lambda out, g: (out * 2, g))(*compiled(*a))
    monkeypatch.setattr(yingshe, "compile", wrong_compile)
    result = harness.classify_compiled(p)
    assert result.outcome == harness.WRONG and "output" in result.detail


def test_compare_applies_design_tolerances_and_nan_positions():
    a = np.array([1.0, np.nan, np.inf])
    assert harness.compare(a, a.copy()) is None
    assert harness.compare(a + 1e-11, a) is None                    # within rtol 1e-10
    assert "values differ" in harness.compare(a * (1 + 1e-9), a)
    assert "NaN positions" in harness.compare(np.array([1.0, 2.0, np.inf]), a)
    assert "infinities" in harness.compare(np.array([1.0, np.nan, -np.inf]), a)
    # DESIGN's rule: yingshe's NaN where torch has a number, accepted only by rule
    y, t = np.array([np.nan, 1.0]), np.array([0.0, 1.0])
    assert harness.compare(y, t) is not None
    assert harness.compare(y, t, nan_rule=True) is None
    assert harness.compare(t, y, nan_rule=True) is not None          # never the other way
    f = np.float32
    assert harness.compare(np.array([1.0], f), np.array([1.0 + 2e-5], f)) is not None


def test_float32_error_judged_against_a_float64_evaluation():
    # torch's float32 value is 3e-5 off the float64 truth; yingshe's, 1e-5 off on the other
    # side: the two differ by 4e-5 (over rtol 1e-5), yet yingshe is the closer one
    truth = np.array([1.0])
    t = np.array([1.0 + 3e-5], np.float32)
    y = np.array([1.0 - 1e-5], np.float32)
    assert harness.compare(y, t) is not None
    assert harness.compare(y, t, ref=truth) is None
    assert harness.compare(np.array([1.0 - 1e-4], np.float32), t, ref=truth) is not None


def test_names_are_read_from_the_step_text():
    text = ("x = x.clone()\nv = x.t()\nv.add_(e0)\nx = F.pad(x, (1, 1), mode='reflect')\n"
            "x = m.sum(x[0], 1) ** 2\nx += 1")
    assert set(names_in(text)) == {"Tensor.clone", "Tensor.t", "Tensor.add_",
                                   "F.pad(mode='reflect')", "operator **", "operator +=",
                                   "sum", "Tensor.__getitem__"}


def test_no_category_is_starved():
    """Each op category is in at least MIN_SHARE of the drawn programs."""
    shares: collections.Counter = collections.Counter()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(programs(("float64", "float32", "int64", "bool")))
    def draw(program):
        shares["draws"] += 1
        shares.update(program.categories())

    draw()
    n = shares["draws"]
    assert n >= 100
    for c in CATEGORIES:
        assert shares[c] / n >= MIN_SHARE, (c, shares[c], n)


def test_torch_wrong_on_a_non_contiguous_input_is_told_apart(monkeypatch):
    # PyTorch sabotaged on non-contiguous inputs only: the dense re-run arbitrates
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    real = torch.sin
    monkeypatch.setattr(torch, "sin", lambda x: real(x) + (0 if x.is_contiguous() else 1))
    first = InputSpec((2, 3), "float64", "normal", seed=1, layout="transposed")
    p = Program(first, [Step("x = m.sin(x)", "elementwise")], grad=True, ct_seed=2)
    assert harness.classify(p).outcome == harness.T_LAYOUT
    dense = Program(InputSpec((2, 3), "float64", "normal", seed=1), p.steps, ct_seed=2)
    monkeypatch.setattr(torch, "sin", lambda x: real(x) + 1)    # wrong either way: yingshe
    assert harness.classify(dense).outcome == harness.WRONG      # is judged as before


def test_an_error_of_the_program_text_itself_is_both_raising():
    p = _program("x = x.split(1, 0)[5]")     # a tuple index past the pieces, in both
    assert harness.classify(p).outcome == harness.BOTH_RAISE


def test_a_quirk_rule_excuses_only_its_own_case():
    """PyTorch's einsum promotes float32 x int64 on its broadcast path only: yingshe's
    refusal there is counted by the quirk rule, not as a refusal of a sensible call."""
    e = InputSpec((3, 2), "int64", "small", seed=3)
    p = _program("x = m.einsum('...a,ab->...a', x, e0)", shape=(4, 3), dtype="float32",
                 extras=(e,))
    result = harness.classify(p)
    assert result.outcome == harness.T_QUIRK and "einsum" in result.detail
    # the same refusal of the same dtypes where PyTorch refuses too: both raise
    e = InputSpec((3,), "int64", "small", seed=3)
    p = _program("x = m.einsum('a,a->', x[0], e0)", shape=(4, 3), dtype="float32", extras=(e,))
    assert harness.classify(p).outcome == harness.BOTH_RAISE


def test_float64_results_of_float32_arithmetic_get_float32_tolerance():
    # a float64 gradient through softmax(..., dtype=float32): both sides are float32
    # numbers 1 ulp apart; float64 arithmetic 1e-9 apart is still a difference
    y = np.array([0.01849360391497612, 0.5])
    t = np.array([np.float64(np.float32(0.01849360577762127)), 0.5])
    assert harness._float32_values(y) and harness._float32_values(t)
    assert harness.compare(y, t) is None
    assert harness.compare(y + 1e-9, t) is not None                # not float32 numbers
    assert not harness._float32_values(np.array([1.0, 2.0, 3.0]))  # integers say nothing
    assert harness.compare(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7])) is not None


def test_compiled_float32_is_held_to_the_reference_tolerance_of_a_float64_evaluation():
    truth = np.array([0.0013946500839665532])
    e = np.array([0.0013946501], np.float32)         # eager: exact
    c = np.array([0.0013945319], np.float32)         # compiled: 1.2e-7 off (graph atol 1e-7)
    assert harness.compare(c, e, "graph") is not None
    assert harness.compare(c, e, "graph", ref=truth) is None
    assert harness.compare(np.array([0.00139], np.float32), e, "graph", ref=truth) is not None


def test_torch_wrong_ldexp_gradient_for_a_negative_integer_exponent_is_told_apart(monkeypatch):
    # PyTorch's ldexp(x, n) gives x the gradient 0 where the integer n < 0 (2**n in integer
    # arithmetic): the re-run with that gradient in floating point arbitrates
    n = InputSpec((3,), "int64", ("range", -4, 4), seed=3, grad=False)
    first = InputSpec((2, 3), "float64", "normal", seed=1)
    for text in ("x = x.ldexp(e0)", "x = m.ldexp(x, e0)"):
        p = Program(first, [Step(text, "broadcasting", (n,))], grad=True, ct_seed=2)
        assert harness.classify(p).outcome == harness.T_LDEXP
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    assert "ldexp" not in torch.Tensor.__dict__      # the re-run's patch is undone
    real = torch.ldexp
    monkeypatch.setattr(torch, "ldexp", lambda x, n: real(x, n) + 1)   # wrong either way:
    assert harness.classify(p).outcome == harness.WRONG                 # yingshe is judged


_SPECIAL_W = InputSpec((3,), "float64", "special", seed=3)
FIXED_DRAWS = {
    # (program, the yingshe function a deliberately wrong version of which must be judged)
    "max_pool2d": (Program(InputSpec((3,), "float32", "normal", seed=10038991),
                           [Step("x = F.max_pool2d(x.reshape(1, 1, 3, 1), 2, stride=2, "
                                 "padding=1, dilation=2, ceil_mode=True)", "conv/pool"),
                            Step("x = m.einsum('aacd->', x)", "matmul/einsum")],
                           grad=True, ct_seed=1), "max_pool2d"),
    "hardsigmoid": (Program(InputSpec((5,), "float64", "positive", seed=299),
                            [Step("x = F.hardsigmoid(x)", "elementwise")], grad=True,
                            ct_seed=1), "hardsigmoid"),
    "group_norm": (Program(InputSpec((5, 3, 3), "float64", "normal", seed=274),
                           [Step("x = F.group_norm(x, 1, e0)", "softmax/norm", (_SPECIAL_W,))],
                           grad=True, ct_seed=1), "group_norm"),
    "batch_norm": (Program(InputSpec((5,), "float32", "ints", seed=194),
                           [Step("x = F.batch_norm(x.reshape(5, 1), e2, e3, e0, e1, "
                                 "training=False)", "softmax/norm",
                                 (InputSpec((1,), "float32", "special", seed=2),
                                  InputSpec((1,), "float32", "ints", seed=2, layout="expanded"),
                                  InputSpec((1,), "float32", "special", seed=1, grad=False),
                                  InputSpec((1,), "float32", "positive", seed=3, grad=False)))],
                           grad=True, ct_seed=1), "batch_norm"),
    "bce_with_logits": (Program(InputSpec((5, 1, 1), "float64", "special", seed=3),
                                [Step("x = F.binary_cross_entropy_with_logits(x, e0.clamp(0, 1),"
                                      " reduction='sum')", "losses",
                                      (InputSpec((5, 1, 1), "float64", "positive", seed=1),))],
                                grad=True, ct_seed=1), "binary_cross_entropy_with_logits"),
}


@pytest.mark.parametrize("name", list(FIXED_DRAWS))
def test_a_torch_kernel_artifact_is_told_apart_and_a_wrong_yingshe_still_judged(
        name, monkeypatch):
    """Draws of make fuzz (seed 1) where PyTorch's value is its kernel's artifact (see
    torch_fixes.py): the re-run without the artifact arbitrates, and is undone after."""
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    program, fn = FIXED_DRAWS[name]
    real = getattr(torch.nn.functional, fn)
    assert harness.classify(program).outcome == harness.T_FIXED
    assert getattr(torch.nn.functional, fn) is real         # the re-run's patch is undone
    ours = getattr(yingshe.nn.functional, fn)

    def wrong(x, *a, **k):     # the same value (max_pool2d's is all -inf), a wrong gradient
        return ours(x, *a, **k) * 1.5 + (x.sum() - x.sum().detach())
    monkeypatch.setattr(yingshe.nn.functional, fn, wrong)
    assert harness.classify(program).outcome == harness.WRONG


def test_a_reference_whose_backward_failed_still_arbitrates_the_forward_values():
    """make fuzz (seed 0): unique, group_norm of near-equal float32 values, a long dot. PyTorch
    has no derivative for unique, so the float64 reference stopped at backward, and a yingshe
    value closer to float64 than PyTorch's (2.2e-4 against 3.7e-4) was called wrong."""
    p = Program(InputSpec((3,), "float32", "normal", seed=1), [], grad=True)
    truth = np.array([-6.92298403], np.float64)
    t = harness.Run(error=RuntimeError("no derivative"), phase="backward",
                    out=np.array([-6.923094], np.float32), requires_grad=True)
    ref = harness.Run(error=RuntimeError("no derivative"), phase="backward", out=truth,
                      requires_grad=True)
    close = harness.Run(error=RuntimeError("no derivative"), phase="backward",
                        out=np.array([-6.922764], np.float32), requires_grad=True)
    far = harness.Run(error=RuntimeError("no derivative"), phase="backward",
                      out=np.array([-6.9210], np.float32), requires_grad=True)
    assert harness.compare_runs(close, t, p, "reference", lambda: ref) is None
    assert harness.compare_runs(far, t, p, "reference", lambda: ref) is not None
