"""The tutorial's TensorFlow programs (examples/tutorial_tf) print the same numbers on
real TensorFlow and on yingshe.tf after renaming only the import line."""

import glob
import os

import pytest

from tests.tf._runner import REPO, rename_imports, run_both

PROGRAMS = sorted(glob.glob(os.path.join(REPO, "examples", "tutorial_tf", "*.py")))


def test_programs_found():
    names = {os.path.basename(p) for p in PROGRAMS}
    assert len(PROGRAMS) >= 6
    assert {"keras_digits.py", "gradient_tape_keras.py", "gradient_tape.py"} <= names


def test_rename_only_touches_imports():
    src = "import numpy as np\nimport tensorflow as tf\nx = 'import tensorflow as tf'\n"
    assert rename_imports(src) == ("import numpy as np\nimport yingshe.tf as tf\n"
                                   "x = 'import tensorflow as tf'\n")
    assert rename_imports("import tensorflow.compat.v1 as tf\n") == \
        "import yingshe.tf.compat.v1 as tf\n"


@pytest.mark.parametrize("path", PROGRAMS, ids=[os.path.basename(p) for p in PROGRAMS])
def test_program_matches_tensorflow(path):
    ref, cand, comps = run_both(path)
    bad = [c for c in comps if not c.ok]
    assert not bad, "\n".join(f"{c.name}: {c.detail}" for c in bad)
    assert len(comps) == len(ref)
