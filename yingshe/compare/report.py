"""The report of a ``yingshe compare`` run: parity, plots, Markdown and HTML.

``add_parity(records)`` compares every engine's loss trajectory with the reference
engine's (PyTorch eager when it ran, else yingshe eager) under the loss-trajectory
tolerance (``yingshe.testing.tolerances``); ``write_report(out_dir, run)`` draws the PNG
plots (matplotlib, Agg; without it the report has no pictures and says which extra adds
them) and writes ``report.md`` and ``report.html`` next to them, from one list of blocks.
``graph_lesson()`` builds the tutorial's "static vs dynamic" exhibit: the
linear-regression model's forward and gradient graph (``yingshe.graph``) as Mermaid,
beside the code its training step compiles to. Nothing here imports PyTorch or
TensorFlow.
"""

from __future__ import annotations

import html
import os
from typing import Iterable

import numpy as np

from yingshe.testing.tolerances import tol

__all__ = ["add_parity", "parity_failures", "reference_engine", "mermaid", "graph_lesson",
           "write_plots", "write_report", "plot_extra_missing", "pass_summary",
           "ENGINE_ORDER", "PARITY_STEPS"]

# the display order (and colour) of engines in tables and plots
ENGINE_ORDER = ("yingshe-eager", "yingshe-graph", "yingshe-compiled", "torch-eager",
                "tensorflow-eager", "tensorflow-function", "torch-compile", "tensorflow-xla",
                "jax-jit")
_COLORS = {"yingshe-eager": "#d62728", "yingshe-graph": "#ff7f0e",
           "yingshe-compiled": "#8c564b", "torch-eager": "#1f77b4",
           "tensorflow-eager": "#2ca02c", "tensorflow-function": "#17becf",
           "torch-compile": "#9467bd", "tensorflow-xla": "#bcbd22", "jax-jit": "#7f7f7f"}
_STYLES = {"yingshe-eager": "-", "yingshe-graph": "--", "yingshe-compiled": ":",
           "torch-eager": "-", "tensorflow-eager": "-.", "tensorflow-function": ":",
           "torch-compile": "--", "tensorflow-xla": "-.", "jax-jit": "--"}

# DESIGN: "loss trajectories across engines, same weights, first 50 steps"
PARITY_STEPS = 50


def short(x: float) -> str:
    """A tolerance as people write it: 1e-4, not 0.0001 (other numbers as ``:g``)."""
    text = f"{x:.0e}"
    return text.replace("e-0", "e-") if float(text) == x else f"{x:g}"


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

PLOT_EXTRA = 'pip install "yingshe[plot]"'


def plot_extra_missing() -> str:
    """Why the report has no pictures, in words with the command that adds them; empty
    when matplotlib (the ``plot`` extra) is installed."""
    from yingshe.compare.harness import installed
    if installed("matplotlib"):
        return ""
    return f"matplotlib is not installed; `{PLOT_EXTRA}` adds them"


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


# a line style and a marker per engine, so lines that coincide stay distinguishable
_MARKERS = {"yingshe-eager": "o", "yingshe-graph": "s", "yingshe-compiled": "^",
            "torch-eager": "D", "tensorflow-eager": "v", "tensorflow-function": "P",
            "torch-compile": "X", "tensorflow-xla": "*", "jax-jit": "h"}


