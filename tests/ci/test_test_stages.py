"""`.ci/test-stages` (what `make test` runs): both pytest stages always run, the summary
gives both results, and the exit status fails when either stage failed or collected nothing.

Each case copies the script into a scratch project with a tiny `tests/` and `tests/tf/`.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from yingshe.testing.hang import HANG_GUARD_S

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "test-stages"


def _project(tmp_path, main: str | None, tf: str | None) -> Path:
    (tmp_path / ".ci").mkdir()
    shutil.copy(SCRIPT, tmp_path / ".ci" / "test-stages")
    (tmp_path / "tests").mkdir()
    if main is not None:
        (tmp_path / "tests" / "test_main.py").write_text(textwrap.dedent(main))
    if tf is not None:
        (tmp_path / "tests" / "tf").mkdir()
        (tmp_path / "tests" / "tf" / "test_tf.py").write_text(textwrap.dedent(tf))
    return tmp_path


def _run(root: Path):
    env = {**os.environ, "PY": sys.executable, "PYTEST_WORKERS": "0"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(["bash", str(root / ".ci" / "test-stages")], capture_output=True,
                          text=True, env=env, cwd=root, timeout=HANG_GUARD_S)


PASS = "def test_ok():\n    assert True\n"
FAIL = "def test_bad():\n    assert False\n"


@pytest.mark.parametrize("main, tf, rc, words", [
    (PASS, PASS, 0, ("main stage (tests, without tests/tf): passed",
                     "TensorFlow stage (tests/tf):          passed")),
    # a failing main stage does not hide the TensorFlow stage's result
    (FAIL, PASS, 1, ("main stage (tests, without tests/tf): FAILED (some tests failed)",
                     "TensorFlow stage (tests/tf):          passed")),
    (PASS, FAIL, 1, ("main stage (tests, without tests/tf): passed",
                     "TensorFlow stage (tests/tf):          FAILED (some tests failed)")),
    # a stage that collects nothing tested nothing: exit 5 fails, in its own words
    (PASS, "", 5, ("TensorFlow stage (tests/tf):          FAILED (no tests collected",)),
    (PASS, None, 0, ("no tests/tf folder in this checkout",)),
])
def test_both_stages_run_and_the_status_says_which_failed(tmp_path, main, tf, rc, words):
    proc = _run(_project(tmp_path, main, tf))
    out = proc.stdout
    assert proc.returncode == rc, out + proc.stderr
    for w in words:
        assert w in out, out
    if tf is not None:
        assert "=== make test: tensorflow stage:" in out   # it ran after the main stage
