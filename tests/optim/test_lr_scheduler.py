"""Learning-rate schedules vs PyTorch's, 50 steps, exactly (same float operations)."""

from __future__ import annotations

import numpy as np
import pytest

import yingshe
from yingshe.testing.reference import torch as import_torch


def _opt(lib, name="SGD", groups=1, **kw):
    params = [lib.tensor(np.ones(2), requires_grad=True) for _ in range(groups)]
    cls = getattr(lib.optim, name)
    kw.setdefault("lr", 0.1)
    if groups == 1:
        return cls(params, **kw)
    return cls([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(params)],
               **{k: v for k, v in kw.items() if k != "lr"})


def _sequence(lib, make, steps=50, opt_kw=None, metric=None):
    opt = _opt(lib, **(opt_kw or {}))
    scheds = make(lib.optim.lr_scheduler, opt)
    scheds = scheds if isinstance(scheds, list) else [scheds]
    out = [[g["lr"] for g in opt.param_groups]]
    extra = []
    for i in range(steps):
        opt.step()
        for s in scheds:
            if metric is not None:
                s.step(metric[i])
            else:
                s.step()
        out.append([g["lr"] for g in opt.param_groups])
        assert scheds[-1].get_last_lr() == out[-1]
        extra.append([g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups])
    return out, extra


SCHEDULES = {
    "step": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda m, o: m.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3),
    "exponential": lambda m, o: m.ExponentialLR(o, gamma=0.93),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
    "cosine-no-min": lambda m, o: m.CosineAnnealingLR(o, T_max=10),
    "lambda": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1.0 / (1 + e)),
    "lambda-per-group": lambda m, o: m.LambdaLR(
        o, [lambda e: 0.9 ** e, lambda e: 1 + e % 3][:len(o.param_groups)]),
    "chained": lambda m, o: [m.ExponentialLR(o, gamma=0.97), m.CosineAnnealingLR(o, T_max=9)],
    "chained-step": lambda m, o: [m.StepLR(o, 5, 0.5), m.MultiStepLR(o, [8, 20], 0.1)],
    "onecycle-cos": lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=50),
    "onecycle-linear-3": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.8][:len(o.param_groups)],
                                                    total_steps=60,
                                                    anneal_strategy="linear", three_phase=True),
    "onecycle-epochs": lambda m, o: m.OneCycleLR(o, max_lr=0.3, epochs=5, steps_per_epoch=11,
                                                 pct_start=0.25, div_factor=10.0,
                                                 final_div_factor=100.0),
}


@pytest.mark.parametrize("opt_kw", [dict(momentum=0.9), dict(groups=2, momentum=0.5),
                                    dict(name="Adam")], ids=["sgd", "sgd-2groups", "adam"])
@pytest.mark.parametrize("which", sorted(SCHEDULES))
def test_schedule_matches_torch(which, opt_kw):
    torch = import_torch()
    ours, our_m = _sequence(yingshe, SCHEDULES[which], opt_kw=opt_kw)
    ref, ref_m = _sequence(torch, SCHEDULES[which], opt_kw=opt_kw)
    assert ours == ref  # exact: the same float operations in the same order
    assert our_m == ref_m
    assert all(isinstance(v, float) for row in ours for v in row)


METRICS = ([1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.98, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
           + [0.5 + 0.01 * ((i * 7) % 5) for i in range(36)])


@pytest.mark.parametrize("kw", [
    dict(), dict(patience=2), dict(patience=1, cooldown=2, factor=0.5),
    dict(mode="max", patience=1, threshold=0.05), dict(threshold_mode="abs", threshold=0.02),
    dict(mode="max", threshold_mode="abs", patience=0, min_lr=0.02),
    dict(patience=0, factor=0.5, min_lr=[0.01, 0.05], eps=1e-3)])
def test_reduce_on_plateau_matches_torch(kw):
    torch = import_torch()
    groups = 2 if isinstance(kw.get("min_lr"), list) else 1
    make = lambda m, o: m.ReduceLROnPlateau(o, **kw)  # noqa: E731
    ours, _ = _sequence(yingshe, make, opt_kw=dict(groups=groups), metric=METRICS)
    ref, _ = _sequence(torch, make, opt_kw=dict(groups=groups), metric=METRICS)
    assert ours == ref


def test_scheduler_state_dict_round_trip():
    opt = _opt(yingshe)
    s = yingshe.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        s.step()
    state = s.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 4
    expected = []
    for _ in range(6):
        opt.step()
        s.step()
        expected.append(s.get_last_lr())
    opt2 = _opt(yingshe)
    opt2.param_groups[0]["lr"] = state["_last_lr"][0]
    s2 = yingshe.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    s2.load_state_dict(state)
    got = []
    for _ in range(6):
        opt2.step()
        s2.step()
        got.append(s2.get_last_lr())
    assert got == expected


def test_closed_form_epoch_argument_matches_torch():
    torch = import_torch()
    seqs = []
    for lib in (yingshe, torch):
        opt = _opt(lib)
        s = lib.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        out = []
        with pytest.warns(UserWarning):
            for e in (4, 9, 2):
                s.step(e)
                out.append(s.get_last_lr())
        seqs.append(out)
    assert seqs[0] == seqs[1]


def test_onecycle_errors_and_warnings():
    opt = _opt(yingshe)
    with pytest.raises(ValueError, match="total_steps"):
        yingshe.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    s = yingshe.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        s.step()
    s.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        s.step()
    with pytest.raises(ValueError, match="momentum"):
        yingshe.optim.lr_scheduler.OneCycleLR(_opt(yingshe, "Adagrad"), max_lr=1.0,
                                              total_steps=5)
    with pytest.raises(TypeError, match="not an Optimizer"):
        yingshe.optim.lr_scheduler.StepLR(object(), 3)
