"""Gradient checks: the VJP against central finite differences along random directions.

We check <u, J v> (finite differences) against <J^T u, v> (autograd) for random
u, v rather than the full Jacobian: one backward and two forwards per check.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import yingshe


def _outputs(fn, arrays, diff_idx, dtype, requires=True):
    ins = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            t = yingshe.tensor(a)
            if i in diff_idx and requires:
                t.requires_grad_(True)
            ins.append(t)
        else:
            ins.append(a)
    out = fn(*ins)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return ins, [o for o in outs if isinstance(o, yingshe.Tensor) and o.dtype.is_floating_point]


def _scalarize(outs, us):
    total = None
    for o, u in zip(outs, us):
        term = (o * yingshe.tensor(u)).sum()
        total = term if total is None else total + term
    return total


def numerical_vjp(fn, arrays, diff_idx, us, vs, eps=1e-6) -> float:
    """(s(x + eps v) - s(x - eps v)) / 2 eps with s(x) = sum_k <u_k, f_k(x)>."""
    def s(sign):
        moved = [np.asarray(a + sign * eps * vs[i]) if i in vs else a for i, a in enumerate(arrays)]
        with yingshe.no_grad():
            _, outs = _outputs(fn, moved, diff_idx, None, requires=False)
            return float(sum(float((o.numpy().astype(np.float64) * u).sum())
                             for o, u in zip(outs, us)))
    return (s(1) - s(-1)) / (2 * eps)


def check_vjp(fn: Callable, arrays: Sequence, diff_idx: Sequence[int], *, seed: int = 0,
              eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Assert that autograd's VJP of ``fn`` matches central differences (float64 inputs)."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a, dtype=np.float64) if i in diff_idx else a
              for i, a in enumerate(arrays)]
    ins, outs = _outputs(fn, arrays, diff_idx, np.float64)
    if not outs:
        raise AssertionError("check_vjp: the function has no floating-point output")
    us = [rng.standard_normal(o.shape) for o in outs]
    vs = {i: rng.standard_normal(np.shape(arrays[i])) for i in diff_idx}
    s = _scalarize(outs, us)
    grads = yingshe.autograd.grad(s, [ins[i] for i in diff_idx], allow_unused=True)
    analytic = 0.0
    for i, g in zip(diff_idx, grads):
        if g is not None:
            assert g.shape == np.shape(arrays[i]), (
                f"gradient shape {g.shape} != input shape {np.shape(arrays[i])}")
            analytic += float((g.numpy() * vs[i]).sum())
    numeric = numerical_vjp(fn, arrays, diff_idx, us, vs, eps)
    if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
        raise AssertionError(
            f"VJP mismatch: autograd <J^T u, v> = {analytic!r}, finite differences "
            f"<u, J v> = {numeric!r} (rtol={rtol}, atol={atol}, eps={eps})"
        )


def check_second_order(fn: Callable, arrays: Sequence, diff_idx: Sequence[int], *,
                       seed: int = 1, eps: float = 1e-6, rtol: float = 1e-5,
                       atol: float = 1e-7) -> None:
    """Check the gradient of h(x) = <J(x)^T u, w> (built with create_graph=True) against
    finite differences of h, i.e. the op's VJP is itself differentiated correctly."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a, dtype=np.float64) if i in diff_idx else a
              for i, a in enumerate(arrays)]
    _, outs0 = _outputs(fn, arrays, diff_idx, np.float64)
    us = [rng.standard_normal(o.shape) for o in outs0]
    ws = {i: rng.standard_normal(np.shape(arrays[i])) for i in diff_idx}

    def h(arrs, requires=True):
        ins, outs = _outputs(fn, arrs, diff_idx, np.float64)
        s = _scalarize(outs, us)
        gs = yingshe.autograd.grad(s, [ins[i] for i in diff_idx], create_graph=True,
                                   allow_unused=True)
        total = yingshe.tensor(0.0, dtype=yingshe.float64)
        for i, g in zip(diff_idx, gs):
            if g is not None:
                total = total + (g * yingshe.tensor(ws[i])).sum()
        return ins, total

    ins, total = h(arrays)
    if not total.requires_grad:
        analytic = 0.0  # the VJP does not depend on the inputs (a linear op)
        vs = {i: rng.standard_normal(np.shape(arrays[i])) for i in diff_idx}
    else:
        vs = {i: rng.standard_normal(np.shape(arrays[i])) for i in diff_idx}
        grads = yingshe.autograd.grad(total, [ins[i] for i in diff_idx], allow_unused=True)
        analytic = sum(float((g.numpy() * vs[i]).sum())
                       for i, g in zip(diff_idx, grads) if g is not None)

    def hv(sign):
        moved = [np.asarray(a + sign * eps * vs[i]) if i in vs else a for i, a in enumerate(arrays)]
        return float(h(moved)[1].detach().numpy())
    numeric = (hv(1) - hv(-1)) / (2 * eps)
    if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
        raise AssertionError(
            f"second-order mismatch: autograd {analytic!r}, finite differences {numeric!r} "
            f"(rtol={rtol}, atol={atol})"
        )
