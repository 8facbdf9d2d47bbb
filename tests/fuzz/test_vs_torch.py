"""Differential fuzzing against PyTorch: random chains of ops (elementwise, broadcasting,
reductions, matmul/einsum, indexing, views, in-place writes through views, cat/stack,
softmax and normalisation, convolution and pooling, losses) over random shapes (0-size
dims and 0-d included), dtypes and memory layouts, compared on values, gradients, writes
into the inputs, and on whether both raise (see ``harness.py`` for the outcomes).

The normal suite runs a fixed budget (``conftest.CI_EXAMPLES`` per property); ``make fuzz``
runs a long one and prints the counts.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from yingshe.testing.reference import require_module

from . import conftest
from .harness import BAD, classify
from .strategies import programs

require_module("torch")

FUZZ = settings(max_examples=conftest.EXAMPLES, deadline=None,
                suppress_health_check=list(HealthCheck),
                **({"derandomize": False, "database": None} if conftest.SURVEY else {}))


def check(prop: str, program) -> None:
    result = classify(program)
    if conftest.SURVEY:
        conftest.TALLY.add(prop, program, result, BAD)
        return
    assert result.outcome not in BAD, f"{result}\n{program.source()}"


@FUZZ
@given(programs(("float64",)))
def test_float64_programs_agree_with_torch(program):
    check("float64", program)


@FUZZ
@given(programs(("float32",)))
def test_float32_programs_agree_with_torch(program):
    check("float32", program)


@FUZZ
@given(programs(("int64", "int32", "int16", "int8", "uint8", "bool")))
def test_integer_and_bool_programs_agree_with_torch(program):
    check("int/bool", program)
