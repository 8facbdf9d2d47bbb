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
leaves the previous checkpoint intact. The file gets the permissions of any file the
user creates (0666 less the umask), not a private temporary file's 0600.

A save killed mid-write (SIGKILL, power loss) leaves its temporary file behind. Its
name, ``.yingshe-tmp-<host>-<pid>-<random>.safetensors``, carries the writer's host
name and process id, and every save first removes the temporaries in its folder whose
writer is gone: written on this host by a process id that no longer exists. A file a
live process is still writing is never touched, nor one written from another host
(a shared file system): those are left for a save on that host. A process id reused
by a new process keeps its predecessor's file until that process ends too.

A plain safetensors file (for example written by ``safetensors.torch.save_file``
from a PyTorch ``state_dict``) loads as a flat dict of tensors, ready for
``module.load_state_dict``.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

import numpy as np

__all__ = ["save", "load", "CheckpointError", "write_atomic"]

_META_KEY = "yingshe"
_FORMAT = 1


# Deeper structures are refused at save and at load: state dicts nest a handful of
# levels, and the limit keeps a hostile file's nesting far from Python's recursion limit.
_MAX_DEPTH = 100


class CheckpointError(ValueError):
    """A file that is not a readable yingshe/safetensors checkpoint."""


def _join(path: str, key) -> str:
    return f"{path}/{key}" if path else str(key)


def _short(path: str) -> str:
    """A key path for a message: its end, when a deep structure makes it long."""
    return path if len(path) <= 80 else "..." + path[-77:]


def _encode(obj: Any, path: str, tensors: dict[str, np.ndarray], depth: int = 0):
    from yingshe._tensor import Tensor
    if depth > _MAX_DEPTH:
        raise ValueError(f"save: the structure is nested more than {_MAX_DEPTH} levels deep "
                         f"at {_short(path)!r}")
    depth += 1
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
            return {k: _encode(v, _join(path, k), tensors, depth) for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool)) or isinstance(k, np.generic):
                raise TypeError(f"save: unsupported dict key type {type(k).__name__} at {path!r}")
            items.append([k, _encode(v, _join(path, k), tensors, depth)])
        return {"__items__": items}
    if isinstance(obj, (list, tuple)):
        enc = [_encode(v, _join(path, i), tensors, depth) for i, v in enumerate(obj)]
        return {"__tuple__": enc} if isinstance(obj, tuple) else enc
    from yingshe._dtype import dtype as ys_dtype
    if isinstance(obj, ys_dtype):
        return {"__dtype__": obj.name}
    raise TypeError(
        f"save: cannot store an object of type {type(obj).__name__} at {path!r}; "
        "checkpoints hold tensors, arrays, numbers, strings, None, and dicts/lists of them "
        "(never pickled objects)"
    )


class _Malformed(Exception):
    """Raised inside ``_decode``; ``load`` turns it into a CheckpointError naming the file."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"at key {_short(key) or '<top level>'!r}: {problem}")


def _decode(obj: Any, tensors, as_numpy: bool, path: str = "", depth: int = 0):
    """The saved structure back from its JSON form, checking every yingshe marker (a
    hostile or corrupted file gets a ``_Malformed`` naming the key, never a raw error)."""
    if depth > _MAX_DEPTH:
        raise _Malformed(path, f"the structure is nested more than {_MAX_DEPTH} levels deep")
    depth += 1
    if isinstance(obj, list):
        return [_decode(v, tensors, as_numpy, _join(path, i), depth) for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (marker, value), = obj.items()
        if marker == "__tensor__":
            if not isinstance(value, str):
                raise _Malformed(path, f"a tensor reference must be a string, got {value!r:.80}")
            if value not in tensors:
                raise _Malformed(path, f"the metadata names tensor {value!r}, which the file "
                                       "does not contain")
            return _tensor(tensors[value], as_numpy)
        if marker == "__tuple__":
            if not isinstance(value, list):
                raise _Malformed(path, f"a tuple must be stored as a list, got {value!r:.80}")
            return tuple(_decode(v, tensors, as_numpy, _join(path, i), depth)
                         for i, v in enumerate(value))
        if marker == "__items__":
            return _decode_items(value, tensors, as_numpy, path, depth)
        if marker == "__float__":
            if value not in ("inf", "-inf", "nan"):   # save writes only non-finite floats so
                raise _Malformed(path, f"expected 'inf', '-inf' or 'nan' for a float, got "
                                       f"{value!r:.80}")
            return float(value)
        if marker == "__dtype__":
            from yingshe._dtype import as_dtype
            try:
                if isinstance(value, str):
                    return as_dtype(value)
            except TypeError:
                pass
            raise _Malformed(path, f"unknown dtype {value!r:.80}")
    return {k: _decode(v, tensors, as_numpy, _join(path, k), depth) for k, v in obj.items()}


def _decode_items(items, tensors, as_numpy, path, depth) -> dict:
    """A dict whose keys JSON objects cannot hold (ints, floats, "__" names) as pairs."""
    if not isinstance(items, list):
        raise _Malformed(path, f"dict items must be a list of [key, value] pairs, got "
                               f"{items!r:.80}")
    out = {}
    for pair in items:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _Malformed(path, f"expected a [key, value] pair, got {pair!r:.80}")
        k, v = pair
        if not isinstance(k, (str, int, float, bool)):
            raise _Malformed(path, f"a dict key must be a string or a number, got {k!r:.80}")
        out[k] = _decode(v, tensors, as_numpy, _join(path, k), depth)
    return out


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

    The data goes first to ``.yingshe-tmp-<host>-<pid>-<random>.safetensors`` in the same
    folder, renamed over ``f`` when complete. Temporaries left there by killed saves of
    this host are removed first; a live process's never.

    Raises:
        TypeError: an object that checkpoints cannot hold (never pickled).
        ValueError: a structure nested more than 100 levels deep, or a repeated key.

    Example:
        >>> yingshe.save({"model": model.state_dict(), "step": 10}, "ckpt.safetensors")
    """
    from safetensors.numpy import save as st_save

    path = os.fspath(f)
    tensors: dict[str, np.ndarray] = {}
    structure = _encode(obj, "", tensors)
    meta = {_META_KEY: json.dumps({"format": _FORMAT, "structure": structure})}
    write_atomic(path, st_save(tensors, metadata=meta))


