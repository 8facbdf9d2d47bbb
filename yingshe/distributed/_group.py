"""Process groups: MPI communicators with PyTorch's collective semantics.

A ``ProcessGroup`` owns three communicators duplicated from its parent (so yingshe's
traffic never matches a user's own mpi4py calls): ``comm`` carries the collectives,
``_chk`` the shape/dtype checks, ``_ctl`` the watchdog's status queries.

Every collective is issued from the calling thread, at once, in program order, and is
numbered (``seq``): MPI requires every rank to issue the collectives of a communicator
in the same order, and the number is how errors and timeouts name them. Buffers are
passed to MPI without a copy when they are C-contiguous and writeable (a reduction of
float16 runs in float32, as MPI has no half type). Blocking collectives use MPI's
blocking calls (its tuned algorithms; the non-blocking ones Open MPI implements through
libnbc measured 2x slower on 1-32 MB); ``async_op=True`` uses MPI's non-blocking calls,
and ``Work.wait()`` polls them (``Test``), yielding the core between polls.

Checks. Before a collective the ranks compare a fingerprint (the collective's number
and kind, dtype, shape, root, reduction) with one small all-reduce on ``_chk``; a
mismatch raises the same clear error on every rank (ShapeError, DTypeError or
RuntimeError) instead of MPI's undefined behaviour. By default only calls 1-4 and
every power of two are checked (a mistake that repeats is caught at once, at a cost
that vanishes); ``set_debug_level(DebugLevel.DETAIL)`` (or ``TORCH_DISTRIBUTED_DEBUG=
DETAIL``) checks every call.

Timeouts. A watchdog thread per group wakes every few tens of milliseconds: it answers
other ranks' status queries on ``_ctl``, and when this rank has waited in one collective
longer than the group's ``timeout`` it asks every rank where it is, prints which ranks
did not arrive (and where they are instead) and aborts the job (``MPI_Abort``), so a
missing rank ends the job with a message instead of a hang. The queries need
``MPI_THREAD_MULTIPLE`` (what mpi4py asks for); without it the abort names no ranks.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np

from yingshe.distributed._mpi import datatype, mpi
from yingshe.errors import DTypeError, ShapeError, format_site, user_site

__all__ = ["ProcessGroup", "ReduceOp", "Work", "Future", "KINDS", "CONFIG"]

KINDS = ("barrier", "all_reduce", "broadcast", "all_gather", "all_gather_into_tensor",
         "reduce_scatter", "reduce_scatter_tensor", "reduce", "gather", "scatter")
_KIND = {k: i for i, k in enumerate(KINDS)}

# dtype codes of the fingerprint
_DTYPES = (np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64,
           np.uint8, np.bool_)
_DTYPE_CODE = {np.dtype(d): i for i, d in enumerate(_DTYPES)}

_TAG_QUERY, _TAG_REPLY = 1, 2
_FP = 16   # fingerprint length: seq, kind, dtype, root, op, ndim, numel, 8 dims, rest-hash


class _Config:
    """Process-wide settings: ``every``: check shapes/dtypes on every collective."""

    every = False


CONFIG = _Config()


# ---- reduction operators -------------------------------------------------------------------

class RedOpType:
    """One reduction operator (``ReduceOp.SUM`` ...), as PyTorch's ``RedOpType``."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name, self.value = name, value

    def __repr__(self) -> str:
        return f"<RedOpType.{self.name}: {self.value}>"

    def __str__(self) -> str:
        return f"RedOpType.{self.name}"

    def __reduce__(self):
        return (getattr, (ReduceOp, self.name))


class ReduceOp:
    """The reduction operators of ``all_reduce``/``reduce``/``reduce_scatter``
    (PyTorch's names; a lower-case string such as ``"avg"`` is accepted too)."""

    RedOpType = RedOpType
    SUM = RedOpType("SUM", 0)
    AVG = RedOpType("AVG", 1)
    PRODUCT = RedOpType("PRODUCT", 2)
    MIN = RedOpType("MIN", 3)
    MAX = RedOpType("MAX", 4)
    BAND = RedOpType("BAND", 5)
    BOR = RedOpType("BOR", 6)
    BXOR = RedOpType("BXOR", 7)
    PREMUL_SUM = RedOpType("PREMUL_SUM", 8)


_OPS = {o.name: o for o in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MIN,
                            ReduceOp.MAX, ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR,
                            ReduceOp.PREMUL_SUM)}