def _style(engine: str, index: int, n: int, steps: int) -> dict:
    """Line style, colour and sparse markers, staggered between engines (``index`` of
    ``n``) so that identical curves still show every engine's marker."""
    every = max(steps // 8, 1)
    return {"color": color(engine), "ls": _STYLES.get(engine, "-"),
            "marker": _MARKERS.get(engine, "o"), "markersize": 5,
            "markevery": (min(index * every // max(n, 1), max(steps - 1, 0)), every)}


def _running_max_rel(losses, ref_losses) -> np.ndarray:
    """The largest relative difference from the reference's loss up to each step."""
    n = min(len(losses), len(ref_losses))
    a = np.asarray(losses[:n], dtype=np.float64)
    b = np.asarray(ref_losses[:n], dtype=np.float64)
    rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-30)
    return np.maximum.accumulate(rel) if n else rel


def _loss_figure(plt, wname: str, rows: list[dict]):
    """Top: the loss per step of every engine. Bottom: per engine, the running maximum of
    its relative difference from the reference engine, against the tolerance."""
    fig, (ax, axd) = plt.subplots(2, 1, figsize=(9.6, 6.6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 2]})
    ref = next((r.get("parity_reference") for r in rows if r.get("parity_reference")), None)
    ref_losses = next((r["losses"] for r in rows if r["engine"] == ref), None)
    lo_all = min(min(r["losses"]) for r in rows)
    hi_all = max(max(r["losses"]) for r in rows)
    steps = max(len(r["losses"]) for r in rows)
    for i, r in enumerate(rows):
        ax.plot(np.arange(len(r["losses"])), r["losses"], lw=1.5, alpha=0.9, label=r["engine"],
                **_style(r["engine"], i, len(rows), steps))
    if lo_all > 0 and hi_all / lo_all > 20:     # a log scale only over a decade and more
        ax.set_yscale("log")
    ax.set_ylabel("training loss")
    ax.set_title(f"{wname}: loss per step (same initial weights and data)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

    rtol, _ = tol("trajectory", "float32")
    curves = {}
    if ref_losses is not None:
        for r in rows:
            if r["engine"] != ref:
                curves[r["engine"]] = _running_max_rel(r["losses"], ref_losses)
    positive = [c[c > 0] for c in curves.values() if np.any(c > 0)]
    floor = 10 ** np.floor(np.log10(min(c.min() for c in positive))) / 10 if positive \
        else rtol * 1e-4
    drawn: dict[bytes, str] = {}
    others = [r for r in rows if r["engine"] in curves]
    for i, r in enumerate(others):
        e, c = r["engine"], curves[r["engine"]]
        twin = drawn.setdefault(c.tobytes(), e)
        label = e if twin == e else f"{e} (same as {twin})"
        if not np.any(c > 0):
            label += ": identical to the reference"
        axd.plot(np.arange(len(c)), np.maximum(c, floor), lw=1.3, label=label,
                 **_style(e, i, len(others), steps))
    axd.axhline(rtol, color="k", ls="--", lw=1, label=f"tolerance (relative {short(rtol)})")
    axd.set_yscale("log")
    top = max([rtol] + [float(c.max()) for c in curves.values()])
    axd.set_ylim(floor / 2, top * 20)
    axd.set_xlabel("step")
    axd.set_ylabel("largest relative\ndifference so far")
    axd.grid(True, which="both", alpha=0.3)
    axd.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    note = (f"Bottom: for each engine, the largest |loss − {ref}| / |{ref}| over the steps "
            f"so far ({ref} is the reference)." if ref else "")
    if ref and any(np.any(c == 0) for c in curves.values()):
        note += f" A difference of exactly 0 is drawn at {short(floor)}."
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    if note:
        fig.text(0.01, 0.01, note, fontsize=8, color="#444", ha="left", va="bottom",
                 wrap=True)
    return fig


def _bar_slots(workloads, engines):
    width = 0.8 / max(len(engines), 1)
    return width, lambda i, j: i + (j - (len(engines) - 1) / 2) * width


def _step_time_figure(plt, workloads, engines, timed):
    fig, ax = plt.subplots(figsize=(max(7.5, 1.6 * len(workloads) + 3), 4.8))
    width, slot = _bar_slots(workloads, engines)
    for j, e in enumerate(engines):
        xs, med, lo, hi = [], [], [], []
        for i, wname in enumerate(workloads):
            r = next((r for r in timed if r["workload"] == wname and r["engine"] == e), None)
            if r is None:
                continue
            xs.append(slot(i, j))
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
    return fig


def _parity_figure(plt, workloads, engines, compared, records):
    """Bars of each engine's largest relative difference from the reference over the
    parity steps; the y-range fits the data and the tolerance; the reference engine's
    slot says so; an engine identical to the reference gets a "0" on the axis."""
    rtol, _ = tol("trajectory", "float32")
    vals = [r["parity_rel"] for r in compared if r["parity_reference"] != r["engine"]]
    positive = [v for v in vals if v > 0]
    lo = 10 ** np.floor(np.log10(min(positive + [rtol]))) / 10
    hi = 10 ** np.ceil(np.log10(max(positive + [rtol]))) * 10
    fig, ax = plt.subplots(figsize=(max(7.5, 1.6 * len(workloads) + 3), 4.8))
    width, slot = _bar_slots(workloads, engines)
    for j, e in enumerate(engines):
        xs, heights = [], []
        for i, wname in enumerate(workloads):
            r = next((r for r in compared if r["workload"] == wname and r["engine"] == e),
                     None)
            if r is None:
                continue
            x = slot(i, j)
            if r["parity_reference"] == e:
                ax.text(x, lo * 1.15, "reference", rotation=90, ha="center", va="bottom",
                        fontsize=7, color=color(e))
            elif r["parity_rel"] == 0:
                ax.text(x, lo * 1.15, "0", ha="center", va="bottom", fontsize=8)
            else:
                xs.append(x)
                heights.append(r["parity_rel"])
        if xs:
            ax.bar(xs, [h - lo for h in heights], width, bottom=lo, color=color(e), label=e)
        else:
            ax.bar([], [], width, color=color(e), label=e)   # in the legend all the same
    ax.axhline(rtol, color="k", ls="--", lw=1, label=f"tolerance (relative {short(rtol)})")
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads, rotation=15)
    ax.set_ylabel(f"largest relative loss difference\n(first {parity_steps(records)} steps)")
    refs = sorted({r["parity_reference"] for r in compared})
    ax.set_title(f"parity with the reference engine ({', '.join(refs)})")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def write_plots(out_dir: str, records: list[dict]) -> dict[str, str]:
    """PNG files (relative names): ``loss-<workload>.png`` per workload, ``step-time.png``,
    ``parity.png``. Returns {key: file name}; empty without matplotlib (the report then
    says which extra adds them)."""
    if plot_extra_missing():
        return {}
    plt = _plt()
    files: dict[str, str] = {}
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    ok = [r for r in records if r.get("status") == "ok"]
    engines = order_engines(r["engine"] for r in ok)

    def save(fig, name: str, key: str) -> None:
        fig.savefig(os.path.join(out_dir, name), dpi=110)
        plt.close(fig)
        files[key] = name

    for wname in workloads:
        rows = sorted((r for r in ok if r["workload"] == wname),
                      key=lambda r: engines.index(r["engine"]))
        if rows:
            save(_loss_figure(plt, wname, rows), f"loss-{wname}.png", f"loss:{wname}")
    run_workloads = [w for w in workloads if any(r["workload"] == w for r in ok)]
    timed = [r for r in ok if "median_ms" in r]
    if timed:
        save(_step_time_figure(plt, run_workloads, engines, timed), "step-time.png",
             "step-time")
    compared = [r for r in ok if "parity_rel" in r]
    if compared:
        save(_parity_figure(plt, run_workloads, engines, compared, records), "parity.png",
             "parity")
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
# The report is a list of blocks, rendered twice: Markdown (report.md) and HTML (report.html),
# so both say the same thing.

_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#202124}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #dadce0;padding:3px 7px;text-align:left}th{background:#f1f3f4}
tr.bad td{background:#fce8e6}tr.skip td{color:#5f6368}img{max-width:100%;border:1px solid #eee}
a.full{display:inline-block}figcaption{font-size:12px;color:#5f6368}figure{margin:1em 0}
pre{background:#f8f9fa;padding:.8em;overflow:auto;font-size:12px}
pre.wrap{white-space:pre-wrap;overflow-wrap:anywhere}
.side{display:flex;gap:1em;align-items:flex-start}.side>div{flex:1;min-width:0}
code{background:#f1f3f4;padding:0 3px}.note{background:#fef7e0;padding:.5em .8em}"""


def _not_selected(run: dict) -> str:
    """The known engines this run did not select (the opt-in ones compile for seconds to
    minutes first), and how to add them."""
    from yingshe.compare.engines import ENGINES
    left = [e for e in ENGINES if e not in run.get("engines", ())]
    return (", ".join(left) + " (add them with `--engines all` or by id)") if left else "none"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def pass_summary(lesson: dict) -> str:
    """What the compiler's passes did to the lesson's graph, in plain words."""
    stats = lesson["passes"]
    done = []
    if stats.get("fold"):
        done.append(f"{_plural(stats['fold'], 'op')} whose inputs are all constants "
                    "computed once, ahead of time")
    if stats.get("cse"):
        done.append(f"{_plural(stats['cse'], 'repeated computation')} merged")
    if stats.get("simplify"):
        done.append(f"{_plural(stats['simplify'], 'node')} simplified away (x * 1, x + 0 "
                    "and the like)")
    if stats.get("dce"):
        done.append(f"{_plural(stats['dce'], 'node')} that nothing uses any more removed")
    for k, v in stats.items():
        if v and k not in ("fold", "cse", "simplify", "dce"):
            done.append(f"{k}: {v}")
    how = ("; ".join(done)) if done else "nothing to remove"
    return (f"the graph has {_plural(lesson['nodes_raw'], 'node')} as built for the training "
            f"data's shapes and {lesson['nodes']} after the passes ({how})")


def _parity_words(run: dict, recs: list[dict]) -> str:
    t = run["tolerance"]
    refs = sorted({r["parity_reference"] for r in recs if r.get("parity_reference")})
    ref = " and ".join(refs) if refs else "PyTorch eager, or yingshe eager without PyTorch"
    return (f"parity: each engine's training loss is compared with the reference engine's "
            f"({ref}) at each of the first {parity_steps(recs)} steps; an engine passes when "
            f"every difference is within relative {short(t['rtol'])} plus absolute "
            f"{short(t['atol'])} "
            f"(float32 rounding differs between libraries; a wrong gradient does not stay "
            f"that close) and its first loss within relative {short(t['step0_rtol'])}. The table "
            "gives the largest relative difference")


def _blocks(run: dict, files: dict, lesson: dict | None) -> list[tuple]:
    recs = run["records"]
    m = run["machine"]
    blocks: list[tuple] = [
        ("h", 1, f"yingshe compare — {run['started']}"),
        ("p", "The same models, from the same initial weights and on the same data, trained "
              "on every engine (each in its own process, "
              f"{_plural(run['threads'], 'thread')} each, the engines one after another)."),
        ("ul", [f"command: `{run['command']}`",
                f"wall time: {run['wall_s']:.1f} s",
                f"machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs, {m.get('platform', '')}",
                "versions: " + ", ".join(f"{k} {v}" for k, v in run["versions"].items()),
                f"engines not run: {_not_selected(run)}",
                _parity_words(run, recs)])]
    missing = plot_extra_missing() if not any(n.endswith(".png") for n in files.values()) \
        else ""
    if missing:
        blocks.append(("note", f"**No pictures in this report**: {missing} (the loss "
                               "curves, the time per step, the parity chart and the drawing "
                               "of the graph)."))
    fails = parity_failures(recs)
    if fails:
        blocks.append(("p", "**Parity failures:** " + ", ".join(
            f"{r['engine']} on {r['workload']} ({r['parity_rel']:.2e})" for r in fails)))
    blocks += [("h", 2, "Results"), ("results", recs)]
    not_run = _not_run_items(recs)
    if not_run:
        blocks += [("h", 3, "Not run"), ("ul", not_run)]
    losses = [(k[5:], name) for k, name in files.items() if k.startswith("loss:")]
    if losses:
        blocks += [("h", 2, "Loss curves"),
                   ("p", "Top: the training loss per step of every engine. Bottom: for each "
                         "engine, the largest relative difference from the reference engine's "
                         "loss over the steps so far, against the tolerance; engines whose "
                         "curves coincide are named in the legend.")]
        blocks += [("img", name, f"loss curves of {w}") for w, name in losses]
    if "step-time" in files:
        blocks += [("h", 2, "Time per step"),
                   ("p", "Median milliseconds per training step after the warm-up steps; "
                         "whiskers span the 10th to 90th percentile (the table gives the "
                         "fastest and slowest step). The first step (tracing, compiling) is in "
                         "the table's *first ms* column."),
                   ("img", files["step-time"], "time per step")]
    if "parity" in files:
        blocks += [("h", 2, "Parity"),
                   ("p", "The largest relative difference of each engine's loss from the "
                         "reference engine's over the parity steps (the table's *parity* "
                         "column), against the tolerance."),
                   ("img", files["parity"], "parity")]
    if run.get("programs"):
        blocks += [("h", 2, "The tutorial's programs on the front-ends"),
                   ("p", _PROGRAMS_INTRO), ("programs", run["programs"])]
    if lesson:
        blocks += _lesson_blocks(lesson, files)
    return blocks


def _not_run_items(recs: list[dict]) -> list[str]:
    """One line per reason a pair did not run (skipped: what to install; unsupported;
    failed: the error's last line), naming the engines and workloads it applies to."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in recs:
        if r.get("status") != "ok":
            why = (r.get("reason") or (r.get("error") or "").strip() or "?").splitlines()[-1]
            groups.setdefault((r["status"], why), []).append(r)
    items = []
    for (status, why), rs in groups.items():
        engines = list(dict.fromkeys(r["engine"] for r in rs))
        workloads = list(dict.fromkeys(r["workload"] for r in rs))
        if len(rs) == len(engines) * len(workloads):      # every engine on every workload
            where = f"**{', '.join(engines)}** on {', '.join(workloads)}"
        else:
            where = "; ".join(f"**{r['engine']}** on {r['workload']}" for r in rs)
        items.append(f"{status}: {why} — {where}")
    return items


_PROGRAMS_INTRO = (
    "Each program of the tutorial, written for the real library, runs twice in two "
    "processes: as written, and with only its import lines renamed (`import torch` -> "
    "`import yingshe.torch as torch`, `import tensorflow as tf` -> `import yingshe.tf as "
    "tf`). The numbers both print are compared by mode: *exact* where they do not depend "
    "on random initial weights (|y - t| <= 1e-6 + 1e-5 |t|, float32 parity), *converge* "
    "for final losses of models trained from each library's own random weights "
    "(|y - t| <= max(1e-4, 0.02 |t|)), *accuracy* for their accuracies (within 0.02), "
    "*text* for words such as exception class names (equal). A yingshe run that imported "
    "the real library is refused. Programs run several at a time (only what they print "
    "is compared), so *seconds* is each pair's wall time on a shared machine, not a "
    "speed figure.")

_PROGRAM_COLUMNS = ("front-end", "program", "result", "checks ok", "modes", "detail",
                    "seconds")


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


_LESSON_TEXT = (
    "In the graph face (TensorFlow 1 style) the model is *data*: placeholders, Variables "
    "and ops. `minimize()` adds the backward pass to the same graph as more ops (red), "
    "using the very rules the eager tape runs after each `loss.backward()`, and the SGD "
    "update (purple: the new value of each Variable and the assign that stores it). "
    "Before running, the session prunes, folds and merges the graph")
_LESSON_UPDATE = ("In that code each update's last op writes straight into its Variable "
                  "(`out=`) instead of allocating a result for the assign to copy.")


def _lesson_blocks(lesson: dict, files: dict) -> list[tuple]:
    graph = [("h", 3, "Forward, gradient and update graph")]
    if "graph" in files:
        graph.append(("img", files["graph"], "forward, gradient and update graph"))
    graph.append(("details", "The same graph as Mermaid source", "mermaid", lesson["mermaid"]))
    code = [("h", 3, "The Python that `Session` generated for `run([loss, train_op])`"),
            ("code", "python", lesson["source"].rstrip(), "wrap")]
    return [("h", 2, "Static vs dynamic: the graph behind one training step"),
            ("p", f"{_LESSON_TEXT}: {pass_summary(lesson)}. Then it compiles the graph into "
                  f"straight-line Python (`sess.explain([loss, train_op], feed_dict)` prints "
                  f"it). {_LESSON_UPDATE} Workload: {lesson['workload']}."),
            ("code", "python", lesson["code"], ""),
            ("side", graph, code)]


# ---- rendering: Markdown ---------------------------------------------------------------------

def _md_programs(programs: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(_PROGRAM_COLUMNS) + " |", "|" + "---|" * len(_PROGRAM_COLUMNS)]
    for row in _program_rows(programs):
        cells = [c.replace("|", "\\|") for c in row]
        if row[2] != "pass":
            cells[2] = f"**{cells[2]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _to_md(blocks: list[tuple]) -> list[str]:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out += ["#" * b[1] + " " + b[2], ""]
        elif kind in ("p", "note"):
            out += [b[1], ""]
        elif kind == "ul":
            out += [f"- {item}" for item in b[1]] + [""]
        elif kind == "img":
            out += [f"![{b[2]}]({b[1]})", ""]
        elif kind == "results":
            out += [markdown_table(b[1]), ""]
        elif kind == "programs":
            out += _md_programs(b[1]) + [""]
        elif kind == "code":
            out += [f"```{b[1]}", b[2], "```", ""]
        elif kind == "details":
            out += [b[1] + ":", "", f"```{b[2]}", b[3], "```", ""]
        elif kind == "side":
            out += _to_md(b[1]) + _to_md(b[2])
    return out


# ---- rendering: HTML -------------------------------------------------------------------------

def _md_inline(text: str) -> str:
    """Markdown's `code`, **strong** and *emphasis* as HTML (the rest escaped)."""
    import re
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out)


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


def _html_programs(programs: list[dict]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in _PROGRAM_COLUMNS)
    body = []
    for row in _program_rows(programs):
        cls = "" if row[2] == "pass" else (" class=skip" if row[2] == "skipped" else " class=bad")
        body.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _to_html(blocks: list[tuple]) -> list[str]:
    esc = html.escape
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append(f"<h{b[1]}>{_md_inline(b[2])}</h{b[1]}>")
        elif kind == "p":
            out.append(f"<p>{_md_inline(b[1])}</p>")
        elif kind == "note":
            out.append(f"<p class=note>{_md_inline(b[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_md_inline(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "img":
            # every picture links to itself: the browser shows it at full size
            out.append(f'<figure><a class=full href="{esc(b[1])}" title="full size">'
                       f'<img src="{esc(b[1])}" alt="{esc(b[2])}"></a>'
                       "<figcaption>click the picture for full size</figcaption></figure>")
        elif kind == "results":
            out.append(_html_table(b[1]))
        elif kind == "programs":
            out.append(_html_programs(b[1]))
        elif kind == "code":
            cls = f" class={b[3]}" if b[3] else ""
            out.append(f"<pre{cls}>{esc(b[2])}</pre>")
        elif kind == "details":
            out.append(f"<details><summary>{esc(b[1])}</summary><pre>{esc(b[3])}</pre>"
                       "</details>")
        elif kind == "side":
            out.append("<div class=side><div>" + "\n".join(_to_html(b[1])) + "</div><div>"
                       + "\n".join(_to_html(b[2])) + "</div></div>")
    return out


def write_report(out_dir: str, run: dict, lesson: dict | None = None) -> dict[str, str]:
    """Plots, ``report.md`` and ``report.html`` in ``out_dir``; returns their names.
    Without matplotlib there are no plots, and the report says which extra adds them."""
    os.makedirs(out_dir, exist_ok=True)
    files = write_plots(out_dir, run["records"])
    if lesson and lesson.get("program") is not None and not plot_extra_missing():
        # drawn here (matplotlib), so the report shows it offline; Mermaid source beside
        from yingshe.graph.viz import to_png
        to_png(lesson["program"], os.path.join(out_dir, "graph.png"),
               title=f"{lesson['workload']}: forward (green), gradient (red), SGD update "
                     "(purple)")
        files["graph"] = "graph.png"
    blocks = _blocks(run, files, lesson)
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(_to_md(blocks)))
    title = html.escape(f"yingshe compare — {run['started']}")
    page = ("<!doctype html><html><head><meta charset=utf-8>"
            f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(_to_html(blocks)) + "\n</body></html>\n")
    with open(os.path.join(out_dir, "report.html"), "w", encoding="utf-8") as fh:
        fh.write(page)
    return {**files, "report.md": "report.md", "report.html": "report.html"}
