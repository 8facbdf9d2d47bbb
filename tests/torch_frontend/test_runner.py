"""The PyTorch-vs-yingshe runner: import renaming, the output protocol, the guard against
the real torch on the yingshe side, and every program in examples/tutorial/."""

from __future__ import annotations

import ast
import glob
import os
import textwrap

import pytest

from yingshe.torch import _runner
from yingshe.torch._runner import (
    ProtocolError, Result, compare_results, parse_results, rename_imports, run_program,
)
from yingshe.testing.hang import HANG_GUARD_S
from yingshe.testing.reference import torch as import_torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TUTORIAL = sorted(glob.glob(os.path.join(ROOT, "examples", "tutorial", "*.py")))
# PyTorch's own "Learn the Basics" sequence on the bundled digits, and course-style CNN,
# LSTM and torch.compile programs (examples/torch_basics/README.md).
BASICS = sorted(glob.glob(os.path.join(ROOT, "examples", "torch_basics", "*.py")))


# ---- renaming -------------------------------------------------------------------------------

@pytest.mark.parametrize("src,expected", [
    ("import torch\n", "import yingshe.torch as torch\n"),
    ("import torch.nn as nn\n", "import yingshe.torch.nn as nn\n"),
    ("import torch.nn.functional as F\n", "import yingshe.torch.nn.functional as F\n"),
    ("from torch.utils.data import DataLoader\n",
     "from yingshe.torch.utils.data import DataLoader\n"),
    ("from torch import nn, optim\n", "from yingshe.torch import nn, optim\n"),
    ("from torch import nn as N\n", "from yingshe.torch import nn as N\n"),
    ("import torch.nn\n", "import yingshe.torch.nn; import yingshe.torch as torch\n"),
    ("import os, torch as T, sys\n",
     "import os; import yingshe.torch as T; import sys\n"),
    ("def f():\n    import torch\n    return torch\n",
     "def f():\n    import yingshe.torch as torch\n    return torch\n"),
    ("if True: import torch  # comment\n", "if True: import yingshe.torch as torch  # comment\n"),
    # torchvision has a front-end (yingshe.torchvision); torch_geometric is another package
    ("import torchvision\nimport torch_geometric\n",
     "import yingshe.torchvision as torchvision\nimport torch_geometric\n"),
    ("from . import torch\nfrom .torch import x\n", "from . import torch\nfrom .torch import x\n"),
    ("s = 'import torch'\nx = torch.tensor(1)  # torch.nn\n",
     "s = 'import torch'\nx = torch.tensor(1)  # torch.nn\n"),
    ("π = 1; import torch\n", "π = 1; import yingshe.torch as torch\n"),
])
def test_rename_imports(src, expected):
    assert rename_imports(src) == expected


def test_rename_keeps_line_numbers_of_multiline_imports():
    src = "from torch.utils.data import (\n    DataLoader,\n    TensorDataset,\n)\nx = 1\n"
    out = rename_imports(src)
    assert out.splitlines()[0] == "from yingshe.torch.utils.data import DataLoader, TensorDataset"
    assert out.splitlines()[4] == "x = 1"
    ast.parse(out)


def test_rename_touches_only_import_statements():
    assert len(BASICS) >= 10, BASICS
    for path in TUTORIAL + BASICS:
        src = _runner._read_source(path)
        out = rename_imports(src)
        a, b = src.splitlines(), out.splitlines()
        assert len(a) == len(b)
        changed = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        assert changed, path
        imports = {n.lineno - 1 for n in ast.walk(ast.parse(src))
                   if isinstance(n, (ast.Import, ast.ImportFrom))}
        assert set(changed) <= imports
        assert "import torch" not in out and "from torch" not in out


# ---- the output protocol ---------------------------------------------------------------------

def test_parse_results():
    out = ("hello\nRESULT a 1.5 2.5\nRESULT b 0.3 converge\nRESULT c 0.9 accuracy\n"
           "RESULT d RuntimeError text\nRESULT e 1e-3 exact rtol=1e-3 atol=0\nRESULTX z 1\n")
    rs = parse_results(out)
    assert [(r.name, r.mode) for r in rs] == [("a", "exact"), ("b", "converge"),
                                              ("c", "accuracy"), ("d", "text"), ("e", "exact")]
    assert rs[0].values == [1.5, 2.5] and rs[3].values == ["RuntimeError"]
    assert (rs[4].rtol, rs[4].atol) == (1e-3, 0.0)
    for bad in ("RESULT\n", "RESULT a\n", "RESULT a x\n", "RESULT a 1\nRESULT a 2\n",
                "RESULT a 1 tol=3\n"):
        with pytest.raises(ProtocolError):
            parse_results(bad)


