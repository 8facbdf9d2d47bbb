"""DistributedDataParallel, SyncBatchNorm, DistributedSampler and checkpoints on real MPI
ranks. The oracle of a data-parallel step is single-process training on the concatenated
global batch (every rank also runs it, on the gathered data); other oracles are named at
each check. Run by tests/distributed/test_training.py on 2 and on 4 ranks.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _worker import registry, run  # noqa: E402

import yingshe  # noqa: E402
import yingshe.distributed as dist  # noqa: E402
from yingshe import nn, optim  # noqa: E402
from yingshe.nn.parallel import DistributedDataParallel as DDP  # noqa: E402
from yingshe.testing.tolerances import tol  # noqa: E402
from yingshe.utils.data import DistributedSampler  # noqa: E402

CHECKS, check = registry()
F = nn.functional
RTOL, ATOL = tol("reference", np.float32)   # the reductions sum in another order
# running statistics are averages over the whole trajectory of batch statistics, each
# from parameters that already differ by float32 roundoff: DESIGN's trajectory tolerance
BUF_RTOL, BUF_ATOL = tol("trajectory", np.float32)


def rank() -> int:
    return dist.get_rank()


def size() -> int:
    return dist.get_world_size()


def gathered(x: np.ndarray) -> np.ndarray:
    """Every rank's ``x``, stacked in rank order, by raw mpi4py."""
    from mpi4py import MPI
    x = np.ascontiguousarray(x)
    out = np.empty((size(),) + x.shape, x.dtype)
    MPI.COMM_WORLD.Allgather(x.reshape(-1).view(np.uint8), out.reshape(-1).view(np.uint8))
    return out


def batches(steps: int, shape, classes: int, per_rank: int, salt: int):
    """The global batch of every step (the same on every rank) and this rank's share."""
    rng = np.random.default_rng(salt)
    out = []
    for _ in range(steps):
        x = rng.standard_normal((per_rank * size(),) + shape).astype(np.float32)
        y = rng.integers(0, classes, per_rank * size())
        mine = slice(rank() * per_rank, (rank() + 1) * per_rank)
        out.append((x, y, x[mine], y[mine]))
    return out


def same_params(a: nn.Module, b: nn.Module, what: str, rtol=RTOL, atol=ATOL) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=rtol,
                                   atol=atol, err_msg=f"{what}: parameter {name}")


def replicas(make):
    """A reference model and a replica with the same weights; the replica starts from
    other values on ranks > 0 (DDP must broadcast rank 0's)."""
    yingshe.manual_seed(0)
    ref = make()
    yingshe.manual_seed(0)
    mine = make()
    if rank() > 0:
        with yingshe.no_grad():
            for p in mine.parameters():
                p.add_(float(rank()))
    return ref, mine


def train_against_single_process(make, shape, classes, opt, steps=20, per_rank=4, salt=0,
                                 convert=None, **ddp_kw):
    ref, mine = replicas(make)
    if convert is not None:
        mine = convert(mine)
    model = DDP(mine, **ddp_kw)
    o_ref, o_ddp = opt(ref.parameters()), opt(model.parameters())
    for step, (x, y, xr, yr) in enumerate(batches(steps, shape, classes, per_rank, salt)):
        o_ref.zero_grad()
        F.cross_entropy(ref(yingshe.tensor(x)), yingshe.tensor(y)).backward()
        o_ref.step()
        o_ddp.zero_grad()
        F.cross_entropy(model(yingshe.tensor(xr)), yingshe.tensor(yr)).backward()
        o_ddp.step()
        same_params(ref, mine, f"step {step}")
    return ref, mine, model


def mlp():
    return nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 16), nn.ReLU(),
                         nn.Linear(16, 5))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 5))


def cnn_bn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))


def sgd(params):
    return optim.SGD(params, lr=0.1, momentum=0.9)


