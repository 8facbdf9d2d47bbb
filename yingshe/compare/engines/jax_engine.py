"""The ``jax-jit`` engine (opt-in): the same models as pure JAX functions.

The weights stay in PyTorch's layouts (Linear ``(out, in)``, Conv2d ``OIHW`` with
``NCHW`` data through ``lax.conv_general_dilated``, LSTM gates ``i, f, g, o`` with both
biases), so no conversion is needed. The whole training step - forward, loss,
``jax.grad`` and the optimizer update written with PyTorch's formulas and defaults
(SGD, SGD momentum 0.9 with zero dampening, Adam with betas (0.9, 0.999), eps 1e-8) -
is one ``jax.jit`` function; the first step therefore includes tracing and XLA's
compilation and is reported separately by the harness. float32 on the CPU, one
thread unless ``YINGSHE_BENCH_THREADS`` says otherwise (like the other engines).

Install with ``pip install 'jax[cpu]'`` (or ``pip install 'yingshe[jax]'``).
"""

from __future__ import annotations

import os
import time

import numpy as np

from yingshe.compare.tutorial import heldout_metrics

ENGINE_IDS = ("jax-jit",)

_B1, _B2, _EPS, _MOMENTUM = 0.9, 0.999, 1e-8, 0.9   # PyTorch's Adam / the workloads' momentum
_BN_EPS, _BN_MOMENTUM = 1e-5, 0.1                     # PyTorch's BatchNorm2d defaults


def _xla_flags(threads: int) -> str:
    """XLA_FLAGS for ``threads`` CPU threads, keeping any flags the user already set."""
    flags = os.environ.get("XLA_FLAGS", "").split()
    flags = [f for f in flags if not f.lstrip("-").startswith(
        ("xla_cpu_multi_thread_eigen", "intra_op_parallelism_threads"))]
    flags += [f"--xla_cpu_multi_thread_eigen={'false' if threads == 1 else 'true'}",
              f"intra_op_parallelism_threads={threads}"]
    return " ".join(flags)


def _import():
    """Import JAX on the CPU with the benchmark's thread count (flags are read at import
    time, so they are set first); returns ``(jax, seconds the import took)``."""
    threads = int(os.environ.get("YINGSHE_BENCH_THREADS", "1"))
    os.environ["XLA_FLAGS"] = _xla_flags(threads)
    os.environ["JAX_PLATFORMS"] = "cpu"
    t0 = time.perf_counter()
    import jax
    jax.config.update("jax_platforms", "cpu")
    return jax, time.perf_counter() - t0


# ---- the models, on a dict of arrays in PyTorch's layouts ----------------------------------