@pytest.mark.parametrize("mode,t,y,ok", [
    ("exact", 1.0, 1.0 + 5e-6, True),
    ("exact", 1.0, 1.0 + 2e-5, False),
    ("exact", 0.0, 9e-7, True),
    ("exact", 0.0, 2e-6, False),
    ("converge", 1.0, 1.019, True),
    ("converge", 1.0, 1.021, False),
    ("converge", 1e-5, 9e-5, True),
    ("converge", 1e-5, 2e-4, False),
    ("accuracy", 0.95, 0.935, True),
    ("accuracy", 0.95, 0.925, False),
    ("exact", float("nan"), float("nan"), True),
    ("exact", float("nan"), 1.0, False),
])
def test_tolerances(mode, t, y, ok):
    (c,) = compare_results([Result("v", [t], mode)], [Result("v", [y], mode)])
    assert c.ok is ok


def test_compare_requires_the_same_names_and_modes():
    assert not compare_results([Result("a", [1.0])], [Result("b", [1.0])])[0].ok
    assert not compare_results([Result("a", [1.0])], [Result("a", [1.0], "converge")])[0].ok
    assert not compare_results([Result("a", [1.0, 2.0])], [Result("a", [1.0])])[0].ok
    assert not compare_results([Result("a", ["X"], "text")], [Result("a", ["Y"], "text")])[0].ok


# ---- running both sides -------------------------------------------------------------------------

def _program(tmp_path, body: str) -> str:
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_refuses_a_run_that_imports_the_real_torch(tmp_path):
    import_torch()
    path = _program(tmp_path, """
        import importlib
        import torch
        try:
            real = importlib.import_module("torch")   # not rewritten: the guard must see it
        except ImportError:
            pass
        print("RESULT x", float(torch.ones(2).sum()))
    """)
    rep = run_program(path, timeout=HANG_GUARD_S)
    assert rep.refused and not rep.ok
    assert "real torch was imported" in rep.reason


def test_refuses_a_run_that_never_uses_yingshe_torch(tmp_path):
    import_torch()
    path = _program(tmp_path, 'print("RESULT x", 1.0)\n')
    rep = run_program(path, timeout=HANG_GUARD_S)
    assert rep.refused and "never imported yingshe.torch" in rep.reason


def test_reports_differing_numbers_and_failed_runs(tmp_path):
    import_torch()
    path = _program(tmp_path, """
        import sys
        import torch
        on_yingshe = "yingshe" in sys.modules
        print("RESULT same", float(torch.arange(4.0).sum()))
        print("RESULT differs", 2.0 if on_yingshe else 1.0)
    """)
    rep = run_program(path, timeout=HANG_GUARD_S)
    assert not rep.ok and not rep.refused
    assert [c.ok for c in rep.comparisons] == [True, False]
    assert "XX" in rep.format()
    path = _program(tmp_path, """
        import torch
        print("RESULT x", 1.0)
        torch.nn.TransformerDecoder
    """)
    rep = run_program(path, timeout=HANG_GUARD_S)
    assert not rep.ok and "yingshe run exited with status 1" in rep.reason
    assert "not supported by yingshe.torch" in rep.yingshe.stderr


@pytest.mark.parametrize("path", TUTORIAL, ids=[os.path.basename(p) for p in TUTORIAL])
def test_tutorial_program_runs_on_yingshe_by_renaming_alone(path):
    import_torch()
    rep = run_program(path, timeout=HANG_GUARD_S)
    assert rep.ok, rep.format()
    assert rep.comparisons


@pytest.mark.parametrize("path", BASICS, ids=[os.path.basename(p) for p in BASICS])
def test_torch_basics_program_runs_on_yingshe_by_renaming_alone(path):
    import_torch()
    rep = run_program(path, timeout=HANG_GUARD_S)
    assert rep.ok, rep.format()
    # every program compares numbers that do not depend on random weights exactly
    assert any(c.mode == "exact" for c in rep.comparisons), rep.format()


def test_command_line(tmp_path, capsys):
    import_torch()
    path = _program(tmp_path, 'import torch\nprint("RESULT x", float(torch.ones(3).sum()))\n')
    assert _runner.main([path]) == 0
    assert capsys.readouterr().out.startswith("PASS")
    assert _runner.main(["--rename", path]) == 0
    assert "import yingshe.torch as torch" in capsys.readouterr().out