@check
def ddp_mlp_equals_single_process_on_the_global_batch():
    # small buckets: several all-reduces per step
    train_against_single_process(mlp, (12,), 5, sgd, bucket_cap_mb=0.002)


@check
def ddp_cnn_equals_single_process_on_the_global_batch():
    train_against_single_process(cnn, (1, 8, 8), 5, sgd, salt=1)


@check
def syncbn_cnn_equals_batchnorm_on_the_global_batch():
    ref, mine, _ = train_against_single_process(
        cnn_bn, (1, 8, 8), 5, sgd, salt=2, convert=nn.SyncBatchNorm.convert_sync_batchnorm)
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in mine.modules()) == 2
    for (name, a), b in zip(ref.named_buffers(), mine.buffers()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=BUF_RTOL, atol=BUF_ATOL,
                                   err_msg=f"buffer {name}")
    # eval mode uses the (synchronised) running statistics: the same outputs everywhere
    x = yingshe.tensor(np.random.default_rng(9).standard_normal((3, 1, 8, 8)).astype(np.float32))
    ref.eval()
    mine.eval()
    np.testing.assert_allclose(mine(x).detach().numpy(), ref(x).detach().numpy(), rtol=RTOL,
                               atol=ATOL)


@check
def syncbn_uneven_local_batches():
    # rank r holds r + 2 samples: the statistics and gradients are those of the union
    yingshe.manual_seed(0)
    bn_ref, bn = nn.BatchNorm1d(3), nn.SyncBatchNorm(3)
    counts = [r + 2 for r in range(size())]
    rng = np.random.default_rng(5)
    x = rng.standard_normal((sum(counts), 3)).astype(np.float32)
    c = rng.standard_normal((sum(counts), 3)).astype(np.float32)
    lo = sum(counts[:rank()])
    mine = slice(lo, lo + counts[rank()])
    xr = yingshe.tensor(x[mine].copy(), requires_grad=True)
    (bn(xr) * yingshe.tensor(c[mine])).sum().backward()
    xa = yingshe.tensor(x, requires_grad=True)
    (bn_ref(xa) * yingshe.tensor(c)).sum().backward()
    np.testing.assert_allclose(xr.grad.numpy(), xa.grad.numpy()[mine], rtol=RTOL, atol=ATOL)
    # the affine parameters' gradients are local: their sum over the ranks is the whole
    np.testing.assert_allclose(gathered(bn.weight.grad.numpy()).sum(0),
                               bn_ref.weight.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(bn.running_var.numpy(), bn_ref.running_var.numpy(), rtol=RTOL,
                               atol=ATOL)
    np.testing.assert_allclose(bn.running_mean.numpy(), bn_ref.running_mean.numpy(),
                               rtol=RTOL, atol=ATOL)


@check
def no_sync_accumulation_equals_one_larger_step():
    ref, mine = replicas(mlp)
    model = DDP(mine)
    o_ref, o_ddp = sgd(ref.parameters()), sgd(model.parameters())
    (xa, ya, xra, yra), (xb, yb, xrb, yrb) = batches(2, (12,), 5, 3, salt=3)
    with model.no_sync():
        F.cross_entropy(model(yingshe.tensor(xra)), yingshe.tensor(yra)).backward()
    # inside no_sync the gradient is this rank's own: it differs across ranks
    local = mine[0].weight.grad.numpy().copy()
    yingshe.manual_seed(0)
    alone = mlp()
    F.cross_entropy(alone(yingshe.tensor(xra)), yingshe.tensor(yra)).backward()
    np.testing.assert_allclose(local, alone[0].weight.grad.numpy(), rtol=RTOL, atol=ATOL)
    F.cross_entropy(model(yingshe.tensor(xrb)), yingshe.tensor(yrb)).backward()
    o_ddp.step()
    # one larger step: the mean over the ranks of both micro-batches' losses
    n = size()
    loss = sum(F.cross_entropy(ref(yingshe.tensor(x[r * 3:(r + 1) * 3])),
                               yingshe.tensor(y[r * 3:(r + 1) * 3]))
               for x, y in ((xa, ya), (xb, yb)) for r in range(n)) / n
    loss.backward()
    o_ref.step()
    same_params(ref, mine, "after the accumulated step")


@check
def first_bucket_starts_before_backward_reaches_the_first_layer():
    yingshe.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                        nn.Linear(32, 4))
    model = DDP(net, bucket_cap_mb=0.0001)     # ~100 bytes: one bucket per parameter
    events = []

    def comm_hook(state, bucket):
        buf = bucket.buffer() / size()
        work = dist.all_reduce(buf, async_op=True)
        events.append(("started", bucket.index(), [tuple(p.shape) for p in
                                                   bucket.parameters()]))
        return work.get_future()

    model.register_comm_hook(None, comm_hook)

    def mark_layer_0(module, inputs, out):
        # the gradient of layer 0's output exists: backward has reached layer 0
        out.register_hook(lambda g: events.append("reached layer 0"))

    net[0].register_forward_hook(mark_layer_0)
    x = yingshe.tensor(np.random.default_rng(rank()).standard_normal((5, 16))
                       .astype(np.float32))
    model(x).sum().backward()
    reached = events.index("reached layer 0")
    first = events.index(next(e for e in events if e != "reached layer 0"))
    # bucket 0 holds the last layer (buckets follow the reverse order of the parameters;
    # one closes when it holds at least the cap)
    assert events[first][1] == 0 and events[first][2] == [(4,), (4, 32)], events
    assert first < reached, events
    started_before = [e for e in events[:reached] if e != "reached layer 0"]
    assert len(started_before) == 3, events      # the last two layers' buckets
    # and the averaged gradients are right
    g = gathered(np.concatenate([p.grad.numpy().ravel() for p in net.parameters()]))
    np.testing.assert_allclose(g[0], g.mean(0), rtol=RTOL, atol=ATOL)


