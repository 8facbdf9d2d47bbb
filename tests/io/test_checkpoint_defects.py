"""Checkpoint defects found by hostile files and killed saves (issue 14 items 8 and 9,
issue 13's permissions): malformed yingshe metadata is a ``CheckpointError`` naming the
file and the key; temporaries of killed saves are removed by the next save into their
folder, never a live writer's; checkpoints get the permissions the umask allows.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from safetensors.numpy import save_file

import yingshe
from yingshe.io import CheckpointError, checkpoint

# a hang guard only: a child that has not written its temporary after this long is stuck
_CHILD_TIMEOUT_S = 120


# ---- 8: malformed metadata -------------------------------------------------------------------

def _file_with_metadata(tmp_path, raw: str):
    path = tmp_path / "hostile.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"yingshe": raw})
    return path


def _structure(structure) -> str:
    return json.dumps({"format": 1, "structure": structure})


@pytest.mark.parametrize("value,problem", [
    ({"__tensor__": [1]}, "a tensor reference must be a string"),
    ({"__tensor__": "missing"}, "does not contain"),
    ({"__float__": "x"}, "expected 'inf', '-inf' or 'nan'"),
    ({"__float__": 5}, "expected 'inf', '-inf' or 'nan'"),
    ({"__items__": 5}, "dict items must be a list"),
    ({"__items__": [1]}, "expected a \\[key, value\\] pair"),
    ({"__items__": [[1, 2, 3]]}, "expected a \\[key, value\\] pair"),
    ({"__items__": [[{}, 1]]}, "a dict key must be a string or a number"),
    ({"__items__": [[[1], 1]]}, "a dict key must be a string or a number"),
    ({"__dtype__": "float128"}, "unknown dtype"),
    ({"__dtype__": 3}, "unknown dtype"),
    ({"__tuple__": 3}, "a tuple must be stored as a list"),
])
def test_malformed_metadata_is_a_checkpoint_error_naming_file_and_key(tmp_path, value, problem):
    path = _file_with_metadata(tmp_path, _structure({"model": {"layer": [0, value]}}))
    with pytest.raises(CheckpointError) as info:
        yingshe.load(path)
    msg = str(info.value)
    assert str(path) in msg and "'model/layer/1'" in msg
    assert re.search(problem, msg), msg


@pytest.mark.parametrize("raw", [
    "[1]", "5", "null", json.dumps({"format": 1}), json.dumps({"structure": 1}),
    json.dumps({"format": "1", "structure": 1}), "{not json",
])
def test_malformed_metadata_documents_are_checkpoint_errors(tmp_path, raw):
    path = _file_with_metadata(tmp_path, raw)
    with pytest.raises(CheckpointError, match=str(path)):
        yingshe.load(path)


def test_metadata_nested_3000_deep_is_a_checkpoint_error(tmp_path):
    deep = "[" * 3000 + "1" + "]" * 3000
    path = _file_with_metadata(tmp_path, '{"format": 1, "structure": ' + deep + "}")
    with pytest.raises(CheckpointError, match=f"{path}.*nested too deeply"):
        yingshe.load(path)


def test_metadata_nested_deeper_than_save_writes_is_refused_naming_the_key(tmp_path):
    # parseable JSON (Python's parser takes ~1000 levels), deeper than save's limit
    deep = "[" * 300 + "1" + "]" * 300
    path = _file_with_metadata(tmp_path, '{"format": 1, "structure": ' + deep + "}")
    with pytest.raises(CheckpointError, match=r"at key '\.\.\.0/0/0.*more than 100 levels"):
        yingshe.load(path)


def _nested(depth):
    obj = yingshe.tensor([1.0])
    for _ in range(depth):
        obj = [obj]
    return obj


def test_the_deepest_structure_save_accepts_loads_back(tmp_path):
    depth = checkpoint._MAX_DEPTH
    yingshe.save(_nested(depth), tmp_path / "deep.safetensors")
    loaded = yingshe.load(tmp_path / "deep.safetensors")
    for _ in range(depth):
        loaded = loaded[0]
    np.testing.assert_array_equal(loaded.numpy(), [1.0])
    with pytest.raises(ValueError, match="nested more than"):
        yingshe.save(_nested(depth + 1), tmp_path / "deeper.safetensors")


def test_a_self_referencing_structure_is_refused_at_save(tmp_path):
    loop = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match="nested more than"):
        yingshe.save(loop, tmp_path / "loop.safetensors")


# ---- 9: temporaries of killed saves ----------------------------------------------------------

_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import yingshe
    from yingshe.io import checkpoint

    def stall(src, dst):      # the write is done: wait to be killed before the rename
        print("written", flush=True)
        time.sleep(3600)

    checkpoint._replace = stall
    yingshe.save({"w": yingshe.tensor(np.ones(1 << 16, np.float32))}, sys.argv[1])
""")


