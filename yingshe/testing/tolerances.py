"""DESIGN's tolerance policy, in one place for every test."""

import numpy as np

# (rtol, atol) by comparison and dtype
TOL = {
    "reference": {np.float64: (1e-10, 1e-12), np.float32: (1e-5, 1e-6)},   # vs PyTorch/TF
    "graph": {np.float64: (1e-12, 1e-14), np.float32: (1e-6, 1e-7)},       # graph/compiled vs eager
    "fd": {np.float64: (1e-5, 1e-7)},                                        # VJP vs finite differences
    "trajectory": {np.float32: (1e-4, 1e-6)},
    "step0": {np.float32: (1e-5, 0.0)},
}


def tol(kind: str, dtype) -> tuple[float, float]:
    return TOL[kind][np.dtype(dtype).type]


def summation_atol(dtype, scale: float, terms: int) -> float:
    """Absolute tolerance for outputs that are short weighted sums (interpolation taps,
    small dot products) compared between two libraries in ``dtype``.

    Each library's forward error is at most about ``terms + 2`` units of roundoff times
    ``sum |w_i x_i|`` (``<= scale``; the +2 covers the rounding of the weights
    themselves, which both libraries compute in ``dtype``), so two correct results may
    differ by twice that. Where the taps cancel (a small output from inputs of size ~1)
    this exceeds the fixed float32 atol of ``TOL["reference"]``: a hypothesis run found
    a float32 bilinear output -1.3e-3 from inputs near 1 that differed from PyTorch's by
    1.06e-6, both about 1e-6 from the exact value."""
    return 2 * (terms + 2) * float(np.finfo(dtype).eps) * float(scale)
