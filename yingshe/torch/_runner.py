"""Run a program written for PyTorch on real PyTorch and on yingshe, and compare.

    python -m yingshe.torch._runner program.py [more.py ...] [--timeout S] [--verbose]
    python -m yingshe.torch._runner --rename program.py     # print the renamed source

The program is run twice, in two separate processes: once as written (real ``torch``)
and once after renaming its imports (``import torch`` -> ``import yingshe.torch as
torch``, ``from torch.utils.data import X`` -> ``from yingshe.torch.utils.data import
X``...). Only the import statements are rewritten, found with ``ast`` and replaced at
their exact source spans; nothing else in the program changes.

Output protocol
---------------
The program prints its numbers on lines of the form::

    RESULT <name> <value> [<value> ...] [exact|converge|accuracy|text] [rtol=R] [atol=A]

- ``name``: one word, unique within the run; both runs must print the same names in
  the same order. Other lines are free output and are ignored.
- ``exact`` (the default): numbers that do not depend on random initial weights (data,
  analytic gradients, closed-form solutions, losses from fixed weights). Compared with
  DESIGN's float32 parity tolerance, ``|y - t| <= atol + rtol * |t|`` with rtol 1e-5 and
  atol 1e-6 unless the line gives ``rtol=``/``atol=``.
- ``converge``: final losses of models trained from random initial weights (PyTorch's
  and yingshe's generators differ): ``|y - t| <= max(1e-4, 0.02 * |t|)``.
- ``accuracy``: accuracies in [0, 1] from such models: ``|y - t| <= 0.02``.
- ``text``: the values are words compared exactly (e.g. an exception class name).

Print floats with enough digits (``repr`` or ``'%.9g'``). Both runs must exit with
status 0 and print at least one ``RESULT`` line.

The yingshe run is guarded: a ``sys.meta_path`` hook refuses any ``import torch`` (or
``torch.*``), and at exit ``sys.modules`` is checked for a real ``torch``. A run in which
the real PyTorch was imported (even if the program caught the ``ImportError``) is
*refused*, never counted as a pass; so is a run that never imported ``yingshe.torch``.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import tokenize
from dataclasses import dataclass, field

MODES = ("exact", "converge", "accuracy", "text")
EXACT_RTOL, EXACT_ATOL = 1e-5, 1e-6          # DESIGN: vs PyTorch, float32
CONVERGE_RTOL, CONVERGE_ATOL = 0.02, 1e-4    # DESIGN: models trained to convergence
ACCURACY_ATOL = 0.02

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- renaming the imports ------------------------------------------------------------------

# The libraries a PyTorch program imports and their yingshe front-ends (``torchvision`` is
# PyTorch's companion package of datasets and transforms).
RENAMED = ("torch", "torchvision")


def _is_torch(module: str | None, roots=RENAMED) -> bool:
    return module is not None and module.split(".", 1)[0] in roots


def _rename_node(node: ast.stmt) -> str | None:
    """The replacement text for one import statement, or None to leave it alone."""
    if isinstance(node, ast.ImportFrom):
        if node.level or not _is_torch(node.module):
            return None
        names = ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}"
                          for a in node.names)
        return f"from yingshe.{node.module} import {names}"
    if not any(_is_torch(a.name) for a in node.names):
        return None
    parts = []
    for a in node.names:
        if not _is_torch(a.name):
            parts.append(f"import {a.name}" + (f" as {a.asname}" if a.asname else ""))
        elif a.asname is not None:                 # import torch.nn as nn
            parts.append(f"import yingshe.{a.name} as {a.asname}")
        elif "." not in a.name:                    # import torch
            parts.append(f"import yingshe.{a.name} as {a.name}")
        else:                                      # import torch.nn.functional (binds torch)
            root = a.name.split(".", 1)[0]
            parts.append(f"import yingshe.{a.name}")
            parts.append(f"import yingshe.{root} as {root}")
    return "; ".join(parts)


def rename_imports(source: str, rename_node=None) -> str:
    """``source`` with every absolute import of ``torch``/``torch.*`` (and ``torchvision``)
    renamed to ``yingshe.torch`` (``yingshe.torchvision``); the rest of the text (and every
    line number) is unchanged. ``rename_node`` replaces the rule for one import statement
    (the TensorFlow runner's, ``yingshe.tf._runner``)."""
    tree = ast.parse(source)
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            text = (rename_node or _rename_node)(node)
            if text is not None:
                edits.append((node.lineno, node.col_offset, node.end_lineno,
                              node.end_col_offset, text))
    if not edits:
        return source
    lines = source.splitlines(keepends=True)
    data = [ln.encode("utf-8") for ln in lines]    # ast offsets are UTF-8 byte offsets
    for lineno, col, end_lineno, end_col, text in sorted(edits, reverse=True):
        head = data[lineno - 1][:col]
        tail = data[end_lineno - 1][end_col:]
        # A statement spanning several lines (parenthesised names) becomes one line; pad
        # with empty lines so every later line keeps its number (tracebacks match).
        pad = b"\n" * (end_lineno - lineno)
        data[lineno - 1:end_lineno] = [head + text.encode("utf-8") + tail.rstrip(b"\r\n")
                                       + (b"\n" if tail.endswith(b"\n") else b"") + pad]
    return b"".join(data).decode("utf-8")


def _read_source(path: str) -> str:
    with open(path, "rb") as fh:
        raw = fh.read()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    return raw.decode(encoding)


# ---- the guarded child (yingshe side) -------------------------------------------------------

_CHILD_BOOT = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('_yingshe_torch_runner', sys.argv[1])\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = mod\n"
    "spec.loader.exec_module(mod)\n"
    "sys.exit(mod._child(*sys.argv[2:]))\n"
)


