"""``DistributedDataParallel``: data parallelism over the ranks of a process group.

Each rank holds a replica of the model and feeds it its own part of the batch; after
``backward()`` every replica holds the gradient averaged over the ranks, so the same
optimizer step keeps the replicas equal. This is PyTorch's design:

* at construction, rank 0's parameters and buffers are broadcast to every rank (and the
  ranks check that their models have the same parameter shapes);
* parameters are grouped into buckets of about ``bucket_cap_mb`` (the first one 1 MiB),
  in reverse order of ``module.parameters()`` (roughly the order in which backward
  produces their gradients);
* a post-accumulate-grad hook on each parameter copies its finished gradient into its
  bucket; when a bucket is full its all-reduce starts at once, non-blocking, while the
  backward pass goes on (buckets start strictly in order, so every rank issues the same
  collectives in the same order); the last one waits for all of them and writes the
  averaged gradients back into ``.grad``;
* ``no_sync()`` skips the reduction (gradients accumulate locally until the next
  synchronised backward); ``find_unused_parameters=True`` handles parameters that a
  forward did not use (on this rank or on every rank); buffers (BatchNorm's running
  statistics) are broadcast from rank 0 before each forward.

Under ``yingshe.compile`` the same hooks run on the traced gradients: each bucket
becomes ``cat`` -> ``dist.all_reduce`` -> slices in the compiled program, before the
optimizer's update reads ``.grad`` (``compiled.explain()`` shows them).
"""

from __future__ import annotations

import contextlib
import zlib

import numpy as np

from yingshe._tensor import MODE, Tensor, _wrap
from yingshe.autograd import is_grad_enabled, no_grad
from yingshe.errors import UnsupportedError
from yingshe.nn.modules.module import Module

__all__ = ["DistributedDataParallel", "GradBucket"]

_FIRST_BUCKET_BYTES = 1024 * 1024
_DEFAULT_BUCKET_MB = 25.0


class GradBucket:
    """What a communication hook receives (``register_comm_hook``): one bucket's
    flattened gradients. ``buffer()`` is a 1-D tensor (a graph value inside
    ``yingshe.compile``)."""

    def __init__(self, index: int, buffer: Tensor, params: list, is_last: bool) -> None:
        self._index, self._buffer, self._params, self._last = index, buffer, params, is_last

    def index(self) -> int:
        return self._index

    def buffer(self) -> Tensor:
        return self._buffer

    def set_buffer(self, buffer: Tensor) -> None:
        self._buffer = buffer

    def parameters(self) -> list:
        return list(self._params)

    def gradients(self) -> list:
        out, off = [], 0
        for p in self._params:
            n = p.numel()
            out.append(self._buffer[off:off + n].reshape(tuple(p.shape)))
            off += n
        return out

    def is_last(self) -> bool:
        return self._last


class _Bucket:
    __slots__ = ("index", "params", "offsets", "numel", "dtype", "flat", "pending", "grads",
                 "future")

    def __init__(self, index: int, params: list) -> None:
        self.index = index
        self.params = params
        self.offsets = []
        off = 0
        for p in params:
            self.offsets.append(off)
            off += p.numel()
        self.numel = off
        self.dtype = params[0]._data.dtype
        self.flat = None      # the eager buffer, allocated on first use
        self.pending = 0
        self.grads = None     # traced: the gradient symbols, by position
        self.future = None


def _buckets_of(params: list, cap_bytes: int, first_bytes: int) -> list[list]:
    """Parameters in reverse order, cut into buckets of about ``cap_bytes`` (the first
    one ``first_bytes``), one dtype per bucket."""
    done: list[list] = []
    open_: dict = {}     # dtype -> [params, bytes]
    for p in reversed(params):
        dt = p._data.dtype
        cur = open_.setdefault(dt, [[], 0])
        cur[0].append(p)
        cur[1] += p._data.nbytes
        limit = first_bytes if not done else cap_bytes
        if cur[1] >= limit:
            done.append(cur[0])
            del open_[dt]
    done.extend(v[0] for v in open_.values())
    return done


def _tape_leaves(outputs) -> set[int]:
    """ids of the leaf tensors the tape (or a traced graph) reaches from ``outputs``."""
    found: set[int] = set()
    seen: set[int] = set()
    stack = []
    for t in outputs:
        if not isinstance(t, Tensor):
            continue
        if t._data is None and hasattr(t, "_gnode"):
            stack.append(("g", t._gnode))
        elif t._node is not None:
            stack.append(("t", t._node))
        elif t.requires_grad_flag:
            found.add(id(t))
    while stack:
        kind, n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if kind == "t":
            for e in n.edges:
                if isinstance(e, tuple):
                    stack.append(("t", e[0]))
                elif e is not None:
                    found.add(id(e))
        else:
            if n.kind == "read" and n.var is not None:
                found.add(id(n.var))
            for x in n.inputs:
                if hasattr(x, "_gnode"):
                    stack.append(("g", x._gnode))
    return found


