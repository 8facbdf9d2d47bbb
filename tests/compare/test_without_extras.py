"""`yingshe compare` on an install without the extras: the main job still works.

The optional packages are hidden from every process of the run (the command, its engine
processes and program runs) by a `sitecustomize` on PYTHONPATH that makes their import
fail, as on a core-only install; `test_core_install.py` checks a real one.
"""

import json
import os
import sys
import textwrap

import pytest

from yingshe.testing.hang import run_guarded

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HIDE = ("matplotlib", "rich", "sklearn", "torch", "tensorflow", "jax")

_SITECUSTOMIZE = textwrap.dedent('''
    import os
    import sys

    _HIDDEN = set(filter(None, os.environ.get("YINGSHE_TEST_HIDE", "").split(",")))

    class _Hide:
        """As if these packages were not installed."""
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in _HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _Hide())
''')


@pytest.fixture(scope="module")
def bare_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bare")
    (tmp / "site").mkdir()
    (tmp / "site" / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    env = {**os.environ, "YINGSHE_TEST_HIDE": ",".join(HIDE),
           "PYTHONPATH": os.pathsep.join([str(tmp / "site"), ROOT])}
    out = tmp / "run"
    proc = run_guarded([sys.executable, "-m", "yingshe", "compare", "--steps", "3",
                        "--out", str(out)], capture_output=True, text=True, env=env, cwd=tmp)
    return proc, out


def test_the_hider_hides(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    env = {**os.environ, "YINGSHE_TEST_HIDE": "matplotlib",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), ROOT])}
    proc = run_guarded([sys.executable, "-c", "import matplotlib"], capture_output=True,
                       text=True, env=env)
    assert proc.returncode == 1 and "No module named 'matplotlib'" in proc.stderr


def test_exits_zero_with_results_json(bare_run):
    proc, out = bare_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["exit_code"] == 0


def test_yingshe_engines_ran_side_by_side_on_the_synthetic_workload(bare_run):
    _, out = bare_run
    results = json.loads((out / "results.json").read_text())
    rows = {(r["workload"], r["engine"]): r for r in results["records"]}
    for e in ("yingshe-eager", "yingshe-graph", "yingshe-compiled"):
        r = rows[("linreg-synthetic", e)]
        assert r["status"] == "ok" and len(r["losses"]) == 3
        assert r["parity_reference"] == "yingshe-eager" and r["parity_ok"]


def test_what_is_missing_is_skipped_with_its_install_command(bare_run):
    proc, out = bare_run
    results = json.loads((out / "results.json").read_text())
    for r in results["records"]:
        if r["workload"] != "linreg-synthetic":       # the real data sets need sklearn
            assert r["status"] == "skipped", r
            assert 'pip install "yingshe[datasets]"' in r["reason"], r
        elif not r["engine"].startswith("yingshe"):
            assert r["status"] == "skipped" and "pip install" in r["reason"], r
    engines = {r["engine"]: r["reason"] for r in results["records"]
               if r["workload"] == "linreg-synthetic" and r["status"] == "skipped"}
    assert "pip install torch" in engines["torch-eager"]
    assert "pip install tensorflow-cpu" in engines["tensorflow-eager"]
    programs = results["programs"]
    assert [p["status"] for p in programs] == ["skipped", "skipped"]
    assert "pip install torch" in programs[0]["reason"]
    assert "pip install tensorflow-cpu" in programs[1]["reason"]
    # the terminal says it too (a plain table without rich)
    assert "linreg-synthetic" in proc.stdout and "skipped" in proc.stdout


def test_report_without_pictures_says_which_extra_adds_them(bare_run):
    proc, out = bare_run
    assert not [p for p in os.listdir(out) if p.endswith(".png")]
    for name in ("report.md", "report.html"):
        text = (out / name).read_text(encoding="utf-8")
        assert 'pip install "yingshe[plot]"' in text.replace("&quot;", '"'), name
        assert "No pictures in this report" in text
    assert 'no pictures: matplotlib is not installed' in proc.stdout


def test_plain_progress_without_rich(bare_run):
    proc, _ = bare_run
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("[")]
    assert lines and "linreg-synthetic" in "\n".join(lines)
    assert "yingshe-eager" in lines[0]