def _child(program: str, status_path: str, origin_dir: str, blocked: str = ",".join(RENAMED),
           frontend: str = "yingshe.torch") -> int:
    """Run ``program`` (already renamed) with imports of the real libraries ``blocked``
    (comma-separated roots) refused; write what was attempted, what ended up in
    ``sys.modules`` and whether ``frontend`` was imported to ``status_path``."""
    import runpy
    import traceback

    roots = tuple(blocked.split(","))
    attempts: list[str] = []
    preloaded = sorted(m for m in sys.modules if _is_torch(m, roots))

    class _TorchBlocker:
        def find_spec(self, name, path=None, target=None):
            if _is_torch(name, roots):
                attempts.append(name)
                raise ImportError(
                    f"yingshe runner: the program imported {name!r} on the yingshe side; "
                    f"only {frontend!r} may be used there")
            return None

    sys.meta_path.insert(0, _TorchBlocker())
    code = 0
    try:
        sys.argv = [program]
        for folder in reversed(origin_dir.split(os.pathsep)):
            sys.path.insert(0, folder)
        runpy.run_path(program, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - report the program's own failure
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        status = {
            "attempts": attempts,
            "preloaded": preloaded,
            "modules": sorted(m for m in sys.modules if _is_torch(m, roots)),
            "used_frontend": frontend in sys.modules,
        }
        with open(status_path, "w", encoding="utf-8") as fh:
            json.dump(status, fh)
    return code


# ---- parsing and comparing --------------------------------------------------------------------

@dataclass
class Result:
    name: str
    values: list
    mode: str = "exact"
    rtol: float | None = None
    atol: float | None = None


class ProtocolError(ValueError):
    """A malformed ``RESULT`` line."""


def parse_results(stdout: str) -> list[Result]:
    """The ``RESULT`` lines of a run, in order (see the module docstring)."""
    out: list[Result] = []
    seen = set()
    for line in stdout.splitlines():
        tokens = line.split()
        if not tokens or tokens[0] != "RESULT":
            continue
        tokens = tokens[1:]
        if not tokens:
            raise ProtocolError(f"RESULT line without a name: {line!r}")
        name, rest = tokens[0], tokens[1:]
        opts = {}
        while rest and "=" in rest[-1]:
            key, _, val = rest.pop().partition("=")
            if key not in ("rtol", "atol"):
                raise ProtocolError(f"unknown option {key!r} in {line!r}")
            opts[key] = float(val)
        mode = rest.pop() if rest and rest[-1] in MODES else "exact"
        if not rest:
            raise ProtocolError(f"RESULT line without values: {line!r}")
        if mode != "text":
            try:
                rest = [float(v) for v in rest]
            except ValueError:
                raise ProtocolError(f"non-numeric value in {mode} line {line!r}") from None
        if name in seen:
            raise ProtocolError(f"RESULT name {name!r} printed twice")
        seen.add(name)
        out.append(Result(name, rest, mode, opts.get("rtol"), opts.get("atol")))
    return out


@dataclass
class Comparison:
    name: str
    mode: str
    ok: bool
    detail: str


def _close(y: float, t: float, rtol: float, atol: float) -> bool:
    if math.isnan(t) or math.isnan(y):
        return math.isnan(t) and math.isnan(y)
    if math.isinf(t) or math.isinf(y):
        return y == t
    return abs(y - t) <= atol + rtol * abs(t)


def compare_results(reference: list[Result], candidate: list[Result],
                    library: str = "torch") -> list[Comparison]:
    """Compare the yingshe run's results (``candidate``) with the real library's
    (``reference``; ``library`` names it in the details: torch, tensorflow)."""
    comps: list[Comparison] = []
    ref_names = [r.name for r in reference]
    cand_names = [r.name for r in candidate]
    if ref_names != cand_names:
        comps.append(Comparison("<names>", "-", False,
                                f"{library} printed {ref_names}, yingshe printed {cand_names}"))
        return comps
    for t, y in zip(reference, candidate):
        if (t.mode, t.rtol, t.atol) != (y.mode, y.rtol, y.atol):
            comps.append(Comparison(t.name, t.mode, False, "the runs disagree on the mode"))
            continue
        if len(t.values) != len(y.values):
            comps.append(Comparison(t.name, t.mode, False,
                                    f"{len(t.values)} values vs {len(y.values)}"))
            continue
        if t.mode == "text":
            ok = t.values == y.values
            comps.append(Comparison(t.name, t.mode, ok, f"{library} {' '.join(t.values)!r} "
                                    f"yingshe {' '.join(y.values)!r}"))
            continue
        if t.mode == "exact":
            rtol = EXACT_RTOL if t.rtol is None else t.rtol
            atol = EXACT_ATOL if t.atol is None else t.atol
            check = lambda a, b: _close(a, b, rtol, atol)  # noqa: E731
        elif t.mode == "converge":
            check = lambda a, b: _close(a, b, 0.0, max(CONVERGE_ATOL,  # noqa: E731
                                                        CONVERGE_RTOL * abs(b)))
        else:  # accuracy
            check = lambda a, b: _close(a, b, 0.0, ACCURACY_ATOL)  # noqa: E731
        bad = [i for i, (a, b) in enumerate(zip(y.values, t.values)) if not check(a, b)]
        worst = max((abs(a - b) for a, b in zip(y.values, t.values)
                     if not (math.isnan(a) or math.isnan(b))), default=0.0)
        detail = (f"{len(t.values)} value{'' if len(t.values) == 1 else 's'}, "
                  f"max |diff| {worst:.3g}")
        if bad:
            i = bad[0]
            detail += (f"; {len(bad)} outside tolerance, first [{i}]: "
                       f"{library} {t.values[i]!r} yingshe {y.values[i]!r}")
        comps.append(Comparison(t.name, t.mode, not bad, detail))
    return comps


# ---- running both sides ---------------------------------------------------------------------

@dataclass
class Side:
    returncode: int | None
    stdout: str
    stderr: str


@dataclass
class Report:
    program: str
    ok: bool
    refused: bool = False
    reason: str = ""
    comparisons: list = field(default_factory=list)
    library: str = "torch"        # the real library of the reference run (``torch`` holds it)
    torch: Side | None = None
    yingshe: Side | None = None

    def format(self, verbose: bool = False) -> str:
        head = "PASS" if self.ok else ("REFUSED" if self.refused else "FAIL")
        lines = [f"{head} {self.program}" + (f": {self.reason}" if self.reason else "")]
        for c in self.comparisons:
            lines.append(f"  [{'ok' if c.ok else 'XX'}] {c.name} ({c.mode}): {c.detail}")
        if verbose or not self.ok:
            for label, side in ((self.library, self.torch), ("yingshe", self.yingshe)):
                if side is not None and (verbose or side.returncode != 0):
                    lines.append(f"  --- {label} exit {side.returncode}; stderr tail:")
                    lines.extend("    " + ln for ln in side.stderr.splitlines()[-25:])
        return "\n".join(lines)


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO_ROOT, env.get("PYTHONPATH")) if p)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, "1")
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def _communicate(proc, timeout: float) -> Side:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        from yingshe.testing.hang import hang_guard_message
        err += "\n[runner] " + hang_guard_message("the program", timeout)
        proc.returncode = None
    return Side(proc.returncode, out, err)


