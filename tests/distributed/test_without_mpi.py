"""What works and fails before any process group exists, in this process (MPI is never
initialised here): DistributedSampler against PyTorch's, errors for an uninitialised group,
argument checks, SyncBatchNorm without a group and convert_sync_batchnorm."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, strategies as st

import yingshe
import yingshe.distributed as dist
from yingshe import nn
from yingshe.errors import UnsupportedError
from yingshe.testing.reference import torch as import_torch
from yingshe.testing.tolerances import tol
from yingshe.utils.data import DistributedSampler


class Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def _torch_indices(torch, n, replicas, rank, shuffle, drop_last, seed, epoch, order):
    """Real PyTorch's sampler; with ``shuffle`` its permutation is replaced by ``order``
    (the generators differ by design), so what is compared is the partitioning."""
    from torch.utils.data.distributed import DistributedSampler as TorchSampler
    import torch.utils.data.distributed as mod
    s = TorchSampler(Sized(n), num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed,
                     drop_last=drop_last)
    s.set_epoch(epoch)
    real = torch.randperm
    mod.torch.randperm = lambda *a, **k: torch.tensor(order, dtype=torch.int64)
    try:
        return list(s), len(s)
    finally:
        mod.torch.randperm = real


@given(n=st.integers(0, 23), replicas=st.integers(1, 5), shuffle=st.booleans(),
       drop_last=st.booleans(), seed=st.integers(0, 50), epoch=st.integers(0, 3))
def test_sampler_partitions_as_pytorch(n, replicas, shuffle, drop_last, seed, epoch):
    torch = import_torch()
    for rank in range(replicas):
        s = DistributedSampler(Sized(n), num_replicas=replicas, rank=rank, shuffle=shuffle,
                               seed=seed, drop_last=drop_last)
        s.set_epoch(epoch)
        want, want_len = _torch_indices(torch, n, replicas, rank, shuffle, drop_last, seed,
                                        epoch, s.order())
        assert list(s) == want and len(s) == want_len


def test_sampler_shuffles_per_epoch_and_seed_identically_on_every_rank():
    a = DistributedSampler(Sized(50), num_replicas=2, rank=0, seed=3)
    b = DistributedSampler(Sized(50), num_replicas=2, rank=1, seed=3)
    assert a.order() == b.order() and sorted(a.order()) == list(range(50))
    assert sorted(list(a) + list(b)) == list(range(50))
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    a.set_epoch(0)
    assert list(a) == first
    assert DistributedSampler(Sized(50), 2, 0, seed=4).order() != a.order()


def test_sampler_errors_as_pytorch():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval "
                                         r"\[0, 1\]"):
        DistributedSampler(Sized(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="has not been initialized"):
        DistributedSampler(Sized(4))


def test_uninitialised_group_errors_name_the_fix():
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, dist.barrier,
                 lambda: dist.all_reduce(yingshe.ones(2)),
                 lambda: dist.functional.all_reduce(yingshe.ones(2)),
                 lambda: nn.parallel.DistributedDataParallel(nn.Linear(2, 2))):
        with pytest.raises(ValueError, match="Default process group has not been "
                                             "initialized.*yingshe run -n N"):
            call()
    assert "mpi4py.MPI" not in sys.modules


def test_init_process_group_refuses_other_backends_and_stores_before_starting_mpi():
    with pytest.raises(ValueError, match="runs on MPI.*maps 'gloo' and 'nccl'"):
        dist.init_process_group("gloo")
    with pytest.raises(UnsupportedError, match="store="):
        dist.init_process_group("mpi", store=object())
    with pytest.raises(ValueError, match="unknown backend"):
        import yingshe.torch.distributed as tdist
        tdist.init_process_group("ucc")
    assert "mpi4py.MPI" not in sys.modules and not dist.is_initialized()


def test_reduce_ops_and_names():
    assert repr(dist.ReduceOp.SUM) == "<RedOpType.SUM: 0>" and str(dist.ReduceOp.MAX) == \
        "RedOpType.MAX"
    assert dist.as_redop("avg", "x") is dist.ReduceOp.AVG
    with pytest.raises(TypeError, match="op must be a ReduceOp"):
        dist.as_redop("mean", "all_reduce")
    with pytest.raises(UnsupportedError, match="PREMUL_SUM"):
        dist.as_redop(dist.ReduceOp.PREMUL_SUM, "all_reduce")
    assert dist.Backend("MPI") == "mpi" == dist.Backend.MPI
    dist.set_debug_level(dist.DebugLevel.DETAIL)
    assert dist.get_debug_level() == "DETAIL"
    dist.set_debug_level("off")
    assert dist.get_debug_level() == "OFF"
    with pytest.raises(ValueError):
        dist.set_debug_level("loud")


def test_syncbatchnorm_without_a_group_is_batchnorm():
    yingshe.manual_seed(0)
    bn, sbn = nn.BatchNorm2d(3), nn.SyncBatchNorm(3)
    x = yingshe.tensor(np.random.default_rng(0).standard_normal((4, 3, 5, 5)), dtype=yingshe.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    bn.double(), sbn.double()
    (bn(xa) ** 2).sum().backward()
    (sbn(xb) ** 2).sum().backward()
    np.testing.assert_array_equal(xb.grad.numpy(), xa.grad.numpy())
    np.testing.assert_array_equal(sbn.running_var.numpy(), bn.running_var.numpy())
    with pytest.raises(ValueError, match=r"expected at least 2D input \(got 1D input\)"):
        sbn(yingshe.ones(3))
    sbn(yingshe.ones(2, 3, dtype=yingshe.float64))   # any input of at least 2 dims


def test_convert_sync_batchnorm_keeps_the_parameters_buffers_and_mode():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, momentum=0.3),
                          nn.Sequential(nn.BatchNorm1d(4, affine=False)))
    model[1].eval()
    bn, inner = model[1], model[2][0]
    out = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert out is model and type(out[0]) is nn.Conv2d
    s = out[1]
    assert type(s) is nn.SyncBatchNorm and s.momentum == 0.3 and not s.training
    assert s.weight is bn.weight and s.bias is bn.bias
    assert s.running_mean is bn.running_mean and s.num_batches_tracked is bn.num_batches_tracked
    assert type(out[2][0]) is nn.SyncBatchNorm and out[2][0].weight is None
    assert out[2][0].running_var is inner.running_var
    assert list(dict(out.state_dict())) == list(dict(model.state_dict()))


def test_syncbatchnorm_matches_pytorch_without_a_group():
    torch = import_torch()
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    ours = nn.SyncBatchNorm(3)
    ours.eval()
    ref = torch.nn.SyncBatchNorm(3)
    ref.eval()
    rtol, atol = tol("reference", np.float32)
    np.testing.assert_allclose(ours(yingshe.tensor(x)).detach().numpy(),
                               ref(torch.from_numpy(x)).detach().numpy(), rtol=rtol, atol=atol)
    assert list(ours.state_dict()) == list(ref.state_dict())
