"""The framework random generator: every random draw in yingshe goes through here.

``rand``, ``randn``, ``dropout``, weight initialisation, ``DataLoader`` shuffling
... all draw from a ``yingshe.random.Generator`` (the ``default_generator`` unless
a ``generator=`` argument names another one), never from NumPy's global state, so

    >>> yingshe.manual_seed(0); a = yingshe.randn(3)
    >>> yingshe.manual_seed(0); b = yingshe.randn(3)
    >>> bool((a == b).all())
    True

A ``Generator`` wraps NumPy's PCG64 bit generator (``np.random.Generator``).
The *streams differ from PyTorch's*: the same seed gives different numbers in
yingshe and in PyTorch (they use different algorithms and cannot match); what is
guaranteed is that the same seed gives the same numbers in yingshe, eagerly and
in compiled code, on every platform NumPy supports.

States (``get_state``/``get_rng_state``) are JSON-serialisable dicts that restore
the stream exactly (the 128-bit PCG64 words are stored as hex strings, so no JSON
reader can round them); ``set_state`` also accepts the uint8 tensor produced by
``state_tensor()`` for code written against PyTorch's ByteTensor states.
"""

from __future__ import annotations

import contextlib
import json
import os

import numpy as np

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed",
           "get_rng_state", "set_rng_state", "resolve", "fork_rng"]

_STATE_VERSION = 1
_DEFAULT_SEED = 67280421310721  # PyTorch's default initial seed, for familiarity
_U64 = 1 << 64


def _check_seed(value) -> int:
    """PyTorch accepts seeds in [-2**63, 2**64); negative seeds wrap modulo 2**64."""
    try:
        s = int(value)
    except (TypeError, ValueError):
        raise TypeError(f"manual_seed: the seed must be an integer, got "
                        f"{type(value).__name__}") from None
    if isinstance(value, float) and value != s:
        raise TypeError(f"manual_seed: the seed must be an integer, got {value!r}")
    if not -(1 << 63) <= s < _U64:
        raise RuntimeError(
            f"manual_seed: seed must be within the range [-0x8000_0000_0000_0000, "
            f"0xffff_ffff_ffff_ffff], got {s}"
        )
    return s % _U64