def write_atomic(path: str | os.PathLike, payload: bytes, suffix: str = ".safetensors") -> None:
    """Write ``payload`` to ``path`` atomically (see the module docs): a temporary file
    ``.yingshe-tmp-<host>-<pid>-<random><suffix>`` in the same folder, fsynced and renamed
    over ``path``; stale temporaries of dead writers on this host are removed first.
    Checkpoints and ONNX exports (``yingshe.onnx``) are written this way."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    _remove_stale_temporaries(folder)
    fd, tmp = _create_temporary(folder, suffix)
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


_TMP_PREFIX = ".yingshe-tmp-"
# host names may hold '-': the pid and the random part are the last two fields; the
# suffix is the written format's (.safetensors, .onnx)
_TMP_NAME = re.compile(re.escape(_TMP_PREFIX) + r"(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]+"
                       + r"\.(safetensors|onnx)$")


def _host() -> str:
    import socket   # here, not at import: only saving needs it
    # '/' would make the name a path; nothing else in a host name troubles a file name
    return socket.gethostname().replace(os.sep, "_") or "localhost"


def _create_temporary(folder: str, suffix: str = ".safetensors") -> tuple[int, str]:
    """A new temporary file in ``folder`` named after this host and process, created
    with mode 0666 so the umask decides its permissions (as for any file the user
    writes; ``tempfile.mkstemp`` would make every checkpoint 0600)."""
    for _ in range(100):
        name = f"{_TMP_PREFIX}{_host()}-{os.getpid()}-{os.urandom(6).hex()}{suffix}"
        tmp = os.path.join(folder, name)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                           | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    raise FileExistsError(f"save: could not create a temporary file in {folder}")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)     # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return False
    except OSError:         # EPERM: it exists and belongs to another user
        return True
    return True


def _remove_stale_temporaries(folder: str) -> None:
    """Delete the temporaries in ``folder`` left by killed saves of this host (see the
    module docs); errors are ignored, since another process may be cleaning too."""
    if os.name != "posix":  # os.kill(pid, 0) is no existence check on Windows
        return
    host, me = _host(), os.getpid()
    try:
        entries = [e.name for e in os.scandir(folder) if e.name.startswith(_TMP_PREFIX)]
    except OSError:
        return
    for name in entries:
        m = _TMP_NAME.match(name)
        if m is None or m["host"] != host:
            continue
        pid = int(m["pid"])
        if pid == me or _process_exists(pid):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


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
    if not as_numpy:
        _check_dtypes(path, tensors)
    if _META_KEY not in meta:
        return {k: _tensor(v, as_numpy) for k, v in tensors.items()}
    try:
        doc = json.loads(meta[_META_KEY])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"load: {path} has corrupted yingshe metadata ({err})") from None
    except RecursionError:
        raise CheckpointError(f"load: {path} has malformed yingshe metadata: its JSON is "
                              f"nested too deeply to parse (save writes at most "
                              f"{_MAX_DEPTH} levels)") from None
    if not isinstance(doc, dict) or "structure" not in doc:
        raise CheckpointError(f"load: {path} has corrupted yingshe metadata (expected an "
                              f"object with a 'structure' key, got {str(doc)[:80]!r})")
    if doc.get("format") != _FORMAT:
        raise CheckpointError(f"load: {path} has an unsupported checkpoint format "
                              f"{doc.get('format')!r:.80} (this yingshe reads {_FORMAT})")
    try:
        return _decode(doc["structure"], tensors, as_numpy)
    except _Malformed as err:
        raise CheckpointError(f"load: {path} has malformed yingshe metadata {err}") from None


def _check_dtypes(path: str, tensors: dict) -> None:
    """A tensor of a dtype yingshe has no tensors of (uint16, uint32 ... from another
    library's file) is refused by name, rather than loaded as a tensor that fails later."""
    from yingshe import _dtype
    for key, arr in tensors.items():
        try:
            _dtype.from_numpy_dtype(arr.dtype)
        except TypeError as err:
            raise CheckpointError(f"load: {path}: tensor {key!r} has dtype {arr.dtype}, which "
                                  f"yingshe tensors do not support ({err}); "
                                  f"load(..., as_numpy=True) reads it as a NumPy array") \
                from None


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
