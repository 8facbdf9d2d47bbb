"""The ``yingshe`` command (also ``python -m yingshe``).

    yingshe compare [--workloads ...] [--engines ...|all] [--steps N] [--out DIR] [--device cpu]
    yingshe bench   [--workloads ...] [--engines ...] [--batch-sizes 32 128 ...] [--steps N]
    yingshe run -n N script.py [args ...]

``compare`` trains the tutorial's models on every installed engine (each in its own
process, from the same initial weights), shows a live progress display and a table,
and writes ``results.json`` and a report (``report.md``, ``report.html``, PNG plots)
to ``--out``. Its exit code is 1 when an engine that started from the shared weights
left the loss-trajectory tolerance. ``bench`` is the speed table of the six speed
workloads across batch sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from datetime import datetime

from yingshe.testing.hang import HANG_GUARD_S

__all__ = ["main"]

_DESCRIPTION = """\
yingshe (映射): one engine with PyTorch's eager face and TensorFlow 1's graph face.

subcommands:
  compare   train the tutorial's models (linear regression on synthetic data and on
            diabetes, logistic regression on breast_cancer, softmax regression on
            digits) on yingshe's eager, graph and compiled paths and on real PyTorch
            and TensorFlow, all from the same initial weights; report loss curves,
            train/test metrics, parity of the loss trajectories, time per step,
            memory, and the graph + generated code of one training step
  bench     the speed table: median ms per training step of the speed
            workloads ({speed}) per engine and
            batch size
  run       run a program on N processes (MPI ranks): `yingshe run -n 4 train.py`
            wraps the mpirun of the distributed extra (yingshe.distributed)

