"""Checkpoints: round trips, atomic writes, hostile files, PyTorch-written files."""

import os
import pickle

import numpy as np
import pytest

import yingshe
from yingshe.io import CheckpointError, checkpoint
from yingshe.testing.reference import torch as import_torch


def _state():
    return {
        "model": {"fc.weight": yingshe.tensor(np.arange(6.0).reshape(2, 3)),
                  "fc.bias": yingshe.tensor([0.5, -1.0]),
                  "bn.num_batches_tracked": yingshe.tensor(7)},
        "optimizer": {"state": {0: {"step": yingshe.tensor(3.0),
                                    "exp_avg": yingshe.tensor(np.ones((2, 3)))}},
                      "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0, 1],
                                        "amsgrad": False, "weight_decay": 0.0,
                                        "maximize": False, "eps": 1e-8}]},
        "step": 42, "epoch_loss": float("inf"), "note": "hello", "nothing": None,
        "rng": {"bit_generator": "PCG64", "state": {"state": 2**100 + 7, "inc": 12345}},
        "dtype": yingshe.float64,
    }


def _assert_same(a, b):
    if isinstance(a, yingshe.Tensor):
        assert isinstance(b, yingshe.Tensor)
        assert a.dtype is b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, dict):
        assert set(a) == set(b) and all(type(k) is type(k2) for k, k2 in zip(sorted(a, key=str),
                                                                              sorted(b, key=str)))
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b and type(a) is type(b)


def test_round_trip_keeps_structure_types_and_values(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    state = _state()
    yingshe.save(state, path)
    _assert_same(state, yingshe.load(path))


def test_no_temporary_files_are_left(tmp_path):
    yingshe.save(_state(), tmp_path / "a.safetensors")
    assert os.listdir(tmp_path) == ["a.safetensors"]


def test_crash_between_write_and_rename_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    yingshe.save({"w": yingshe.tensor([1.0, 2.0])}, path)

    def crash(src, dst):
        raise KeyboardInterrupt("simulated crash mid-save")

    monkeypatch.setattr(checkpoint, "_replace", crash)
    with pytest.raises(KeyboardInterrupt):
        yingshe.save({"w": yingshe.tensor([9.0, 9.0])}, path)
    np.testing.assert_array_equal(yingshe.load(path)["w"].numpy(), [1.0, 2.0])
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_truncated_file_raises_clear_error(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    yingshe.save(_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a valid safetensors|truncated"):
        yingshe.load(path)


def test_header_claiming_huge_size_is_refused(tmp_path):
    path = tmp_path / "evil.safetensors"
    path.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="header claims"):
        yingshe.load(path)


def test_header_lying_about_tensor_extent_is_refused(tmp_path):
    import json
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000000], "data_offsets": [0, 4000000]}})
    raw = header.encode()
    path = tmp_path / "lying.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + b"\0" * 16)
    with pytest.raises(CheckpointError):
        yingshe.load(path)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_renamed_as_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"w": _Exploit(str(marker))}))
    with pytest.raises(CheckpointError):
        yingshe.load(path)
    assert not marker.exists()


def test_unsupported_objects_are_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        yingshe.save({"f": lambda: 0}, tmp_path / "x.safetensors")


def test_tensors_refuse_to_pickle():
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(yingshe.tensor([1.0]))


def test_safetensors_file_written_by_pytorch_loads(tmp_path):
    torch = import_torch()
    from safetensors.torch import save_file
    sd = {"weight": torch.randn(3, 4, dtype=torch.float32), "bias": torch.randn(3),
          "steps": torch.tensor([5], dtype=torch.int64)}
    path = tmp_path / "torch.safetensors"
    save_file(sd, str(path))
    loaded = yingshe.load(path)
    assert set(loaded) == set(sd)
    for k in sd:
        np.testing.assert_array_equal(loaded[k].numpy(), sd[k].numpy())
        assert str(loaded[k].dtype).split(".")[-1] == str(sd[k].dtype).split(".")[-1]
