"""The tutorial's models as comparison workloads, on the bundled real data sets.

Four workloads, defined once with NumPy like the speed workloads (``workloads.py``):
the same train/test split, the same standardisation (fitted on the training split),
the same initial weights (PyTorch's default ``nn.Linear`` initialisation, drawn
with NumPy, in PyTorch's (out, in) layout) reach every engine, which trains
full-batch on the training split and reports the loss at every step and the final
train and test metric (accuracy, or MSE for regression).

=====================  ===========================================  ====================
workload               model / data                                 optimizer
=====================  ===========================================  ====================
``linreg-synthetic``   y = 2x + 1 + noise (200 points, 1 feature)    SGD lr 0.1
``linreg-diabetes``    diabetes, 10 standardised features            SGD momentum, lr 0.2
``logreg-cancer``      breast_cancer, 30 standardised features, BCE  SGD lr 0.5
``softmax-digits``     digits (pixels / 16), 64 -> 10, cross-entropy SGD momentum, lr 0.5
=====================  ===========================================  ====================

The data loaders need scikit-learn (``pip install 'yingshe[datasets]'``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TUTORIAL", "TUTORIAL_WORKLOADS", "DEFAULT_STEPS", "build_tutorial", "heldout_metrics"]


def _workloads():
    from yingshe.compare.workloads import Workload
    # n is the size of the training split (full-batch training); build_tutorial checks it
    return [
        Workload("linreg-synthetic", "linear", "mse", "sgd", 0.1, 160,
                 "tutorial: linear regression y = 2x + 1 + noise, 160 train / 40 test, SGD",
                 {"in": 1, "out": 1}, 160, data="synthetic"),
        Workload("linreg-diabetes", "linear", "mse", "momentum", 0.2, 353,
                 "tutorial: linear regression, diabetes (10 standardised features), "
                 "SGD momentum 0.9", {"in": 10, "out": 1}, 353, data="diabetes"),
        Workload("logreg-cancer", "linear", "bce_logits", "sgd", 0.5, 455,
                 "tutorial: logistic regression, breast_cancer (30 standardised features), "
                 "SGD", {"in": 30, "out": 1}, 455, data="breast_cancer"),
        Workload("softmax-digits", "linear", "cross_entropy", "momentum", 0.5, 1437,
                 "tutorial: softmax regression, digits (64 pixels -> 10 classes), "
                 "SGD momentum 0.9", {"in": 64, "out": 10}, 1437, data="digits"),
    ]


TUTORIAL_WORKLOADS = _workloads()
TUTORIAL = tuple(w.name for w in TUTORIAL_WORKLOADS)

# steps of a default `yingshe compare` run: where each loss curve has levelled off (the
# linear models settle within ~60 steps; softmax regression is still falling at 100)
DEFAULT_STEPS = {"linreg-synthetic": 100, "linreg-diabetes": 100, "logreg-cancer": 100,
                 "softmax-digits": 200}


def _standardise(x_tr: np.ndarray, x_te: np.ndarray):
    mean = x_tr.astype(np.float64).mean(0)
    std = x_tr.astype(np.float64).std(0)
    std[std == 0] = 1.0
    return ((x_tr - mean) / std).astype(np.float32), ((x_te - mean) / std).astype(np.float32)


def _load(name: str):
    from yingshe.datasets import load
    return load(name, as_numpy=True)


def build_tutorial(w, seed: int = 0) -> dict[str, np.ndarray]:
    """``x``/``y`` (training split), ``x_test``/``y_test`` and ``param.fc.*`` weights."""
    rng = np.random.default_rng(seed)
    if w.data == "synthetic":
        x = rng.uniform(-1.0, 1.0, (200, 1)).astype(np.float32)
        y = (2.0 * x + 1.0 + 0.1 * rng.standard_normal((200, 1))).astype(np.float32)
        x_tr, y_tr, x_te, y_te = x[:160], y[:160], x[160:], y[160:]
    else:
        (x_tr, y_tr), (x_te, y_te) = _load(w.data)
        if w.data == "digits":
            x_tr, x_te = (x_tr / 16.0).astype(np.float32), (x_te / 16.0).astype(np.float32)
        else:
            x_tr, x_te = _standardise(x_tr, x_te)
        if w.loss == "mse":                      # regression: (n, 1) float targets
            y_tr, y_te = (y.astype(np.float32).reshape(-1, 1) for y in (y_tr, y_te))
        elif w.loss == "bce_logits":             # binary: (n, 1) float 0/1 targets
            y_tr, y_te = (y.astype(np.float32).reshape(-1, 1) for y in (y_tr, y_te))
        else:
            y_tr, y_te = y_tr.astype(np.int64), y_te.astype(np.int64)
    if len(x_tr) != w.n:  # pragma: no cover - the split is fixed by seed and test_size
        raise RuntimeError(f"{w.name}: the training split has {len(x_tr)} rows, expected "
                           f"{w.n} (did scikit-learn's split change?)")
    d_in, d_out = w.dims["in"], w.dims["out"]
    bound = 1.0 / math.sqrt(d_in)                # PyTorch's default nn.Linear init
    params = {"param.fc.weight": rng.uniform(-bound, bound, (d_out, d_in)).astype(np.float32),
              "param.fc.bias": rng.uniform(-bound, bound, (d_out,)).astype(np.float32)}
    return {"x": np.ascontiguousarray(x_tr), "y": np.ascontiguousarray(y_tr),
            "x_test": np.ascontiguousarray(x_te), "y_test": np.ascontiguousarray(y_te),
            **params}


def heldout_metrics(w, predict, arrays) -> dict:
    """``{"test_<metric>": value}`` from ``predict(x_test) -> NumPy outputs``; empty for
    a workload without a test split (the speed workloads)."""
    if "x_test" not in arrays:
        return {}
    from yingshe.compare.engines.pytorch_style import _metric
    out = np.asarray(predict(arrays["x_test"]))
    return {f"test_{k}": v for k, v in _metric(w, out, arrays["y_test"]).items()}
