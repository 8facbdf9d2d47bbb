"""Code generation: a program (after the passes and the schedule) becomes one Python
function. One module per backend: ``numpy`` (straight-line NumPy, always there) and
``numba`` (the same, with each fusion group one ``@njit`` kernel)."""

from yingshe.graph.codegen.numpy import generate

__all__ = ["generate"]
