"""A PyTorch DDP program in the form of PyTorch's own tutorial (``init_process_group("gloo")``,
``DDP(model)``, ``DistributedSampler``, ``mp.spawn``) runs on yingshe after renaming its
imports, and gives the losses of real PyTorch (gloo, 2 processes) from the same weights
and data."""

from __future__ import annotations

import socket
import sys

import numpy as np

from _jobs import HERE, require_mpi, run_command
from yingshe.testing.reference import require
from yingshe.testing.tolerances import tol
from yingshe.torch._runner import rename_imports

PROGRAM = HERE / "programs" / "ddp_tutorial.py"


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _numbers(stdout: str, tag: str) -> dict:
    out = {}
    for line in stdout.splitlines():
        if line.startswith(tag + " "):
            *key, value = line.split()[1:]
            out[" ".join(key)] = float(value)
    return out


def test_renamed_ddp_tutorial_matches_pytorch_gloo(tmp_path):
    require_mpi()
    require("torch")
    rng = np.random.default_rng(1)
    data = tmp_path / "data.npz"
    np.savez(data, x=rng.standard_normal((64, 10)).astype(np.float32),
             y=rng.standard_normal((64, 5)).astype(np.float32),
             **{"net1.weight": rng.uniform(-.3, .3, (10, 10)).astype(np.float32),
                "net1.bias": rng.uniform(-.3, .3, 10).astype(np.float32),
                "net2.weight": rng.uniform(-.3, .3, (5, 10)).astype(np.float32),
                "net2.bias": rng.uniform(-.3, .3, 5).astype(np.float32)})
    real = run_command([sys.executable, str(PROGRAM), "2", str(data)],
                       {"DDP_TUTORIAL_PORT": _free_port(), "MASTER_ADDR": "127.0.0.1"})
    assert real.returncode == 0, real.stderr[-3000:]
    renamed = tmp_path / "ddp_tutorial.py"
    source = rename_imports(PROGRAM.read_text())
    assert "import torch" not in source.replace("import yingshe.torch", "")
    renamed.write_text(source)
    ours = run_command([sys.executable, str(renamed), "2", str(data)])
    assert ours.returncode == 0, ours.stderr[-3000:]
    for out in (real.stdout, ours.stdout):
        assert "Running basic DDP example on rank 0." in out
        assert "Running basic DDP example on rank 1." in out
    assert "backend 'gloo' runs on MPI" in ours.stderr
    want, got = _numbers(real.stdout, "LOSS"), _numbers(ours.stdout, "LOSS")
    assert len(want) == 8 and list(got) == list(want), (want, got)
    rtol, atol = tol("trajectory", np.float32)
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=rtol,
                               atol=atol)
    want_p, got_p = _numbers(real.stdout, "PARAM"), _numbers(ours.stdout, "PARAM")
    assert list(got_p) == list(want_p) == ["module.net1.weight", "module.net1.bias",
                                          "module.net2.weight", "module.net2.bias"]
    np.testing.assert_allclose(list(got_p.values()), list(want_p.values()), rtol=rtol,
                               atol=atol)
