import os

import numpy as np
import pytest
from hypothesis import settings

# No per-example deadline: these machines are shared and timing is noisy. Under CI's flag
# (YINGSHE_REQUIRE_REFERENCE=1, set by `make test` and .ci/run) hypothesis draws the same
# examples on every run, so a landing never depends on a lucky draw; a plain pytest run
# explores new examples each time, and what it finds becomes an explicit test.
settings.register_profile("yingshe", deadline=None, print_blob=True)
settings.register_profile("yingshe-ci", deadline=None, print_blob=True, derandomize=True)
settings.load_profile("yingshe-ci" if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1"
                      else "yingshe")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_seed():
    import yingshe
    if hasattr(yingshe, "manual_seed"):
        yingshe.manual_seed(0)
    yield


def pytest_configure(config):
    # The suite imports the real torch beside yingshe.torch on purpose (it is the reference):
    # yingshe.torch's warning about that mix is for users' programs
    # (tests/torch_frontend/test_real_torch_warning.py checks it in processes of its own).
    config.addinivalue_line("filterwarnings", "ignore:the real PyTorch:UserWarning")
    config.addinivalue_line(
        "markers", "install: builds this checkout and installs it into a fresh virtual "
                   "environment (needs the package index or pip's cache; part of CI)")


def pytest_collection_modifyitems(config, items):
    # tests that import TensorFlow run in their own pytest process (see .ci/run)
    if os.environ.get("YINGSHE_TF_PROCESS") == "1":
        return
