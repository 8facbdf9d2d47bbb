"""`yingshe.torch` warns once when the real `torch` is imported in the same process, in
either order of import, at the user's import line. Each case runs in a fresh process
(the warning is once per process, and this pytest process has both imported)."""

import json
import os
import sys
import textwrap

import pytest

from yingshe.testing.hang import run_guarded
from yingshe.testing.reference import torch as import_torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_PROBE = """
import json, sys, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
{body}
print(json.dumps([{{"category": w.category.__name__,
                   "user_warning": issubclass(w.category, UserWarning),
                   "runtime_warning": issubclass(w.category, RuntimeWarning),
                   "file": w.filename, "line": w.lineno, "message": str(w.message)}}
                  for w in seen if "real PyTorch" in str(w.message)]))
"""


def _run(tmp_path, *lines):
    body = textwrap.indent("\n".join(lines), "    ")
    script = tmp_path / "prog.py"
    script.write_text(_PROBE.format(body=body))
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = run_guarded([sys.executable, str(script)], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), str(script)


@pytest.mark.parametrize("first, second", [("import torch", "import yingshe.torch as torch"),
                                           ("import yingshe.torch as torch", "import torch"),
                                           ("import yingshe.torch", "from torch import nn")])
def test_warns_once_in_either_order_at_the_users_line(tmp_path, first, second):
    import_torch()
    warned, script = _run(tmp_path, first, second, "import torch.nn", "import torch")
    assert len(warned) == 1, warned
    (w,) = warned
    assert w["category"] == "RealTorchWarning"
    assert w["user_warning"] and not w["runtime_warning"]   # the suite errors on RuntimeWarning
    assert w["file"] == script and w["line"] == 7             # the second import's line
    assert "`from torch import nn` -> `from yingshe.torch import nn`" in w["message"]


def test_no_warning_for_yingshe_torch_alone_or_a_failed_import_torch(tmp_path):
    """Looking the real torch up (is it installed?) is not importing it, nor is an
    import that fails."""
    warned, _ = _run(tmp_path, "import yingshe.torch as torch",
                     "x = torch.ones(2)",
                     "import importlib.util",
                     "importlib.util.find_spec('torch')",
                     "try:",
                     "    import torch_that_is_not_installed_anywhere as t2",
                     "except ImportError:",
                     "    pass")
    assert warned == []
