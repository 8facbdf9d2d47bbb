"""The ``yingshe-graph`` engine: the same models written TensorFlow-1 style.

Define, then run: placeholders for the batch, ``yingshe.graph.Variable``s holding the
shared initial weights (PyTorch's layout, so ``x @ W.T + b``), the loss and
``gradients()`` added to the graph as nodes, and the optimizer's update written as
``assign`` nodes with PyTorch's formulas (SGD, heavy-ball momentum, Adam; Adam's bias
corrections are fed per step, as TF1 programs fed learning rates). One
``Session.run([loss, train_op], feed_dict)`` per step runs the compiled program.

Linear models, the MLP and the CNNs (LeNet-5, and ``cnnbn`` with BatchNorm written the
TF1 way: the batch statistics are graph values, the normalisation uses them, and the
running averages are ``assign`` ops run with the training op) are supported; the LSTM
workload is reported as not supported by this engine (``supports``).
"""

from __future__ import annotations

import math
import time

import numpy as np

ENGINE_IDS = ("yingshe-graph",)

_MODELS = ("linear", "mlp", "lenet", "cnnbn")
_BN_MOMENTUM, _BN_EPS = 0.1, 1e-5      # PyTorch's BatchNorm2d defaults


def supports(w) -> bool:
    return w.model in _MODELS


def _layers(w) -> list[str]:
    if w.model == "linear":
        return ["fc"]
    return [f"fc{i}" for i in range(len(w.dims["sizes"]) - 1)]


def _batch_norm(F, x, V, name, bn):
    """BatchNorm2d. Training (``bn`` a list): TF1's ``tf.nn.moments`` and
    ``tf.nn.batch_normalization``, the batch statistics appended to ``bn`` for the running
    averages; evaluation (``bn`` a dict of running statistics): those."""
    if isinstance(bn, dict):
        mean, var = bn[f"{name}.running_mean"], bn[f"{name}.running_var"]
    else:
        mean = x.mean(dim=(0, 2, 3))
        var = ((x - mean.reshape(1, -1, 1, 1)) ** 2).mean(dim=(0, 2, 3))
        bn.append((name, mean, var, x.shape[2] * x.shape[3]))
    return F.batch_norm(x, mean, var, V[f"{name}.weight"], V[f"{name}.bias"], training=False,
                        eps=_BN_EPS)


def forward(F, w, V, x, bn=None):
    """The model on graph tensors (or eager tensors: the code is the same); ``bn`` as in
    ``_batch_norm``."""
    if w.model == "lenet":
        x = F.max_pool2d(F.relu(F.conv2d(x, V["conv1.weight"], V["conv1.bias"], padding=2)), 2)
        x = F.max_pool2d(F.relu(F.conv2d(x, V["conv2.weight"], V["conv2.bias"])), 2)
        x = x.flatten(1)
        x = F.relu(F.linear(x, V["fc1.weight"], V["fc1.bias"]))
        x = F.relu(F.linear(x, V["fc2.weight"], V["fc2.bias"]))
        return F.linear(x, V["fc3.weight"], V["fc3.bias"])
    if w.model == "cnnbn":
        for i in (1, 2):
            x = F.conv2d(x, V[f"conv{i}.weight"], V[f"conv{i}.bias"], padding=2)
            x = F.max_pool2d(F.relu(_batch_norm(F, x, V, f"bn{i}", bn)), 2)
        x = x.flatten(1)
        return F.linear(x, V["fc.weight"], V["fc.bias"])
    layers = _layers(w)
    for i, name in enumerate(layers):
        x = F.linear(x, V[f"{name}.weight"], V[f"{name}.bias"])
        if i < len(layers) - 1:
            x = F.relu(x)
    return x


def loss_of(F, w, out, y):
    if w.loss == "mse":
        return F.mse_loss(out, y)
    if w.loss == "bce_logits":
        return F.binary_cross_entropy_with_logits(out, y)
    return F.cross_entropy(out, y)


