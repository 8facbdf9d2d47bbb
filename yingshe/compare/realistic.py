"""A realistic-size workload: one epoch of LeNet over 60,000 28x28 images read from IDX files.

The step benchmark (``harness``) times single training steps on arrays already in
memory; this one times what a user's first real run does: images and labels are read
from MNIST-format IDX files, served by a ``DataLoader`` with worker processes
(shuffled batches of 64), and a LeNet-5 is trained for one epoch with SGD + momentum.

The images are synthetic but learnable (no download): each class has a template made
of a few Gaussian strokes; an image is its class template, shifted by up to 3 pixels,
scaled in brightness, plus noise, stored as uint8. Both engines start from the same
initial weights (PyTorch's default initialisation bounds, drawn with NumPy), read the
same files, and each runs in a process of its own:

    python -m yingshe.compare.realistic --engine yingshe-eager --data DIR --out r.json

``run()`` writes the data, starts one process per engine and collects the records
(samples per second, peak RSS of the main process and of its DataLoader workers,
time to the first batch, the epoch's train loss and accuracy, held-out accuracy);
``format_table`` renders them as Markdown. ``benchmarks/realistic.py`` is the command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
import traceback

import numpy as np

from yingshe.compare.harness import _child_env, available, run_child
from yingshe.compare.workloads import _conv, _linear

__all__ = ["make_images", "write_dataset", "initial_weights", "run", "format_table",
           "FILES", "ENGINES"]

ENGINES = ("yingshe-eager", "torch-eager")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
CLASSES = 10
SIDE = 28


# ---- data -----------------------------------------------------------------------------------

def _templates(rng) -> np.ndarray:
    """(10, 28, 28) float32 class templates in [0, 1]: 3 Gaussian strokes each."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    out = np.zeros((CLASSES, SIDE, SIDE), np.float32)
    for k in range(CLASSES):
        for _ in range(3):
            cy, cx = rng.uniform(8, 20, 2)
            sy, sx = rng.uniform(1.2, 4.0, 2)
            angle = rng.uniform(0, np.pi)
            c, s = np.cos(angle), np.sin(angle)
            u, v = c * (xx - cx) + s * (yy - cy), -s * (xx - cx) + c * (yy - cy)
            out[k] += np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
        out[k] /= out[k].max()
    return out


