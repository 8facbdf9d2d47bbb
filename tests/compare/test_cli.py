"""`yingshe compare` end to end, the yingshe-graph engine, and the report pieces.

The end-to-end run is a subprocess (`python -m yingshe compare --steps 5`) on every
installed default engine; the checks read its results.json and files and compare
the loss trajectories themselves (NumPy), not through the report's own numbers.
"""

import html
import json
import os
import re
import sys

import numpy as np
import pytest

from yingshe.compare.engines import ENGINES
from yingshe.compare.harness import available
from yingshe.testing.hang import run_guarded
from yingshe.testing.tolerances import tol

STEPS = 5
# two of the four tutorial workloads keep the run under a minute (engine processes
# dominate: TensorFlow takes seconds to import); the in-process graph-engine tests
# and the default run cover the others
WORKLOADS = ("linreg-diabetes", "softmax-digits")
PNG = b"\x89PNG\r\n\x1a\n"
DEFAULT_ENGINES = [e for e, spec in ENGINES.items() if spec[2]]


def _cli(*args, cwd=None, env=None):
    return run_guarded([sys.executable, "-m", "yingshe", *args], capture_output=True,
                       text=True, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "run"
    # the PyTorch programs only: each front-end's programs also run in its own tests
    proc = _cli("compare", "--steps", str(STEPS), "--workloads", *WORKLOADS, "--out", str(out),
                "--quiet", "--programs", "torch")
    with open(out / "results.json") as fh:
        results = json.load(fh)
    return proc, out, results


def test_compare_exits_zero_and_prints_the_table(compare_run):
    proc, out, results = compare_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert results["exit_code"] == 0 and results["parity_failures"] == []
    for w in WORKLOADS:
        assert w in proc.stdout
    assert "report.html" in proc.stdout


def test_tutorial_programs_ran_on_the_front_end_and_matched(compare_run):
    from yingshe.compare.programs import programs
    proc, out, results = compare_run
    recs = results["programs"]
    assert sorted(os.path.basename(r["program"]) for r in recs) == \
        sorted(os.path.basename(p) for p in programs("torch"))
    assert len(recs) == len(programs("torch")) >= 8
    for r in recs:
        assert r["status"] == "pass", r
        assert r["checks"] and all(c["ok"] for c in r["checks"])
    assert "tutorial programs on the front-ends" in proc.stdout
    report = (out / "report.md").read_text()
    assert "The tutorial's programs on the front-ends" in report
    assert all(os.path.basename(r["program"]) in report for r in recs)


def test_results_json_has_versions_threads_machine(compare_run):
    _, _, results = compare_run
    assert results["versions"]["numpy"] and results["versions"]["python"]
    assert results["threads"] == 1
    assert results["machine"]["cpus"] >= 1
    assert results["workloads"] == list(WORKLOADS)
    assert set(results["engines"]) == set(DEFAULT_ENGINES)


def test_every_engine_present_or_explained(compare_run):
    _, _, results = compare_run
    require = os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1"
    recs = {(r["workload"], r["engine"]): r for r in results["records"]}
    for w in WORKLOADS:
        for e in DEFAULT_ENGINES:
            r = recs[(w, e)]
            ok, install = available(e)
            if not ok and not require:
                assert r["status"] == "skipped" and install in r["reason"]
                continue
            assert r["status"] == "ok", f"{w} on {e}: {r.get('error')}"
            assert len(r["losses"]) == STEPS and np.all(np.isfinite(r["losses"]))
            metric = r["metric"]
            kind = "mse" if w.startswith("linreg") else "accuracy"
            assert kind in metric and f"test_{kind}" in metric
            assert r["peak_rss_mb"] > 0 and r["median_ms"] > 0 and r["first_ms"] > 0


def _by_workload(results):
    by_w = {}
    for r in results["records"]:
        if r["status"] == "ok":
            by_w.setdefault(r["workload"], {})[r["engine"]] = r
    return by_w


@pytest.mark.parametrize("workload", WORKLOADS)
def test_step0_loss_agrees(compare_run, workload):
    rtol, _ = tol("step0", "float32")
    rows = _by_workload(compare_run[2])[workload]
    ref = rows.get("torch-eager") or rows["yingshe-eager"]
    for e, r in rows.items():
        np.testing.assert_allclose(r["losses"][0], ref["losses"][0], rtol=rtol, atol=0,
                                   err_msg=f"{workload}: {e}")


@pytest.mark.parametrize("workload", WORKLOADS)
def test_trajectory_parity_within_tolerance(compare_run, workload):
    rtol, atol = tol("trajectory", "float32")
    rows = _by_workload(compare_run[2])[workload]
    ref = rows.get("torch-eager") or rows["yingshe-eager"]
    for e, r in rows.items():
        assert r["shared_weights"] and r["parity_reference"] == ref["engine"]
        np.testing.assert_allclose(r["losses"], ref["losses"], rtol=rtol, atol=atol,
                                   err_msg=f"{workload}: {e} vs {ref['engine']}")
        assert r["parity_ok"]
        a, b = np.array(r["losses"]), np.array(ref["losses"])
        assert r["parity_rel"] == pytest.approx(np.max(np.abs(a - b) / np.abs(b)), abs=1e-12)


def test_plots_written_and_non_empty(compare_run):
    _, out, results = compare_run
    pngs = sorted(p for p in os.listdir(out) if p.endswith(".png"))
    expected = {f"loss-{w}.png" for w in WORKLOADS} | {"step-time.png", "parity.png"}
    assert expected <= set(pngs)
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.image as mpimg
    for name in pngs:
        data = (out / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5000, name
        img = mpimg.imread(str(out / name))
        assert img.shape[0] > 200 and img.shape[1] > 200
        assert img[..., :3].std() > 0.01, f"{name} is blank"


def test_report_links_are_valid(compare_run):
    _, out, _ = compare_run
    md = (out / "report.md").read_text(encoding="utf-8")
    page = (out / "report.html").read_text(encoding="utf-8")
    md_links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    html_links = re.findall(r'(?:src|href)="([^"]+)"', page)
    local = [x for x in md_links + html_links if not x.startswith(("http://", "https://"))]
    assert md_links and html_links
    for link in local:
        assert (out / link).is_file(), link
    pngs = {p for p in os.listdir(out) if p.endswith(".png")}
    assert pngs <= set(md_links) and pngs <= set(html_links)


def test_report_has_the_graph_lesson(compare_run):
    _, out, _ = compare_run
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "```mermaid\nflowchart TB" in md
    assert ":::grad" in md and ":::fwd" in md and ":::feed" in md and ":::var" in md
    # the SGD update computes straight into each Variable (its destination is the
    # Variable's own buffer), then marks it assigned: no fresh array, no copy
    assert "def graph_program(feeds):" in md and "assign_written(" in md
    assert re.search(r"= inplace_sgd_update_\d+\(\(var\d+\._data, ", md)
    assert "assign_var(" not in md
    assert ":::update" in md   # the SGD update's assigns: the same graph as the code
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Mermaid source" in page and "def graph_program" in page
    # drawn offline (no script from a CDN), an image of the same graph
    assert "cdn." not in page and '<img src="graph.png"' in page
    png = (out / "graph.png").read_bytes()
    assert png.startswith(PNG) and len(png) > 10_000


def test_one_process_per_engine_in_workload_order(compare_run):
    """Each engine ran every workload in one process (its framework imported once), and
    the records come back in (workload, engine) order with a peak memory per workload."""
    _, _, results = compare_run
    recs = results["records"]
    assert [(r["workload"], r["engine"]) for r in recs] == \
        [(w, e) for w in WORKLOADS for e in results["engines"]]
    pids = {}
    for r in recs:
        if r["status"] == "ok":
            pids.setdefault(r["engine"], set()).add(r["pid"])
            assert r["peak_rss_mb"] > 0 and r.get("peak_rss_scope") != "process"
    assert pids and all(len(p) == 1 for p in pids.values())
    assert len({next(iter(p)) for p in pids.values()}) == len(pids)


def test_results_record_the_time_of_each_phase(compare_run):
    proc, _, results = compare_run
    phases = results["phases"]
    assert set(phases) == {"engines", "programs", "report"}
    for v in phases.values():
        assert v["wall_s"] > 0 and v["cpu_s"] > 0
    assert "time: engines" in proc.stdout


def test_report_is_written_for_a_reader(compare_run):
    """No reference to a document the user does not have; every picture opens at full
    size; the generated code wraps; the passes in plain words."""
    _, out, _ = compare_run
    md = (out / "report.md").read_text(encoding="utf-8")
    page = (out / "report.html").read_text(encoding="utf-8")
    for text in (md, html.unescape(page)):
        assert "DESIGN" not in text
        assert "nodes as built for the training data's shapes" in text
        assert "ops folded" not in text and "dead nodes removed" not in text
    for name in re.findall(r'<img src="([^"]+)"', page):
        assert f'<a class=full href="{name}"' in page, name
    assert "<pre class=wrap>def graph_program" in page
    assert "pre.wrap{white-space:pre-wrap" in page


# ---- CLI behaviour ----------------------------------------------------------------------------

def test_version():
    import yingshe
    proc = _cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"yingshe {yingshe.__version__}"


def test_help_names_no_design_document():
    for args in (("--help",), ("compare", "--help"), ("bench", "--help")):
        proc = _cli(*args)
        assert proc.returncode == 0 and "DESIGN" not in proc.stdout, args
    assert 'pip install "yingshe[plot]"' in _cli("compare", "--help").stdout

def test_help_explains_each_subcommand():
    proc = _cli("--help")
    assert proc.returncode == 0
    assert "compare" in proc.stdout and "bench" in proc.stdout
    for sub, words in (("compare", ("--workloads", "--engines", "--steps", "--out",
                                    "--device", "'all'")),
                       ("bench", ("--batch-sizes", "--engines", "--steps"))):
        p = _cli(sub, "--help")
        assert p.returncode == 0
        for w in words:
            assert w in p.stdout, (sub, w)


def test_device_other_than_cpu_is_a_clear_error():
    proc = _cli("compare", "--device", "cuda", "--steps", "1")
    assert proc.returncode != 0
    assert "--device 'cuda'" in proc.stderr and "cpu" in proc.stderr


def test_unknown_engine_and_workload_are_errors():
    p = _cli("compare", "--engines", "nope")
    assert p.returncode != 0 and "unknown engine 'nope'" in p.stderr
    p = _cli("compare", "--workloads", "nope")
    assert p.returncode != 0 and "unknown workload 'nope'" in p.stderr


def test_bench_across_batch_sizes(tmp_path):
    proc = _cli("bench", "--workloads", "linreg", "--batch-sizes", "8", "32", "--engines",
                "yingshe-eager", "--steps", "3", "--warmup", "1", "--quiet",
                "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((tmp_path / "results.json").read_text())
    names = [r["workload"] for r in res["records"]]
    assert names == ["linreg@b8", "linreg@b32"]
    assert all(r["status"] == "ok" and len(r["losses"]) == 3 for r in res["records"])
    assert "linreg@b8" in proc.stdout and "linreg@b32" in proc.stdout


def test_batch_variants_resolve_in_any_process():
    from yingshe.compare import workloads as W
    v = W.WORKLOADS[W.with_batch("mlp", 16)]
    assert v.batch == 16 and v.n == W.WORKLOADS["mlp"].n
    a = W.build("linreg@b64")
    assert a["x"].shape == (64, 1)           # full-batch workloads grow with the batch
    assert W.batches(W.WORKLOADS["linreg@b64"], 2)[0].shape == (64,)
    with pytest.raises(ValueError, match="speed workloads"):
        W.with_batch("softmax-digits", 32)
    with pytest.raises(KeyError):
        W.WORKLOADS["nope@b3"]


# ---- the yingshe-graph engine vs PyTorch (in process) -----------------------------------------

@pytest.mark.parametrize("workload", ["linreg", "logreg", "softmax", "mlp", "cnn", "cnnbn",
                                      "linreg-synthetic", "logreg-cancer"])
def test_graph_engine_follows_pytorch(workload):
    from yingshe.testing.reference import torch as import_torch
    import_torch()
    from yingshe.compare import workloads as W
    from yingshe.compare.engines import pytorch_style, yingshe_graph
    w = W.WORKLOADS[workload]
    arrays = W.build(workload)
    batches = W.batches(w, 6)
    g = yingshe_graph.run("yingshe-graph", w, arrays, batches, 1)
    t = pytorch_style.run("torch-eager", w, arrays, batches, 1)
    rtol, atol = tol("trajectory", "float32")
    np.testing.assert_allclose(g["losses"], t["losses"], rtol=rtol, atol=atol)
    for k, v in t["metric"].items():
        assert g["metric"][k] == pytest.approx(v, rel=1e-4, abs=1e-6), k


def test_graph_engine_declines_lstm_cleanly():
    from yingshe.compare import workloads as W
    from yingshe.compare.engines import yingshe_graph
    from yingshe.compare.harness import supported
    assert not supported("yingshe-graph", "lstm")
    assert all(supported("yingshe-graph", w) for w in ("mlp", "cnn", "cnnbn"))
    with pytest.raises(NotImplementedError, match="not supported by the yingshe-graph"):
        yingshe_graph.run("yingshe-graph", W.WORKLOADS["lstm"], {}, [], 0)


# ---- report pieces ------------------------------------------------------------------------------

def test_parity_failure_is_detected():
    from yingshe.compare.report import add_parity, parity_failures
    base = [1.0, 0.5, 0.25]
    recs = [{"workload": "w", "engine": "yingshe-eager", "status": "ok", "losses": base},
            {"workload": "w", "engine": "yingshe-graph", "status": "ok",
             "losses": [1.0, 0.5, 0.25 * (1 + 3e-4)]},
            {"workload": "w", "engine": "tensorflow-eager", "status": "skipped"}]
    add_parity(recs)
    assert recs[0]["parity_reference"] == "yingshe-eager" and recs[0]["parity_ok"]
    assert not recs[1]["parity_ok"] and recs[1]["parity_rel"] == pytest.approx(3e-4)
    assert [r["engine"] for r in parity_failures(recs)] == ["yingshe-graph"]


def test_mermaid_marks_forward_gradient_and_variables():
    import yingshe
    import yingshe.graph as G
    from yingshe.compare.report import mermaid
    g = G.Graph()
    with g.as_default():
        x = G.placeholder(yingshe.float32, [4, 2], name="x")
        w = G.Variable(np.ones((2, 1), np.float32), name="w")
        loss = (x @ w).pow(2).mean()
        (dw,) = G.gradients(loss, [w])
    text = mermaid(g.nodes, [loss, dw])
    assert text.startswith("flowchart TB")
    assert re.search(r'\["x<br/>placeholder \(4, 2\)"\]:::feed', text)
    assert re.search(r'\["w<br/>Variable \(2, 1\)"\]:::var', text)
    assert re.search(r'\["matmul<br/>\(4, 1\)"\]:::fwd', text)
    assert ":::grad" in text
    n_edges = text.count(" --> ")
    n_inputs = sum(isinstance(i, G.Symbol) for n in g.nodes for i in n.inputs)
    assert n_edges == n_inputs
