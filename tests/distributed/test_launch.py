"""The launcher (``yingshe run``, ``spawn``) and failure behaviour: a rank that raises,
exits with an error, never arrives, or calls another collective ends every rank with a
message naming it and a non-zero exit code. Each job here would run for an hour if the
failure handling did not end it; the subprocess limit is only a hang guard."""

from __future__ import annotations

import os
import sys

import pytest

from _jobs import HERE, require_mpi, run_command
from yingshe.distributed import launch

PROGRAMS = HERE / "programs"


def _yingshe_run(n: int, *target: str):
    require_mpi()
    return run_command([sys.executable, "-m", "yingshe", "run", "-n", str(n), *target])


@pytest.mark.parametrize("target,fragments", [
    (("failing.py", "raise"), ("ZeroDivisionError: rank 1 fails on purpose",
                               "rank 1 of 2 raised ZeroDivisionError", "ending every rank")),
    (("failing.py", "exit"), ("rank 1 of 2 exited with status 3",)),
    (("spawned.py", "3"), ("nprocs=3, but the MPI launcher started 2 ranks",)),
], ids=["raise", "error-exit", "spawn-nprocs"])
def test_a_failing_rank_ends_every_rank(target, fragments):
    proc = _yingshe_run(2, str(PROGRAMS / target[0]), *target[1:])
    assert proc.returncode != 0
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def test_plain_mpirun_also_ends_every_rank_after_init_process_group():
    require_mpi()
    cmd = launch.mpirun_command(2, [sys.executable, str(PROGRAMS / "failing.py"), "raise"])
    proc = run_command(cmd)
    assert proc.returncode != 0
    assert "rank 1 of 2 raised ZeroDivisionError" in proc.stderr


def test_a_rank_that_never_arrives_is_named_when_the_timeout_aborts():
    proc = _yingshe_run(3, str(PROGRAMS / "failing.py"), "hang")
    assert proc.returncode != 0
    err = proc.stderr
    # ranks 0 and 2 both time out; the first message to be printed may be either's
    assert "all_reduce #3" in err and "timed out on rank " in err, err
    assert "the ranks that did not arrive: 1 (not in a collective; last issued all_reduce #2)" \
        in err, err
    assert "arrived: ranks [0, 2]" in err, err


def test_ranks_in_different_collectives_are_named():
    proc = _yingshe_run(2, str(PROGRAMS / "failing.py"), "other")
    assert proc.returncode != 0
    err = proc.stderr
    # call 3 is checked (calls 1-4 always are): the ranks agree on nothing and wait there,
    # or the check reports the mismatch; either way the message names both collectives
    assert ("differs across ranks (rank 0: called all_reduce, rank 1: called broadcast)"
            in err) or ("waiting in broadcast #3" in err and "different collectives" in err), err


def test_spawn_inside_a_launcher_runs_fn_on_every_rank():
    proc = _yingshe_run(2, str(PROGRAMS / "spawned.py"), "2")
    assert proc.returncode == 0, proc.stderr
    lines = sorted(ln for ln in proc.stdout.splitlines() if ln.startswith("SPAWNED"))
    assert lines == ["SPAWNED rank 0 of 2 sum [3.0, 3.0]", "SPAWNED rank 1 of 2 sum [3.0, 3.0]"]
    assert "backend 'gloo' runs on MPI" in proc.stderr


def test_yingshe_run_a_module():
    proc = _yingshe_run(2, "-m", "json.tool", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("usage:") == 2


# ---- the command line, without running it --------------------------------------------------

def test_mpirun_flags(monkeypatch):
    monkeypatch.setattr(launch, "_mpirun", lambda: "/x/mpirun")
    monkeypatch.setattr(launch, "_cores", lambda: 2)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert launch.mpirun_command(2, ["p"]) == ["/x/mpirun", "--allow-run-as-root", "-n", "2",
                                               "p"]
    assert launch.mpirun_command(4, ["p"])[:3] == ["/x/mpirun", "--allow-run-as-root",
                                                   "--oversubscribe"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert launch.mpirun_command(2, ["p"]) == ["/x/mpirun", "-n", "2", "p"]
    # a hostfile says where ranks go: no oversubscription is assumed
    assert launch.mpirun_command(8, ["p"], hostfile="hosts") == [
        "/x/mpirun", "--hostfile", "hosts", "-n", "8", "p"]
    with pytest.raises(ValueError, match="positive integer"):
        launch.mpirun_command(0, ["p"])


def test_spawn_refuses_arguments_that_are_not_json(monkeypatch):
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE", raising=False)
    monkeypatch.delenv("PMI_SIZE", raising=False)

    def fn(rank):
        pass
    with pytest.raises(TypeError, match="module-level function"):
        launch.spawn(fn, nprocs=2)
    with pytest.raises(TypeError, match="JSON values"):
        launch.spawn(print, args=(object(),), nprocs=2)


def test_cli_run_needs_a_target():
    from yingshe.cli import main
    with pytest.raises(SystemExit, match="name a script"):
        main(["run", "-n", "2"])