def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def compiled_equals_eager(eager, compiled_side, data):
    """Train (net, DDP model, optimizer) ``eager`` step by step and the same with its step
    ``yingshe.compile``d (``fallback=None``); losses, parameters and buffers agree to the
    graph-vs-eager tolerance after every step. Returns the compiled step."""
    eager_net, eager_model, eager_opt = eager
    comp_net, comp_model, comp_opt = compiled_side
    compiled = yingshe.compile(lambda x, y: train_step(comp_model, comp_opt, x, y))
    rt, at = tol("graph", np.float32)
    for i, (_, _, xr, yr) in enumerate(data):
        le = train_step(eager_model, eager_opt, yingshe.tensor(xr), yingshe.tensor(yr))
        lc = compiled(yingshe.tensor(xr), yingshe.tensor(yr))
        np.testing.assert_allclose(lc.item(), le.item(), rtol=rt, atol=at)
        same_params(eager_net, comp_net, f"compiled step {i}", rt, at)
        for a, b in zip(eager_net.buffers(), comp_net.buffers()):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=rt, atol=at)
    assert compiled.traces == 1
    return compiled


@check
def compiled_ddp_step_has_the_all_reduces_before_the_update():
    yingshe.manual_seed(0)
    eager_net = mlp()
    yingshe.manual_seed(0)
    comp_net = mlp()
    eager, comp = DDP(eager_net, bucket_cap_mb=0.002), DDP(comp_net, bucket_cap_mb=0.002)
    compiled = compiled_equals_eager(
        (eager_net, eager, optim.Adam(eager.parameters(), lr=1e-2)),
        (comp_net, comp, optim.Adam(comp.parameters(), lr=1e-2)),
        batches(6, (12,), 5, 4, salt=4))
    lines = compiled.explain().splitlines()
    nodes = [ln for ln in lines if " = " in ln and "@" in ln]
    reduces = [i for i, ln in enumerate(nodes) if "dist.all_reduce(" in ln]
    updates = [i for i, ln in enumerate(nodes) if "= assign(" in ln]
    assert len(reduces) >= 2 and updates, "\n".join(nodes)
    assert max(reduces) < min(updates), "\n".join(nodes)


