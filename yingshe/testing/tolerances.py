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
