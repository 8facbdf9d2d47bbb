"""``yingshe.nn.utils``: gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``),
parameter/vector conversion, and ``rnn`` (packed and padded sequences)."""

try:
    from yingshe.nn.utils.clip_grad import *  # noqa: F401,F403
    from yingshe.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_  # noqa: F401
except ImportError:  # pragma: no cover - written by the optimizer work
    pass

from yingshe.nn.utils import rnn  # noqa: F401,E402
