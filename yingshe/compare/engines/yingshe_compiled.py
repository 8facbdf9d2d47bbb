"""The ``yingshe-compiled`` engine: the PyTorch-style model code of
``pytorch_style.py`` (same model, optimizer and loss), with the training step
wrapped in ``yingshe.compile`` (traced once per batch shape, then run compiled)."""

from __future__ import annotations

import time

from yingshe.compare.engines.pytorch_style import (_metric, build_model, loss_fn,
                                                   make_optimizer)
from yingshe.compare.tutorial import heldout_metrics

ENGINE_IDS = ("yingshe-compiled",)


def run(engine_id, w, arrays, batches, warmup):
    t0 = time.perf_counter()
    import yingshe as m
    import_s = time.perf_counter() - t0
    params = {k[len("param."):]: v for k, v in arrays.items() if k.startswith("param.")}
    model = build_model(m, w, params)
    opt = make_optimizer(m, w, model.parameters())
    crit = loss_fn(m, w)
    x_all, y_all = arrays["x"], arrays["y"]

    @m.compile
    def step(xb, yb):
        opt.zero_grad()
        loss = crit(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    losses, times = [], []
    for idx in batches:
        t0 = time.perf_counter()
        xb = m.from_numpy(x_all[idx])
        yb = m.from_numpy(y_all[idx])
        loss = step(xb, yb)
        value = float(loss.item())
        times.append(time.perf_counter() - t0)
        losses.append(value)
    with m.no_grad():
        out = model(m.from_numpy(x_all))
        metric = _metric(w, out.detach().numpy(), y_all)
        metric.update(heldout_metrics(w, lambda x: model(m.from_numpy(x)).numpy(), arrays))
    return {"losses": losses, "times": times, "import_s": import_s, "metric": metric,
            "version": getattr(m, "__version__", "?"), "traces": step.traces}
