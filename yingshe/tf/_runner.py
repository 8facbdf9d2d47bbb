"""Run a program written for TensorFlow (or Keras) on the real library and on yingshe.

    python -m yingshe.tf._runner program.py [more.py ...] [--timeout S] [--verbose]
    python -m yingshe.tf._runner --rename program.py     # print the renamed source

The PyTorch runner's twin (``yingshe.torch._runner``: the same ``RESULT`` protocol, the
same two processes, the same verdicts). Only the import statements change, found with
``ast`` and rewritten at their exact spans: ``tensorflow`` becomes ``yingshe.tf`` and
``keras`` (Keras 3, imported on its own) becomes ``yingshe.tf.keras``::

    import tensorflow as tf                  ->  import yingshe.tf as tf
    import tensorflow.compat.v1 as tf        ->  import yingshe.tf.compat.v1 as tf
    from tensorflow.keras import layers      ->  from yingshe.tf.keras import layers
    from tensorflow.keras.layers import Dense -> from yingshe.tf.keras.layers import Dense
    import keras                             ->  import yingshe.tf.keras as keras
    from keras import layers                 ->  from yingshe.tf.keras import layers

The yingshe run refuses any import of the real ``tensorflow`` or ``keras``; a run that
imported either (even if the program caught the ``ImportError``) is refused, never counted
as a pass.
"""

from __future__ import annotations

import ast
import os
import sys

from yingshe.torch import _runner as _base

ROOTS = ("tensorflow", "keras")


def _target(module: str) -> str:
    """``tensorflow.x`` -> ``yingshe.tf.x``; ``keras.x`` -> ``yingshe.tf.keras.x``."""
    root, _, rest = module.partition(".")
    head = "yingshe.tf" if root == "tensorflow" else "yingshe.tf.keras"
    return head + ("." + rest if rest else "")


def _rename_node(node: ast.stmt) -> str | None:
    """The replacement text for one import statement, or None to leave it alone."""
    if isinstance(node, ast.ImportFrom):
        if node.level or not _base._is_torch(node.module, ROOTS):
            return None
        names = ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}"
                          for a in node.names)
        return f"from {_target(node.module)} import {names}"
    if not any(_base._is_torch(a.name, ROOTS) for a in node.names):
        return None
    parts = []
    for a in node.names:
        if not _base._is_torch(a.name, ROOTS):
            parts.append(f"import {a.name}" + (f" as {a.asname}" if a.asname else ""))
        elif a.asname is not None:
            parts.append(f"import {_target(a.name)} as {a.asname}")
        else:                       # `import tensorflow` / `import keras.layers` bind the root
            root = a.name.split(".", 1)[0]
            if "." in a.name:
                parts.append(f"import {_target(a.name)}")
            parts.append(f"import {_target(root)} as {root}")
    return "; ".join(parts)


def rename_imports(source: str) -> str:
    """``source`` with its ``tensorflow``/``keras`` imports renamed (see the module
    docstring); every other character and every line number is unchanged."""
    return _base.rename_imports(source, _rename_node)


def yingshe_argv(program_dir: str):
    """The guarded child's argv (after the interpreter) for a renamed program (its own
    folder, with renamed helpers, first on the path, then the program's)."""
    def argv(renamed_path: str, status_path: str) -> list[str]:
        folders = os.pathsep.join([os.path.dirname(renamed_path), program_dir])
        return ["-c", _base._CHILD_BOOT, os.path.abspath(_base.__file__), renamed_path,
                status_path, folders, ",".join(ROOTS), "yingshe.tf"]
    return argv


def run_program(path: str, *, timeout: float = 300.0, python: str | None = None,
                **pair_options) -> _base.Report:
    """Run ``path`` on real TensorFlow and, renamed, on ``yingshe.tf`` (two processes,
    started together), and compare their ``RESULT`` lines. ``pair_options`` go to
    ``yingshe.torch._runner.run_pair``."""
    path = os.path.abspath(path)
    rep, status = _base.run_pair(path, rename_imports(_base._read_source(path)),
                                 yingshe_argv(os.path.dirname(path)), timeout=timeout,
                                 python=python or sys.executable, rename=rename_imports,
                                 **pair_options)
    return _base.judge(rep, status, "tensorflow", "yingshe.tf")


def main(argv=None) -> int:
    return _base.main(argv, run=run_program, rename=rename_imports,
                      prog="python -m yingshe.tf._runner",
                      description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