def as_redop(op, kind: str) -> RedOpType:
    """``op`` as a ``RedOpType`` (a string names one); a clear error otherwise."""
    if isinstance(op, RedOpType):
        found = op
    elif isinstance(op, str) and op.upper() in _OPS:
        found = _OPS[op.upper()]
    else:
        raise TypeError(f"{kind}: op must be a ReduceOp (SUM, AVG, PRODUCT, MIN, MAX, BAND, "
                        f"BOR, BXOR), got {op!r}")
    if found is ReduceOp.PREMUL_SUM:
        from yingshe.errors import UnsupportedError
        raise UnsupportedError(f"{kind}: ReduceOp.PREMUL_SUM is not supported by "
                               "yingshe.distributed")
    return found


def _where() -> str:
    site = user_site(3)
    return f" (at {format_site(site)})" if site else ""


def describe(arr) -> str:
    return f"{np.dtype(arr.dtype).name} tensor of shape {tuple(arr.shape)}"


class _Desc:
    """' (<dtype> tensor of shape <shape>)', formatted only when a message needs it."""

    __slots__ = ("arr",)

    def __init__(self, arr) -> None:
        self.arr = arr

    def __str__(self) -> str:
        return f" ({describe(self.arr)})"

    def __format__(self, spec: str) -> str:
        return str(self)


# ---- work handles ----------------------------------------------------------------------------

class Work:
    """The handle of a collective started with ``async_op=True`` (PyTorch's ``Work``).

    ``wait()`` blocks until the collective has completed on this rank (the tensors then
    hold the result); ``is_completed()`` tests without blocking. A wait longer than the
    group's timeout aborts the job naming the ranks that did not arrive."""

    def __init__(self, group, seq: int, kind: str, requests=(), finish=None, outputs=(),
                 desc: str = "", then=None) -> None:
        self._group = group
        self._seq = seq
        self._kind = kind
        self._requests = list(requests)
        self._finish = finish
        # a second stage: called when ``requests`` are done, returns the next requests
        self._then = then
        self._outputs = list(outputs)
        self._desc = desc
        self._done = not self._requests
        self._error = None
        if self._done:
            self._complete()

    def _complete(self) -> None:
        self._done = True
        self._requests = []
        finish, self._finish = self._finish, None
        if finish is not None:
            try:
                finish()
            except Exception as err:  # noqa: BLE001 - reported by wait()/exception()
                self._error = err

    def _stage_done(self) -> bool:
        """The current requests are done: start the next stage, or complete."""
        then, self._then = self._then, None
        if then is not None:
            try:
                self._requests = list(then())
            except Exception as err:  # noqa: BLE001 - reported by wait()/exception()
                self._done, self._requests, self._finish, self._error = True, [], None, err
                return True
            if self._requests:
                return False
        self._complete()
        return True

    def is_completed(self) -> bool:
        """Whether the collective has completed (progresses it without blocking)."""
        MPI = mpi()
        try:
            while not self._done and _testall(self._requests):
                self._stage_done()
        except MPI.Exception as err:
            self._fail(err)
        return self._done

    def _fail(self, err) -> None:
        self._done = True
        self._requests = []
        self._finish = None
        self._error = RuntimeError(f"{self._kind} #{self._seq}: MPI error: {err}")

    def wait(self, timeout=None) -> bool:
        """Block until done; returns True (raises what the collective raised)."""
        if not self._done:
            MPI = mpi()
            group = self._group
            with group.waiting(self._seq, self._kind, self._desc, _seconds(timeout)):
                try:
                    # poll, yielding the core between tests: on an oversubscribed node the
                    # rank this one waits for may need it; Test also progresses the transfer
                    polls = 0
                    while not self._done:
                        if _testall(self._requests):
                            self._stage_done()
                            continue
                        polls += 1
                        if polls > 32:
                            os.sched_yield()
                except MPI.Exception as err:
                    self._fail(err)
        if self._error is not None:
            raise self._error
        return True

    def is_success(self) -> bool:
        return self._done and self._error is None

    def exception(self):
        return self._error

    def result(self) -> list:
        """The output tensors (after ``wait()``)."""
        self.wait()
        return list(self._outputs)

    def get_future(self) -> "Future":
        return Future(self)

    def __repr__(self) -> str:
        state = "completed" if self._done else "pending"
        return f"<Work {self._kind} #{self._seq} {state}>"