@check
def compiled_syncbn_ddp_step_equals_eager():
    # SyncBatchNorm's all-reduces (forward and backward) and the buffer broadcasts of
    # DDP become program nodes too
    def make():
        yingshe.manual_seed(0)
        net = nn.SyncBatchNorm.convert_sync_batchnorm(cnn_bn())
        return net, DDP(net)

    eager_net, eager = make()
    comp_net, comp = make()
    compiled = compiled_equals_eager((eager_net, eager, sgd(eager.parameters())),
                                     (comp_net, comp, sgd(comp.parameters())),
                                     batches(4, (1, 8, 8), 5, 4, salt=8))
    text = compiled.explain()
    assert text.count("dist.all_reduce(") >= 4 and "dist.broadcast(" in text


@check
def compiled_step_with_find_unused_parameters_is_refused_on_every_rank():
    from yingshe.graph.trace import TraceError
    yingshe.manual_seed(0)
    net = mlp()
    model = DDP(net, find_unused_parameters=True)
    x, y = yingshe.ones(2, 12), yingshe.tensor([0, 1])

    def step():
        net.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    try:
        yingshe.compile(step)()
    except TraceError as err:
        assert "find_unused_parameters=True" in str(err), err
    else:
        raise AssertionError("a compiled step with find_unused_parameters traced")
    eager = step().item()
    fallback = yingshe.compile(step, fallback="eager")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fallback().item() == eager and fallback.eager_calls == 1


@check
def find_unused_parameters_averages_what_each_rank_used():
    class Branchy(nn.Module):
        def __init__(self, never: bool):
            super().__init__()
            self.a = nn.Linear(4, 3)
            self.b = nn.Linear(4, 3)
            if never:
                self.never = nn.Linear(4, 3)

        def forward(self, x, use_b):
            return self.a(x) + (self.b(x) if use_b else 0)

    yingshe.manual_seed(0)
    local = Branchy(True)
    yingshe.manual_seed(0)
    net = Branchy(True)
    model = DDP(net, find_unused_parameters=True)
    x = yingshe.tensor(np.random.default_rng(rank()).standard_normal((6, 4))
                       .astype(np.float32))
    use_b = rank() == 0
    for _ in range(2):          # twice: the reducer is ready again after each step
        net.zero_grad()
        model(x, use_b).sum().backward()
    local(x, use_b).sum().backward()
    for name in ("a.weight", "b.weight", "b.bias"):
        g = local.get_parameter(name).grad
        g = np.zeros((3, 4) if "weight" in name else (3,), np.float32) if g is None \
            else g.numpy()
        np.testing.assert_allclose(net.get_parameter(name).grad.numpy(),
                                   gathered(g).mean(0), rtol=RTOL, atol=ATOL, err_msg=name)
    assert net.never.weight.grad is None and net.never.bias.grad is None
    # rank 0 uses every parameter, the others not: all ranks still take part in agreeing
    # on which parameters some rank used
    yingshe.manual_seed(0)
    pair_local = Branchy(False)
    yingshe.manual_seed(0)
    pair = Branchy(False)
    DDP(pair, find_unused_parameters=True)(x, use_b).sum().backward()
    pair_local(x, use_b).sum().backward()
    g = pair_local.b.weight.grad
    g = np.zeros((3, 4), np.float32) if g is None else g.numpy()
    np.testing.assert_allclose(pair.b.weight.grad.numpy(), gathered(g).mean(0), rtol=RTOL,
                               atol=ATOL)


