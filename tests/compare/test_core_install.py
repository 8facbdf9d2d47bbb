"""The main job on a core-only install: this checkout built into a wheel and installed,
with no extra, into a fresh virtual environment (NumPy and safetensors come from the
package index, or pip's cache); then `yingshe compare --steps 5` with the yingshe
engines: exit 0, results.json, and a report that says which extra adds the pictures.

Run from a folder outside the checkout with PYTHONPATH unset, so the installed package
is the one that runs.
"""

import json
import os
import subprocess
import sys
import venv

import pytest

from yingshe.testing.hang import run_guarded

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXTRAS = ("matplotlib", "rich", "sklearn", "torch", "tensorflow", "jax", "numba")

pytestmark = pytest.mark.install


def _env():
    # YINGSHE_REQUIRE_NUMBA (set by CI for the full environment) would turn this install's
    # deliberate lack of numba into an error: the core falls back to NumPy by design
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV",
                        "YINGSHE_REQUIRE_NUMBA")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _must(proc, what):
    assert proc.returncode == 0, f"{what} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("core")
    wheels = tmp / "wheels"
    # the wheel, built with this environment's setuptools (no isolated build: no download)
    _must(run_guarded([sys.executable, "-m", "pip", "wheel", "--no-deps",
                       "--no-build-isolation", "-q", "-w", str(wheels), ROOT],
                      capture_output=True, text=True, env=_env(), cwd=tmp), "pip wheel")
    (wheel,) = wheels.glob("yingshe-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    proc = run_guarded([py, "-m", "pip", "install", "-q", str(wheel)], capture_output=True,
                       text=True, env=_env(), cwd=tmp)
    if proc.returncode != 0:
        if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1":
            pytest.fail(f"installing the core (numpy, safetensors) failed:\n{proc.stderr}")
        pytest.skip(f"could not install the core's NumPy and safetensors: {proc.stderr[-300:]}")
    return tmp, py


def test_the_install_has_the_core_only(core):
    tmp, py = core
    code = ("import importlib.util, json, yingshe; print(json.dumps({'file': yingshe.__file__, "
            f"'found': [m for m in {list(EXTRAS)!r} if importlib.util.find_spec(m)]}}))")
    proc = _must(subprocess.run([py, "-c", code], capture_output=True, text=True, env=_env(),
                                cwd=tmp), "import yingshe")
    info = json.loads(proc.stdout)
    assert info["found"] == []
    assert info["file"].startswith(str(tmp / "venv")), info["file"]


def test_compare_runs_on_the_core(core):
    tmp, py = core
    out = tmp / "run"
    proc = run_guarded([py, "-m", "yingshe", "compare", "--steps", "5", "--out", str(out)],
                       capture_output=True, text=True, env=_env(), cwd=tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    ok = {(r["workload"], r["engine"]) for r in results["records"] if r["status"] == "ok"}
    assert ok == {("linreg-synthetic", e)
                  for e in ("yingshe-eager", "yingshe-graph", "yingshe-compiled")}, \
        [(r["workload"], r["engine"], r["status"], r.get("reason")) for r in results["records"]]
    assert all(r["status"] == "skipped" and "pip install" in r["reason"]
               for r in results["records"] if (r["workload"], r["engine"]) not in ok)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert 'pip install "yingshe[plot]"' in report
    assert not list(out.glob("*.png"))
