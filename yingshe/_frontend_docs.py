"""Generated documents: the lists of names each front-end supports
(``docs/torch_supported.md``, ``docs/tf_supported.md``, rendered from the modules'
``__all__`` by ``python -m yingshe.<front-end>._unsupported [--check]``), and the
write-or-check entry point that ``docs/make_graphs.py`` uses too."""

from __future__ import annotations

import importlib
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def render(header: list[str], modules, public_name) -> str:
    """``header`` lines, then one section per module listing its ``__all__``."""
    lines = list(header)
    for modname in modules:
        mod = importlib.import_module(modname)
        names = sorted(set(mod.__all__), key=lambda s: (s.lower(), s))
        lines.append(f"## `{public_name(modname)}` ({len(names)} names)")
        lines.append("")
        lines.append(", ".join(f"`{n}`" for n in names) if names else "(none)")
        lines.append("")
    return "\n".join(lines)


def doc_file(doc_path: str) -> str:
    return os.path.join(_ROOT, doc_path)


def main(argv, text: str, doc_path: str, command: str) -> int:
    """Write ``doc_path`` (relative to the repository, or absolute), or with ``--check``
    exit 1 when it differs from ``text``."""
    argv = sys.argv[1:] if argv is None else argv
    path = os.path.join(_ROOT, doc_path)
    if "--check" in argv:
        try:
            with open(path, encoding="utf-8") as fh:
                current = fh.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{doc_path} is out of date: run {command}", file=sys.stderr)
            return 1
        return 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {doc_path}")
    return 0
