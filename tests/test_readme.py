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


class _Console:
    """A Python REPL (``code.InteractiveConsole``) fed one line at a time, as when a
    reader pastes the README's examples: what it prints, and the errors it reports."""

    def __init__(self):
        import code
        self.errors: list[str] = []
        self.out = io.StringIO()
        console = code.InteractiveConsole(locals={"__name__": "__console__"})
        console.write = self.errors.append          # tracebacks and syntax errors
        self.console = console

    def paste(self, block: str) -> None:
        with contextlib.redirect_stdout(self.out):
            for line in block.splitlines():
                self.console.push(line)
            self.console.push("")                   # the blank line that ends a block


def _is_script(block: str) -> bool:
    """A block that names the file it is (``# train.py: yingshe run -n 4 train.py``): a
    program to run as a file, not lines to paste."""
    return re.match(r"#\s*[\w./-]+\.py\b", block) is not None


def test_readme_examples_paste_cleanly_into_a_repl():
    """Every python block of the README that is not a named script file, pasted line by
    line into one interactive session in order, runs without a syntax error or an
    exception (a REPL needs a blank line after an indented block before the next
    statement)."""
    blocks = [b for b in _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
              if not _is_script(b)]
    assert len(blocks) >= 2, "the README's eager and graph examples"
    repl = _Console()
    for i, block in enumerate(blocks):
        repl.paste(block)
        assert not repl.errors, f"README python block {i + 1}:\n{''.join(repl.errors)}"
    w, b = (float(v) for v in repl.out.getvalue().split()[:2])
    np.testing.assert_allclose([w, b], [2.0, 1.0], atol=1e-3)


def test_the_repl_oracle_catches_a_block_without_its_blank_line():
    repl = _Console()
    repl.paste("total = 0\nfor i in range(3):\n    total += i\nprint(total)\n")
    assert any("SyntaxError" in e for e in repl.errors)
