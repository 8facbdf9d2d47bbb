"""Workloads defined once, with NumPy: data, initial weights, hyper-parameters.

Every engine (yingshe eager/graph/compiled, PyTorch, TensorFlow) starts from the
arrays built here, so the step-0 loss is the same everywhere (up to summation
order) and any divergence afterwards is the engine's. Weights are in PyTorch's
canonical layout (Linear weight (out, in), Conv2d weight (out, in, kh, kw), LSTM
``weight_ih_l0`` (4H, I) with gates i, f, g, o); engines convert as they need.
``param.*`` arrays are the trainable parameters only: BatchNorm's running statistics
start at PyTorch's defaults (mean 0, variance 1) in every engine, which updates them as
``BatchNorm2d`` does in training mode (momentum 0.1, the unbiased batch variance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Workload", "WORKLOADS", "SPEED", "TUTORIAL", "build", "with_batch", "requirement"]


@dataclass(frozen=True)
class Workload:
    name: str
    model: str                 # linear | mlp | lenet | cnnbn | lstm
    loss: str                  # mse | bce_logits | cross_entropy
    optimizer: str             # sgd | momentum | adam
    lr: float
    batch: int
    description: str
    dims: dict = field(default_factory=dict)
    n: int = 0                 # dataset size (synthetic)
    data: str | None = None    # a bundled data set (tutorial workloads, see tutorial.py)


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("linreg", "linear", "mse", "sgd", 0.1, 1000,
             "linear regression, 1 feature, N=1000, full-batch SGD",
             {"in": 1, "out": 1}, 1000),
    Workload("logreg", "linear", "bce_logits", "sgd", 0.1, 569,
             "logistic regression, 30 features, N=569, full-batch SGD",
             {"in": 30, "out": 1}, 569),
    Workload("softmax", "linear", "cross_entropy", "sgd", 0.1, 256,
             "softmax regression, 64 -> 10, batch 256, SGD",
             {"in": 64, "out": 10}, 2048),
    Workload("mlp", "mlp", "cross_entropy", "adam", 1e-3, 128,
             "MLP 784-512-512-10 ReLU, batch 128, Adam",
             {"sizes": (784, 512, 512, 10)}, 1024),
    Workload("cnn", "lenet", "cross_entropy", "momentum", 0.01, 64,
             "LeNet-5 on 1x28x28, batch 64, SGD momentum 0.9",
             {"classes": 10}, 512),
    Workload("cnnbn", "cnnbn", "cross_entropy", "adam", 1e-3, 100,
             "CNN conv5x5(16)-BN-ReLU-pool, conv5x5(32)-BN-ReLU-pool, linear 1568->10 on "
             "1x28x28 (class templates + noise), batch 100, Adam",
             {"channels": (16, 32), "classes": 10}, 1000),
    Workload("lstm", "lstm", "cross_entropy", "adam", 1e-3, 32,
             "LSTM input 32, hidden 128, seq 32, batch 32, Adam",
             {"input": 32, "hidden": 128, "seq": 32, "classes": 4}, 256),
]}

SPEED = ("linreg", "logreg", "softmax", "mlp", "cnn", "cnnbn", "lstm")


def _uniform(rng, bound, shape):
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def _linear(rng, fan_in, fan_out, prefix):
    b = 1.0 / math.sqrt(fan_in)  # PyTorch's default Linear init bounds
    return {f"{prefix}.weight": _uniform(rng, b, (fan_out, fan_in)),
            f"{prefix}.bias": _uniform(rng, b, (fan_out,))}


def _conv(rng, cin, cout, k, prefix):
    b = 1.0 / math.sqrt(cin * k * k)
    return {f"{prefix}.weight": _uniform(rng, b, (cout, cin, k, k)),
            f"{prefix}.bias": _uniform(rng, b, (cout,))}


def _batch_norm(c, prefix):
    # PyTorch's BatchNorm2d init: weight 1, bias 0 (the running statistics are buffers)
    return {f"{prefix}.weight": np.ones(c, np.float32),
            f"{prefix}.bias": np.zeros(c, np.float32)}


def _digit_like(rng, n):
    """``n`` 1x28x28 noise images, labelled by which of four central 2x16 strips has the
    largest mean (a learnable synthetic task for the CNN workloads)."""
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    y = (x[:, 0, 10:18, 10:18].reshape(n, 4, 16).mean(2).argmax(1)).astype(np.int64)
    return x, y


def _class_templates(rng, n, classes):
    """``n`` 1x28x28 images: one fixed random template per class plus unit noise.

    A clear signal keeps training well conditioned. On noise-labelled images (those of
    ``_digit_like``, or these with 3x the noise or 10% of the labels flipped) the
    BatchNorm CNN under Adam is chaotic in float32: in PyTorch alone, a 1e-7 relative
    change of the initial weights moves the loss by 1e-3 relative within 50 steps, so no
    two engines could agree to DESIGN's trajectory tolerance. Here the same perturbation
    stays near 1e-6, and yingshe's engines follow PyTorch's trajectory to ~2e-6 over 50
    steps (TensorFlow's and JAX's other conv algorithms drift to ~1-2e-4 once the loss is
    below ~0.05, after ~25 steps)."""
    templates = rng.standard_normal((classes, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    x = (templates[y] + rng.standard_normal((n, 1, 28, 28))).astype(np.float32)
    return x, y


def build(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """All arrays of a workload: ``x``, ``y`` (the dataset) and ``param.<name>`` weights."""
    w = WORKLOADS[name]
    if w.data is not None:
        return build_tutorial(w, seed)
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    if w.model == "linear":
        d_in, d_out = w.dims["in"], w.dims["out"]
        x = rng.standard_normal((w.n, d_in)).astype(np.float32)
        true_w = rng.standard_normal((d_in, max(d_out, 1))).astype(np.float32)
        scores = x @ true_w + 0.1 * rng.standard_normal((w.n, max(d_out, 1))).astype(np.float32)
        if w.loss == "mse":
            y = (2 * x[:, :1] + 1 + 0.1 * rng.standard_normal((w.n, 1))).astype(np.float32)
        elif w.loss == "bce_logits":
            y = (scores[:, :1] > 0).astype(np.float32)
        else:
            y = scores.argmax(1).astype(np.int64)
        params = _linear(rng, d_in, d_out, "fc")
    elif w.model == "mlp":
        sizes = w.dims["sizes"]
        x = rng.standard_normal((w.n, sizes[0])).astype(np.float32)
        y = (x[:, :10].argmax(1)).astype(np.int64)
        params = {}
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            params.update(_linear(rng, a, b, f"fc{i}"))
    elif w.model == "lenet":
        x, y = _digit_like(rng, w.n)
        params = {}
        params.update(_conv(rng, 1, 6, 5, "conv1"))
        params.update(_conv(rng, 6, 16, 5, "conv2"))
        params.update(_linear(rng, 400, 120, "fc1"))
        params.update(_linear(rng, 120, 84, "fc2"))
        params.update(_linear(rng, 84, w.dims["classes"], "fc3"))
    elif w.model == "cnnbn":
        x, y = _class_templates(rng, w.n, w.dims["classes"])
        c1, c2 = w.dims["channels"]
        params = {}
        params.update(_conv(rng, 1, c1, 5, "conv1"))
        params.update(_batch_norm(c1, "bn1"))
        params.update(_conv(rng, c1, c2, 5, "conv2"))
        params.update(_batch_norm(c2, "bn2"))
        params.update(_linear(rng, c2 * 7 * 7, w.dims["classes"], "fc"))
    elif w.model == "lstm":
        i, h, t, c = (w.dims[k] for k in ("input", "hidden", "seq", "classes"))
        x = rng.standard_normal((w.n, t, i)).astype(np.float32)
        y = (x[:, :, :c].sum(1).argmax(1)).astype(np.int64)
        b = 1.0 / math.sqrt(h)
        params = {"lstm.weight_ih_l0": _uniform(rng, b, (4 * h, i)),
                  "lstm.weight_hh_l0": _uniform(rng, b, (4 * h, h)),
                  "lstm.bias_ih_l0": _uniform(rng, b, (4 * h,)),
                  "lstm.bias_hh_l0": _uniform(rng, b, (4 * h,))}
        params.update(_linear(rng, h, c, "fc"))
    else:  # pragma: no cover - the table above is the whole list
        raise ValueError(w.model)
    arrays["x"], arrays["y"] = x, y
    arrays.update({f"param.{k}": v for k, v in params.items()})
    return arrays


def requirement(w: Workload) -> tuple[str, str] | None:
    """What building the workload's data needs beyond the core, as (module, pip
    requirement), or None: the tutorial's real data sets ship inside scikit-learn."""
    if w.data is not None and w.data != "synthetic":
        return ("sklearn", "yingshe[datasets]")
    return None