Run `yingshe <subcommand> --help` for the options."""


def _engine_ids():
    from yingshe.compare.engines import ENGINES
    from yingshe.compare.report import order_engines
    return order_engines(ENGINES)


def _resolve_engines(names: list[str] | None) -> list[str]:
    from yingshe.compare.engines import ENGINES
    ids = _engine_ids()
    if not names:
        return [e for e in ids if ENGINES[e][2]]
    out: list[str] = []
    for n in names:
        for part in n.split(","):
            part = part.strip()
            if not part:
                continue
            if part == "all":
                out.extend(ids)
            elif part == "default":
                out.extend(e for e in ids if ENGINES[e][2])
            elif part in ENGINES:
                out.append(part)
            else:
                raise SystemExit(f"yingshe: unknown engine {part!r}; known: "
                                 f"{', '.join(ids)} (or 'all', 'default')")
    return list(dict.fromkeys(out))


def _resolve_workloads(names: list[str] | None, default: tuple[str, ...]) -> list[str]:
    from yingshe.compare.workloads import SPEED, TUTORIAL, WORKLOADS
    if not names:
        return list(default)
    out: list[str] = []
    for n in names:
        for part in n.split(","):
            part = part.strip()
            if part == "tutorial":
                out.extend(TUTORIAL)
            elif part == "speed":
                out.extend(SPEED)
            elif part == "all":
                out.extend(TUTORIAL + SPEED)
            elif part in WORKLOADS:
                out.append(part)
            elif part:
                raise SystemExit(f"yingshe: unknown workload {part!r}; known: "
                                 f"{', '.join(WORKLOADS)} (or 'tutorial', 'speed', 'all')")
    return list(dict.fromkeys(out))


def _check_device(device: str) -> None:
    if device != "cpu":
        raise SystemExit(f"yingshe: --device {device!r} is not available: yingshe runs on "
                         "NumPy, on the CPU only (--device cpu)")


def _versions() -> dict:
    import platform
    from importlib import metadata
    import numpy
    out = {"python": platform.python_version(), "numpy": numpy.__version__}
    for dist in ("yingshe", "torch", "tensorflow-cpu", "tensorflow", "jax"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


class _Progress:
    """A rich live display (falls back to plain lines without rich or a terminal)."""

    def __init__(self, total: int, enabled: bool = True):
        self.total = total
        self.bar = None
        if enabled:
            try:
                from rich.console import Console
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                                           SpinnerColumn, TextColumn, TimeElapsedColumn)
                console = Console(stderr=True)
                if console.is_terminal:
                    self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                        BarColumn(), MofNCompleteColumn(),
                                        TimeElapsedColumn(), console=console)
            except ImportError:   # rich is the [progress] extra: plain lines without it
                self.bar = None
        self.task = None
        self.done = 0

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task("starting", total=self.total)
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def start(self, workload: str, engine: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=f"{workload:24s} {engine}")

    def result(self, r: dict) -> None:
        self.done += 1
        status = r.get("status")
        extra = f"{r['median_ms']:.3f} ms/step" if status == "ok" and "median_ms" in r else \
            (r.get("reason") or (r.get("error") or "").strip().splitlines()[-1:] or [""])
        if isinstance(extra, list):
            extra = extra[0] if extra else ""
        line = f"[{self.done}/{self.total}] {r['workload']:24s} {r['engine']:20s} " \
               f"{status:11s} {str(extra)[:70]}"
        if self.bar is not None:
            self.bar.console.print(line, markup=False, highlight=False)
            self.bar.advance(self.task)
        else:
            print(line, file=sys.stderr, flush=True)


def _print_table(records: list[dict], title: str) -> None:
    from yingshe.compare.report import COLUMNS, summary_rows
    rows = summary_rows(records)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:   # rich is the [progress] extra: a plain table without it
        from yingshe.compare.report import markdown_table
        print(title)
        print(markdown_table(records))
        for row in rows:
            if row["status"] != "ok":
                print(f"  {row['engine']} on {row['workload']}: {row['status']} — {row['note']}")
        return
    table = Table(title=title, show_lines=False)
    for c in COLUMNS:
        table.add_column(c, no_wrap=c in ("workload", "engine", "parity", "ms/step"))
    for row in rows:
        if row["status"] == "ok":
            style = "red" if "FAIL" in row.get("parity", "") else None
            table.add_row(*(row.get(c, "") for c in COLUMNS), style=style)
        else:
            table.add_row(row["workload"], row["engine"], row["status"],
                          *[""] * (len(COLUMNS) - 3),
                          style="red" if row["status"] == "failed" else "dim")
    console = Console(width=max(170, Console().width))
    console.print(table)
    for row in rows:
        if row["status"] != "ok":
            console.print(f"  {row['engine']} on {row['workload']}: {row['status']} — "
                          f"{row['note']}", markup=False, highlight=False)


def _default_out(kind: str) -> str:
    return os.path.join("runs", f"{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")


# ---- compare --------------------------------------------------------------------------------

def cmd_compare(args) -> int:
    from yingshe.compare.harness import machine_info, run_by_engine
    from yingshe.compare.report import (PARITY_STEPS, add_parity, graph_lesson, parity_failures,
                                        plot_extra_missing, write_report)
    from yingshe.compare.tutorial import DEFAULT_STEPS, TUTORIAL
    from yingshe.testing.tolerances import tol
    _check_device(args.device)
    workloads = _resolve_workloads(args.workloads, TUTORIAL)
    engines = _resolve_engines(args.engines)
    out_dir = args.out or _default_out("compare")
    os.makedirs(out_dir, exist_ok=True)
    started = datetime.now().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    steps = {w: args.steps or DEFAULT_STEPS.get(w, 30) for w in workloads}
    phases = _Phases()
    # one process per engine, the engines one after another: the times per step come from
    # a machine this run keeps quiet, and each framework is imported once
    with phases("engines"), _Progress(len(workloads) * len(engines),
                                      enabled=not args.quiet) as progress:
        records = run_by_engine(workloads, engines, steps=steps, warmup=args.warmup,
                                threads=args.threads, on_start=progress.start,
                                on_result=progress.result, timeout=args.timeout)
    add_parity(records)
    program_records = []
    if args.programs != "none":
        from yingshe.compare.programs import programs, run_programs
        front_ends = ("torch", "tf") if args.programs == "all" else (args.programs,)
        # one progress step per program (a front-end that is not installed: one line);
        # programs run side by side: only what they print is compared, no time
        total = sum(max(len(programs(fe)), 1) for fe in front_ends)
        with phases("programs"), _Progress(total, enabled=not args.quiet) as progress:
            program_records = run_programs(front_ends, timeout=args.timeout,
                                           on_start=progress.start,
                                           on_result=progress.result)
    rtol, atol = tol("trajectory", "float32")
    result = {"command": "yingshe " + " ".join(shlex.quote(a) for a in args.argv),
              "started": started, "wall_s": time.perf_counter() - t0,
              "machine": machine_info(), "versions": _versions(),
              "threads": args.threads or 1, "engines": engines, "workloads": workloads,
              "tolerance": {"rtol": rtol, "atol": atol, "steps": PARITY_STEPS,
                            "step0_rtol": tol("step0", "float32")[0]},
              "records": records, "programs": program_records}
    fails = parity_failures(records)
    result["parity_failures"] = [f"{r['engine']} on {r['workload']}" for r in fails]
    bad_programs = [f"{r['program']} on {r['engine']} ({r['status']}: {r['reason']})"
                    for r in program_records if r["status"] in ("fail", "refused")]
    result["program_failures"] = bad_programs
    result["exit_code"] = 1 if fails or bad_programs else 0
    result["phases"] = phases.times
    # the results first: a report that cannot be drawn never costs them
    _write_results(out_dir, result)
    with phases("report"):
        lesson = None
        if not args.no_lesson:
            try:
                lesson = graph_lesson()
            except Exception as err:  # noqa: BLE001 - the report still has everything else
                print("yingshe: the graph lesson could not be drawn: "
                      f"{type(err).__name__}: {err}", file=sys.stderr)
        result["wall_s"] = time.perf_counter() - t0
        files = write_report(out_dir, result, lesson)
    result["files"] = files
    result["wall_s"] = time.perf_counter() - t0
    _write_results(out_dir, result)
    _print_table(records, f"yingshe compare ({result['wall_s']:.0f} s)")
    n_plots = sum(name.endswith(".png") for name in files.values())
    missing = plot_extra_missing()
    pictures = f"{n_plots} pictures" if not missing else f"no pictures: {missing}"
    print(f"report: {os.path.join(out_dir, 'report.html')} (and report.md, results.json; "
          f"{pictures})")
    print("time: " + ", ".join(f"{k} {v['wall_s']:.0f} s (CPU {v['cpu_s']:.0f} s)"
                               for k, v in phases.times.items())
          + f"; {result['wall_s']:.0f} s in all")
    if program_records:
        n_pass = sum(r["status"] == "pass" for r in program_records)
        print(f"tutorial programs on the front-ends: {n_pass}/{len(program_records)} print "
              "the same numbers as on the real libraries"
              + "".join(f"\n  {r['status']}: {r['workload']} ({r['engine']}) {r['reason']}"
                        for r in program_records if r["status"] != "pass"))
    if fails:
        print("parity outside tolerance: " + ", ".join(result["parity_failures"]),
              file=sys.stderr)
    if bad_programs:
        print("programs that differ on the front-ends: " + "; ".join(bad_programs),
              file=sys.stderr)
    return result["exit_code"]


class _Phases:
    """Wall and CPU seconds (this process and its children) of each phase of a run: the
    CPU time is what a quiet machine would need, whatever else shares this one."""

    def __init__(self):
        self.times: dict[str, dict] = {}

    @staticmethod
    def _cpu() -> float:
        import resource
        return sum(r.ru_utime + r.ru_stime for r in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN)))

    @contextlib.contextmanager
    def __call__(self, name: str):
        t0, c0 = time.perf_counter(), self._cpu()
        try:
            yield
        finally:
            self.times[name] = {"wall_s": round(time.perf_counter() - t0, 2),
                                "cpu_s": round(self._cpu() - c0, 2)}


def _write_results(out_dir: str, result: dict) -> None:
    path = os.path.join(out_dir, "results.json")
    with open(path + ".part", "w") as fh:
        json.dump(result, fh, indent=1)
    os.replace(path + ".part", path)


# ---- bench ----------------------------------------------------------------------------------

def cmd_bench(args) -> int:
    from yingshe.compare.harness import (format_pass_table, format_table, machine_info, run,
                                         summarize)
    from yingshe.compare.workloads import SPEED, WORKLOADS, with_batch
    _check_device(args.device)
    workloads = _resolve_workloads(args.workloads, SPEED)
    engines = _resolve_engines(args.engines)
    names = []
    for wname in workloads:
        if WORKLOADS[wname].data is not None:
            raise SystemExit(f"yingshe bench: {wname} is a tutorial workload; bench runs the "
                             f"speed workloads ({', '.join(SPEED)})")
        if args.batch_sizes:
            names += [with_batch(wname, b) for b in args.batch_sizes]
        else:
            names.append(wname)
    out_dir = args.out or _default_out("bench")
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    with _Progress(len(names) * len(engines), enabled=not args.quiet) as progress:
        records = summarize(run(names, engines, steps=args.steps, warmup=args.warmup,
                                threads=args.threads, on_start=progress.start,
                                on_result=progress.result, timeout=args.timeout))
    info = machine_info()
    table = format_table(records)
    passes = format_pass_table(records)
    if passes:
        table += "\n\nThe compiler's passes on each compiled training step:\n\n" + passes
    with open(os.path.join(out_dir, "results.json"), "w") as fh:
        json.dump({"command": "yingshe " + " ".join(shlex.quote(a) for a in args.argv),
                   "wall_s": time.perf_counter() - t0, "machine": info,
                   "versions": _versions(), "threads": args.threads or 1,
                   "records": records}, fh, indent=1)
    with open(os.path.join(out_dir, "table.md"), "w") as fh:
        fh.write(table + "\n")
    print(f"machine: {info.get('cpu', '?')}, {info['cpus']} cpus, numpy {info['numpy']}, "
          f"{info.get('blas', '')}; {args.threads or 1} thread per engine")
    print(table)
    print(f"results: {os.path.join(out_dir, 'results.json')}")
    return 0


# ---- entry point ----------------------------------------------------------------------------

_RUN_VALUED = ("-n", "--nprocs", "--hostfile", "--mpirun-args")


def _split_run(argv: list[str]) -> tuple[list[str], list[str]]:
    """``run``'s own options, and the program with its arguments (from the script or
    ``-m module`` on, untouched: ``yingshe run -n 2 -m pkg --help`` passes ``--help`` on)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return argv[:i], argv[i + 1:]
        if a in _RUN_VALUED:
            i += 2
        elif a in ("-h", "--help") or any(a.startswith(o + "=") for o in _RUN_VALUED) or \
                (a.startswith("-n") and a[2:].isdigit()):
            i += 1
        else:
            return argv[:i], argv[i:]
    return argv, []