def build_graph(w, params: dict, feature_shape, label_shape, label_dtype):
    """A fresh graph for workload ``w``: returns (graph, feeds, loss, train_op, predict
    output, variables by name, fed Adam scalars)."""
    import yingshe
    import yingshe.graph as G
    F = yingshe.nn.functional
    graph = G.Graph()
    with graph.as_default():
        X = G.placeholder(yingshe.float32, [None, *feature_shape], name="x")
        Y = G.placeholder(label_dtype, [None, *label_shape], name="y")
        V = {k: G.Variable(v, name=k) for k, v in params.items()}
        batch_stats = []
        out = forward(F, w, V, X, batch_stats)
        loss = loss_of(F, w, out, Y)
        names = sorted(V)
        grads = G.gradients(loss, [V[k] for k in names])
        updates, fed = [], {}
        with G.name_scope(w.optimizer):
            if w.optimizer == "adam":
                fed["lr_t"] = G.placeholder(yingshe.float32, [], name="step_size")
                fed["sqrt_c2"] = G.placeholder(yingshe.float32, [], name="sqrt_bias_correction2")
            for k, g in zip(names, grads):
                var = V[k]
                if w.optimizer == "sgd":
                    updates.append(G.assign_sub(var, g * w.lr))
                elif w.optimizer == "momentum":     # PyTorch: buf = 0.9 buf + g; p -= lr buf
                    buf = G.Variable(np.zeros_like(params[k]), trainable=False,
                                     name=f"{k}/momentum")
                    new_buf = G.assign(buf, buf * 0.9 + g)
                    updates.append(G.assign_sub(var, new_buf * w.lr))
                elif w.optimizer == "adam":         # PyTorch's Adam (eps outside the sqrt)
                    m = G.Variable(np.zeros_like(params[k]), trainable=False, name=f"{k}/m")
                    v = G.Variable(np.zeros_like(params[k]), trainable=False, name=f"{k}/v")
                    m_new = G.assign(m, m * 0.9 + g * 0.1)
                    v_new = G.assign(v, v * 0.999 + (g * g) * 0.001)
                    denom = v_new.sqrt() / fed["sqrt_c2"] + 1e-8
                    updates.append(G.assign_sub(var, fed["lr_t"] * m_new / denom))
                else:  # pragma: no cover - the workload table has no other optimizer
                    raise ValueError(w.optimizer)
            if batch_stats:
                # BatchNorm's running averages (momentum 0.1, the unbiased variance: n
                # values per channel, the batch size fed)
                fed["batch"] = G.placeholder(yingshe.float32, [], name="batch_size")
                running = {}
                for name, mean, var, plane in batch_stats:
                    c = params[f"{name}.weight"].shape
                    rm = G.Variable(np.zeros(c, np.float32), trainable=False,
                                    name=f"{name}.running_mean")
                    rv = G.Variable(np.ones(c, np.float32), trainable=False,
                                    name=f"{name}.running_var")
                    n = fed["batch"] * float(plane)
                    updates.append(G.assign(rm, rm * (1 - _BN_MOMENTUM) + mean * _BN_MOMENTUM))
                    updates.append(G.assign(rv, rv * (1 - _BN_MOMENTUM)
                                            + var * (n / (n - 1.0)) * _BN_MOMENTUM))
                    running[f"{name}.running_mean"] = rm
                    running[f"{name}.running_var"] = rv
                out = forward(F, w, V, X, running)      # evaluation: the running statistics
            train_op = G.group(*updates, name="train")
        init = G.global_variables_initializer()
    return graph, X, Y, loss, train_op, out, init, fed


def run(engine_id, w, arrays, batches, warmup):
    if not supports(w):
        raise NotImplementedError(f"the {w.model} model of workload {w.name!r} is not "
                                  f"supported by the yingshe-graph engine (linear, MLP and "
                                  f"the CNNs are)")
    t0 = time.perf_counter()
    import yingshe
    import yingshe.graph as G
    import_s = time.perf_counter() - t0
    params = {k[len("param."):]: v for k, v in arrays.items() if k.startswith("param.")}
    x_all, y_all = arrays["x"], arrays["y"]
    label_dtype = yingshe.int64 if y_all.dtype.kind == "i" else yingshe.float32
    graph, X, Y, loss, train_op, out, init, fed = build_graph(
        w, params, x_all.shape[1:], y_all.shape[1:], label_dtype)
    losses, times = [], []
    with G.Session(graph=graph) as sess:
        sess.run(init)
        for step, idx in enumerate(batches, start=1):
            t0 = time.perf_counter()
            feed = {X: x_all[idx], Y: y_all[idx]}
            if "lr_t" in fed:
                c1, c2 = 1.0 - 0.9 ** step, 1.0 - 0.999 ** step
                feed[fed["lr_t"]] = np.float32(w.lr / c1)
                feed[fed["sqrt_c2"]] = np.float32(math.sqrt(c2))
            if "batch" in fed:
                feed[fed["batch"]] = np.float32(len(idx))
            value, _ = sess.run([loss, train_op], feed)
            times.append(time.perf_counter() - t0)
            losses.append(float(value))

        def predict(x):
            return sess.run(out, {X: x})

        from yingshe.compare.engines.pytorch_style import _metric
        from yingshe.compare.tutorial import heldout_metrics
        metric = _metric(w, predict(x_all), y_all)
        metric.update(heldout_metrics(w, predict, arrays))
    return {"losses": losses, "times": times, "import_s": import_s, "metric": metric,
            "version": getattr(yingshe, "__version__", "?")}
