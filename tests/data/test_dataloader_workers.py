"""DataLoader worker failures against PyTorch's DataLoader (issue 14 item 7): an
exception raised in a worker, or in ``worker_init_fn``, is re-raised in the main process
with its original type and the worker's traceback in the message."""

import re

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import torch as import_torch


class LoaderTestError(Exception):
    """A user's own exception class (module level: importable by both processes)."""


class TwoArgumentError(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


class _Raising:
    """A map-style dataset whose sample 2 raises ``exc``."""

    def __init__(self, exc):
        self.exc = exc

    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 2:
            raise self.exc
        return np.zeros(1)


def _init_fails(worker_id):
    raise LoaderTestError(f"init of worker {worker_id} failed")


def _failure(lib, **kwargs):
    """The exception of iterating ``lib``'s DataLoader with two workers."""
    if lib == "torch":
        torch = import_torch()
        loader = torch.utils.data.DataLoader(batch_size=1, num_workers=2, **kwargs)
    else:
        loader = yingshe.utils.data.DataLoader(batch_size=1, num_workers=2, **kwargs)
    with pytest.raises(Exception) as info:
        list(loader)
    return info.value


_CASES = {
    "ValueError": dict(dataset=_Raising(ValueError("bad sample 2"))),
    "KeyError": dict(dataset=_Raising(KeyError("missing key"))),
    "own class": dict(dataset=_Raising(LoaderTestError("mine"))),
    "two-argument class": dict(dataset=_Raising(TwoArgumentError(1, 2))),
    "worker_init_fn": dict(dataset=_Raising(ValueError()), worker_init_fn=_init_fails),
}


@pytest.mark.parametrize("name", sorted(_CASES))
def test_worker_exceptions_keep_their_type_and_traceback_like_torch(name):
    theirs = _failure("torch", **_CASES[name])
    ours = _failure("yingshe", **_CASES[name])
    assert type(ours) is type(theirs)
    head = str(theirs).split("\n")[0]   # "Caught ValueError in DataLoader worker process 0."
    assert str(ours).split("\n")[0] == head
    assert "Original Traceback (most recent call last):" in str(ours)
    last = str(theirs).strip().split("\n")[-1]   # the original "ValueError: bad sample 2"
    assert str(ours).strip().split("\n")[-1] == last


def test_an_exception_class_the_main_process_cannot_import_arrives_as_runtime_error():
    # PyTorch hangs here (its queue cannot pickle a local class), so no parity check
    class Local(Exception):
        pass

    err = _failure("yingshe", dataset=_Raising(Local("local")))
    assert type(err) is RuntimeError
    assert str(err).startswith("Caught Local in DataLoader worker process")
    assert "Local: local" in str(err)


def test_a_batch_that_cannot_be_sent_is_an_error_not_a_hang():
    err = _failure("yingshe", dataset=_Raising(ValueError()),
                   collate_fn=lambda batch: (lambda: "not picklable"))
    assert "(sending batch 0)" in str(err) and "pickle" in str(err)   # batch 0 comes first


def test_batches_before_the_failing_one_are_yielded_first_like_torch():
    torch = import_torch()
    counts = []
    for loader in (torch.utils.data.DataLoader(_Raising(ValueError("bad")), num_workers=2),
                   yingshe.utils.data.DataLoader(_Raising(ValueError("bad")), num_workers=2)):
        seen = 0
        with pytest.raises(ValueError, match="bad"):
            for _ in loader:
                seen += 1
        counts.append(seen)
    assert counts[1] == counts[0] == 2


class _RaisesWorkerOnlyClass:
    """Raises an exception whose class lives in a module that only the worker has."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        import sys
        import types
        mod = types.ModuleType("yingshe_test_worker_only")
        exec("class WorkerOnly(Exception):\n    pass", mod.__dict__)
        sys.modules[mod.__name__] = mod
        raise mod.WorkerOnly("from the worker")


def test_a_result_the_main_process_cannot_unpickle_is_a_clear_error():
    err = _failure("yingshe", dataset=_RaisesWorkerOnlyClass())
    assert type(err) is RuntimeError
    # both batches fail to unpickle; which one arrives first is the workers' race
    assert re.search(r"could not read batch [01] sent by a worker", str(err)), str(err)