class Future:
    """A value that a ``Work`` produces (``torch.futures.Future``'s ``wait``/``value``/
    ``done``/``then``). yingshe has no event loop: a ``then`` callback runs when the
    future is waited on (or, for a completed one, at once)."""

    def __init__(self, work=None, value=None, parent=None, callback=None) -> None:
        self._work = work
        self._value = value
        self._parent = parent
        self._callback = callback
        self._has_value = work is None and parent is None

    def wait(self):
        if not self._has_value:
            if self._parent is not None:
                self._parent.wait()
                self._value = self._callback(self._parent)
            else:
                self._work.wait()
                out = self._work._outputs
                self._value = out[0] if len(out) == 1 else list(out)
            self._has_value = True
        return self._value

    def value(self):
        return self.wait()

    def done(self) -> bool:
        if self._has_value:
            return True
        if self._parent is not None:
            return self._parent.done()
        return self._work.is_completed()

    def set_result(self, value) -> None:
        self._value, self._has_value = value, True

    def then(self, callback) -> "Future":
        """A future of ``callback(self)``."""
        fut = Future(parent=self, callback=callback)
        return fut


def _seconds(timeout) -> float | None:
    if timeout is None:
        return None
    if hasattr(timeout, "total_seconds"):
        return float(timeout.total_seconds())
    return float(timeout)


# ---- the watchdog -----------------------------------------------------------------------------

class _Waiting:
    """Context manager: this rank waits in collective ``seq`` (the watchdog reads it as
    ``group.pending`` and enforces the deadline)."""

    __slots__ = ("group", "seq", "kind", "desc", "t0", "timeout")

    def __init__(self, group, seq, kind, desc, timeout) -> None:
        self.group, self.seq, self.kind, self.desc, self.timeout = \
            group, seq, kind, desc, timeout

    def __enter__(self):
        self.t0 = time.monotonic()
        self.group.pending = self

    def __exit__(self, *exc) -> None:
        self.group.pending = None


# replies still being sent when a group closes: their buffers must outlive the sends
_ORPHANS: list = []


class _Watchdog(threading.Thread):
    """Answers status queries and enforces the timeout of one group (see module doc)."""

    def __init__(self, group, use_mpi: bool) -> None:
        super().__init__(name=f"yingshe.distributed watchdog ({group.name})", daemon=True)
        self.group = group
        self.use_mpi = use_mpi
        self.stopping = threading.Event()
        self.req = None
        self.qbuf = np.zeros(2, np.int64)
        self.sends: list = []

    def poll_interval(self) -> float:
        return min(0.05, max(0.002, self.group.timeout / 20))

    def run(self) -> None:
        g = self.group
        if self.use_mpi:
            self._post()
        while not self.stopping.wait(self.poll_interval()):
            if self.use_mpi:
                self._serve()
            p = g.pending
            if p is not None and time.monotonic() - p.t0 > p.timeout:
                self._expire(p)
        if self.use_mpi:
            self.req.Cancel()
            self.req.Wait()
            for req, buf in self.sends:
                if not req.Test():
                    _ORPHANS.append((req, buf))

    def _post(self) -> None:
        MPI = mpi()
        self.req = self.group._ctl.Irecv([self.qbuf, MPI.INT64_T], source=MPI.ANY_SOURCE,
                                         tag=_TAG_QUERY)

    def _serve(self) -> None:
        """Answer every status query that has arrived."""
        MPI = mpi()
        g = self.group
        st = MPI.Status()
        while self.req.Test(st):
            p = g.pending
            reply = np.array([g.seq, -1 if p is None else p.seq,
                              -1 if p is None else _KIND.get(p.kind, -1),
                              0 if p is None else int((time.monotonic() - p.t0) * 1000),
                              g.last_kind], np.int64)
            self.sends.append((g._ctl.Isend([reply, MPI.INT64_T], dest=st.Get_source(),
                                            tag=_TAG_REPLY), reply))
            self._post()
        self.sends = [(r, b) for r, b in self.sends if not r.Test()]

    def _status_of_others(self, p, grace: float) -> dict:
        """{group rank: reply array or None} from every other rank, within ``grace`` s."""
        MPI = mpi()
        g = self.group
        query = np.array([g.rank, p.seq], np.int64)
        replies, reqs = {}, {}
        for j in range(g.size):
            if j != g.rank:
                replies[j] = np.full(5, -2, np.int64)
                self.sends.append((g._ctl.Isend([query, MPI.INT64_T], dest=j,
                                                tag=_TAG_QUERY), query))
                reqs[j] = g._ctl.Irecv([replies[j], MPI.INT64_T], source=j, tag=_TAG_REPLY)
        end = time.monotonic() + grace
        while reqs and time.monotonic() < end:
            self._serve()   # others may be asking this rank at the same moment
            for j in [j for j, r in reqs.items() if r.Test()]:
                del reqs[j]
            time.sleep(0.005)
        return {j: (None if j in reqs else r) for j, r in replies.items()}

    def _expire(self, p) -> None:
        g = self.group
        waited = time.monotonic() - p.t0
        head = (f"yingshe.distributed: {p.kind} #{p.seq}{p.desc} timed out on rank "
                f"{g.ranks[g.rank]} after {waited:.1f} s (timeout {p.timeout:g} s)")
        if self.use_mpi:
            status = self._status_of_others(p, grace=min(5.0, max(2.0, p.timeout)))
            body = _diagnosis(g, p, status)
        else:
            body = ("; this MPI library gives no MPI_THREAD_MULTIPLE, so the ranks that did "
                    "not arrive cannot be named")
        sys.stderr.write(f"{head}{body}. Aborting the job.\n")
        sys.stderr.flush()
        mpi().COMM_WORLD.Abort(1)


