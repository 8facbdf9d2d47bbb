"""Run a TensorFlow program on real TensorFlow and, after renaming its import lines,
on ``yingshe.tf``; compare the ``RESULT`` lines (protocol and tolerances of
``yingshe.torch._runner``: exact float32 parity rtol 1e-5 unless a line says otherwise).

Only the two import spellings the front-end promises are rewritten:
``import tensorflow as tf`` -> ``import yingshe.tf as tf`` and
``import tensorflow.compat.v1 as tf`` -> ``import yingshe.tf.compat.v1 as tf``.
The yingshe side refuses any import of the real ``tensorflow``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

from yingshe.torch._runner import compare_results, parse_results

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_IMPORT = re.compile(r"^(\s*)import tensorflow(\.compat\.v1)? as (\w+)[ \t]*$", re.M)

_GUARD = (
    "import sys, runpy\n"
    "class _Refuse:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'tensorflow' or name.startswith('tensorflow.'):\n"
    "            raise ImportError('real tensorflow imported on the yingshe side: ' + name)\n"
    "sys.meta_path.insert(0, _Refuse())\n"
    "runpy.run_path(sys.argv[1], run_name='__main__')\n"
    "assert 'yingshe.tf' in sys.modules, 'the program never imported yingshe.tf'\n"
)


def rename_imports(source: str) -> str:
    return _IMPORT.sub(lambda m: f"{m.group(1)}import yingshe.tf{m.group(2) or ''} as "
                                 f"{m.group(3)}", source)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_both(path: str, timeout: float = 240.0):
    """(tf_proc, yingshe_proc, comparisons)."""
    with open(path, encoding="utf-8") as f:
        src = f.read()
    renamed = rename_imports(src)
    assert renamed != src, f"{path}: no tensorflow import to rename"
    with tempfile.TemporaryDirectory() as tmp:
        ys_path = os.path.join(tmp, os.path.basename(path))
        with open(ys_path, "w", encoding="utf-8") as f:
            f.write(renamed)
        env = _env()
        p_tf = subprocess.Popen([sys.executable, path], cwd=tmp, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p_ys = subprocess.Popen([sys.executable, "-c", _GUARD, ys_path], cwd=tmp, env=env,
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out_tf = p_tf.communicate(timeout=timeout)
        out_ys = p_ys.communicate(timeout=timeout)
    assert p_tf.returncode == 0, f"TensorFlow run failed:\n{out_tf[1][-3000:]}"
    assert p_ys.returncode == 0, f"yingshe.tf run failed:\n{out_ys[1][-3000:]}"
    ref, cand = parse_results(out_tf[0]), parse_results(out_ys[0])
    assert ref, "the TensorFlow run printed no RESULT lines"
    return ref, cand, compare_results(ref, cand)
