"""The ``numpy-handwritten`` engine: the reference a compiler has to beat.

The linreg, logreg, softmax and mlp training steps written in plain float32 NumPy the
way a user writes them: ``x @ W.T + b``, the loss and its gradient worked out by hand,
the optimizer's formula (PyTorch's SGD; Adam with betas (0.9, 0.999), eps 1e-8). No
framework, no preallocated buffers, no ``out=``: the baseline, not a competitor.

**Frozen.** This file was written once and first measured with the compiler work (issue
19); it is never tuned afterwards, so the numbers it gives stay comparable. Fix a wrong
result, never a slow one. Workloads it has no hand-written step for (cnn, lstm, ...) are
reported as unsupported.
"""

from __future__ import annotations

import os
import time

import numpy as np

ENGINE_IDS = ("numpy-handwritten",)
WORKLOADS = ("linreg", "logreg", "softmax", "mlp")


def supports(w) -> bool:
    """Whether there is a hand-written step for workload ``w``."""
    return w.name in WORKLOADS


def _linreg(p, lr):
    W, b = p["fc.weight"], p["fc.bias"]

    def step(x, y):
        pred = x @ W.T + b
        err = pred - y
        loss = (err ** 2).mean()
        g = 2 * err / err.size
        W[...] -= lr * (g.T @ x)
        b[...] -= lr * g.sum(0)
        return loss
    return step


def _logreg(p, lr):
    W, b = p["fc.weight"], p["fc.bias"]

    def step(x, y):
        z = x @ W.T + b
        # binary cross-entropy with logits, the stable form
        loss = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean()
        g = (1 / (1 + np.exp(-z)) - y) / z.size
        W[...] -= lr * (g.T @ x)
        b[...] -= lr * g.sum(0)
        return loss
    return step


def _softmax_xent(z, y):
    """Mean cross-entropy of logits ``z`` against labels ``y`` and its gradient."""
    n = z.shape[0]
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    s = e.sum(1, keepdims=True)
    loss = -(z[np.arange(n), y] - np.log(s[:, 0])).mean()
    g = e / s
    g[np.arange(n), y] -= 1
    return loss, g / n


def _softmax(p, lr):
    W, b = p["fc.weight"], p["fc.bias"]

    def step(x, y):
        loss, g = _softmax_xent(x @ W.T + b, y)
        W[...] -= lr * (g.T @ x)
        b[...] -= lr * g.sum(0)
        return loss
    return step


def _mlp(p, lr, n_layers):
    names = [f"fc{i}.{k}" for i in range(n_layers) for k in ("weight", "bias")]
    m = {k: np.zeros_like(p[k]) for k in names}
    v = {k: np.zeros_like(p[k]) for k in names}
    t = [0]
    b1, b2, eps = 0.9, 0.999, 1e-8

    def step(x, y):
        hs = [x]
        for i in range(n_layers):
            z = hs[-1] @ p[f"fc{i}.weight"].T + p[f"fc{i}.bias"]
            hs.append(np.maximum(z, 0) if i < n_layers - 1 else z)
        loss, g = _softmax_xent(hs[-1], y)
        grads = {}
        for i in reversed(range(n_layers)):
            grads[f"fc{i}.weight"] = g.T @ hs[i]
            grads[f"fc{i}.bias"] = g.sum(0)
            if i:
                g = (g @ p[f"fc{i}.weight"]) * (hs[i] > 0)
        t[0] += 1
        for k in names:
            m[k] = b1 * m[k] + (1 - b1) * grads[k]
            v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
            m_hat = m[k] / (1 - b1 ** t[0])
            v_hat = v[k] / (1 - b2 ** t[0])
            p[k] -= lr * m_hat / (np.sqrt(v_hat) + eps)
        return loss
    return step


def make_step(w, params):
    """The workload's hand-written step ``step(x, y) -> loss`` over ``params`` (updated in
    place); None where there is none."""
    if w.name == "linreg":
        return _linreg(params, w.lr)
    if w.name == "logreg":
        return _logreg(params, w.lr)
    if w.name == "softmax":
        return _softmax(params, w.lr)
    if w.name == "mlp":
        return _mlp(params, w.lr, len(w.dims["sizes"]) - 1)
    return None


def run(engine_id, w, arrays, batches, warmup):
    if engine_id not in ENGINE_IDS:  # pragma: no cover - the registry maps ids to modules
        raise ValueError(f"numpy engine: unknown engine id {engine_id!r}")
    params = {k[len("param."):]: np.array(v, np.float32)
              for k, v in arrays.items() if k.startswith("param.")}
    step = make_step(w, params)
    if step is None:
        raise ValueError(f"numpy-handwritten: no hand-written step for {w.name}")
    threads = os.environ.get("YINGSHE_BENCH_THREADS", "1")
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(int(threads), user_api="blas")
    except ImportError:  # pragma: no cover - the harness's OPENBLAS_NUM_THREADS holds
        pass
    x_all, y_all = arrays["x"], arrays["y"]
    losses, times = [], []
    for idx in batches:
        t0 = time.perf_counter()
        loss = step(x_all[idx], y_all[idx])
        value = float(loss)
        times.append(time.perf_counter() - t0)
        losses.append(value)
    return {"losses": losses, "times": times, "import_s": 0.0, "metric": {},
            "version": np.__version__}
