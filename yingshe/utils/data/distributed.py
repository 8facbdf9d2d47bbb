"""``DistributedSampler``: each rank's share of a dataset (``torch.utils.data.distributed``).

PyTorch's partitioning: the index list (a permutation seeded with ``seed + epoch`` when
``shuffle``, else ``0..n-1``) is padded by repeating its beginning to a multiple of the
number of replicas (or cut to one with ``drop_last``), and rank r takes every
``num_replicas``-th index starting at r. The permutation comes from yingshe's generator
(PCG64), so shuffled orders differ from PyTorch's for the same seed (as every random
stream does); the partitioning of a given order is PyTorch's.
"""

from __future__ import annotations

import math

from yingshe.utils.data.sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Restrict loading to this rank's subset of ``dataset`` (disjoint across ranks,
    covering the dataset; padded by repetition unless ``drop_last``).

    Args:
        dataset: a dataset with ``len()``.
        num_replicas: number of ranks (default: the default process group's size).
        rank: this rank (default: the default process group's rank).
        shuffle: a new permutation per epoch (call ``set_epoch`` before each epoch).
        seed: the shuffle seed; must be the same on every rank.
        drop_last: drop the tail instead of padding to a multiple of ``num_replicas``.

    Example:
        >>> sampler = DistributedSampler(dataset)
        >>> loader = DataLoader(dataset, batch_size=32, sampler=sampler)
        >>> for epoch in range(3):
        ...     sampler.set_epoch(epoch)
        ...     for x, y in loader: ...
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from yingshe import distributed as dist
            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available")
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, "
                             f"got {num_replicas!r}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            # the largest multiple of num_replicas that fits (an exact division drops none)
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def order(self) -> list[int]:
        """The epoch's full index order before partitioning (the same on every rank)."""
        n = len(self.dataset)
        if not self.shuffle:
            return list(range(n))
        from yingshe import random as yrandom
        from yingshe._creation import randperm
        g = yrandom.Generator().manual_seed(self.seed + self.epoch)
        return randperm(n, generator=g).tolist()

    def __iter__(self):
        indices = self.order()
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad > 0 and indices:
                # repeat the beginning (the whole list as often as needed) to fill the pad
                repeats = math.ceil(pad / len(indices))
                indices = indices + (indices * repeats)[:pad]
        else:
            indices = indices[:self.total_size]
        if len(indices) != self.total_size:
            raise RuntimeError(f"DistributedSampler: {len(indices)} indices for a total size "
                               f"of {self.total_size} (the dataset changed size?)")
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next iteration's shuffle (``seed + epoch``)."""
        self.epoch = epoch
