"""Access to the real reference libraries (PyTorch, TensorFlow) from tests.

On a developer's machine a missing library skips the parity tests; with
``YINGSHE_REQUIRE_REFERENCE=1`` (set by CI) a missing library fails them, so a
broken install can never pass as "all skipped".
"""

from __future__ import annotations

import importlib
import os


def require(module: str):
    """Import ``module`` or skip (fail under YINGSHE_REQUIRE_REFERENCE=1) the test."""
    import pytest
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1":
            pytest.fail(f"{module} is required (YINGSHE_REQUIRE_REFERENCE=1) but cannot be "
                        f"imported: {err}")
        pytest.skip(f"{module} is not installed")


def require_module(module: str):
    """``require`` for a test module's top level (instead of ``pytest.importorskip``,
    which would skip the whole file in CI too): skips the module locally, fails it under
    YINGSHE_REQUIRE_REFERENCE=1."""
    import pytest
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1":
            pytest.fail(f"{module} is required (YINGSHE_REQUIRE_REFERENCE=1) but cannot be "
                        f"imported: {err}", pytrace=False)
        pytest.skip(f"{module} is not installed", allow_module_level=True)


def torch():
    t = require("torch")
    t.set_num_threads(1)
    return t
