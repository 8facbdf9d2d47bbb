"""The DataLoader: batches from a dataset, optionally loaded by worker processes.

PyTorch's constructor signature and behaviour (batch_size, shuffle with a seeded
generator, samplers, drop_last, collate of tuples/dicts, ``num_workers``).
Two additions serve checkpoints: ``state_dict()``/``load_state_dict()`` record the
shuffle position (the generator state at the start of the epoch and the number of
batches already yielded), so a run resumed mid-epoch visits exactly the batches a
run that never stopped would have.
"""

from __future__ import annotations

import pickle
import queue
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple

import numpy as np

from yingshe._tensor import Tensor, _wrap
from yingshe.utils.data.dataset import IterableDataset
from yingshe.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "get_worker_info"]


# ---- collation ----------------------------------------------------------------------------

def default_collate(batch: list):
    """Stack a list of samples like PyTorch's ``default_collate``: tensors/arrays are
    stacked along a new first dim, numbers become tensors, dicts and tuples collate
    field by field, strings stay lists."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _wrap(np.stack([b.detach()._data for b in batch]))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSU":
            raise TypeError(f"default_collate: arrays of dtype {elem.dtype} are not supported")
        return _wrap(np.stack(batch))
    if isinstance(elem, np.generic):
        return _wrap(np.asarray(batch))
    if isinstance(elem, bool):
        return _wrap(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, float):
        return _wrap(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        return _wrap(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return type(elem)({k: default_collate([d[k] for d in batch]) for k in elem}) \
            if not isinstance(elem, dict) else {k: default_collate([d[k] for d in batch])
                                                for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        n = len(elem)
        if any(len(b) != n for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(transposed) if isinstance(elem, tuple) else transposed
    raise TypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, "
                    f"dicts or lists; found {type(elem).__name__}")


# ---- worker processes ---------------------------------------------------------------------

class WorkerInfo(NamedTuple):
    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """Inside a DataLoader worker: its id, the worker count, its seed and dataset."""
    return _worker_info


def _to_wire(obj):
    # Tensors refuse to pickle (checkpoints never pickle); between our own processes we
    # send their NumPy arrays and rebuild tensors on the other side.
    if isinstance(obj, Tensor):
        return ("__yingshe_tensor__", obj.detach()._data)
    if isinstance(obj, dict):
        return {k: _to_wire(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_to_wire(v) for v in obj)
    if isinstance(obj, list):
        return [_to_wire(v) for v in obj]
    return obj


def _from_wire(obj):
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str) \
            and obj[0] == "__yingshe_tensor__":
        return _wrap(obj[1])
    if isinstance(obj, dict):
        return {k: _from_wire(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_from_wire(v) for v in obj)
    if isinstance(obj, list):
        return [_from_wire(v) for v in obj]
    return obj


class _WorkerError:
    """An exception raised in a worker, sent to the main process and re-raised there with
    its original type and the worker's traceback in the message (PyTorch's
    ``ExceptionWrapper``). The type travels by reference (module and name); a type the
    main process cannot import, or construct from one message, arrives as RuntimeError."""

    def __init__(self, where: str) -> None:
        exc_type = sys.exc_info()[0]
        try:
            pickle.dumps(exc_type)
            self.exc_type = exc_type
        except Exception:  # noqa: BLE001 - a local class: only its name can travel
            self.exc_type = None
        self.type_name = exc_type.__name__
        self.where = where
        self.text = traceback.format_exc()

    def reraise(self):
        msg = f"Caught {self.type_name} {self.where}.\nOriginal {self.text}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg) if self.exc_type is not None else None
        except Exception:  # noqa: BLE001 - needs other arguments than one message
            exc = None
        if not isinstance(exc, BaseException):
            raise RuntimeError(msg) from None
        raise exc


class _KeyErrorMessage(str):
    """KeyError prints the repr of its argument; this keeps the traceback readable."""

    def __repr__(self) -> str:
        return self


def _send(result_q, batch_no, payload) -> None:
    # serialise here rather than in the queue's feeder thread, which would print a
    # pickling error and drop the batch, leaving the main process waiting forever
    try:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - reported to the main process as the batch's error
        data = pickle.dumps(_WorkerError(f"in DataLoader worker process {_worker_info.id} "
                                         f"(sending batch {batch_no})"))
    result_q.put((batch_no, data))


def _receive(data: bytes, batch_no: int):
    """What a worker sent (bytes from our own process: unpickling them is safe)."""
    try:
        return pickle.loads(data)
    except Exception as err:  # noqa: BLE001 - e.g. a class the main process cannot import
        raise RuntimeError(f"DataLoader: the main process could not read batch {batch_no} "
                           f"sent by a worker ({type(err).__name__}: {err})") from None


def _worker_loop(dataset, fetch, index_q, result_q, worker_id, num_workers, seed, init_fn):
    global _worker_info
    from yingshe import random as yrandom
    yrandom.manual_seed(seed)
    np.random.seed(seed % 2**32)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    where = f"in DataLoader worker process {worker_id}"
    init_error = None
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception:  # noqa: BLE001 - reported as the result of the first batch asked
            init_error = _WorkerError(where)
    while True:
        item = index_q.get()
        if item is None:
            break
        batch_no, indices = item
        if init_error is not None:
            payload, init_error = init_error, None
        else:
            try:
                payload = _to_wire(fetch(indices))
            except Exception:  # noqa: BLE001 - re-raised in the main process, same type
                payload = _WorkerError(where)
        _send(result_q, batch_no, payload)


# ---- the loader -----------------------------------------------------------------------------

class DataLoader:
    """Iterate over ``dataset`` in batches (PyTorch's signature; see module docs)."""

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing (num_workers > 0)")
        if not in_order:
            raise NotImplementedError("DataLoader: in_order=False is not supported by yingshe")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = 2 if prefetch_factor is None else prefetch_factor
        self.pin_memory = pin_memory  # accepted: CPU tensors need no pinning
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = persistent_workers
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"shuffle option, but got shuffle={shuffle}")
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 "sampler/batch_sampler options")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle \
                else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size)
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else _convert)
        # datasets that can fetch a whole batch by fancy indexing (TensorDataset,
        # IDXDataset) skip per-sample collation: same batches, far fewer Python calls
        self._fast_tensor_batches = (callable(getattr(dataset, "_batch", None))
                                     and getattr(dataset, "transform", None) is None
                                     and collate_fn is None and batch_sampler is not None)
        self._resume: dict | None = None
        self._epoch_state = None
        self._yielded = 0

    # -- what one batch is --
    def _fetch(self, indices):
        if self._fast_tensor_batches:
            return self.dataset._batch(indices)
        if self.batch_sampler is not None:
            getitems = getattr(self.dataset, "__getitems__", None)
            samples = getitems(indices) if getitems else [self.dataset[i] for i in indices]
            return self.collate_fn(samples)
        return self.collate_fn(self.dataset[indices])

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def _generator_obj(self):
        from yingshe import random as yrandom
        gen = getattr(self.sampler, "generator", None)
        return gen if gen is not None else yrandom.default_generator

    def _index_batches(self):
        """The epoch's index batches, honouring a pending resume position."""
        gen = self._generator_obj()
        resume, self._resume = self._resume, None
        if resume is not None and resume.get("generator_state") is not None:
            current = gen.get_state()
            gen.set_state(resume["generator_state"])
            self._epoch_state = resume["generator_state"]
            batches = list(self.batch_sampler if self.batch_sampler is not None
                           else self.sampler)
            gen.set_state(current)  # the global stream continues from the checkpoint
        else:
            self._epoch_state = gen.get_state()
            batches = list(self.batch_sampler if self.batch_sampler is not None
                           else self.sampler)
        skip = resume["batches_yielded"] if resume is not None else 0
        self._yielded = skip
        return batches[skip:]

    def __iter__(self):
        if self._iterable:
            return self._iter_iterable()
        batches = self._index_batches()
        if self.num_workers == 0:
            return self._iter_single(batches)
        return self._iter_workers(batches)

    def _iter_single(self, batches):
        for indices in batches:
            out = self._fetch(indices)
            self._yielded += 1
            yield out
        self._end_epoch()

    def _end_epoch(self) -> None:
        # a checkpoint taken between epochs must start the next epoch afresh
        self._yielded = 0
        self._epoch_state = None

    def _iter_iterable(self):
        it = iter(self.dataset)
        if self.batch_size is None:
            for sample in it:
                yield _convert(sample)
            return
        batch = []
        for sample in it:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def _iter_workers(self, batches):
        import multiprocessing as mp   # here: only worker processes need it
        from yingshe import random as yrandom
        ctx = self.multiprocessing_context
        if ctx is None:
            methods = mp.get_all_start_methods()
            ctx = mp.get_context("fork" if "fork" in methods else "spawn")
        elif isinstance(ctx, str):
            ctx = mp.get_context(ctx)
        base_seed = int(yrandom.resolve(None).integers(0, 2**62))
        result_q = ctx.Queue()
        index_qs = [ctx.Queue() for _ in range(self.num_workers)]
        workers = [
            ctx.Process(target=_worker_loop,
                        args=(self.dataset, self._fetch, index_qs[w], result_q, w,
                              self.num_workers, base_seed + w, self.worker_init_fn),
                        daemon=True)
            for w in range(self.num_workers)
        ]
        for p in workers:
            p.start()
        try:
            pending: dict[int, Any] = {}
            sent = 0
            limit = self.prefetch_factor * self.num_workers
            for _ in range(min(limit, len(batches))):
                index_qs[sent % self.num_workers].put((sent, batches[sent]))
                sent += 1
            for expected in range(len(batches)):
                while expected not in pending:
                    try:
                        no, data = result_q.get(timeout=self.timeout or 5.0)
                    except queue.Empty:
                        dead = [p.pid for p in workers if not p.is_alive()]
                        if dead or self.timeout:
                            raise RuntimeError(
                                f"DataLoader worker (pid(s) {dead}) exited unexpectedly"
                                if dead else f"DataLoader timed out after {self.timeout} s"
                            ) from None
                        continue
                    pending[no] = _receive(data, no)
                if sent < len(batches):
                    index_qs[sent % self.num_workers].put((sent, batches[sent]))
                    sent += 1
                data = pending.pop(expected)
                if isinstance(data, _WorkerError):  # in batch order, as PyTorch raises
                    data.reraise()
                self._yielded += 1
                yield _from_wire(data)
            self._end_epoch()
        finally:
            for q in index_qs:
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
            for p in workers:
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()

    # -- checkpointing the position --
    def state_dict(self) -> dict:
        """The shuffle position: generator state at the epoch's start and batches yielded."""
        return {"generator_state": self._epoch_state, "batches_yielded": self._yielded}

    def load_state_dict(self, state: dict) -> None:
        """Make the next ``iter()`` resume the epoch recorded in ``state``."""
        self._resume = {"generator_state": state.get("generator_state"),
                        "batches_yielded": int(state.get("batches_yielded", 0))}


def _convert(data):
    """Without auto-batching: NumPy arrays become tensors, the rest passes through."""
    if isinstance(data, np.ndarray):
        return _wrap(data)
    if isinstance(data, dict):
        return {k: _convert(v) for k, v in data.items()}
    if isinstance(data, tuple):
        return tuple(_convert(v) for v in data)
    if isinstance(data, list):
        return [_convert(v) for v in data]
    return data