@check
def unused_parameter_without_find_unused_parameters_is_an_error():
    class Half(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 3)
            self.b = nn.Linear(4, 3)

        def forward(self, x):
            return self.b(x)        # self.a never used

    model = DDP(Half(), bucket_cap_mb=0.00001)
    x = yingshe.ones(2, 4)
    model(x).sum().backward()
    try:
        model(x)
    except RuntimeError as err:
        assert "find_unused_parameters=True" in str(err) and "a.weight" in str(err), err
    else:
        raise AssertionError("expected an error naming the parameters without gradients")


@check
def buffers_are_broadcast_from_rank_0_before_each_forward():
    yingshe.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model = DDP(net)
    rng = np.random.default_rng(rank())
    for step in range(3):
        x = rng.standard_normal((5, 3)).astype(np.float32) + rank()
        before = gathered(net[1].running_mean.numpy())[0]     # rank 0's, before the forward
        out0 = net[0](yingshe.tensor(x)).detach().numpy()
        model(yingshe.tensor(x))
        want = 0.9 * before + 0.1 * out0.mean(0)
        np.testing.assert_allclose(net[1].running_mean.numpy(), want, rtol=RTOL, atol=ATOL)


@check
def checkpoint_on_rank_0_then_load_everywhere_resumes_exactly():
    path = os.path.join(os.environ["RESULTS_DIR"], "ddp-checkpoint.safetensors")
    data = batches(6, (12,), 5, 3, salt=6)

    def fresh():
        yingshe.manual_seed(0)
        net = mlp()
        model = DDP(net)
        return net, model, optim.Adam(model.parameters(), lr=1e-2)

    def train(model, opt, steps):
        for _, _, xr, yr in steps:
            opt.zero_grad()
            F.cross_entropy(model(yingshe.tensor(xr)), yingshe.tensor(yr)).backward()
            opt.step()

    straight, m1, o1 = fresh()
    train(m1, o1, data)
    first, m2, o2 = fresh()
    train(m2, o2, data[:3])
    if rank() == 0:
        yingshe.save({"model": m2.state_dict(), "optim": o2.state_dict(), "step": 3}, path)
    dist.barrier()
    resumed, m3, o3 = fresh()
    state = yingshe.load(path)
    m3.load_state_dict(state["model"])
    o3.load_state_dict(state["optim"])
    assert state["step"] == 3 and "module.0.weight" in state["model"]
    train(m3, o3, data[3:])
    for (name, a), b in zip(straight.named_parameters(), resumed.parameters()):
        np.testing.assert_array_equal(b.detach().numpy(), a.detach().numpy(), err_msg=name)


@check
def distributed_sampler_partitions_are_disjoint_and_covering():
    class Sized:
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    for n_items in (10, 11, 3):
        for shuffle in (False, True):
            for drop_last in (False, True):
                for epoch in (0, 1):
                    s = DistributedSampler(Sized(n_items), shuffle=shuffle, seed=7,
                                           drop_last=drop_last)
                    s.set_epoch(epoch)
                    mine = np.array(list(s), np.int64)
                    assert len(mine) == len(s)
                    every = gathered(mine)
                    flat = every.T.reshape(-1)       # interleaved back into global order
                    if drop_last:
                        assert len(set(flat.tolist())) == flat.size   # disjoint
                        assert flat.size == n_items // size() * size()
                    else:
                        assert set(flat.tolist()) == set(range(n_items))   # covering
                        assert flat.size == -(-n_items // size()) * size()
                        # the padding repeats the beginning of the order
                        order = s.order()
                        want = (order * (flat.size // max(n_items, 1) + 1))[:flat.size]
                        assert flat.tolist() == want
                    if shuffle and epoch == 1:
                        assert s.order() != list(range(n_items)) or n_items < 4


@check
def models_that_differ_across_ranks_are_refused():
    net = nn.Linear(3, 2 + (rank() == size() - 1))
    try:
        DDP(net)
    except ValueError as err:
        assert "models differ" in str(err), err
    else:
        raise AssertionError("DDP accepted models of different shapes")


if __name__ == "__main__":
    run(CHECKS)
