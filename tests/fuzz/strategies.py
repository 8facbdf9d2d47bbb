"""Hypothesis strategies: programs of 1-3 steps drawn from the catalogue.

Each step is drawn for the tensor the chain has produced so far: the prefix is run in
PyTorch while drawing (cheap at these sizes), so a drawer knows the current shape and
dtype, and a chain stops growing at the first step PyTorch refuses (the draw then tests
that yingshe refuses it too). A step's category is chosen first, uniformly, then an op of
that category, so no category is starved.
"""

from __future__ import annotations

import warnings
import zlib

from hypothesis import strategies as st

from . import catalogue
from .catalogue import CATEGORIES, OPS, D, Meta
from .program import FLOAT_DTYPES, Program


def _shape(d: D) -> tuple:
    nd = d.pick((0, 1, 1, 2, 2, 2, 3, 3, 4))
    zero = 0.12 if d.chance(0.25) else 0.0
    return tuple(0 if d.chance(zero) else d.int(1, 5) for _ in range(nd))


def _meta(t) -> Meta:
    return Meta(tuple(t.shape), str(t.dtype).replace("torch.", ""),
                bool(t.requires_grad and t.is_leaf))


@st.composite
def programs(draw, dtypes: tuple = FLOAT_DTYPES, max_steps: int = 3,
             categories: tuple = CATEGORIES, grad: bool = True) -> Program:
    """A program whose first input has one of ``dtypes`` and whose steps come from
    ``categories``."""
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    # the dtypes salt the op choices: two properties run with one hypothesis seed (make
    # fuzz) would otherwise draw the same programs in different dtypes
    d = D(draw, tuple(dtypes), zlib.crc32(repr(tuple(dtypes)).encode()))
    first = d.spec(_shape(d), d.pick(dtypes))
    program = Program(first, [], grad=grad and any(t in FLOAT_DTYPES for t in dtypes),
                      ct_seed=d.int(0, 2**31 - 1))
    n_steps = d.pick(tuple(range(1, max_steps + 1)) + (1, 2))
    x = first.make(torch, program.grad)
    for _ in range(n_steps):
        category = d.pick(categories)
        drawer = d.pick(OPS[category])
        step = drawer(d, _meta(x))
        program.steps.append(step)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # fresh inputs each time: an earlier run may have written into them
                x = program.body(torch, program.make_inputs(torch))
            if not isinstance(x, torch.Tensor):
                break
        except Exception:  # noqa: BLE001 - PyTorch refused this step: the chain ends here
            break
    return program


__all__ = ["programs", "catalogue"]
