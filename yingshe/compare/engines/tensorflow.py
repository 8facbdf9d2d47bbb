"""The TensorFlow engine: the same models with TF ops and ``GradientTape``.

Weights arrive in PyTorch's layout and are converted once (Linear weights
transposed, conv kernels to HWIO with NHWC data). The optimizers are written out
with PyTorch's formulas so every engine follows the same trajectory from the same
weights; ``tensorflow-function`` wraps the step in ``tf.function``,
``tensorflow-xla`` adds ``jit_compile=True``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from yingshe.compare.tutorial import heldout_metrics

ENGINE_IDS = ("tensorflow-eager", "tensorflow-function", "tensorflow-xla")


def _import():
    t0 = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    threads = int(os.environ.get("YINGSHE_BENCH_THREADS", "1"))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass
    return tf, time.perf_counter() - t0


def _convert(params):
    out = {}
    for k, v in params.items():
        if k.endswith(".weight") and v.ndim == 2 and not k.startswith("lstm"):
            out[k] = np.ascontiguousarray(v.T)              # (in, out)
        elif k.endswith(".weight") and v.ndim == 4:
            out[k] = np.ascontiguousarray(v.transpose(2, 3, 1, 0))  # HWIO
        elif k.startswith("lstm.weight"):
            out[k] = np.ascontiguousarray(v.T)              # (in, 4H)
        else:
            out[k] = v
    return out


def _forward(tf, w, V, x):
    if w.model == "linear":
        return tf.matmul(x, V["fc.weight"]) + V["fc.bias"]
    if w.model == "mlp":
        n = len(w.dims["sizes"]) - 1
        for i in range(n):
            x = tf.matmul(x, V[f"fc{i}.weight"]) + V[f"fc{i}.bias"]
            if i < n - 1:
                x = tf.nn.relu(x)
        return x
    if w.model == "lenet":
        x = tf.nn.conv2d(x, V["conv1.weight"], 1, [[0, 0], [2, 2], [2, 2], [0, 0]])
        x = tf.nn.max_pool2d(tf.nn.relu(x + V["conv1.bias"]), 2, 2, "VALID")
        x = tf.nn.conv2d(x, V["conv2.weight"], 1, "VALID")
        x = tf.nn.max_pool2d(tf.nn.relu(x + V["conv2.bias"]), 2, 2, "VALID")
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, 400])  # PyTorch's flatten order
        x = tf.nn.relu(tf.matmul(x, V["fc1.weight"]) + V["fc1.bias"])
        x = tf.nn.relu(tf.matmul(x, V["fc2.weight"]) + V["fc2.bias"])
        return tf.matmul(x, V["fc3.weight"]) + V["fc3.bias"]
    if w.model == "lstm":
        hdim = w.dims["hidden"]
        batch = tf.shape(x)[0]
        h = tf.zeros([batch, hdim])
        c = tf.zeros([batch, hdim])
        bias = V["lstm.bias_ih_l0"] + V["lstm.bias_hh_l0"]
        xw = tf.einsum("bti,ig->btg", x, V["lstm.weight_ih_l0"]) + bias
        for t in range(w.dims["seq"]):
            gates = xw[:, t] + tf.matmul(h, V["lstm.weight_hh_l0"])
            i, f, g, o = tf.split(gates, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
        return tf.matmul(h, V["fc.weight"]) + V["fc.bias"]
    raise ValueError(w.model)  # pragma: no cover


def _loss(tf, w, out, y):
    if w.loss == "mse":
        return tf.reduce_mean(tf.square(out - y))
    if w.loss == "bce_logits":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=out))
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))


def run(engine_id, w, arrays, batches, warmup):
    tf, import_s = _import()
    params = _convert({k[len("param."):]: v for k, v in arrays.items()
                       if k.startswith("param.")})
    names = sorted(params)
    V = {k: tf.Variable(params[k]) for k in names}
    slots = {k: [tf.Variable(tf.zeros_like(V[k])), tf.Variable(tf.zeros_like(V[k]))]
             for k in names}
    t_var = tf.Variable(0.0)
    lr, b1, b2, eps = w.lr, 0.9, 0.999, 1e-8

    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = _loss(tf, w, _forward(tf, w, V, xb), yb)
        grads = tape.gradient(loss, [V[k] for k in names])
        if w.optimizer == "adam":
            t_var.assign_add(1.0)
            c1 = 1.0 - tf.pow(b1, t_var)
            c2 = 1.0 - tf.pow(b2, t_var)
        for k, g in zip(names, grads):
            if w.optimizer == "sgd":
                V[k].assign_sub(lr * g)
            elif w.optimizer == "momentum":
                buf = slots[k][0]
                buf.assign(0.9 * buf + g)
                V[k].assign_sub(lr * buf)
            else:  # PyTorch's Adam
                m, v = slots[k]
                m.assign(b1 * m + (1 - b1) * g)
                v.assign(b2 * v + (1 - b2) * tf.square(g))
                V[k].assign_sub((lr / c1) * m / (tf.sqrt(v) / tf.sqrt(c2) + eps))
        return loss

    if engine_id == "tensorflow-function":
        step = tf.function(step)
    elif engine_id == "tensorflow-xla":
        step = tf.function(step, jit_compile=True)

    x_all = arrays["x"]
    if w.model == "lenet":
        x_all = np.ascontiguousarray(x_all.transpose(0, 2, 3, 1))  # NHWC
    y_all = arrays["y"]
    losses, times = [], []
    for idx in batches:
        t0 = time.perf_counter()
        loss = step(tf.constant(x_all[idx]), tf.constant(y_all[idx]))
        value = float(loss.numpy())
        times.append(time.perf_counter() - t0)
        losses.append(value)
    out = _forward(tf, w, V, tf.constant(x_all)).numpy()
    from yingshe.compare.engines.pytorch_style import _metric
    metric = _metric(w, out, y_all)
    metric.update(heldout_metrics(w, lambda x: _forward(tf, w, V, tf.constant(x)).numpy(),
                                  arrays))
    return {"losses": losses, "times": times, "import_s": import_s,
            "metric": metric, "version": tf.__version__}