def _linear(x, p, name):
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def _conv(jax, x, p, name, pad):
    y = jax.lax.conv_general_dilated(x, p[f"{name}.weight"], window_strides=(1, 1),
                                     padding=((pad, pad), (pad, pad)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + p[f"{name}.bias"][None, :, None, None]


def _max_pool2(jax, x):
    return jax.lax.reduce_window(x, -jax.numpy.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2),
                                 "VALID")


def _batch_norm(jax, x, p, name, running, stats):
    """PyTorch's BatchNorm2d: with ``running`` (eval mode) its running statistics; without,
    the batch's (biased variance), whose mean and unbiased variance go into ``stats``
    for the running update (returned as the loss's auxiliary output, not differentiated)."""
    jnp = jax.numpy
    if running is not None:
        mean, var = running[f"{name}.running_mean"], running[f"{name}.running_var"]
    else:
        mean = jnp.mean(x, axis=(0, 2, 3))
        var = jnp.mean(jnp.square(x - mean[None, :, None, None]), axis=(0, 2, 3))
        if stats is not None:
            n = x.size // x.shape[1]
            stats[f"{name}.running_mean"] = mean
            stats[f"{name}.running_var"] = var * (n / (n - 1))
    scale = jax.lax.rsqrt(var + _BN_EPS) * p[f"{name}.weight"]
    return ((x - mean[None, :, None, None]) * scale[None, :, None, None]
            + p[f"{name}.bias"][None, :, None, None])


def forward(jax, w, p, x, running=None, stats=None):
    """The model's output. BatchNorm (``cnnbn``) runs in training mode unless ``running``
    (the running statistics) is given; ``stats`` collects the batch statistics."""
    jnp, lax = jax.numpy, jax.lax
    if w.model == "linear":
        return _linear(x, p, "fc")
    if w.model == "mlp":
        n = len(w.dims["sizes"]) - 1
        for i in range(n):
            x = _linear(x, p, f"fc{i}")
            if i < n - 1:
                x = jax.nn.relu(x)
        return x
    if w.model == "lenet":
        x = _max_pool2(jax, jax.nn.relu(_conv(jax, x, p, "conv1", 2)))
        x = _max_pool2(jax, jax.nn.relu(_conv(jax, x, p, "conv2", 0)))
        x = x.reshape(x.shape[0], -1)                      # NCHW flatten, as PyTorch's
        x = jax.nn.relu(_linear(x, p, "fc1"))
        x = jax.nn.relu(_linear(x, p, "fc2"))
        return _linear(x, p, "fc3")
    if w.model == "cnnbn":
        for i in (1, 2):
            x = _batch_norm(jax, _conv(jax, x, p, f"conv{i}", 2), p, f"bn{i}", running, stats)
            x = _max_pool2(jax, jax.nn.relu(x))
        return _linear(x.reshape(x.shape[0], -1), p, "fc")
    if w.model == "lstm":
        hdim = w.dims["hidden"]
        batch = x.shape[0]
        # input projection for all time steps at once; (T, B, 4H) for the scan
        xw = x @ p["lstm.weight_ih_l0"].T + (p["lstm.bias_ih_l0"] + p["lstm.bias_hh_l0"])
        xw = jnp.swapaxes(xw, 0, 1)
        w_hh_t = p["lstm.weight_hh_l0"].T

        def cell(carry, xw_t):
            h, c = carry
            gates = xw_t + h @ w_hh_t
            i, f, g, o = jnp.split(gates, 4, axis=1)       # PyTorch's gate order
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        zeros = jnp.zeros((batch, hdim), x.dtype)
        (h, _), _ = lax.scan(cell, (zeros, zeros), xw)
        return _linear(h, p, "fc")
    raise ValueError(w.model)  # pragma: no cover - workloads.py lists every model


def loss_of(jax, w, out, y):
    """PyTorch's ``mse_loss``, ``binary_cross_entropy_with_logits`` and ``cross_entropy``
    (mean reduction)."""
    jnp = jax.numpy
    if w.loss == "mse":
        return jnp.mean(jnp.square(out - y))
    if w.loss == "bce_logits":
        # max(x, 0) - x*y + log(1 + exp(-|x|)): stable for large |x|
        return jnp.mean(jnp.maximum(out, 0) - out * y + jnp.log1p(jnp.exp(-jnp.abs(out))))
    logp = jax.nn.log_softmax(out, axis=1)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


# ---- optimizers: PyTorch's update rules as pure functions ----------------------------------

def init_state(jax, w, params):
    """The optimizer's state, plus ``running`` (BatchNorm's running statistics at
    PyTorch's initial values) for a model with BatchNorm."""
    jnp = jax.numpy
    if w.optimizer == "sgd":
        state = {}
    elif w.optimizer == "momentum":
        state = {"buf": {k: jnp.zeros_like(v) for k, v in params.items()}}
    else:
        state = {"t": jnp.zeros((), jnp.int32),
                 "m": {k: jnp.zeros_like(v) for k, v in params.items()},
                 "v": {k: jnp.zeros_like(v) for k, v in params.items()}}
    bn = [k[:-len(".weight")] for k in params if k.startswith("bn") and k.endswith(".weight")]
    if bn:
        state["running"] = {}
        for name in bn:
            c = params[f"{name}.weight"].shape
            state["running"][f"{name}.running_mean"] = jnp.zeros(c, jnp.float32)
            state["running"][f"{name}.running_var"] = jnp.ones(c, jnp.float32)
    return state


def update(jax, w, params, grads, state):
    """One optimizer step: ``(new params, new state)``."""
    jnp = jax.numpy
    lr = w.lr
    if w.optimizer == "sgd":
        return {k: params[k] - lr * grads[k] for k in params}, state
    if w.optimizer == "momentum":
        # torch.optim.SGD(momentum=0.9, dampening=0): buf = g on the first step (buf
        # starts at zero, so 0.9 * 0 + g is exactly that), then buf = 0.9 * buf + g
        buf = {k: _MOMENTUM * state["buf"][k] + grads[k] for k in params}
        return {k: params[k] - lr * buf[k] for k in params}, {"buf": buf}
    # torch.optim.Adam (amsgrad=False, weight_decay=0)
    t = state["t"] + 1
    t_f = t.astype(jnp.float32)
    c1 = 1.0 - _B1 ** t_f
    c2_sqrt = jnp.sqrt(1.0 - _B2 ** t_f)
    step_size = lr / c1
    m = {k: _B1 * state["m"][k] + (1.0 - _B1) * grads[k] for k in params}
    v = {k: _B2 * state["v"][k] + (1.0 - _B2) * jnp.square(grads[k]) for k in params}
    new = {k: params[k] - step_size * m[k] / (jnp.sqrt(v[k]) / c2_sqrt + _EPS) for k in params}
    return new, {"t": t, "m": m, "v": v}


def make_step(jax, w):
    """The jitted training step ``(params, state, x, y) -> (params, state, loss)``; the
    old parameters and optimizer state are donated (updated in place, as PyTorch's are)."""
    def objective(params, x, y):
        stats = {}
        return loss_of(jax, w, forward(jax, w, params, x, stats=stats), y), stats

    def step(params, state, x, y):
        (loss, stats), grads = jax.value_and_grad(objective, has_aux=True)(params, x, y)
        opt_state = {k: v for k, v in state.items() if k != "running"}
        params, opt_state = update(jax, w, params, grads, opt_state)
        if "running" in state:     # BatchNorm2d's update: (1 - momentum) r + momentum stat
            opt_state = {**opt_state, "running": {
                k: (1.0 - _BN_MOMENTUM) * r + _BN_MOMENTUM * stats[k]
                for k, r in state["running"].items()}}
        return params, opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1))


