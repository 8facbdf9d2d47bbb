"""The report of a ``yingshe compare`` run: parity, plots, Markdown and HTML.

``add_parity(records)`` compares every engine's loss trajectory with the reference
engine's (PyTorch eager when it ran, else yingshe eager) under DESIGN's trajectory
tolerance; ``write_report(out_dir, run)`` draws the PNG plots (matplotlib, Agg) and
writes ``report.md`` and ``report.html`` next to them. ``graph_lesson()`` builds the
tutorial's "static vs dynamic" exhibit: the linear-regression model's forward and
gradient graph (``yingshe.graph``) as Mermaid, beside the code its training step
compiles to. Nothing here imports PyTorch or TensorFlow.
"""

from __future__ import annotations

import html
import os
from typing import Iterable

import numpy as np

from yingshe.graph.passes import describe_stats
from yingshe.testing.tolerances import tol

__all__ = ["add_parity", "parity_failures", "reference_engine", "mermaid", "graph_lesson",
           "write_plots", "write_report", "ENGINE_ORDER", "PARITY_STEPS"]

# the display order (and colour) of engines in tables and plots
ENGINE_ORDER = ("yingshe-eager", "yingshe-graph", "yingshe-compiled", "torch-eager",
                "tensorflow-eager", "tensorflow-function", "torch-compile", "tensorflow-xla",
                "jax-jit")
_COLORS = {"yingshe-eager": "#d62728", "yingshe-graph": "#ff7f0e",
           "yingshe-compiled": "#8c564b", "torch-eager": "#1f77b4",
           "tensorflow-eager": "#2ca02c", "tensorflow-function": "#17becf",
           "torch-compile": "#9467bd", "tensorflow-xla": "#bcbd22", "jax-jit": "#7f7f7f"}
_STYLES = {"yingshe-eager": "-", "yingshe-graph": "--", "yingshe-compiled": ":",
           "torch-eager": "-", "tensorflow-eager": "-.", "tensorflow-function": ":"}

# DESIGN: "loss trajectories across engines, same weights, first 50 steps"
PARITY_STEPS = 50


def color(engine: str) -> str:
    return _COLORS.get(engine, "#333333")


def order_engines(engines: Iterable[str]) -> list[str]:
    engines = list(dict.fromkeys(engines))
    rank = {e: i for i, e in enumerate(ENGINE_ORDER)}
    return sorted(engines, key=lambda e: (rank.get(e, len(rank)), engines.index(e)))


# ---- parity ---------------------------------------------------------------------------------

def reference_engine(rows: dict[str, dict]) -> str | None:
    """torch-eager when it ran on this workload, else yingshe-eager (None if neither)."""
    for name in ("torch-eager", "yingshe-eager"):
        r = rows.get(name)
        if r is not None and r.get("status") == "ok":
            return name
    return None


def add_parity(records: list[dict]) -> list[dict]:
    """Per ok record: ``parity_reference``, ``parity_rel`` (largest relative difference
    of the loss from the reference's over the first ``PARITY_STEPS`` steps),
    ``parity_rel_all`` (over every step), ``parity_ok`` (DESIGN's rtol/atol per step,
    first ``PARITY_STEPS`` steps), ``step0_rel`` and ``step0_ok`` (rtol 1e-5)."""
    rtol, atol = tol("trajectory", "float32")
    rtol0, _ = tol("step0", "float32")
    by_w: dict[str, dict[str, dict]] = {}
    for r in records:
        by_w.setdefault(r["workload"], {})[r["engine"]] = r
    for rows in by_w.values():
        ref_name = reference_engine(rows)
        for r in rows.values():
            r["shared_weights"] = True  # every harness engine starts from the same arrays
            if r.get("status") != "ok" or ref_name is None:
                continue
            a = np.asarray(r["losses"], dtype=np.float64)
            b = np.asarray(rows[ref_name]["losses"], dtype=np.float64)
            n = min(len(a), len(b))
            a, b = a[:n], b[:n]
            rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-30)
            k = min(n, PARITY_STEPS)
            r["parity_reference"] = ref_name
            r["parity_rel"] = float(rel[:k].max()) if k else 0.0
            r["parity_rel_all"] = float(rel.max()) if n else 0.0
            r["parity_rtol"], r["parity_atol"], r["parity_steps"] = rtol, atol, k
            r["parity_ok"] = bool(np.all(np.abs(a[:k] - b[:k]) <= atol + rtol * np.abs(b[:k])))
            r["step0_rel"] = float(rel[0]) if n else 0.0
            r["step0_ok"] = bool(r["step0_rel"] <= rtol0)
    return records


