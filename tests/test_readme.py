"""The README's example runs, and does what it says; the demo's main job works."""

import contextlib
import io
import pathlib
import re
import runpy

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_examples_run_and_fit_the_line():
    """The eager example, then the graph example on the same data (one shared scope)."""
    blocks = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the README has an eager and a graph example"
    scope: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md", "exec"), scope)  # noqa: S102 - our own README
    w, b = (float(v) for v in out.getvalue().split()[:2])
    np.testing.assert_allclose([w, b], [2.0, 1.0], atol=1e-3)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(blocks[1], "README.md", "exec"), scope)  # noqa: S102
    with scope["G"].Session() as sess:
        w_g, b_g = sess.run([scope["W"], scope["b"]])
    np.testing.assert_allclose([w_g.item(), b_g.item()], [2.0, 1.0], atol=1e-3)


def test_demo_linear_regression_reaches_least_squares():
    mod = runpy.run_path(str(ROOT / "examples" / "linear_regression.py"))
    result = mod["main"](verbose=False)
    assert abs(result["w"] - result["w_ls"]) < 1e-3
    assert abs(result["b"] - result["b_ls"]) < 1e-3