def run(engine_id, w, arrays, batches, warmup):
    if engine_id not in ENGINE_IDS:  # pragma: no cover - the registry maps ids to modules
        raise ValueError(f"jax engine: unknown engine id {engine_id!r}")
    jax, import_s = _import()
    jnp = jax.numpy
    params = {k[len("param."):]: jnp.asarray(v, jnp.float32)
              for k, v in arrays.items() if k.startswith("param.")}
    state = init_state(jax, w, params)
    step = make_step(jax, w)
    x_all = np.asarray(arrays["x"], np.float32)
    y_all = arrays["y"]
    if w.loss == "cross_entropy":
        y_all = y_all.astype(np.int32)           # JAX's default integer width (x64 off)
    losses, times = [], []
    for idx in batches:
        t0 = time.perf_counter()
        xb = jnp.asarray(x_all[idx])
        yb = jnp.asarray(y_all[idx])
        params, state, loss = step(params, state, xb, yb)
        jax.block_until_ready((params, state, loss))
        value = float(loss)
        times.append(time.perf_counter() - t0)
        losses.append(value)
    running = state.get("running")       # eval mode: BatchNorm's running statistics
    predict = jax.jit(lambda p, x: forward(jax, w, p, x, running=running))
    out = np.asarray(predict(params, jnp.asarray(x_all)))
    from yingshe.compare.engines.pytorch_style import _metric
    metric = _metric(w, out, arrays["y"])
    metric.update(heldout_metrics(
        w, lambda x: np.asarray(predict(params, jnp.asarray(np.asarray(x, np.float32)))),
        arrays))
    return {"losses": losses, "times": times, "import_s": import_s, "metric": metric,
            "version": jax.__version__}