def _diagnosis(g, p, status: dict) -> str:
    missing, arrived = [], [g.ranks[g.rank]]
    for j, r in sorted(status.items()):
        rank = g.ranks[j]
        if r is None:
            missing.append(f"{rank} (no answer: hung, or busy without releasing Python's "
                           "GIL)")
            continue
        issued, pseq, pkind, pms, last = (int(v) for v in r)
        where = (f"waiting in {KINDS[pkind]} #{pseq} for {pms / 1000:.1f} s" if pseq >= 0
                 else f"not in a collective; last issued "
                      f"{KINDS[last] + ' #' + str(issued) if issued > 0 else 'none'}")
        if issued < p.seq:
            missing.append(f"{rank} ({where})")
        elif pseq == p.seq and KINDS[pkind] != p.kind:
            missing.append(f"{rank} ({where}: the ranks called different collectives)")
        else:
            arrived.append(rank)
    if not missing:
        return (f"; every rank answered as arrived (ranks {sorted(arrived)}): MPI itself "
                "is stuck (a lost process or network)")
    return (f"; the ranks that did not arrive: {', '.join(missing)}; arrived: ranks "
            f"{sorted(arrived)}")


# ---- the group ----------------------------------------------------------------------------------

class ProcessGroup:
    """A set of ranks and its communicators (see the module docstring)."""

    def __init__(self, comm, timeout: float, ranks: list[int], name: str = "default") -> None:
        MPI = mpi()
        self.comm = comm
        self._chk = comm.Dup()
        self._ctl = comm.Dup()
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.ranks = list(ranks)           # global rank of each group rank
        self.name = name
        self.timeout = float(timeout)
        self.seq = 0
        self.last_kind = -1
        self.pending = None
        self.closed = False
        self._watchdog = None
        if self.size > 1:
            self._watchdog = _Watchdog(self, MPI.Query_thread() == MPI.THREAD_MULTIPLE)
            self._watchdog.start()

    def __repr__(self) -> str:
        return f"<ProcessGroup {self.name!r} rank {self.rank}/{self.size} (mpi)>"

    # identity hashing: the group is an attribute of graph nodes
    __hash__ = object.__hash__

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.stopping.set()
            self._watchdog.join()
        for c in (self._chk, self._ctl, self.comm):
            c.Free()

    def group_rank(self, global_rank: int, what: str, kind: str) -> int:
        try:
            return self.ranks.index(int(global_rank))
        except ValueError:
            raise ValueError(f"{kind}: {what} {global_rank} is not a rank of the group (ranks "
                             f"{self.ranks})") from None

    def waiting(self, seq: int, kind: str, desc="", timeout=None) -> _Waiting:
        return _Waiting(self, seq, kind, desc, self.timeout if timeout is None else timeout)

    # ---- numbering and checks ---------------------------------------------------------
    def begin(self, kind: str, arr=None, *, root: int = -1, op: RedOpType | None = None) -> int:
        """Number the next collective and, when due, check it against the other ranks."""
        if self.closed:
            raise RuntimeError(f"{kind}: the process group was destroyed")
        self.seq += 1
        seq = self.seq
        self.last_kind = _KIND[kind]
        if self.size > 1 and (CONFIG.every or seq <= 4 or seq & (seq - 1) == 0):
            self._check(kind, seq, arr, root, op)
        return seq

    def _fingerprint(self, kind, seq, arr, root, op) -> np.ndarray:
        fp = np.full(_FP, -1, np.int64)
        fp[0], fp[1], fp[3] = seq, _KIND[kind], root
        fp[4] = -1 if op is None else op.value
        if arr is not None:
            fp[2] = _DTYPE_CODE.get(np.dtype(arr.dtype), 99)
            fp[5], fp[6] = arr.ndim, arr.size
            fp[7:7 + min(arr.ndim, 8)] = arr.shape[:8]
            if arr.ndim > 8:
                fp[15] = hash(tuple(arr.shape[8:])) & 0x7FFFFFFFFFFF
        return fp

    def _check(self, kind, seq, arr, root, op) -> None:
        MPI = mpi()
        fp = self._fingerprint(kind, seq, arr, root, op)
        both = np.concatenate([fp, -fp])     # one MAX gives the max and the min of each field
        with self.waiting(seq, kind, " (checking its arguments)"):
            self._chk.Allreduce(MPI.IN_PLACE, [both, MPI.INT64_T], MPI.MAX)
        if np.array_equal(both[:_FP], -both[_FP:]):
            return
        every = np.empty((self.size, _FP), np.int64)
        self._chk.Allgather([fp, MPI.INT64_T], [every, MPI.INT64_T])
        raise self._mismatch(kind, seq, every)

    def _mismatch(self, kind, seq, every: np.ndarray) -> Exception:
        ranks = self.ranks

        def per_rank(fmt) -> str:
            return ", ".join(f"rank {ranks[j]}: {fmt(row)}" for j, row in enumerate(every))

        if len(set(every[:, 0])) > 1:
            return RuntimeError(
                f"{kind}: the ranks are at different collectives ({per_rank(lambda r: '#' + str(r[0]))}): "
                f"every rank must issue the same collectives in the same order{_where()}")
        if len(set(every[:, 1])) > 1:
            return RuntimeError(
                f"collective #{seq} differs across ranks "
                f"({per_rank(lambda r: 'called ' + KINDS[r[1]])}): every rank must issue the "
                f"same collectives in the same order{_where()}")
        if len(set(every[:, 3])) > 1:
            what = "src" if kind in ("broadcast", "scatter") else "dst"
            return ValueError(f"{kind}: the ranks disagree on {what} "
                              f"({per_rank(lambda r: str(r[3]))}){_where()}")
        if len(set(every[:, 4])) > 1:
            names = {o.value: o.name for o in _OPS.values()}
            return ValueError(f"{kind}: the ranks disagree on the reduction "
                              f"({per_rank(lambda r: names.get(int(r[4]), '?'))}){_where()}")

        def meta(r) -> str:
            dt = np.dtype(_DTYPES[r[2]]).name if 0 <= r[2] < len(_DTYPES) else "?"
            shape = tuple(int(d) for d in r[7:7 + min(int(r[5]), 8)])
            return f"{dt} {shape}"
        if len(set(every[:, 2])) > 1:
            return DTypeError(f"{kind}: the ranks passed tensors of different dtypes "
                              f"(collective #{seq}: {per_rank(meta)}); every rank must pass "
                              "the same dtype")
        return ShapeError(f"{kind}: the ranks passed tensors of different shapes (collective "
                          f"#{seq}: {per_rank(meta)}); every rank must pass the same shape")

    # ---- helpers ----------------------------------------------------------------------------
    def _run(self, seq, kind, desc, blocking, nonblocking, async_op, finish, outputs=()):
        """Run the blocking call now, or start the non-blocking one and return its Work."""
        MPI = mpi()
        try:
            if async_op:
                reqs = nonblocking()
                return Work(self, seq, kind, reqs if isinstance(reqs, list) else [reqs],
                            finish, outputs, desc)
            with self.waiting(seq, kind, desc):
                blocking()
        except MPI.Exception as err:
            raise RuntimeError(f"{kind} #{seq}: MPI error: {err.Get_error_string()}") from None
        if finish is not None:
            finish()
        return None

    # ---- collectives on NumPy arrays (the tensors' own buffers) --------------------------
    def barrier(self, async_op=False):
        seq = self.begin("barrier")
        return self._run(seq, "barrier", "", self.comm.Barrier, self.comm.Ibarrier,
                         async_op, None)

    def all_reduce(self, arr, op: RedOpType, async_op=False, out=None, done=None):
        """Reduce ``arr`` over the ranks into ``arr`` (in place), or into ``out``."""
        kind = "all_reduce"
        MPI = mpi()
        reduce_dt, mop = _reduction(kind, arr.dtype, op)
        seq = self.begin(kind, arr, op=op)
        desc = _Desc(arr)
        if out is None:
            buf, back = _inplace_buffer(arr, kind, reduce_dt)
            send = MPI.IN_PLACE
        else:
            send = arr if reduce_dt == arr.dtype and arr.flags.c_contiguous \
                else np.ascontiguousarray(arr, dtype=reduce_dt)
            buf, back = (out, None) if reduce_dt == out.dtype else (np.empty(arr.shape,
                                                                             reduce_dt), out)
        mdt = datatype(buf.dtype)
        finish = _finisher(buf, back, done, self.size if op is ReduceOp.AVG else None)
        return self._run(seq, kind, desc,
                         lambda: self.comm.Allreduce(send, [buf, mdt], mop),
                         lambda: self.comm.Iallreduce(send, [buf, mdt], mop),
                         async_op, finish)

    def broadcast(self, arr, root: int, async_op=False, done=None):
        kind = "broadcast"
        seq = self.begin(kind, arr, root=root)
        buf, back = _inplace_buffer(arr, kind, arr.dtype)
        raw = _bytes(buf)
        MPI = mpi()
        finish = _finisher(buf, back, done)
        return self._run(seq, kind, _Desc(arr),
                         lambda: self.comm.Bcast([raw, MPI.BYTE], root=root),
                         lambda: self.comm.Ibcast([raw, MPI.BYTE], root=root),
                         async_op, finish)

    def all_gather(self, arr, out, async_op=False, done=None, kind="all_gather"):
        """Gather every rank's ``arr`` into ``out`` (``size * arr.size`` elements, rank
        order)."""
        MPI = mpi()
        seq = self.begin(kind, arr)
        send = _bytes(np.ascontiguousarray(arr))
        buf, back = _inplace_buffer(out, kind, out.dtype)
        recv = _bytes(buf)
        finish = _finisher(buf, back, done)
        return self._run(seq, kind, _Desc(arr),
                         lambda: self.comm.Allgather([send, MPI.BYTE], [recv, MPI.BYTE]),
                         lambda: self.comm.Iallgather([send, MPI.BYTE], [recv, MPI.BYTE]),
                         async_op, finish)

    def reduce_scatter(self, arr, out, op: RedOpType, async_op=False, done=None,
                       kind="reduce_scatter"):
        """Reduce ``arr`` (``size`` equal blocks, rank order) and keep block ``rank`` in
        ``out``."""
        MPI = mpi()
        reduce_dt, mop = _reduction(kind, arr.dtype, op)
        seq = self.begin(kind, out, op=op)
        send = np.ascontiguousarray(arr, dtype=reduce_dt)
        if reduce_dt == out.dtype:
            buf, back = _inplace_buffer(out, kind, reduce_dt)
        else:
            buf, back = np.empty(out.shape, reduce_dt), out
        mdt = datatype(reduce_dt)
        finish = _finisher(buf, back, done, self.size if op is ReduceOp.AVG else None)
        return self._run(seq, kind, _Desc(out),
                         lambda: self.comm.Reduce_scatter_block([send, mdt], [buf, mdt], mop),
                         lambda: self.comm.Ireduce_scatter_block([send, mdt], [buf, mdt], mop),
                         async_op, finish)

    def reduce(self, arr, root: int, op: RedOpType, async_op=False, done=None):
        """Reduce ``arr`` over the ranks into ``arr`` on ``root`` (others unchanged)."""
        kind = "reduce"
        MPI = mpi()
        reduce_dt, mop = _reduction(kind, arr.dtype, op)
        seq = self.begin(kind, arr, root=root, op=op)
        mdt = datatype(reduce_dt)
        if self.rank == root:
            buf, back = _inplace_buffer(arr, kind, reduce_dt)
            send, recv = MPI.IN_PLACE, [buf, mdt]
        else:
            buf, back = None, None
            send, recv = [np.ascontiguousarray(arr, dtype=reduce_dt), mdt], None
        finish = _finisher(buf, back, done, self.size if op is ReduceOp.AVG else None)
        return self._run(seq, kind, _Desc(arr),
                         lambda: self.comm.Reduce(send, recv, mop, root=root),
                         lambda: self.comm.Ireduce(send, recv, mop, root=root),
                         async_op, finish)

    def gather(self, arr, out, root: int, async_op=False, done=None):
        """Every rank's ``arr`` into ``out`` on ``root`` (``out`` is None elsewhere)."""
        kind = "gather"
        MPI = mpi()
        seq = self.begin(kind, arr, root=root)
        send = _bytes(np.ascontiguousarray(arr))
        recv = None if out is None else _bytes(out)
        return self._run(seq, kind, _Desc(arr),
                         lambda: self.comm.Gather([send, MPI.BYTE],
                                                  None if recv is None else [recv, MPI.BYTE],
                                                  root=root),
                         lambda: self.comm.Igather([send, MPI.BYTE],
                                                   None if recv is None else [recv, MPI.BYTE],
                                                   root=root),
                         async_op, done)

    def scatter(self, packed, arr, root: int, async_op=False, done=None):
        """Block ``rank`` of ``packed`` (on ``root``) into ``arr`` on every rank."""
        kind = "scatter"
        MPI = mpi()
        seq = self.begin(kind, arr, root=root)
        buf, back = _inplace_buffer(arr, kind, arr.dtype)
        recv = _bytes(buf)
        send = None if packed is None else _bytes(packed)
        finish = _finisher(buf, back, done)
        return self._run(seq, kind, _Desc(arr),
                         lambda: self.comm.Scatter(None if send is None else [send, MPI.BYTE],
                                                   [recv, MPI.BYTE], root=root),
                         lambda: self.comm.Iscatter(None if send is None else [send, MPI.BYTE],
                                                    [recv, MPI.BYTE], root=root),
                         async_op, finish)

    # ---- point to point ------------------------------------------------------------------------
    # A header (dtype code, ndim, shape) precedes each payload, on the same tag: MPI keeps
    # the order of messages between two ranks, so the receiver checks what it will get.
    def _header(self, arr) -> np.ndarray:
        h = np.full(_FP, -1, np.int64)
        h[0] = _DTYPE_CODE.get(np.dtype(arr.dtype), 99)
        h[1] = arr.ndim
        h[2:2 + min(arr.ndim, 8)] = arr.shape[:8]
        h[10] = arr.size
        return h

    def send(self, arr, dst: int, tag: int, async_op=False):
        MPI = mpi()
        h = self._header(arr)
        payload = np.ascontiguousarray(arr)
        raw = _bytes(payload)
        try:
            if async_op:
                reqs = [self.comm.Isend([h, MPI.INT64_T], dest=dst, tag=tag),
                        self.comm.Isend([raw, MPI.BYTE], dest=dst, tag=tag)]
                return Work(self, self.seq, "send", reqs, None, [], f" to rank {dst}")
            with self.waiting(self.seq, "send", f" to rank {dst}"):
                self.comm.Send([h, MPI.INT64_T], dest=dst, tag=tag)
                self.comm.Send([raw, MPI.BYTE], dest=dst, tag=tag)
        except MPI.Exception as err:
            raise RuntimeError(f"send: MPI error: {err.Get_error_string()}") from None
        return None

    def recv(self, arr, src, tag: int, async_op=False, done=None):
        """Receive into ``arr`` from ``src`` (None: any rank); returns the sender's group
        rank (or a Work)."""
        MPI = mpi()
        h = np.empty(_FP, np.int64)
        buf, back = _inplace_buffer(arr, "recv", arr.dtype)
        raw = _bytes(buf)
        mine = self._header(arr)
        st = MPI.Status()
        source = MPI.ANY_SOURCE if src is None else src

        def check(sender) -> None:
            if not np.array_equal(h, mine):
                dt = np.dtype(_DTYPES[h[0]]).name if 0 <= h[0] < len(_DTYPES) else "?"
                theirs = f"{dt} tensor of shape {tuple(int(d) for d in h[2:2 + min(h[1], 8)])}"
                cls = DTypeError if h[0] != mine[0] else ShapeError
                raise cls(f"recv: rank {self.ranks[sender]} sent a {theirs}, but the receiving "
                          f"tensor is a {describe(arr)}")
        try:
            if async_op:
                # stage 1 receives the header (it names the sender of ANY_SOURCE), stage 2
                # the payload, from that sender, once the header matches the tensor
                hreq = self.comm.Irecv([h, MPI.INT64_T], source=source, tag=tag)

                def payload():
                    sender = hreq_status.Get_source() if src is None else src
                    check(sender)
                    return [self.comm.Irecv([raw, MPI.BYTE], source=sender, tag=tag)]

                hreq_status = _StatusRequest(hreq)
                return Work(self, self.seq, "recv", [hreq_status],
                            _finisher(buf, back, done), [],
                            "" if src is None else f" from rank {src}", then=payload)
            with self.waiting(self.seq, "recv", "" if src is None else f" from rank {src}"):
                self.comm.Recv([h, MPI.INT64_T], source=source, tag=tag, status=st)
                sender = st.Get_source()
                check(sender)
                self.comm.Recv([raw, MPI.BYTE], source=sender, tag=tag)
        except MPI.Exception as err:
            raise RuntimeError(f"recv: MPI error: {err.Get_error_string()}") from None
        _finisher(buf, back, done)()
        return sender


