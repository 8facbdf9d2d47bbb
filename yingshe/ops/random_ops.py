"""Random ops: draws from the framework generator (``yingshe.random``).

They are registered ops (``random=True``) rather than plain functions so that a
traced or compiled program draws fresh numbers on every run, in the same order
as eager code (a plain function would be frozen into a constant). The
``generator`` attribute is a ``yingshe.Generator`` or ``None`` (the default
generator), resolved at the moment of the draw.

The public functions (``rand``, ``randn``, ``randint`` ...) live in
``yingshe._creation``; these ops are not differentiable (sampling has no useful
pathwise gradient; use ``mean + std * randn(...)`` for reparameterised samples).
"""

from __future__ import annotations

import numpy as np

from yingshe import _dtype
from yingshe.ops._registry import register_op
from yingshe.ops._shapes import Meta
from yingshe.random import resolve

__all__ = ["Uniform", "Normal", "RandInt", "RandPerm", "Bernoulli", "Multinomial"]


def _float_draw_dtype(dt: _dtype.dtype):
    """NumPy draws float32/float64 natively; float16 is drawn in float32 and cast."""
    return np.float64 if dt.np == np.float64 else np.float32


@register_op("uniform", saves="none", random=True)
class Uniform:
    """Uniform samples in [low, high) of ``shape`` and (floating) ``dtype``."""

    def forward(xp, *, shape, dtype, low, high, generator):
        rng = resolve(generator)
        u = rng.random(shape, dtype=_float_draw_dtype(dtype))
        if low == 0 and high == 1 and u.dtype == dtype.np:
            return u
        out = (low + (high - low) * u.astype(np.float64)).astype(dtype.np)
        if high > low:  # rounding may reach `high`; keep the interval half-open
            top = np.nextafter(dtype.np.type(high), dtype.np.type(low))
            np.minimum(out, top, out=out)
        return out

    def infer(*, shape, dtype, low, high, generator):
        return Meta(tuple(shape), dtype)


@register_op("normal", saves="none", random=True)
class Normal:
    """Normal samples ``mean + std * z``; ``mean``/``std`` are numbers or tensors
    broadcast to ``shape``."""

    def forward(xp, mean, std, *, shape, dtype, generator):
        rng = resolve(generator)
        z = rng.standard_normal(shape, dtype=_float_draw_dtype(dtype))
        if not (isinstance(mean, (int, float)) and mean == 0
                and isinstance(std, (int, float)) and std == 1):
            z = z * (std if isinstance(std, (int, float)) else std.astype(z.dtype, copy=False))
            z = z + (mean if isinstance(mean, (int, float)) else mean.astype(z.dtype, copy=False))
        return z.astype(dtype.np, copy=False)

    def infer(mean, std, *, shape, dtype, generator):
        return Meta(tuple(shape), dtype)


@register_op("randint", saves="none", random=True)
class RandInt:
    """Integers uniform in [low, high)."""

    def forward(xp, *, low, high, shape, dtype, generator):
        rng = resolve(generator)
        return rng.integers(low, high, size=shape, dtype=np.int64).astype(dtype.np, copy=False)

    def infer(*, low, high, shape, dtype, generator):
        return Meta(tuple(shape), dtype)


@register_op("randperm", saves="none", random=True)
class RandPerm:
    """A random permutation of 0..n-1."""

    def forward(xp, *, n, dtype, generator):
        return resolve(generator).permutation(n).astype(dtype.np, copy=False)

    def infer(*, n, dtype, generator):
        return Meta((n,), dtype)


@register_op("bernoulli", saves="none", random=True)
class Bernoulli:
    """1 with probability ``p`` (the input's values, or the number ``p``), else 0;
    the output has the input's dtype and shape."""

    def forward(xp, x, *, p, generator):
        u = resolve(generator).random(x.shape)
        prob = x if p is None else p
        return (u < prob).astype(x.dtype)

    def infer(x, *, p, generator):
        return x


@register_op("multinomial", saves="none", random=True)
class Multinomial:
    """Indices drawn from the (unnormalised) distributions in the rows of the input."""

    def forward(xp, probs, *, num_samples, replacement, generator):
        rng = resolve(generator)
        rows = probs.reshape(-1, probs.shape[-1]).astype(np.float64)
        out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
        n = rows.shape[1]
        for i, row in enumerate(rows):
            p = row / row.sum()
            if replacement:
                out[i] = rng.choice(n, size=num_samples, replace=True, p=p)
                continue
            # without replacement, categories of probability 0 come (in random order)
            # only after every positive one is drawn, as in PyTorch
            pos = np.flatnonzero(p > 0)
            k = min(num_samples, pos.size)
            first = pos[rng.choice(pos.size, size=k, replace=False, p=p[pos] / p[pos].sum())]
            rest = rng.permutation(np.flatnonzero(p <= 0))[: num_samples - k]
            out[i] = np.concatenate([first, rest])
        return out.reshape(probs.shape[:-1] + (num_samples,))

    def infer(probs, *, num_samples, replacement, generator):
        return Meta(tuple(probs.shape[:-1]) + (num_samples,), _dtype.int64)
