"""The front-end program runner used by `yingshe compare` (TensorFlow side; the PyTorch
side is `yingshe.torch._runner`, tested in tests/torch_frontend). Each check runs two
child processes; TensorFlow is imported only there, never in this pytest process."""

import importlib.util
import os
import textwrap

import pytest

from yingshe.compare.programs import run_tf_program


def _program(tmp_path, body: str):
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def _need_tf():
    """TensorFlow must be installed for the reference side (found, not imported here)."""
    if importlib.util.find_spec("tensorflow") is None:
        if os.environ.get("YINGSHE_REQUIRE_REFERENCE") == "1":
            pytest.fail("tensorflow is required (YINGSHE_REQUIRE_REFERENCE=1)")
        pytest.skip("tensorflow is not installed")


def test_a_matching_program_passes(tmp_path):
    _need_tf()
    rep = run_tf_program(_program(tmp_path, """
        import tensorflow as tf
        x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
        print("RESULT sum", float(tf.reduce_sum(tf.matmul(x, x))))
    """))
    assert rep.ok, rep.format(verbose=True)
    assert [c.name for c in rep.comparisons] == ["sum"]


def test_different_numbers_fail(tmp_path):
    _need_tf()
    rep = run_tf_program(_program(tmp_path, """
        import sys
        import tensorflow as tf
        on_yingshe = "yingshe.tf" in sys.modules
        print("RESULT v", 1.0 + (0.5 if on_yingshe else 0.0))
        print("RESULT iterations", "36", "text")
    """))
    assert not rep.ok and not rep.refused and rep.reason == "results differ"
    # the reference is named as what it is: TensorFlow, not "torch"
    v, iterations = rep.comparisons
    assert "tensorflow 1.0 yingshe 1.5" in v.detail and "torch" not in v.detail
    assert iterations.ok and iterations.detail == "tensorflow '36' yingshe '36'"
    assert "--- tensorflow exit 0" in rep.format(verbose=True)


def test_importing_the_real_tensorflow_on_the_yingshe_side_is_refused(tmp_path):
    _need_tf()
    rep = run_tf_program(_program(tmp_path, """
        import tensorflow as tf
        try:
            import tensorflow.python as sneaky   # not renamed: must not count as a pass
        except ImportError:
            pass
        print("RESULT one", 1.0)
    """))
    assert rep.refused and not rep.ok
    assert "real tensorflow was imported" in rep.reason
