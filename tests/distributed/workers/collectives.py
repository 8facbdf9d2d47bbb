"""Every collective of yingshe.distributed against NumPy computed on the gathered inputs.

Each rank draws its own inputs; the inputs of every rank are gathered with raw mpi4py
(``Allgather`` of NumPy buffers: independent of the code under test) and the expected
result is computed from them with NumPy. Run by tests/distributed/test_collectives.py on
2 and on 4 ranks (one mpirun each).
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _worker import registry, run  # noqa: E402

import yingshe  # noqa: E402
import yingshe.distributed as dist  # noqa: E402
import yingshe.graph as G  # noqa: E402
from yingshe.errors import DTypeError, ShapeError  # noqa: E402
from yingshe.testing.tolerances import tol  # noqa: E402

CHECKS, check = registry()
R = dist.ReduceOp
FLOATS = (np.float32, np.float64)


def rank() -> int:
    return dist.get_rank()


def size() -> int:
    return dist.get_world_size()


def draw(shape, dtype, salt: int = 0) -> np.ndarray:
    """This rank's input (different on every rank)."""
    rng = np.random.default_rng(1000 * salt + rank())
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(1, 7, shape).astype(dtype)
    return rng.uniform(-2, 2, shape).astype(dtype)


def gathered(x: np.ndarray) -> np.ndarray:
    """Every rank's ``x``, stacked in rank order, by raw mpi4py."""
    from mpi4py import MPI
    x = np.ascontiguousarray(x)
    out = np.empty((size(),) + x.shape, x.dtype)
    MPI.COMM_WORLD.Allgather(x.reshape(-1).view(np.uint8), out.reshape(-1).view(np.uint8))
    return out


def close(got, want, dtype) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if np.dtype(dtype).kind == "f" and np.dtype(dtype) != np.float16:
        rtol, atol = tol("reference", dtype)   # the reduction order differs from NumPy's
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    elif np.dtype(dtype) == np.float16:
        np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32),
                                   rtol=2e-3, atol=2e-3)
    else:
        np.testing.assert_array_equal(got, want)


REDUCE = {"SUM": np.sum, "AVG": np.mean, "PRODUCT": np.prod, "MIN": np.min, "MAX": np.max}


def expected_reduce(all_: np.ndarray, op: str) -> np.ndarray:
    if all_.dtype == np.bool_:
        return {"SUM": np.any, "MAX": np.any, "BOR": np.any, "PRODUCT": np.all,
                "MIN": np.all, "BAND": np.all, "BXOR": lambda a, axis: np.logical_xor.reduce(
                    a, axis)}[op](all_, axis=0)
    if op in ("BAND", "BOR", "BXOR"):
        return {"BAND": np.bitwise_and, "BOR": np.bitwise_or,
                "BXOR": np.bitwise_xor}[op].reduce(all_, axis=0)
    if all_.dtype == np.float16:
        return REDUCE[op](all_.astype(np.float32), axis=0).astype(np.float16)
    return REDUCE[op](all_, axis=0).astype(all_.dtype)


# ---- all_reduce --------------------------------------------------------------------------

