"""PyTorch's DDP tutorial ("Getting Started with Distributed Data Parallel", basic use
case), on the CPU with the gloo backend, trained from weights and data read from a file.

    python ddp_tutorial.py WORLD_SIZE DATA.npz

Runs on real PyTorch as written; tests/distributed renames its imports
(yingshe.torch._runner.rename_imports) and runs it on yingshe, where mp.spawn relaunches
it under mpirun. Rank 0 prints the loss averaged over the ranks after every step.
"""

import os
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.optim as optim
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def setup(rank, world_size):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = os.environ.get("DDP_TUTORIAL_PORT", "29517")
    dist.init_process_group("gloo", rank=rank, world_size=world_size)


def cleanup():
    dist.destroy_process_group()


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net1 = nn.Linear(10, 10)
        self.relu = nn.ReLU()
        self.net2 = nn.Linear(10, 5)

    def forward(self, x):
        return self.net2(self.relu(self.net1(x)))


def demo_basic(rank, world_size, data_path):
    print(f"Running basic DDP example on rank {rank}.")
    setup(rank, world_size)
    torch.set_num_threads(1)
    data = np.load(data_path)
    model = ToyModel()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(data[name]))
    ddp_model = DDP(model)

    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(ddp_model.parameters(), lr=0.05, momentum=0.9)
    dataset = TensorDataset(torch.from_numpy(data["x"]), torch.from_numpy(data["y"]))
    sampler = DistributedSampler(dataset, shuffle=False)
    loader = DataLoader(dataset, batch_size=8, sampler=sampler)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for step, (x, y) in enumerate(loader):
            optimizer.zero_grad()
            outputs = ddp_model(x)
            loss = loss_fn(outputs, y)
            loss.backward()
            optimizer.step()
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            mean /= world_size
            if rank == 0:
                print(f"LOSS {epoch} {step} {mean.item():.9g}", flush=True)
    if rank == 0:
        for name, p in ddp_model.named_parameters():
            print(f"PARAM {name} {p.detach().sum().item():.9g}", flush=True)
    cleanup()


def run_demo(demo_fn, world_size, data_path):
    mp.spawn(demo_fn, args=(world_size, data_path), nprocs=world_size, join=True)


if __name__ == "__main__":
    run_demo(demo_basic, int(sys.argv[1]), sys.argv[2])