def parity_steps(records: list[dict]) -> int:
    """How many steps the parity covers in this run (``PARITY_STEPS``, or fewer when the
    run was shorter)."""
    return max((r.get("parity_steps", 0) for r in records), default=0) or PARITY_STEPS


def parity_failures(records: list[dict]) -> list[dict]:
    """Shared-weight engines whose trajectory left the tolerance (or whose step 0 did)."""
    return [r for r in records if r.get("status") == "ok" and r.get("shared_weights")
            and (r.get("parity_ok") is False or r.get("step0_ok") is False)]


# ---- the graph lesson: Mermaid over the graph IR ------------------------------------------

def mermaid(nodes, fetches=(), title: str | None = None) -> str:
    """A Mermaid flowchart of graph nodes (a ``Graph``'s or a compiled ``Program``'s):
    one box per node with its op and output shape; placeholders, variables, constants,
    forward ops, gradient ops (made by ``gradients()``) and state updates styled apart;
    fetched values outlined. The compact form of ``yingshe.graph.viz.to_mermaid``."""
    from yingshe.graph.viz import to_mermaid
    return to_mermaid(list(nodes), fetches=list(fetches), title=title, dtypes=False,
                      sites=False)


def graph_lesson(workload: str = "linreg-synthetic") -> dict:
    """The tutorial's TF1 linear regression built with ``yingshe.graph``: placeholders,
    two Variables, the MSE, and ``GradientDescentOptimizer(lr).minimize(loss)`` (its
    gradient nodes and SGD update). One graph: the drawing (Mermaid source, and the
    program itself for a PNG), the node counts before and after the passes, and the
    Python that ``Session`` generates for ``run([loss, train_op])`` all describe it."""
    import yingshe
    import yingshe.graph as G
    from yingshe.compare import workloads
    from yingshe.graph.passes import optimize
    from yingshe.graph.session import lowered

    w = workloads.WORKLOADS[workload]
    arrays = workloads.build(workload)
    params = {k[len("param."):]: v for k, v in arrays.items() if k.startswith("param.")}
    x, y = arrays["x"], arrays["y"]
    g = G.Graph()
    with g.as_default():
        X = G.placeholder(yingshe.float32, [None, x.shape[1]], name="x")
        Y = G.placeholder(yingshe.float32, [None, y.shape[1]], name="y")
        W = G.Variable(params["fc.weight"], name="W")
        b = G.Variable(params["fc.bias"], name="b")
        F = yingshe.nn.functional
        loss = F.mse_loss(F.linear(X, W, b), Y)
        train_op = G.train.GradientDescentOptimizer(w.lr).minimize(loss)
    shapes = {(X._gnode.id, 0): x.shape, (Y._gnode.id, 0): y.shape}
    raw, _ = lowered([loss, train_op], [X, Y], shapes)
    program = optimize(raw)
    # the NumPy backend's program: the one the drawing and the counts above describe
    # (one line per node; the numba backend would fuse the update into a kernel)
    with g.as_default(), G.Session(graph=g, backend="numpy") as sess:
        sess.run(G.global_variables_initializer())
        explain = sess.explain([loss, train_op], {X: x, Y: y})
    source = explain.split("generated source:\n", 1)[-1]
    return {"workload": workload, "program": program,
            "mermaid_raw": mermaid(raw.nodes, raw.fetches),
            "mermaid": mermaid(program.nodes, program.fetches),
            "nodes_raw": len(raw.nodes), "nodes": len(program.nodes),
            "passes": dict(program.stats), "explain": explain, "source": source,
            "code": (f"X = G.placeholder(yingshe.float32, [None, {x.shape[1]}], name='x')\n"
                     f"Y = G.placeholder(yingshe.float32, [None, {y.shape[1]}], name='y')\n"
                     "W = G.Variable(w0, name='W'); b = G.Variable(b0, name='b')\n"
                     "loss = F.mse_loss(F.linear(X, W, b), Y)\n"
                     f"train_op = G.train.GradientDescentOptimizer({w.lr:g}).minimize(loss)"
                     "   # gradient + update ops added to the graph\n"
                     "sess.run([loss, train_op], {X: x, Y: y})   # runs the code below")}