def _output_tensors(obj) -> list:
    """The tensors in a (nested) forward output."""
    from yingshe.graph.ir import KEEP, flatten_nested
    out: list = []
    flatten_nested(obj, out, lambda x: x if isinstance(x, Tensor) else KEEP)
    return out


class _Reducer:
    """Buckets, their readiness during one backward, and the all-reduces."""

    def __init__(self, ddp, params: list, cap_bytes: int, first_bytes: int) -> None:
        self.ddp = ddp
        self.params = params
        self.buckets = [_Bucket(i, ps) for i, ps in
                        enumerate(_buckets_of(params, cap_bytes, first_bytes))]
        self.where = {}      # id(param) -> (bucket, position)
        for b in self.buckets:
            for j, p in enumerate(b.params):
                self.where[id(p)] = (b, j)
        self.expect = False          # a synchronised backward is expected
        self.in_trace = False
        self.ready: set[int] = set()
        self.next_bucket = 0
        self.unused: list = []       # locally unused parameters of this iteration
        self.marked_unused = False
        self.handles = [p.register_post_accumulate_grad_hook(self._hook) for p in params]
        self.comm_hook = None
        self.launch_log: list[int] = []   # bucket indices in launch order (for tests/debug)

    # ---- one iteration ------------------------------------------------------------------
    def prepare(self, outputs) -> None:
        """After a forward that will be synchronised: reset, and find unused parameters."""
        if self.expect and self.ready and not self.in_trace:
            missing = [n for n, p in self.ddp._named_params if id(p) not in self.ready]
            raise RuntimeError(
                "DistributedDataParallel: expected to have finished reduction in the prior "
                "iteration before starting a new one: parameters that received no gradient "
                f"in it: {missing}. Pass find_unused_parameters=True to "
                "DistributedDataParallel if the forward does not use every parameter, and "
                "make sure every output that depends on them takes part in the loss")
        self.expect = True
        # a trace may stop half-way (and its call run eagerly): its state is not kept
        self.in_trace = MODE.tracer is not None
        self.ready = set()
        self.next_bucket = 0
        self.marked_unused = False
        for b in self.buckets:
            b.pending = len(b.params)
            b.grads = [None] * len(b.params)
            b.future = None
        self.unused = []
        if self.ddp.find_unused_parameters:
            if self.in_trace:
                from yingshe.graph.trace import TraceError
                # which parameters a step uses is known only when it runs; refused on every
                # rank alike (fallback="eager" then runs the step eagerly everywhere)
                raise TraceError(
                    "DistributedDataParallel(find_unused_parameters=True) inside "
                    "yingshe.compile: the parameters a step uses are decided when it runs; "
                    "compile with fallback=\"eager\", or use every parameter and pass "
                    "find_unused_parameters=False")
            used = _tape_leaves(_output_tensors(outputs))
            self.unused = [p for p in self.params if id(p) not in used]

    def _hook(self, p) -> None:
        if not self.expect:
            return      # no_sync, or a backward without a DDP forward: gradients stay local
        if not self.marked_unused:
            self.marked_unused = True
            for q in self.unused:
                self._mark_ready(q, unused=True)
        self._mark_ready(p)

    def _mark_ready(self, p, unused: bool = False) -> None:
        key = id(p)
        if key in self.ready:
            name = next((n for n, q in self.ddp._named_params if q is p), "?")
            raise RuntimeError(
                f"DistributedDataParallel: expected to mark a variable ready only once "
                f"(parameter {name!r} got a second gradient in one backward): a parameter "
                "used outside forward(), a second backward() without a forward(), or "
                "reentrant backward passes")
        self.ready.add(key)
        b, j = self.where[key]
        traced = MODE.tracer is not None
        if traced:
            g = p.grad
            if unused or g is None:
                from yingshe.graph.trace import TraceError
                raise TraceError(
                    "DistributedDataParallel: a parameter without a gradient inside "
                    "yingshe.compile (find_unused_parameters decides per step at run time); "
                    "compile with fallback=\"eager\" or use every parameter")
            b.grads[j] = g
        else:
            if b.flat is None:
                b.flat = np.zeros(b.numel, b.dtype)
            piece = b.flat[b.offsets[j]:b.offsets[j] + p.numel()]
            if unused or p.grad is None:
                piece[...] = 0
            else:
                piece[...] = p.grad._data.reshape(-1)
        b.pending -= 1
        self._launch_ready()

    def _launch_ready(self) -> None:
        # strictly in bucket order: every rank issues the same collectives in the same order
        while self.next_bucket < len(self.buckets) and \
                self.buckets[self.next_bucket].pending == 0:
            self._launch(self.buckets[self.next_bucket])
            self.next_bucket += 1
        if self.next_bucket == len(self.buckets):
            self._finalize()
        else:
            # progress the started ones (MPI moves non-blocking data only inside calls)
            for b in self.buckets[:self.next_bucket]:
                work = getattr(b.future, "_work", None)
                if work is not None and not work._done:
                    work.is_completed()

    def _launch(self, b: _Bucket) -> None:
        from yingshe import distributed as dist
        from yingshe.ops.shape import cat
        if MODE.tracer is not None:
            flat = cat([g.reshape(-1) for g in b.grads])
        else:
            flat = _wrap(b.flat)
        self.launch_log.append(b.index)
        bucket = GradBucket(b.index, flat, b.params, b.index == len(self.buckets) - 1)
        if self.comm_hook is not None:
            state, hook = self.comm_hook
            b.future = hook(state, bucket)
        else:
            group = self.ddp.process_group
            # PyTorch divides before summing (sum of g/n): the same rounding as its DDP
            if MODE.tracer is not None:
                buf = flat / group.size
            else:
                np.divide(b.flat, group.size, out=b.flat)
                buf = flat
            b.future = dist.all_reduce(buf, group=group, async_op=True).get_future()

    def _finalize(self) -> None:
        from yingshe import distributed as dist
        traced = MODE.tracer is not None
        globally_used = None
        if self.ddp.find_unused_parameters:
            # which locally unused parameters some other rank used: they take the average
            # (every rank takes part, whether or not it has unused parameters itself)
            local = np.ones(len(self.params), np.int32)
            index = {id(p): i for i, p in enumerate(self.params)}
            for p in self.unused:
                local[index[id(p)]] = 0
            used = _wrap(local)
            dist.all_reduce(used, op=dist.ReduceOp.MAX, group=self.ddp.process_group)
            globally_used = {id(p) for p in self.params if used._data[index[id(p)]]}
        unused = {id(p) for p in self.unused}
        for b in self.buckets:
            value = b.future.wait()
            if isinstance(value, list):
                value = value[0]
            for j, p in enumerate(b.params):
                n = p.numel()
                off = b.offsets[j]
                if id(p) in unused and id(p) not in globally_used:
                    continue          # unused on every rank: .grad stays as it was
                if traced:
                    p.grad = value[off:off + n].reshape(tuple(p.shape))
                    continue
                part = value._data[off:off + n].reshape(p._data.shape)
                if p.grad is None or p.grad._data.shape != p._data.shape:
                    p.grad = _wrap(np.array(part, copy=True))
                else:
                    np.copyto(p.grad._data, part)
                    p.grad._vc[0] += 1
        self.expect = False
        self.ready = set()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class DistributedDataParallel(Module):
    """Data parallelism over the ranks of a process group (``torch.nn.parallel``'s
    class; see the module docstring for how it works).

    Args:
        module: the model (the same on every rank; rank 0's values win at construction).
        device_ids, output_device: must be None (CPU modules), as PyTorch requires.
        broadcast_buffers: broadcast the buffers from rank 0 before each forward.
        process_group: the group to average over (default: every rank).
        bucket_cap_mb: bucket size in MiB (default 25, with a first bucket of 1 MiB).
        find_unused_parameters: allow forwards that do not use every parameter.
        init_sync: broadcast parameters and buffers at construction (default True).
        gradient_as_bucket_view, static_graph, check_reduction: accepted (gradients are
            always copied into and out of the buckets).

    Example:
        >>> model = DistributedDataParallel(net)
        >>> loss_fn(model(x_local), y_local).backward()   # .grad: averaged over the ranks
        >>> opt.step()
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, init_sync: bool = True, process_group=None,
                 bucket_cap_mb=None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None,
                 **kwargs) -> None:
        super().__init__()
        from yingshe import distributed as dist
        for name, value in (("delay_all_reduce_named_params", delay_all_reduce_named_params),
                            ("param_to_hook_all_reduce", param_to_hook_all_reduce),
                            ("mixed_precision", mixed_precision),
                            ("device_mesh", device_mesh)):
            if value is not None:
                raise UnsupportedError(f"DistributedDataParallel: {name} is not supported "
                                       "by yingshe")
        for name in kwargs:
            raise TypeError(f"DistributedDataParallel: unexpected argument {name!r}")
        if device_ids or output_device is not None:
            raise ValueError(
                "DistributedDataParallel device_ids and output_device arguments only work "
                "with single-device/multiple-device GPU modules or CPU modules, but got "
                f"device_ids {device_ids}, output_device {output_device}, and module "
                "parameters {device(type='cpu')}.")
        if dim != 0:
            raise UnsupportedError("DistributedDataParallel: dim must be 0")
        self.process_group = dist._group_of(process_group, "DistributedDataParallel")
        if self.process_group is None:
            raise ValueError("DistributedDataParallel: this rank is not in the process group")
        self.module = module
        ignore = set(getattr(module, "_ddp_params_and_buffers_to_ignore", ()))
        named = [(n, p) for n, p in module.named_parameters() if n not in ignore]
        object.__setattr__(self, "_named_params",
                           [(n, p) for n, p in named if p.requires_grad])
        if not self._named_params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient.")
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.static_graph = bool(static_graph)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        object.__setattr__(self, "_buffers_to_sync",
                           [b for n, b in module.named_buffers() if n not in ignore])
        params = [p for _, p in self._named_params]
        self._verify_same_model([p for _, p in named])
        if init_sync:
            self._broadcast_state([p for _, p in named] + self._buffers_to_sync)
        # PyTorch's rule: a smaller first bucket (it starts early) only with the default cap
        cap = int((_DEFAULT_BUCKET_MB if bucket_cap_mb is None else float(bucket_cap_mb))
                  * 1024 * 1024)
        first = min(_FIRST_BUCKET_BYTES, cap) if bucket_cap_mb is None else cap
        object.__setattr__(self, "reducer", _Reducer(self, params, cap, first))

    # ---- construction ------------------------------------------------------------------------
    def _verify_same_model(self, params: list) -> None:
        """Every rank must hold a model with the same parameter shapes and dtypes."""
        from yingshe import distributed as dist
        desc = ";".join(f"{tuple(p.shape)}:{p._data.dtype.str}" for p in params)
        fp = np.array([len(params), sum(p.numel() for p in params),
                       zlib.crc32(desc.encode())], np.int64)
        both = _wrap(np.concatenate([fp, -fp]))
        dist.all_reduce(both, op=dist.ReduceOp.MAX, group=self.process_group)
        if not np.array_equal(both._data[:3], -both._data[3:]):
            raise ValueError(
                "DistributedDataParallel: the ranks' models differ (number, shapes or dtypes "
                f"of the parameters); this rank has {len(params)} parameters "
                f"({int(fp[1])} elements)")

    def _broadcast_state(self, tensors: list) -> None:
        """Rank 0's values into ``tensors`` on every rank: one broadcast per dtype."""
        group = self.process_group
        by_dtype: dict = {}
        for t in tensors:
            if t is not None and t.numel():
                by_dtype.setdefault(t._data.dtype, []).append(t)
        for dt, ts in by_dtype.items():
            packed = np.concatenate([t._data.reshape(-1) for t in ts])
            group.broadcast(packed, 0)
            off = 0
            for t in ts:
                n = t.numel()
                np.copyto(t._data, packed[off:off + n].reshape(t._data.shape))
                t._vc[0] += 1
                off += n

    # ---- forward ------------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        from yingshe import distributed as dist
        tracer = MODE.tracer
        if tracer is not None and hasattr(tracer, "guards"):
            # a compiled step re-traces when no_sync() or the buffer rule changes
            tracer.guards.append((lambda: self.require_backward_grad_sync,
                                  self.require_backward_grad_sync))
            tracer.guards.append((lambda: self.require_forward_param_sync,
                                  self.require_forward_param_sync))
        sync = is_grad_enabled() and self.require_backward_grad_sync
        if self.broadcast_buffers and self.require_forward_param_sync and self._buffers_to_sync:
            with no_grad():
                for b in self._buffers_to_sync:
                    dist.broadcast(b, src=self.process_group.ranks[0],
                                   group=self.process_group)
        out = self.module(*inputs, **kwargs)
        if sync:
            self.require_forward_param_sync = True
            self.reducer.prepare(out)
        else:
            self.require_forward_param_sync = False
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, forward/backward passes accumulate gradients locally; the first
        synchronised backward after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def register_comm_hook(self, state, hook) -> None:
        """Replace the bucket all-reduce by ``hook(state, bucket) -> Future`` whose value
        is the bucket's reduced (averaged) 1-D tensor."""
        if self.reducer.comm_hook is not None:
            raise RuntimeError("register_comm_hook or register_builtin_comm_hook can only be "
                               "called once.")
        self.reducer.comm_hook = (state, hook)

    def _set_static_graph(self) -> None:
        self.static_graph = True

    def join(self, *args, **kwargs):
        raise UnsupportedError("DistributedDataParallel.join (uneven inputs) is not "
                               "supported by yingshe")

    def extra_repr(self) -> str:
        return f"process_group={self.process_group!r}, buckets={len(self.reducer.buckets)}"
