"""A tiny model built from raw tensors, run identically in yingshe and PyTorch."""

from __future__ import annotations

import numpy as np

SHAPES = {"w1": (5, 4), "b1": (4,), "w2": (4, 3), "b2": (3,)}


def initial_arrays(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(s) * 0.5).astype(dtype) for k, s in SHAPES.items()}


def batches(dtype, n=20, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((8, 5)).astype(dtype), rng.standard_normal((8, 3)).astype(dtype))
            for _ in range(n)]


def loss_fn(p, x, y):
    """The same expression for both libraries (only +, *, @, mean)."""
    h = x @ p["w1"] + p["b1"]
    h = h * h * 0.1 + h
    out = h @ p["w2"] + p["b2"]
    d = out - y
    return (d * d).mean()


def make_params(lib, arrays):
    return {k: lib.tensor(v.copy(), requires_grad=True) for k, v in arrays.items()}


def param_groups(params, groups):
    """``groups``: None (one flat list) or a list of (names, options) pairs."""
    if groups is None:
        return [params[k] for k in SHAPES]
    return [dict(params=[params[k] for k in names], **opts) for names, opts in groups]


def run(lib, opt_cls, arrays, data, kwargs, *, groups=None, steps=20, lr_change_at=None,
        hook=None):
    """Train ``steps`` steps; returns the optimizer and the final parameters (NumPy)."""
    params = make_params(lib, arrays)
    opt = opt_cls(param_groups(params, groups), **kwargs)
    for i, (x, y) in enumerate(data[:steps]):
        if lr_change_at is not None and i == lr_change_at:
            for g in opt.param_groups:
                g["lr"] *= 0.5
        opt.zero_grad()
        loss = loss_fn(params, lib.tensor(x), lib.tensor(y))
        loss.backward()
        opt.step()
        if hook is not None:
            hook(i, params, opt)
    return params, opt


def to_numpy(params):
    return {k: v.detach().numpy().copy() for k, v in params.items()}