class Generator:
    """A source of random numbers (PCG64), as ``torch.Generator``.

    Args:
        device: only "cpu" is supported.

    Example:
        >>> g = yingshe.Generator().manual_seed(42)
        >>> x = yingshe.rand(3, generator=g)
    """

    __slots__ = ("_np", "_seed", "device")

    def __init__(self, device="cpu") -> None:
        dev = str(getattr(device, "type", device)).split(":")[0]
        if dev != "cpu":
            from yingshe.backend import get
            get(dev)  # raises a clear error for cuda/unknown devices
        self.device = "cpu"
        self._seed = _DEFAULT_SEED
        self._np = np.random.Generator(np.random.PCG64(self._seed))

    # ---- seeding -------------------------------------------------------------------------
    def manual_seed(self, seed) -> "Generator":
        """Reset the stream to the one determined by ``seed``; returns ``self``."""
        s = _check_seed(seed)
        self._seed = s
        self._np = np.random.Generator(np.random.PCG64(s))
        return self

    def seed(self) -> int:
        """Seed from OS entropy (non-deterministic); returns the new seed."""
        s = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed the current stream was started from."""
        return self._seed

    # ---- state -----------------------------------------------------------------------------
    def get_state(self) -> dict:
        """The exact state as a JSON-serialisable dict (``json.dumps`` it freely)."""
        st = self._np.bit_generator.state
        inner = st["state"]
        return {
            "version": _STATE_VERSION,
            "bit_generator": st["bit_generator"],
            "state": format(int(inner["state"]), "x"),
            "inc": format(int(inner["inc"]), "x"),
            "has_uint32": int(st["has_uint32"]),
            "uinteger": int(st["uinteger"]),
            "seed": str(self._seed),
        }

    def set_state(self, new_state) -> "Generator":
        """Restore a state from ``get_state()`` (a dict, or its JSON string), or from a
        uint8 tensor/bytes made by ``state_tensor()``; returns ``self``."""
        st = _decode_state(new_state)
        bg = np.random.PCG64()
        bg.state = {
            "bit_generator": "PCG64",
            "state": {"state": int(st["state"], 16), "inc": int(st["inc"], 16)},
            "has_uint32": int(st["has_uint32"]),
            "uinteger": int(st["uinteger"]),
        }
        self._np = np.random.Generator(bg)
        self._seed = int(st.get("seed", self._seed))
        return self

    def state_tensor(self):
        """The state as a uint8 tensor (UTF-8 JSON bytes), PyTorch's ByteTensor shape of
        a state; ``set_state`` accepts it."""
        from yingshe._tensor import _wrap
        raw = json.dumps(self.get_state(), sort_keys=True).encode("utf-8")
        return _wrap(np.frombuffer(raw, dtype=np.uint8).copy())

    def clone_state(self) -> "Generator":
        """A new generator at the same point of the same stream."""
        g = Generator()
        g.set_state(self.get_state())
        return g

    def __repr__(self) -> str:
        return f"<yingshe.Generator device=cpu initial_seed={self._seed}>"

    # Generators are op attributes (hashable by identity) and must not be deep-copied
    # silently into a second, diverging stream.
    def __deepcopy__(self, memo):
        return self.clone_state()

    def __reduce__(self):
        return (_generator_from_state, (self.get_state(),))


def _generator_from_state(state: dict) -> Generator:
    return Generator().set_state(state)


def _decode_state(new_state) -> dict:
    from yingshe._tensor import Tensor
    st = new_state
    if isinstance(st, Tensor):
        if st._data is None or st._data.dtype != np.uint8 or st._data.ndim != 1:
            raise TypeError("set_state: a state tensor must be a 1-d uint8 tensor made by "
                            "Generator.state_tensor()")
        st = st._data.tobytes()
    elif isinstance(st, np.ndarray):
        st = st.astype(np.uint8).tobytes()
    if isinstance(st, (bytes, bytearray)):
        st = st.decode("utf-8")
    if isinstance(st, str):
        try:
            st = json.loads(st)
        except json.JSONDecodeError as err:
            raise ValueError(f"set_state: not a yingshe generator state ({err})") from None
    if not isinstance(st, dict):
        raise TypeError(f"set_state: expected a state dict from get_state(), got "
                        f"{type(new_state).__name__}")
    missing = {"bit_generator", "state", "inc", "has_uint32", "uinteger"} - set(st)
    if missing or st.get("bit_generator") != "PCG64":
        raise ValueError(
            "set_state: not a yingshe generator state (expected a PCG64 state from "
            f"get_state(); missing {sorted(missing)})"
        )
    if int(st.get("version", 1)) > _STATE_VERSION:
        raise ValueError(f"set_state: state version {st['version']} is newer than this "
                         f"yingshe understands ({_STATE_VERSION})")
    return st


default_generator = Generator()


def manual_seed(seed) -> Generator:
    """Seed the default generator (every draw that names no generator); returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from OS entropy; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed of the default generator's current stream."""
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    """The default generator's state (a JSON-serialisable dict; see ``Generator.get_state``).

    PyTorch returns a ByteTensor here; yingshe returns a dict so checkpoints can store
    it as JSON. ``set_rng_state`` accepts both forms.
    """
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore the default generator's state from ``get_rng_state()``."""
    default_generator.set_state(new_state)


def resolve(generator=None) -> np.random.Generator:
    """The NumPy generator an op draws from: ``generator``'s, or the default one's.

    Every random op calls this at the moment it draws, so re-seeding takes effect
    immediately and eager and compiled code consume the stream in the same order.
    """
    if generator is None:
        return default_generator._np
    if isinstance(generator, Generator):
        return generator._np
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a yingshe.Generator or None, got "
                    f"{type(generator).__name__}")


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True):
    """Context manager: draws inside do not advance the default generator afterwards
    (its state is saved on entry and restored on exit), as ``torch.random.fork_rng``."""
    if not enabled:
        yield
        return
    state = default_generator.get_state()
    try:
        yield
    finally:
        default_generator.set_state(state)
