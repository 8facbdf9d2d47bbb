"""DESIGN's layers point one way: the compiler (``yingshe.graph``) imports neither ``nn`` nor
``optim``, and ``autograd`` does not import ``graph`` (the graph registers what the tape
needs: ``autograd.symbolic_grad``, as ``ops`` lets it register ``symbolic_apply``)."""

import ast
import pathlib

import yingshe

ROOT = pathlib.Path(yingshe.__file__).parent

# graph-mode optimizers, moving to yingshe.optim (which may build graph ops)
MOVING = {"optim.py", "train.py"}


def _imports(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _offenders(package: str, banned: tuple, skip=frozenset()) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if path.name in skip and path.parent == ROOT / package:
            continue
        for name in _imports(path):
            if any(name == b or name.startswith(b + ".") for b in banned):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_the_compiler_imports_neither_nn_nor_optim():
    assert not _offenders("graph", ("yingshe.nn", "yingshe.optim"), MOVING)


def test_autograd_does_not_import_the_graph():
    assert not _offenders("autograd", ("yingshe.graph",))


def test_the_graph_registers_symbolic_grad():
    from yingshe.graph.gradients import autograd_grad
    assert yingshe.autograd.symbolic_grad is autograd_grad