def _testall(reqs) -> bool:
    """Whether every request is done (plain MPI requests and ``_StatusRequest``s)."""
    plain = []
    done = True
    for r in reqs:
        if isinstance(r, _StatusRequest):
            done = r.test() and done
        else:
            plain.append(r)
    return (mpi().Request.Testall(plain) if plain else True) and done


class _StatusRequest:
    """A request that keeps the status of its completion (the sender of ANY_SOURCE)."""

    def __init__(self, req) -> None:
        self.req = req
        self.status = mpi().Status()
        self.done = False

    def test(self) -> bool:
        if not self.done:
            self.done = self.req.Test(self.status)
        return self.done

    def Get_source(self) -> int:
        return self.status.Get_source()


def _finisher(buf, back, done, average_over: int | None = None):
    """What completes an in-place collective once MPI has filled ``buf``: the division of
    an AVG, the copy back into a non-contiguous (or float16) tensor, the caller's
    ``done`` (version counters, list outputs)."""
    def finish() -> None:
        if buf is not None:
            if average_over is not None:
                np.divide(buf, average_over, out=buf)
            if back is not None:
                np.copyto(back, buf, casting="unsafe")
        if done is not None:
            done()
    return finish


def _bytes(arr: np.ndarray) -> np.ndarray:
    """A contiguous array's memory as bytes (no copy): data movement needs no datatype,
    so float16 and bool move as they are."""
    return arr.reshape(-1).view(np.uint8)