def batches(w: Workload, steps: int, seed: int = 0) -> list[np.ndarray]:
    """The index batch of each step (identical for every engine)."""
    rng = np.random.default_rng(seed + 1)
    if w.batch >= w.n:
        return [np.arange(w.n)] * steps
    out = []
    perm = rng.permutation(w.n)
    pos = 0
    for _ in range(steps):
        if pos + w.batch > w.n:
            perm, pos = rng.permutation(w.n), 0
        out.append(perm[pos: pos + w.batch])
        pos += w.batch
    return out


# ---- the tutorial's models on real data (tutorial.py) ---------------------------------------
from yingshe.compare.tutorial import TUTORIAL, TUTORIAL_WORKLOADS, build_tutorial  # noqa: E402

WORKLOADS.update({w.name: w for w in TUTORIAL_WORKLOADS})


# ---- batch-size variants of the speed workloads (`yingshe bench --batch-sizes`) ------------

def with_batch(name: str, batch: int) -> str:
    """The name of ``name`` at another batch size (``"mlp@b64"``); resolvable in any
    process, so the runner builds the same arrays as the parent."""
    base = WORKLOADS[name.split("@", 1)[0]]
    if base.data is not None:
        raise ValueError(f"{base.name} trains full-batch on its data set; --batch-sizes "
                         "applies to the speed workloads")
    if batch < 1:
        raise ValueError(f"batch size must be positive, got {batch}")
    return f"{base.name}@b{batch}"


def _variant(name: str) -> Workload:
    import dataclasses
    base_name, _, b = name.partition("@b")
    base = dict.__getitem__(WORKLOADS, base_name)
    batch = int(b)
    # full-batch workloads grow with the batch; mini-batch ones keep >= 2 batches of data
    n = batch if base.batch >= base.n else max(base.n, 2 * batch)
    return dataclasses.replace(base, name=name, batch=batch, n=n,
                               description=f"{base.description}; here at batch {batch}")


class _Registry(dict):
    def __missing__(self, key):
        if isinstance(key, str) and "@b" in key and key.partition("@b")[2].isdigit() \
                and dict.__contains__(self, key.partition("@b")[0]):
            return _variant(key)
        raise KeyError(key)


WORKLOADS = _Registry(WORKLOADS)
