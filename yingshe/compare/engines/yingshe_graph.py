"""The ``yingshe-graph`` engine: the same models written TensorFlow-1 style.

Define, then run: placeholders for the batch, ``yingshe.graph.Variable``s holding the
shared initial weights (PyTorch's layout, so ``x @ W.T + b``), the loss and
``gradients()`` added to the graph as nodes, and the optimizer's update written as
``assign`` nodes with PyTorch's formulas (SGD, heavy-ball momentum, Adam; Adam's bias
corrections are fed per step, as TF1 programs fed learning rates). One
``Session.run([loss, train_op], feed_dict)`` per step runs the compiled program.

Linear models and the MLP are supported; the CNN and LSTM workloads are reported
as not supported by this engine (``supports``).
"""

from __future__ import annotations

import math
import time

import numpy as np

ENGINE_IDS = ("yingshe-graph",)

_MODELS = ("linear", "mlp")


def supports(w) -> bool:
    return w.model in _MODELS


def _layers(w) -> list[str]:
    if w.model == "linear":
        return ["fc"]
    return [f"fc{i}" for i in range(len(w.dims["sizes"]) - 1)]


def forward(F, w, V, x):
    """The model on graph tensors (or eager tensors: the code is the same)."""
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
        out = forward(F, w, V, X)
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
            train_op = G.group(*updates, name="train")
        init = G.global_variables_initializer()
    return graph, X, Y, loss, train_op, out, init, fed


def run(engine_id, w, arrays, batches, warmup):
    if not supports(w):
        raise NotImplementedError(f"the {w.model} model of workload {w.name!r} is not "
                                  f"supported by the yingshe-graph engine (linear and MLP are)")
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
            if fed:
                c1, c2 = 1.0 - 0.9 ** step, 1.0 - 0.999 ** step
                feed[fed["lr_t"]] = np.float32(w.lr / c1)
                feed[fed["sqrt_c2"]] = np.float32(math.sqrt(c2))
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
