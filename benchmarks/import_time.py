"""How long ``import yingshe`` takes, next to ``import numpy`` (its only hard dependency).

    .venv/bin/python benchmarks/import_time.py            # 7 rounds (the issue's budget)
    .venv/bin/python benchmarks/import_time.py --rounds 15 --show-top 10

Each round runs ``import numpy`` and ``import yingshe`` in two fresh interpreters, one
after the other (alternating, so that a busy machine slows both alike), and times the
import statement alone inside the process (interpreter start-up excluded). One warm-up
round first writes the bytecode caches, as installing a package does. Prints the
median of each and their ratio; the target is ``import yingshe`` within 3x
``import numpy``. ``--show-top`` adds the modules with the largest own import time
(``python -X importtime``) of one more ``import yingshe``. A benchmark, not a test:
nothing here asserts, since wall-clock times on a shared machine are noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMER = ("import time; t = time.perf_counter(); import {module}; "
          "print(time.perf_counter() - t)")


def _env() -> dict:
    # this checkout's yingshe, whatever is installed in the environment; bytecode is
    # cached (as for any installed package: pip compiles NumPy's at install), so that
    # PYTHONDONTWRITEBYTECODE=1 does not make every run recompile yingshe's sources
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=ROOT + (os.pathsep + path if path else ""))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def time_import(module: str) -> float:
    """Seconds that ``import module`` takes in a fresh interpreter."""
    # -P: the working directory is not on sys.path, so PYTHONPATH alone says which yingshe
    out = subprocess.run([sys.executable, "-P", "-c", _TIMER.format(module=module)], env=_env(),
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def top_imports(module: str, n: int) -> list[tuple[float, str]]:
    """The ``n`` modules with the largest own import time (ms) under ``-X importtime``."""
    out = subprocess.run([sys.executable, "-P", "-X", "importtime", "-c", f"import {module}"],
                         env=_env(), capture_output=True, text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:"):].split("|")
        rows.append((int(self_us) / 1000.0, name.strip()))
    return sorted(rows, reverse=True)[:n]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--show-top", type=int, default=0, metavar="N")
    args = ap.parse_args(argv)
    numpy_s, yingshe_s = [], []
    time_import("numpy"), time_import("yingshe")   # warm-up: bytecode and file caches
    for _ in range(args.rounds):
        numpy_s.append(time_import("numpy"))
        yingshe_s.append(time_import("yingshe"))
    n, y = statistics.median(numpy_s), statistics.median(yingshe_s)
    print(f"import numpy    median {n * 1000:7.1f} ms   (min {min(numpy_s) * 1000:.1f}, "
          f"max {max(numpy_s) * 1000:.1f}; {args.rounds} fresh processes)")
    print(f"import yingshe  median {y * 1000:7.1f} ms   (min {min(yingshe_s) * 1000:.1f}, "
          f"max {max(yingshe_s) * 1000:.1f}; numpy included)")
    print(f"ratio yingshe / numpy: {y / n:.2f}x   (target: <= 3x)")
    if hasattr(os, "getloadavg"):
        print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for ms, name in top_imports("yingshe", args.show_top):
        print(f"  {ms:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
