"""torch.multiprocessing.spawn's form inside an MPI launcher (yingshe run -n N): fn runs
on every rank of the launcher; a wrong nprocs is an error.

    spawned.py NPROCS
"""

import sys

import yingshe
import yingshe.torch.distributed as dist
import yingshe.torch.multiprocessing as mp


def work(rank, world_size, tag):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    t = yingshe.ones(2) * (rank + 1)
    dist.all_reduce(t)
    print(f"{tag} rank {rank} of {dist.get_world_size()} sum {t.tolist()}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(work, args=(int(sys.argv[1]), "SPAWNED"), nprocs=int(sys.argv[1]), join=True)
