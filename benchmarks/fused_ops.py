"""Micro-benchmarks of the fused ops, each beside its unfused form and PyTorch, interleaved.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/fused_ops.py            # everything
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/fused_ops.py optim lstm

Groups:

``loss``   cross_entropy forward + backward on (256, 10) logits (the softmax workload's
           loss): the fused op vs ``log_softmax`` + ``nll_loss`` vs PyTorch; and
           binary_cross_entropy_with_logits on (569, 1) (logreg's).
``optim``  one ``step()`` over the MLP workload's parameters (784-512-512-10, float32) for
           SGD with momentum, Adam, AdamW (amsgrad), RMSprop (centered, momentum),
           Adagrad: fused with numba, fused with NumPy passes, ``fused=False``
           (op-by-op), PyTorch's ``foreach`` and ``fused``.
``lstm``   one LSTM layer (the lstm workload: T=32, B=32, input 32, hidden 128,
           batch_first) forward + backward: numba kernels vs NumPy vs PyTorch.

Each variant runs ``--reps`` calls per round, rounds interleaved (``--rounds``), and the
median over rounds is printed in microseconds per call with the min. Wall-clock numbers
on a busy machine are noise: compare ratios within one run, and record ``uptime``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _timer(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1e6


def interleaved(variants: dict, rounds: int, reps: int) -> dict:
    for fn in variants.values():   # warm-up (numba compiles, scratch buffers, caches)
        for _ in range(3):
            fn()
    res = {k: [] for k in variants}
    for _ in range(rounds):
        for k, fn in variants.items():
            res[k].append(_timer(fn, reps))
    return res


def report(title: str, res: dict) -> None:
    print(f"\n{title}")
    base = None
    for k, v in res.items():
        med = float(np.median(v))
        base = base or med
        print(f"  {k:34s} {med:10.1f} us  (min {min(v):9.1f})  {med / base:5.2f}x")


def _backend(name):
    from yingshe.backend import jit
    jit.set_default_backend(name)


def _fwd_bwd(loss, x, *args):
    """A call of ``loss(x, *args)`` and its backward (the input's gradient dropped)."""
    def run():
        loss(x, *args).backward()
        x.grad = None
    return run


def bench_loss(torch, rounds, reps):
    import yingshe
    import yingshe.nn.functional as F
    tF = torch.nn.functional
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 10)).astype(np.float32)
    t = rng.integers(0, 10, 256)
    xy, ty = yingshe.tensor(x, requires_grad=True), yingshe.tensor(t)
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t)
    report("cross_entropy (256, 10) forward + backward", interleaved({
        "yingshe fused op": _fwd_bwd(F.cross_entropy, xy, ty),
        "yingshe log_softmax + nll_loss": _fwd_bwd(lambda a, b: F.nll_loss(
            F.log_softmax(a, 1), b), xy, ty),
        "torch": _fwd_bwd(tF.cross_entropy, xt, tt)}, rounds, reps))
    xb = rng.standard_normal((569, 1)).astype(np.float32)
    yb = (rng.random((569, 1)) > 0.5).astype(np.float32)
    report("binary_cross_entropy_with_logits (569, 1) forward + backward", interleaved({
        "yingshe fused op": _fwd_bwd(F.binary_cross_entropy_with_logits,
                                     yingshe.tensor(xb, requires_grad=True),
                                     yingshe.tensor(yb)),
        "torch": _fwd_bwd(tF.binary_cross_entropy_with_logits,
                          torch.tensor(xb, requires_grad=True), torch.tensor(yb))},
        rounds, reps))


OPTIMIZERS = [("SGD", dict(lr=0.01, momentum=0.9)), ("Adam", dict(lr=1e-3)),
              ("AdamW", dict(lr=1e-3, amsgrad=True)),
              ("RMSprop", dict(lr=1e-3, momentum=0.5, centered=True)),
              ("Adagrad", dict(lr=0.01))]


def bench_optim(torch, rounds, reps):
    import yingshe
    rng = np.random.default_rng(0)
    shapes = [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]
    weights = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in shapes]
    for name, kw in OPTIMIZERS:
        variants = {}
        for label, extra, backend in (("yingshe fused, numba", {}, "numba"),
                                      ("yingshe fused, NumPy passes", {}, "numpy"),
                                      ("yingshe op-by-op (fused=False)",
                                       {"foreach": False} if name == "RMSprop"
                                       else {"fused": False}, None)):
            ps = [yingshe.tensor(w.copy(), requires_grad=True) for w in weights]
            for p, g in zip(ps, grads):
                p.grad = yingshe.tensor(g)
            opt = getattr(yingshe.optim, name)(ps, **kw, **extra)

            def step(opt=opt, backend=backend):
                if backend:
                    _backend(backend)
                opt.step()
            variants[label] = step
        for label, extra in (("torch foreach", {"foreach": True}),
                             ("torch fused", {"fused": True})):
            if name == "RMSprop" and "fused" in extra:
                continue
            ps = [torch.nn.Parameter(torch.tensor(w.copy())) for w in weights]
            for p, g in zip(ps, grads):
                p.grad = torch.tensor(g)
            opt = getattr(torch.optim, name)(ps, **kw, **extra)
            variants[label] = opt.step
        with torch.no_grad():
            report(f"{name}({kw}) step over the MLP's 669,706 parameters",
                   interleaved(variants, rounds, reps))
    _backend(None)


def bench_lstm(torch, rounds, reps):
    import yingshe
    T, B, I, H = 32, 32, 32, 128
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    variants = {}
    for label, backend in (("yingshe, numba kernels", "numba"), ("yingshe, NumPy", "numpy")):
        yingshe.manual_seed(0)
        lstm = yingshe.nn.LSTM(I, H, batch_first=True)
        xy = yingshe.tensor(x)

        def run(lstm=lstm, backend=backend, xy=xy):
            _backend(backend)
            out, _ = lstm(xy)
            out[:, -1].sum().backward()
        variants[label] = run
    tl = torch.nn.LSTM(I, H, batch_first=True)
    xt = torch.tensor(x)

    def ref():
        out, _ = tl(xt)
        out[:, -1].sum().backward()
    variants["torch"] = ref
    report(f"LSTM layer forward + backward (T={T}, B={B}, input {I}, hidden {H})",
           interleaved(variants, rounds, reps))
    _backend(None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("groups", nargs="*", default=["loss", "optim", "lstm"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(int(os.environ.get("YINGSHE_BENCH_THREADS", "1")))
    print(f"load average: {os.getloadavg()}")
    for g in args.groups:
        {"loss": bench_loss, "optim": bench_optim, "lstm": bench_lstm}[g](
            torch, args.rounds, args.reps)


if __name__ == "__main__":
    main()
