"""mpi4py, imported on first use, and the tables that map NumPy and PyTorch's names to it.

``import yingshe`` never imports mpi4py (importing ``mpi4py.MPI`` initialises MPI); the
first ``init_process_group`` does. The ``distributed`` extra provides both mpi4py and the
Open MPI wheel that brings ``mpirun``.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

__all__ = ["mpi", "available", "launched_rank", "launched_size", "EXTRA_HINT"]

EXTRA_HINT = 'pip install "yingshe[distributed]" (mpi4py and the Open MPI wheel)'

# Rank and size as the common MPI launchers publish them (Open MPI/PRRTE, MPICH/Hydra,
# Slurm's PMI), so a process can know it runs under a launcher before MPI is initialised.
_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK")
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def available() -> bool:
    """Whether mpi4py is installed (without importing it)."""
    return importlib.util.find_spec("mpi4py") is not None


_MPI: list = []


def mpi():
    """The ``mpi4py.MPI`` module (initialises MPI on the first call)."""
    if _MPI:
        return _MPI[0]
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError(f"yingshe.distributed needs MPI: {EXTRA_HINT}") from err
    _MPI.append(MPI)
    return MPI


def launched_rank() -> int | None:
    """This process's rank when an MPI launcher started it, else None."""
    for var in _RANK_VARS:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return None


def launched_size() -> int | None:
    """The number of ranks an MPI launcher started, else None."""
    for var in _SIZE_VARS:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return None


_DATATYPES: dict = {}


def datatype(dt: np.dtype):
    """The MPI datatype for element-wise arithmetic on ``dt`` (None: not reducible)."""
    if not _DATATYPES:
        MPI = mpi()
        _DATATYPES.update({
            np.dtype(np.float32): MPI.FLOAT, np.dtype(np.float64): MPI.DOUBLE,
            np.dtype(np.int8): MPI.INT8_T, np.dtype(np.int16): MPI.INT16_T,
            np.dtype(np.int32): MPI.INT32_T, np.dtype(np.int64): MPI.INT64_T,
            np.dtype(np.uint8): MPI.UINT8_T, np.dtype(np.bool_): MPI.C_BOOL})
    return _DATATYPES.get(dt)