def _inplace_buffer(arr: np.ndarray, kind: str, dt):
    """(buffer MPI writes, array to copy it back into or None): the array itself when it
    is C-contiguous, writeable and of dtype ``dt`` (zero-copy), else a contiguous copy."""
    if not arr.flags.writeable:
        raise RuntimeError(f"{kind}: the tensor is read-only (an expand()ed tensor shares "
                           "memory between elements); clone() it first")
    if arr.flags.c_contiguous and arr.dtype == dt:
        return arr, None
    return np.array(arr, dtype=dt, order="C", copy=True), arr


_MPI_OPS: dict = {}     # (bool dtype?, op name) -> MPI operator, filled on first use
_F32 = np.dtype(np.float32)


def _mpi_op(is_bool: bool, name: str):
    if not _MPI_OPS:
        MPI = mpi()
        _MPI_OPS.update({(False, "SUM"): MPI.SUM, (False, "AVG"): MPI.SUM,
                         (False, "PRODUCT"): MPI.PROD, (False, "MIN"): MPI.MIN,
                         (False, "MAX"): MPI.MAX, (False, "BAND"): MPI.BAND,
                         (False, "BOR"): MPI.BOR, (False, "BXOR"): MPI.BXOR,
                         (True, "SUM"): MPI.LOR, (True, "MAX"): MPI.LOR,
                         (True, "BOR"): MPI.LOR, (True, "PRODUCT"): MPI.LAND,
                         (True, "MIN"): MPI.LAND, (True, "BAND"): MPI.LAND,
                         (True, "BXOR"): MPI.LXOR})
    return _MPI_OPS.get((is_bool, name))