def run_pair(path: str, renamed: str, yingshe_argv, *, timeout: float, python: str,
             prepare=None, env_extra=None, reference_argv=None, workdir: str = "",
             helpers=(), rename=None):
    """Run program ``path`` as written and its ``renamed`` source through the guarded
    child ``yingshe_argv(renamed_path, status_path)`` (argv after the interpreter), in
    two processes started together, each in an empty working folder. Returns the
    ``Report`` with both sides filled in, and the child's import status (None when it
    wrote none). Shared by this runner, the TensorFlow one (``yingshe.compare.programs``)
    and the corpus (``examples/corpus/run.py``), which may give: ``workdir``, a relative
    folder inside each side's folder to run in (created); ``prepare(side_dir, env)``,
    called for each side before it starts (to write its data files, set its environment);
    ``env_extra``, more environment; ``reference_argv(path)``, the reference's argv after
    the interpreter (default: the program's path); ``helpers``, modules of the program's
    folder that it imports, written renamed (by ``rename``) beside the renamed program,
    whose folder comes first on the yingshe side's path."""
    env = _env()
    env.update(env_extra or {})
    with tempfile.TemporaryDirectory(prefix="ys-runner-") as tmp:
        renamed_path = os.path.join(tmp, os.path.basename(path))
        with open(renamed_path, "w", encoding="utf-8") as fh:
            fh.write(renamed)
        for helper in helpers:
            with open(os.path.join(tmp, os.path.basename(helper)), "w",
                      encoding="utf-8") as fh:
                fh.write(rename(_read_source(helper)))
        status_path = os.path.join(tmp, "status.json")
        sides = {}
        for side in ("reference", "yingshe"):
            side_dir = os.path.join(tmp, side)
            cwd = os.path.join(side_dir, workdir)
            os.makedirs(cwd)
            side_env = dict(env)
            if prepare is not None:
                prepare(side_dir, side_env)
            sides[side] = (cwd, side_env)
        (cwd_ref, env_ref), (cwd_ys, env_ys) = sides["reference"], sides["yingshe"]
        ref_args = reference_argv(path) if reference_argv is not None else [path]
        p_ref = subprocess.Popen([python, *ref_args], cwd=cwd_ref, env=env_ref, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p_ys = subprocess.Popen([python, *yingshe_argv(renamed_path, status_path)],
                                cwd=cwd_ys, env=env_ys, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        rep = Report(program=path, ok=False, torch=_communicate(p_ref, timeout),
                     yingshe=_communicate(p_ys, timeout))
        try:
            with open(status_path, encoding="utf-8") as fh:
                status = json.load(fh)
        except (OSError, ValueError):
            status = None
    return rep, status


def judge(rep: Report, status, library: str, front_end: str) -> Report:
    """Refuse a yingshe run that reported no import status, imported the real
    ``library`` (even if the program caught the ImportError), or never imported
    ``front_end``; otherwise compare the two runs (``compare_sides``)."""
    rep.library = library
    if status is None:
        rep.refused, rep.reason = True, "the yingshe run did not report its import status"
        return rep
    if status["attempts"] or status["modules"] or status.get("preloaded"):
        rep.refused = True
        rep.reason = (f"the real {library} was imported on the yingshe side (attempts "
                      f"{status['attempts']}, in sys.modules {status['modules']})")
        return rep
    if not status["used_frontend"]:
        rep.refused, rep.reason = True, f"the yingshe run never imported {front_end}"
        return rep
    return compare_sides(rep, library)


def run_program(path: str, *, timeout: float = 300.0, python: str | None = None,
                **pair_options) -> Report:
    """Run ``path`` on real PyTorch and, renamed, on yingshe (two processes, started
    together), and compare their ``RESULT`` lines. ``pair_options`` go to ``run_pair``."""
    path = os.path.abspath(path)
    # The guarded child loads this file by path, so that nothing of yingshe (let alone
    # torch) is imported before the program runs.
    rep, status = run_pair(
        path, rename_imports(_read_source(path)),
        lambda renamed, status_path: ["-c", _CHILD_BOOT, os.path.abspath(__file__), renamed,
                                      status_path, os.pathsep.join(
                                          [os.path.dirname(renamed), os.path.dirname(path)])],
        timeout=timeout, python=python or sys.executable, rename=rename_imports,
        **pair_options)
    return judge(rep, status, "torch", "yingshe.torch")


def compare_sides(rep: Report, reference: str) -> Report:
    """The verdict on two finished runs that were not refused: both exited 0, the
    reference printed RESULT lines, and every one agrees (shared by the TensorFlow
    runner, ``yingshe.compare.programs``; ``reference`` names the real library)."""
    for label, side in ((reference, rep.torch), ("yingshe", rep.yingshe)):
        if side.returncode is None:
            rep.reason = f"the {label} run was stopped by its hang guard (see its stderr)"
            return rep
        if side.returncode != 0:
            rep.reason = f"the {label} run exited with status {side.returncode}"
            return rep
    try:
        ref, cand = parse_results(rep.torch.stdout), parse_results(rep.yingshe.stdout)
    except ProtocolError as err:
        rep.reason = f"output protocol: {err}"
        return rep
    if not ref:
        rep.reason = "the program printed no RESULT lines"
        return rep
    rep.comparisons = compare_results(ref, cand, reference)
    rep.ok = all(c.ok for c in rep.comparisons)
    if not rep.ok:
        rep.reason = "results differ"
    return rep


def check_program(path: str, **kw) -> Report:
    """Test helper: ``run_program`` that raises ``AssertionError`` (with the report) unless
    the program passes."""
    rep = run_program(path, **kw)
    if not rep.ok:
        raise AssertionError(rep.format())
    return rep


def main(argv=None, *, run=None, rename=None, prog="python -m yingshe.torch._runner",
         description=None) -> int:
    """The command line of this runner (and, with its ``run``/``rename``, of the
    TensorFlow one)."""
    run = run or run_program
    rename = rename or rename_imports
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog=prog,
                                description=description or __doc__.split("\n\n")[0])
    p.add_argument("programs", nargs="+")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--rename", action="store_true", help="print the renamed source and exit")
    p.add_argument("--verbose", "-v", action="store_true")
    args = p.parse_args(argv)
    if args.rename:
        for path in args.programs:
            sys.stdout.write(rename(_read_source(path)))
        return 0
    failed = 0
    for path in args.programs:
        rep = run(path, timeout=args.timeout)
        print(rep.format(args.verbose), flush=True)
        failed += not rep.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