@check
def all_reduce_every_op_and_dtype():
    cases = [(op, dt) for op in ("SUM", "AVG", "PRODUCT", "MIN", "MAX") for dt in FLOATS]
    cases += [(op, np.int64) for op in ("SUM", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR")]
    cases += [(op, np.int32) for op in ("SUM", "MAX")] + [("SUM", np.uint8), ("MIN", np.int8)]
    cases += [(op, np.bool_) for op in ("SUM", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR")]
    cases += [("SUM", np.float16), ("AVG", np.float16)]
    for salt, (op, dt) in enumerate(cases):
        x = draw((3, 5), dt, salt)
        if op == "PRODUCT" and np.dtype(dt).kind == "f":
            x = (np.abs(x) * 0.5 + 0.75).astype(dt)
        t = yingshe.from_numpy(x.copy())
        assert dist.all_reduce(t, op=getattr(R, op)) is None
        close(t.numpy(), expected_reduce(gathered(x), op), dt)


@check
def all_reduce_in_place_zero_copy_and_version():
    x = draw((4, 3), np.float32, 1)
    t = yingshe.from_numpy(x.copy())
    buf, v = t.numpy(), t._vc[0]
    dist.all_reduce(t)
    assert t.numpy() is buf            # the tensor's own buffer, reduced in place
    assert t._vc[0] == v + 1
    close(buf, gathered(x).sum(0), np.float32)


@check
def all_reduce_non_contiguous_view_and_0d():
    base = draw((4, 6), np.float64, 2)
    whole = yingshe.from_numpy(base.copy())
    view = whole.t()[1:5:2]             # a strided view: reduced through a copy, written back
    dist.all_reduce(view, op="max")
    want = base.copy()
    want.T[1:5:2] = gathered(base.T[1:5:2].copy()).max(0)
    close(whole.numpy(), want, np.float64)
    s = yingshe.tensor(float(rank() + 1), dtype=yingshe.float64)
    dist.all_reduce(s)
    assert s.shape == () and s.item() == size() * (size() + 1) / 2


@check
def all_reduce_async_work_handle():
    x = draw((7,), np.float32, 3)
    t = yingshe.from_numpy(x.copy())
    work = dist.all_reduce(t, op=R.AVG, async_op=True)
    assert isinstance(work, dist.Work)
    assert work.wait() is True and work.is_completed() and work.is_success()
    assert work.exception() is None
    close(t.numpy(), gathered(x).mean(0), np.float32)
    assert work.result()[0] is t
    t2 = yingshe.from_numpy(x.copy())
    fut = dist.all_reduce(t2, async_op=True).get_future().then(lambda f: f.value() * 2)
    close(fut.wait().numpy(), gathered(x).sum(0) * 2, np.float32)


@check
def many_async_collectives_in_flight_complete_in_order():
    xs = [draw((50,), np.float64, 10 + i) for i in range(5)]
    ts = [yingshe.from_numpy(x.copy()) for x in xs]
    works = [dist.all_reduce(t, async_op=True) for t in ts]
    for w in reversed(works):          # waited in any order
        w.wait()
    for x, t in zip(xs, ts):
        close(t.numpy(), gathered(x).sum(0), np.float64)


# ---- broadcast, gather and scatter families -------------------------------------------------

@check
def broadcast_from_every_rank_and_dtype():
    for src in range(size()):
        for salt, dt in enumerate((np.float32, np.int64, np.bool_, np.float16)):
            x = draw((2, 3), dt, 20 + salt)
            t = yingshe.from_numpy(x.copy())
            work = dist.broadcast(t, src=src, async_op=salt % 2 == 1)
            if work is not None:
                work.wait()
            close(t.numpy(), gathered(x)[src], dt)


@check
def all_gather_list_and_into_tensor():
    x = draw((2, 3), np.float32, 30)
    want = gathered(x)
    out = [yingshe.zeros(2, 3) for _ in range(size())]
    dist.all_gather(out, yingshe.from_numpy(x.copy()))
    close(np.stack([o.numpy() for o in out]), want, np.float32)
    cat = yingshe.zeros(2 * size(), 3)
    dist.all_gather_into_tensor(cat, yingshe.from_numpy(x.copy()))
    close(cat.numpy(), want.reshape(-1, 3), np.float32)
    stacked = yingshe.zeros(size(), 2, 3)
    dist.all_gather_into_tensor(stacked, yingshe.from_numpy(x.copy()), async_op=True).wait()
    close(stacked.numpy(), want, np.float32)


@check
def reduce_scatter_list_and_tensor():
    n = size()
    x = draw((n, 4), np.float64, 31)          # row i goes to rank i
    all_ = gathered(x)
    out = yingshe.zeros(4, dtype=yingshe.float64)
    dist.reduce_scatter(out, [yingshe.from_numpy(x[i].copy()) for i in range(n)], op=R.MAX)
    close(out.numpy(), all_.max(0)[rank()], np.float64)
    out2 = yingshe.zeros(2, 2, dtype=yingshe.float64)
    dist.reduce_scatter_tensor(out2, yingshe.from_numpy(x.reshape(2 * n, 2).copy()))
    close(out2.numpy(), all_.sum(0)[rank()].reshape(2, 2), np.float64)


@check
def reduce_to_every_rank():
    for dst in range(size()):
        x = draw((5,), np.int64, 40 + dst)
        want = gathered(x).sum(0)   # every rank takes part in gathering
        t = yingshe.from_numpy(x.copy())
        dist.reduce(t, dst=dst, op=R.SUM)
        close(t.numpy(), want if rank() == dst else x, np.int64)


@check
def gather_and_scatter_with_every_root():
    for root in range(size()):
        x = draw((3,), np.float32, 50 + root)
        want = gathered(x)
        lst = [yingshe.zeros(3) for _ in range(size())] if rank() == root else None
        dist.gather(yingshe.from_numpy(x.copy()), lst, dst=root)
        if rank() == root:
            close(np.stack([t.numpy() for t in lst]), want, np.float32)
        parts = draw((size(), 2), np.float64, 60 + root)
        src_parts = gathered(parts)[root]
        out = yingshe.zeros(2, dtype=yingshe.float64)
        lst = [yingshe.from_numpy(p.copy()) for p in parts] if rank() == root else None
        dist.scatter(out, lst, src=root)
        close(out.numpy(), src_parts[rank()], np.float64)


@check
def send_recv_ring_blocking_and_nonblocking():
    n, r = size(), rank()
    right, left = (r + 1) % n, (r - 1) % n
    x = draw((6,), np.float64, 70)
    want = gathered(x)[left]
    got = yingshe.zeros(6, dtype=yingshe.float64)
    if r % 2 == 0:
        dist.send(yingshe.from_numpy(x.copy()), dst=right, tag=3)
        sender = dist.recv(got, src=left, tag=3)
    else:
        sender = dist.recv(got, src=left, tag=3)
        dist.send(yingshe.from_numpy(x.copy()), dst=right, tag=3)
    assert sender == left
    close(got.numpy(), want, np.float64)
    # both receives posted before either send: non-blocking receives must not deadlock
    got2 = yingshe.zeros(6, dtype=yingshe.float64)
    got3 = yingshe.zeros(6, dtype=yingshe.float64)
    r1 = dist.irecv(got2, src=left, tag=4)
    r2 = dist.irecv(got3, tag=5)           # from any rank
    s1 = dist.isend(yingshe.from_numpy(x.copy()), dst=right, tag=4)
    s2 = dist.isend(yingshe.from_numpy(x * 2), dst=right, tag=5)
    for w in (s1, s2, r1, r2):
        w.wait()
    close(got2.numpy(), want, np.float64)
    close(got3.numpy(), want * 2, np.float64)


@check
def barrier_blocking_and_async():
    dist.barrier()
    dist.barrier(async_op=True).wait()


@check
def subgroup_collectives_use_global_ranks():
    members = [0, size() - 1]
    g = dist.new_group(members)
    x = draw((3,), np.float32, 80)
    all_ = gathered(x)
    t = yingshe.from_numpy(x.copy())
    res = dist.all_reduce(t, group=g)
    if rank() in members:
        close(t.numpy(), all_[members].sum(0), np.float32)
        assert dist.get_world_size(g) == 2
        assert dist.get_rank(g) == members.index(rank())
        b = yingshe.from_numpy(x.copy())
        dist.broadcast(b, src=size() - 1, group=g)       # a global rank
        close(b.numpy(), all_[size() - 1], np.float32)
    else:
        assert g is dist.GroupMember.NON_GROUP_MEMBER and res is None
        close(t.numpy(), x, np.float32)
        assert dist.get_rank(g) == -1
    if g is not dist.GroupMember.NON_GROUP_MEMBER:
        dist.destroy_process_group(g)


# ---- differentiable collectives, graphs, compiled steps --------------------------------------

@check
def functional_collectives_and_their_gradients():
    F = dist.functional
    n, r = size(), rank()
    x_np, c_np = draw((4,), np.float64, 90), draw((4,), np.float64, 91)
    xs, cs = gathered(x_np), gathered(c_np)
    # all_reduce: y = sum_k x_k on every rank; L = sum_r <c_r, y> => dL/dx_r = sum_k c_k
    x = yingshe.from_numpy(x_np.copy()).requires_grad_()
    y = F.all_reduce(x * 3.0)
    close(y.detach().numpy(), 3 * xs.sum(0), np.float64)
    (y * yingshe.from_numpy(c_np)).sum().backward()
    close(x.grad.numpy(), 3 * cs.sum(0), np.float64)
    # AVG
    x.grad = None
    y = F.all_reduce(x, op=R.AVG)
    close(y.detach().numpy(), xs.mean(0), np.float64)
    (y * yingshe.from_numpy(c_np)).sum().backward()
    close(x.grad.numpy(), cs.mean(0), np.float64)
    # broadcast from the last rank: only it gets the (summed) gradient
    x.grad = None
    y = F.broadcast(x, src=n - 1)
    close(y.detach().numpy(), xs[n - 1], np.float64)
    (y * yingshe.from_numpy(c_np)).sum().backward()
    close(x.grad.numpy(), cs.sum(0) if r == n - 1 else np.zeros(4), np.float64)
    # all_gather: rank r's x feeds slot r of every rank's output
    x.grad = None
    parts = F.all_gather(x)
    close(np.stack([p.detach().numpy() for p in parts]), xs, np.float64)
    w = draw((n, 4), np.float64, 92)
    ws = gathered(w)
    sum(p * yingshe.from_numpy(w[i]) for i, p in enumerate(parts)).sum().backward()
    close(x.grad.numpy(), ws[:, r, :].sum(0), np.float64)
    # reduce_scatter_tensor: the gradient is the all-gathered one
    z = yingshe.from_numpy(w.reshape(-1).copy()).requires_grad_()
    out = F.reduce_scatter_tensor(z)
    close(out.detach().numpy(), ws.sum(0)[r], np.float64)
    (out * yingshe.from_numpy(c_np)).sum().backward()
    close(z.grad.numpy(), cs.reshape(-1), np.float64)


@check
def tf1_graph_averages_gradients_across_ranks():
    xb, yb = draw((8, 3), np.float64, 100), draw((8, 1), np.float64, 101)
    w0 = np.array([[0.5], [-1.0], [2.0]])
    with G.Graph().as_default():
        X = G.placeholder(yingshe.float64, [None, 3])
        Y = G.placeholder(yingshe.float64, [None, 1])
        W = G.Variable(yingshe.from_numpy(w0.copy()))
        loss = ((X @ W - Y) ** 2).mean()
        (g,) = G.gradients(loss, [W])
        g_avg = dist.functional.all_reduce(g, R.AVG)
        train = G.train.GradientDescentOptimizer(0.1).apply_gradients([(g_avg, W)])
        with G.Session() as s:
            s.run(G.global_variables_initializer())
            got_g = s.run(g_avg, {X: xb, Y: yb})
            s.run(train, {X: xb, Y: yb})
            w1 = s.run(W)
    xs, ys = gathered(xb), gathered(yb)
    per_rank = [2 * xs[k].T @ (xs[k] @ w0 - ys[k]) / len(xb) for k in range(size())]
    close(got_g, np.mean(per_rank, 0), np.float64)
    close(w1, w0 - 0.1 * np.mean(per_rank, 0), np.float64)


@check
def compiled_collectives_are_program_nodes():
    F = dist.functional

    def step(x):
        y = F.all_reduce(x * 2.0)
        z = y + 1.0
        dist.all_reduce(z, op=R.MAX)          # in place on a traced value
        return z

    compiled = yingshe.compile(step)          # fallback=None: the collectives must trace
    x_np = draw((5,), np.float32, 110)
    want = 2 * gathered(x_np).sum(0) + 1      # the same on every rank, so MAX keeps it
    for _ in range(2):
        got = compiled(yingshe.from_numpy(x_np.copy()))
        close(got.numpy(), step(yingshe.from_numpy(x_np.copy())).numpy(), np.float32)
        close(got.numpy(), want.astype(np.float32), np.float32)
    assert compiled.traces == 1 and compiled.eager_calls == 0
    text = compiled.explain()
    assert text.count("dist.all_reduce") >= 2, text


# ---- errors ------------------------------------------------------------------------------------

def _raises(cls, fragment: str, fn):
    try:
        fn()
    except cls as err:
        assert fragment in str(err), f"{fragment!r} not in {err}"
        return err
    raise AssertionError(f"expected {cls.__name__} containing {fragment!r}")


@check
def mismatched_shapes_dtypes_and_collectives_raise_on_every_rank():
    dist.set_debug_level(dist.DebugLevel.DETAIL)
    try:
        n3 = 3 + (rank() == 1)
        err = _raises(ShapeError, "different shapes",
                      lambda: dist.all_reduce(yingshe.ones(n3)))
        assert "rank 0: float32 (3,)" in str(err) and "rank 1: float32 (4,)" in str(err), err
        dt = yingshe.float64 if rank() == 1 else yingshe.float32
        _raises(DTypeError, "different dtypes", lambda: dist.all_reduce(yingshe.ones(2, dtype=dt)))
        op = R.MAX if rank() == 1 else R.SUM
        _raises(ValueError, "disagree on the reduction",
                lambda: dist.all_reduce(yingshe.ones(2), op=op))
        if rank() == 1:
            fn = lambda: dist.broadcast(yingshe.ones(2), src=0)  # noqa: E731
        else:
            fn = lambda: dist.all_reduce(yingshe.ones(2))  # noqa: E731
        _raises(RuntimeError, "differs across ranks", fn)
        # the ranks stay in step after the errors
        t = yingshe.ones(2)
        dist.all_reduce(t)
        assert t.tolist() == [size(), size()]
    finally:
        dist.set_debug_level(dist.DebugLevel.OFF)


@check
def default_mode_checks_the_first_calls_of_a_group():
    g = dist.new_group()                 # a fresh group: call 1 is always checked
    _raises(ShapeError, "different shapes",
            lambda: dist.all_reduce(yingshe.ones(2 + rank()), group=g))
    dist.destroy_process_group(g)


@check
def bad_arguments_raise_clear_errors_without_communicating():
    _raises(TypeError, "expected a Tensor", lambda: dist.all_reduce([1.0, 2.0]))
    _raises(ValueError, "invalid src", lambda: dist.broadcast(yingshe.ones(2), src=size()))
    _raises(ValueError, "has 1 tensors",
            lambda: dist.all_gather([yingshe.ones(2)], yingshe.ones(2)))
    _raises(ShapeError, "blocks of the input_tensor shape (2,)",
            lambda: dist.all_gather_into_tensor(yingshe.ones(3), yingshe.ones(2)))
    _raises(DTypeError, "needs an integer", lambda: dist.all_reduce(yingshe.ones(2), op=R.BAND))
    _raises(DTypeError, "floating-point",
            lambda: dist.all_reduce(yingshe.ones(2, dtype=yingshe.int64), op=R.AVG))
    _raises(RuntimeError, "read-only",
            lambda: dist.all_reduce(yingshe.ones(1).expand(3)))
    _raises(ValueError, "to itself", lambda: dist.send(yingshe.ones(1), dst=rank()))
    t = yingshe.ones(2)
    dist.all_reduce(t)                   # still in step
    assert t.tolist() == [size(), size()]


@check
def recv_into_a_tensor_of_another_shape_names_the_sender():
    if rank() == 0:
        dist.send(yingshe.ones(3), dst=1, tag=77)
    elif rank() == 1:
        _raises(ShapeError, "rank 0 sent a float32 tensor of shape (3,)",
                lambda: dist.recv(yingshe.zeros(4), src=0, tag=77))
    dist.barrier()


if __name__ == "__main__":
    run(CHECKS)