_REDUCTIONS: dict = {}   # (dtype, op) -> (dtype, MPI operator): the checks run once


def _reduction(kind: str, dt, op: RedOpType):
    """(dtype the reduction runs in, MPI operator) for ``op`` on ``dt``."""
    found = _REDUCTIONS.get((dt, op))
    if found is None:
        found = _REDUCTIONS[(dt, op)] = _check_reduction(kind, dt, op)
    return found


def _check_reduction(kind: str, dt, op: RedOpType):
    dt = np.dtype(dt)
    if dt.kind == "b":
        mop = _mpi_op(True, op.name)
        if mop is None:
            raise DTypeError(f"{kind}: ReduceOp.{op.name} is not defined for bool tensors")
        return dt, mop
    if dt not in _DTYPE_CODE:
        raise DTypeError(f"{kind}: unsupported dtype {dt.name}")
    if dt.kind == "f":
        if op.name in ("BAND", "BOR", "BXOR"):
            raise DTypeError(f"{kind}: ReduceOp.{op.name} needs an integer or bool tensor, "
                             f"got {dt.name}")
    elif op is ReduceOp.AVG:
        raise DTypeError(f"{kind}: ReduceOp.AVG needs a floating-point tensor, got {dt.name}")
    # MPI has no half type: a float16 reduction runs in float32 (one copy each way)
    return (_F32 if dt.itemsize == 2 and dt.kind == "f" else dt), _mpi_op(False, op.name)