def make_images(n: int, seed: int = 0, template_seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (n, 28, 28) and uint8 labels (n,); the same templates for
    every ``seed`` (train and test splits differ only in their draws)."""
    templates = _templates(np.random.default_rng(template_seed))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n).astype(np.uint8)
    pad = 3
    padded = np.pad(templates, ((0, 0), (pad, pad), (pad, pad)))
    images = np.empty((n, SIDE, SIDE), np.uint8)
    chunk = 4096
    for start in range(0, n, chunk):
        lab = labels[start:start + chunk]
        m = len(lab)
        dy, dx = rng.integers(0, 2 * pad + 1, (2, m))
        rows = dy[:, None] + np.arange(SIDE)[None]           # (m, 28)
        cols = dx[:, None] + np.arange(SIDE)[None]
        img = padded[lab[:, None, None], rows[:, :, None], cols[:, None, :]]
        img = img * rng.uniform(0.5, 1.0, (m, 1, 1)).astype(np.float32) * 255.0
        img += rng.normal(0.0, 40.0, img.shape).astype(np.float32)
        images[start:start + m] = np.clip(img, 0, 255).astype(np.uint8)
    return images, labels


def write_dataset(folder: str, n_train: int = 60000, n_test: int = 10000, seed: int = 0,
                  gzip: bool = False) -> dict[str, tuple[str, str]]:
    """Write the train and test IDX files into ``folder``; returns their paths."""
    from yingshe.datasets import write_idx
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for split, n, s in (("train", n_train, seed), ("test", n_test, seed + 1)):
        images, labels = make_images(n, seed=s)
        ext = ".gz" if gzip else ""
        img_path, lbl_path = (os.path.join(folder, f + ext) for f in FILES[split])
        write_idx(img_path, images)
        write_idx(lbl_path, labels)
        paths[split] = (img_path, lbl_path)
    return paths


def initial_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """LeNet-5 weights in PyTorch's layout, with PyTorch's default init bounds."""
    rng = np.random.default_rng(seed)
    params = {}
    params.update(_conv(rng, 1, 6, 5, "conv1"))
    params.update(_conv(rng, 6, 16, 5, "conv2"))
    params.update(_linear(rng, 400, 120, "fc1"))
    params.update(_linear(rng, 120, 84, "fc2"))
    params.update(_linear(rng, 84, CLASSES, "fc3"))
    return params


# ---- one engine, in this process ------------------------------------------------------------

def _loaders(engine: str, m, paths, batch_size: int, workers: int, seed: int,
             torch_loader: str):
    if engine == "yingshe-eager":
        from yingshe.datasets import IDXDataset
        from yingshe.utils.data import DataLoader
        train = IDXDataset(*paths["train"])
        test = IDXDataset(*paths["test"])
        gen = m.Generator().manual_seed(seed) if hasattr(m, "Generator") else None
        kw = {"generator": gen} if gen is not None else {}
        return (DataLoader(train, batch_size=batch_size, shuffle=True, num_workers=workers, **kw),
                DataLoader(test, batch_size=1000), "IDXDataset")

    from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

    from yingshe.datasets import read_idx   # NumPy only: no yingshe tensors in this process

    class IDXImages(Dataset):
        """(image, label) from IDX arrays: float32 (1, 28, 28) in [0, 1], int64."""

        def __init__(self, images_path, labels_path):
            self.images = read_idx(images_path)
            self.labels = read_idx(labels_path).astype(np.int64)

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, idx):      # an int, or (batched loader) a list of ints
            img = self.images[idx].astype(np.float32) / np.float32(255.0)
            return m.from_numpy(img[..., None, :, :]), m.as_tensor(self.labels[idx])

    train, test = IDXImages(*paths["train"]), IDXImages(*paths["test"])
    gen = m.Generator().manual_seed(seed)
    if torch_loader == "batched":
        sampler = BatchSampler(RandomSampler(train, generator=gen), batch_size, drop_last=False)
        loader = DataLoader(train, sampler=sampler, batch_size=None, num_workers=workers)
        how = "Dataset, batched indexing"
    else:
        loader = DataLoader(train, batch_size=batch_size, shuffle=True, num_workers=workers,
                            generator=gen)
        how = "Dataset, per-sample __getitem__"
    return loader, DataLoader(test, batch_size=1000), how


def train_one_epoch(engine: str, paths, batch_size: int = 64, workers: int = 2, lr: float = 0.01,
                    momentum: float = 0.9, seed: int = 0, torch_loader: str = "per-sample"
                    ) -> dict:
    """Train LeNet for one epoch with ``engine`` in this process; returns the record."""
    from yingshe.compare.engines.pytorch_style import LeNet
    t0 = time.perf_counter()
    if engine.startswith("torch"):
        import torch as m
        m.set_num_threads(int(os.environ.get("YINGSHE_BENCH_THREADS", "1")))
        m.manual_seed(seed)
    else:
        import yingshe as m
        m.manual_seed(seed)
    import_s = time.perf_counter() - t0

    model = LeNet(m, CLASSES)
    model.load_state_dict({k: m.from_numpy(v) for k, v in initial_weights(seed).items()})
    opt = m.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = m.nn.CrossEntropyLoss()
    train_loader, test_loader, dataset_kind = _loaders(engine, m, paths, batch_size, workers,
                                                       seed, torch_loader)

    model.train()
    losses, correct, seen = [], 0, 0
    first_batch_s = None
    t_start = time.perf_counter()
    for xb, yb in train_loader:
        if first_batch_s is None:
            first_batch_s = time.perf_counter() - t_start
        opt.zero_grad()
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
        correct += int((out.argmax(1) == yb).sum().item())
        seen += int(yb.shape[0])
    epoch_s = time.perf_counter() - t_start

    model.eval()
    test_correct = test_seen = 0
    with m.no_grad():
        for xb, yb in test_loader:
            test_correct += int((model(xb).argmax(1) == yb).sum().item())
            test_seen += int(yb.shape[0])
    tail = losses[-50:]
    return {
        "engine": engine, "version": getattr(m, "__version__", "?"), "dataset": dataset_kind,
        "samples": seen, "batches": len(losses), "batch_size": batch_size, "workers": workers,
        "epoch_s": epoch_s, "samples_per_s": seen / epoch_s if epoch_s > 0 else math.nan,
        "first_batch_s": first_batch_s, "import_s": import_s,
        "step0_loss": losses[0] if losses else math.nan,
        "train_loss": float(np.mean(losses)) if losses else math.nan,
        "final_loss": float(np.mean(tail)) if tail else math.nan,
        "train_accuracy": correct / max(seen, 1),
        "test_accuracy": test_correct / max(test_seen, 1), "test_samples": test_seen,
    }


# ---- the parent: data once, one process per engine ------------------------------------------

def run(limit: int | None = None, engines=ENGINES, batch_size: int = 64, workers: int = 2,
        threads: int | None = None, gzip: bool = False, data_dir: str | None = None,
        seed: int = 0, torch_loader: str = "per-sample", timeout: float = 1800,
        keep_openblas_env: bool = False, on_result=None) -> dict:
    """Write the IDX files (``limit`` training images, default 60,000; test images:
    10,000, or ``limit // 6`` when smaller), run each engine in its own process and
    return ``{"data": ..., "results": [record, ...]}``."""
    n_train = 60000 if limit is None else int(limit)
    n_test = min(10000, max(n_train // 6, 100))
    threads = threads or 1
    env = _child_env(threads, keep_openblas_env)
    results = []
    with tempfile.TemporaryDirectory(prefix="yingshe-realistic-") as tmp:
        folder = data_dir or os.path.join(tmp, "data")
        t0 = time.perf_counter()
        paths = write_dataset(folder, n_train, n_test, seed=seed, gzip=gzip)
        data = {"train": n_train, "test": n_test, "gzip": gzip, "folder": folder,
                "write_s": time.perf_counter() - t0,
                "bytes": sum(os.path.getsize(p) for v in paths.values() for p in v)}
        for engine in engines:
            ok, install = available(engine)
            if not ok:
                rec = {"engine": engine, "status": "skipped",
                       "reason": f"not installed ({install})"}
            else:
                out = os.path.join(tmp, f"{engine}.json")
                cmd = [sys.executable, "-m", "yingshe.compare.realistic", "--engine", engine,
                       "--data", folder, "--out", out, "--batch-size", str(batch_size),
                       "--workers", str(workers), "--seed", str(seed),
                       "--torch-loader", torch_loader] + (["--gzip"] if gzip else [])
                rec = run_child(cmd, env, out, timeout, {"engine": engine})
            rec["threads"] = threads
            results.append(rec)
            if on_result is not None:
                on_result(rec)
    return {"data": data, "results": results}


def format_table(report: dict) -> str:
    """The records as a Markdown table."""
    d = report["data"]
    lines = [f"One epoch of LeNet-5 over {d['train']:,} synthetic 1x28x28 IDX images "
             f"({'gzip' if d['gzip'] else 'raw'}), held-out {d['test']:,}.", "",
             "| engine | dataset | samples/s | epoch s | first batch s | peak RSS MB (main) "
             "| peak RSS MB (largest worker) | step-0 loss | final loss | train loss | train acc "
             "| test acc |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        if r.get("status") != "ok":
            why = r.get("reason") or (r.get("error") or "").strip().splitlines()[-1:][0][:80] \
                if (r.get("reason") or r.get("error")) else ""
            lines.append(f"| {r['engine']} | {r.get('status')}: {why} |" + " |" * 10)
            continue
        lines.append(
            f"| {r['engine']} {r['version']} | {r['dataset']} | {r['samples_per_s']:,.0f} | "
            f"{r['epoch_s']:.1f} | {r['first_batch_s']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['peak_rss_children_mb']:.0f} | {r['step0_loss']:.4f} | {r['final_loss']:.4f} | "
            f"{r['train_loss']:.4f} | {r['train_accuracy']:.4f} | {r['test_accuracy']:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m yingshe.compare.realistic",
                                description="Train one engine for one epoch (a child process "
                                            "of run()).")
    p.add_argument("--engine", required=True, choices=ENGINES)
    p.add_argument("--data", required=True, help="folder holding the IDX files")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--torch-loader", choices=("per-sample", "batched"), default="per-sample")
    args = p.parse_args(argv)
    ext = ".gz" if args.gzip else ""
    paths = {k: tuple(os.path.join(args.data, f + ext) for f in v) for k, v in FILES.items()}
    t0 = time.perf_counter()
    try:
        rec = train_one_epoch(args.engine, paths, args.batch_size, args.workers, seed=args.seed,
                              torch_loader=args.torch_loader)
        rec["status"] = "ok"
    except Exception as err:  # noqa: BLE001 - reported in the record; other engines go on
        rec = {"engine": args.engine, "status": "failed", "error": f"{type(err).__name__}: {err}",
               "traceback": traceback.format_exc()}
    rec["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    rec["peak_rss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    rec["wall_s"] = time.perf_counter() - t0
    rec["modules"] = sorted(m for m in ("torch", "tensorflow") if m in sys.modules)
    with open(args.out, "w") as fh:
        json.dump(rec, fh)
    return 0 if rec["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
