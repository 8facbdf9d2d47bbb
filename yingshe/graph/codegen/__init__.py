"""Code generation: a program (after the passes and the schedule) becomes one Python
function. One module per backend: ``numpy`` (straight-line NumPy, always there) and
``numba`` (the same, with each fusion group one ``@njit`` kernel; the ``jit`` extra)."""

from yingshe.graph.codegen.numpy import generate as generate_numpy

__all__ = ["generate", "generate_numpy"]


def generate(program, name: str = "graph_program", backend: str = "numpy"):
    """Compile ``program`` with ``backend``'s code generator (``"numpy"`` or ``"numba"``,
    already resolved: see ``yingshe.backend.jit.resolve_backend``)."""
    if backend == "numba":
        from yingshe.graph.codegen.numba import generate as generate_numba
        return generate_numba(program, name)
    return generate_numpy(program, name)
