"""``yingshe.nn.parallel``: ``DistributedDataParallel`` (data parallelism over MPI ranks)."""

from yingshe.nn.parallel.distributed import DistributedDataParallel, GradBucket  # noqa: F401

__all__ = ["DistributedDataParallel", "GradBucket"]
