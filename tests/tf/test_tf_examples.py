"""The tutorial's TensorFlow programs (examples/tutorial_tf) print the same numbers on
real TensorFlow and on yingshe.tf after renaming only the import line."""

import glob
import os

import pytest

from yingshe.compare.programs import rename_tf_imports as rename_imports, run_tf_program
from yingshe.testing.hang import HANG_GUARD_S

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
    """The runner of `yingshe compare --programs` (refuses a yingshe run that imported the
    real tensorflow; compares every RESULT line)."""
    rep = run_tf_program(path, timeout=HANG_GUARD_S)
    assert rep.ok, rep.format(verbose=True)
    assert rep.comparisons and all(c.ok for c in rep.comparisons)
