"""Differential fuzzing of ``yingshe.compile`` against eager yingshe: the same drawn
programs (forward and gradients as one traced function, called twice so the cached program
runs too) must give the eager values, gradients and writes into the inputs under DESIGN's
graph tolerance, raise where eager raises, or refuse at trace time with a ``TraceError``,
in which case ``fallback="eager"`` must give the eager result."""

from __future__ import annotations

from hypothesis import given

from yingshe.testing.reference import require_module

from . import conftest
from .harness import C_BAD, classify_compiled
from .strategies import programs
from .test_vs_torch import FUZZ

require_module("torch")   # the programs are drawn by running their prefixes in PyTorch


@FUZZ
@given(programs(("float64", "float32")))
def test_compiled_programs_equal_eager(program):
    result = classify_compiled(program)
    if conftest.SURVEY:
        conftest.TALLY.add("compiled", program, result, C_BAD)
        return
    assert result.outcome not in C_BAD, f"{result}\n{program.source()}"
