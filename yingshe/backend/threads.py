"""The thread policy: how many cores yingshe uses, and who uses them.

``set_num_threads(n)`` / ``get_num_threads()`` (PyTorch's names) set one number, ``n``
(default: the CPUs this process may run on), used three ways:

* **eager** ops let BLAS use ``n`` threads (an eager matmul has nothing else to run
  beside it);
* **graph and compiled runs** keep BLAS at one thread and spread the work themselves:
  independent nodes (a layer's weight gradient and input gradient) run concurrently on
  a pool of ``n`` threads, a large GEMM with no independent work beside it is split into
  row blocks over the pool, and numba kernels loop with ``prange`` over ``n`` threads.
  NumPy's BLAS calls and numba kernels release the GIL, so the threads truly overlap;
* numba's own thread count follows ``n`` (``numba.set_num_threads``).

Why BLAS at one thread in compiled runs: two-thread OpenBLAS spins its threads waiting
for work, and when another process holds one of the cores the spinning thread and the
working one fight for the other, so a step collapses (measured on this project's 2-core
machine: MLP steps of 200+ ms with OpenBLAS at two threads while another job held a
core, 8 ms at one thread). The pool's threads block instead of spinning.

BLAS threads are set through ``threadpoolctl`` (part of the ``jit`` extra); without it
BLAS keeps whatever its environment (``OPENBLAS_NUM_THREADS``) says, and the rest of
the policy still holds.
"""

from __future__ import annotations

import os
import threading

__all__ = ["set_num_threads", "get_num_threads", "blas_enter", "blas_exit", "pool",
           "run_concurrently", "pool_tasks"]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_n = [_cpus()]
_lock = threading.Lock()


def get_num_threads() -> int:
    """The number of threads yingshe uses (see the module docstring)."""
    return _n[0]


def set_num_threads(n: int) -> None:
    """Use ``n`` threads: BLAS in eager code, the inter-op pool and numba's ``prange`` in
    graph and compiled runs (where BLAS stays at one thread). PyTorch's name.

    Raises:
        ValueError: ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    with _lock:
        _n[0] = n
        _blas_set(n)
        _numba_set(n)
        if _pool[0] is not None and _pool[0].size != n:
            _pool[0].shutdown()
            _pool[0] = None


# ---- BLAS ----------------------------------------------------------------------------------

_blas: list = []   # [setter or None], probed once


def _blas_setter():
    """A cheap ``set(n)`` for the BLAS libraries NumPy loaded (threadpoolctl), or None."""
    if not _blas:
        setter = None
        try:
            from threadpoolctl import ThreadpoolController  # noqa: PLC0415 - optional
            libs = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # noqa: BLE001 - not installed, or no BLAS found: no control
            libs = []
        if libs:
            fns = []
            for lib in libs:
                # OpenBLAS's own setter through ctypes (~0.3 us) where threadpoolctl
                # exposes it; else threadpoolctl's method
                direct = getattr(getattr(lib, "dynlib", None), "openblas_set_num_threads",
                                 None)
                fns.append(direct if direct is not None else lib.set_num_threads)

            def setter(n: int) -> None:
                for f in fns:
                    f(n)
        _blas.append(setter)
    return _blas[0]


_blas_now = [None]   # the count BLAS was last set to by this module


def _blas_set(n: int) -> None:
    setter = _blas_setter()
    if setter is not None and _blas_now[0] != n:
        setter(n)
        _blas_now[0] = n


def blas_enter() -> None:
    """BLAS to one thread for a graph or compiled run (see the module docstring)."""
    if _n[0] > 1 and _blas_now[0] != 1:
        _blas_set(1)


def blas_exit() -> None:
    """BLAS back to ``get_num_threads()`` threads after the run."""
    if _blas_now[0] != _n[0]:
        _blas_set(_n[0])


def _numba_set(n: int) -> None:
    import sys
    numba = sys.modules.get("numba")
    if numba is not None:   # numba's threads, if numba is in use (never imported here)
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


# ---- the inter-op pool -----------------------------------------------------------------------

class _Pool:
    """``size - 1`` worker threads (the calling thread is the size-th); each task is a
    callable whose result or exception comes back to the caller. Workers block on a
    condition, never spin."""

    def __init__(self, size: int) -> None:
        import queue
        self.size = size
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._work, daemon=True,
                                         name=f"yingshe-pool-{i}") for i in range(size - 1)]
        for t in self.threads:
            t.start()

    def _work(self) -> None:
        while True:
            item = self.tasks.get()
            if item is None:
                return
            fn, box, done = item
            try:
                box.append((True, fn()))
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                box.append((False, err))
            _ran[0] += 1
            done.release()

    def shutdown(self) -> None:
        for _ in self.threads:
            self.tasks.put(None)


_pool: list = [None]
_ran = [0]   # tasks the workers have run (tests check that the pool engaged)


def pool_tasks() -> int:
    """How many tasks the pool's worker threads have run in this process."""
    return _ran[0]


def pool() -> _Pool | None:
    """The shared pool, or None when one thread is the policy."""
    p = _pool[0]
    if p is None and _n[0] > 1:
        with _lock:
            if _pool[0] is None:
                _pool[0] = _Pool(_n[0])
            p = _pool[0]
    return p


def run_concurrently(*fns):
    """The results of calling each of ``fns``, the first ``len(fns) - 1`` on the pool
    and the last on this thread (in order when the policy is one thread). An exception
    of any is raised here once all have finished."""
    p = pool()
    if p is None or len(fns) == 1:
        return tuple(f() for f in fns)
    boxes = []
    for f in fns[:-1]:
        box: list = []
        done = threading.Semaphore(0)
        p.tasks.put((f, box, done))
        boxes.append((box, done))
    try:
        last = (True, fns[-1]())
    except BaseException as err:  # noqa: BLE001 - raised once the others have finished
        last = (False, err)
    results = []
    for box, done in boxes:
        done.acquire()
        results.append(box[0])
    results.append(last)
    for ok, value in results:
        if not ok:
            raise value
    return tuple(value for _, value in results)
