"""The PyTorch-style engine, run with ``m = yingshe`` or ``m = torch``.

The same model code drives both libraries: yingshe's eager API is PyTorch's, so
this module is also a standing check of that claim. ``yingshe-compiled`` and
``torch-compile`` wrap the same training step in ``yingshe.compile`` /
``torch.compile``; ``yingshe-compiled`` uses the NumPy backend (one NumPy call per op)
and ``yingshe-compiled-numba`` the numba backend (fused kernels).
"""

from __future__ import annotations

import time

import numpy as np

from yingshe.compare.tutorial import heldout_metrics

ENGINE_IDS = ("yingshe-eager", "yingshe-compiled", "torch-eager", "torch-compile",
              "yingshe-compiled-numba")
# the compiled engines' backends (yingshe.compile(backend=...))
BACKENDS = {"yingshe-compiled": "numpy", "yingshe-compiled-numba": "numba"}


def _import(engine_id):
    t0 = time.perf_counter()
    if engine_id.startswith("torch"):
        import torch as m
        m.set_num_threads(int(__import__("os").environ.get("YINGSHE_BENCH_THREADS", "1")))
    else:
        import yingshe as m
        m.set_num_threads(int(__import__("os").environ.get("YINGSHE_BENCH_THREADS", "1")))
    return m, time.perf_counter() - t0


def build_model(m, w, params):
    nn = m.nn
    if w.model == "linear":
        model = nn.Sequential()
        model.add_module("fc", nn.Linear(w.dims["in"], w.dims["out"]))
    elif w.model == "mlp":
        sizes = w.dims["sizes"]
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append((f"fc{i}", nn.Linear(a, b)))
            if i < len(sizes) - 2:
                layers.append((f"relu{i}", nn.ReLU()))
        model = nn.Sequential()
        for name, layer in layers:
            model.add_module(name, layer)
    elif w.model == "lenet":
        model = LeNet(m, w.dims["classes"])
    elif w.model == "cnnbn":
        model = CNNBN(m, w.dims["channels"], w.dims["classes"])
    elif w.model == "lstm":
        model = LSTMClassifier(m, w.dims["input"], w.dims["hidden"], w.dims["classes"])
    else:  # pragma: no cover
        raise ValueError(w.model)
    sd = {k: m.from_numpy(np.array(v)) for k, v in params.items()}
    # the workload gives the trainable parameters; buffers (BatchNorm's running
    # statistics) keep the module's initial values, which are PyTorch's defaults
    buffers = {k for k, _ in model.named_buffers()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if unexpected or set(missing) - buffers:
        raise ValueError(f"workload {w.name}: state dict mismatch, missing "
                         f"{sorted(set(missing) - buffers)}, unexpected {sorted(unexpected)}")
    return model


def LeNet(m, classes):
    nn, F = m.nn, m.nn.functional

    class _LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(400, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, classes)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.flatten(1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    return _LeNet()


def CNNBN(m, channels, classes):
    """The tutorial CNN with BatchNorm: two (conv 5x5 pad 2, BatchNorm2d, ReLU, max-pool 2)
    blocks, then one linear layer on the flattened 7x7 maps."""
    nn, F = m.nn, m.nn.functional
    c1, c2 = channels

    class _CNNBN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, c1, 5, padding=2)
            self.bn1 = nn.BatchNorm2d(c1)
            self.conv2 = nn.Conv2d(c1, c2, 5, padding=2)
            self.bn2 = nn.BatchNorm2d(c2)
            self.fc = nn.Linear(c2 * 7 * 7, classes)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
            x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
            return self.fc(x.flatten(1))

    return _CNNBN()


def LSTMClassifier(m, n_in, hidden, classes):
    nn = m.nn

    class _LSTMClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(n_in, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out[:, -1])

    return _LSTMClassifier()


def make_optimizer(m, w, params):
    if w.optimizer == "sgd":
        return m.optim.SGD(params, lr=w.lr)
    if w.optimizer == "momentum":
        return m.optim.SGD(params, lr=w.lr, momentum=0.9)
    if w.optimizer == "adam":
        return m.optim.Adam(params, lr=w.lr)
    raise ValueError(w.optimizer)  # pragma: no cover


def loss_fn(m, w):
    F = m.nn.functional
    if w.loss == "mse":
        return F.mse_loss
    if w.loss == "bce_logits":
        return F.binary_cross_entropy_with_logits
    return F.cross_entropy


def training_step(m, engine_id, w, arrays):
    """(model, step): the workload's model from its initial weights and one training
    step ``step(xb, yb) -> loss`` (compiled for the compiled engines)."""
    params = {k[len("param."):]: v for k, v in arrays.items() if k.startswith("param.")}
    model = build_model(m, w, params)
    opt = make_optimizer(m, w, model.parameters())
    crit = loss_fn(m, w)

    def step(xb, yb):
        opt.zero_grad()
        loss = crit(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    if engine_id == "torch-compile":
        step = m.compile(step)
    elif engine_id in BACKENDS:
        step = m.compile(step, backend=BACKENDS[engine_id])
    return model, step


def run(engine_id, w, arrays, batches, warmup):
    m, import_s = _import(engine_id)
    model, step = training_step(m, engine_id, w, arrays)
    x_all, y_all = arrays["x"], arrays["y"]

    losses, times = [], []
    for idx in batches:
        t0 = time.perf_counter()
        xb = m.from_numpy(x_all[idx])
        yb = m.from_numpy(y_all[idx])
        loss = step(xb, yb)
        value = float(loss.item())
        times.append(time.perf_counter() - t0)
        losses.append(value)
    model.eval()   # BatchNorm: the metric uses the running statistics, as a user would
    with m.no_grad():
        xb = m.from_numpy(x_all)
        out = model(xb)
        metric = _metric(w, out.detach().numpy(), y_all)
        metric.update(heldout_metrics(w, lambda x: model(m.from_numpy(x)).numpy(), arrays))
    result = {"losses": losses, "times": times, "import_s": import_s, "metric": metric,
              "version": getattr(m, "__version__", "?")}
    if engine_id in BACKENDS:
        result["traces"] = step.traces
        result["passes"] = pass_stats(step._last.raw, step._last.program)
        stats = getattr(step._last.fn, "kernel_stats", None)
        if stats is not None:
            result["kernels"] = len(stats.kernels)
            result["kernel_compile_s"] = stats.compile_s
    return result


def pass_stats(raw, program) -> dict:
    """Nodes before and after the compiler's passes, and what each pass removed (a pass
    that never fires on a real model shows as 0)."""
    from yingshe.graph.passes import PIPELINE
    stats = {"before": len(raw.nodes), "after": len(program.nodes)}
    for p in PIPELINE:
        stats.setdefault(p.__name__, 0)
    for name, removed in program.stats.items():
        stats[name] = removed
    return stats


def _metric(w, out, y):
    if w.loss == "mse":
        return {"mse": float(((out - y) ** 2).mean())}
    if w.loss == "bce_logits":
        return {"accuracy": float(((out > 0).astype(np.float32) == y).mean())}
    return {"accuracy": float((out.argmax(1) == y).mean())}
