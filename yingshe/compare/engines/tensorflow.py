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


def _batch_norm(tf, x, V, name, running, training):
    """PyTorch's BatchNorm2d on NHWC data: in training, the batch's statistics (biased
    variance), with the running statistics updated by momentum 0.1 from the batch mean and
    the unbiased variance; otherwise the running statistics."""
    mean_v, var_v = running[f"{name}.running_mean"], running[f"{name}.running_var"]
    if training:
        mean, var = tf.nn.moments(x, axes=[0, 1, 2])
        n = tf.cast(tf.size(x) // tf.shape(x)[3], x.dtype)
        mean_v.assign(0.9 * mean_v + 0.1 * mean)
        var_v.assign(0.9 * var_v + 0.1 * var * (n / (n - 1.0)))
    else:
        mean, var = mean_v, var_v
    return tf.nn.batch_normalization(x, mean, var, V[f"{name}.bias"], V[f"{name}.weight"],
                                     1e-5)


def _forward(tf, w, V, x, running=None, training=True):
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
    if w.model == "cnnbn":
        for i in (1, 2):
            x = tf.nn.conv2d(x, V[f"conv{i}.weight"], 1, [[0, 0], [2, 2], [2, 2], [0, 0]])
            x = _batch_norm(tf, x + V[f"conv{i}.bias"], V, f"bn{i}", running, training)
            x = tf.nn.max_pool2d(tf.nn.relu(x), 2, 2, "VALID")
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [tf.shape(x)[0], -1])  # NCHW flatten
        return tf.matmul(x, V["fc.weight"]) + V["fc.bias"]
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
    # BatchNorm's running statistics, at PyTorch's initial values (not trained)
    running = {}
    for k in names:
        if k.startswith("bn") and k.endswith(".weight"):
            bn = k[:-len(".weight")]
            running[f"{bn}.running_mean"] = tf.Variable(tf.zeros_like(V[k]), trainable=False)
            running[f"{bn}.running_var"] = tf.Variable(tf.ones_like(V[k]), trainable=False)
    lr, b1, b2, eps = w.lr, 0.9, 0.999, 1e-8

    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = _loss(tf, w, _forward(tf, w, V, xb, running), yb)
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
    if x_all.ndim == 4:
        x_all = np.ascontiguousarray(x_all.transpose(0, 2, 3, 1))  # NHWC
    y_all = arrays["y"]
    losses, times = [], []
    for idx in batches:
        t0 = time.perf_counter()
        loss = step(tf.constant(x_all[idx]), tf.constant(y_all[idx]))
        value = float(loss.numpy())
        times.append(time.perf_counter() - t0)
        losses.append(value)
    def predict(x):    # eval mode (BatchNorm's running statistics)
        return _forward(tf, w, V, tf.constant(x), running, training=False).numpy()

    from yingshe.compare.engines.pytorch_style import _metric
    metric = _metric(w, predict(x_all), y_all)
    metric.update(heldout_metrics(w, predict, arrays))
    return {"losses": losses, "times": times, "import_s": import_s,
            "metric": metric, "version": tf.__version__}
