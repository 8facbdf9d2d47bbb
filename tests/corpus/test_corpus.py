"""The corpus of real public programs (examples/corpus): its records, the renaming of
every import form the programs use, and its CI subset run on the real libraries and on
yingshe (each program in two processes of its own; this process imports neither torch nor
tensorflow). The whole corpus runs with ``make corpus``."""

from __future__ import annotations

import json
import os
import sys

import pytest

from yingshe.tf import _runner as tf_runner
from yingshe.torch import _runner as torch_runner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "examples", "corpus")
sys.path.insert(0, CORPUS)
import run as corpus  # noqa: E402

PROGRAMS = corpus.programs()
FAST = corpus.programs(fast=True)


# ---- the records ----------------------------------------------------------------------------

def test_corpus_size_and_sources():
    assert len(PROGRAMS) >= 40
    repos = {corpus.header(p)["source"] for p in PROGRAMS}
    assert len(repos) >= 5
    libs = {corpus.library(p) for p in PROGRAMS}
    assert libs == {"torch", "tf"}


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: os.path.relpath(p, CORPUS))
def test_every_program_records_its_source_licence_and_changes(path):
    info = corpus.header(path)
    assert info["source"].startswith("https://github.com/")
    assert len(info["commit"]) == 40 and info["path"]
    licence = info["licence"].split("(")[1].rstrip(")")
    assert os.path.isfile(os.path.join(ROOT, licence))
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if "RESULT" in text:
        assert any(a.startswith("RESULT lines added") for a in info["adapted"])
    for item in info["data"]:
        kind = item.split()[0]
        assert any(a.startswith(f"data: {kind}") for a in info["adapted"])


def test_results_files_cover_the_corpus():
    names = {os.path.relpath(p, CORPUS) for p in PROGRAMS}
    for name in ("baseline.json", "results.json"):
        with open(os.path.join(CORPUS, name), encoding="utf-8") as fh:
            data = json.load(fh)
        assert {r["program"] for r in data["records"]} == names, name
        assert data["summary"] == corpus.summary(data["records"])


def test_readme_table_is_the_results():
    with open(os.path.join(CORPUS, "results.json"), encoding="utf-8") as fh:
        records = json.load(fh)["records"]
    with open(os.path.join(CORPUS, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    assert corpus.table(records) in text
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        assert corpus.summary_line(records) in fh.read()


# ---- renaming -------------------------------------------------------------------------------

@pytest.mark.parametrize("src,expected", [
    ("import torchvision\n", "import yingshe.torchvision as torchvision\n"),
    ("import torchvision.transforms as transforms\n",
     "import yingshe.torchvision.transforms as transforms\n"),
    ("import torchvision.datasets as dsets\n", "import yingshe.torchvision.datasets as dsets\n"),
    ("from torchvision import datasets, transforms\n",
     "from yingshe.torchvision import datasets, transforms\n"),
    ("import torchvision.transforms\n",
     "import yingshe.torchvision.transforms; import yingshe.torchvision as torchvision\n"),
    ("from torch.autograd import Variable\n", "from yingshe.torch.autograd import Variable\n"),
])
def test_torch_runner_renames_torchvision(src, expected):
    assert torch_runner.rename_imports(src) == expected


@pytest.mark.parametrize("src,expected", [
    ("import tensorflow as tf\n", "import yingshe.tf as tf\n"),
    ("import tensorflow.compat.v1 as tf; tf.disable_v2_behavior()\n",
     "import yingshe.tf.compat.v1 as tf; tf.disable_v2_behavior()\n"),
    ("from tensorflow.keras import Model, layers\n",
     "from yingshe.tf.keras import Model, layers\n"),
    ("from tensorflow.keras.layers import Dense, Flatten\n",
     "from yingshe.tf.keras.layers import Dense, Flatten\n"),
    ("from tensorflow.keras.datasets import mnist\n",
     "from yingshe.tf.keras.datasets import mnist\n"),
    ("import keras\n", "import yingshe.tf.keras as keras\n"),
    ("from keras import layers\n", "from yingshe.tf.keras import layers\n"),
    ("import tensorflow\n", "import yingshe.tf as tensorflow\n"),
    ("import numpy as np, tensorflow as tf\n", "import numpy as np; import yingshe.tf as tf\n"),
    ("from .tensorflow import x\n", "from .tensorflow import x\n"),
    ("import tensorflow_datasets as tfds\n", "import tensorflow_datasets as tfds\n"),
])
def test_tf_runner_renames_tensorflow_and_keras(src, expected):
    assert tf_runner.rename_imports(src) == expected


def test_renaming_keeps_line_numbers():
    src = "import os\nfrom tensorflow.keras import (\n    layers,\n    Model)\nx = 1\n"
    out = tf_runner.rename_imports(src)
    assert out.splitlines()[4] == "x = 1"


def test_the_yingshe_side_refuses_real_tensorflow(tmp_path):
    """A program that reaches the real tensorflow (here by a helper the renamer cannot
    see: importlib) is refused, never passed."""
    prog = tmp_path / "sneaky.py"
    prog.write_text("import tensorflow as tf\nimport importlib\n"
                    "try:\n    importlib.import_module('tensorflow')\nexcept ImportError:\n"
                    "    pass\nprint('RESULT x 1')\n")
    rep = tf_runner.run_program(str(prog), timeout=600)
    assert rep.refused and not rep.ok and "tensorflow" in rep.reason


# ---- the CI subset --------------------------------------------------------------------------

def test_fast_subset_is_small():
    """The CI subset stays small (each program costs two processes; the whole corpus is
    `make corpus`)."""
    assert 8 <= len(FAST) <= 14


@pytest.mark.parametrize("path", FAST, ids=lambda p: os.path.relpath(p, CORPUS))
def test_fast_program_runs_and_matches(path):
    # a hang guard far above the slowest plausible run (the programs take 10-60 s)
    rec = corpus.run_one(path, timeout=900)
    assert rec["reference_ran"], rec.get("error")
    assert rec["matched"], (rec["status"], rec.get("error"), rec["checks"])