def cmd_run(args) -> int:
    from yingshe.distributed.launch import run
    target = list(args.target)
    if not target:
        raise SystemExit("yingshe run: name a script to run (yingshe run -n N script.py "
                         "[args...]) or a module (-m module)")
    extra = shlex.split(args.mpirun_args) if args.mpirun_args else []
    return run(args.nprocs, target, hostfile=args.hostfile, mpirun_args=extra)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engines", nargs="+", metavar="ENGINE",
                   help="engine ids (space or comma separated); 'all' adds the opt-in ones "
                        "(torch-compile, tensorflow-xla, ...); default: every default engine "
                        "(not installed ones are reported as skipped). Known: "
                        + ", ".join(_engine_ids()))
    p.add_argument("--device", default="cpu", help="only 'cpu' (yingshe runs on NumPy)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per engine process (default 1: equal footing)")
    p.add_argument("--warmup", type=int, default=5,
                   help="steps excluded from the steady-state timing (default 5)")
    p.add_argument("--timeout", type=float, default=HANG_GUARD_S,
                   help="hang guard: seconds before an engine process (or a program) is "
                        f"stopped and reported failed (default {HANG_GUARD_S:.0f})")
    p.add_argument("--quiet", action="store_true", help="no live progress display")


def build_parser() -> argparse.ArgumentParser:
    from yingshe import __version__
    from yingshe.compare.report import PARITY_STEPS, short
    from yingshe.testing.tolerances import tol
    from yingshe.compare.workloads import SPEED, TUTORIAL
    parser = argparse.ArgumentParser(prog="yingshe",
                                     description=_DESCRIPTION.format(speed=", ".join(SPEED)),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"yingshe {__version__}")
    rtol, atol = tol("trajectory", "float32")
    sub = parser.add_subparsers(dest="command", metavar="{compare,bench,run}")
    pc = sub.add_parser(
        "compare", help="the tutorial's models on every engine, with a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the same models from the same initial weights on yingshe "
                    "(eager, graph, compiled) and on real PyTorch and TensorFlow, each engine "
                    "in its own process. Writes results.json, report.md, report.html and PNG "
                    "plots to --out. Exit code 1 when an engine's loss leaves the reference "
                    f"engine's by more than the tolerance (relative {short(rtol)} plus "
                    f"absolute {short(atol)}, at each of the first {PARITY_STEPS} steps), or "
                    "when a tutorial program prints different numbers on a front-end."
                    "\n\nOnly NumPy is needed; what an extra adds is reported as skipped with "
                    "the command that installs it: pictures (pip install \"yingshe[plot]\"), a "
                    "live progress display (\"yingshe[progress]\"), the real data sets "
                    "(\"yingshe[datasets]\"), the reference engines (PyTorch, TensorFlow)."
                    f"\n\nworkloads: {', '.join(TUTORIAL)} (the default, 'tutorial'); "
                    f"{', '.join(SPEED)} ('speed'); 'all'")
    pc.add_argument("--workloads", nargs="+", metavar="WORKLOAD",
                    help="workloads (space or comma separated; default: the tutorial's)")
    pc.add_argument("--steps", type=int, default=None,
                    help="training steps per workload (default: per workload, 100-200)")
    pc.add_argument("--out", default=None,
                    help="output directory (default runs/compare-<timestamp>)")
    pc.add_argument("--no-lesson", action="store_true",
                    help="leave out the graph + generated code section of the report")
    pc.add_argument("--programs", choices=("all", "torch", "tf", "none"), default="all",
                    help="also run the tutorial's own programs (examples/tutorial, "
                         "examples/tutorial_tf) on the real libraries and, with only the "
                         "imports renamed, on yingshe.torch / yingshe.tf, and compare what "
                         "they print (default: all)")
    _common(pc)
    pc.set_defaults(func=cmd_compare)
    pb = sub.add_parser(
        "bench", help="the speed table across batch sizes",
        description="Median ms per training step (min, max, first step, peak memory) of the "
                    "speed workloads per engine and batch size, each engine in its own process "
                    "on one thread. Writes results.json and table.md to --out.")
    pb.add_argument("--workloads", nargs="+", metavar="WORKLOAD",
                    help=f"speed workloads (default: {' '.join(SPEED)})")
    pb.add_argument("--batch-sizes", nargs="+", type=int, metavar="B",
                    help="batch sizes to run each workload at (default: its own)")
    pb.add_argument("--steps", type=int, default=30, help="steps per run (default 30)")
    pb.add_argument("--out", default=None, help="output directory (default runs/bench-<timestamp>)")
    _common(pb)
    pb.set_defaults(func=cmd_bench)
    pr = sub.add_parser(
        "run", help="run a program on N processes (MPI ranks)",
        usage="yingshe run -n N [--hostfile FILE] [--mpirun-args ARGS] "
              "(script.py | -m module) [args ...]",
        description="Start N ranks of a Python program under the mpirun of the distributed "
                    "extra (pip install \"yingshe[distributed]\"), adding "
                    "--allow-run-as-root when run as root and --oversubscribe when N exceeds "
                    "the cores. In the program, yingshe.distributed.init_process_group() "
                    "(or yingshe.torch.distributed's) forms the group. An exception or an "
                    "error exit on one rank ends every rank with a message naming it; the "
                    "exit code is the job's.")
    pr.add_argument("-n", "--nprocs", type=int, required=True, metavar="N",
                    help="number of ranks")
    pr.add_argument("--hostfile", default=None,
                    help="an Open MPI hostfile (one 'host slots=K' line per machine)")
    pr.add_argument("--mpirun-args", default=None, metavar="ARGS",
                    help="more mpirun options, one quoted string (e.g. \"-x PYTHONPATH\")")
    pr.add_argument("target", nargs="*", metavar="script.py | -m module",
                    help="the program and its arguments (-m module runs a module, as "
                         "python -m)")
    pr.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["run"]:
        own, program = _split_run(argv[1:])
        args = parser.parse_args(["run"] + own)
        args.target = program
    else:
        args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = argv
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