def _start_writer(folder):
    """A process that saves into ``folder`` and stops before its rename, its temporary
    file written: a save caught mid-way."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(yingshe.__file__)))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(folder / "ckpt.safetensors")],
                            stdout=subprocess.PIPE, env=env, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], _CHILD_TIMEOUT_S)
    if not ready or proc.stdout.readline().strip() != "written":
        proc.kill()
        proc.wait()
        pytest.fail(f"hang guard: the writer process did not write its temporary within "
                    f"{_CHILD_TIMEOUT_S} s (or failed)")
    return proc


def _temporaries(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith(".yingshe-tmp-"))


def test_the_next_save_removes_the_temporary_of_a_killed_save(tmp_path):
    proc = _start_writer(tmp_path)
    left = _temporaries(tmp_path)
    assert len(left) == 1 and f"-{proc.pid}-" in left[0]   # the writer's pid is in the name
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _temporaries(tmp_path) == left                 # the kill left it behind
    yingshe.save({"x": yingshe.tensor([1.0])}, tmp_path / "other.safetensors")
    assert _temporaries(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["other.safetensors"]


def test_a_save_never_removes_the_temporary_of_a_live_writer(tmp_path):
    proc = _start_writer(tmp_path)
    try:
        left = _temporaries(tmp_path)
        yingshe.save({"x": yingshe.tensor([1.0])}, tmp_path / "other.safetensors")
        assert _temporaries(tmp_path) == left
    finally:
        proc.kill()
        proc.wait()
    yingshe.save({"x": yingshe.tensor([2.0])}, tmp_path / "other.safetensors")
    assert _temporaries(tmp_path) == []


def test_temporaries_of_other_hosts_and_other_files_are_left_alone(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    keep = [f".yingshe-tmp-not-{host}-{dead.pid}-0123abcd.safetensors",   # another host
            f".yingshe-tmp-{host}-{os.getpid()}-0123abcd.safetensors",     # this process
            ".tmp-abc.safetensors", f".yingshe-tmp-{host}-x-1.safetensors", "notes.txt"]
    gone = f".yingshe-tmp-{host}-{dead.pid}-0123abcd.safetensors"
    for name in keep + [gone]:
        (tmp_path / name).write_bytes(b"partial")
    yingshe.save({"x": yingshe.tensor([1.0])}, tmp_path / "ckpt.safetensors")
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["ckpt.safetensors"])


# ---- issue 13: permissions under the umask ---------------------------------------------------

@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_checkpoints_get_an_ordinary_files_permissions(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        yingshe.save({"x": yingshe.tensor([1.0])}, tmp_path / "ckpt.safetensors")
        (tmp_path / "plain.txt").write_text("an ordinary file, for comparison")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "ckpt.safetensors").st_mode & 0o777 == mode
    assert os.stat(tmp_path / "plain.txt").st_mode & 0o777 == mode


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.uint64])
def test_a_tensor_of_a_dtype_yingshe_lacks_is_refused_naming_it(tmp_path, dtype):
    path = tmp_path / "foreign.safetensors"
    save_file({"ok": np.zeros(2, np.float32), "odd": np.arange(3, dtype=dtype)}, str(path))
    with pytest.raises(CheckpointError, match=f"tensor 'odd' has dtype {np.dtype(dtype)}"):
        yingshe.load(path)
    np.testing.assert_array_equal(yingshe.load(path, as_numpy=True)["odd"], [0, 1, 2])
