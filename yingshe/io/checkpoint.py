"""Safe checkpoints: one safetensors file per checkpoint, written atomically.

``save(obj, path)`` accepts nested dicts/lists/tuples of tensors, NumPy arrays,
numbers, strings, booleans and None: a model's ``state_dict()``, an optimizer's
and a scheduler's, step counters, RNG state, a DataLoader's position. Tensors go
into the safetensors payload under their path in the structure ("model/fc.weight");
everything else is JSON in the file's metadata (key ``yingshe``), with tensors
referenced by key. Nothing is ever unpickled, so loading an untrusted file cannot
run code; a corrupted, truncated or foreign file raises ``CheckpointError``.

The write is atomic: a temporary file in the same folder is written and fsynced,
``os.replace``d over the target, and the folder is fsynced, so a crash mid-save
leaves the previous checkpoint intact.

A plain safetensors file (for example written by ``safetensors.torch.save_file``
from a PyTorch ``state_dict``) loads as a flat dict of tensors, ready for
``module.load_state_dict``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any

import numpy as np

__all__ = ["save", "load", "CheckpointError"]

_META_KEY = "yingshe"
_FORMAT = 1


class CheckpointError(ValueError):
    """A file that is not a readable yingshe/safetensors checkpoint."""


def _encode(obj: Any, path: str, tensors: dict[str, np.ndarray]):
    from yingshe._tensor import Tensor
    if isinstance(obj, Tensor):
        obj = obj.detach()._data
    if isinstance(obj, np.ndarray):
        key = path or "tensor"
        if key in tensors:
            raise ValueError(f"save: duplicate tensor key {key!r}")
        tensors[key] = obj if obj.flags.c_contiguous else obj.copy()  # keeps 0-d shapes
        return {"__tensor__": key}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {"__float__": repr(obj)}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, f"{path}/{k}" if path else k, tensors) for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool)) or isinstance(k, np.generic):
                raise TypeError(f"save: unsupported dict key type {type(k).__name__} at {path!r}")
            items.append([k, _encode(v, f"{path}/{k}" if path else str(k), tensors)])
        return {"__items__": items}
    if isinstance(obj, (list, tuple)):
        enc = [_encode(v, f"{path}/{i}" if path else str(i), tensors) for i, v in enumerate(obj)]
        return {"__tuple__": enc} if isinstance(obj, tuple) else enc
    from yingshe._dtype import dtype as ys_dtype
    if isinstance(obj, ys_dtype):
        return {"__dtype__": obj.name}
    raise TypeError(
        f"save: cannot store an object of type {type(obj).__name__} at {path!r}; "
        "checkpoints hold tensors, arrays, numbers, strings, None, and dicts/lists of them "
        "(never pickled objects)"
    )


def _decode(obj: Any, tensors, as_numpy: bool):
    if isinstance(obj, list):
        return [_decode(v, tensors, as_numpy) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj and len(obj) == 1:
            key = obj["__tensor__"]
            if key not in tensors:
                raise CheckpointError(f"load: the checkpoint's metadata names tensor {key!r}, "
                                      "which the file does not contain")
            return _tensor(tensors[key], as_numpy)
        if "__tuple__" in obj and len(obj) == 1:
            return tuple(_decode(v, tensors, as_numpy) for v in obj["__tuple__"])
        if "__items__" in obj and len(obj) == 1:
            return {k: _decode(v, tensors, as_numpy) for k, v in obj["__items__"]}
        if "__float__" in obj and len(obj) == 1:
            return float(obj["__float__"])
        if "__dtype__" in obj and len(obj) == 1:
            from yingshe._dtype import as_dtype
            return as_dtype(obj["__dtype__"])
        return {k: _decode(v, tensors, as_numpy) for k, v in obj.items()}
    return obj


def _tensor(arr: np.ndarray, as_numpy: bool):
    if as_numpy:
        return arr
    from yingshe._tensor import _wrap
    return _wrap(arr)


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def save(obj: Any, f: str | os.PathLike) -> None:
    """Write ``obj`` to ``f`` as one safetensors file, atomically (see module docs).

    Example:
        >>> yingshe.save({"model": model.state_dict(), "step": 10}, "ckpt.safetensors")
    """
    from safetensors.numpy import save as st_save

    path = os.fspath(f)
    tensors: dict[str, np.ndarray] = {}
    structure = _encode(obj, "", tensors)
    meta = {_META_KEY: json.dumps({"format": _FORMAT, "structure": structure})}
    payload = st_save(tensors, metadata=meta)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        _replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def _replace(src: str, dst: str) -> None:
    # a separate function so tests can simulate a crash between write and rename
    os.replace(src, dst)


def load(f: str | os.PathLike, map_location=None, *, weights_only: bool = True,
         as_numpy: bool = False) -> Any:
    """Read a checkpoint written by ``save`` (or any safetensors file).

    ``map_location`` and ``weights_only`` are accepted for PyTorch compatibility
    (yingshe never unpickles, so loading is always weights-only).
    """
    from safetensors import SafetensorError, safe_open

    path = os.fspath(f)
    if map_location not in (None, "cpu") and str(map_location) != "cpu":
        raise NotImplementedError(f"load: map_location={map_location!r} (only 'cpu')")
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    _check_header(path)
    try:
        with safe_open(path, framework="numpy") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"load: {path} is not a valid safetensors checkpoint ({err})") \
            from None
    if _META_KEY not in meta:
        return {k: _tensor(v, as_numpy) for k, v in tensors.items()}
    try:
        doc = json.loads(meta[_META_KEY])
        structure = doc["structure"]
        if doc.get("format") != _FORMAT:
            raise CheckpointError(f"load: unsupported checkpoint format {doc.get('format')!r}")
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"load: {path} has corrupted yingshe metadata ({err})") from None
    return _decode(structure, tensors, as_numpy)


def _check_header(path: str) -> None:
    """Reject files whose 8-byte header length is absurd before any parser sees them
    (a pickle renamed to .safetensors, a truncated file, a hostile header)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) < 9:
        raise CheckpointError(f"load: {path} is too short to be a safetensors file "
                              f"({size} bytes)")
    n = int.from_bytes(head[:8], "little")
    if n > size - 8 or n > 100 * 1024 * 1024:
        raise CheckpointError(
            f"load: {path} is not a safetensors file (its header claims {n} bytes, the file "
            f"has {size}); it may be truncated, corrupted, or another format such as a pickle"
        )
    if head[8:9] != b"{":
        raise CheckpointError(f"load: {path} is not a safetensors file (bad header)")