# ---- plots ----------------------------------------------------------------------------------

def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def write_plots(out_dir: str, records: list[dict]) -> dict[str, str]:
    """PNG files (relative names): ``loss-<workload>.png`` per workload, ``step-time.png``,
    ``parity.png``. Returns {key: file name}."""
    plt = _plt()
    files: dict[str, str] = {}
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    ok = [r for r in records if r.get("status") == "ok"]
    for wname in workloads:
        rows = [r for r in ok if r["workload"] == wname]
        if not rows:
            continue
        order = order_engines(r["engine"] for r in rows)
        rows.sort(key=lambda r: order.index(r["engine"]))
        fig, (ax, axd) = plt.subplots(2, 1, figsize=(7.5, 6.2), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
        ref = next((r.get("parity_reference") for r in rows if r.get("parity_reference")),
                   None)
        ref_losses = next((np.asarray(r["losses"]) for r in rows if r["engine"] == ref), None)
        lo_all = min(min(r["losses"]) for r in rows)
        hi_all = max(max(r["losses"]) for r in rows)
        positive = lo_all > 0 and hi_all / lo_all > 20   # log scale only over a decade+
        for r in rows:
            e = r["engine"]
            steps = np.arange(len(r["losses"]))
            ax.plot(steps, r["losses"], _STYLES.get(e, "-"), color=color(e), lw=1.6,
                    label=e, alpha=0.9)
            if ref_losses is not None and e != ref:
                n = min(len(ref_losses), len(r["losses"]))
                d = np.abs(np.asarray(r["losses"][:n]) - ref_losses[:n]) / \
                    np.maximum(np.abs(ref_losses[:n]), 1e-30)
                axd.plot(steps[:n], np.maximum(d, 1e-10), _STYLES.get(e, "-"), color=color(e),
                         lw=1.2, label=e)
        if positive:
            ax.set_yscale("log")
        ax.set_ylabel("training loss")
        ax.set_title(f"{wname}: loss per step (same initial weights and data)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        rtol, _ = tol("trajectory", "float32")
        axd.axhline(rtol, color="k", ls="--", lw=1)
        axd.text(0, rtol * 1.3, f"tolerance rtol {rtol:g}", fontsize=8)
        axd.set_yscale("log")
        axd.set_ylim(1e-10, max(1e-2, axd.get_ylim()[1]))
        axd.text(0, 2e-10, "(identical losses are drawn at 1e-10)", fontsize=7, color="#555")
        axd.set_xlabel("step")
        axd.set_ylabel(f"|loss − {ref}| / |{ref}|" if ref else "relative difference")
        axd.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        name = f"loss-{wname}.png"
        fig.savefig(os.path.join(out_dir, name), dpi=110)
        plt.close(fig)
        files[f"loss:{wname}"] = name

    engines = order_engines(r["engine"] for r in ok)
    timed = [r for r in ok if "median_ms" in r]
    if timed:
        fig, ax = plt.subplots(figsize=(max(7.5, 1.6 * len(workloads) + 3), 4.8))
        width = 0.8 / max(len(engines), 1)
        for j, e in enumerate(engines):
            xs, med, lo, hi = [], [], [], []
            for i, wname in enumerate(workloads):
                r = next((r for r in timed if r["workload"] == wname and r["engine"] == e),
                         None)
                if r is None:
                    continue
                xs.append(i + (j - (len(engines) - 1) / 2) * width)
                med.append(r["median_ms"])
                lo.append(r["median_ms"] - r.get("p10_ms", r["min_ms"]))
                hi.append(r.get("p90_ms", r["max_ms"]) - r["median_ms"])
            if xs:
                ax.bar(xs, med, width, color=color(e), label=e, yerr=[lo, hi], capsize=2,
                       error_kw={"lw": 0.8})
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels(workloads, rotation=15)
        ax.set_yscale("log")
        ax.set_ylabel("ms per step (median; whiskers 10th–90th percentile)")
        ax.set_title("steady-state time per training step (after warm-up)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  frameon=False)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "step-time.png"), dpi=110)
        plt.close(fig)
        files["step-time"] = "step-time.png"

    compared = [r for r in ok if "parity_rel" in r]
    if compared:
        floor = 1e-10
        fig, ax = plt.subplots(figsize=(max(7.5, 1.6 * len(workloads) + 3), 4.8))
        width = 0.8 / max(len(engines), 1)
        for j, e in enumerate(engines):
            xs, vals = [], []
            for i, wname in enumerate(workloads):
                r = next((r for r in compared if r["workload"] == wname and r["engine"] == e),
                         None)
                if r is None or r["parity_reference"] == e:
                    continue
                xs.append(i + (j - (len(engines) - 1) / 2) * width)
                vals.append(max(r["parity_rel"], floor))
            if xs:
                ax.bar(xs, vals, width, color=color(e), label=e, bottom=floor * 0.5)
                for x_, v in zip(xs, vals):
                    if v <= floor:
                        ax.text(x_, floor * 1.2, "0", ha="center", fontsize=7)
        rtol, _ = tol("trajectory", "float32")
        ax.axhline(rtol, color="k", ls="--", lw=1, label=f"tolerance (rtol {rtol:g})")
        ax.set_yscale("log")
        ax.set_ylim(floor * 0.5, 1.0)
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels(workloads, rotation=15)
        ax.set_ylabel(f"largest relative loss difference\n(first {parity_steps(records)} "
                      "steps)")
        refs = sorted({r["parity_reference"] for r in compared})
        ax.set_title(f"parity with the reference engine ({', '.join(refs)})")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "parity.png"), dpi=110)
        plt.close(fig)
        files["parity"] = "parity.png"
    return files


# ---- tables ---------------------------------------------------------------------------------

def _metric_text(r: dict, split: str) -> str:
    m = r.get("metric") or {}
    key = "test_" if split == "test" else ""
    for name in ("accuracy", "mse"):
        if key + name in m:
            v = m[key + name]
            return f"acc {v:.4f}" if name == "accuracy" else f"MSE {v:.4g}"
    return "—"


def summary_rows(records: list[dict]) -> list[dict]:
    """One row of display strings per record (terminal table, Markdown, HTML)."""
    rows = []
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    for wname in workloads:
        rs = [r for r in records if r["workload"] == wname]
        order = order_engines(r["engine"] for r in rs)
        for r in sorted(rs, key=lambda r: order.index(r["engine"])):
            row = {"workload": wname, "engine": r["engine"], "status": r.get("status", "?")}
            if r.get("status") == "ok":
                if r.get("parity_reference") == r["engine"]:
                    parity = "reference"
                elif "parity_rel" in r:
                    parity = f"{r['parity_rel']:.1e} {'ok' if r['parity_ok'] else 'FAIL'}"
                else:
                    parity = "—"
                row.update({
                    "final loss": f"{r['losses'][-1]:.6g}",
                    "train": _metric_text(r, "train"), "test": _metric_text(r, "test"),
                    "parity": parity,
                    "ms/step": f"{r['median_ms']:.3f} ({r['min_ms']:.3f}–{r['max_ms']:.3f})"
                    if "median_ms" in r else "—",
                    "first ms": f"{r['first_ms']:.1f}" if "first_ms" in r else "—",
                    "peak MB": f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "—",
                    "import s": f"{r['import_s']:.2f}" if "import_s" in r else "—"})
            else:
                why = r.get("reason") or (r.get("error") or "").strip().splitlines()[-1:] or ["?"]
                row["note"] = why if isinstance(why, str) else why[0]
            rows.append(row)
    return rows


COLUMNS = ("workload", "engine", "final loss", "train", "test", "parity", "ms/step",
           "first ms", "peak MB", "import s")


def markdown_table(records: list[dict]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in summary_rows(records):
        if row["status"] == "ok":
            out.append("| " + " | ".join(row.get(c, "") for c in COLUMNS) + " |")
        else:
            note = row["note"].replace("|", "\\|")
            out.append(f"| {row['workload']} | {row['engine']} | **{row['status']}**: {note} |"
                       + " |" * (len(COLUMNS) - 3))
    return "\n".join(out)


# ---- the report -----------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#202124}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #dadce0;padding:3px 7px;text-align:left}th{background:#f1f3f4}
tr.bad td{background:#fce8e6}tr.skip td{color:#5f6368}img{max-width:100%;border:1px solid #eee}
pre{background:#f8f9fa;padding:.8em;overflow:auto;font-size:12px}
.side{display:flex;gap:1em;align-items:flex-start}.side>div{flex:1;min-width:0}
code{background:#f1f3f4;padding:0 3px}"""


def _not_selected(run: dict) -> str:
    """The known engines this run did not select (the opt-in ones compile for seconds to
    minutes first), and how to add them."""
    from yingshe.compare.engines import ENGINES
    left = [e for e in ENGINES if e not in run.get("engines", ())]
    return (", ".join(left) + " (add them with `--engines all` or by id)") if left else "none"


def _md_report(run: dict, files: dict, lesson: dict | None) -> str:
    recs = run["records"]
    m = run["machine"]
    lines = [f"# yingshe compare — {run['started']}", "",
             "The same models, from the same initial weights and on the same data, trained "
             "on every engine (each in its own process, "
             f"{run['threads']} thread each).", "",
             f"- command: `{run['command']}`",
             f"- wall time: {run['wall_s']:.1f} s",
             f"- machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs, {m.get('platform')}",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in run["versions"].items()),
             f"- engines not run: {_not_selected(run)}",
             f"- parity: largest relative difference of the loss from the reference engine "
             f"over the first {parity_steps(recs)} steps; tolerance rtol "
             f"{run['tolerance']['rtol']:g}, "
             f"atol {run['tolerance']['atol']:g} per step (DESIGN, shared-weight engines); "
             f"step 0 within rtol {run['tolerance']['step0_rtol']:g}",
             ""]
    fails = parity_failures(recs)
    if fails:
        lines += ["**Parity failures:** " + ", ".join(f"{r['engine']} on {r['workload']} "
                                                      f"({r['parity_rel']:.2e})" for r in fails),
                  ""]
    lines += ["## Results", "", markdown_table(recs), ""]
    others = [r for r in recs if r.get("status") != "ok"]
    if others:
        lines += ["### Not run", ""]
        for r in others:
            why = r.get("reason") or (r.get("error") or "").strip()
            lines.append(f"- **{r['engine']}** on {r['workload']}: {r['status']} — "
                         f"{why.splitlines()[-1] if why else '?'}")
        lines.append("")
    lines += ["## Loss curves", "",
              "Top: the training loss per step of every engine. Bottom: its relative "
              "difference from the reference engine's loss at the same step.", ""]
    for key, name in files.items():
        if key.startswith("loss:"):
            lines += [f"![loss curves of {key[5:]}]({name})", ""]
    if "step-time" in files:
        lines += ["## Time per step", "",
                  "Median milliseconds per training step after the warm-up steps; whiskers "
                  "span the 10th to 90th percentile (the table gives the fastest and slowest "
                  "step). The first step (tracing, compiling) is in the table's *first ms* "
                  "column.", "",
                  f"![step times]({files['step-time']})", ""]
    if "parity" in files:
        lines += ["## Parity", "", f"![parity]({files['parity']})", ""]
    if run.get("programs"):
        lines += _md_programs(run["programs"])
    if lesson:
        lines += _md_lesson(lesson, files)
    return "\n".join(lines) + "\n"


_PROGRAMS_INTRO = (
    "Each program of the tutorial, written for the real library, runs twice in two "
    "processes: as written, and with only its import lines renamed (`import torch` -> "
    "`import yingshe.torch as torch`, `import tensorflow as tf` -> `import yingshe.tf as "
    "tf`). The numbers both print are compared by mode: *exact* where they do not depend "
    "on random initial weights (|y - t| <= 1e-6 + 1e-5 |t|, float32 parity), *converge* "
    "for final losses of models trained from each library's own random weights "
    "(|y - t| <= max(1e-4, 0.02 |t|)), *accuracy* for their accuracies (within 0.02), "
    "*text* for words such as exception class names (equal). A yingshe run that imported "
    "the real library is refused.")


def _program_rows(programs: list[dict]):
    for r in programs:
        checks = r.get("checks", [])
        n_ok = sum(c["ok"] for c in checks)
        modes = sorted({c["mode"] for c in checks})
        worst = [c for c in checks if not c["ok"]][:1] or checks[-1:]
        detail = f"{worst[0]['name']}: {worst[0]['detail']}" if worst else ""
        yield (r["front_end"], r.get("program", r["workload"]), r["status"],
               f"{n_ok}/{len(checks)}" if checks else "", ", ".join(modes),
               r.get("reason") or detail, f"{r['seconds']:.1f}" if "seconds" in r else "")


_PROGRAM_COLUMNS = ("front-end", "program", "result", "checks ok", "modes", "detail",
                    "seconds")


def _md_programs(programs: list[dict]) -> list[str]:
    lines = ["## The tutorial's programs on the front-ends", "", _PROGRAMS_INTRO, "",
             "| " + " | ".join(_PROGRAM_COLUMNS) + " |", "|" + "---|" * len(_PROGRAM_COLUMNS)]
    for row in _program_rows(programs):
        cells = [c.replace("|", "\\|") for c in row]
        if row[2] != "pass":
            cells[2] = f"**{cells[2]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _html_programs(programs: list[dict]) -> list[str]:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in _PROGRAM_COLUMNS)
    body = []
    for row in _program_rows(programs):
        cls = "" if row[2] == "pass" else (" class=skip" if row[2] == "skipped" else " class=bad")
        body.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    return ["<h2>The tutorial's programs on the front-ends</h2>",
            f"<p>{_md_inline(_PROGRAMS_INTRO)}</p>", f"<table><tr>{head}</tr>{''.join(body)}</table>"]


_LESSON_TEXT = (
    "In the graph face (TensorFlow 1 style) the model is *data*: placeholders, Variables "
    "and ops. `minimize()` adds the backward pass to the same graph as more ops (red), "
    "using the very rules the eager tape runs after each `loss.backward()`, and the SGD "
    "update (green ops ending in purple assigns). Before running, the session prunes, "
    "folds and merges the graph")
_LESSON_UPDATE = ("In that code each update's last op writes straight into its Variable "
                  "(`out=`) instead of allocating a result for the assign to copy.")


def _lesson_counts(lesson: dict) -> str:
    return (f"{lesson['nodes_raw']} nodes as built for the training data's shapes, "
            f"{lesson['nodes']} after the passes ({describe_stats(lesson['passes'])})")


def _md_lesson(lesson: dict, files: dict) -> list[str]:
    lines = ["## Static vs dynamic: the graph behind one training step", "",
             f"{_LESSON_TEXT}: {_lesson_counts(lesson)}; then it compiles it into the "
             f"straight-line Python below. {_LESSON_UPDATE} Workload: {lesson['workload']}.",
             "",
             "```python", lesson["code"], "```", ""]
    if "graph" in files:
        lines += [f"![forward, gradient and update graph]({files['graph']})", ""]
    lines += ["The same graph as Mermaid source:", "",
              "```mermaid", lesson["mermaid"], "```", "",
              "The Python that `Session` generated for `run([loss, train_op])` on this "
              "graph (`sess.explain([loss, train_op], feed_dict)`):", "",
              "```python", lesson["source"].rstrip(), "```", ""]
    return lines


def _html_table(records: list[dict]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for row in summary_rows(records):
        if row["status"] == "ok":
            bad = "FAIL" in row.get("parity", "")
            cells = "".join(f"<td>{html.escape(row.get(c, ''))}</td>" for c in COLUMNS)
            body.append(f"<tr{' class=bad' if bad else ''}>{cells}</tr>")
        else:
            cls = "bad" if row["status"] == "failed" else "skip"
            body.append(f"<tr class={cls}><td>{html.escape(row['workload'])}</td>"
                        f"<td>{html.escape(row['engine'])}</td><td colspan={len(COLUMNS) - 2}>"
                        f"<b>{html.escape(row['status'])}</b>: {html.escape(row['note'])}"
                        "</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _md_inline(text: str) -> str:
    """Markdown's `code` and *emphasis* as HTML (the rest escaped)."""
    import re
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out)


def _html_report(run: dict, files: dict, lesson: dict | None, md: str) -> str:
    recs = run["records"]
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset=utf-8>"
             f"<title>yingshe compare — {esc(run['started'])}</title><style>{_CSS}</style>"
             "</head><body>", f"<h1>yingshe compare — {esc(run['started'])}</h1>",
             "<p>The same models, from the same initial weights and on the same data, trained "
             f"on every engine (each in its own process, {run['threads']} thread each).</p><ul>",
             f"<li>command: <code>{esc(run['command'])}</code></li>",
             f"<li>wall time: {run['wall_s']:.1f} s</li>",
             f"<li>machine: {esc(str(run['machine'].get('cpu', '?')))}, "
             f"{run['machine'].get('cpus')} CPUs</li>",
             f"<li>engines not run: {_md_inline(_not_selected(run))}</li>",
             "<li>versions: " + esc(", ".join(f"{k} {v}" for k, v in run["versions"].items()))
             + "</li>",
             f"<li>parity: largest relative loss difference from the reference engine over the "
             f"first {parity_steps(recs)} steps; tolerance rtol {run['tolerance']['rtol']:g}, atol "
             f"{run['tolerance']['atol']:g}</li></ul>"]
    fails = parity_failures(recs)
    if fails:
        parts.append("<p><b>Parity failures:</b> " + esc(", ".join(
            f"{r['engine']} on {r['workload']}" for r in fails)) + "</p>")
    parts += ["<h2>Results</h2>", _html_table(recs), "<h2>Loss curves</h2>"]
    for key, name in files.items():
        if key.startswith("loss:"):
            parts.append(f'<p><img src="{esc(name)}" alt="loss curves of {esc(key[5:])}"></p>')
    if "step-time" in files:
        parts += ["<h2>Time per step</h2>", "<p>Median ms per step after warm-up; whiskers "
                  "10th–90th percentile (the table gives min–max); the first step (tracing, "
                  "compiling) is the <i>first ms</i> column.</p>", f'<p><img src="{esc(files["step-time"])}" alt="step times"></p>']
    if "parity" in files:
        parts += ["<h2>Parity</h2>", f'<p><img src="{esc(files["parity"])}" alt="parity"></p>']
    if run.get("programs"):
        parts += _html_programs(run["programs"])
    if lesson:
        graph = (f'<p><img src="{esc(files["graph"])}" alt="forward, gradient and update '
                 f'graph"></p>' if "graph" in files else "")
        parts += ["<h2>Static vs dynamic: the graph behind one training step</h2>",
                  f"<p>{_md_inline(_LESSON_TEXT)}: {esc(_lesson_counts(lesson))}; then it "
                  f"compiles it into the Python on the right. {_md_inline(_LESSON_UPDATE)} "
                  f"Workload: {esc(lesson['workload'])}.</p>",
                  f"<pre>{esc(lesson['code'])}</pre>",
                  "<div class=side><div><h3>Forward, gradient and update graph</h3>",
                  graph,
                  "<details><summary>Mermaid source</summary>"
                  f"<pre>{esc(lesson['mermaid'])}</pre></details></div>",
                  "<div><h3>The generated Python of <code>run([loss, train_op])</code>"
                  f"</h3><pre>{esc(lesson['source'])}</pre></div></div>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(out_dir: str, run: dict, lesson: dict | None = None) -> dict[str, str]:
    """Plots, ``report.md`` and ``report.html`` in ``out_dir``; returns their names."""
    os.makedirs(out_dir, exist_ok=True)
    files = write_plots(out_dir, run["records"])
    if lesson and lesson.get("program") is not None:
        # drawn here (matplotlib), so the report shows it offline; Mermaid source beside
        from yingshe.graph.viz import to_png
        to_png(lesson["program"], os.path.join(out_dir, "graph.png"),
               title=f"{lesson['workload']}: forward (green), gradient (red), SGD update "
                     "(assigns, purple)")
        files["graph"] = "graph.png"
    md = _md_report(run, files, lesson)
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as fh:
        fh.write(md)
    with open(os.path.join(out_dir, "report.html"), "w", encoding="utf-8") as fh:
        fh.write(_html_report(run, files, lesson, md))
    return {**files, "report.md": "report.md", "report.html": "report.html"}
