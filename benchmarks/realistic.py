"""A realistic-size run: one epoch of LeNet-5 over 60,000 IDX images, yingshe vs PyTorch.

    .venv/bin/python benchmarks/realistic.py [--limit 6000] [--workers 2] [--gzip]

Writes synthetic but learnable 1x28x28 uint8 images and labels as MNIST-format IDX
files into a temporary folder, then trains in one process per engine through
``DataLoader(..., batch_size=64, shuffle=True, num_workers=2)``: yingshe's
``IDXDataset``, and a small torch ``Dataset`` over the same IDX arrays with torch's own
DataLoader. Prints a Markdown table (samples/s, peak RSS, loss, accuracy) and writes
benchmarks/results/realistic.json. See yingshe/compare/realistic.py.
"""

import argparse
import json
import os

from yingshe.compare import machine_info
from yingshe.compare.realistic import ENGINES, format_table, run


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None,
                   help="training images (default 60000); the test split is limit // 6")
    p.add_argument("--engines", nargs="*", default=list(ENGINES))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="DataLoader num_workers")
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch intra-op threads")
    p.add_argument("--gzip", action="store_true", help="write .gz IDX files")
    p.add_argument("--torch-loader", choices=("per-sample", "batched"), default="per-sample",
                   help="torch Dataset indexed per sample (the usual) or per batch")
    p.add_argument("--data-dir", default=None, help="keep the IDX files here")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "results", "realistic.json"))
    args = p.parse_args(argv)
    report = run(limit=args.limit, engines=args.engines, batch_size=args.batch_size,
                 workers=args.workers, threads=args.threads, gzip=args.gzip,
                 data_dir=args.data_dir, torch_loader=args.torch_loader,
                 on_result=lambda r: print(f"  {r['engine']:16s} {r.get('status')}", flush=True))
    info = machine_info()
    report["machine"] = info
    print()
    print(f"machine: {info.get('cpu', '?')}, {info['cpus']} cpus, numpy {info['numpy']}, "
          f"{info.get('blas', '')}; {args.threads} thread(s), {args.workers} loader workers")
    print(format_table(report))
    if args.out:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
    return report


if __name__ == "__main__":
    main()
