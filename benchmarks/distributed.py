"""Data parallelism on MPI: all-reduce bandwidth against raw mpi4py, and training steps at
1 and 2 ranks.

    .venv/bin/python benchmarks/distributed.py [--rounds 3] [--steps 30] [--ranks 1 2]
                                               [--sizes-kib 4 64 1024 16384] [--no-train]
    .venv/bin/python benchmarks/distributed.py --report benchmarks/results/distributed.json

Each measurement runs in its own ``mpirun`` job, one BLAS thread per rank.

* all-reduce (2 ranks): on the same float32 buffer, blocks of back-to-back calls of raw
  ``comm.Allreduce(IN_PLACE, buf)`` and ``yingshe.distributed.all_reduce(tensor)``
  (blocking), and of raw ``Iallreduce`` + ``Wait`` and ``all_reduce(async_op=True).wait()``,
  the four interleaved block by block; the time per call of each one's fastest block, the
  bus bandwidth (2 (n-1)/n bytes / time) and the ratio yingshe/raw (the target is at
  least 90 %).
* training: the MLP workload (784-512-512-10, batch 128, Adam) and cnnbn (conv5x5 1->16
  pad 2, BatchNorm, ReLU, maxpool 2, conv5x5 16->32 pad 2, BatchNorm, ReLU, maxpool 2,
  linear 1568->10, batch 100, Adam 1e-3) at 1 rank (the plain model) and 2 ranks
  (``DistributedDataParallel``, SyncBatchNorm in cnnbn), each rank with the workload's
  batch (the global batch grows with the ranks), eager and compiled; median ms per step
  and samples per second over all ranks.

With ``--rounds N`` every job runs N times, interleaved, and the table keeps the quietest
round (the lowest median); all rounds are in the JSON. Writes
benchmarks/results/distributed.json. On a shared machine read the ratios, not the times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)      # this checkout's yingshe, in the parent and in the ranks


# ---- inside the ranks -----------------------------------------------------------------------

def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _bench_allreduce(sizes_kib, out, blocks=9):
    import numpy as np
    import yingshe
    import yingshe.distributed as dist
    from mpi4py import MPI
    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD.Dup()
    n = comm.Get_size()
    rows = []
    for kib in sizes_kib:
        buf = np.ones(kib * 256, np.float32)     # kib KiB of float32
        t = yingshe.from_numpy(buf)
        reps = max(3, min(200, (16 * 1024) // kib))

        def raw():
            comm.Allreduce(MPI.IN_PLACE, buf, MPI.SUM)

        def ours():
            dist.all_reduce(t)

        def raw_async():
            comm.Iallreduce(MPI.IN_PLACE, buf, MPI.SUM).Wait()

        def ours_async():
            dist.all_reduce(t, async_op=True).wait()

        timings = {k: [] for k in ("raw", "yingshe", "raw_async", "yingshe_async")}
        fns = {"raw": raw, "yingshe": ours, "raw_async": raw_async,
               "yingshe_async": ours_async}
        for f in fns.values():
            f()
        # blocks of back-to-back calls, the four kinds interleaved block by block (a
        # neighbour's burst hits every kind alike); each kind's fastest block is kept: on a
        # shared machine it is the one least disturbed
        for _ in range(blocks):
            for k, f in fns.items():
                comm.Barrier()
                t0 = time.perf_counter()
                for _ in range(reps):
                    f()
                timings[k].append((time.perf_counter() - t0) / reps)
        med = {k: min(v) for k, v in timings.items()}
        nbytes = buf.nbytes
        bus = {k: 2 * (n - 1) / n * nbytes / v / 1e9 for k, v in med.items()}
        rows.append({"kib": kib, "reps": reps, "blocks": blocks,
                     "best_us": {k: v * 1e6 for k, v in med.items()},
                     "busbw_gbs": bus,
                     "ratio_blocking": med["raw"] / med["yingshe"],
                     "ratio_async": med["raw_async"] / med["yingshe_async"]})
    if dist.get_rank() == 0:
        with open(out, "w") as fh:
            json.dump({"ranks": n, "allreduce": rows}, fh)
    dist.destroy_process_group()


def _cnnbn(nn):
    return nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(16, 32, 5, padding=2),
                         nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(1568, 10))


def _bench_train(workload, engine, steps, warmup, out):
    import numpy as np
    import yingshe
    import yingshe.distributed as dist
    from yingshe import nn
    from yingshe.compare.engines.pytorch_style import build_model
    from yingshe.compare.workloads import WORKLOADS, build
    dist.init_process_group("mpi")
    r, n = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(r)
    if workload == "mlp":
        w = WORKLOADS["mlp"]
        arrays = build("mlp")
        params = {k[len("param."):]: v for k, v in arrays.items() if k.startswith("param.")}
        model, batch = build_model(yingshe, w, params), w.batch
        x_all, y_all = arrays["x"], arrays["y"]
    else:
        yingshe.manual_seed(0)
        model, batch = _cnnbn(nn), 100
        x_all = rng.standard_normal((4 * batch, 1, 28, 28)).astype(np.float32)
        y_all = rng.integers(0, 10, 4 * batch)
        if n > 1:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = nn.parallel.DistributedDataParallel(model) if n > 1 else model
    opt = yingshe.optim.Adam(net.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    if engine == "compiled":
        step = yingshe.compile(step)
    times = []
    for i in range(warmup + steps):
        lo = ((i * n + r) * batch) % (len(x_all) - batch + 1)
        x = yingshe.from_numpy(x_all[lo:lo + batch])
        y = yingshe.from_numpy(np.asarray(y_all[lo:lo + batch]))
        dist.barrier()
        t0 = time.perf_counter()
        step(x, y).item()
        times.append(time.perf_counter() - t0)
    med = _median(times[warmup:])
    slowest = yingshe.tensor([med], dtype=yingshe.float64)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)   # a step is as slow as its slowest rank
    if r == 0:
        with open(out, "w") as fh:
            json.dump({"workload": workload, "engine": engine, "ranks": n, "batch": batch,
                       "median_ms": slowest.item() * 1e3,
                       "samples_per_s": n * batch / slowest.item(),
                       "compiled_traces": getattr(step, "traces", None)}, fh)
    dist.destroy_process_group()


# ---- the parent -------------------------------------------------------------------------------

def _job(nprocs, args, timeout=1800):
    from yingshe.distributed.launch import mpirun_command
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        env = dict(os.environ)
        env.pop("OPENBLAS_CORETYPE", None)   # see README: slows a current NumPy
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"
        env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
        cmd = mpirun_command(nprocs, [sys.executable, os.path.abspath(__file__), "--worker",
                                      out] + args)
        proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f"{' '.join(args)} on {nprocs} ranks failed:\n"
                               f"{proc.stderr[-3000:]}")
        with open(out) as fh:
            return json.load(fh)


def _machine() -> dict:
    import platform
    import numpy
    info = {"python": platform.python_version(), "numpy": numpy.__version__,
            "cpus": len(os.sched_getaffinity(0))}
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in fh
                               if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import mpi4py
        info["mpi4py"] = mpi4py.__version__
        info["mpi"] = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mpirun"),
                                      "--version"], capture_output=True, text=True
                                     ).stdout.splitlines()[0]
    except Exception:  # noqa: BLE001 - informational only
        pass
    info["load_average"] = os.getloadavg()
    return info


def report(result: dict) -> str:
    """The Markdown tables of a result (each kind's quietest round, chosen separately)."""
    lines = []
    if result["allreduce_rounds"]:
        lines += ["", "all-reduce of float32 on 2 ranks, time per call in the fastest block of "
                  "calls over every round (yingshe vs raw mpi4py on the same buffer)", "",
                  "| size | raw mpi4py | yingshe | yingshe/raw | raw async | yingshe async | "
                  "yingshe/raw async |", "|---|---|---|---|---|---|---|"]
        for rows in zip(*result["allreduce_rounds"]):
            t = {k: min(r["best_us"][k] for r in rows) for k in rows[0]["best_us"]}
            n = result.get("allreduce_ranks", 2)
            nbytes = rows[0]["kib"] * 1024
            bus = {k: 2 * (n - 1) / n * nbytes / (v * 1e-6) / 1e9 for k, v in t.items()}
            lines.append(
                f"| {rows[0]['kib']} KiB | {t['raw']:.1f} us ({bus['raw']:.2f} GB/s) | "
                f"{t['yingshe']:.1f} us ({bus['yingshe']:.2f} GB/s) | "
                f"{t['raw'] / t['yingshe']:.0%} | {t['raw_async']:.1f} us | "
                f"{t['yingshe_async']:.1f} us | {t['raw_async'] / t['yingshe_async']:.0%} |")
    if result["train_rounds"]:
        lines += ["", "training step, one thread per rank, each rank the workload's batch "
                  "(each row's quietest round)", "",
                  "| workload | engine | ranks | ms/step | samples/s | vs 1 rank |",
                  "|---|---|---|---|---|---|"]
        best_rows = [min(rows, key=lambda r: r["median_ms"])
                     for rows in zip(*result["train_rounds"])]
        one = {(r["workload"], r["engine"]): r for r in best_rows if r["ranks"] == 1}
        for rec in best_rows:
            base = one.get((rec["workload"], rec["engine"]))
            up = f"{rec['samples_per_s'] / base['samples_per_s']:.2f}x" if base else "-"
            lines.append(f"| {rec['workload']} | {rec['engine']} | {rec['ranks']} | "
                         f"{rec['median_ms']:.2f} | {rec['samples_per_s']:.0f} | {up} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sizes-kib", type=int, nargs="+", default=[4, 64, 1024, 16384])
    p.add_argument("--workloads", nargs="+", default=["mlp", "cnnbn"])
    p.add_argument("--engines", nargs="+", default=["eager", "compiled"])
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--no-allreduce", action="store_true")
    p.add_argument("--out", default=os.path.join(HERE, "results", "distributed.json"))
    p.add_argument("--report", metavar="JSON", help="print the tables of a saved result")
    p.add_argument("--worker", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.report:
        with open(args.report) as fh:
            print(report(json.load(fh)))
        return
    if args.worker:
        out, kind, *rest = args.worker
        if kind == "allreduce":
            _bench_allreduce([int(s) for s in rest], out)
        else:
            _bench_train(rest[0], rest[1], int(rest[2]), int(rest[3]), out)
        return

    machine = _machine()
    print(f"machine: {machine.get('cpu', '?')}, {machine['cpus']} cpus, load "
          f"{machine['load_average'][0]:.1f}, {machine.get('mpi', '')}", flush=True)
    result = {"machine": machine, "allreduce_rounds": [], "train_rounds": []}
    for k in range(args.rounds):
        if not args.no_allreduce:
            ar = _job(2, ["allreduce"] + [str(s) for s in args.sizes_kib])
            result["allreduce_rounds"].append(ar["allreduce"])
            print(f"  round {k + 1}: all-reduce done", flush=True)
        if not args.no_train:
            rows = []
            for wl in args.workloads:
                for eng in args.engines:
                    for n in args.ranks:
                        rec = _job(n, ["train", wl, eng, str(args.steps), str(args.warmup)])
                        rows.append(rec)
                        print(f"  round {k + 1}: {wl} {eng} {n} rank(s): "
                              f"{rec['median_ms']:.2f} ms/step, "
                              f"{rec['samples_per_s']:.0f} samples/s", flush=True)
            result["train_rounds"].append(rows)

    print(report(result))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
